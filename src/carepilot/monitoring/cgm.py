"""Continuous glucose monitoring metrics and the ambulatory glucose profile (AGP).

Definitions follow the international consensus on time in range: Battelino T, et al. "Clinical Targets for
Continuous Glucose Monitoring Data Interpretation: Recommendations From the International Consensus on Time in
Range." Diabetes Care 2019;42(8):1593-1603. GMI follows Bergenstal RM, et al. Diabetes Care 2018;41:2275-2280
(GMI % = 3.31 + 0.02392 x mean glucose in mg/dL). The consensus asks for 14 days of data with at least 70% of
the expected readings; ``data_sufficiency`` is that share of expected 5-minute readings.

Written by hand: the metrics are a handful of numpy expressions, and the Python CGM packages (cgmquantify,
iglu's ports) are unmaintained or pull in heavy dependencies for the same arithmetic. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from carepilot.errors import InputError

SECONDS_PER_DAY = 86_400.0
CONSENSUS_DAYS = 14
SUFFICIENT_SHARE = 0.70
AGP_PERCENTILES = (5, 25, 50, 75, 95)


@dataclass(frozen=True)
class CgmMetrics:
    """Consensus CGM metrics over one period; the ``time_*`` fields are fractions between 0 and 1."""

    n_readings: int
    period_days: float
    start: float
    end: float
    mean_glucose: float
    sd: float
    gmi: float
    cv: float
    time_below_54: float
    time_54_69: float
    time_in_range: float
    time_181_250: float
    time_above_250: float
    data_sufficiency: float
    sufficient: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


def glucose_management_indicator(mean_mg_dl: float) -> float:
    """GMI (%) from mean glucose in mg/dL (Bergenstal et al., Diabetes Care 2018)."""
    return 3.31 + 0.02392 * mean_mg_dl


def range_fractions(values: np.ndarray) -> tuple[float, float, float, float, float]:
    """Fractions of readings <54, 54-69, 70-180, 181-250 and >250 mg/dL (Battelino 2019 ranges).

    Readings between the printed integer bands go to the band whose bound they do not pass (180.5 is above
    range).
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        raise InputError("no glucose readings to compute time in ranges")
    below_54 = np.count_nonzero(v < 54.0)
    below_70 = np.count_nonzero(v < 70.0)
    upto_180 = np.count_nonzero(v <= 180.0)
    upto_250 = np.count_nonzero(v <= 250.0)
    return (
        below_54 / n,
        (below_70 - below_54) / n,
        (upto_180 - below_70) / n,
        (upto_250 - upto_180) / n,
        (n - upto_250) / n,
    )


def data_sufficiency(
    times: np.ndarray, start: float, end: float, *, interval_minutes: float = 5.0, period_days: float = 14
) -> float:
    """Share of the expected readings (one per interval over ``period_days``) that are present, capped at 1.

    Several readings in one interval count once, so a sensor reporting every minute is not over-counted.
    """
    t = np.asarray(times, dtype=np.float64)
    step = interval_minutes * 60.0
    expected = round(period_days * SECONDS_PER_DAY / step)
    inside = t[(t >= start) & (t <= end)]
    slots = np.unique(np.floor((inside - start) / step).astype(np.int64))
    return float(min(1.0, len(slots) / expected)) if expected else 0.0


def cgm_metrics(
    times: np.ndarray,
    values: np.ndarray,
    *,
    period_days: float = CONSENSUS_DAYS,
    interval_minutes: float = 5.0,
) -> CgmMetrics:
    """Consensus metrics over the ``period_days`` ending at the last reading.

    Parameters:
        times: UTC epoch seconds of each reading.
        values: glucose in mg/dL.
    Raises:
        InputError: no readings, or times and values of different lengths.
    """
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if len(t) != len(v):
        raise InputError(f"{len(t)} times but {len(v)} glucose values")
    if len(v) == 0:
        raise InputError("no CGM glucose readings")
    end = float(t.max())
    start = end - period_days * SECONDS_PER_DAY
    # Readings exactly one period before the last one would form a 14-day-and-5-minute window.
    keep = t > start
    t, v = t[keep], v[keep]
    mean = float(v.mean())
    # Sample SD (ddof=1), as in the iglu reference implementation; one reading has no spread.
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    below_54, r54_69, tir, r181_250, above_250 = range_fractions(v)
    sufficiency = data_sufficiency(t, start, end, interval_minutes=interval_minutes, period_days=period_days)
    return CgmMetrics(
        n_readings=len(v),
        period_days=float(period_days),
        start=start,
        end=end,
        mean_glucose=mean,
        sd=sd,
        gmi=glucose_management_indicator(mean),
        cv=sd / mean if mean > 0 else 0.0,
        time_below_54=below_54,
        time_54_69=r54_69,
        time_in_range=tir,
        time_181_250=r181_250,
        time_above_250=above_250,
        data_sufficiency=sufficiency,
        sufficient=sufficiency >= SUFFICIENT_SHARE,
    )


@dataclass(frozen=True)
class AgpProfile:
    """Glucose percentiles by time of day; row i covers minutes [minute[i], minute[i] + bin_minutes)."""

    bin_minutes: int
    minute: np.ndarray
    percentiles: dict[int, np.ndarray]
    n: np.ndarray


def ambulatory_glucose_profile(
    times: np.ndarray,
    values: np.ndarray,
    *,
    bin_minutes: int = 15,
    utc_offset_minutes: int = 0,
    min_per_bin: int = 3,
) -> AgpProfile:
    """5/25/50/75/95th percentiles of glucose per time-of-day bin, all days overlaid (AGP, Battelino 2019).

    ``utc_offset_minutes`` shifts to the patient's local clock; bins with fewer than ``min_per_bin`` readings
    are NaN.
    """
    if bin_minutes <= 0 or 1440 % bin_minutes:
        raise InputError(f"bin_minutes must divide a day into whole bins, got {bin_minutes}")
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        raise InputError("no CGM glucose readings for an AGP")
    minute_of_day = ((t / 60.0 + utc_offset_minutes) % 1440.0).astype(np.int64)
    bins = minute_of_day // bin_minutes
    n_bins = 1440 // bin_minutes
    order = np.argsort(bins, kind="stable")
    sorted_bins, sorted_v = bins[order], v[order]
    edges = np.searchsorted(sorted_bins, np.arange(n_bins + 1))
    counts = np.diff(edges)
    out = {p: np.full(n_bins, np.nan) for p in AGP_PERCENTILES}
    for b in range(n_bins):
        if counts[b] >= min_per_bin:
            q = np.percentile(sorted_v[edges[b] : edges[b + 1]], AGP_PERCENTILES)
            for p, val in zip(AGP_PERCENTILES, q, strict=True):
                out[p][b] = val
    return AgpProfile(bin_minutes, np.arange(n_bins) * bin_minutes, out, counts)
