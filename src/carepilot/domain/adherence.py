"""Medication adherence from dispensing records: proportion of days covered (PDC), MPR, gaps and trend.

PDC follows the Pharmacy Quality Alliance method: from the first fill in the window to the window's end, days
covered by any supply of the drug, with early refills shifted forward so overlapping supplies are not double
counted; 80% is the usual adherence threshold (PQA, "Proportion of Days Covered" measure specification).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

ADHERENCE_THRESHOLD = 0.8


@dataclass(frozen=True)
class Fill:
    when: datetime
    days_supply: float


def proportion_of_days_covered(fills: Iterable[Fill], start: datetime, end: datetime) -> float | None:
    """PDC of one drug between ``start`` and ``end``; None when there is no fill in the window."""
    ordered = sorted((f for f in fills if start <= f.when < end and f.days_supply > 0), key=lambda f: f.when)
    if not ordered or end <= ordered[0].when:
        return None
    period_start = ordered[0].when
    period_days = (end - period_start).total_seconds() / 86400.0
    cursor = period_start
    covered = 0.0
    for fill in ordered:
        begin = max(fill.when, cursor)
        finish = min(begin + timedelta(days=fill.days_supply), end)
        if finish > begin:
            covered += (finish - begin).total_seconds() / 86400.0
        cursor = max(cursor, begin + timedelta(days=fill.days_supply))
    return min(1.0, covered / period_days) if period_days > 0 else None


# --- Day-level coverage per drug class (PQA), MPR, gaps and trend -------------------------------------------
# Coverage is counted in whole calendar days, as the PQA specification does (a fill covers its dispense day and
# the following days_supply - 1 days). Hand-written with a boolean day vector: the rules (shift forward within a
# drug, union across drugs of a class, inpatient days excluded) are a few lines and no maintained library
# implements PQA PDC.


@dataclass(frozen=True)
class DrugFill:
    """One dispense of one drug: the day it was handed over and how many days it supplies."""

    drug: str
    when: date
    days_supply: int


@dataclass(frozen=True)
class Stay:
    """An inpatient stay (admission day to discharge day); supply is not used up in hospital."""

    start: date
    end: date


@dataclass(frozen=True)
class Gap:
    """A run of uncovered days: ``start`` to ``end`` inclusive."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class AdherenceSummary:
    """PDC, MPR, gaps and trend of one drug class for one patient over one measurement period."""

    group: str
    drugs: tuple[str, ...]
    index_date: date
    period_end: date
    days_in_period: int
    days_covered: int
    days_in_hospital: int
    pdc: float
    mpr: float
    gaps: tuple[Gap, ...]
    trend: tuple[tuple[date, float], ...]
    threshold: float = ADHERENCE_THRESHOLD

    @property
    def adherent(self) -> bool:
        return self.pdc >= self.threshold

    @property
    def longest_gap(self) -> Gap | None:
        return max(self.gaps, key=lambda g: g.days) if self.gaps else None

    @property
    def trend_slope(self) -> float | None:
        """Change in PDC per window across the trend windows (least squares), None with fewer than two."""
        if len(self.trend) < 2:
            return None
        ys = [v for _, v in self.trend]
        n = len(ys)
        mean_x, mean_y = (n - 1) / 2, sum(ys) / n
        num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(ys))
        den = sum((i - mean_x) ** 2 for i in range(n))
        return num / den

    @property
    def trend_word(self) -> str:
        slope = self.trend_slope
        if slope is None:
            return "not enough history"
        if slope <= -0.05:
            return "falling"
        if slope >= 0.05:
            return "rising"
        return "stable"


def _hospital_days(stays: Iterable[Stay], index: date, days: int) -> list[bool]:
    flags = [False] * days
    for stay in stays:
        lo = max((stay.start - index).days, 0)
        hi = min((stay.end - index).days, days - 1)
        for d in range(lo, hi + 1):
            flags[d] = True
    return flags


