"""Server-rendered SVG charts: small pure functions from a series to an SVG string.

No JavaScript and nothing fetched: the markup is inline in the page, coloured with the
stylesheet's palette (`--c1`..`--c5` through the classes `f1`..`f5` / `k1`..`k5` for fill /
stroke, defined in flock.css; the hex attribute is the fallback when the SVG stands alone),
compact (shared attributes sit on groups: the fragment is cached and sent on every
dashboard request), accessible (role="img", an aria-label that says what the chart shows,
and a <title> tooltip on every mark), and a friendly empty state instead of an empty axis.
Every text is XML-escaped, so the output is valid XML as well as valid HTML.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

# The stylesheet's palette (static/css/flock.css --c1..--c5); the hex values are fallbacks.
PALETTE = {1: "#3b5bdb", 2: "#12b886", 3: "#fab005", 4: "#adb5bd", 5: "#e64980"}
INK = "#1f2430"  # --ink
MUTED = "#667085"  # --muted
GRID = "#e4e7ec"  # --line
FONT = 'font-family="inherit"'


def paint(index: int, prop: str = "fill") -> str:
    """Attributes that paint a mark in palette slot 1..5 (cycling beyond 5): the stylesheet's
    class (`f2` = fill var(--c2), `k2` = stroke var(--c2)) over a hex fallback."""
    slot = (index - 1) % len(PALETTE) + 1
    return f'{prop}="{PALETTE[slot]}" class="{"f" if prop == "fill" else "k"}{slot}"'


def nice_ticks(max_value: float, *, count: int = 4) -> list[int | float]:
    """Round axis ticks from 0 to at least `max_value`: 0, 5, 10, 15 / 0, 200, 400, ...

    Steps are 1, 2, 2.5 or 5 times a power of ten, never below 1 (counts are whole numbers).
    """
    if max_value <= 0:
        return [0, 1]
    raw = max_value / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    step = max(step, 1)
    top = math.ceil(max_value / step - 1e-9) * step
    n = int(round(top / step))
    return [_tidy(i * step) for i in range(n + 1)]


def _tidy(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 2)


def _fmt(value: float) -> str:
    value = _tidy(value)
    return f"{value:,}"


def _svg_open(width: int, height: int, label: str, title: str, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet" font-size="12" {FONT}>'
        f"<title>{escape(title)}</title>"
    )


def empty_chart(message: str, *, width: int = 560, height: int = 220, title: str = "Chart") -> str:
    """A calm placeholder in the chart's own frame, so the layout does not jump."""
    cx, cy = width / 2, height / 2
    return (
        _svg_open(width, height, f"{title}: {message}", title, "chart-svg chart-empty")
        + f'<rect x="8" y="8" width="{width - 16}" height="{height - 16}" rx="10" fill="none" '
        f'stroke="{GRID}" stroke-width="1.5" stroke-dasharray="6 6"/>'
        + f'<g transform="translate({cx:.0f} {cy - 22:.0f})" fill="none" stroke="{MUTED}" stroke-width="2" '
        f'stroke-linecap="round" opacity="0.6">'
        '<path d="M-18 12 L-6 -2 L4 6 L18 -12"/><circle cx="18" cy="-12" r="2.5"/></g>'
        + f'<text x="{cx:.0f}" y="{cy + 18:.0f}" text-anchor="middle" fill="{MUTED}" font-size="14">'
        f"{escape(message)}</text></svg>"
    )


def _legend(items: Sequence[tuple[str, int]], x: float, y: float) -> str:
    out = []
    for name, slot in items:
        out.append(
            f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" rx="2" {paint(slot)}/>'
            f'<text x="{x + 15:.0f}" y="{y:.0f}" fill="{MUTED}">{escape(name)}</text>'
        )
        x += 15 + 7 * len(name) + 18
    return "".join(out)


