"""Model registry: versioned save/load, checksum verified before unpickling, tampering detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from carepilot.config import Settings
from carepilot.errors import InputError, IntegrityError, NotFoundError
from carepilot.models.registry import ModelRegistry, sha256_of


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.models_dir)


def small_model() -> LogisticRegression:
    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def test_saved_model_loads_back_and_predicts_the_same(registry: ModelRegistry) -> None:
    model = small_model()
    rec = registry.save(model, "readmission", metadata={"auroc": 0.7}, card={"model_id": "readmission"})
    loaded = registry.load("readmission")
    assert loaded.predict_proba([[1.5]])[0, 1] == pytest.approx(model.predict_proba([[1.5]])[0, 1])
    assert rec.version == "1"
    assert rec.sha256 == sha256_of(registry.root / rec.file)
    assert json.loads(registry.card_path("readmission").read_text())["model_id"] == "readmission"


def test_versions_count_up_and_latest_is_default(registry: ModelRegistry) -> None:
    registry.save(small_model(), "readmission")
    registry.save(small_model(), "readmission", metadata={"note": "second"})
    assert [r.version for r in registry.records("readmission")] == ["1", "2"]
    assert registry.record("readmission").metadata == {"note": "second"}
    assert registry.record("readmission", "1").version == "1"


def test_folder_left_by_an_interrupted_save_is_not_reused(registry: ModelRegistry) -> None:
    (registry.root / "readmission" / "1").mkdir(parents=True)
    rec = registry.save(small_model(), "readmission")
    assert rec.version == "2"
    assert registry.load("readmission") is not None


def test_tampered_artefact_is_refused_before_unpickling(registry: ModelRegistry) -> None:
    rec = registry.save(small_model(), "readmission")
    path = registry.root / rec.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        registry.load("readmission")


def test_swapped_artefact_from_another_version_is_refused(registry: ModelRegistry) -> None:
    first = registry.save(small_model(), "readmission")
    second = registry.save(LogisticRegression(C=0.01).fit([[0.0], [5.0]], [0, 1]), "readmission")
    (registry.root / second.file).write_bytes((registry.root / first.file).read_bytes())
    with pytest.raises(IntegrityError):
        registry.load("readmission", second.version)
    assert registry.load("readmission", first.version) is not None


def test_missing_artefact_is_an_integrity_error(registry: ModelRegistry) -> None:
    rec = registry.save(small_model(), "readmission")
    (registry.root / rec.file).unlink()
    with pytest.raises(IntegrityError, match="missing"):
        registry.load("readmission")


def test_unknown_model_or_version_is_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError):
        registry.load("nothing")
    registry.save(small_model(), "readmission")
    with pytest.raises(NotFoundError):
        registry.load("readmission", "9")


@pytest.mark.parametrize("name", ["", "Upper", "../escape", "a b"])
def test_unsafe_model_names_are_rejected(registry: ModelRegistry, name: str) -> None:
    with pytest.raises(InputError):
        registry.save(small_model(), name)


def test_index_is_plain_json_listing_every_version(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.save(small_model(), "a-model")
    registry.save(small_model(), "b_model")
    index = json.loads(registry.index_path.read_text())
    assert sorted(index["models"]) == ["a-model", "b_model"]
    assert [r.name for r in registry.records()] == ["a-model", "b_model"]
