"""Outcomes resolve only once their window has closed in the data, and join to the prediction and model version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from carepilot.errors import InputError
from carepilot.learning.outcomes import HBA1C, READMISSION, OutcomeRepository, Prediction
from carepilot.store import tables as t
from carepilot.store.db import open_database

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    yield database
    database.dispose()


def encounter(db, rid: str, patient: str, start: datetime, end: datetime | None, cls: str = "IMP") -> None:
    with db.write() as conn:
        conn.execute(
            insert(t.encounters).values(resource_id=rid, patient_id=patient, encounter_class=cls, start=start, end=end)
        )


def observation(db, rid: str, patient: str, when: datetime, concept: str = "hba1c", value: float = 7.0) -> None:
    with db.write() as conn:
        conn.execute(
            insert(t.observations).values(
                row_id=rid, resource_id=rid, patient_id=patient, concept=concept, effective=when, value=value
            )
        )


def predict(repo: OutcomeRepository, patient: str, encounter_id: str, version: str = "1", score: float = 0.2) -> None:
    repo.log_predictions(
        [Prediction(patient, T0, "readmission", version, score, insight_id=f"ins-{patient}", encounter_id=encounter_id)]
    )


def test_readmission_outcome_waits_until_the_window_has_closed_in_the_data(db):
    repo = OutcomeRepository(db)
    encounter(db, "e1", "p1", T0 - timedelta(days=4), T0)
    predict(repo, "p1", "e1")
    encounter(db, "e2", "p1", T0 + timedelta(days=10), T0 + timedelta(days=15))  # readmitted on day 10
    observation(db, "o1", "p1", T0 + timedelta(days=20))  # data now reach day 20: window still open
    assert repo.resolve()[READMISSION] == 0
    assert repo.predictions("readmission")["label"].isna().all()
    observation(db, "o2", "p1", T0 + timedelta(days=30))  # the window (discharge + 30 days) has closed
    assert repo.resolve()[READMISSION] == 1
    joined = repo.predictions("readmission").iloc[0]
    assert joined["label"] == 1 and joined["model_version"] == "1" and joined["insight_id"] == "ins-p1"


def test_admissions_before_the_index_or_after_the_window_do_not_count(db):
    repo = OutcomeRepository(db)
    encounter(db, "e0", "p2", T0 - timedelta(days=20), T0 - timedelta(days=18))  # before the index
    encounter(db, "e1", "p2", T0 - timedelta(days=3), T0)
    predict(repo, "p2", "e1")
    encounter(db, "e3", "p2", T0 + timedelta(days=31), T0 + timedelta(days=33))  # day 31: outside
    encounter(db, "x", "p2", T0 + timedelta(days=5), T0 + timedelta(days=5), cls="AMB")  # outpatient visit
    assert repo.resolve()[READMISSION] == 1
    assert repo.predictions()["label"].tolist() == [0]


def test_outcomes_resolve_once_and_predictions_are_logged_once(db):
    repo = OutcomeRepository(db)
    encounter(db, "e1", "p3", T0 - timedelta(days=3), T0)
    predict(repo, "p3", "e1")
    predict(repo, "p3", "e1")  # the same discharge scored again by the same version
    observation(db, "o", "p3", T0 + timedelta(days=60))
    assert repo.resolve()[READMISSION] == 1
    assert repo.resolve()[READMISSION] == 0
    assert len(repo.predictions()) == 1


def test_hba1c_outcome_of_an_accepted_treatment_option_resolves_after_its_window(db):
    repo = OutcomeRepository(db)
    with db.write() as conn:
        conn.execute(
            insert(t.insights).values(
                id="opt-1",
                patient_id="p4",
                kind="treatment_option",
                severity="info",
                title="Add an SGLT2 inhibitor",
                payload="{}",
                source_id="t2d-addon",
                source_version="3",
                created_at=T0,
            )
        )
        conn.execute(
            insert(t.feedback).values(
                service_id="s",
                channel="dashboard",
                card="opt-1",
                insight_id="opt-1",
                patient_id="p4",
                outcome="accepted",
                outcome_timestamp=T0,
                received_at=T0,
            )
        )
    observation(db, "b", "p4", T0 - timedelta(days=10), value=8.4)
    observation(db, "f", "p4", T0 + timedelta(days=120), value=7.6)
    assert repo.resolve()[HBA1C] == 0  # data end at day 120 < day 270
    observation(db, "late", "p4", T0 + timedelta(days=280), concept="egfr", value=70)
    assert repo.resolve()[HBA1C] == 1
    row = repo.outcomes(HBA1C).iloc[0]
    assert row["value"] == pytest.approx(-0.8) and row["label"] == 1 and row["model_version"] == "3"


def test_a_prediction_needs_a_probability_and_a_timezone():
    with pytest.raises(InputError):
        Prediction("p", T0, "m", "1", 1.5)
    with pytest.raises(InputError):
        Prediction("p", T0.replace(tzinfo=None), "m", "1", 0.5)
