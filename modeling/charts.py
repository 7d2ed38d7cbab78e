"""Loss curves as inline SVG for the run page: no JavaScript, no plotting library in the web process.

Each loss gets its own small chart with its own value axis: Stage 2's losses differ by orders of
magnitude, and on one shared linear axis all but the largest are a flat line at the bottom. A loss
that spans more than two decades is drawn on a log axis."""

from __future__ import annotations

import math

from django.utils.html import format_html, format_html_join

COLOURS = ["#417690", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#16a085", "#7f8c8d"]
WIDTH, HEIGHT, LEFT, RIGHT, BOTTOM, TOP = 420, 170, 62, 10, 22, 22
TICKS = 4
LOG_AXIS_ABOVE_RATIO = 100.0  # max/min of a positive series beyond which the axis is logarithmic


def figure(value: float) -> str:
    """A value as a person reads it: 4 significant digits, no 17-digit floats."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def loss_charts(series: dict[str, list[tuple[int, float]]], *, title: str = "") -> str:
    """One chart per named series of (step, value), side by side, each with its own value axis."""
    series = {name: points for name, points in series.items() if points}
    if not series:
        return "—"
    steps = [step for points in series.values() for step, _ in points]
    first, last = min(steps), max(steps)
    charts = format_html_join(
        "",
        "{}",
        (
            (_chart(name, points, first, last, COLOURS[i % len(COLOURS)]),)
            for i, (name, points) in enumerate(series.items())
        ),
    )
    return format_html(
        '<div role="group" aria-label="{}" style="display:flex;flex-wrap:wrap;gap:12px">{}</div>',
        title or "loss curves",
        charts,
    )


def _chart(name: str, points: list[tuple[int, float]], first: int, last: int, colour: str) -> str:
    finite = [(step, value) for step, value in points if math.isfinite(value)]
    values = [value for _, value in finite] or [0.0]
    low, high = min(values), max(values)
    logarithmic = low > 0 and high / low > LOG_AXIS_ABOVE_RATIO
    transform = math.log10 if logarithmic else (lambda v: v)
    t_low, t_high = transform(low), transform(high)
    if t_high == t_low:
        t_low, t_high = t_low - 0.5, t_high + 0.5
    span_x = max(1, last - first)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP

    def x(step: int) -> float:
        return LEFT + plot_w * (step - first) / span_x

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (transform(value) - t_low) / (t_high - t_low))

    ticks = []
    for i in range(TICKS + 1):
        t = t_low + (t_high - t_low) * i / TICKS
        value = 10**t if logarithmic else t
        ticks.append((f"{y(value):.1f}", LEFT - 4, figure(value), LEFT, LEFT + plot_w))
    grid = format_html_join(
        "",
        '<line x1="{3}" y1="{0}" x2="{4}" y2="{0}" stroke="#eee"/>'
        '<text x="{1}" y="{0}" font-size="10" text-anchor="end" dominant-baseline="middle">{2}</text>',
        ticks,
    )
    line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in finite)
    newest = figure(finite[-1][1]) if finite else "n/a"
    return format_html(
        '<svg width="{w}" height="{h}" role="img" aria-label="{name}">'
        '<text x="{left}" y="14" font-size="12" font-weight="bold">{name}</text>'
        '<text x="{right}" y="14" font-size="11" text-anchor="end">now {newest}{axis}</text>'
        "{grid}"
        '<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#999"/>'
        '<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>'
        '<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{line}"/>'
        '<text x="{left}" y="{step_y}" font-size="10">step {first}</text>'
        '<text x="{right}" y="{step_y}" font-size="10" text-anchor="end">step {last}</text>'
        "</svg>",
        w=WIDTH,
        h=HEIGHT,
        name=name,
        left=LEFT,
        right=LEFT + plot_w,
        top=TOP,
        base=TOP + plot_h,
        newest=newest,
        axis=" · log axis" if logarithmic else "",
        grid=grid,
        colour=colour,
        line=line,
        step_y=HEIGHT - 6,
        first=first,
        last=last,
    )
