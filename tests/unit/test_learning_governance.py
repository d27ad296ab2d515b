"""The approval gate: pending challengers never serve; approvals and rollbacks move serving, audited, card updated."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from carepilot.errors import InputError
from carepilot.learning.governance import Governance, ModelEventRepository, PermissionDenied, owner
from carepilot.models.cards import ModelCard
from carepilot.models.registry import ModelRegistry
from carepilot.models.risk import RiskClassifier
from carepilot.security.audit import AuditEntry
from carepilot.security.principal import Principal, Role
from carepilot.store.db import open_database

pytestmark = pytest.mark.slow  # each test fits small risk models

REASON = "better calibration on the last quarter"


class ListSink:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


def data(seed: int, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(X["a"] - 1)))).astype(int)
    return X, y.to_numpy()


def card(version: str) -> ModelCard:
    return ModelCard(
        model_id="toy",
        version=version,
        title="toy",
        outcome="event",
        model_type="logistic",
        training_window="w",
        training_population="synthetic",
        intended_use="tests",
        intended_users="tests",
        intended_population="none",
        out_of_scope=[],
        limitations=[],
    )


@pytest.fixture
def setup(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    registry = ModelRegistry(tmp_path / "models")
    sink = ListSink()
    gov = Governance(registry, ModelEventRepository(db), audit=sink)
    X, y = data(0)
    registry.save(RiskClassifier("logistic").fit(X, y), "toy", card=card("1").to_dict())
    yield registry, gov, sink, X
    db.dispose()


def test_a_pending_challenger_never_serves_until_a_model_owner_approves_it(setup):
    registry, gov, sink, _X = setup
    assert registry.record("toy").version == "1"
    X2, y2 = data(1)
    registry.save(RiskClassifier("logistic", param_grid=[{"C": 0.01}]).fit(X2, y2), "toy", status="pending")
    assert registry.record("toy").version == "1"  # saved, verifiable, not serving
    assert registry.latest("toy").version == "2"
    with pytest.raises(PermissionDenied):
        gov.approve("toy", "2", principal=Principal("dr-1", Role.CLINICIAN), reason=REASON)
    with pytest.raises(InputError):
        gov.approve("toy", "2", principal=owner("mo-1"), reason="  ")
    assert registry.record("toy").version == "1"
    change = gov.approve("toy", "2", principal=owner("mo-1"), reason=REASON)
    assert change.version == "2" and change.replaced is None
    assert registry.record("toy").version == "2" and registry.statuses("toy")["2"] == "serving"
    denied = [e for e in sink.entries if e.outcome == "denied"]
    assert {e.actor for e in denied} == {"clinician:dr-1", "model_owner:mo-1"}


def test_rollback_restores_the_previous_versions_exact_predictions(setup):
    registry, gov, _sink, X = setup
    gov.approve("toy", "1", principal=owner("mo-1"), reason="first deployment")
    before = registry.load("toy").predict_proba(X)[:, 1]
    X2, y2 = data(2)
    registry.save(RiskClassifier("logistic", param_grid=[{"C": 0.01}]).fit(X2, y2), "toy", status="pending")
    gov.approve("toy", "2", principal=owner("mo-1"), reason=REASON)
    assert not np.array_equal(registry.load("toy").predict_proba(X)[:, 1], before)
    change = gov.rollback("toy", principal=owner("mo-2"), reason="alert volume doubled")
    assert change.version == "1" and change.replaced == "2"
    np.testing.assert_array_equal(registry.load("toy").predict_proba(X)[:, 1], before)
    assert registry.statuses("toy") == {"1": "serving", "2": "retired"}


def test_approvals_and_rollbacks_are_audited_and_update_the_model_card(setup):
    registry, gov, sink, _X = setup
    X2, y2 = data(3)
    registry.save(RiskClassifier("logistic").fit(X2, y2), "toy", status="pending", card=card("2").to_dict())
    gov.approve("toy", "1", principal=owner("mo-1"), reason="first deployment")
    gov.approve("toy", "2", principal=owner("mo-1"), reason=REASON)
    gov.rollback("toy", to="1", principal=owner("mo-1"), reason="regression found")
    actions = [(e.action, e.entity, e.outcome) for e in sink.entries]
    assert actions == [
        ("approve", "model/toy@1", "success"),
        ("approve", "model/toy@2", "success"),
        ("rollback", "model/toy@1", "success"),
    ]
    events = gov.events.events("toy")
    assert [e["action"] for e in events] == ["approve", "approve", "rollback"]
    assert events[1]["reason"] == REASON and events[1]["actor"] == "model_owner:mo-1"
    attrs = {a["id"]: a["value"] for a in ModelCard.read(registry.card_path("toy", "1")).source_attributes()}
    assert "rollback v1" in attrs["update_process"] and "carepilot monitor models" in attrs["validity_monitoring"]
    on_disk = json.loads(registry.card_path("toy", "1").read_text())
    assert "approve v2" in on_disk["attributes"]["update_process"]


def test_a_tampered_challenger_cannot_be_approved(setup):
    registry, gov, _sink, _X = setup
    X2, y2 = data(4)
    rec = registry.save(RiskClassifier("logistic").fit(X2, y2), "toy", status="pending")
    (registry.root / rec.file).write_bytes(b"not the model")
    with pytest.raises(Exception, match="checksum"):
        gov.approve("toy", "2", principal=owner("mo-1"), reason=REASON)
    assert registry.record("toy").version == "1"


def test_rollback_without_an_earlier_serving_version_is_refused(setup):
    _registry, gov, _sink, _X = setup
    gov.approve("toy", "1", principal=owner("mo-1"), reason="first deployment")
    with pytest.raises(Exception, match="never served another version"):
        gov.rollback("toy", principal=owner("mo-1"), reason="oops")
