"""Small inline SVG charts drawn on the server: no JavaScript, no CDN, scale with the page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

W, H = 640, 240
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 14, 28
COLORS = ("#2563eb", "#f97316", "#16a34a", "#dc2626")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]  # (x, y); x is seconds since epoch on time charts


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _svg(body: str, title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def _span(lo: float, hi: float) -> tuple[float, float]:
    if math.isclose(lo, hi):
        return lo - 1, hi + 1
    return lo, hi


def _axes(y_lo: float, y_hi: float) -> str:
    parts = []
    for i in range(5):
        value = y_lo + (y_hi - y_lo) * i / 4
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - i / 4)
        parts.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{_fmt(value)}</text>"
        )
    return "".join(parts)


def empty(title: str, why: str) -> str:
    return _svg(
        f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="tick">{escape(why)}</text>',
        title,
    )


def line_chart(series: Sequence[Series], title: str, x_labels: tuple[str, str] = ("", "")) -> str:
    """Step lines (PnL is realized in steps), one colour per series, with a legend."""
    pts = [p for s in series for p in s.points]
    if not pts:
        return empty(title, "nothing yet")
    x_lo, x_hi = _span(min(p[0] for p in pts), max(p[0] for p in pts))
    y_lo, y_hi = _span(min(0.0, *(p[1] for p in pts)), max(0.0, *(p[1] for p in pts)))

    def sx(x: float) -> float:
        return PAD_L + (W - PAD_L - PAD_R) * (x - x_lo) / (x_hi - x_lo)

    def sy(y: float) -> float:
        return PAD_T + (H - PAD_T - PAD_B) * (1 - (y - y_lo) / (y_hi - y_lo))

    body = [_axes(y_lo, y_hi)]
    for i, s in enumerate(series):
        if not s.points:
            continue
        path, last_y = [], None
        for x, y in s.points:
            if last_y is not None:
                path.append(f"{sx(x):.1f},{sy(last_y):.1f}")
            path.append(f"{sx(x):.1f},{sy(y):.1f}")
            last_y = y
        color = COLORS[i % len(COLORS)]
        body.append(
            f'<polyline points="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2"'
            f' data-series="{escape(s.label)}"/>'
            f'<rect x="{PAD_L + 8 + i * 170}" y="{PAD_T}" width="10" height="10" fill="{color}"/>'
            f'<text x="{PAD_L + 22 + i * 170}" y="{PAD_T + 9}" class="legend">'
            f"{escape(s.label)}</text>"
        )
    body.append(
        f'<text x="{PAD_L}" y="{H - 8}" class="tick">{escape(x_labels[0])}</text>'
        f'<text x="{W - PAD_R}" y="{H - 8}" class="tick" text-anchor="end">'
        f"{escape(x_labels[1])}</text>"
    )
    return _svg("".join(body), title)


def histogram(values: Sequence[float], title: str, unit: str, bins: int = 12) -> str:
    """Counts per equal-width bin, labelled at both ends."""
    if not values:
        return empty(title, "no measurements yet")
    lo, hi = _span(min(values), max(values))
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    top = max(counts)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    body = [_axes(0, top)]
    for i, n in enumerate(counts):
        h = plot_h * n / top
        body.append(
            f'<rect class="bar" x="{PAD_L + plot_w * i / bins + 1:.1f}"'
            f' y="{PAD_T + plot_h - h:.1f}"'
            f' width="{plot_w / bins - 2:.1f}" height="{h:.1f}" data-count="{n}"/>'
        )
    body.append(
        f'<text x="{PAD_L}" y="{H - 8}" class="tick">{_fmt(lo)} {escape(unit)}</text>'
        f'<text x="{W - PAD_R}" y="{H - 8}" class="tick" text-anchor="end">{_fmt(hi)}'
        f" {escape(unit)}</text>"
    )
    return _svg("".join(body), title)


def waterfall(start: tuple[str, float], steps: Sequence[tuple[str, float]], end: str) -> str:
    """From the ideal copy's PnL, each loss (or gain) in turn, to the follower's: where the edge
    went. Horizontal bars, so the labels stay readable on a phone."""
    rows = [start, *steps]
    total = start[1] + sum(v for _, v in steps)
    level, spans = 0.0, []
    for i, (label, value) in enumerate(rows):
        begin = 0.0 if i == 0 else level
        level = value if i == 0 else level + value
        spans.append((label, begin, level, value))
    spans.append((end, 0.0, total, total))
    lo = min(0.0, *(min(b, e) for _, b, e, _ in spans))
    hi = max(0.0, *(max(b, e) for _, b, e, _ in spans))
    lo, hi = _span(lo, hi)
    row_h = 26
    height = PAD_T + row_h * len(spans) + 8
    left, right = 150, W - 80

    def sx(x: float) -> float:
        return left + (right - left) * (x - lo) / (hi - lo)

    body = [
        f'<line x1="{sx(0):.1f}" y1="{PAD_T - 4}" x2="{sx(0):.1f}" y2="{height}" class="grid"/>'
    ]
    for i, (label, begin, stop, value) in enumerate(spans):
        y = PAD_T + i * row_h
        x0, x1 = sorted((sx(begin), sx(stop)))
        kind = "total" if i in (0, len(spans) - 1) else ("loss" if value < 0 else "gain")
        body.append(
            f'<text x="{left - 8}" y="{y + 16}" class="legend" text-anchor="end">{escape(label)}'
            f'</text><rect class="{kind}" x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 1):.1f}"'
            f' height="{row_h - 8}"/><text x="{right + 6}" y="{y + 16}" class="tick">'
            f"{value:+.2f}</text>"
        )
    return (
        f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="where the edge went"'
        f' xmlns="http://www.w3.org/2000/svg"><title>where the edge went</title>'
        f"{''.join(body)}</svg>"
    )
