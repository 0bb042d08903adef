"""Drifted objects over time, as inline SVG: one point per drift run, readable without
JavaScript (each point's <title> is its tooltip: when, how many, which outcome)."""

from __future__ import annotations

from html import escape

from reconciler.history.model import parse_time
from reconciler.history.store import DriftPoint

WIDTH, HEIGHT, PAD_X, PAD_Y = 760, 220, 48, 24


def total(point: DriftPoint) -> int:
    return point.drifted + point.missing + point.unmanaged


def drift_chart(points: list[DriftPoint], label: str) -> str:
    if not points:
        return '<p class="empty">No drift run recorded in this period.</p>'
    times = [parse_time(p.started_at).timestamp() for p in points]
    first, last = times[0], times[-1]
    span = max(last - first, 1.0)
    top = max(max(total(p) for p in points), 1)
    inner_w, inner_h = WIDTH - 2 * PAD_X, HEIGHT - 2 * PAD_Y

    def x(t: float) -> float:
        return PAD_X + (inner_w * (t - first) / span if len(points) > 1 else inner_w / 2)

    def y(n: int) -> float:
        return PAD_Y + inner_h * (1 - n / top)

    line = " ".join(f"{x(t):.1f},{y(total(p)):.1f}" for t, p in zip(times, points, strict=True)
                    if p.outcome != "failed")
    dots = []
    for t, p in zip(times, points, strict=True):
        failed = p.outcome == "failed"
        tip = (f"{p.started_at[:19].replace('T', ' ')} UTC: "
               + ("drift run failed" if failed else
                  f"{p.drifted} drifted, {p.missing} missing, {p.unmanaged} unmanaged"))
        dots.append(f'<circle class="point{" failed" if failed else ""}" cx="{x(t):.1f}" '
                    f'cy="{y(0 if failed else total(p)):.1f}" r="3" data-total="{total(p)}" '
                    f'data-started="{escape(p.started_at)}"><title>{escape(tip)}</title></circle>')
    axis = (f'<line class="axis" x1="{PAD_X}" y1="{PAD_Y + inner_h}" x2="{PAD_X + inner_w}" '
            f'y2="{PAD_Y + inner_h}"/><line class="axis" x1="{PAD_X}" y1="{PAD_Y}" x2="{PAD_X}" '
            f'y2="{PAD_Y + inner_h}"/>'
            f'<text x="{PAD_X - 6}" y="{PAD_Y + 4}" text-anchor="end">{top}</text>'
            f'<text x="{PAD_X - 6}" y="{PAD_Y + inner_h + 4}" text-anchor="end">0</text>'
            f'<text x="{PAD_X}" y="{HEIGHT - 4}">{escape(points[0].started_at[:16].replace("T", " "))}</text>'
            f'<text x="{PAD_X + inner_w}" y="{HEIGHT - 4}" text-anchor="end">'
            f'{escape(points[-1].started_at[:16].replace("T", " "))}</text>')
    return (f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" aria-label="{escape(label)}"><title>{escape(label)}</title>{axis}'
            f'<polyline class="line" points="{line}"/>{"".join(dots)}</svg>')
