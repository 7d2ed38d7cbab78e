"""Small SVG charts for the dashboards, drawn on the server: no script, no library, no CDN, and a
chart is part of the page the moment it loads (and prints). A value of None is a gap: "no data
that day" is not zero.

Each chart is an <svg> with a <title>, axis labels in the page's language (the caller passes
them translated) and one <g class="series"> per series whose points carry data-values, which the
tests read back."""

import math
from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


@dataclass
class Series:
    label: str
    values: list[float | None]
    color: str


def nice_maximum(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _frame(title: str, days: list[date], top: float, unit: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        label = f"{value:g}{unit}"
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    step = max(1, len(days) // 6)
    for i, day in enumerate(days):
        if i % step == 0 or i == len(days) - 1:
            x = LEFT + plot_w * (i + 0.5) / len(days)
            parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{day:%m-%d}</text>')
    return parts


def _empty_note(parts: list[str], note: str) -> None:
    parts.append(
        f'<text class="empty-note" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
        f"{escape(note)}</text>"
    )


def line_chart(
    title: str, days: list[date], series: list[Series], *, unit: str = "", top: float | None = None, empty: str = ""
) -> SafeString:
    values = [v for s in series for v in s.values if v is not None]
    top = top or nice_maximum(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, days, top, unit)
    if not values and empty:
        _empty_note(parts, empty)
    for s in series:
        parts.append(f'<g class="series" data-label="{escape(s.label)}" stroke="{s.color}" fill="{s.color}">')
        path, pen_down = [], False
        for i, value in enumerate(s.values):
            if value is None:
                pen_down = False
                continue
            x = LEFT + plot_w * (i + 0.5) / len(days)
            y = TOP + plot_h - plot_h * min(value, top) / top
            path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
            pen_down = True
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" data-day="{days[i].isoformat()}" data-value="{value:g}">'
                f"<title>{escape(s.label)} {days[i]:%Y-%m-%d}: {value:g}{escape(unit)}</title></circle>"
            )
        if path:
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke-width="1.8"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))


def stacked_bar_chart(title: str, days: list[date], series: list[Series], *, empty: str = "") -> SafeString:
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(days))]
    # Counts: at least 4 on the axis, so its five ticks are whole numbers.
    top = max(4, nice_maximum(max(totals, default=0)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar_w = max(1.0, plot_w / len(days) * 0.7)
    parts = _frame(title, days, top, "")
    if not any(totals) and empty:
        _empty_note(parts, empty)
    base = [0.0] * len(days)
    for s in series:
        parts.append(f'<g class="series" data-label="{escape(s.label)}" fill="{s.color}">')
        for i, value in enumerate(s.values):
            if not value:
                continue
            x = LEFT + plot_w * (i + 0.5) / len(days) - bar_w / 2
            height = plot_h * value / top
            y = TOP + plot_h - plot_h * base[i] / top - height
            base[i] += value
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
                f'data-day="{days[i].isoformat()}" data-value="{value:g}">'
                f"<title>{escape(s.label)} {days[i]:%Y-%m-%d}: {value:g}</title></rect>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))
