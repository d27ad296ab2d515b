"""CSV loading and model files: imputation, clear errors, checksum verification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from carepilot.errors import IntegrityError, UnreadableInputError
from carepilot.models.effects.artifact import EffectModelFile, load_model, save_model, sidecar
from carepilot.models.effects.csvio import CsvColumnError, load_covariates, load_effect_table
from carepilot.models.effects.engine import EffectEngine
from tests.unit.effects_data import SMALL

GOOD = """age,sex,egfr,arm,change
61,female,72,a,-0.4
55,male,,b,-0.9
70,,60,a,-0.2
48,male,90,b,-1.1
66,female,55,a,
"""


def _write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_text_columns_are_one_hot_and_missing_values_imputed(tmp_path: Path) -> None:
    table = load_effect_table(_write(tmp_path, GOOD), "arm", "change")
    assert table.dropped_rows == 1  # the row without an outcome
    assert table.covariates == ["age", "sex", "egfr"]
    assert {"sex_male", "sex_missing"} <= set(table.X.columns)  # "female" is the dropped first level
    assert not table.X.isna().any().any()
    assert table.X.loc[1, "egfr"] == np.median([72, 60, 90])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("age,arm\n1,a\n2,b\n", "missing column"),
        ("age,arm,change\n1,a,low\n2,b,0.3\n", "must be numeric"),
        ("age,arm,change\n1,a,0.1\n2,a,0.3\n", "single option"),
    ],
)
def test_bad_csv_files_raise_errors_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CsvColumnError, match=message):
        load_effect_table(_write(tmp_path, text), "arm", "change")


def test_unreadable_or_absent_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match="not found"):
        load_effect_table(tmp_path / "absent.csv", "arm", "change")
    with pytest.raises(UnreadableInputError):
        load_effect_table(_write(tmp_path, ""), "arm", "change")


def test_model_file_round_trips_and_refuses_a_tampered_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = ["x,arm,y"] + [
        f"{v:.3f},{'ab'[i % 2]},{v + (i % 2) + rng.normal():.3f}" for i, v in enumerate(rng.normal(size=60))
    ]
    table = load_effect_table(_write(tmp_path, "\n".join(rows)), "arm", "y")
    engine = EffectEngine(learner="linear_dml", config=SMALL).fit(table.X, table.t, table.y)
    path = tmp_path / "m.joblib"
    save_model(EffectModelFile(engine, table.encoder, "arm", "y", table.covariates), path)
    loaded = load_model(path)
    X = load_covariates(_write(tmp_path, "x\n0.5\n", "new.csv"), loaded.covariates, loaded.encoder)
    assert loaded.engine.effect(X).shape == (1, 1)
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError, match="does not match"):
        load_model(path)
    sidecar(path).unlink()
    with pytest.raises(IntegrityError, match="missing"):
        load_model(path)
