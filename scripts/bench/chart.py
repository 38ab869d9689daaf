"""The benchmark chart: four small horizontal bar panels as inline SVG, screenshot to PNG by
Playwright driving the system Chromium (no new dependency, no downloaded browser)."""

from __future__ import annotations

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
