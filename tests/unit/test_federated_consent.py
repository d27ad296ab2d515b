"""Patients who opted out of training (or of sharing) never reach a site's statistics, training or evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from carepilot.domain.consent import ConsentScope, StaticConsent
from carepilot.federated import client as client_module
from carepilot.federated.audit import JsonlAuditSink
from carepilot.federated.client import SiteRuntime
from carepilot.federated.local import run_local
from carepilot.federated.server import FederationPlan
from carepilot.federated.sites import site_data
from tests.unit.federated_frames import site_frame


def test_opted_out_patients_are_left_out_of_every_split() -> None:
    frame = site_frame("site-1", 200, seed=1)
    out = {"site-1-p3", "site-1-p7", "site-1-p150"}
    data = site_data("site-1", frame, StaticConsent({ConsentScope.TRAINING: out}))
    for part in (data.train, data.calibration, data.test):
        assert not set(part["patient_id"]) & out
    assert data.excluded_patients == 3
    assert len(data.train) + len(data.test) == len(frame) - 6  # two discharges per patient


def test_sharing_opt_outs_are_excluded_too() -> None:
    frame = site_frame("site-1", 100, seed=2)
    data = site_data("site-1", frame, StaticConsent({ConsentScope.SHARING: {"site-1-p0"}}))
    assert "site-1-p0" not in set(data.train["patient_id"]) | set(data.test["patient_id"])


def test_the_held_out_split_is_by_patient_and_stable() -> None:
    frame = site_frame("site-1", 300, seed=3)
    a = site_data("site-1", frame, StaticConsent())
    b = site_data("site-1", frame.sample(frac=1.0, random_state=0), StaticConsent())
    assert set(a.test["patient_id"]) == set(b.test["patient_id"])
    assert not set(a.train["patient_id"]) & set(a.test["patient_id"])


@pytest.mark.slow
def test_training_never_sees_an_opted_out_patient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = {f"site-1-p{i}" for i in range(0, 200, 5)}
    sites = []
    for i in (1, 2):
        name = f"site-{i}"
        consent = StaticConsent({ConsentScope.TRAINING: out if i == 1 else set()})
        data = site_data(name, site_frame(name, 200, seed=i), consent)
        sites.append(SiteRuntime(name, data, JsonlAuditSink(tmp_path / f"{name}.jsonl")))
    trained_on: list[int] = []
    real_fit = client_module.local_fit

    def spy(theta, X, y, **kwargs):  # type: ignore[no-untyped-def]
        trained_on.append(len(y))
        return real_fit(theta, X, y, **kwargs)

    monkeypatch.setattr(client_module, "local_fit", spy)
    result = run_local(sites, FederationPlan(rounds=1))
    site1 = sites[0].data
    assert len(site1.fit_rows) in trained_on
    assert result.preprocessing.n == len(sites[0].data.fit_rows) + len(sites[1].data.fit_rows)
    # The rows that reached training at site 1 are exactly its consented fit rows.
    assert not set(site1.fit_rows["patient_id"]) & out
