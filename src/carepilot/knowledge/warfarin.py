"""Warfarin maintenance dose: the IWPC pharmacogenetic and clinical algorithms, exactly as published.

IWPC, N Engl J Med 2009;360:753-64 and its Supplementary Appendix. Both equations give the square root of the
weekly dose; the coefficients live in ``data/iwpc_warfarin.toml`` with their citation. The equations are a few
lines of arithmetic, so they are written here rather than taken from a library; no maintained package carries
them.

Genotype text accepted in ``pgx_genotype`` measurements (``Measurement.text_value``), case-insensitive:

- CYP2C9 diplotype: ``"CYP2C9 *1/*3"``, ``"CYP2C9*3/*1"``, ``"CYP2C9 *1/*3 (intermediate metabolizer)"``; the
  two alleles are put in ascending order.
- VKORC1 -1639G>A (rs9923231), gene-strand alleles: ``"VKORC1 -1639G>A A/G"``, ``"VKORC1 c.-1639G>A G/A"``,
  ``"VKORC1 A/G"`` (a bare genotype is read as -1639G>A).
- VKORC1 by rsID, genomic plus-strand alleles as in dbSNP/VCF: ``"VKORC1 rs9923231 C/T"`` (C = G, T = A on the
  gene strand); ``"VKORC1 rs9934438 C/T"``, ``"VKORC1 rs2359612 T/T"``, ``"VKORC1 rs8050894 C/G"`` are used to
  impute -1639G>A when it was not typed, by the IWPC rules in the data file.

When neither CYP2C9 nor VKORC1 is known the clinical algorithm is used and the Insight says so; when only one
is known the pharmacogenetic algorithm uses its own "genotype unknown" term for the other, as IWPC specified.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Protocol

from carepilot.domain.insight import (
    Confidence,
    Declined,
    Evidence,
    Factor,
    Insight,
    InsightKind,
    Interval,
    Severity,
    Source,
)
from carepilot.domain.profile import PatientProfile
from carepilot.errors import InputError
from carepilot.knowledge.safety import safety_insights

ENGINE = "warfarin-dose"


class MissingCovariate(InputError):
    """A covariate the dosing equations need is absent from the record."""


class GenotypeFormatError(InputError):
    """A genotype text cannot be read in any of the accepted forms."""


class Race(StrEnum):
    """The race categories the IWPC equations distinguish."""

    WHITE = "white"
    ASIAN = "asian"
    BLACK = "black"
    MISSING_OR_MIXED = "missing_or_mixed"


class Algorithm(StrEnum):
    PHARMACOGENETIC = "pharmacogenetic"
    CLINICAL = "clinical"


@dataclass(frozen=True)
class ImputationRule:
    """Impute VKORC1 -1639 from one linked SNP (genomic alleles -> -1639 genotype)."""

    snp: str
    non_black: bool
    genotype_map: Mapping[str, str]


@dataclass(frozen=True)
class IwpcTable:
    """The IWPC coefficients and their provenance, as loaded from the data file."""

    id: str
    version: str
    citation: str
    url: str
    enzyme_inducers: tuple[str, ...]
    cyp2c9_covered: tuple[str, ...]
    pharmacogenetic: Mapping[str, float]
    clinical: Mapping[str, float]
    vkorc1_imputation: tuple[ImputationRule, ...] = ()


@dataclass(frozen=True)
class WarfarinCovariates:
    """What the IWPC equations read. ``cyp2c9`` like ``*1/*3``; ``vkorc1`` the -1639 genotype like ``A/G``."""

    age_decade: int
    height_cm: float
    weight_kg: float
    race: Race = Race.MISSING_OR_MIXED
    cyp2c9: str | None = None
    vkorc1: str | None = None
    amiodarone: bool = False
    enzyme_inducer: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.age_decade <= 12:
            raise InputError(f"age decade must be 0-12 (1 = 10-19 years), got {self.age_decade}")
        if not 50.0 <= self.height_cm <= 250.0:
            raise InputError(f"height must be 50-250 cm, got {self.height_cm}")
        if not 20.0 <= self.weight_kg <= 350.0:
            raise InputError(f"weight must be 20-350 kg, got {self.weight_kg}")


@dataclass(frozen=True)
class Term:
    """One term of the equation for this patient, on the square-root scale."""

    key: str
    label: str
    contribution: float
    value: float = 1.0  # the covariate value (1 for indicator terms)


@dataclass(frozen=True)
class DoseEstimate:
    """An IWPC estimate: the square root the equation gives, the weekly dose, and the terms that made it."""

    algorithm: Algorithm
    sqrt_weekly_dose: float
    weekly_dose_mg: float
    terms: tuple[Term, ...] = field(default=())


class DoseModel(Protocol):
    """A learned dose model that gives a weekly dose with a prediction interval."""

    model_id: str
    version: str

    def predict_with_interval(self, covariates: WarfarinCovariates) -> tuple[float, Interval]:
        """Weekly dose (mg) and its prediction interval."""
        ...


def parse_iwpc_table(text: str) -> IwpcTable:
    """Build the coefficient table from the TOML text of ``iwpc_warfarin.toml``."""
    raw = tomllib.loads(text)
    meta = raw["meta"]
    rules = tuple(
        ImputationRule(snp=r["snp"], non_black=bool(r["non_black"]), genotype_map=dict(r["map"]))
        for r in raw.get("vkorc1_imputation", [])
    )
    pg = {k: float(v) for k, v in raw["pharmacogenetic"].items() if k != "citation"}
    cl = {k: float(v) for k, v in raw["clinical"].items() if k != "citation"}
    return IwpcTable(
        id=meta["id"],
        version=meta["version"],
        citation=meta["citation"],
        url=meta["url"],
        enzyme_inducers=tuple(meta["enzyme_inducers"]),
        cyp2c9_covered=tuple(meta["cyp2c9_covered"]),
        pharmacogenetic=pg,
        clinical=cl,
        vkorc1_imputation=rules,
    )


@lru_cache(maxsize=1)
def iwpc_table() -> IwpcTable:
    """The built-in IWPC table, loaded once per process."""
    text = resources.files("carepilot.knowledge").joinpath("data/iwpc_warfarin.toml").read_text(encoding="utf-8")
    return parse_iwpc_table(text)


# ----------------------------------------------------------------------------------------------------
# Input normalisation


def age_decade(age_years: float) -> int:
    """IWPC age in decades: 1 for 10-19 years ... 9 for 90 and over."""
    if age_years < 0 or math.isnan(age_years):
        raise InputError(f"age must be a non-negative number of years, got {age_years}")
    return min(int(age_years // 10), 9)


_CYP2C9 = re.compile(r"\*\s*(\d+[A-Z]?)\s*/\s*\*\s*(\d+[A-Z]?)", re.IGNORECASE)
_GENOTYPE = re.compile(r"\b([ACGT])\s*/\s*([ACGT])\b", re.IGNORECASE)
_RSID = re.compile(r"\brs\d+\b", re.IGNORECASE)
# rs9923231 is reported on the genomic plus strand; VKORC1 lies on the minus strand.
_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}