def day_coverage(
    fills: Sequence[DrugFill], index: date, end: date, stays: Iterable[Stay] = ()
) -> tuple[list[bool], list[bool]]:
    """(covered, in hospital) flags for each day from ``index`` to ``end`` inclusive.

    Within one drug an early refill starts the day after the previous supply runs out (shift forward); days in
    hospital neither count against the patient nor use up supply (the CMS Part D inpatient-stay adjustment of the
    PQA measure); different drugs of the same class cover the same days once (PQA class-level PDC).
    """
    days = (end - index).days + 1
    hospital = _hospital_days(stays, index, days)
    covered = [False] * days
    by_drug: dict[str, list[DrugFill]] = {}
    for fill in fills:
        by_drug.setdefault(fill.drug, []).append(fill)
    for drug_fills in by_drug.values():
        cursor = 0
        for fill in sorted(drug_fills, key=lambda f: f.when):
            day = max((fill.when - index).days, cursor)
            remaining = int(fill.days_supply)
            while remaining > 0 and day < days:
                if not hospital[day]:
                    covered[day] = True
                    remaining -= 1
                day += 1
            cursor = max(cursor, day)
    return covered, hospital


def _gaps(covered: list[bool], hospital: list[bool], index: date) -> tuple[Gap, ...]:
    out: list[Gap] = []
    start: int | None = None
    for d, (c, h) in enumerate(zip(covered, hospital, strict=True)):
        missing = not c and not h
        if missing and start is None:
            start = d
        elif not missing and start is not None:
            out.append(Gap(index + timedelta(days=start), index + timedelta(days=d - 1)))
            start = None
    if start is not None:
        out.append(Gap(index + timedelta(days=start), index + timedelta(days=len(covered) - 1)))
    return tuple(out)


def adherence_summary(
    group: str,
    fills: Sequence[DrugFill],
    start: date,
    end: date,
    stays: Iterable[Stay] = (),
    *,
    threshold: float = ADHERENCE_THRESHOLD,
    trend_window_days: int = 90,
) -> AdherenceSummary | None:
    """PQA PDC and MPR of one drug class between ``start`` and ``end`` (both inclusive); None without a fill.

    The treatment period runs from the index date (first fill inside the period) to ``end``. PDC = covered days /
    days in the period not spent in hospital. MPR = total days supplied by the fills in the period / the same
    denominator, not capped (values above 1 show stockpiling; Hess et al., Ann Pharmacother 2006). The trend is
    PDC in consecutive ``trend_window_days`` windows counted back from ``end`` (partial first window dropped).
    """
    stays = tuple(stays)
    inside = [f for f in fills if start <= f.when <= end and f.days_supply > 0]
    if not inside:
        return None
    index = min(f.when for f in inside)
    covered, hospital = day_coverage(inside, index, end, stays)
    at_risk = sum(1 for h in hospital if not h)
    if at_risk <= 0:
        return None
    n_covered = sum(1 for c in covered if c)
    supplied = sum(f.days_supply for f in inside)
    trend: list[tuple[date, float]] = []
    stop = len(covered)
    while stop - trend_window_days >= 0:
        lo = stop - trend_window_days
        window_risk = sum(1 for h in hospital[lo:stop] if not h)
        if window_risk:
            trend.append((index + timedelta(days=stop - 1), sum(covered[lo:stop]) / window_risk))
        stop = lo
    return AdherenceSummary(
        group=group,
        drugs=tuple(sorted({f.drug for f in inside})),
        index_date=index,
        period_end=end,
        days_in_period=at_risk,
        days_covered=n_covered,
        days_in_hospital=len(hospital) - at_risk,
        pdc=n_covered / at_risk,
        mpr=supplied / at_risk,
        gaps=_gaps(covered, hospital, index),
        trend=tuple(reversed(trend)),
        threshold=threshold,
    )
