"""Drug safety checks for a new order: interactions, allergy cross-reactivity, renal dosing, duplicates.

Rules are data (``data/interactions.toml``, ``data/allergy_classes.toml``, ``data/renal_dosing.toml``), each
row with its citation; drug classes come from ``data/concepts.toml``. Kidney function uses the CKD-EPI 2021
race-free creatinine equation (Inker et al., N Engl J Med 2021;385:1737-49) and the Cockcroft-Gault creatinine
clearance (Cockcroft & Gault, Nephron 1976;16:31-41). Both are one-line formulas, written here because the
rule tables must evaluate them on a profile; no maintained Python package provides them.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from carepilot.domain.insight import (
    Confidence,
    Declined,
    Evidence,
    Factor,
    Insight,
    InsightKind,
    Severity,
    Source,
)
from carepilot.domain.profile import PatientProfile
from carepilot.errors import InputError
from carepilot.knowledge.concepts import ConceptMap, concept_map

ENGINE = "drug-safety"


class UnknownDrugError(InputError):
    """A drug key is not a medication concept in the concept table."""


# ----------------------------------------------------------------------------------------------------
# Kidney function


def ckd_epi_2021(creatinine_mg_dl: float, age_years: float, sex: str) -> float:
    """eGFR (mL/min/1.73 m2) by the CKD-EPI 2021 race-free creatinine equation (Inker et al., NEJM 2021)."""
    female = _is_female(sex)
    if creatinine_mg_dl <= 0 or not math.isfinite(creatinine_mg_dl):
        raise InputError(f"serum creatinine must be a positive number of mg/dL, got {creatinine_mg_dl}")
    if age_years < 18:
        raise InputError(f"CKD-EPI 2021 is for adults (18 years and over), got age {age_years}")
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = creatinine_mg_dl / kappa
    egfr = 142.0 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age_years
    return egfr * 1.012 if female else egfr


def cockcroft_gault(creatinine_mg_dl: float, age_years: float, weight_kg: float, sex: str) -> float:
    """Creatinine clearance (mL/min), Cockcroft-Gault: (140 - age) x weight / (72 x Scr), x 0.85 if female."""
    female = _is_female(sex)
    if creatinine_mg_dl <= 0 or not math.isfinite(creatinine_mg_dl):
        raise InputError(f"serum creatinine must be a positive number of mg/dL, got {creatinine_mg_dl}")
    if weight_kg <= 0:
        raise InputError(f"weight must be positive, got {weight_kg} kg")
    crcl = (140.0 - age_years) * weight_kg / (72.0 * creatinine_mg_dl)
    return crcl * 0.85 if female else crcl


def _is_female(sex: str | None) -> bool:
    value = (sex or "").strip().lower()
    if value in ("female", "f"):
        return True
    if value in ("male", "m"):
        return False
    raise InputError(f"sex must be 'female' or 'male' for kidney function equations, got {sex!r}")


@dataclass(frozen=True)
class KidneyFunction:
    """What is known of a patient's kidney function, and how it was obtained."""

    egfr: float | None
    egfr_source: str | None  # "reported" | "CKD-EPI 2021"
    crcl: float | None


def kidney_function(profile: PatientProfile) -> KidneyFunction:
    """eGFR (reported, else CKD-EPI 2021 from creatinine) and Cockcroft-Gault CrCl where the inputs exist."""
    reported = profile.latest("egfr")
    creatinine = profile.latest("creatinine")
    weight = profile.latest("body_weight")
    age = profile.age
    sex = profile.demographics.sex
    egfr: float | None = None
    source: str | None = None
    crcl: float | None = None
    scr = creatinine.value if creatinine is not None else None
    if reported is not None and reported.value is not None:
        egfr, source = reported.value, "reported"
    if scr is not None and age is not None and sex in ("female", "male"):
        if egfr is None and age >= 18:
            egfr, source = ckd_epi_2021(scr, age, sex), "CKD-EPI 2021"
        if weight is not None and weight.value is not None:
            crcl = cockcroft_gault(scr, age, weight.value, sex)
    return KidneyFunction(egfr=egfr, egfr_source=source, crcl=crcl)


# ----------------------------------------------------------------------------------------------------
# Rule tables


@dataclass(frozen=True)
class Interaction:
    id: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    severity: str  # contraindicated | major | moderate
    effect: str
    action: str
    citation: str
    url: str | None = None