def _allele_key(allele: str) -> tuple[int, str]:
    digits = re.match(r"\d+", allele)
    return (int(digits.group()) if digits else 0, allele)


def parse_cyp2c9(text: str) -> str:
    """Normalise a CYP2C9 diplotype text (``"CYP2C9 *3/*1"`` -> ``"*1/*3"``)."""
    match = _CYP2C9.search(text)
    if match is None:
        raise GenotypeFormatError(f"cannot read a CYP2C9 diplotype like '*1/*3' in {text!r}")
    a, b = sorted((match.group(1).upper(), match.group(2).upper()), key=_allele_key)
    return f"*{a}/*{b}"


def _normalise_pair(a: str, b: str, order: str) -> str:
    first, second = sorted((a.upper(), b.upper()), key=order.index)
    return f"{first}/{second}"


def parse_vkorc1(text: str) -> tuple[str, str]:
    """Read a VKORC1 genotype text: returns (snp, genotype).

    ``snp`` is ``"rs9923231"`` for -1639G>A, whose genotype is returned on the gene strand (``A/A``, ``A/G``,
    ``G/G``); for the other rsIDs the genomic alleles are returned as written, ordered alphabetically.
    """
    geno = _GENOTYPE.findall(text)
    if not geno:
        raise GenotypeFormatError(f"cannot read a VKORC1 genotype like 'A/G' in {text!r}")
    a, b = geno[-1]
    rsid = _RSID.search(text)
    snp = rsid.group().lower() if rsid else "rs9923231"
    if snp != "rs9923231":
        return snp, _normalise_pair(a, b, "ACGT")
    if rsid:  # genomic plus-strand C/T -> gene-strand G/A
        a, b = _COMPLEMENT[a.upper()], _COMPLEMENT[b.upper()]
    pair = _normalise_pair(a, b, "AGCT")
    if pair not in ("A/A", "A/G", "G/G"):
        raise GenotypeFormatError(f"VKORC1 -1639G>A genotype must be made of A and G alleles, got {text!r}")
    return snp, pair


