"""Model files: a joblib bundle plus a sha256 sidecar that is verified before anything is unpickled.

The checksum guards against corruption and accidental swaps, not against someone who can rewrite both files:
load model files only from folders you control (joblib unpickles code).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
from sklearn.compose import ColumnTransformer

from carepilot.errors import IntegrityError, ModelError
from carepilot.models.effects.engine import EffectEngine

FORMAT = "carepilot-effects/1"


@dataclass
class EffectModelFile:
    """What a fitted CSV effect model needs at prediction time."""

    engine: EffectEngine
    encoder: ColumnTransformer
    treatment: str
    outcome: str
    covariates: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT


def sidecar(path: Path) -> Path:
    """The checksum file that sits beside a model file."""
    return path.with_name(path.name + ".sha256")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(model: EffectModelFile, path: Path) -> str:
    """Write the bundle and its sha256 sidecar; returns the checksum."""
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    checksum = sha256_of(path)
    sidecar(path).write_text(f"{checksum}  {path.name}\n", encoding="utf-8")
    return checksum


def load_model(path: Path) -> EffectModelFile:
    """Verify the sidecar checksum, then unpickle; IntegrityError when they disagree."""
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    side = sidecar(path)
    if not side.is_file():
        raise IntegrityError(f"{path}: checksum file {side.name} is missing; refusing to load")
    recorded = side.read_text(encoding="utf-8").split()
    expected = recorded[0] if recorded else ""
    actual = sha256_of(path)
    if actual != expected:
        raise IntegrityError(f"{path}: sha256 {actual[:12]}... does not match {side.name}; refusing to load")
    model = joblib.load(path)
    if not isinstance(model, EffectModelFile) or model.format != FORMAT:
        raise ModelError(f"{path}: not a CarePilot effect model file")
    return model
