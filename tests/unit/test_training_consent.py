"""Training honours the TRAINING opt-out: an opted-out patient's record is never read into a training frame."""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from carepilot.domain.consent import ConsentScope, StaticConsent
from carepilot.domain.profile import Coding, Demographics, Encounter, Measurement, PatientProfile, Problem
from carepilot.learning import deterioration, effects_training, progression, training
from carepilot.learning.consent import training_patients

T0 = datetime(2024, 1, 1, tzinfo=UTC)
IDS = ["p1", "p2", "p3"]
OUT = StaticConsent({ConsentScope.TRAINING: ["p2"]})


def _profile(pid):
    egfr = [
        Measurement(f"{pid}-e{d}", "egfr", Coding("http://loinc.org", "33914-3"), T0 + timedelta(days=d), 55.0, None)
        for d in (-800, -700, -100, 100, 400, 700)
    ]
    return PatientProfile(
        demographics=Demographics(pid, date(1950, 1, 1), "female"),
        as_of=T0 + timedelta(days=900),
        problems=(Problem(f"{pid}-c", "type2_diabetes", Coding("s", "1"), T0 - timedelta(days=2000), None, "active"),),
        measurements=tuple(egfr),
        encounters=(
            Encounter(f"{pid}-a", "IMP", "admission", T0 - timedelta(days=40), T0 - timedelta(days=35), "home"),
            Encounter(f"{pid}-b", "IMP", "admission", T0 - timedelta(days=20), T0 - timedelta(days=15), "home"),
        ),
    )


class FakeRepo:
    def list_patients(self, limit=None):
        return [{"patient_id": pid} for pid in IDS]


@pytest.fixture
def read(monkeypatch):
    seen: list[str] = []

    def fake_iter(repo, patient_ids=None, on_progress=None):
        for pid in patient_ids if patient_ids is not None else IDS:
            seen.append(pid)
            yield _profile(pid)

    for module in (training, deterioration, progression, effects_training):
        monkeypatch.setattr(module, "iter_profiles", fake_iter)
    return seen


def test_the_consent_filter_drops_only_the_opted_out_patients():
    assert training_patients(IDS, OUT) == ["p1", "p3"]
    assert training_patients(IDS, None) == IDS


def test_progression_frames_never_read_an_opted_out_record(read):
    frames, _ = progression.progression_frames(FakeRepo(), OUT, landmark=T0)
    assert "p2" not in read
    assert set(frames["ckd"]["patient_id"]) == {"p1", "p3"}
    assert set(frames["diabetes"]["patient_id"]) == {"p1", "p3"}


def test_deterioration_frame_never_reads_an_opted_out_record(read):
    start = T0 + timedelta(days=800)
    readings = pd.DataFrame(
        [(pid, "heart_rate", start + timedelta(hours=6 * h), 60.0) for pid in IDS for h in range(4 * 20)],
        columns=["patient_id", "type", "time", "value"],
    )
    frame = deterioration.deterioration_frame(FakeRepo(), readings, OUT)
    assert "p2" not in read
    assert set(frame["patient_id"]) == {"p1", "p3"}


def test_readmission_training_never_reads_an_opted_out_record(read, tmp_path):
    from carepilot.errors import ModelError
    from carepilot.models.registry import ModelRegistry

    with pytest.raises(ModelError, match="too few"):  # three patients are too few to fit; the read is what matters
        training.train_readmission(FakeRepo(), ModelRegistry(tmp_path), tmp_path, consent=OUT)
    assert read == ["p1", "p3"]


def test_effect_model_frames_never_read_an_opted_out_record(read):
    from carepilot.models.effects.decision import load_decision

    effects_training.decision_frame(FakeRepo(), load_decision("diabetes-addon"), OUT)
    assert read == ["p1", "p3"]