def impute_vkorc1(snps: Mapping[str, str], race: Race, table: IwpcTable | None = None) -> str | None:
    """VKORC1 -1639 genotype from linked SNPs by the IWPC rules, or None when none applies."""
    table = table or iwpc_table()
    if snps.get("rs9923231"):
        return snps["rs9923231"]
    black_or_unknown = race in (Race.BLACK, Race.MISSING_OR_MIXED)
    for rule in table.vkorc1_imputation:
        if rule.non_black and black_or_unknown:
            continue
        value = snps.get(rule.snp)
        if value is not None and value in rule.genotype_map:
            return rule.genotype_map[value]
    return None


_OMB_CODES = {"2106-3": Race.WHITE, "2054-5": Race.BLACK, "2028-9": Race.ASIAN}


def race_category(text: str | None) -> Race:
    """Map a recorded race (text or OMB code) to the IWPC categories; anything else is missing or mixed."""
    if not text:
        return Race.MISSING_OR_MIXED
    value = text.strip().lower()
    if value in _OMB_CODES:
        return _OMB_CODES[value]
    found = set()
    if "white" in value or "caucasian" in value:
        found.add(Race.WHITE)
    if "black" in value or "african" in value:
        found.add(Race.BLACK)
    if "asian" in value:
        found.add(Race.ASIAN)
    return found.pop() if len(found) == 1 else Race.MISSING_OR_MIXED


# ----------------------------------------------------------------------------------------------------
# The equations

_CYP_KEYS = {
    "*1/*2": "cyp2c9_1_2",
    "*1/*3": "cyp2c9_1_3",
    "*2/*2": "cyp2c9_2_2",
    "*2/*3": "cyp2c9_2_3",
    "*3/*3": "cyp2c9_3_3",
}
_VKORC1_KEYS = {"A/G": "vkorc1_ag", "A/A": "vkorc1_aa"}
_RACE_KEYS = {
    Race.ASIAN: "race_asian",
    Race.BLACK: "race_black",
    Race.MISSING_OR_MIXED: "race_missing_or_mixed",
}
_RACE_LABELS = {
    Race.ASIAN: "Asian race",
    Race.BLACK: "Black or African American race",
    Race.MISSING_OR_MIXED: "race missing or mixed",
}


