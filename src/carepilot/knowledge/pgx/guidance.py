"""CPIC drug guidance as data: the rule table (``data/pgx_guidance.toml``) and pure functions applying it.

A rule names a drug, the gene results it applies to (phenotype list and/or activity-score range per gene), the
CPIC recommendation in our words, its CPIC classification, a severity, and alternatives to propose.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from carepilot.errors import InputError, UnreadableInputError
from carepilot.knowledge.pgx.phenotype import (
    INDETERMINATE,
    NOT_CALLED,
    GenePhenotype,
    PhenotypeTable,
    activity_table,
    translate,
)


class UnknownDrugError(InputError):
    """No pharmacogenomic rule names the drug."""


@dataclass(frozen=True)
class Guideline:
    key: str
    title: str
    citation: str
    url: str
    cpic_level: str


@dataclass(frozen=True)
class GeneCondition:
    phenotypes: frozenset[str] = frozenset()
    min_score: float | None = None
    max_score: float | None = None

    def holds(self, result: GenePhenotype) -> bool:
        if self.phenotypes and (result.phenotype or "") not in self.phenotypes:
            return False
        if self.min_score is not None or self.max_score is not None:
            if result.activity_score is None:
                return False
            if self.min_score is not None and result.activity_score < self.min_score:
                return False
            if self.max_score is not None and result.activity_score > self.max_score:
                return False
        return True


@dataclass(frozen=True)
class Rule:
    id: str
    drug: str
    guideline: Guideline
    citation: str
    conditions: dict[str, GeneCondition]
    implication: str
    recommendation: str
    classification: str
    severity: str
    match_any: bool = False
    alternatives: tuple[str, ...] = ()

    @property
    def genes(self) -> frozenset[str]:
        return frozenset(self.conditions)

    @property
    def actionable(self) -> bool:
        return self.severity in ("warning", "critical")

    def matches(self, results: dict[str, GenePhenotype]) -> bool:
        checks = [gene in results and cond.holds(results[gene]) for gene, cond in self.conditions.items()]
        return any(checks) if self.match_any else all(checks)


@dataclass(frozen=True)
class RuleTable:
    id: str
    version: str
    guidelines: dict[str, Guideline]
    rules: tuple[Rule, ...]
    activity_tables: dict[str, PhenotypeTable] = field(default_factory=dict)

    @property
    def drugs(self) -> frozenset[str]:
        return frozenset(r.drug for r in self.rules)

    def genes_for(self, drug: str) -> frozenset[str]:
        out: set[str] = set()
        for rule in self.rules:
            if rule.drug == drug:
                out |= rule.genes
        return frozenset(out)


@dataclass(frozen=True)
class Recommendation:
    """A rule that applies to this patient's gene results, with those results."""

    rule: Rule
    results: tuple[GenePhenotype, ...]
    table_id: str
    table_version: str


@dataclass(frozen=True)
class Undetermined:
    """A drug with pharmacogenomic guidance whose gene result is unknown or indeterminate for this patient."""

    drug: str
    genes: tuple[str, ...]
    reason: str


