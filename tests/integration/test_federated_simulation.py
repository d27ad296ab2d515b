"""The same ServerApp and ClientApp under Flower's Simulation Runtime (Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carepilot.domain.consent import StaticConsent
from carepilot.federated.audit import JsonlAuditSink
from carepilot.federated.client import SiteRuntime
from carepilot.federated.server import FederationPlan
from carepilot.federated.simulation import simulate
from carepilot.federated.sites import site_data
from tests.unit.federated_frames import site_frame

pytestmark = pytest.mark.slow  # Ray start-up


def test_flower_simulation_trains_calibrates_and_evaluates_two_sites(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    sites = [
        SiteRuntime(n, site_data(n, site_frame(n, 200, seed=i), StaticConsent()), JsonlAuditSink(tmp_path / n))
        for i, n in enumerate(("north", "south"))
    ]
    result = simulate(sites, FederationPlan(rounds=2, C_grid=(0.1,)))
    assert set(result.sites) == {"north", "south"}
    assert [h["round"] for h in result.history] == [1.0, 2.0]
    # The synthetic label follows a logistic model of the features, so the global model must find it.
    assert result.pooled["auroc"] > 0.7
