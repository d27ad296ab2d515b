"""Medication adherence from dispensing records: proportion of days covered (PDC).

PDC follows the Pharmacy Quality Alliance method: from the first fill in the window to the window's end, days
covered by any supply of the drug, with early refills shifted forward so overlapping supplies are not double
counted; 80% is the usual adherence threshold (PQA, "Proportion of Days Covered" measure specification).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

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
