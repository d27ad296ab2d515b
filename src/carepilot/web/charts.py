"""Small server-side SVG charts for the dashboard: lab/vital trends, medication bars, signed factor bars.

Hand-written on purpose: the dashboard must work offline with no CDN and no download at run time, and a vendored
JavaScript chart library would be the largest file in the project for a few polylines. matplotlib can write SVG,
but takes ~50 ms per figure and produces fixed-size, un-styleable output; these functions take microseconds,
scale with the page (viewBox) and take their colours from the page's CSS classes. All text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Protocol

from markupsafe import Markup


@dataclass(frozen=True)
class Band:
    """A reference threshold drawn as a dashed line (e.g. HbA1c 7%, BP 140)."""

    value: float
    label: str


def _scale(value: float, lo: float, hi: float, out_lo: float, out_hi: float) -> float:
    if hi == lo:
        return (out_lo + out_hi) / 2
    return out_lo + (value - lo) * (out_hi - out_lo) / (hi - lo)


def line_chart(
    points: Sequence[tuple[datetime, float]],
    *,
    title: str,
    unit: str = "",
    bands: Sequence[Band] = (),
    width: int = 420,
    height: int = 150,
) -> Markup:
    """A trend line with its points, the latest value labelled, and dashed reference lines."""
    label = f"{title} ({unit})" if unit else title
    if not points:
        return Markup(
            f'<svg class="chart empty" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}: no data">'
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="muted">No {escape(title)} recorded</text></svg>'
        )
    pad_l, pad_r, pad_t, pad_b = 40, 56, 22, 22
    xs = [p[0].timestamp() for p in points]
    ys = [p[1] for p in points] + [b.value for b in bands]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    margin = (y_hi - y_lo) * 0.1 or abs(y_hi) * 0.1 or 1.0
    y_lo, y_hi = y_lo - margin, y_hi + margin

    def px(x: float) -> float:
        return _scale(x, x_lo, x_hi, pad_l, width - pad_r)

    def py(y: float) -> float:
        return _scale(y, y_lo, y_hi, height - pad_b, pad_t)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">',
        f'<text x="{pad_l}" y="14" class="chart-title">{escape(label)}</text>',
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" class="axis"/>',
        f'<text x="{pad_l - 4}" y="{py(y_hi - margin) + 4:.1f}" text-anchor="end" class="tick">{y_hi - margin:.3g}</text>',
        f'<text x="{pad_l - 4}" y="{py(y_lo + margin) + 4:.1f}" text-anchor="end" class="tick">{y_lo + margin:.3g}</text>',
        f'<text x="{pad_l}" y="{height - 6}" class="tick">{points[0][0].date().isoformat()}</text>',
        f'<text x="{width - pad_r}" y="{height - 6}" text-anchor="end" class="tick">{points[-1][0].date().isoformat()}</text>',
    ]
    for band in bands:
        y = py(band.value)
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - pad_r}" y2="{y:.1f}" class="band"/>')
        parts.append(f'<text x="{width - pad_r + 4}" y="{y + 4:.1f}" class="band-label">{escape(band.label)}</text>')
    path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, (_, y) in zip(xs, points, strict=True))
    parts.append(f'<polyline points="{path}" class="series"/>')
    for x, (when, y) in zip(xs, points, strict=True):
        parts.append(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.6" class="point"><title>{when.date().isoformat()}: {y:.4g} {escape(unit)}</title></circle>'
        )
    last_x, (_, last_y) = xs[-1], points[-1]
    parts.append(f'<text x="{px(last_x) + 6:.1f}" y="{py(last_y) - 6:.1f}" class="last">{last_y:.3g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Span:
    label: str
    start: datetime
    end: datetime | None  # None: still active
    active: bool


def medication_bars(spans: Sequence[Span], *, start: datetime, end: datetime, width: int = 860) -> Markup:
    """One bar per medication over time (ongoing ones run to the right edge)."""
    if not spans:
        return Markup('<p class="muted">No medications recorded.</p>')
    row_h, label_w, pad = 22, 200, 8
    height = row_h * len(spans) + 24
    lo, hi = start.timestamp(), end.timestamp()
    parts = [f'<svg class="chart meds" viewBox="0 0 {width} {height}" role="img" aria-label="Medications over time">']
    for index, span in enumerate(spans):
        y = index * row_h + 4
        x0 = _scale(span.start.timestamp(), lo, hi, label_w, width - pad)
        x1 = _scale((span.end or end).timestamp(), lo, hi, label_w, width - pad)
        klass = "bar active" if span.active else "bar stopped"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" class="tick">{escape(span.label[:32])}</text>'
        )
        parts.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 3):.1f}" height="{row_h - 8}" rx="3" class="{klass}">'
            f"<title>{escape(span.label)}: {span.start.date().isoformat()} to "
            f"{span.end.date().isoformat() if span.end else 'now'}</title></rect>"
        )
    parts.append(f'<text x="{label_w}" y="{height - 4}" class="tick">{start.date().isoformat()}</text>')
    parts.append(
        f'<text x="{width - pad}" y="{height - 4}" text-anchor="end" class="tick">{end.date().isoformat()}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


class FactorLike(Protocol):
    label: str
    contribution: float
    phrase: str


def factor_bars(items: Sequence[FactorLike], *, width: int = 760) -> Markup:
    """Signed, sized bars for explanation factors (label, contribution, phrase), centred on zero."""
    factors = [(f.label, f.contribution, f.phrase) for f in items]
    if not factors:
        return Markup("")
    row_h, label_w = 20, 150
    height = row_h * len(factors) + 4
    biggest = max(abs(c) for _, c, _ in factors) or 1.0
    mid = label_w + (width - label_w) / 2
    half = (width - label_w) / 2 - 6
    parts = [f'<svg class="chart factors" viewBox="0 0 {width} {height}" role="img" aria-label="Explanation factors">']
    parts.append(f'<line x1="{mid}" y1="0" x2="{mid}" y2="{height}" class="axis"/>')
    for index, (label, contribution, phrase) in enumerate(factors):
        y = index * row_h + 2
        size = abs(contribution) / biggest * half
        x = mid if contribution >= 0 else mid - size
        klass = "up" if contribution >= 0 else "down"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" class="tick">{escape(label[:28])}</text>')
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 2}" width="{max(size, 1.5):.1f}" height="{row_h - 6}" class="factor {klass}">'
            f"<title>{escape(phrase)} ({contribution:+.3g})</title></rect>"
        )
        # The phrase sits on the side of zero the bar does not use, so it never overlaps the bar.
        if contribution >= 0:
            parts.append(
                f'<text x="{mid - 6}" y="{y + 13}" text-anchor="end" class="phrase">{escape(phrase[:48])}</text>'
            )
        else:
            parts.append(f'<text x="{mid + 6}" y="{y + 13}" class="phrase">{escape(phrase[:48])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_strip(value: float, low: float, high: float, *, lo: float, hi: float, width: int = 260) -> Markup:
    """A point estimate with its interval on a shared scale [lo, hi], so options can be compared side by side."""
    pad, height = 8, 26
    x = _scale(value, lo, hi, pad, width - pad)
    x0, x1 = _scale(low, lo, hi, pad, width - pad), _scale(high, lo, hi, pad, width - pad)
    zero = _scale(0.0, lo, hi, pad, width - pad) if lo <= 0.0 <= hi else None
    parts = [
        f'<svg class="chart interval" viewBox="0 0 {width} {height}" role="img" aria-label="estimate {value:.3g}, interval {low:.3g} to {high:.3g}">'
    ]
    if zero is not None:
        parts.append(f'<line x1="{zero:.1f}" y1="2" x2="{zero:.1f}" y2="{height - 2}" class="axis"/>')
    parts.append(f'<line x1="{x0:.1f}" y1="{height / 2}" x2="{x1:.1f}" y2="{height / 2}" class="ci"/>')
    parts.append(f'<circle cx="{x:.1f}" cy="{height / 2}" r="4.5" class="point"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


class AgpLike(Protocol):
    bin_minutes: int
    minute: Sequence[float]
    percentiles: dict[int, Sequence[float]]


AGP_LEVELS = ((54, "54"), (70, "70"), (180, "180"), (250, "250"))


def _runs(values: Sequence[Sequence[float]]) -> list[list[int]]:
    """Index runs where every series is a number (bins with too few readings break the bands)."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i in range(len(values[0])):
        if all(v[i] == v[i] for v in values):  # NaN != NaN
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def agp_chart(profile: AgpLike, *, width: int = 640, height: int = 260, y_max: float = 350.0) -> Markup:
    """Ambulatory glucose profile: 5-95th and 25-75th percentile bands and the median by time of day.

    Layout after the AGP report of the international consensus (Battelino 2019): target range 70-180 mg/dL
    shaded, reference lines at 54, 70, 180 and 250 mg/dL, x axis midnight to midnight.
    """
    p = profile.percentiles
    top = max([y_max, *[float(v) for v in p[95] if v == v]]) + 10
    pad_l, pad_r, pad_t, pad_b = 40, 14, 22, 24

    def px(minute: float) -> float:
        return _scale(minute, 0.0, 1440.0, pad_l, width - pad_r)

    def py(mg: float) -> float:
        return _scale(min(mg, top), 0.0, top, height - pad_b, pad_t)

    parts = [
        f'<svg class="chart agp" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Ambulatory glucose profile: glucose percentiles by time of day">',
        '<text x="40" y="14" class="chart-title">Ambulatory glucose profile (mg/dL)</text>',
        f'<rect x="{pad_l}" y="{py(180):.1f}" width="{width - pad_l - pad_r}" height="{py(70) - py(180):.1f}" '
        'class="agp-target" fill="#d9f0d3"><title>target range 70-180 mg/dL</title></rect>',
    ]
    for level, label in AGP_LEVELS:
        y = py(level)
        parts.append(
            f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - pad_r}" y2="{y:.1f}" class="axis" stroke-dasharray="2 3"/>'
        )
        parts.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{label}</text>')
    for hour in range(0, 25, 3):
        x = px(hour * 60)
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" class="tick">{hour:02d}:00</text>')
    centre = [float(m) + profile.bin_minutes / 2 for m in profile.minute]
    for run in _runs([p[5], p[25], p[50], p[75], p[95]]):
        for lo, hi, klass, fill, label in (
            (5, 95, "agp-outer", "#9ecae1", "5-95th"),
            (25, 75, "agp-inner", "#3182bd", "25-75th"),
        ):
            upper = " ".join(f"{px(centre[i]):.1f},{py(float(p[hi][i])):.1f}" for i in run)
            lower = " ".join(f"{px(centre[i]):.1f},{py(float(p[lo][i])):.1f}" for i in reversed(run))
            parts.append(
                f'<polygon points="{upper} {lower}" class="{klass}" fill="{fill}" fill-opacity="0.75">'
                f"<title>{label} percentile</title></polygon>"
            )
        median = " ".join(f"{px(centre[i]):.1f},{py(float(p[50][i])):.1f}" for i in run)
        parts.append(
            f'<polyline points="{median}" class="agp-median" fill="none" stroke="#08306b" stroke-width="2">'
            "<title>median</title></polyline>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
