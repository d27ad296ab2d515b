"""Reading validation: bad rows rejected with reasons, the rest kept, units converted."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from carepilot.errors import InputError
from carepilot.monitoring.readings import Kind, Reading, Reason, validate_frame, validate_records


def _row(**kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "patient_id": "p1",
        "type": "heart_rate",
        "value": 70.0,
        "unit": "/min",
        "time": "2026-03-01T08:00:00+00:00",
    }
    row.update(kw)
    return row


def test_bad_rows_are_rejected_with_reasons_and_good_rows_kept() -> None:
    rows = [
        _row(),
        _row(type="skin_temperature"),
        _row(unit="furlongs"),
        _row(value=400.0),
        _row(time="2026-03-01T08:00:00"),
        _row(time="yesterday"),
        _row(value="fast"),
        _row(value=True),
        _row(time=None),
        _row(patient_id=None),
        _row(type="spo2", value=97, unit="%", time="2026-03-01T08:05:00Z"),
    ]
    result = validate_records(rows)
    assert len(result.batch) == 2
    assert result.batch.index.tolist() == [0, 10]
    reasons = {r.index: r.reason for r in result.rejected}
    assert reasons == {
        1: Reason.UNKNOWN_TYPE,
        2: Reason.BAD_UNIT,
        3: Reason.IMPLAUSIBLE_VALUE,
        4: Reason.NAIVE_TIMESTAMP,
        5: Reason.BAD_TIMESTAMP,
        6: Reason.BAD_VALUE,
        7: Reason.BAD_VALUE,
        8: Reason.MISSING_FIELD,
        9: Reason.MISSING_FIELD,
    }
    messages = {r.index: r.message for r in result.rejected}
    assert "skin_temperature" in messages[1]
    assert "furlongs" in messages[2]
    assert "300" in messages[3]


def test_pounds_become_kilograms_and_mmol_becomes_mg_dl() -> None:
    rows = [
        _row(type="weight", value=176.37, unit="lb"),
        _row(type="cgm_glucose", value=5.5, unit="mmol/L"),
        _row(type="spo2", value=0.95, unit="1"),
        _row(type="steps", value=1200, unit="{steps}"),
    ]
    batch = validate_records(rows).batch
    assert batch.kind.tolist() == [Kind.WEIGHT, Kind.CGM_GLUCOSE, Kind.SPO2, Kind.STEPS]
    assert batch.value[0] == pytest.approx(80.0, abs=0.01)
    assert batch.value[1] == pytest.approx(5.5 * 18.016)
    assert batch.value[2] == pytest.approx(95.0)
    assert batch.value[3] == 1200


def test_offsets_are_normalised_to_utc() -> None:
    batch = validate_records([_row(time="2026-03-01T10:00:00+02:00")]).batch
    assert batch.time[0] == datetime(2026, 3, 1, 8, tzinfo=UTC).timestamp()


def test_reading_objects_and_a_default_patient() -> None:
    when = datetime(2026, 3, 1, 8, tzinfo=UTC)
    result = validate_records(
        [Reading("heart_rate", when, 61.0, "bpm"), Reading("heart_rate", datetime(2026, 3, 1), 61.0, "bpm")],
        patient_id="p9",
    )
    assert result.batch.patient_id.tolist() == ["p9"]
    assert result.rejected[0].reason is Reason.NAIVE_TIMESTAMP


def test_future_readings_are_rejected_when_a_horizon_is_given() -> None:
    now = datetime(2026, 3, 1, 9, tzinfo=UTC).timestamp()
    result = validate_records([_row(), _row(time="2026-03-02T08:00:00Z")], not_after=now)
    assert [r.reason for r in result.rejected] == [Reason.FUTURE_TIMESTAMP]


def test_frame_with_naive_time_column_is_rejected_row_by_row() -> None:
    frame = pd.DataFrame(
        {
            "patient_id": ["p1", "p1"],
            "type": ["heart_rate", "heart_rate"],
            "time": pd.to_datetime(["2026-03-01 08:00", "2026-03-01 08:05"]),
            "value": [70.0, 71.0],
            "unit": ["/min", "/min"],
        }
    )
    result = validate_frame(frame)
    assert len(result.batch) == 0
    assert {r.reason for r in result.rejected} == {Reason.NAIVE_TIMESTAMP}
    declared = validate_frame(frame, assume_utc=True)
    assert len(declared.batch) == 2
    assert declared.batch.time[0] == datetime(2026, 3, 1, 8, tzinfo=UTC).timestamp()


def test_frame_with_utc_times_and_a_missing_time() -> None:
    frame = pd.DataFrame(
        {
            "patient_id": ["p1", "p1"],
            "type": ["heart_rate", "heart_rate"],
            "time": pd.to_datetime(["2026-03-01 08:00", None], utc=True),
            "value": [70.0, 71.0],
            "unit": ["/min", "/min"],
        }
    )
    result = validate_frame(frame)
    assert len(result.batch) == 1
    assert np.isclose(result.batch.time[0], datetime(2026, 3, 1, 8, tzinfo=UTC).timestamp())
    assert result.rejected[0].reason is Reason.BAD_TIMESTAMP


def test_frame_without_required_columns_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unit"):
        validate_frame(pd.DataFrame({"patient_id": [], "type": [], "time": [], "value": []}))
