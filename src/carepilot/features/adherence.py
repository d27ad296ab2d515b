"""Point-in-time adherence features from a profile's dispenses: PQA PDC per drug class, for risk models and Insights.

Only dispenses handed over by ``as_of`` are read (the profile is truncated there), so the features cannot leak.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from carepilot.domain.adherence import AdherenceSummary, DrugFill, Stay, adherence_summary
from carepilot.domain.profile import PatientProfile
from carepilot.knowledge.concepts import concept_map

DEFAULT_LOOKBACK = timedelta(days=365)
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC", "inpatient"})
FEATURE_NAMES = ("pdc_mean", "pdc_min", "mpr_mean", "classes_below_threshold", "longest_gap_days")


def drug_group(concept: str | None, display: str | None) -> tuple[str, str]:
    """(class key, drug name) of a medication concept: the concept map's drug class, else the drug itself."""
    cmap = concept_map()
    known = cmap.concepts.get(concept or "")
    drug = concept or (display or "unknown").lower()
    group = known.drug_class if known is not None and known.drug_class else drug
    return group, drug


def dispense_fills(profile: PatientProfile) -> dict[str, list[DrugFill]]:
    """The profile's dispenses with a supply, grouped by drug class."""
    out: dict[str, list[DrugFill]] = {}
    for med in profile.medications:
        if med.resource_type != "MedicationDispense" or med.authored is None or not med.days_supply:
            continue
        group, drug = drug_group(med.concept, med.code.display)
        out.setdefault(group, []).append(DrugFill(drug, med.authored.date(), round(med.days_supply)))
    return out


def inpatient_stays(profile: PatientProfile) -> list[Stay]:
    """Inpatient encounters as stays (an open stay runs to ``as_of``)."""
    stays = []
    for e in profile.encounters:
        if e.encounter_class in INPATIENT_CLASSES and e.start is not None:
            stays.append(Stay(e.start.date(), (e.end or profile.as_of).date()))
    return stays


def adherence_by_class(
    profile: PatientProfile, at: datetime | None = None, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[AdherenceSummary]:
    """PQA adherence of every drug class dispensed in the ``lookback`` before ``at`` (default ``as_of``), worst first."""
    when = at or profile.as_of
    known = profile.truncated(when) if when < profile.as_of else profile
    stays = inpatient_stays(known)
    start, end = (when - lookback).date(), when.date()
    found = [adherence_summary(group, fills, start, end, stays) for group, fills in dispense_fills(known).items()]
    return sorted((s for s in found if s is not None), key=lambda s: (s.pdc, s.group))


def adherence_features(
    profile: PatientProfile, at: datetime | None = None, lookback: timedelta = DEFAULT_LOOKBACK
) -> dict[str, float]:
    """Adherence features for a risk model (NaN when nothing was dispensed): see ``FEATURE_NAMES``."""
    found = adherence_by_class(profile, at, lookback)
    if not found:
        return {name: math.nan for name in FEATURE_NAMES}
    return {
        "pdc_mean": sum(s.pdc for s in found) / len(found),
        "pdc_min": min(s.pdc for s in found),
        "mpr_mean": sum(s.mpr for s in found) / len(found),
        "classes_below_threshold": float(sum(1 for s in found if not s.adherent)),
        "longest_gap_days": float(max((s.longest_gap.days if s.longest_gap else 0) for s in found)),
    }


def pdc(profile: PatientProfile, at: datetime | None = None, lookback: timedelta = DEFAULT_LOOKBACK) -> float:
    """Mean PQA PDC over the drug classes dispensed before ``at``; NaN when none were."""
    return adherence_features(profile, at, lookback)["pdc_mean"]