def iwpc_terms(cov: WarfarinCovariates, algorithm: Algorithm, table: IwpcTable | None = None) -> tuple[Term, ...]:
    """Every term of the chosen IWPC equation for this patient (square-root scale)."""
    table = table or iwpc_table()
    algorithm = Algorithm(algorithm)  # also accepts the plain strings "pharmacogenetic" / "clinical"
    c = table.pharmacogenetic if algorithm is Algorithm.PHARMACOGENETIC else table.clinical
    terms = [
        Term("intercept", "intercept", c["intercept"]),
        Term("age_decades", f"age decade {cov.age_decade}", c["age_decades"] * cov.age_decade, cov.age_decade),
        Term("height_cm", f"height {cov.height_cm:g} cm", c["height_cm"] * cov.height_cm, cov.height_cm),
        Term("weight_kg", f"weight {cov.weight_kg:g} kg", c["weight_kg"] * cov.weight_kg, cov.weight_kg),
    ]
    if algorithm is Algorithm.PHARMACOGENETIC:
        if cov.vkorc1 is None:
            terms.append(Term("vkorc1_unknown", "VKORC1 genotype unknown", c["vkorc1_unknown"]))
        elif cov.vkorc1 in _VKORC1_KEYS:
            key = _VKORC1_KEYS[cov.vkorc1]
            terms.append(Term(key, f"VKORC1 -1639 {cov.vkorc1}", c[key]))
        elif cov.vkorc1 != "G/G":
            raise GenotypeFormatError(f"VKORC1 -1639 genotype must be A/A, A/G or G/G, got {cov.vkorc1!r}")
        if cov.cyp2c9 is None:
            terms.append(Term("cyp2c9_unknown", "CYP2C9 genotype unknown", c["cyp2c9_unknown"]))
        elif cov.cyp2c9 in _CYP_KEYS:
            key = _CYP_KEYS[cov.cyp2c9]
            terms.append(Term(key, f"CYP2C9 {cov.cyp2c9}", c[key]))
        elif cov.cyp2c9 != "*1/*1":
            raise GenotypeFormatError(
                f"CYP2C9 {cov.cyp2c9} has no IWPC coefficient (covered: {', '.join(table.cyp2c9_covered)})"
            )
    race = Race(cov.race)
    if race in _RACE_KEYS:
        key = _RACE_KEYS[race]
        terms.append(Term(key, _RACE_LABELS[race], c[key]))
    if cov.enzyme_inducer:
        terms.append(Term("enzyme_inducer", "enzyme inducer (carbamazepine, phenytoin, rifampin)", c["enzyme_inducer"]))
    if cov.amiodarone:
        terms.append(Term("amiodarone", "amiodarone", c["amiodarone"]))
    return tuple(terms)


def iwpc_dose(cov: WarfarinCovariates, algorithm: Algorithm, table: IwpcTable | None = None) -> DoseEstimate:
    """Weekly warfarin dose by an IWPC equation: the equation's value squared (mg/week)."""
    algorithm = Algorithm(algorithm)
    terms = iwpc_terms(cov, algorithm, table)
    root = sum(t.contribution for t in terms)
    # A non-positive root only arises far outside the derivation cohort; squaring it would invent a dose.
    if root <= 0:
        raise InputError(f"the IWPC {algorithm} equation gives no valid dose for these inputs (root {root:.3f})")
    return DoseEstimate(algorithm, root, root * root, terms)


def choose_algorithm(cov: WarfarinCovariates) -> Algorithm:
    """Pharmacogenetic when CYP2C9 or VKORC1 is known, clinical when neither is."""
    if cov.cyp2c9 is None and cov.vkorc1 is None:
        return Algorithm.CLINICAL
    return Algorithm.PHARMACOGENETIC


# ----------------------------------------------------------------------------------------------------
# From a patient profile


@dataclass(frozen=True)
class ProfileCovariates:
    """Covariates read from a profile, plus what was imputed or not found (for the Insight's detail)."""

    covariates: WarfarinCovariates
    notes: tuple[str, ...] = ()
    vkorc1_imputed_from: str | None = None


def _genotype_texts(profile: PatientProfile) -> list[str]:
    rows = [m for m in profile.measurements if m.concept == "pgx_genotype" and m.text_value]
    # Oldest first so that a later result for the same gene overwrites an earlier one.
    rows.sort(key=lambda m: (m.effective is not None, m.effective or profile.as_of))
    return [m.text_value for m in rows if m.text_value and (m.effective is None or m.effective <= profile.as_of)]


