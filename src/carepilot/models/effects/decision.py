"""Decision specs as data: the options, reference option, outcome and evidence of one treatment decision.

Each spec is a versioned TOML file in ``carepilot/knowledge/data/decisions/``; this module parses and
validates them (no I/O beyond reading the packaged file) so engines and the CLI share one description, and
turns a one-row-per-patient frame into the arrays an effect engine fits (``decision_arrays``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carepilot.domain.insight import Evidence
from carepilot.errors import InputError, NotFoundError

_PACKAGE = "carepilot.knowledge"
_FOLDER = ("data", "decisions")


class DecisionSpecError(InputError):
    """A decision spec file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Option:
    """One treatment option of a decision, with the concepts that count as receiving it."""

    key: str
    label: str
    concepts: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """The outcome a decision is judged on; ``direction`` says whether lower or higher is better."""

    key: str
    label: str
    unit: str
    direction: str
    horizon_days: int | None = None
    binary: bool = False
    concept: str | None = None

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"


@dataclass(frozen=True)
class Eligibility:
    """Who the decision applies to, in concept keys from the concept map."""

    conditions: tuple[str, ...] = ()
    current_medications: tuple[str, ...] = ()
    min_age: float | None = None
    exclude_conditions: tuple[str, ...] = ()


@dataclass(frozen=True)
class DecisionSpec:
    """A treatment decision: options (one of them the reference), outcome, eligible population, covariates."""

    name: str
    version: str
    title: str
    question: str
    reference: str
    outcome: Outcome
    options: tuple[Option, ...]
    eligibility: Eligibility = field(default_factory=Eligibility)
    covariates: tuple[str, ...] = ()

    @property
    def option_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)

    def option(self, key: str) -> Option:
        """The option called ``key``."""
        for opt in self.options:
            if opt.key == key:
                return opt
        raise NotFoundError(f"decision {self.name!r} has no option {key!r}")


def parse_decision(data: dict[str, Any], where: str) -> DecisionSpec:
    """Build a DecisionSpec from parsed TOML, naming ``where`` in every error."""
    try:
        outcome_raw = data["outcome"]
        outcome = Outcome(
            key=str(outcome_raw["key"]),
            label=str(outcome_raw["label"]),
            unit=str(outcome_raw.get("unit", "")),
            direction=str(outcome_raw["direction"]),
            horizon_days=outcome_raw.get("horizon_days"),
            binary=bool(outcome_raw.get("binary", False)),
            concept=outcome_raw.get("concept"),
        )
        options = tuple(
            Option(
                key=str(o["key"]),
                label=str(o.get("label", o["key"])),
                concepts=tuple(o.get("concepts", ())),
                evidence=tuple(
                    Evidence(label=e["label"], citation=e["citation"], url=e.get("url"), level=e.get("level"))
                    for e in o.get("evidence", ())
                ),
            )
            for o in data["options"]
        )
        elig = data.get("eligibility", {})
        spec = DecisionSpec(
            name=str(data["name"]),
            version=str(data["version"]),
            title=str(data["title"]),
            question=str(data.get("question", "")),
            reference=str(data["reference"]),
            outcome=outcome,
            options=options,
            eligibility=Eligibility(
                conditions=tuple(elig.get("conditions", ())),
                current_medications=tuple(elig.get("current_medications", ())),
                min_age=elig.get("min_age"),
                exclude_conditions=tuple(elig.get("exclude_conditions", ())),
            ),
            covariates=tuple(data.get("covariates", {}).get("names", ())),
        )
    except KeyError as exc:
        raise DecisionSpecError(f"{where}: missing field {exc.args[0]!r}") from exc
    except TypeError as exc:
        raise DecisionSpecError(f"{where}: malformed spec ({exc})") from exc
    if spec.outcome.direction not in ("lower", "higher"):
        raise DecisionSpecError(f"{where}: outcome.direction must be 'lower' or 'higher'")
    keys = spec.option_keys
    if len(keys) < 2 or len(set(keys)) != len(keys):
        raise DecisionSpecError(f"{where}: needs at least two options with distinct keys")
    if spec.reference not in keys:
        raise DecisionSpecError(f"{where}: reference {spec.reference!r} is not one of the options {keys}")
    return spec


def decision_arrays(
    spec: DecisionSpec, frame: pd.DataFrame, treatment: str = "option"
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Covariates, option keys and outcomes for ``spec`` from a frame with one row per patient.

    The frame holds the spec's covariates, a ``treatment`` column of option keys and the outcome column named
    by ``spec.outcome.key``; any store or synthetic population can produce it.
    """
    needed = [*spec.covariates, treatment, spec.outcome.key]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"decision {spec.name!r}: the data lacks column(s) {', '.join(missing)}")
    unknown = sorted(set(frame[treatment].astype(str)) - set(spec.option_keys))
    if unknown:
        raise InputError(f"decision {spec.name!r}: unknown option(s) {unknown}; options are {spec.option_keys}")
    y = pd.to_numeric(frame[spec.outcome.key], errors="coerce")
    if y.isna().any():
        raise InputError(f"decision {spec.name!r}: outcome {spec.outcome.key!r} has missing or non-numeric values")
    X = frame[list(spec.covariates)].astype(float)
    if X.isna().any().any():
        raise InputError(f"decision {spec.name!r}: covariates have missing values; impute them first")
    return X, frame[treatment].astype(str).to_numpy(), y.to_numpy(dtype=float)


def load_decision_file(path: Path) -> DecisionSpec:
    """Read one decision spec TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DecisionSpecError(f"{path}: cannot read decision spec ({exc})") from exc
    return parse_decision(data, str(path))


def builtin_decisions() -> dict[str, DecisionSpec]:
    """Every decision spec shipped with the package, by name."""
    folder = resources.files(_PACKAGE).joinpath(*_FOLDER)
    specs: dict[str, DecisionSpec] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            spec = parse_decision(tomllib.loads(entry.read_text(encoding="utf-8")), entry.name)
            specs[spec.name] = spec
    return specs


def load_decision(name: str) -> DecisionSpec:
    """The built-in decision spec called ``name``."""
    specs = builtin_decisions()
    if name not in specs:
        raise NotFoundError(f"no decision spec named {name!r}; available: {', '.join(sorted(specs))}")
    return specs[name]