@dataclass(frozen=True)
class AllergyRule:
    id: str
    allergy: tuple[str, ...]
    drug: tuple[str, ...]
    risk: str  # same_class | cross_reactive | low
    message: str
    citation: str
    url: str | None = None


@dataclass(frozen=True)
class RenalRule:
    id: str
    drug: tuple[str, ...]
    measure: str  # egfr | crcl
    below: float
    action: str
    message: str
    citation: str
    at_least: float = 0.0
    url: str | None = None

    def applies(self, value: float) -> bool:
        return self.at_least <= value < self.below


@dataclass(frozen=True)
class SafetyTables:
    version: str
    interactions: tuple[Interaction, ...]
    allergy_rules: tuple[AllergyRule, ...]
    renal_rules: tuple[RenalRule, ...]


def _version(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# version:"):
            return line.split(":", 1)[1].strip()
    return "unversioned"


def parse_safety_tables(interactions: str, allergies: str, renal: str) -> SafetyTables:
    """Build the rule tables from the TOML texts of the three data files."""
    rows_i = tomllib.loads(interactions).get("interaction", [])
    rows_a = tomllib.loads(allergies).get("rule", [])
    rows_r = tomllib.loads(renal).get("rule", [])
    return SafetyTables(
        version=_version(interactions),
        interactions=tuple(
            Interaction(
                id=r["id"],
                a=tuple(r["a"]),
                b=tuple(r["b"]),
                severity=r["severity"],
                effect=r["effect"],
                action=r["action"],
                citation=r["citation"],
                url=r.get("url"),
            )
            for r in rows_i
        ),
        allergy_rules=tuple(
            AllergyRule(
                id=r["id"],
                allergy=tuple(r["allergy"]),
                drug=tuple(r["drug"]),
                risk=r["risk"],
                message=r["message"],
                citation=r["citation"],
                url=r.get("url"),
            )
            for r in rows_a
        ),
        renal_rules=tuple(
            RenalRule(
                id=r["id"],
                drug=tuple(r["drug"]),
                measure=r["measure"],
                below=float(r["below"]),
                at_least=float(r.get("at_least", 0.0)),
                action=r["action"],
                message=r["message"],
                citation=r["citation"],
                url=r.get("url"),
            )
            for r in rows_r
        ),
    )


@lru_cache(maxsize=1)
def safety_tables() -> SafetyTables:
    """The built-in safety rule tables, loaded once per process."""
    folder = resources.files("carepilot.knowledge").joinpath("data")
    return parse_safety_tables(
        folder.joinpath("interactions.toml").read_text(encoding="utf-8"),
        folder.joinpath("allergy_classes.toml").read_text(encoding="utf-8"),
        folder.joinpath("renal_dosing.toml").read_text(encoding="utf-8"),
    )


# ----------------------------------------------------------------------------------------------------
# Pure rule evaluation


def matches(spec: Iterable[str], drug: str, cmap: ConceptMap) -> bool:
    """Whether a drug key is named by a rule side (its key, or ``class:<its class>``)."""
    concept = cmap.concepts.get(drug)
    names = {drug}
    if concept is not None and concept.drug_class:
        names.add(f"class:{concept.drug_class}")
    return bool(names & set(spec))


@dataclass(frozen=True)
class InteractionHit:
    rule: Interaction
    ordered: str
    other: str


def find_interactions(
    ordered: Sequence[str], others: Sequence[str], rules: Iterable[Interaction], cmap: ConceptMap
) -> list[InteractionHit]:
    """Interactions between each ordered drug and every other drug (active or also ordered)."""
    hits: list[InteractionHit] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    for drug in ordered:
        for other in others:
            if other == drug:
                continue
            for rule in rules:
                forward = matches(rule.a, drug, cmap) and matches(rule.b, other, cmap)
                backward = matches(rule.b, drug, cmap) and matches(rule.a, other, cmap)
                key = (rule.id, frozenset((drug, other)))
                if (forward or backward) and key not in seen:
                    seen.add(key)
                    hits.append(InteractionHit(rule, drug, other))
    return hits


def allergy_conflicts(
    ordered: Sequence[str], allergens: Sequence[str], rules: Iterable[AllergyRule], cmap: ConceptMap
) -> list[tuple[AllergyRule, str, str]]:
    """(rule, ordered drug, allergen) for each ordered drug that a recorded allergy argues against.

    Only the most specific rule per pair is kept: a named-drug rule wins over a class rule.
    """
    found: dict[tuple[str, str], tuple[AllergyRule, str, str]] = {}
    for drug in ordered:
        for allergen in allergens:
            for rule in rules:
                if not (matches(rule.allergy, allergen, cmap) and matches(rule.drug, drug, cmap)):
                    continue
                specific = drug in rule.drug or allergen in rule.allergy
                current = found.get((drug, allergen))
                if current is None or (specific and not (drug in current[0].drug or allergen in current[0].allergy)):
                    found[(drug, allergen)] = (rule, drug, allergen)
    return list(found.values())


def renal_flags(
    drug: str, kidney: KidneyFunction, rules: Iterable[RenalRule], cmap: ConceptMap
) -> list[tuple[RenalRule, float, str]]:
    """(rule, value, what the value is) for each renal rule that applies to this drug and kidney function.

    A CrCl rule falls back to eGFR when CrCl cannot be computed (no weight), and says so.
    """
    flags: list[tuple[RenalRule, float, str]] = []
    for rule in rules:
        if not matches(rule.drug, drug, cmap):
            continue
        if rule.measure == "crcl" and kidney.crcl is not None:
            value, label = kidney.crcl, "Cockcroft-Gault CrCl"
        elif kidney.egfr is not None:
            value = kidney.egfr
            label = f"eGFR ({kidney.egfr_source})"
            if rule.measure == "crcl":
                label += " used in place of CrCl (no weight on record)"
        else:
            continue
        if rule.applies(value):
            flags.append((rule, value, label))
    return flags


def has_renal_rule(drug: str, rules: Iterable[RenalRule], cmap: ConceptMap) -> bool:
    return any(matches(r.drug, drug, cmap) for r in rules)


# Classes where two members together are usual care, not duplication (basal + bolus insulin).
DUPLICATE_EXEMPT_CLASSES = frozenset({"insulin"})


def duplicate_therapy(ordered: Sequence[str], active: Sequence[str], cmap: ConceptMap) -> list[tuple[str, str, str]]:
    """(class, ordered drug, other drug) where an ordered drug duplicates the class of another drug."""
    out: list[tuple[str, str, str]] = []
    seen: set[frozenset[str]] = set()
    pool = list(dict.fromkeys([*active, *ordered]))
    for drug in ordered:
        concept = cmap.concepts.get(drug)
        if concept is None or not concept.drug_class or concept.drug_class in DUPLICATE_EXEMPT_CLASSES:
            continue
        for other in pool:
            other_concept = cmap.concepts.get(other)
            pair = frozenset((drug, other))
            if other == drug or other_concept is None or pair in seen:
                continue
            if other_concept.drug_class == concept.drug_class:
                seen.add(pair)
                out.append((concept.drug_class, drug, other))
    return out


# ----------------------------------------------------------------------------------------------------
# Insights

_INTERACTION_SEVERITY = {
    "contraindicated": Severity.CRITICAL,
    "major": Severity.WARNING,
    "moderate": Severity.INFO,
}
_ALLERGY_SEVERITY = {
    "same_class": Severity.CRITICAL,
    "cross_reactive": Severity.WARNING,
    "low": Severity.INFO,
}
_RENAL_SEVERITY = {
    "contraindicated": Severity.CRITICAL,
    "avoid": Severity.CRITICAL,
    "do_not_start": Severity.WARNING,
    "reduce_dose": Severity.WARNING,
    "limited_efficacy": Severity.INFO,
}
_RULE_CONFIDENCE = Confidence(level="high", statement="Curated rule from the cited drug label or guideline.")


def _display(drug: str, cmap: ConceptMap) -> str:
    concept = cmap.concepts.get(drug)
    return concept.display if concept else drug


def _check_drugs(drugs: Sequence[str], cmap: ConceptMap) -> None:
    unknown = [d for d in drugs if d not in cmap.concepts or cmap.concepts[d].domain != "medication"]
    if unknown:
        raise UnknownDrugError(f"not medication concept keys: {', '.join(unknown)} (see concepts.toml)")


def safety_insights(
    profile: PatientProfile,
    ordered_drug_concepts: Sequence[str],
    *,
    tables: SafetyTables | None = None,
) -> list[Insight | Declined]:
    """Every safety alert for ordering these drugs for this patient, most severe first.

    Raises:
        UnknownDrugError: an ordered key is not a medication concept.
    """
    tables = tables or safety_tables()
    cmap = concept_map()
    ordered = list(dict.fromkeys(ordered_drug_concepts))
    _check_drugs(ordered, cmap)
    active = [m.concept for m in profile.active_medications() if m.concept]
    others = list(dict.fromkeys([*active, *ordered]))
    out: list[Insight | Declined] = []
    source = Source(id="drug-safety", version=tables.version, kind="rule")

    def insight(kind: InsightKind, title: str, detail: str, severity: Severity, topic: str, **kw: object) -> None:
        out.append(
            Insight(
                patient_id=profile.patient_id,
                as_of=profile.as_of,
                kind=kind,
                title=title,
                detail=detail,
                confidence=_RULE_CONFIDENCE,
                source=source,
                severity=severity,
                topic=topic,
                **kw,  # type: ignore[arg-type]
            )
        )

    for hit in find_interactions(ordered, others, tables.interactions, cmap):
        a, b = _display(hit.ordered, cmap), _display(hit.other, cmap)
        rule = hit.rule
        insight(
            InsightKind.INTERACTION,
            f"{rule.severity.capitalize()} interaction: {a} + {b}",
            f"**Effect:** {rule.effect}\n\n**Consider:** {rule.action}",
            _INTERACTION_SEVERITY.get(rule.severity, Severity.WARNING),
            f"interaction:{rule.id}:{'+'.join(sorted((hit.ordered, hit.other)))}",
            explanation=(Factor(label=b, contribution=1.0, phrase=f"{b} is also prescribed"),),
            evidence=(Evidence(label=rule.id, citation=rule.citation, url=rule.url, level=rule.severity),),
        )

    allergens = [a.concept for a in profile.allergies if a.concept and a.clinical_status in (None, "active")]
    for arule, drug, allergen in allergy_conflicts(ordered, allergens, tables.allergy_rules, cmap):
        d, al = _display(drug, cmap), _display(allergen, cmap)
        insight(
            InsightKind.INTERACTION,
            f"Allergy check: {al} allergy and {d} ({arule.risk.replace('_', ' ')})",
            arule.message,
            _ALLERGY_SEVERITY.get(arule.risk, Severity.WARNING),
            f"allergy:{arule.id}:{drug}:{allergen}",
            explanation=(Factor(label=f"{al} allergy", contribution=1.0, phrase=f"recorded allergy to {al}"),),
            evidence=(Evidence(label=arule.id, citation=arule.citation, url=arule.url),),
        )

    kidney = kidney_function(profile)
    for drug in ordered:
        if not has_renal_rule(drug, tables.renal_rules, cmap):
            continue
        if kidney.egfr is None and kidney.crcl is None:
            out.append(
                Declined(
                    profile.patient_id,
                    ENGINE,
                    f"renal dosing check for {drug} skipped: no eGFR, and no creatinine with age and sex",
                )
            )
            continue
        for rrule, value, label in renal_flags(drug, kidney, tables.renal_rules, cmap):
            d = _display(drug, cmap)
            action = rrule.action.replace("_", " ")
            insight(
                InsightKind.DOSE,
                f"Renal dosing: {d} at {label.split(' used')[0]} {value:.0f} ({action})",
                f"{rrule.message}\n\nKidney function: {label} {value:.0f}.",
                _RENAL_SEVERITY.get(rrule.action, Severity.WARNING),
                f"renal:{rrule.id}",
                value=round(value, 1),
                unit="mL/min" if "CrCl" in label and "eGFR" not in label else "mL/min/{1.73_m2}",
                explanation=(Factor(label=label, contribution=round(value - rrule.below, 1), phrase=label),),
                evidence=(Evidence(label=rrule.id, citation=rrule.citation, url=rrule.url),),
            )

    for drug_class, drug, other in duplicate_therapy(ordered, active, cmap):
        d, o = _display(drug, cmap), _display(other, cmap)
        insight(
            InsightKind.INTERACTION,
            f"Duplicate therapy: {d} and {o} are both {drug_class.replace('_', ' ')}",
            f"{d} would be given with {o}, a drug of the same class. Confirm this is intended "
            "(e.g. a switch) and stop one if not.",
            Severity.WARNING,
            f"duplicate:{drug_class}:{'+'.join(sorted((drug, other)))}",
            explanation=(Factor(label=o, contribution=1.0, phrase=f"{o} is already prescribed"),),
            evidence=(Evidence(label="concept classes", citation="CarePilot concept table drug classes"),),
        )

    rank = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
    out.sort(key=lambda item: rank[item.severity] if isinstance(item, Insight) else 3)
    return out
