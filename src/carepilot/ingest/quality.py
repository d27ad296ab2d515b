"""The data-quality report, organised by the harmonised framework of Kahn et al. 2016 (eGEMs 4(1):1244):
conformance (value, relational, computational), completeness, and plausibility (atemporal, temporal, uniqueness).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    category: str  # conformance | completeness | plausibility
    subcategory: str
    name: str
    count: int | None
    rate: float | None
    detail: str
    passed: bool


@dataclass
class QualityReport:
    patients: int
    resources_by_type: dict[str, dict[str, int]]
    checks: list[Check] = field(default_factory=list)
    completeness: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in self.checks:
            grouped[c.category].append(
                {
                    "subcategory": c.subcategory,
                    "check": c.name,
                    "count": c.count,
                    "rate": c.rate,
                    "detail": c.detail,
                    "passed": c.passed,
                }
            )
        return {
            "framework": "Kahn et al. 2016 harmonized data quality terminology",
            "patients": self.patients,
            "resources_by_type_and_source": self.resources_by_type,
            "conformance": grouped["conformance"],
            "completeness": {"share_of_patients_with": self.completeness, "checks": grouped["completeness"]},
            "plausibility": grouped["plausibility"],
        }


def build_report(counts: dict[str, Any]) -> QualityReport:
    """Turn the raw counts of ``carepilot.store.quality.quality_counts`` into the Kahn-organised report."""
    by_type: dict[str, dict[str, int]] = defaultdict(dict)
    total = 0
    for row in counts["resources"]:
        by_type[row["resource_type"]][row["source"]] = int(row["n"])
        total += int(row["n"])
    report = QualityReport(patients=counts["patients"], resources_by_type=dict(by_type))
    checks = report.checks

    quarantined = sum(int(r["n"]) for r in counts["quarantine"])
    reasons: dict[str, int] = defaultdict(int)
    for r in counts["quarantine"]:
        reasons[f"{r['resource_type'] or 'unknown'}/{r['source']}: {r['reason_code']}"] += int(r["n"])
    checks.append(
        Check(
            "conformance",
            "value",
            "validation failures (open quarantine)",
            quarantined,
            _rate(quarantined, total + quarantined),
            _join(reasons),
            quarantined == 0,
        )
    )
    for row in counts["unmapped_codes"]:
        n, unmapped = int(row["n"] or 0), int(row["unmapped"] or 0)
        checks.append(
            Check(
                "conformance",
                "value",
                f"codes not in the concept map: {row['resource_type']} from {row['source']}",
                unmapped,
                _rate(unmapped, n),
                "codes outside the built-in concept map are stored but not used by the engines",
                True,
            )
        )
    units = sum(int(r["n"]) for r in counts["unconvertible_units"])
    checks.append(
        Check(
            "conformance",
            "computational",
            "units that cannot be converted to the canonical unit",
            units,
            None,
            _join({f"{r['concept']} [{r['original_unit']}]": int(r["n"]) for r in counts["unconvertible_units"]}),
            units == 0,
        )
    )
    checks.append(
        Check(
            "conformance",
            "relational",
            "resources whose patient is not in the store",
            counts["orphans"],
            _rate(counts["orphans"], total),
            "subject/patient references that resolve to no Patient",
            counts["orphans"] == 0,
        )
    )
    report.completeness = counts["completeness"]
    for element, share in counts["completeness"].items():
        checks.append(Check("completeness", "atemporal", f"patients with {element}", None, share, "", share >= 0.5))
    implausible = sum(int(r["n"]) for r in counts["implausible_values"])
    checks.append(
        Check(
            "plausibility",
            "atemporal",
            "values outside physiological ranges",
            implausible,
            None,
            _join({r["concept"]: int(r["n"]) for r in counts["implausible_values"]}),
            implausible == 0,
        )
    )
    for name, key in (
        ("dates in the future", "future_dates"),
        ("events before birth", "before_birth"),
        ("events after death", "after_death"),
    ):
        checks.append(Check("plausibility", "temporal", name, counts[key], None, "", counts[key] == 0))
    checks.append(
        Check(
            "plausibility",
            "uniqueness",
            "duplicate measurements (same patient, concept, time, value)",
            counts["duplicate_measurements"],
            None,
            "",
            counts["duplicate_measurements"] == 0,
        )
    )
    checks.append(
        Check(
            "plausibility",
            "uniqueness",
            "patients sharing name and birth date",
            counts["possible_duplicate_patients"],
            None,
            "candidates for identity linking",
            counts["possible_duplicate_patients"] == 0,
        )
    )
    return report


def _rate(n: int, total: int) -> float | None:
    return round(n / total, 4) if total else None


def _join(items: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(items.items(), key=lambda kv: -kv[1]))
