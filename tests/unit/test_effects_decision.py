"""Decision specs: shipped files parse, reference one of their options; bad specs say what is wrong."""

from __future__ import annotations

import pytest

from carepilot.errors import NotFoundError
from carepilot.models.effects.decision import (
    DecisionSpecError,
    builtin_decisions,
    load_decision,
    parse_decision,
)


def test_the_three_shipped_decisions_load_with_cited_evidence_per_option() -> None:
    specs = builtin_decisions()
    assert {"diabetes-addon", "antiplatelet-acs", "antidepressant"} <= set(specs)
    diabetes = specs["diabetes-addon"]
    assert set(diabetes.option_keys) == {"sglt2_inhibitor", "glp1_agonist", "dpp4_inhibitor", "sulfonylurea"}
    assert diabetes.outcome.lower_is_better
    assert diabetes.reference in diabetes.option_keys
    for spec in specs.values():
        for option in spec.options:
            assert option.evidence, f"{spec.name}:{option.key} has no evidence"
            assert all(e.citation for e in option.evidence)
    assert set(specs["antidepressant"].option_keys) == {
        "sertraline",
        "escitalopram",
        "bupropion",
        "mirtazapine",
    }
    assert specs["antiplatelet-acs"].outcome.binary


def test_a_reference_that_is_not_an_option_is_rejected() -> None:
    data = {
        "name": "x",
        "version": "1",
        "title": "x",
        "reference": "z",
        "outcome": {"key": "o", "label": "o", "direction": "lower"},
        "options": [{"key": "a"}, {"key": "b"}],
    }
    with pytest.raises(DecisionSpecError, match="reference"):
        parse_decision(data, "test.toml")
    del data["outcome"]
    with pytest.raises(DecisionSpecError, match="outcome"):
        parse_decision(data, "test.toml")


def test_an_unknown_decision_name_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="available"):
        load_decision("nope")


def test_a_decision_spec_and_a_frame_are_enough_to_fit_an_engine() -> None:
    import numpy as np
    import pandas as pd

    from carepilot.errors import InputError
    from carepilot.models.effects.engine import fit_for_decision
    from tests.unit.effects_data import SMALL

    spec = load_decision("antidepressant")
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({c: rng.normal(size=n) for c in spec.covariates})
    frame["option"] = rng.choice(list(spec.option_keys), size=n)
    frame[spec.outcome.key] = -5 + np.where(frame["option"] == "mirtazapine", -1.0, 0.0) + rng.normal(size=n)
    engine = fit_for_decision(spec, frame, learner="linear_dml", config=SMALL)
    assert engine.reference_ == "sertraline"
    assert set(engine.contrasts_) == {"escitalopram", "bupropion", "mirtazapine"}
    with pytest.raises(InputError, match="lacks column"):
        fit_for_decision(spec, frame.drop(columns=["phq9"]), learner="linear_dml", config=SMALL)
    frame.loc[0, "option"] = "placebo"
    with pytest.raises(InputError, match="unknown option"):
        fit_for_decision(spec, frame, learner="linear_dml", config=SMALL)