def covariates_from_profile(profile: PatientProfile, table: IwpcTable | None = None) -> ProfileCovariates:
    """Read the IWPC covariates from a profile.

    Raises:
        MissingCovariate: age, height or weight is missing (the equations need all three).
        GenotypeFormatError: a CYP2C9/VKORC1 genotype text cannot be read.
    """
    table = table or iwpc_table()
    age = profile.age
    height = profile.latest("body_height")
    weight = profile.latest("body_weight")
    missing = [
        name
        for name, present in (
            ("age (birth date)", age is not None),
            ("body height", height is not None and height.value is not None),
            ("body weight", weight is not None and weight.value is not None),
        )
        if not present
    ]
    if missing:
        raise MissingCovariate(f"warfarin dose needs {', '.join(missing)}")
    race = race_category(profile.demographics.race)
    cyp2c9: str | None = None
    snps: dict[str, str] = {}
    for text in _genotype_texts(profile):
        gene = text.strip().upper()
        if gene.startswith("CYP2C9"):
            cyp2c9 = parse_cyp2c9(text)
        elif gene.startswith("VKORC1"):
            snp, genotype = parse_vkorc1(text)
            snps[snp] = genotype
    vkorc1 = impute_vkorc1(snps, race, table)
    imputed_from = None
    notes: list[str] = []
    if vkorc1 is not None and "rs9923231" not in snps:
        imputed_from = next(r.snp for r in table.vkorc1_imputation if r.snp in snps)
        notes.append(f"VKORC1 -1639 {vkorc1} imputed from {imputed_from} (IWPC rule)")
    active = {m.concept for m in profile.active_medications() if m.concept}
    cov = WarfarinCovariates(
        age_decade=age_decade(age or 0.0),
        height_cm=float(height.value),  # type: ignore[union-attr,arg-type]
        weight_kg=float(weight.value),  # type: ignore[union-attr,arg-type]
        race=race,
        cyp2c9=cyp2c9,
        vkorc1=vkorc1,
        amiodarone="amiodarone" in active,
        enzyme_inducer=bool(active & set(table.enzyme_inducers)),
    )
    return ProfileCovariates(cov, tuple(notes), imputed_from)


# ----------------------------------------------------------------------------------------------------
# Insight builders

_REFERENCE = WarfarinCovariates(age_decade=6, height_cm=170.0, weight_kg=80.0, race=Race.WHITE)


def _factors(estimate: DoseEstimate) -> tuple[Factor, ...]:
    """Each term's effect on the weekly dose: this dose minus the dose without it (or at the reference)."""
    reference = {
        "age_decades": (_REFERENCE.age_decade, "age 60-69"),
        "height_cm": (_REFERENCE.height_cm, "170 cm"),
        "weight_kg": (_REFERENCE.weight_kg, "80 kg"),
    }
    root = estimate.sqrt_weekly_dose
    factors: list[Factor] = []
    for term in estimate.terms:
        if term.key == "intercept":
            continue
        if term.key in reference:
            ref_value, ref_phrase = reference[term.key]
            coefficient = term.contribution / term.value if term.value else 0.0
            other = root - term.contribution + coefficient * ref_value
            delta = root**2 - max(other, 0.0) ** 2
            phrase = f"{term.label}: {delta:+.1f} mg/week compared with {ref_phrase}"
        else:
            delta = root**2 - max(root - term.contribution, 0.0) ** 2
            phrase = f"{term.label}: {delta:+.1f} mg/week"
        if abs(delta) < 0.05:
            continue
        factors.append(Factor(label=term.label, contribution=round(delta, 2), phrase=phrase))
    factors.sort(key=lambda f: -abs(f.contribution))
    return tuple(factors)


