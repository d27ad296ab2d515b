"""Benchmark ``pgx``: diplotype and phenotype calls on the reference tool's example VCFs vs its outputs.

Data: ``pharmcat/docs/examples`` (``pharmcat.example*.vcf``, ``.match.json``, ``.phenotype.json``), read
in place. A gene counts when the CPIC tables define it; genes left out are listed with the reason.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from carepilot.bench import BenchReport, peak_rss_mb, require_reference
from carepilot.config import Settings
from carepilot.errors import BenchmarkError
from carepilot.knowledge.pgx.catalog import load_catalog
from carepilot.knowledge.pgx.report import interpret
from carepilot.knowledge.pgx.vcf import read_vcf

EXAMPLES = ("pharmcat.example", "pharmcat.example2")


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    folder = require_reference(settings, "pharmcat", "docs", "examples")
    started = time.perf_counter()
    catalog = load_catalog(settings.reference_data)
    diplotype_hits = diplotype_total = phenotype_hits = phenotype_total = score_hits = 0
    genes: set[str] = set()
    not_covered: dict[str, str] = {}
    mismatches: list[dict[str, Any]] = []
    per_example: dict[str, dict[str, Any]] = {}
    for name in EXAMPLES:
        vcf = folder / f"{name}.vcf"
        match_doc = _load(folder / f"{name}.match.json")
        phenotype_doc = _load(folder / f"{name}.phenotype.json")
        results = interpret(catalog, read_vcf(vcf))
        expected_calls = {r["gene"]: r for r in match_doc["results"]}
        reports = phenotype_doc["geneReports"]
        example_hits = 0
        for gene, report in sorted(reports.items()):
            if gene not in catalog.definitions:
                not_covered[gene] = "no CPIC allele definition in the shared tables (outside call only)"
                continue
            result = results.get(gene)
            if gene not in expected_calls or result is None or result.call.source == "outside":
                not_covered[gene] = (
                    "not called from VCF by the reference tool (needs copy-number/structural calling); "
                    "taken as an outside call"
                )
                continue
            genes.add(gene)
            expected = expected_calls[gene]
            want = sorted(d["name"] for d in expected["diplotypes"])
            got = sorted(result.call.diplotype_names)
            diplotype_total += 1
            if want == got:
                diplotype_hits += 1
                example_hits += 1
            else:
                mismatches.append({"example": name, "gene": gene, "kind": "diplotype", "expected": want, "got": got})
            want_scores = sorted(d["score"] for d in expected["diplotypes"])
            score_hits += int(want_scores == sorted(d.score for d in result.call.diplotypes))
            table = catalog.tables.get(gene)
            if table is None:
                not_covered.setdefault(gene, "phenotype only: no CPIC phenotype table in the shared files")
                continue
            source = report["sourceDiplotypes"]
            want_phenotypes = sorted({p for d in source for p in d["phenotypes"]})
            if not want_phenotypes:
                not_covered.setdefault(gene, "phenotype only: the reference tool assigns none")
                continue
            summary = result.phenotype
            want_scores_text = sorted({str(d.get("activityScore")) for d in source})
            got_score = None if summary.activity_score is None else f"{summary.activity_score:.1f}"
            phenotype_total += 1
            if [summary.phenotype] == want_phenotypes and [str(got_score)] == want_scores_text:
                phenotype_hits += 1
            else:
                mismatches.append(
                    {
                        "example": name,
                        "gene": gene,
                        "kind": "phenotype",
                        "expected": [want_phenotypes, want_scores_text],
                        "got": [summary.phenotype, got_score],
                    }
                )
        per_example[name] = {"genes": len(results), "diplotype_hits": example_hits}
    if diplotype_total == 0:
        raise BenchmarkError("no gene could be compared; are the example outputs present?")
    seconds = round(time.perf_counter() - started, 3)
    return BenchReport(
        benchmark="pgx",
        dataset="pharmcat/docs/examples (2 VCFs with expected match and phenotype outputs)",
        n=diplotype_total,
        metrics={
            "diplotype_match_rate": round(diplotype_hits / diplotype_total, 4),
            "phenotype_match_rate": round(phenotype_hits / phenotype_total, 4) if phenotype_total else None,
            "match_score_agreement": round(score_hits / diplotype_total, 4),
            "diplotype_comparisons": diplotype_total,
            "phenotype_comparisons": phenotype_total,
            "genes": sorted(genes),
            "genes_not_covered": dict(sorted(not_covered.items())),
            "mismatches": mismatches,
            "per_example": per_example,
            "versions": catalog.versions,
            "peak_rss_mb": peak_rss_mb(),
        },
        baselines={"PharmCAT expected outputs (the reference tool itself)": {"diplotype_match_rate": 1.0}},
        seconds=seconds,
        notes=[
            "Target: 1.0 on every gene the CPIC tables cover (BENCHMARKS.md).",
            "Both example VCFs are nearly all homozygous reference; unphased heterozygous, missing-position "
            "and no-call handling are covered by the unit tests on synthetic VCFs.",
        ],
    )


def _load(path: Path) -> Any:
    if not path.is_file():
        raise BenchmarkError(f"expected output {path} is missing")
    return json.loads(path.read_text(encoding="utf-8"))
