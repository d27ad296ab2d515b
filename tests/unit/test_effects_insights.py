"""Treatment-option Insights: ranking, 'no clear difference', contraindications, support refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from carepilot.domain.insight import InsightKind, Source
from carepilot.models.effects.decision import load_decision
from carepilot.models.effects.engine import EffectEngine
from carepilot.models.effects.insights import BETTER, UNCLEAR, WORSE, rank_options, verdict
from tests.unit.effects_data import SMALL

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = Source(id="effects-test", version="1", kind="model")
DIABETES = load_decision("diabetes-addon")


def test_verdict_calls_a_difference_only_when_the_interval_excludes_zero() -> None:
    assert verdict(-0.5, 0.2, lower_is_better=True) == UNCLEAR
    assert verdict(-0.5, -0.1, lower_is_better=True) == BETTER
    assert verdict(0.1, 0.5, lower_is_better=True) == WORSE
    assert verdict(0.1, 0.5, lower_is_better=False) == BETTER


def _diabetes_engine(effects: dict[str, float], n: int = 900, seed: int = 0) -> tuple[EffectEngine, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"hba1c": rng.normal(8.0, 1.0, n), "egfr": rng.normal(70, 15, n)})
    arm = rng.choice(list(effects), size=n)
    y = -0.3 * (X["hba1c"] - 8.0) + np.array([effects[a] for a in arm]) + rng.normal(0, 0.3, n)
    # SGLT2 inhibitors lower HbA1c less when kidney function is low: a planted modifier.
    y = y + np.where(arm == "sglt2_inhibitor", 0.01 * (70 - X["egfr"]), 0.0)
    engine = EffectEngine(learner="linear_dml", reference="sulfonylurea", config=SMALL).fit(X, arm, y)
    return engine, X


def test_options_are_ranked_best_first_with_intervals_evidence_and_factors() -> None:
    engine, _X = _diabetes_engine({"sulfonylurea": 0.0, "sglt2_inhibitor": -0.6, "dpp4_inhibitor": 0.0})
    patient = pd.DataFrame({"hba1c": [8.0], "egfr": [40.0]})
    ranking = rank_options("p1", AS_OF, patient, engine, DIABETES, SOURCE)
    assert ranking.declined is None
    titles = [i.topic for i in ranking.insights]
    assert titles[0] == "diabetes-addon:sglt2_inhibitor"
    values = [i.value for i in ranking.insights]
    assert values == sorted(values)  # lower HbA1c change is better
    top = ranking.insights[0]
    assert top.kind is InsightKind.TREATMENT_OPTION
    assert top.interval is not None and top.interval.low <= top.value <= top.interval.high
    assert "**better**" in top.detail
    assert top.evidence and "N Engl J Med" in top.evidence[0].citation
    # Low eGFR makes this patient's SGLT2 effect smaller (less negative) than average.
    assert top.explanation[0].label == "egfr" and top.explanation[0].contribution > 0


def test_no_clear_difference_when_the_interval_spans_zero() -> None:
    engine, _ = _diabetes_engine({"sulfonylurea": 0.0, "dpp4_inhibitor": 0.0}, n=300, seed=1)
    patient = pd.DataFrame({"hba1c": [8.0], "egfr": [70.0]})
    ranking = rank_options("p2", AS_OF, patient, engine, DIABETES, SOURCE)
    dpp4 = next(i for i in ranking.insights if i.topic == "diabetes-addon:dpp4_inhibitor")
    assert UNCLEAR in dpp4.detail
    assert "better" not in dpp4.detail.replace(UNCLEAR, "")
    assert dpp4.confidence.level == "low"


def test_contraindicated_options_are_removed_with_the_reason() -> None:
    engine, _ = _diabetes_engine({"sulfonylurea": 0.0, "sglt2_inhibitor": -0.6, "dpp4_inhibitor": 0.0}, seed=2)
    patient = pd.DataFrame({"hba1c": [8.0], "egfr": [70.0]})

    def kidney(option: str) -> list[str]:
        return ["eGFR below 20 mL/min/1.73m2"] if option == "sglt2_inhibitor" else []

    ranking = rank_options("p3", AS_OF, patient, engine, DIABETES, SOURCE, contraindications=[kidney])
    assert all(i.topic != "diabetes-addon:sglt2_inhibitor" for i in ranking.insights)
    assert len(ranking.removed) == 1 and "eGFR below 20" in ranking.removed[0].reason


def test_a_patient_outside_common_support_is_declined_not_estimated() -> None:
    engine, _ = _diabetes_engine({"sulfonylurea": 0.0, "dpp4_inhibitor": -0.2}, n=300, seed=3)
    patient = pd.DataFrame({"hba1c": [30.0], "egfr": [70.0]})
    ranking = rank_options("p4", AS_OF, patient, engine, DIABETES, SOURCE)
    assert ranking.insights == ()
    assert ranking.declined is not None and "common support" in ranking.declined.reason


def test_options_unknown_to_the_decision_are_refused() -> None:
    from carepilot.errors import ModelError

    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 1))
    arm = rng.choice(["x", "y"], 200)
    engine = EffectEngine(learner="linear_dml", config=SMALL).fit(X, arm, rng.normal(size=200))
    with pytest.raises(ModelError, match="not options"):
        rank_options("p5", AS_OF, X[:1], engine, DIABETES, SOURCE)
