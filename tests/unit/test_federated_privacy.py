"""What leaves a site: fixed-shape parameter and summary arrays and scalar metrics, never rows or patient ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flwr.app import Message

from carepilot.domain.consent import StaticConsent
from carepilot.features.readmission import FEATURES
from carepilot.federated.audit import JsonlAuditSink
from carepilot.federated.client import SiteRuntime
from carepilot.federated.evaluation import BINS
from carepilot.federated.local import run_local
from carepilot.federated.preprocessing import STAT_ROWS
from carepilot.federated.server import FederationPlan, PrivacyPlan
from carepilot.federated.sites import site_data
from tests.unit.federated_frames import site_frame

# Each run scores the held-out patients with Fairlearn's MetricFrame at every site: a few seconds.
pytestmark = pytest.mark.slow


def _sites(tmp_path: Path, sizes: tuple[int, ...]) -> list[SiteRuntime]:
    out = []
    for i, n in enumerate(sizes):
        name = f"site-{i + 1}"
        data = site_data(name, site_frame(name, n, seed=i, shift=0.3 * i), StaticConsent())
        out.append(SiteRuntime(name, data, JsonlAuditSink(tmp_path / name / "audit.jsonl")))
    return out


def _received(tmp_path: Path, sizes: tuple[int, ...], plan: FederationPlan) -> tuple[list[Message], int]:
    seen: list[Message] = []
    sites = _sites(tmp_path, sizes)
    result = run_local(sites, plan, on_reply=seen.append)
    return seen, result.preprocessing.width


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Message], int]:
    return _received(tmp_path_factory.mktemp("recorded"), (150, 260), FederationPlan(rounds=3))


def test_every_array_the_server_receives_has_a_model_defined_shape(recorded: tuple[list[Message], int]) -> None:
    seen, width = recorded
    allowed = {(STAT_ROWS, len(FEATURES)), (width + 1,), (2,), (3, BINS)}
    shapes = [tuple(a.shape) for m in seen for rec in m.content.array_records.values() for a in rec.values()]
    assert shapes and set(shapes) <= allowed
    # Parameters of the model itself: weights plus intercept, as many as the transformed columns + 1.
    trains = [m for m in seen if m.metadata.message_type == "train"]
    assert len(trains) == 3 * 2 * len(FederationPlan().C_grid)  # rounds x sites x L2 strengths tried
    assert all(tuple(m.content.array_records["arrays"]["theta"].shape) == (width + 1,) for m in trains)


def test_what_sites_send_does_not_grow_with_their_number_of_patients(tmp_path: Path) -> None:
    small, _ = _received(tmp_path / "a", (120, 120), FederationPlan(rounds=2))
    large, _ = _received(tmp_path / "b", (400, 400), FederationPlan(rounds=2))

    def sizes(msgs: list[Message]) -> list[int]:
        return sorted(len(a.data) for m in msgs for rec in m.content.array_records.values() for a in rec.values())

    assert sizes(small) == sizes(large)


def test_no_patient_id_or_text_beyond_the_site_name_reaches_the_server(recorded: tuple[list[Message], int]) -> None:
    seen, _ = recorded
    texts: list[str] = []
    for m in seen:
        for rec in m.content.metric_records.values():
            texts.extend(rec.keys())
            assert all(isinstance(v, float | int) for v in rec.values())
        for name, rec in m.content.config_records.items():
            assert name == "site" and set(rec.keys()) == {"name"}
            texts.append(str(rec["name"]))
    assert texts
    assert not [t for t in texts if "-p" in t]  # patient ids look like "site-1-p12"
    for m in seen:
        for rec in m.content.array_records.values():
            for a in rec.values():
                assert a.numpy().dtype.kind == "f"


def test_with_dp_each_training_update_is_clipped_before_it_leaves(tmp_path: Path) -> None:
    clip = 0.05
    sent: dict[int, np.ndarray] = {}
    seen: list[Message] = []
    sites = _sites(tmp_path, (200, 200))
    result = run_local(sites, FederationPlan(rounds=2, privacy=PrivacyPlan(1.0, clip)), on_reply=seen.append)
    trains = [m for m in seen if m.metadata.message_type == "train"]
    first_round = trains[:2]
    for m in first_round:  # round 1 starts from zeros, so the update is the reply itself
        sent[m.metadata.src_node_id] = m.content.array_records["arrays"]["theta"].numpy()
        assert np.linalg.norm(sent[m.metadata.src_node_id]) <= clip + 1e-9
    assert result.epsilon is not None and result.epsilon > 0 and result.delta == pytest.approx(1e-5)


def test_every_phase_is_audited_at_each_site(tmp_path: Path) -> None:
    sites = _sites(tmp_path, (150, 150))
    run_local(sites, FederationPlan(rounds=2))
    for s in sites:
        entries = s.audit.entries()  # type: ignore[attr-defined]
        actions = [e["action"] for e in entries]
        assert actions.count("federated_train") == 2 * len(FederationPlan().C_grid)
        assert {"federated_statistics", "federated_calibrate", "federated_final_evaluation"} <= set(actions)
        assert all(e["patient_id"] is None and s.name in str(e["actor"]) for e in entries)
