"""CPIC allele definitions (GRCh38) as read from the reference tool's ``*_translation.json`` files.

The files are read in place from ``Settings.reference_data / "pharmcat/main/definition/alleles"``; nothing
from them is copied into the repository. Each gene has one reference named allele that specifies every
position; other named alleles give only the positions that define them (blank means "same as the reference").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carepilot.errors import UnreadableInputError

# IUPAC nucleotide codes used in the definitions for positions where either base defines the allele.
IUPAC: dict[str, frozenset[str]] = {
    "A": frozenset("A"),
    "C": frozenset("C"),
    "G": frozenset("G"),
    "T": frozenset("T"),
    "R": frozenset("AG"),
    "Y": frozenset("CT"),
    "S": frozenset("GC"),
    "W": frozenset("AT"),
    "K": frozenset("GT"),
    "M": frozenset("AC"),
    "B": frozenset("CGT"),
    "D": frozenset("AGT"),
    "H": frozenset("ACT"),
    "V": frozenset("ACG"),
    "N": frozenset("ACGT"),
}

WOBBLE_CODES = frozenset(code for code, bases in IUPAC.items() if len(bases) > 1)

# Genes the reference tool does not call from VCF by default (CYP2D6 needs copy-number and hybrid calling,
# which a VCF of SNVs cannot give): their diplotypes come from an outside call or the record.
OUTSIDE_CALL_GENES = frozenset({"CYP2D6"})


@dataclass(frozen=True)
class Locus:
    """One allele-defining position."""

    chromosome: str
    position: int
    rsid: str | None
    ref: str
    alts: tuple[str, ...]
    hgvs: str | None = None

    @property
    def label(self) -> str:
        return f"{self.chromosome}:{self.position}" + (f" ({self.rsid})" if self.rsid else "")


@dataclass(frozen=True)
class NamedAllele:
    """A star allele (or named variant): one VCF-form allele per locus, None where the definition is blank."""

    name: str
    alleles: tuple[str | None, ...]
    reference: bool = False

    def is_wobble(self, index: int) -> bool:
        """True when the definition at this locus is an IUPAC ambiguity code (more than one base matches)."""
        return self.alleles[index] in WOBBLE_CODES


@dataclass(frozen=True)
class Exemption:
    """Per-gene adjustments the reference tool applies to the plain matching algorithm."""

    ignored_alleles: frozenset[str] = frozenset()
    ignored_positions: frozenset[int] = frozenset()
    required_positions: frozenset[int] = frozenset()
    unphased_priorities: tuple[tuple[frozenset[str], str], ...] = ()


@dataclass(frozen=True)
class GeneDefinition:
    gene: str
    chromosome: str
    version: str
    loci: tuple[Locus, ...]
    alleles: tuple[NamedAllele, ...]
    exemption: Exemption = field(default_factory=Exemption)

    @property
    def reference_allele(self) -> NamedAllele:
        for allele in self.alleles:
            if allele.reference:
                return allele
        return self.alleles[0]


def parse_exemption(raw: dict[str, Any]) -> Exemption:
    """Build an Exemption from one gene's entry of ``exemptions.json``."""
    priorities = tuple(
        (frozenset(item.get("list", [])), str(item["pick"]))
        for item in raw.get("unphasedDiplotypePriorities", []) or []
        if item.get("pick")
    )
    return Exemption(
        ignored_alleles=frozenset(raw.get("ignoredAlleles", []) or []),
        ignored_positions=frozenset(int(p["position"]) for p in raw.get("ignoredPositions", []) or []),
        required_positions=frozenset(int(p) for p in raw.get("requiredPositions", []) or []),
        unphased_priorities=priorities,
    )


def parse_definition(raw: dict[str, Any], exemption: Exemption | None = None) -> GeneDefinition:
    """Build a GeneDefinition from the parsed JSON of one ``*_translation.json`` file."""
    try:
        gene = str(raw["gene"])
        chromosome = str(raw["chromosome"])
        loci = tuple(
            Locus(
                chromosome=str(v.get("chromosome") or chromosome),
                position=int(v["position"]),
                rsid=v.get("rsid"),
                ref=str(v["ref"]),
                alts=tuple(str(a) for a in v.get("alts") or ()),
                hgvs=v.get("chromosomeHgvsName"),
            )
            for v in raw["variants"]
        )
        alleles = tuple(
            NamedAllele(
                name=str(a["name"]),
                alleles=tuple(None if x is None else str(x) for x in a["alleles"]),
                reference=bool(a.get("reference", False)),
            )
            for a in raw["namedAlleles"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableInputError(f"allele definition is missing or has a malformed field: {exc}") from exc
    for allele in alleles:
        if len(allele.alleles) != len(loci):
            raise UnreadableInputError(
                f"{gene} allele {allele.name} has {len(allele.alleles)} positions, the gene has {len(loci)}"
            )
    return GeneDefinition(
        gene=gene,
        chromosome=chromosome,
        version=str(raw.get("version", "unknown")),
        loci=loci,
        alleles=alleles,
        exemption=exemption or Exemption(),
    )


def definitions_folder(reference_data: Path) -> Path:
    """Where the allele definition files sit inside the shared reference data."""
    return reference_data / "pharmcat" / "main" / "definition" / "alleles"


def load_definitions(folder: Path) -> dict[str, GeneDefinition]:
    """Read every ``GENE_translation.json`` in ``folder`` (with ``exemptions.json`` when present)."""
    if not folder.is_dir():
        raise UnreadableInputError(f"allele definition folder {folder} does not exist")
    exemptions: dict[str, Exemption] = {}
    exemption_file = folder / "exemptions.json"
    if exemption_file.is_file():
        for gene, entry in _read_json(exemption_file).items():
            exemptions[str(gene)] = parse_exemption(entry)
    out: dict[str, GeneDefinition] = {}
    for path in sorted(folder.glob("*_translation.json")):
        definition = parse_definition(_read_json(path), None)
        out[definition.gene] = GeneDefinition(
            gene=definition.gene,
            chromosome=definition.chromosome,
            version=definition.version,
            loci=definition.loci,
            alleles=definition.alleles,
            exemption=exemptions.get(definition.gene, Exemption()),
        )
    if not out:
        raise UnreadableInputError(f"no *_translation.json allele definitions in {folder}")
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(f"cannot read {path.name}: {exc}") from exc
