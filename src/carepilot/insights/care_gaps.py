"""Guideline care gaps as Insights (kind ``care_gap``), from rules kept as data with citations.

The rules live in ``knowledge/data/care_gaps.toml`` (one citation per rule, a table id and version); this module
parses them into value objects and evaluates them against one PatientProfile with small pure functions. A rule
whose data is absent (no qualifying condition) produces nothing; a care gap is a prompt to consider, never an order:
the proposed FHIR resources are ``draft`` / ``proposal``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from carepilot.domain.insight import Confidence, Declined, Evidence, Factor, Insight, InsightKind, Severity, Source
from carepilot.domain.profile import Measurement, PatientProfile
from carepilot.errors import InputError
from carepilot.insights.service import InsightContext
from carepilot.knowledge.concepts import LOINC, RXNORM, ConceptMap, concept_map

RULE_TYPES = ("overdue", "above", "therapy")


@dataclass(frozen=True)
class Check:
    concept: str
    threshold: float


@dataclass(frozen=True)
class CareGapRule:
    """One guideline care-gap rule with its citation."""

    id: str
    type: str
    title: str
    consider: str
    severity: Severity
    evidence: Evidence
    condition: str | None = None
    measurements: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    window_days: int | None = None
    absent_class: str | None = None
    proposal_rxnorm: str | None = None
    proposal_display: str | None = None
    proposal_dosage: str | None = None


@dataclass(frozen=True)
class CareGapTable:
    id: str
    version: str
    rules: tuple[CareGapRule, ...]


def parse_rules(text: str) -> CareGapTable:
    """Parse the TOML rule table; raises InputError naming the rule and field that is wrong."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"care-gap table is not valid TOML: {exc}") from exc
    rules: list[CareGapRule] = []
    for index, spec in enumerate(raw.get("rule", [])):
        rid = spec.get("id") or f"rule[{index}]"
        try:
            kind = spec["type"]
            if kind not in RULE_TYPES:
                raise InputError(f"care-gap rule {rid}: type {kind!r} is not one of {', '.join(RULE_TYPES)}")
            rules.append(
                CareGapRule(
                    id=spec["id"],
                    type=kind,
                    title=spec["title"],
                    consider=spec["consider"],
                    severity=Severity(spec.get("severity", "info")),
                    evidence=Evidence(
                        label=spec["evidence_label"],
                        citation=spec["citation"],
                        url=spec.get("url"),
                        level=spec.get("level"),
                    ),
                    condition=spec.get("condition"),
                    measurements=tuple(spec.get("measurements", ())),
                    checks=tuple(Check(c["concept"], float(c["threshold"])) for c in spec.get("checks", ())),
                    window_days=spec.get("window_days"),
                    absent_class=spec.get("absent_class"),
                    proposal_rxnorm=spec.get("proposal_rxnorm"),
                    proposal_display=spec.get("proposal_display"),
                    proposal_dosage=spec.get("proposal_dosage"),
                )
            )
        except KeyError as exc:
            raise InputError(f"care-gap rule {rid}: missing field {exc.args[0]!r}") from exc
        except ValueError as exc:
            raise InputError(f"care-gap rule {rid}: {exc}") from exc
    return CareGapTable(
        id=str(raw.get("id", "care-gaps")), version=str(raw.get("version", "unversioned")), rules=tuple(rules)
    )


@lru_cache(maxsize=1)
def care_gap_table() -> CareGapTable:
    """The built-in care-gap rule table, loaded once per process."""
    text = resources.files("carepilot.knowledge").joinpath("data/care_gaps.toml").read_text(encoding="utf-8")
    return parse_rules(text)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _draft_lab_order(profile: PatientProfile, concept: str, cmap: ConceptMap, reason: str) -> dict[str, Any]:
    known = cmap.concepts.get(concept)
    display = known.display if known else concept
    loinc = next((code for system, code in (known.codes if known else ()) if system == LOINC), None)
    coding = {"system": LOINC, "code": loinc, "display": display} if loinc else {"display": display}
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "category": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "108252007", "display": "Laboratory procedure"}]}
        ],
        "code": {"coding": [coding], "text": display},
        "subject": {"reference": f"Patient/{profile.patient_id}"},
        "reasonCode": [{"text": reason}],
    }


def _draft_medication(profile: PatientProfile, rule: CareGapRule) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": rule.proposal_rxnorm, "display": rule.proposal_display}],
            "text": rule.proposal_display,
        },
        "subject": {"reference": f"Patient/{profile.patient_id}"},
        "dosageInstruction": [{"text": rule.proposal_dosage}] if rule.proposal_dosage else [],
        "reasonCode": [{"text": rule.title}],
    }


def _recent(profile: PatientProfile, concept: str, window_days: int | None) -> Measurement | None:
    latest = profile.latest(concept)
    if latest is None or latest.value is None or latest.effective is None:
        return None
    if window_days is not None and latest.effective < profile.as_of - timedelta(days=window_days):
        return None
    return latest


def _on_class(profile: PatientProfile, drug_class: str, cmap: ConceptMap) -> bool:
    for med in profile.active_medications():
        known = cmap.concepts.get(med.concept or "")
        if known is not None and known.drug_class == drug_class:
            return True
    return False


def _days_since(profile: PatientProfile, when: datetime) -> int:
    return max(0, (profile.as_of - when).days)


@dataclass(frozen=True)
class _Finding:
    factors: tuple[Factor, ...]
    facts: tuple[str, ...]
    actions: tuple[dict[str, Any], ...]
    stale_data: bool = False


