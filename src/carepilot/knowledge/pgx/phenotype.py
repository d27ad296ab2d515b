"""Diplotype -> phenotype and activity score, from the CPIC gene tables the reference tool ships.

Tables are read in place from ``Settings.reference_data / "pharmcat/main/phenotype"`` (``GENE.json``: allele
function, allele activity value, and one row per diplotype with its phenotype and activity score). CYP2D6 has
no table there (the tool takes CYP2D6 as an outside call), so its allele activity values and the CPIC
activity-score bins live in this project's rule table (``data/pgx_guidance.toml``,
``[activity_tables.CYP2D6]``) with the citation.

Special cases, each as the reference tool handles them:
* a diplotype not listed is translated from its alleles' activity values (activity-score genes) or from the
  function pair of a listed diplotype with the same functions; otherwise it is "Indeterminate";
* DPYD: the two lowest-activity variant alleles make the diplotype used for the phenotype (CPIC 2017);
* SLCO1B1 called from rs4149056 alone: T/T normal, T/C decreased, C/C poor function (CPIC 2022 statins);
* CFTR with no ivacaftor-responsive allele: "ivacaftor non-responsive in CF patients".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carepilot.errors import InputError, UnreadableInputError
from carepilot.knowledge.pgx.caller import Diplotype, GeneCall, allele_sort_key

INDETERMINATE = "Indeterminate"
NOT_CALLED = "Not called"
SLCO1B1_RS4149056 = {
    frozenset({"T"}): "Normal Function",
    frozenset({"T", "C"}): "Decreased Function",
    frozenset({"C"}): "Poor Function",
}


class UnknownGeneError(InputError):
    """No phenotype table for the gene."""


@dataclass(frozen=True)
class DiplotypeRow:
    phenotype: str
    activity_score: str | None
    lookup_key: str | None


@dataclass(frozen=True)
class ActivityBin:
    """Activity score range -> phenotype: low <= score <= high (inclusive), or open-ended."""

    phenotype: str
    low: float
    high: float | None


@dataclass
class PhenotypeTable:
    gene: str
    version: str
    functions: dict[str, str] = field(default_factory=dict)
    activity: dict[str, float] = field(default_factory=dict)
    rows: dict[tuple[str, ...], DiplotypeRow] = field(default_factory=dict)
    bins: tuple[ActivityBin, ...] = ()
    reference: str | None = None
    citation: str | None = None

    @property
    def uses_activity_score(self) -> bool:
        return bool(self.activity)


@dataclass(frozen=True)
class GenePhenotype:
    """What one gene's diplotype means: phenotype, activity score, allele functions."""

    gene: str
    diplotype: str
    phenotype: str | None
    activity_score: float | None = None
    functions: tuple[str | None, ...] = ()
    lookup_diplotype: str | None = None
    source: str = "vcf"
    note: str | None = None

    @property
    def actionable_known(self) -> bool:
        return self.phenotype not in (None, INDETERMINATE, NOT_CALLED)


def phenotype_folder(reference_data: Path) -> Path:
    return reference_data / "pharmcat" / "main" / "phenotype"


