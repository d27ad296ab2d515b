"""Model cards (Mitchell et al. 2019) as JSON and markdown, carrying every ONC HTI-1 predictive-DSI
source attribute (45 CFR 170.315(b)(11)(iv)(B); the list is ``data/hti1_source_attributes.toml``).

An attribute's value comes from, in order: an explicit entry in ``ModelCard.attributes``; a value derived
from the card's own fields (metrics, subgroup gaps, training data, demographic inputs); the data file's
default, which is either true of every CarePilot-trained model or says "not applicable: why".
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import MISSING, asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from carepilot.errors import InputError, ModelError

HTI1_COUNT = 31
# Variables (b)(11)(iv)(A)(5)-(13) that an input feature may carry.
HTI1_DEMOGRAPHIC_VARIABLES: tuple[str, ...] = (
    "race",
    "ethnicity",
    "language",
    "sexual orientation",
    "gender identity",
    "sex",
    "date of birth",
    "social determinants of health",
    "health status assessments",
)


@dataclass(frozen=True)
class SourceAttribute:
    """One HTI-1 source attribute as listed in the regulation."""

    id: str
    paragraph: str
    group: str
    text: str
    default: str
    source_field: str | None = None


@cache
def hti1_attributes() -> tuple[SourceAttribute, ...]:
    """The 31 predictive-DSI source attributes from the packaged data file."""
    text = resources.files("carepilot.models").joinpath("data/hti1_source_attributes.toml").read_text("utf-8")
    data = tomllib.loads(text)
    attrs = tuple(
        SourceAttribute(
            id=a["id"],
            paragraph=a["paragraph"],
            group=a["group"],
            text=a["text"],
            default=a["default"],
            source_field=a.get("from"),
        )
        for a in data["attribute"]
    )
    if len(attrs) != HTI1_COUNT or len({a.id for a in attrs}) != HTI1_COUNT:
        raise ModelError(f"HTI-1 attribute file lists {len(attrs)} attributes, expected {HTI1_COUNT} unique")
    return attrs


@dataclass
class ModelCard:
    """Everything a user or reviewer needs to judge one registered model version."""

    model_id: str
    version: str
    title: str
    outcome: str
    model_type: str
    training_window: str
    training_population: str
    intended_use: str
    intended_users: str
    intended_population: str
    out_of_scope: list[str]
    limitations: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    subgroups: list[dict[str, Any]] = field(default_factory=list)
    training_data: dict[str, Any] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    demographic_features: dict[str, str] = field(default_factory=dict)  # feature -> HTI-1 variable
    methods: dict[str, str] = field(default_factory=dict)  # calibration, interval, explanation, validation
    created: str = ""
    attributes: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived attribute values
    def _derived(self) -> dict[str, str]:
        derived: dict[str, str] = {
            "intended_use": self.intended_use,
            "intended_users": self.intended_users,
            "intended_population": self.intended_population,
            "out_of_scope": "; ".join(self.out_of_scope),
            "limitations": "; ".join(self.limitations),
            "output_description": f"Calibrated probability of {self.outcome} for one patient, with a "
            f"per-patient interval ({self.methods.get('interval', 'see methods')}) and its main drivers",
        }
        if self.training_data.get("inclusion_exclusion"):
            derived["inclusion_exclusion"] = str(self.training_data["inclusion_exclusion"])
        unknown = sorted(set(self.demographic_features.values()) - set(HTI1_DEMOGRAPHIC_VARIABLES))
        if unknown:
            raise InputError(f"demographic_features name unknown HTI-1 variables: {unknown}")
        if self.demographic_features:
            used = ", ".join(f"{v} (feature '{k}')" for k, v in sorted(self.demographic_features.items()))
            unused = [v for v in HTI1_DEMOGRAPHIC_VARIABLES if v not in self.demographic_features.values()]
            derived["demographic_variables_used"] = f"Used as inputs: {used}. Not used: {', '.join(unused)}."
        if self.training_data.get("demographics"):
            parts = []
            for attribute, shares in self.training_data["demographics"].items():
                listed = ", ".join(f"{g} {100 * s:.1f}%" for g, s in shares.items())
                parts.append(f"{attribute}: {listed}")
            derived["demographic_representativeness"] = "; ".join(parts)
        if self.training_data.get("relevance"):
            derived["training_relevance"] = str(self.training_data["relevance"])
        keys = ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept")
        shown = [f"{k} {self.metrics[k]:.3f}" for k in keys if isinstance(self.metrics.get(k), int | float)]
        if shown:
            how = self.methods.get("validation", "internal validation")
            derived["validity_summary"] = f"{how}: " + ", ".join(shown)
        if self.subgroups:
            gaps = []
            for rep in self.subgroups:
                gap = rep.get("largest_gap", {})
                bits = ", ".join(f"{k} {v:.3f}" for k, v in gap.items() if isinstance(v, int | float))
                gaps.append(f"{rep['attribute']}: largest gap {bits}")
            derived["fairness_summary"] = "; ".join(gaps)
        return derived

    def source_attributes(self) -> list[dict[str, str]]:
        """All 31 HTI-1 attributes with this model's value (explicit, derived, or the honest default)."""
        derived = self._derived()
        unknown = set(self.attributes) - {a.id for a in hti1_attributes()}
        if unknown:
            raise InputError(f"model card sets unknown HTI-1 attribute ids: {sorted(unknown)}")
        out = []
        for attr in hti1_attributes():
            value = self.attributes.get(attr.id) or (
                derived.get(attr.source_field or "") if attr.source_field else None
            )
            out.append(
                {
                    "id": attr.id,
                    "paragraph": f"45 CFR 170.315(b)(11)(iv)(B){attr.paragraph}",
                    "group": attr.group,
                    "attribute": attr.text,
                    "value": (value or attr.default).strip(),
                }
            )
        return out

    # ---------------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Machine-readable card, including the HTI-1 attribute list."""
        data = asdict(self)
        data["hti1_source_attributes"] = self.source_attributes()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Rebuild a card from its JSON form (the HTI-1 list is derived, so it is not read back)."""
        known = set(cls.__dataclass_fields__)
        required = [
            n for n, f in cls.__dataclass_fields__.items() if f.default is MISSING and f.default_factory is MISSING
        ]
        missing = [n for n in required if n not in data]
        if missing:
            raise InputError(f"model card is missing field(s): {missing}")
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        """Load a JSON model card file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read model card {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise InputError(f"model card {path} is not a JSON object")
        return cls.from_dict(data)

    def to_markdown(self) -> str:
        """Human-readable card."""
        lines = [
            f"# Model card: {self.title}",
            "",
            f"- **Model**: `{self.model_id}` version `{self.version}` ({self.model_type})",
            f"- **Predicts**: {self.outcome}",
            f"- **Training data window**: {self.training_window}",
            f"- **Training population**: {self.training_population}",
            f"- **Created**: {self.created or 'n/a'}",
            "",
            "## Intended use",
            "",
            f"{self.intended_use}",
            "",
            f"- **Intended users**: {self.intended_users}",
            f"- **Intended population**: {self.intended_population}",
            "",
            "## Out-of-scope use",
            "",
            *[f"- {item}" for item in self.out_of_scope],
            "",
            "## Known limitations",
            "",
            *[f"- {item}" for item in self.limitations],
            "",
            "## Methods",
            "",
            *[f"- **{k}**: {v}" for k, v in self.methods.items()],
            "",
            "## Performance",
            "",
            "| metric | value |",
            "|---|---:|",
        ]
        for key, value in self.metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                lines.append(f"| {key} | {value:.4g} |")
        if self.subgroups:
            lines += [
                "",
                "## Subgroups",
                "",
                "| attribute | group | n | events | AUROC | FNR | observed - predicted |",
                "|---|---|---:|---:|---:|---:|---:|",
            ]
            for rep in self.subgroups:
                for row in rep.get("groups", []):
                    counts = [f"{int(row.get(k) or 0):,}" for k in ("n", "events")]
                    rates = [row.get(k) for k in ("auroc", "fnr", "calibration_in_the_large")]
                    shown = counts + ["n/a" if c is None else f"{c:.3f}" for c in rates]
                    lines.append(f"| {rep['attribute']} | {row['group']} | " + " | ".join(shown) + " |")
                gap = rep.get("largest_gap", {})
                shown_gap = [
                    "n/a" if gap.get(k) is None else f"{gap[k]:.3f}"
                    for k in ("auroc", "fnr", "calibration_in_the_large")
                ]
                lines.append(f"| {rep['attribute']} | *largest gap* | | | " + " | ".join(shown_gap) + " |")
        lines += [
            "",
            "## ONC HTI-1 source attributes (45 CFR 170.315(b)(11)(iv)(B))",
            "",
            "| § | attribute | value |",
            "|---|---|---|",
        ]
        for attr in self.source_attributes():
            para = attr["paragraph"].rsplit("(B)", 1)[-1]
            value = attr["value"].replace("|", "/")
            lines.append(f"| (B){para} | {attr['attribute']} | {value} |")
        return "\n".join(lines) + "\n"


def representation(groups: Any) -> dict[str, dict[str, float]]:
    """Share of training rows in each group of each demographic column (for the representativeness entry)."""
    frame = pd.DataFrame(groups)
    out: dict[str, dict[str, float]] = {}
    for column in frame.columns:
        shares = frame[column].astype("object").fillna("missing").astype(str).value_counts(normalize=True)
        out[str(column)] = {str(k): round(float(v), 4) for k, v in shares.sort_index().items()}
    return out