def _overdue(profile: PatientProfile, rule: CareGapRule, cmap: ConceptMap) -> _Finding | None:
    window = rule.window_days or 365
    factors: list[Factor] = []
    facts: list[str] = []
    actions: list[dict[str, Any]] = []
    for concept in rule.measurements:
        display = cmap.concepts[concept].display if concept in cmap.concepts else concept
        last = profile.latest(concept)
        if last is not None and last.effective is not None and _days_since(profile, last.effective) <= window:
            continue
        if last is None or last.effective is None:
            factors.append(Factor(display, 1.0, f"no {display} on record"))
            facts.append(f"No {display} on record.")
        else:
            days = _days_since(profile, last.effective)
            factors.append(Factor(display, round(days / window, 2), f"last {display} {days} days ago"))
            shown = f"{_fmt(last.value)} {last.unit or ''}".strip() if last.value is not None else "recorded"
            facts.append(f"Last {display}: {shown} on {last.effective.date().isoformat()} ({days} days ago).")
        actions.append(_draft_lab_order(profile, concept, cmap, rule.title))
    if not factors:
        return None
    return _Finding(tuple(factors), tuple(facts), tuple(actions))


def _above(profile: PatientProfile, rule: CareGapRule, cmap: ConceptMap) -> _Finding | None:
    factors: list[Factor] = []
    facts: list[str] = []
    for check in rule.checks:
        found = _recent(profile, check.concept, rule.window_days)
        if found is None or found.value is None or found.value < check.threshold:
            continue
        display = cmap.concepts[check.concept].display if check.concept in cmap.concepts else check.concept
        unit = found.unit or ""
        # Sized as the relative excess over the threshold: 10% above counts 0.1.
        excess = (found.value - check.threshold) / check.threshold
        factors.append(
            Factor(
                display, round(excess, 3), f"{display} {_fmt(found.value)} {unit} (threshold {_fmt(check.threshold)})"
            )
        )
        assert found.effective is not None  # _recent only returns dated values
        facts.append(
            f"{display}: {_fmt(found.value)} {unit} on {found.effective.date().isoformat()}, "
            f"at or above {_fmt(check.threshold)} {unit}."
        )
    if not factors:
        return None
    actions: tuple[dict[str, Any], ...] = ()
    if rule.absent_class:
        if _on_class(profile, rule.absent_class, cmap):
            return None
        label = rule.absent_class.replace("_", " ")
        factors.append(Factor(f"no {label}", 0.5, f"no active {label} recorded"))
        facts.append(f"No active {label} is recorded.")
        if rule.proposal_rxnorm:
            actions = (_draft_medication(profile, rule),)
    return _Finding(tuple(factors), tuple(facts), actions)


def _therapy(profile: PatientProfile, rule: CareGapRule, cmap: ConceptMap) -> _Finding | None:
    if not rule.absent_class or _on_class(profile, rule.absent_class, cmap):
        return None
    label = rule.absent_class.replace("_", " ")
    factors = [Factor(f"no {label}", 1.0, f"no active {label} recorded")]
    facts = [f"No active {label} is recorded."]
    egfr = profile.latest("egfr")
    if egfr is not None and egfr.value is not None:
        # SGLT2 inhibitor initiation is not recommended below eGFR 20-25 (DAPA-CKD, EMPA-KIDNEY entry criteria).
        factors.append(Factor("eGFR", -0.5 if egfr.value < 25 else 0.0, f"latest eGFR {_fmt(egfr.value)}"))
        facts.append(f"Latest eGFR: {_fmt(egfr.value)} {egfr.unit or ''}.".replace(" .", "."))
    actions = (_draft_medication(profile, rule),) if rule.proposal_rxnorm else ()
    return _Finding(tuple(factors), tuple(facts), actions)


_EVALUATORS = {"overdue": _overdue, "above": _above, "therapy": _therapy}


def evaluate(profile: PatientProfile, table: CareGapTable, cmap: ConceptMap | None = None) -> list[Insight]:
    """Every care gap the rules find for this profile (pure)."""
    cmap = cmap or concept_map()
    found: list[Insight] = []
    for rule in table.rules:
        if rule.condition is not None and not profile.has_condition(rule.condition):
            continue
        finding = _EVALUATORS[rule.type](profile, rule, cmap)
        if finding is None:
            continue
        condition = cmap.concepts[rule.condition].display if rule.condition in cmap.concepts else None
        why = ([f"Active problem: {condition}."] if condition else []) + list(finding.facts)
        detail = "\n".join(f"- {line}" for line in why) + f"\n\n**Consider:** {rule.consider}"
        found.append(
            Insight(
                patient_id=profile.patient_id,
                as_of=profile.as_of,
                kind=InsightKind.CARE_GAP,
                title=rule.title,
                detail=detail,
                confidence=Confidence(
                    level="high",
                    statement=(
                        "Rule applied to the recorded data; a gap can also mean care given elsewhere "
                        f"and not recorded here. Guideline strength: {rule.evidence.level or 'not graded'}."
                    ),
                ),
                source=Source(id=f"{table.id}/{rule.id}", version=table.version, kind="rule", url=rule.evidence.url),
                explanation=finding.factors,
                evidence=(rule.evidence,),
                severity=rule.severity,
                actions=finding.actions,
                topic=rule.id,
            )
        )
    return found


class CareGapProvider:
    """InsightProvider for guideline care gaps."""

    name = "care_gaps"

    def __init__(self, table: CareGapTable | None = None) -> None:
        self.table = table

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        """Care gaps for this profile; the hook context does not change them."""
        return evaluate(profile, self.table or care_gap_table())