def line_chart(*, labels: Sequence[str], values: Sequence[float], bars: Sequence[float] | None = None,
               details: Sequence[str] | None = None, name: str = "Total", bars_name: str = "New",
               title: str = "Line chart", summary: str | None = None, empty_message: str = "No data yet.",
               width: int = 1000, height: int = 280) -> str:
    """An area chart of `values` (one per label), with optional `bars` along the bottom.

    The bars (e.g. new joiners per month) have their own, smaller scale, so each carries its
    value as a label instead of an axis. `details` are the per-point tooltips; `summary`
    (the screen reader's aria-label) defaults to a sentence built from the series.
    """
    n = len(values)
    if n == 0 or not any(values) and not any(bars or ()):
        return empty_chart(empty_message, width=width, height=height, title=title)
    left, right, top, bottom = 48, 16, 34, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max(values))
    y_max = ticks[-1]
    step = plot_w / n
    xs = [left + step * (i + 0.5) for i in range(n)]

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    last = values[-1]
    first = values[0]
    change = last - first
    summary = summary or (f"{title}: {_fmt(last)} {name.lower()} now"
               + (f", {'up' if change >= 0 else 'down'} {_fmt(abs(change))} since {labels[0]}" if n > 1 else "")
               + (f"; {_fmt(sum(bars))} {bars_name.lower()} in all" if bars else "") + ".")
    parts = [_svg_open(width, height, summary, title, "chart-svg chart-line")]
    parts.append(_axis_grid(ticks, y, left, width - right))
    legend = [(name, 1)] + ([(bars_name, 2)] if bars else [])
    parts.append(_legend(legend, left, 16))

    points = [(xs[i], y(v)) for i, v in enumerate(values)]
    line = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f} {py:.1f}" for i, (px, py) in enumerate(points))
    base = top + plot_h
    # Area first, then the bars, then the line and its points on top of everything.
    area_at = len(parts)
    if bars:
        bar_max = max(bars) or 1
        band = plot_h * 0.3
        bw = min(step * 0.5, 28)
        parts.append(f'<g font-size="10" text-anchor="middle" fill="{MUTED}">')
        for i, b in enumerate(bars):
            if not b:
                continue
            h = max(band * b / bar_max, 2)
            bx, by = xs[i] - bw / 2, top + plot_h - h
            tip = escape(details[i]) if details else f"{escape(labels[i])}: {_fmt(b)}"
            parts.append(
                f'<g class="bar"><title>{tip}</title>'
                f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw:.1f}" height="{h:.1f}" rx="3" {paint(2)} opacity="0.55"/>'
                f'<text x="{xs[i]:.1f}" y="{by - 4:.1f}">+{_fmt(b)}</text></g>'
            )
        parts.append("</g>")

    if n > 1:
        parts.insert(area_at, f'<path d="{line} L{points[-1][0]:.1f} {base:.1f} L{points[0][0]:.1f} {base:.1f} Z" '
                     f'{paint(1)} opacity="0.1"/>')
        parts.append(f'<path d="{line}" fill="none" {paint(1, "stroke")} stroke-width="2.5" '
                     f'stroke-linejoin="round" stroke-linecap="round"/>')
    parts.append(f'<g fill="#fff" {paint(1, "stroke")} stroke-width="2">')
    for i, (px, py) in enumerate(points):
        tip = escape(details[i]) if details else f"{escape(labels[i])}: {_fmt(values[i])}"
        r = 4.5 if i == n - 1 else 3
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{r}"><title>{tip}</title></circle>')
    parts.append("</g>")
    lx, ly = points[-1]
    parts.append(f'<text x="{min(lx, width - right):.1f}" y="{ly - 10:.1f}" text-anchor="end" font-weight="700" '
                 f'fill="{INK}">{_fmt(last)}</text>')
    parts.append(_x_labels(labels, xs, height - 8))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(*, labels: Sequence[str], stacks: Sequence[tuple[str, Sequence[float]]],
              details: Sequence[str] | None = None, title: str = "Bar chart", summary: str | None = None,
              partial_last: bool = False,
              empty_message: str = "No data yet.", width: int = 460, height: int = 250) -> str:
    """Stacked vertical bars, one per label; each stack is (name, values) in palette order.

    `partial_last`: the last bar is a period still in progress (this week so far); it is drawn
    lighter so nobody reads a half-finished week as a drop.
    """
    n = len(labels)
    totals = [sum(values[i] for _, values in stacks) for i in range(n)]
    if n == 0 or not any(totals):
        return empty_chart(empty_message, width=width, height=height, title=title)
    left, right, top, bottom = 44, 12, 34, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max(totals))
    y_max = ticks[-1]
    step = plot_w / n
    bw = min(step * 0.62, 48)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    peak = max(range(n), key=lambda i: totals[i])
    avg = sum(totals) / n
    summary = summary or (f"{title}: {_fmt(totals[-1])} in the latest week, {_fmt(round(avg))} a week on average, "
               f"highest {_fmt(totals[peak])} in the week of {labels[peak]}.")
    parts = [_svg_open(width, height, summary, title, "chart-svg chart-bars")]
    parts.append(_axis_grid(ticks, y, left, width - right))
    legend = [(name, k + 1) for k, (name, _) in enumerate(stacks)] if len(stacks) > 1 else []
    parts.append(_legend(legend, left, 16))
    xs = [left + step * (i + 0.5) for i in range(n)]
    parts.append(f'<g font-size="10" text-anchor="middle" fill="{INK}">')
    for i in range(n):
        tip = escape(details[i]) if details else f"{escape(labels[i])}: {_fmt(totals[i])}"
        faded = ' opacity="0.45"' if partial_last and i == n - 1 else ""
        parts.append(f'<g class="bar"{faded}><title>{tip}</title>')
        acc = 0.0
        for k, (_, values) in enumerate(stacks):
            v = values[i]
            if not v:
                continue
            y_top, y_bottom = y(acc + v), y(acc)
            parts.append(f'<rect x="{xs[i] - bw / 2:.1f}" y="{y_top:.1f}" width="{bw:.1f}" '
                         f'height="{max(y_bottom - y_top, 1):.1f}" {paint(k + 1)}/>')
            acc += v
        if totals[i]:
            parts.append(f'<text x="{xs[i]:.1f}" y="{y(totals[i]) - 5:.1f}">{_fmt(totals[i])}</text>')
        parts.append("</g>")
    parts.append("</g>")
    parts.append(_x_labels(labels, xs, height - 8))
    parts.append("</svg>")
    return "".join(parts)


