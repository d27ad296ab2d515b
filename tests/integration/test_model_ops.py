"""Monitoring and approval over HTTP, and the monitor/approve/rollback commands, on a store with a deployed model."""

from __future__ import annotations

import pytest

from carepilot.api.app import create_app
from carepilot.config import Settings
from carepilot.learning.governance import ModelEventRepository
from carepilot.models.registry import ModelRegistry
from carepilot.store.db import open_database
from tests.api import client_for
from tests.cli import run, run_json
from tests.learning_support import build_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("ops") / "home", dev=True)
    versions = build_store(settings)
    return settings, versions


def test_monitor_models_finds_the_creatinine_unit_change_and_scores_resolved_outcomes(deployed):
    settings, _ = deployed
    reports = run_json(settings.home, "monitor", "models")
    report = next(r for r in reports if r["model"] == "readmission")
    latest = min(d["window"] for d in report["drift"])
    creat = next(d for d in report["drift"] if d["window"] == latest and d["feature"] == "latest_creatinine")
    age = next(d for d in report["drift"] if d["window"] == latest and d["feature"] == "age")
    assert creat["psi"] > 1.0 and age["psi"] < creat["psi"]
    assert any(a["topic"] == "input_drift" and a["kind"] == "model_alert" for a in report["alerts"])
    judged = [p for p in report["performance"] if p.get("auroc") is not None]
    assert judged and all(p["auroc_ci"][0] <= p["auroc"] <= p["auroc_ci"][1] for p in judged)
    assert {f["attribute"] for f in report["fairness"]} == {"sex", "race", "ethnicity", "age_band"}


def test_monitoring_page_shows_drift_performance_fairness_and_feedback(deployed):
    settings, _ = deployed
    client = client_for(create_app(settings), role="model_owner")
    page = client.get("/dashboard/models/readmission/monitoring")
    assert page.status_code == 200
    for section in ('id="drift"', 'id="performance"', 'id="fairness"', 'id="feedback"', "latest_creatinine"):
        assert section in page.text
    assert client.get("/dashboard/models/nope/monitoring").status_code == 404


def test_approval_post_refuses_a_principal_who_is_not_a_model_owner(deployed):
    settings, versions = deployed
    client = client_for(create_app(settings), role="clinician")
    answer = client.post(
        "/dashboard/models/readmission/approval",
        data={"action": "approve", "version": versions["pending"], "reason": "looks better"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert ModelRegistry(settings.models_dir).record("readmission").version == versions["serving"]


def test_approval_form_approves_then_cli_rolls_back_with_audit(deployed):
    settings, versions = deployed
    client = client_for(create_app(settings), role="model_owner")
    page = client.get("/dashboard/models/readmission/approval")
    assert f'id="approve-{versions["pending"]}"' in page.text
    missing_reason = client.post(
        "/dashboard/models/readmission/approval",
        data={"action": "approve", "version": versions["pending"], "reason": ""},
        follow_redirects=False,
    )
    assert missing_reason.status_code == 303 and "error=" in missing_reason.headers["location"]
    assert ModelRegistry(settings.models_dir).record("readmission").version == versions["serving"]
    done = client.post(
        "/dashboard/models/readmission/approval",
        data={"action": "approve", "version": versions["pending"], "reason": "restores AUROC"},
    )
    assert done.status_code == 200 and "restores AUROC" in done.text
    assert ModelRegistry(settings.models_dir).record("readmission").version == versions["pending"]
    back = run(settings.home, "models", "rollback", "readmission", "--reason", "alert volume doubled", "--by", "mo-3")
    assert back.exit_code == 0, back.output
    assert ModelRegistry(settings.models_dir).record("readmission").version == versions["serving"]
    db = open_database(settings.resolved_database_url)
    events = ModelEventRepository(db).events("readmission")
    db.dispose()
    assert [(e["action"], e["model_version"], e["actor"]) for e in events if e["outcome"] == "success"][-2:] == [
        ("approve", versions["pending"], "model_owner:test-model_owner"),
        ("rollback", versions["serving"], "model_owner:mo-3"),
    ]
    history = run_json(settings.home, "models", "history", "readmission")
    assert history["serving"] == versions["serving"] and history["status"][versions["pending"]] == "retired"


def test_feedback_review_flags_nothing_without_feedback_and_never_applies_changes(deployed):
    settings, _ = deployed
    review = run_json(settings.home, "monitor", "feedback")
    assert review["flagged"] == [] and "never" in review["note"]
    assert review["suggestions"] and review["suggestions"][0]["effects"]