def parse_rule_table(text: str) -> RuleTable:
    """Build the RuleTable from the TOML text; every rule must resolve to a guideline and carry a citation."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UnreadableInputError(f"pgx rule table is not valid TOML: {exc}") from exc
    guidelines = {
        key: Guideline(key, g["title"], g["citation"], g["url"], str(g.get("cpic_level", "")))
        for key, g in raw.get("guidelines", {}).items()
    }
    rules: list[Rule] = []
    for row in raw.get("rules", []):
        rule_id = row.get("id", "?")
        if row.get("guideline") not in guidelines:
            raise UnreadableInputError(f"pgx rule {rule_id} names unknown guideline {row.get('guideline')!r}")
        if not row.get("citation"):
            raise UnreadableInputError(f"pgx rule {rule_id} has no citation")
        conditions = {gene: _condition(spec) for gene, spec in row["when"].items()}
        rules.append(
            Rule(
                id=rule_id,
                drug=str(row["drug"]).lower(),
                guideline=guidelines[row["guideline"]],
                citation=row["citation"],
                conditions=conditions,
                implication=row["implication"],
                recommendation=row["recommendation"],
                classification=row["classification"],
                severity=row["severity"],
                match_any=row.get("match", "all") == "any",
                alternatives=tuple(row.get("alternatives", ())),
            )
        )
    activity = {gene: activity_table(gene, spec) for gene, spec in raw.get("activity_tables", {}).items()}
    return RuleTable(
        id=str(raw["id"]),
        version=str(raw["version"]),
        guidelines=guidelines,
        rules=tuple(rules),
        activity_tables=activity,
    )


def _condition(spec: dict[str, Any]) -> GeneCondition:
    score = spec.get("activity_score") or {}
    return GeneCondition(
        phenotypes=frozenset(spec.get("phenotype", ())),
        min_score=None if score.get("min") is None else float(score["min"]),
        max_score=None if score.get("max") is None else float(score["max"]),
    )


@lru_cache(maxsize=1)
def rule_table() -> RuleTable:
    """The built-in rule table, loaded once per process."""
    text = resources.files("carepilot.knowledge").joinpath("data/pgx_guidance.toml").read_text(encoding="utf-8")
    return parse_rule_table(text)


def normalise_drug(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def recommend(
    drug: str, results: dict[str, GenePhenotype], table: RuleTable | None = None
) -> tuple[list[Recommendation], Undetermined | None]:
    """Rules that apply to ``drug`` for these gene results; or why none can be chosen safely.

    When several rules match, a rule whose genes are a strict subset of another matching rule's genes gives
    way (e.g. the combined SLCO1B1 + CYP2C9 fluvastatin row replaces the single-gene rows).
    """
    table = table or rule_table()
    key = normalise_drug(drug)
    rules = [r for r in table.rules if r.drug == key]
    if not rules:
        raise UnknownDrugError(f"no pharmacogenomic guidance for {drug!r}; known: {', '.join(sorted(table.drugs))}")
    genes = sorted(table.genes_for(key))
    known = {g: r for g, r in results.items() if g in genes and r.phenotype not in (None, INDETERMINATE, NOT_CALLED)}
    matched = [r for r in rules if r.matches(known)]
    kept = [r for r in matched if not any(r.genes < other.genes for other in matched)]
    recommendations = [
        Recommendation(
            rule=r,
            results=tuple(known[g] for g in sorted(r.genes) if g in known),
            table_id=table.id,
            table_version=table.version,
        )
        for r in kept
    ]
    unknown = [g for g in genes if g not in known]
    undetermined = None
    if not recommendations:
        reasons = []
        for gene in genes:
            result = results.get(gene)
            if result is None:
                reasons.append(f"no {gene} result")
            elif gene not in known:
                reasons.append(f"{gene} {result.diplotype}: {result.phenotype or 'no phenotype'}")
            else:
                reasons.append(f"{gene} {result.phenotype}: no rule for this result")
        undetermined = Undetermined(key, tuple(unknown or genes), "; ".join(reasons))
    return recommendations, undetermined


def guidance_for(
    diplotypes: dict[str, str],
    drug: str,
    tables: dict[str, PhenotypeTable] | None = None,
    table: RuleTable | None = None,
) -> tuple[list[Recommendation], Undetermined | None]:
    """CPIC guidance for ``drug`` given diplotypes such as ``{"CYP2C19": "*2/*2"}``.

    ``tables`` are the phenotype tables (see ``phenotype.load_phenotype_tables``; default: the CPIC files in
    the default shared data folder); CYP2D6 comes from the rule table itself when absent there.
    """
    if tables is None:
        from carepilot.knowledge.pgx.insights import default_tables  # late: insights imports this module

        tables = default_tables()
    table = table or rule_table()
    all_tables = dict(table.activity_tables)
    all_tables.update(tables)
    results = {
        gene: translate(all_tables.get(gene), gene, diplotype, source="record")
        for gene, diplotype in diplotypes.items()
    }
    return recommend(drug, results, table)