def warfarin_dose_insight(
    profile: PatientProfile,
    *,
    model: DoseModel | None = None,
    table: IwpcTable | None = None,
) -> Insight | Declined:
    """Starting (maintenance) warfarin dose for a patient, by IWPC (or a learned model with an interval).

    Returns Declined when a required covariate is missing, a genotype cannot be read, or CYP2C9 carries an
    allele the IWPC equation does not cover.
    """
    table = table or iwpc_table()
    try:
        read = covariates_from_profile(profile, table)
    except InputError as exc:
        return Declined(profile.patient_id, ENGINE, str(exc))
    cov = read.covariates
    if cov.cyp2c9 is not None and cov.cyp2c9 not in table.cyp2c9_covered:
        return Declined(
            profile.patient_id,
            ENGINE,
            f"CYP2C9 {cov.cyp2c9} is not covered by the IWPC equation; use CPIC warfarin guidance",
        )
    algorithm = choose_algorithm(cov)
    try:
        estimate = iwpc_dose(cov, algorithm, table)
    except InputError as exc:
        return Declined(profile.patient_id, ENGINE, str(exc))

    lines: list[str] = []
    if algorithm is Algorithm.CLINICAL:
        lines.append(
            "No CYP2C9 or VKORC1 genotype on record: the IWPC **clinical** algorithm was used. "
            "Genotyping improves the estimate, most for patients needing very low or very high doses."
        )
    else:
        lines.append("IWPC **pharmacogenetic** algorithm (CYP2C9 and VKORC1 genotype-guided).")
        if cov.cyp2c9 is None:
            lines.append("CYP2C9 genotype not on record: the equation's 'genotype unknown' term was used.")
        if cov.vkorc1 is None:
            lines.append("VKORC1 genotype not on record: the equation's 'genotype unknown' term was used.")
    lines.extend(read.notes)
    if cov.amiodarone:
        lines.append(
            "Amiodarone is an active medication: the equation lowers the dose for it, and the interaction "
            "needs closer INR monitoring (see the interaction alert)."
        )
    if cov.enzyme_inducer:
        lines.append("An enzyme inducer (carbamazepine, phenytoin or rifampin) raises the dose requirement.")
    iwpc_weekly = estimate.weekly_dose_mg
    value = iwpc_weekly
    interval: Interval | None = None
    source = Source(id=f"{table.id}-{algorithm}", version=table.version, kind="rule", url=table.url)
    if model is not None:
        value, interval = model.predict_with_interval(cov)
        source = Source(id=model.model_id, version=model.version, kind="model", data_window="IWPC cohort")
        lines.append(
            f"Learned model estimate {value:.1f} mg/week ({interval.level:.0%} prediction interval "
            f"{interval.low:.1f}-{interval.high:.1f}); the IWPC {algorithm} equation gives {iwpc_weekly:.1f}."
        )
    lines.append(
        "This is the expected stable maintenance dose; titrate to INR. Decision support only: the prescriber decides."
    )
    confidence = (
        Confidence(
            level="moderate",
            statement=f"Prediction interval {interval.low:.0f}-{interval.high:.0f} mg/week "
            f"({interval.level:.0%}, split-conformal).",
            value=interval.width,
        )
        if interval is not None
        else Confidence(
            level="moderate" if algorithm is Algorithm.PHARMACOGENETIC else "low",
            statement=(
                "Published regression equation; typical error is several mg/week, larger at the extremes."
                if algorithm is Algorithm.PHARMACOGENETIC
                else "Clinical-only equation: less accurate than the genotype-guided one."
            ),
        )
    )
    title = f"Warfarin: estimated maintenance dose {value:.1f} mg/week ({value / 7:.1f} mg/day)"
    return Insight(
        patient_id=profile.patient_id,
        as_of=profile.as_of,
        kind=InsightKind.DOSE,
        title=title,
        detail="\n\n".join(lines),
        confidence=confidence,
        source=source,
        explanation=_factors(estimate),
        evidence=(Evidence(label=f"IWPC {algorithm} dosing algorithm", citation=table.citation, url=table.url),),
        value=round(value, 1),
        unit="mg/wk",
        interval=interval,
        severity=Severity.WARNING if cov.amiodarone else Severity.INFO,
        topic="warfarin-dose",
    )


def warfarin_start_insights(profile: PatientProfile, *, model: DoseModel | None = None) -> list[Insight | Declined]:
    """For a patient starting warfarin: the dose Insight, then every safety alert for the warfarin order."""
    return [warfarin_dose_insight(profile, model=model), *safety_insights(profile, ["warfarin"])]
