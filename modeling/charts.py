"""Loss curves as inline SVG for the run page: no JavaScript, no plotting library in the web process."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join

COLOURS = ["#417690", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#16a085", "#7f8c8d"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 240, 56, 24, 10


def line_chart(series: dict[str, list[tuple[int, float]]], *, title: str = "") -> str:
    """One polyline per named series of (step, value), sharing the axes; a legend below."""
    series = {name: points for name, points in series.items() if points}
    if not series:
        return "—"
    steps = [step for points in series.values() for step, _ in points]
    values = [value for points in series.values() for _, value in points]
    first, last = min(steps), max(steps)
    low, high = min(values), max(values)
    if high == low:
        high = low + 1.0
    span_x = max(1, last - first)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP

    def x(step: int) -> float:
        return LEFT + plot_w * (step - first) / span_x

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    lines = format_html_join(
        "",
        '<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>',
        (
            (COLOURS[i % len(COLOURS)], " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points))
            for i, points in enumerate(series.values())
        ),
    )
    legend = format_html_join(
        "",
        '<span style="color:{};margin-right:1em">&#9632; {}</span>',
        ((COLOURS[i % len(COLOURS)], name) for i, name in enumerate(series)),
    )
    axes = format_html(
        '<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#999"/>'
        '<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>'
        '<text x="{label_x}" y="{top_text}" font-size="10" text-anchor="end">{high}</text>'
        '<text x="{label_x}" y="{base}" font-size="10" text-anchor="end">{low}</text>'
        '<text x="{left}" y="{step_y}" font-size="10">step {first}</text>'
        '<text x="{right}" y="{step_y}" font-size="10" text-anchor="end">step {last}</text>',
        left=LEFT,
        top=TOP,
        base=TOP + plot_h,
        right=LEFT + plot_w,
        label_x=LEFT - 4,
        top_text=TOP + 8,
        high=f"{high:.4g}",
        low=f"{low:.4g}",
        step_y=HEIGHT - 6,
        first=first,
        last=last,
    )
    return format_html(
        '<div><svg width="{}" height="{}" role="img" aria-label="{}">{}{}</svg><div>{}</div></div>',
        WIDTH,
        HEIGHT,
        title or "loss curves",
        axes,
        lines,
        legend,
    )
