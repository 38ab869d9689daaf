"""The benchmark chart: four small horizontal bar panels as inline SVG, screenshot to PNG by
Playwright driving the system Chromium (no new dependency, no downloaded browser)."""

from __future__ import annotations

import math
import os
from html import escape
from pathlib import Path

CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
BEFORE = "#adb5bd"  # cache off / miss: grey
AFTER = "#3b5bdb"  # cache on / hit: blue
REFERENCE = "#12b886"  # /healthz: green

Row = tuple[str, float, str, str]  # label, value, value text, colour


def hbar_panel(title: str, subtitle: str, rows: list[Row], *, width: int = 560, note: str = "") -> str:
    label_w, right_pad, bar_h, gap, top = 170, 120, 30, 16, 64
    height = top + len(rows) * (bar_h + gap) + (34 if note else 14)
    top_value = max((v for _, v, _, _ in rows), default=1) or 1
    span = width - label_w - right_pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<rect width="{width}" height="{height}" rx="10" fill="#fff" stroke="#e4e7ec"/>',
        f'<text x="16" y="28" font-size="17" font-weight="600" fill="#1f2430">{escape(title)}</text>',
        f'<text x="16" y="48" font-size="13" fill="#667085">{escape(subtitle)}</text>',
    ]
    for i, (label, value, text, fill) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = max(2.0, span * value / top_value)
        parts.append(f'<text x="{label_w - 10}" y="{y + bar_h / 2 + 5}" font-size="14" text-anchor="end" '
                     f'fill="#1f2430">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="4" fill="{fill}">'
                     f'<title>{escape(label)}: {escape(text)}</title></rect>')
        parts.append(f'<text x="{label_w + w + 8:.1f}" y="{y + bar_h / 2 + 5}" font-size="14" font-weight="600" '
                     f'fill="#1f2430">{escape(text)}</text>')
    if note:
        parts.append(f'<text x="16" y="{height - 14}" font-size="13" fill="#1f2430">{escape(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def page(title: str, caption: str, panels: list[str]) -> str:
    cells = "".join(f"<div>{p}</div>" for p in panels)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{margin:0;padding:20px;background:#f6f7f9;font-family:'DejaVu Sans',Arial,sans-serif;}"
        "h1{font-size:22px;margin:0 0 4px;color:#1f2430}p{margin:0 0 16px;color:#667085;font-size:13px}"
        "#grid{display:grid;grid-template-columns:560px 560px;gap:16px;align-items:start}"
        "svg{font-family:'DejaVu Sans',Arial,sans-serif;display:block}"
        f"</style></head><body><div id='shot' style='display:inline-block;padding:16px 18px;background:#f6f7f9'><h1>{escape(title)}</h1>"
        f"<p>{escape(caption)}</p><div id='grid'>{cells}</div></div></body></html>"
    )


def screenshot(html: str, png: Path, *, html_copy: Path | None = None) -> str | None:
    """Render `html` to `png`; returns None, or the reason it could not."""
    if html_copy is not None:
        html_copy.write_text(html)
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (set BENCH_CHROMIUM); the chart is in {html_copy} only"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "Playwright is not installed (requirements-dev.txt)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            pg = browser.new_page(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
            pg.set_content(html, wait_until="load")
            pg.locator("#shot").screenshot(path=str(png))
        finally:
            browser.close()
    return None


Series = tuple[str, str, list[tuple[float, float]]]  # label, colour, (x, y) points


def line_panel(title: str, subtitle: str, series: list[Series], *, x_label: str, y_label: str,
               hline: tuple[float, str] | None = None, vline: tuple[float, str] | None = None,
               width: int = 560, height: int = 330) -> str:
    """Lines over a linear x axis and a logarithmic y axis (latencies span 1 ms to seconds)."""
    left, right, top, bottom = 58, 18, 62, 46
    xs = [x for _, _, pts in series for x, _ in pts] + ([vline[0]] if vline else [])
    ys = [y for _, _, pts in series for _, y in pts if y > 0] + ([hline[0]] if hline else [])
    x_max = max(xs, default=1) * 1.05 or 1
    y_min = 10 ** math.floor(math.log10(max(min(ys, default=1), 0.1)))
    y_max = 10 ** math.ceil(math.log10(max(ys, default=10)))
    if y_max <= y_min:
        y_max = y_min * 10
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + plot_w * x / x_max

    def py(y: float) -> float:
        y = max(y, y_min)
        return top + plot_h * (1 - (math.log10(y) - math.log10(y_min)) / (math.log10(y_max) - math.log10(y_min)))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<rect width="{width}" height="{height}" rx="10" fill="#fff" stroke="#e4e7ec"/>',
        f'<text x="16" y="26" font-size="16" font-weight="600" fill="#1f2430">{escape(title)}</text>',
        f'<text x="16" y="45" font-size="12" fill="#667085">{escape(subtitle)}</text>',
    ]
    decade = y_min
    while decade <= y_max * 1.001:
        y = py(decade)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef0f3"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#667085">'
                     f'{decade:g}</text>')
        decade *= 10
    for i in range(6):
        x = x_max * i / 5
        parts.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle" '
                     f'fill="#667085">{x:.0f}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" font-size="12" text-anchor="middle" '
                 f'fill="#1f2430">{escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2}" font-size="12" text-anchor="middle" fill="#1f2430" '
                 f'transform="rotate(-90 14 {top + plot_h / 2})">{escape(y_label)}</text>')
    if hline:
        y = py(hline[0])
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e03131" '
                     f'stroke-dasharray="5 4"/><text x="{left + plot_w - 4}" y="{y - 5:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#e03131">{escape(hline[1])}</text>')
    if vline:
        x = px(vline[0])
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#12b886" '
                     f'stroke-dasharray="5 4"/><text x="{x + 4:.1f}" y="{top + plot_h - 6}" font-size="11" '
                     f'fill="#12b886">{escape(vline[1])}</text>')
    for i, (label, colour, pts) in enumerate(series):
        pts = sorted(pts)
        if pts:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            parts.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.6" fill="{colour}"/>' for x, y in pts)
        lx = left + plot_w - 70 * (len(series) - i)  # legend top right, clear of a capacity mark on the left
        parts.append(f'<rect x="{lx}" y="{top + 4}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{top + 13}" font-size="11" fill="#1f2430">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
