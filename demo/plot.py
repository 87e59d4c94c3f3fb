"""The lab's plot: requests per site over time, as a self-contained SVG.

Stacked bars per time bin (answered by site A, by site B, failed), with the lab's
events as labelled vertical lines. Written by hand: no plotting dependency, and a
browser opens it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from demo.timeline import Event, Served

WIDTH, HEIGHT = 1100, 520
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 90, 150
SERIES = (("A", "#2b6cb0", "answered by site A"), ("B", "#dd8a1a", "answered by site B"))
FAILED_COLOR = "#c53030"
MARKER_COLORS = {"lab": "#222222", "router": "#2f855a", "daemon": "#6b46c1", "bird": "#2f855a"}


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def render(
    requests: Sequence[Served],
    markers: Sequence[Event],
    *,
    start: float,
    title: str,
    bin_seconds: float = 0.25,
) -> str:
    """SVG text; times are shown in seconds since `start`."""
    end = max([r.start for r in requests] + [m.t for m in markers] + [start + 1.0])
    span = end - start
    bins = max(1, math.ceil(span / bin_seconds))
    counts = {key: [0] * bins for key in ("A", "B", "fail")}
    for r in requests:
        i = min(bins - 1, max(0, int((r.start - start) / bin_seconds)))
        counts[r.site if r.ok and r.site in ("A", "B") else "fail"][i] += 1
    peak: int = max(max(a + b + f for a, b, f in zip(*counts.values(), strict=True)), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t / span) * plot_w

    def y(n: float) -> float:
        return TOP + plot_h - (n / peak) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">{escape(title)}</text>',
    ]
    # axes and grid
    for n in range(0, peak + 1, max(1, int(_nice_step(peak, 5)))):
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(n):.1f}" y2="{y(n):.1f}"'
            ' stroke="#e2e8f0"/>'
            f'<text x="{LEFT - 6}" y="{y(n) + 4:.1f}" text-anchor="end">{n}</text>'
        )
    step = _nice_step(span, 12)
    t = 0.0
    while t <= span + 1e-9:
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 5}"'
            ' stroke="#333"/>'
            f'<text x="{x(t):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{t:g}</text>'
        )
        t += step
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h + 36}" text-anchor="middle">'
        f"seconds (bars: requests started per {bin_seconds:g} s)</text>"
        f'<text x="18" y="{TOP + plot_h / 2}" transform="rotate(-90 18 {TOP + plot_h / 2})"'
        ' text-anchor="middle">requests</text>'
    )
    # stacked bars
    bar_w = plot_w / bins
    for i in range(bins):
        base = 0
        for key, color in (("A", SERIES[0][1]), ("B", SERIES[1][1]), ("fail", FAILED_COLOR)):
            n = counts[key][i]
            if n:
                out.append(
                    f'<rect x="{LEFT + i * bar_w:.2f}" y="{y(base + n):.2f}"'
                    f' width="{max(bar_w - 0.5, 0.5):.2f}" height="{y(base) - y(base + n):.2f}"'
                    f' fill="{color}"/>'
                )
                base += n
    out.append(
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#333"/>'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"'
        ' stroke="#333"/>'
    )
    # event markers: a numbered dashed line each, and a key below the axis
    shown = sorted((m for m in markers if 0 <= m.t - start <= span), key=lambda e: e.t)
    rows = math.ceil(len(shown) / 2) if shown else 0
    for n, m in enumerate(shown, 1):
        mx = x(m.t - start)
        color = MARKER_COLORS.get(m.source.split()[0], "#444")
        cy = 60 + ((n - 1) % 3) * 10
        out.append(
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{cy + 5}" y2="{TOP + plot_h}" stroke="{color}"'
            ' stroke-dasharray="4 3"/>'
            f'<circle cx="{mx:.1f}" cy="{cy}" r="6" fill="white" stroke="{color}"/>'
            f'<text x="{mx:.1f}" y="{cy + 3.5}" text-anchor="middle" font-size="9"'
            f' fill="{color}">{n}</text>'
        )
        column, row = divmod(n - 1, rows)
        kx = LEFT + column * (plot_w / 2)
        ky = TOP + plot_h + 58 + row * 16
        out.append(
            f'<text x="{kx:.1f}" y="{ky}" fill="{color}">{n}. {m.t - start:6.2f} s  '
            f"{escape(m.text)}</text>"
        )
    # legend
    lx = LEFT + 10
    for color, label in [(c, label) for _, c, label in SERIES] + [(FAILED_COLOR, "failed")]:
        out.append(
            f'<rect x="{lx}" y="36" width="12" height="12" fill="{color}"/>'
            f'<text x="{lx + 16}" y="46">{escape(label)}</text>'
        )
        lx += 24 + 7 * len(label)
    out.append("</svg>")
    return "\n".join(out) + "\n"