def donut_chart(*, slices: Sequence[tuple[str, float, int]], title: str = "Breakdown", total_label: str = "total",
                empty_message: str = "No data yet.", width: int = 460, height: int = 250) -> str:
    """A donut of (label, value, palette slot) slices with the total in the middle and a legend."""
    total = sum(v for _, v, _ in slices)
    if total <= 0:
        return empty_chart(empty_message, width=width, height=height, title=title)
    cx, cy, r, thickness = 112, height / 2, 84, 28
    circumference = 2 * math.pi * r
    summary = f"{title}: " + ", ".join(f"{label} {_fmt(v)} ({_share(v, total)})" for label, v, _ in slices) + "."
    parts = [_svg_open(width, height, summary, title, "chart-svg chart-donut")]
    parts.append(f'<circle cx="{cx}" cy="{cy:.1f}" r="{r}" fill="none" stroke="{GRID}" stroke-width="{thickness}"/>')
    offset = 0.0
    for label, v, slot in slices:
        if not v:
            continue
        length = circumference * v / total
        # A hairline gap between slices reads better than touching colours (none for a lone slice).
        gap = 1.5 if v < total else 0
        parts.append(
            f'<circle cx="{cx}" cy="{cy:.1f}" r="{r}" fill="none" {paint(slot, "stroke")} '
            f'stroke-width="{thickness}" stroke-dasharray="{max(length - gap, 0.5):.2f} {circumference:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {cx} {cy:.1f})">'
            f"<title>{escape(label)}: {_fmt(v)} ({_share(v, total)})</title></circle>"
        )
        offset += length
    parts.append(f'<text x="{cx}" y="{cy + 4:.1f}" text-anchor="middle" font-size="26" font-weight="700" '
                 f'fill="{INK}">{_fmt(total)}</text>')
    parts.append(f'<text x="{cx}" y="{cy + 22:.1f}" text-anchor="middle" fill="{MUTED}">{escape(total_label)}</text>')
    lx = 236
    ly = cy + 4 - (len(slices) - 1) * 16
    for label, v, slot in slices:
        parts.append(
            f'<rect x="{lx}" y="{ly - 10:.1f}" width="12" height="12" rx="3" {paint(slot)}/>'
            f'<text x="{lx + 19}" y="{ly:.1f}" fill="{INK}">{escape(label)}</text>'
            f'<text x="{width - 8}" y="{ly:.1f}" text-anchor="end" fill="{MUTED}">'
            f'<tspan font-weight="700" fill="{INK}">{_fmt(v)}</tspan> \u00b7 {_share(v, total)}</text>'
        )
        ly += 32
    parts.append("</svg>")
    return "".join(parts)


def _share(value: float, total: float) -> str:
    return f"{round(100 * value / total)}%" if total else "0%"


def _axis_grid(ticks: Sequence[float], y, x0: float, x1: float) -> str:
    out = [f'<g stroke="{GRID}">']
    for t in ticks:
        ty = y(t)
        dash = "" if t == 0 else ' stroke-dasharray="3 4"'
        out.append(f'<line x1="{x0:.0f}" x2="{x1:.0f}" y1="{ty:.1f}" y2="{ty:.1f}"{dash}/>')
    out.append(f'</g><g text-anchor="end" font-size="11" fill="{MUTED}">')
    for t in ticks:
        out.append(f'<text x="{x0 - 8:.0f}" y="{y(t) + 4:.1f}">{_fmt(t)}</text>')
    out.append("</g>")
    return "".join(out)


def _x_labels(labels: Sequence[str], xs: Sequence[float], y: float) -> str:
    # Thin the labels out when they would collide (about 44 units per label).
    spacing = (xs[1] - xs[0]) if len(xs) > 1 else 999
    every = max(1, math.ceil(44 / spacing))
    out = [f'<g text-anchor="middle" font-size="11" fill="{MUTED}">']
    for i, (label, x) in enumerate(zip(labels, xs)):
        if (len(labels) - 1 - i) % every:
            continue
        out.append(f'<text x="{x:.1f}" y="{y:.0f}">{escape(label)}</text>')
    out.append("</g>")
    return "".join(out)
