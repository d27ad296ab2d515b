"""Concept map: codes (LOINC, SNOMED CT, ICD-10-CM, RxNorm) -> canonical concept keys.

The table is a versioned data file (``data/concepts.toml``); this module loads it once and answers look-ups.
Written by hand because the map is small and fixed to what the engines read: a terminology server (Snowstorm,
Ontoserver) is the production answer for full vocabularies, and none can run offline here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class Concept:
    key: str
    domain: str  # measurement | condition | medication
    display: str
    unit: str | None = None
    category: str | None = None
    drug_class: str | None = None
    codes: tuple[tuple[str, str], ...] = ()

    @property
    def primary_code(self) -> tuple[str, str]:
        return self.codes[0]


@dataclass
class ConceptMap:
    version: str
    concepts: dict[str, Concept]
    by_code: dict[tuple[str, str], Concept] = field(default_factory=dict)
    icd10_prefixes: list[tuple[str, Concept]] = field(default_factory=list)
    drug_names: list[tuple[re.Pattern[str], Concept]] = field(default_factory=list)

    def lookup(self, system: str | None, code: str | None) -> Concept | None:
        """The concept a coding means, or None when the map does not know it."""
        if not system or not code:
            return None
        hit = self.by_code.get((system, code))
        if hit is not None:
            return hit
        if system in (ICD10CM, ICD10):
            for prefix, concept in self.icd10_prefixes:
                if code.upper().startswith(prefix):
                    return concept
        return None

    def lookup_drug_text(self, text: str | None) -> Concept | None:
        """Match a medication by its ingredient name in free text (e.g. an SCD display)."""
        if not text:
            return None
        for pattern, concept in self.drug_names:
            if pattern.search(text):
                return concept
        return None

    def get(self, key: str) -> Concept:
        return self.concepts[key]


_SYSTEMS = {"loinc": LOINC, "snomed": SNOMED, "rxnorm": RXNORM}


def parse_concept_table(text: str) -> ConceptMap:
    """Build a ConceptMap from the TOML text of the concept table."""
    raw = tomllib.loads(text)
    version = "unversioned"
    for line in text.splitlines():
        if line.startswith("# version:"):
            version = line.split(":", 1)[1].strip()
            break
    cmap = ConceptMap(version=version, concepts={})
    for domain, entries in raw.items():
        for key, spec in entries.items():
            codes: list[tuple[str, str]] = []
            for field_name, system in _SYSTEMS.items():
                codes += [(system, str(c)) for c in spec.get(field_name, [])]
            icd = [str(c) for c in spec.get("icd10", [])]
            concept = Concept(
                key=key,
                domain=domain,
                display=spec["display"],
                unit=spec.get("unit"),
                category=spec.get("category"),
                drug_class=spec.get("class"),
                codes=tuple(codes + [(ICD10CM, c) for c in icd]),
            )
            cmap.concepts[key] = concept
            for code in codes:
                cmap.by_code.setdefault(code, concept)
            for prefix in icd:
                cmap.icd10_prefixes.append((prefix.upper(), concept))
                cmap.by_code.setdefault((ICD10CM, prefix), concept)
            if domain == "medication":
                cmap.drug_names.append((re.compile(rf"\b{re.escape(spec['display'])}\b", re.IGNORECASE), concept))
    cmap.icd10_prefixes.sort(key=lambda item: -len(item[0]))
    return cmap


@lru_cache(maxsize=1)
def concept_map() -> ConceptMap:
    """The built-in concept map, loaded once per process."""
    text = resources.files("carepilot.knowledge").joinpath("data/concepts.toml").read_text(encoding="utf-8")
    return parse_concept_table(text)
