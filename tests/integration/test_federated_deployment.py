"""Two hospitals' stores, federated for real: SuperLink + SuperNodes as processes on loopback, and serving after."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from carepilot.federated.audit import JsonlAuditSink
from carepilot.federated.client import SiteRuntime
from carepilot.federated.deploy import run_all, store_url
from carepilot.federated.local import run_local
from carepilot.federated.publish import register
from carepilot.federated.server import FederationPlan, SecAggPlan
from carepilot.federated.sites import site_data, store_frame
from carepilot.models.registry import ModelRegistry
from carepilot.store import audit
from carepilot.store.db import open_database
from tests.cli import run, run_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sites_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("federated")
    population, sites = root / "population", root / "sites"
    run_json(
        root / "home",
        "synth",
        "--patients",
        "500",
        "--seed",
        "5",
        "--sites",
        "2",
        "--format",
        "ndjson",
        "--no-streams",
        "--out",
        str(population),
    )
    result = run(root / "home", "federate", "prepare", "--population", str(population), "--out", str(sites))
    assert result.exit_code == 0, result.output
    return sites


def test_the_multi_process_run_completes_on_loopback_and_audits_each_site(sites_dir: Path, tmp_path: Path) -> None:
    homes = sorted(p for p in sites_dir.iterdir() if (p / "carepilot.db").is_file())
    assert len(homes) == 2
    started = time.perf_counter()
    result = run_all(
        [(h.name, str(h), h) for h in homes],
        # Flower starts a ClientApp process per message; one C and no per-round evaluation keep it to 6 messages.
        FederationPlan(rounds=2, min_clients=2, C_grid=(0.1,), evaluate_each_round=False, wait_seconds=300.0),
        tmp_path / "work",
        tmp_path / "work" / "result.json",
        models_dir=tmp_path / "models",
        timeout=900.0,
    )
    elapsed = time.perf_counter() - started
    assert result["rounds"] == 2 and [h["round"] for h in result["history"]] == [1.0, 2.0]
    assert set(result["sites"]) == {h.name for h in homes}
    # A 500-patient population holds too few readmissions for the AUROC itself to be a check; its pooling is.
    assert result["pooled"]["n"] == sum(site["n"] for site in result["sites"].values()) > 0
    assert 0.0 <= result["pooled"]["auroc"] <= 1.0
    assert ModelRegistry(tmp_path / "models").record("readmission").metadata["training_mode"] == "federated"
    for home in homes:  # each site's rounds are in its own hash-chained audit trail
        db = open_database(f"sqlite:///{home / 'carepilot.db'}")
        actions = [entry["action"] for entry in audit.entries(db)]
        assert actions.count("federated_train") >= 2 and audit.verify(db).intact
    print(f"multi-process federated run: {elapsed:.1f} s")  # reported in docs/federated.md


def test_the_multi_process_run_trains_under_secagg(sites_dir: Path, tmp_path: Path) -> None:
    homes = sorted(p for p in sites_dir.iterdir() if (p / "carepilot.db").is_file())
    started = time.perf_counter()
    # One SecAgg+ round is four messages per site, each a fresh ClientApp process: keep it to one round.
    plan = FederationPlan(
        rounds=1,
        min_clients=2,
        C_grid=(0.1,),
        evaluate_each_round=False,
        wait_seconds=300.0,
        secure_aggregation=SecAggPlan(),
    )
    result = run_all([(h.name, str(h), h) for h in homes], plan, tmp_path / "work", tmp_path / "work" / "r.json")
    elapsed = time.perf_counter() - started
    assert result["strategy"].endswith("SecAgg+") and result["rounds"] == 1
    assert result["pooled"]["n"] == sum(site["n"] for site in result["sites"].values()) > 0
    for home in homes:  # the site trained inside the SecAgg+ protocol and audited that its update left masked
        db = open_database(f"sqlite:///{home / 'carepilot.db'}")
        masked = [e for e in audit.entries(db) if "masked (SecAgg+)" in str(e["reason"])]
        assert len(masked) == 1 and audit.verify(db).intact
    print(f"multi-process SecAgg+ run: {elapsed:.1f} s")  # reported in docs/federated.md


def test_the_registered_federated_model_gives_a_risk_insight(sites_dir: Path) -> None:
    homes = sorted(p for p in sites_dir.iterdir() if (p / "carepilot.db").is_file())
    runtimes = []
    for home in homes:
        frame, consent = store_frame(store_url(str(home)))
        runtimes.append(SiteRuntime(home.name, site_data(home.name, frame, consent), JsonlAuditSink(home / "a.jsonl")))
    result = run_local(runtimes, FederationPlan(rounds=5, min_clients=2))
    serving = homes[0]
    record = register(result, ModelRegistry(serving / "models"))
    card = orjson.loads((serving / "models" / "readmission" / record.version / "card.json").read_bytes())
    assert card["training_data"]["training_mode"] == "federated"
    assert card["training_data"]["sites"] == sorted(h.name for h in homes)
    for patient in run_json(serving, "patients"):
        out = run_json(serving, "insights", patient["patient_id"])
        risks = [i for i in out["insights"] if i["kind"] == "risk"]
        if risks:
            assert 0.0 <= risks[0]["value"] <= 1.0
            assert risks[0]["source"]["version"] == record.version and risks[0]["explanation"]
            return
    pytest.fail("no patient with an inpatient stay got a risk Insight from the federated model")
