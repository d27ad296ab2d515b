"""Cohorts separate clearly different patient groups and describe them by what distinguishes them."""

import numpy as np
import pandas as pd
import pytest

from carepilot.errors import InputError
from carepilot.features.cohorts import CONDITIONS, LABS
from carepilot.models.cohorts import cluster

pytestmark = pytest.mark.slow


def _frame(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(150):
        hf = i < 40
        row = {"patient_id": f"p{i}", "age": 78.0 if hf else 45.0 + rng.normal(0, 5)}
        for c in CONDITIONS:
            row[f"has_{c}"] = 1.0 if (hf and c in ("heart_failure", "ckd")) else 0.0
        for lab in LABS:
            row[f"lab_{lab}"] = rng.normal(50, 5)
        row["lab_bnp"] = rng.normal(900, 50) if hf else rng.normal(60, 10)
        row["inpatient_365d"] = 2.0 if hf else 0.0
        row["emergency_365d"] = 1.0 if hf else 0.0
        row["n_active_medications"] = 8.0 if hf else 1.0
        row["discharges"] = 2 if hf else 0
        row["readmissions_30d"] = 1 if hf else 0
        row["deceased"] = 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def test_a_heart_failure_group_is_found_and_described_with_its_outcomes():
    result = cluster(_frame(), k=2)
    hf = next(c for c in result.cohorts if any(d["condition"] == "heart failure" for d in c.conditions))
    assert hf.size == 40
    assert any(d["lab"] == "bnp" and d["shift_sd"] > 0 for d in hf.labs)
    assert hf.outcomes["readmission_rate_30d"] == 0.5
    assert hf.outcomes["mortality"] is None and "mortality unknown" in hf.description
    assert "heart failure" in hf.description and "admitted more often" in hf.description


def test_k_is_chosen_by_silhouette_when_not_given():
    result = cluster(_frame(), k_range=range(2, 5))
    assert result.chosen_by == "silhouette" and set(result.silhouette) == {2, 3, 4}
    assert result.silhouette[result.k] == max(result.silhouette.values())
    assert sum(c.size for c in result.cohorts) == 150


def test_too_few_patients_or_a_bad_k_is_a_clear_error():
    with pytest.raises(InputError, match="at least"):
        cluster(_frame().head(5))
    with pytest.raises(InputError, match="--k"):
        cluster(_frame(), k=100)
