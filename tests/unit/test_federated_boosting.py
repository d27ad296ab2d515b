"""Boosted trees across sites with Flower's FedXgbBagging: it learns, it sends only trees and aggregates, it
honours consent, it audits every phase, and the result registers and explains like any risk model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flwr.app import Message
from sklearn.metrics import roc_auc_score

from carepilot.domain.consent import ConsentScope, StaticConsent
from carepilot.errors import InputError
from carepilot.features.readmission import FEATURES
from carepilot.federated import boosting
from carepilot.federated.audit import JsonlAuditSink
from carepilot.federated.boosted_model import boosted_classifier, register_boosted
from carepilot.federated.boosting import (
    BoostedResult,
    BoostingPlan,
    boosted_plan_from,
    boosted_run_config,
    calibrated,
    fit_booster,
    load_booster,
)
from carepilot.federated.client import SiteRuntime
from carepilot.federated.evaluation import BINS
from carepilot.federated.local import run_local_boosted
from carepilot.federated.preprocessing import STAT_ROWS
from carepilot.federated.sites import site_data
from carepilot.models.explain import explain_patient
from carepilot.models.registry import ModelRegistry
from tests.unit.federated_frames import site_frame

PLAN = BoostingPlan(rounds=6, max_depth=3)


def _sites(
    tmp_path: Path, sizes: tuple[int, ...], consent: dict[int, StaticConsent] | None = None
) -> list[SiteRuntime]:
    out = []
    for i, n in enumerate(sizes):
        name = f"site-{i + 1}"
        frame = site_frame(name, n, seed=i, shift=0.3 * i)
        data = site_data(name, frame, (consent or {}).get(i, StaticConsent()))
        out.append(SiteRuntime(name, data, JsonlAuditSink(tmp_path / name / "audit.jsonl")))
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[BoostedResult, list[Message], list[SiteRuntime]]:
    seen: list[Message] = []
    sites = _sites(tmp_path_factory.mktemp("boosted"), (200, 300))
    return run_local_boosted(sites, PLAN, on_reply=seen.append), seen, sites


def _trees(model: bytes) -> list[dict[str, object]]:
    return json.loads(model)["learner"]["gradient_booster"]["model"]["trees"]  # type: ignore[no-any-return]


def test_the_global_model_holds_one_tree_per_site_per_kept_round(run) -> None:  # type: ignore[no-untyped-def]
    result, _, sites = run
    assert 1 <= result.chosen_rounds <= PLAN.rounds
    assert result.trees == result.chosen_rounds * len(sites)
    assert load_booster(result.booster).num_boosted_rounds() == result.trees
    assert [r["trees"] for r in result.history] == [float(k * len(sites)) for k in range(1, PLAN.rounds + 1)]
    losses = [r["calibration_loss"] for r in result.history]
    assert losses[result.chosen_rounds - 1] == min(losses)  # rounds kept by calibration loss, not held-out rows


def test_the_boosted_model_ranks_unseen_patients_better_than_chance(run) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = run
    fresh = site_frame("site-9", 1000, seed=99, shift=0.15)  # same outcome model, patients no site holds
    p = calibrated(result.booster, result.platt, fresh)
    assert roc_auc_score(fresh["label"], p) > 0.6
    assert result.pooled["auroc"] > 0.55
    assert set(result.sites) == {"site-1", "site-2"}
    assert all(0.0 <= m["brier"] < 0.25 for m in result.sites.values())


def test_sites_send_only_single_trees_and_fixed_shape_summaries(run) -> None:  # type: ignore[no-untyped-def]
    _, seen, sites = run
    trains = [m for m in seen if m.metadata.message_type == "train.boosted"]
    assert len(trains) == PLAN.rounds * len(sites)
    for m in trains:
        (array,) = m.content.array_records["arrays"].values()
        assert array.numpy().dtype == np.uint8
        trees = _trees(array.numpy().tobytes())
        assert len(trees) == 1  # the site's new tree only, never the model it was sent back
        tree = trees[0]
        assert len(tree["split_indices"]) <= 2 ** (PLAN.max_depth + 1) - 1  # type: ignore[arg-type]
        # Every leaf covers enough rows: its summed hessian is at least min_child_weight.
        leaves = [i for i, left in enumerate(tree["left_children"]) if left == -1]  # type: ignore[arg-type]
        assert min(tree["sum_hessian"][i] for i in leaves) >= PLAN.min_child_weight  # type: ignore[index]
    others = [m for m in seen if m.metadata.message_type != "train.boosted"]
    shapes = {tuple(a.shape) for m in others for rec in m.content.array_records.values() for a in rec.values()}
    assert shapes <= {(STAT_ROWS, len(FEATURES)), (2,), (3, BINS)}
    for m in seen:
        for rec in m.content.metric_records.values():
            assert all(isinstance(v, float | int) for v in rec.values())
        for name, rec in m.content.config_records.items():
            assert name == "site" and set(rec.keys()) == {"name"}
        for rec in m.content.array_records.values():
            for a in rec.values():
                values = a.numpy()
                assert values.dtype.kind == "f" or (
                    values.dtype == np.uint8 and m.metadata.message_type == "train.boosted"
                )
                if values.dtype == np.uint8:  # a tree names only features; patient ids look like "site-1-p12"
                    assert not re.search(r"site-\d+-p\d+", values.tobytes().decode())


def test_every_boosted_phase_is_audited_at_each_site(run) -> None:  # type: ignore[no-untyped-def]
    _, _, sites = run
    for s in sites:
        actions = [e["action"] for e in s.audit.entries()]  # type: ignore[attr-defined]
        assert actions.count("federated_boosted_train") == PLAN.rounds
        assert actions.count("federated_boosted_evaluate") == PLAN.rounds
        assert {
            "federated_statistics",
            "federated_boosted_prior",
            "federated_boosted_calibrate",
            "federated_boosted_final",
        } <= set(actions)


def test_opted_out_patients_never_reach_boosted_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = {f"site-1-p{i}" for i in range(0, 200, 4)}
    sites = _sites(tmp_path, (200, 150), {0: StaticConsent({ConsentScope.TRAINING: out})})
    boosted_on: list[set[str]] = []
    real = boosting.boost_round

    def spy(model: bytes, rows: pd.DataFrame, params: dict[str, object]) -> tuple[bytes, float]:
        boosted_on.append(set(rows["patient_id"]))
        return real(model, rows, params)

    monkeypatch.setattr(boosting, "boost_round", spy)
    run_local_boosted(sites, BoostingPlan(rounds=2))
    assert len(boosted_on) == 2 * len(sites)
    assert not set().union(*boosted_on) & out
    assert set(sites[0].data.fit_rows["patient_id"]) in boosted_on
    assert sites[0].data.excluded_patients == len(out)


def test_the_registered_booster_predicts_what_the_sites_evaluated(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result, _, sites = run
    test = sites[1].data.test
    model = boosted_classifier(result.preprocessing, result.booster, result.platt)
    np.testing.assert_allclose(
        model.predict_proba(test[list(FEATURES)])[:, 1], calibrated(result.booster, result.platt, test), atol=1e-6
    )
    factors = explain_patient(model, test[list(FEATURES)].iloc[[0]])
    assert factors and all(f.label for f in factors)
    registry = ModelRegistry(tmp_path / "models")
    record = register_boosted(result, registry)
    assert record.metadata["estimator"] == "xgboost" and record.metadata["training_mode"] == "federated"
    card = json.loads(registry.card_path("readmission", record.version).read_text())
    assert "FedXgbBagging" in json.dumps(card)


def test_the_central_reference_uses_the_same_settings(run) -> None:  # type: ignore[no-untyped-def]
    _, _, sites = run
    fit = pd.concat([s.data.fit_rows for s in sites])
    cal = pd.concat([s.data.calibration for s in sites])
    model, platt = fit_booster(fit, cal, PLAN)
    assert 1 <= load_booster(model).num_boosted_rounds() <= PLAN.rounds
    assert platt.shape == (2,)


def test_the_run_config_round_trips_and_dp_is_refused() -> None:
    from carepilot.cli.federate import _plan

    plan = BoostingPlan(rounds=12, min_clients=3, eta=0.2, max_depth=4)
    assert boosted_plan_from(boosted_run_config(plan)) == plan
    assert _plan(12, 3, 0.1, False, 1.0, 0.1, model="boosted") == BoostingPlan(rounds=12, min_clients=3)
    with pytest.raises(InputError):
        _plan(12, 3, 0.1, True, 1.0, 0.1, model="boosted")
    with pytest.raises(InputError):
        _plan(12, 3, 0.1, False, 1.0, 0.1, secagg=True, model="boosted")
    with pytest.raises(InputError):
        _plan(12, 3, 0.1, False, 1.0, 0.1, model="forest")


def test_the_deployed_server_app_runs_the_boosted_phases_from_its_run_config(tmp_path: Path) -> None:
    from carepilot.federated.deploy import _boosted_main, run_config
    from carepilot.federated.local import in_process

    out, models = tmp_path / "result.json", tmp_path / "models"
    config = run_config(BoostingPlan(rounds=2), out, models)
    assert config["model"] == "boosted"
    in_process(_sites(tmp_path, (120, 120)), lambda grid: _boosted_main(grid, config))
    summary = json.loads(out.read_text())
    assert summary["model"] == "boosted" and summary["trees"] == summary["chosen_rounds"] * 2
    (record,) = ModelRegistry(models).records("readmission")
    loaded = ModelRegistry(models).load("readmission", record.version)
    assert loaded.estimator == "xgboost" and loaded.predict_proba(pd.DataFrame([{}], columns=list(FEATURES))).shape == (
        1,
        2,
    )
