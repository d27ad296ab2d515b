"""Genotypes already in the record: lab-reported diplotypes and phenotypes on the PatientProfile.

FHIR genomics Observations with LOINC 84413-4 (genotype display name) arrive as ``Measurement`` objects with
concept ``pgx_genotype`` and the text in ``text_value`` (``"CYP2C19 *2/*2"``); LOINC 53040-2 / 79716-7
phenotype Observations arrive with concept ``pgx_phenotype`` (``"CYP2D6 Poor Metabolizer"``). The most recent
per gene wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from carepilot.domain.profile import Coding, Measurement, PatientProfile
from carepilot.errors import InputError

GENOTYPE_CONCEPT = "pgx_genotype"
PHENOTYPE_CONCEPT = "pgx_phenotype"

_GENE = r"(?P<gene>[A-Z][A-Z0-9]{1,9}(?:-[A-Z0-9]+)?)"
_REPORTED = re.compile(rf"^\s*{_GENE}\s*(?:[:=]\s*|\s+|(?=\*))(?P<rest>.+?)\s*$")
# VKORC1 is reported by labs as the -1639G>A (rs9923231) genotype rather than named alleles.
_VKORC1_PREFIX = re.compile(r"^(?:c\.)?-?1639\s*(?:G>A)?\s*|^rs9923231\s*(?:C>T)?\s*", re.IGNORECASE)
_VKORC1 = re.compile(r"([GACT])\s*/?\s*([GACT])", re.IGNORECASE)
_VKORC1_BASE = {"G": "G", "C": "G", "A": "A", "T": "A"}  # gene strand: rs9923231 C>T is -1639 G>A


class ReportedGenotypeError(InputError):
    """A lab-reported genotype text cannot be read."""


@dataclass(frozen=True)
class ReportedResult:
    gene: str
    value: str
    kind: str  # diplotype | phenotype
    resource_id: str
    effective: datetime | None


def parse_reported(text: str, resource_id: str = "?") -> tuple[str, str]:
    """``"CYP2C19 *2/*2"`` -> (``CYP2C19``, ``*2/*2``); also ``CYP2C19*2/*2`` and ``CYP2C19: *2/*2``."""
    match = _REPORTED.match(text or "")
    if not match:
        raise ReportedGenotypeError(f"genotype text {text!r} in {resource_id} does not name a gene and a result")
    gene, rest = match.group("gene"), match.group("rest").strip()
    if gene == "VKORC1":
        core = _VKORC1_PREFIX.sub("", rest).strip()
        vk = _VKORC1.fullmatch(core)
        if vk:
            bases = sorted((_VKORC1_BASE[b.upper()] for b in vk.groups()), key=lambda b: b != "A")
            return gene, "-1639 " + "".join(bases)
    return gene, rest


def reported_results(profile: PatientProfile) -> dict[str, ReportedResult]:
    """The latest lab-reported diplotype (or, failing that, phenotype) per gene on the profile."""
    latest: dict[tuple[str, str], ReportedResult] = {}
    for m in profile.measurements:
        if m.concept not in (GENOTYPE_CONCEPT, PHENOTYPE_CONCEPT) or not m.text_value:
            continue
        if m.effective is not None and m.effective > profile.as_of:
            continue
        gene, value = parse_reported(m.text_value, m.resource_id)
        kind = "diplotype" if m.concept == GENOTYPE_CONCEPT else "phenotype"
        item = ReportedResult(gene, value, kind, m.resource_id, m.effective)
        key = (gene, kind)
        if key not in latest or _newer(item, latest[key]):
            latest[key] = item
    out: dict[str, ReportedResult] = {}
    for (gene, kind), item in sorted(latest.items()):
        if kind == "diplotype" or gene not in out:
            out[gene] = item
    return out


def _newer(a: ReportedResult, b: ReportedResult) -> bool:
    if a.effective is None:
        return False
    return b.effective is None or a.effective > b.effective


def genotype_measurement(resource_id: str, text: str, effective: datetime | None = None) -> Measurement:
    """A ``pgx_genotype`` Measurement as the FHIR mapping produces it (for fixtures and outside calls)."""
    return Measurement(
        resource_id=resource_id,
        concept=GENOTYPE_CONCEPT,
        code=Coding("http://loinc.org", "84413-4", "Genotype display name"),
        effective=effective,
        value=None,
        unit=None,
        text_value=text,
        category="laboratory",
    )
