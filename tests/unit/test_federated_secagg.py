"""Secure aggregation (SecAgg+): same model as plain FedProx, and the server never holds one site's weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from flwr.app import Message
from flwr.common import bytes_to_ndarray
from flwr.common.secure_aggregation.quantization import quantize

from carepilot.domain.consent import ConsentScope, StaticConsent
from carepilot.errors import InputError
from carepilot.federated import client as client_module
from carepilot.federated.audit import JsonlAuditSink
from carepilot.federated.client import SiteRuntime
from carepilot.federated.deploy import count_or_fraction, plan_from, run_config
from carepilot.federated.local import run_local
from carepilot.federated.server import FederationPlan, FederationResult, PrivacyPlan, SecAggPlan
from carepilot.federated.sites import site_data
from tests.cli import run
from tests.unit.federated_frames import site_frame

SIZES = (150, 260, 200)
OPTED_OUT = {f"site-1-p{i}" for i in range(0, 150, 6)}


def test_secagg_with_dp_is_refused_with_the_reason() -> None:
    with pytest.raises(InputError, match="--secagg and --dp cannot be combined"):
        FederationPlan(privacy=PrivacyPlan(), secure_aggregation=SecAggPlan())


def test_impossible_share_settings_are_input_errors() -> None:
    with pytest.raises(InputError, match="secure aggregation settings"):
        FederationPlan(secure_aggregation=SecAggPlan(num_shares=2))  # Flower needs more than 2 shares as a count
    with pytest.raises(InputError, match="--secagg-threshold"):
        count_or_fraction("most", "--secagg-threshold")


def test_the_cli_refuses_secagg_with_dp_before_starting_anything(tmp_path: Path) -> None:
    for name in ("site-1", "site-2"):
        (tmp_path / "sites" / name).mkdir(parents=True)
        (tmp_path / "sites" / name / "carepilot.db").touch()
    result = run(tmp_path / "home", "federate", "run", "--sites-dir", str(tmp_path / "sites"), "--secagg", "--dp")
    assert result.exit_code == 2 and "cannot be combined" in result.output
    assert not (tmp_path / "home" / "federated-run").exists()


def test_the_deployment_run_config_carries_the_secagg_plan() -> None:
    plan = FederationPlan(rounds=2, secure_aggregation=SecAggPlan(num_shares=5, reconstruction_threshold=0.5))
    back = plan_from(run_config(plan, Path("out.json"), None))
    assert back.secure_aggregation == plan.secure_aggregation
    assert plan_from(run_config(FederationPlan(), Path("out.json"), None)).secure_aggregation is None


@dataclass
class Run:
    result: FederationResult
    replies: list[Message]
    fits: list[tuple[int, np.ndarray]]  # (rows, parameters) of every local fit, in order
    sites: list[SiteRuntime]


def _run(tmp: Path, secure: bool) -> Run:
    sites = []
    for i, n in enumerate(SIZES):
        name = f"site-{i + 1}"
        consent = StaticConsent({ConsentScope.TRAINING: OPTED_OUT if i == 0 else set()})
        data = site_data(name, site_frame(name, n, seed=i, shift=0.3 * i), consent)
        sites.append(SiteRuntime(name, data, JsonlAuditSink(tmp / name / "audit.jsonl")))
    fits: list[tuple[int, np.ndarray]] = []
    real_fit = client_module.local_fit

    def spy(theta, X, y, **kwargs):
        new, loss = real_fit(theta, X, y, **kwargs)
        fits.append((len(y), new.copy()))
        return new, loss

    replies: list[Message] = []
    plan = FederationPlan(rounds=3, C_grid=(0.1,), secure_aggregation=SecAggPlan() if secure else None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(client_module, "local_fit", spy)
        result = run_local(sites, plan, on_reply=replies.append)
    return Run(result, replies, fits, sites)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    return _run(tmp_path_factory.mktemp("plain"), False), _run(tmp_path_factory.mktemp("secagg"), True)


def _carried_vectors(reply: Message) -> list[np.ndarray]:
    """Every numeric vector in a reply: its arrays and any array serialised as bytes in its config records."""
    out = [a.numpy().ravel() for rec in reply.content.array_records.values() for a in rec.values()]
    for rec in reply.content.config_records.values():
        for value in rec.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, bytes):
                    try:
                        out.append(bytes_to_ndarray(item).ravel())
                    except ValueError:
                        continue  # public keys and ciphertexts, not arrays
    return out


def _reveals(vector: np.ndarray, theta: np.ndarray, weight: float, secagg: SecAggPlan) -> bool:
    """Whether ``vector`` holds ``theta`` in the clear, or as SecAgg+ would quantise it before masking."""
    tail = vector[-len(theta) :].astype(float)
    if len(tail) != len(theta):
        return False
    if np.allclose(tail, theta, atol=1e-6):
        return True
    c, levels = secagg.clipping_range, secagg.quantization_range
    quantised = (np.clip(theta * weight, -c, c) + c) * levels / (2 * c)
    return bool(np.mean(np.abs(tail - quantised) <= 2) > 0.5)


@pytest.mark.slow
def test_secagg_reaches_the_same_model_as_plain_fedprox(runs: tuple[Run, Run]) -> None:
    plain, secure = runs
    # Stochastic quantisation to 2**22 levels over [-8, 8]: a step of 4e-6 per weighted parameter.
    assert np.abs(plain.result.theta - secure.result.theta).max() < 1e-4
    assert abs(plain.result.pooled["auroc"] - secure.result.pooled["auroc"]) < 0.005
    assert secure.result.strategy == "FedProx + SecAgg+" and secure.result.chosen_C == 0.1
    assert [h["round"] for h in secure.result.history] == [1.0, 2.0, 3.0]
    assert all("train_loss" in h and "eval_loss" in h for h in secure.result.history)
    # Keys, shares and masked vectors are counted: SecAgg+ costs more bytes per round than plain weights.
    assert secure.result.bytes_per_round > plain.result.bytes_per_round


@pytest.mark.slow
def test_the_server_holds_only_the_sum_of_the_sites_updates(runs: tuple[Run, Run]) -> None:
    plain, secure = runs
    secagg = SecAggPlan()
    total = float(secure.result.preprocessing.n)
    # The check finds a site's weights where they are sent in the clear (plain FedProx) ...
    plain_trains = [m for m in plain.replies if m.metadata.message_type == "train"]
    assert all(
        any(_reveals(v, theta, n / total, secagg) for m in plain_trains for v in _carried_vectors(m))
        for n, theta in plain.fits
    )
    # ... and would find one quantised by Flower but left unmasked ...
    n, theta = secure.fits[0]
    unmasked = quantize([theta * (n / total)], secagg.clipping_range, secagg.quantization_range)[0]
    assert _reveals(unmasked, theta, n / total, secagg)
    # ... and finds none in any SecAgg+ training reply (setup, key shares, masked vectors, unmasking shares).
    trains = [m for m in secure.replies if m.metadata.message_type == "train"]
    assert len(trains) == 4 * 3 * len(SIZES)  # 4 SecAgg+ stages x 3 rounds x 3 sites
    masked = [v for m in trains for v in _carried_vectors(m) if len(v) == secure.result.preprocessing.width + 1]
    assert len(masked) == 3 * len(SIZES)  # one masked parameter vector per site and round (integers mod 2**32)
    assert all(v.dtype.kind in "iu" for v in masked)
    for n, theta in secure.fits:
        assert not any(_reveals(v, theta, n / total, secagg) for m in trains for v in _carried_vectors(m))
    # Yet the global model is exactly the row-weighted average of the sites' last local fits: the unmasked sum.
    last = secure.fits[-len(SIZES) :]
    average = sum(n * theta for n, theta in last) / sum(n for n, _ in last)
    assert np.abs(secure.result.theta - average).max() < 1e-4


@pytest.mark.slow
def test_secagg_training_honours_consent_and_is_audited(runs: tuple[Run, Run]) -> None:
    _, secure = runs
    site1 = secure.sites[0].data
    assert site1.excluded_patients == len(OPTED_OUT)
    assert not set(site1.fit_rows["patient_id"]) & OPTED_OUT
    assert {n for n, _ in secure.fits} == {len(s.data.fit_rows) for s in secure.sites}
    assert secure.result.preprocessing.n == sum(len(s.data.fit_rows) for s in secure.sites)
    for s in secure.sites:
        trains = [e for e in s.audit.entries() if e["action"] == "federated_train"]  # type: ignore[attr-defined]
        assert len(trains) == 3 and all("masked (SecAgg+)" in str(e["reason"]) for e in trains)


@pytest.mark.slow
def test_a_site_whose_calibration_rows_hold_one_outcome_abstains(tmp_path: Path) -> None:
    frames = [site_frame(f"site-{i}", 150, seed=i) for i in (1, 2)]
    calibration = site_data("site-1", frames[0], StaticConsent()).calibration
    frames[0].loc[frames[0]["patient_id"].isin(set(calibration["patient_id"])), "label"] = 0
    sites = [
        SiteRuntime(f.site.iloc[0], site_data(f.site.iloc[0], f, StaticConsent()), JsonlAuditSink(tmp_path / f"{i}"))
        for i, f in enumerate(frames)
    ]
    assert sites[0].data.calibration["label"].nunique() == 1
    result = run_local(sites, FederationPlan(rounds=1, C_grid=(0.1,), evaluate_each_round=False))
    calibrations = [e["reason"] for e in sites[0].audit.entries() if e["action"] == "federated_calibrate"]  # type: ignore[attr-defined]
    assert calibrations and "abstained" in calibrations[0]
    assert result.platt[0] != 1.0  # the Platt map is site 2's alone, not the abstaining site's placeholder
