"""The loaded pharmacogenomic knowledge: allele definitions, phenotype tables and the guidance rules."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from carepilot.knowledge.pgx.alleles import GeneDefinition, definitions_folder, load_definitions
from carepilot.knowledge.pgx.guidance import RuleTable, rule_table
from carepilot.knowledge.pgx.phenotype import PhenotypeTable, load_phenotype_tables, phenotype_folder


@dataclass(frozen=True)
class PgxCatalog:
    definitions: dict[str, GeneDefinition]
    tables: dict[str, PhenotypeTable]
    rules: RuleTable

    @property
    def versions(self) -> dict[str, str]:
        """Versions of everything an output depends on, for Source and reports."""
        out = {"rules": f"{self.rules.id} {self.rules.version}"}
        if self.definitions:
            out["allele_definitions"] = sorted({d.version for d in self.definitions.values()})[-1]
        phenotype_versions = sorted(
            {t.version for t in self.tables.values() if t.version != "unknown" and t.citation is None}
        )
        if phenotype_versions:
            out["phenotype_tables"] = phenotype_versions[-1]
        return out


def load_catalog(reference_data: Path, with_definitions: bool = True) -> PgxCatalog:
    """Read the CPIC files in place from the shared reference data (definitions optional for guidance)."""
    rules = rule_table()
    definitions = load_definitions(definitions_folder(reference_data)) if with_definitions else {}
    tables = load_phenotype_tables(phenotype_folder(reference_data), extra=rules.activity_tables.values())
    return PgxCatalog(definitions=definitions, tables=tables, rules=rules)


@lru_cache(maxsize=4)
def cached_catalog(reference_data: Path, with_definitions: bool = False) -> PgxCatalog:
    """``load_catalog`` once per process and folder (the files do not change while it runs)."""
    return load_catalog(reference_data, with_definitions=with_definitions)
