"""The federated model registers like any other, with a card that says it was trained federatedly and where."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from carepilot.domain.consent import StaticConsent
from carepilot.features.readmission import FEATURES
from carepilot.federated.audit import JsonlAuditSink
from carepilot.federated.client import SiteRuntime
from carepilot.federated.local import run_local
from carepilot.federated.model import FederatedRiskClassifier
from carepilot.federated.publish import register
from carepilot.federated.server import FederationPlan
from carepilot.federated.sites import site_data
from carepilot.models.registry import ModelRegistry
from tests.unit.federated_frames import site_frame

pytestmark = pytest.mark.slow  # one federated run with Fairlearn evaluation at each site


def test_registered_model_loads_verified_and_its_card_names_the_sites(tmp_path: Path) -> None:
    sites = [
        SiteRuntime(n, site_data(n, site_frame(n, 200, seed=i), StaticConsent()), JsonlAuditSink(tmp_path / n))
        for i, n in enumerate(("north", "south"))
    ]
    result = run_local(sites, FederationPlan(rounds=3, C_grid=(0.1,)))
    registry = ModelRegistry(tmp_path / "models")
    record = register(result, registry)
    assert record.metadata["training_mode"] == "federated" and record.metadata["sites"] == ["north", "south"]
    model = registry.load("readmission", record.version)
    assert isinstance(model, FederatedRiskClassifier)
    test = sites[0].data.test
    p = model.predict_proba(test[list(FEATURES)])[:, 1]
    assert ((p > 0) & (p < 1)).all()
    card = orjson.loads(registry.card_path("readmission", record.version).read_bytes())
    assert card["training_data"]["training_mode"] == "federated"
    assert "federated" in card["methods"]["training"]
    assert {s["attribute"] for s in card["subgroups"]} == {"sex", "race"}