def parse_phenotype_table(raw: dict[str, Any]) -> PhenotypeTable:
    """Build a PhenotypeTable from one ``phenotype/GENE.json`` document."""
    try:
        gene = str(raw["gene"])
        table = PhenotypeTable(gene=gene, version=str(raw.get("version", "unknown")))
        for allele in raw.get("namedAlleles", []) or []:
            name = str(allele["name"])
            if allele.get("functionValue"):
                table.functions[name] = str(allele["functionValue"])
            value = _number(allele.get("activityValue"))
            if value is not None:
                table.activity[name] = value
        for name, function in (raw.get("haplotypes") or {}).items():
            table.functions.setdefault(str(name), str(function))
        for row in raw.get("diplotypes", []) or []:
            key: list[str] = []
            for name, count in (row.get("diplotypekey") or {}).items():
                key += [str(name)] * int(count)
            table.rows[tuple(sorted(key))] = DiplotypeRow(
                phenotype=str(row.get("phenotype") or row.get("generesult") or INDETERMINATE),
                activity_score=row.get("activityScore"),
                lookup_key=row.get("lookupkey"),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableInputError(f"phenotype table is malformed: {exc}") from exc
    return table


def activity_table(gene: str, spec: dict[str, Any]) -> PhenotypeTable:
    """Build an activity-score table (alleles -> value, score bins -> phenotype) from the rule TOML."""
    table = PhenotypeTable(
        gene=gene,
        version=str(spec.get("version", "unknown")),
        citation=spec.get("citation"),
        reference=spec.get("reference"),
    )
    for name, value in (spec.get("alleles") or {}).items():
        table.activity[str(name)] = float(value)
    for name, function in (spec.get("functions") or {}).items():
        table.functions[str(name)] = str(function)
    table.bins = tuple(
        ActivityBin(str(b["phenotype"]), float(b["low"]), None if b.get("high") is None else float(b["high"]))
        for b in spec.get("bins", [])
    )
    return table


def load_phenotype_tables(folder: Path, extra: Iterable[PhenotypeTable] = ()) -> dict[str, PhenotypeTable]:
    """Read every ``GENE.json`` in ``folder``; ``extra`` tables (e.g. CYP2D6 from the rule TOML) are added."""
    tables: dict[str, PhenotypeTable] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise UnreadableInputError(f"cannot read phenotype table {path.name}: {exc}") from exc
            table = parse_phenotype_table(raw)
            tables[table.gene] = table
    for table in extra:
        tables.setdefault(table.gene, table)
    return tables


def split_diplotype(text: str) -> tuple[str, ...]:
    """``*1/*2`` -> (``*1``, ``*2``); a single allele (haploid) stays one."""
    parts = tuple(p.strip() for p in text.split("/"))
    if not parts or any(not p for p in parts) or len(parts) > 2:
        raise InputError(f"diplotype {text!r} is not of the form A/B")
    return parts


def translate(table: PhenotypeTable | None, gene: str, diplotype: str, source: str = "record") -> GenePhenotype:
    """Phenotype and activity score for a diplotype written as ``A/B``."""
    if diplotype.startswith("rs4149056 ") and gene == "SLCO1B1":
        bases = frozenset(diplotype.split(" ", 1)[1].split("/"))
        return GenePhenotype(
            gene,
            diplotype,
            SLCO1B1_RS4149056.get(bases, INDETERMINATE),
            source=source,
            note="from rs4149056 (c.521T>C) alone",
        )
    if table is None:
        return GenePhenotype(gene, diplotype, None, source=source, note=f"no phenotype table for {gene}")
    named_phenotype = next((r for r in table.rows.values() if r.phenotype == diplotype), None)
    if named_phenotype is not None:
        # Labs report some genes (VKORC1 -1639 G>A) by the result the table calls the phenotype.
        return GenePhenotype(gene, diplotype, named_phenotype.phenotype, None, (), diplotype, source)
    alleles = split_diplotype(diplotype)
    functions = tuple(_function(table, a) for a in alleles)
    if table.bins:
        return _from_bins(table, gene, diplotype, alleles, functions, source)
    row = table.rows.get(tuple(sorted(alleles)))
    if row is not None:
        return GenePhenotype(gene, diplotype, row.phenotype, _number(row.activity_score), functions, diplotype, source)
    if not table.rows:
        return GenePhenotype(gene, diplotype, "n/a", None, functions, diplotype, source, "table gives no phenotype")
    if gene == "CFTR" and not any(f and "responsive" in f and "non-responsive" not in f for f in functions):
        return GenePhenotype(
            gene, diplotype, "ivacaftor non-responsive in CF patients", None, functions, diplotype, source
        )
    if table.uses_activity_score and all(a in table.activity for a in alleles):
        score = sum(table.activity[a] for a in alleles)
        for candidate in table.rows.values():
            if _number(candidate.activity_score) == score:
                return GenePhenotype(gene, diplotype, candidate.phenotype, score, functions, diplotype, source)
    if all(functions):
        wanted = sorted(f for f in functions if f)
        for key, candidate in table.rows.items():
            if sorted(_function(table, a) or "" for a in key) == wanted:
                return GenePhenotype(
                    gene,
                    diplotype,
                    candidate.phenotype,
                    _number(candidate.activity_score),
                    functions,
                    diplotype,
                    source,
                    "translated from the allele functions",
                )
    return GenePhenotype(gene, diplotype, INDETERMINATE, None, functions, diplotype, source, "diplotype not in table")


def phenotype_for_call(table: PhenotypeTable | None, call: GeneCall) -> list[GenePhenotype]:
    """Phenotypes for a gene call: one per top diplotype (more than one when the call is ambiguous)."""
    if not call.called or not call.diplotypes:
        return [GenePhenotype(call.gene, "Unknown/Unknown", NOT_CALLED, source=call.source, note=call.reason)]
    out: list[GenePhenotype] = []
    for diplotype in call.diplotypes:
        if call.gene == "DPYD" and table is not None:
            out.append(_dpyd(table, call, diplotype))
        else:
            out.append(translate(table, call.gene, diplotype.name, source=call.source))
    return out


def combined(phenotypes: list[GenePhenotype]) -> GenePhenotype:
    """One phenotype for a possibly ambiguous call: the shared one, or Indeterminate when they disagree."""
    first = phenotypes[0]
    if all(p.phenotype == first.phenotype and p.activity_score == first.activity_score for p in phenotypes):
        return first
    names = " or ".join(p.diplotype for p in phenotypes)
    return GenePhenotype(first.gene, names, INDETERMINATE, None, (), None, first.source, "ambiguous diplotype call")


def _dpyd(table: PhenotypeTable, call: GeneCall, diplotype: Diplotype) -> GenePhenotype:
    reference = next((a for a in table.activity if a == "Reference"), "Reference")
    copies = list(call.variant_alleles)
    # CPIC: the DPYD activity score is the sum of the two lowest-activity variants; normal-function variants
    # and absent copies count as the reference allele.
    ranked = sorted(copies, key=lambda a: (table.activity.get(a, 1.0), allele_sort_key(a)))
    chosen = [a if table.activity.get(a, 1.0) < 1.0 else reference for a in ranked[:2]]
    chosen += [reference] * (2 - len(chosen))
    chosen.sort(key=allele_sort_key)
    lookup = "/".join(chosen)
    result = translate(table, "DPYD", lookup, source=call.source)
    return GenePhenotype(
        "DPYD",
        diplotype.name,
        result.phenotype,
        result.activity_score,
        result.functions,
        lookup,
        call.source,
        None if lookup == diplotype.name else "phenotype from the two lowest-activity alleles",
    )


def _from_bins(
    table: PhenotypeTable,
    gene: str,
    diplotype: str,
    alleles: tuple[str, ...],
    functions: tuple[str | None, ...],
    source: str,
) -> GenePhenotype:
    total = 0.0
    for allele in alleles:
        value = _allele_activity(table, allele)
        if value is None:
            return GenePhenotype(
                gene,
                diplotype,
                INDETERMINATE,
                None,
                functions,
                diplotype,
                source,
                f"no activity value for {allele}",
            )
        total += value
    for b in table.bins:
        if total >= b.low and (b.high is None or total <= b.high):
            return GenePhenotype(gene, diplotype, b.phenotype, total, functions, diplotype, source)
    return GenePhenotype(gene, diplotype, INDETERMINATE, total, functions, diplotype, source)


def _allele_activity(table: PhenotypeTable, allele: str) -> float | None:
    """Activity of an allele; ``*1x2`` (duplication) counts the allele's value times the copy number."""
    if allele in table.activity:
        return table.activity[allele]
    base, sep, copies = allele.lower().partition("x")
    if sep:
        name = allele[: len(base)]
        digits = copies.lstrip("≥>=")
        if name in table.activity and digits.isdigit():
            return table.activity[name] * int(digits)
    return None


def _function(table: PhenotypeTable, allele: str) -> str | None:
    return table.functions.get(allele)


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(str(value))
    except ValueError:
        return None
