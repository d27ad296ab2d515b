"""Feature frames over every patient in the store (one profile load per patient)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pandas as pd

from carepilot.domain.profile import PatientProfile
from carepilot.features.readmission import FEATURES, readmission_examples
from carepilot.store.profiles import load_profile
from carepilot.store.repository import RecordRepository

FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


def iter_profiles(
    repo: RecordRepository, patient_ids: list[str] | None = None, on_progress: Callable[[int], None] | None = None
) -> Iterator[PatientProfile]:
    """Every patient's full profile (everything recorded, whatever its date)."""
    ids = patient_ids if patient_ids is not None else [p["patient_id"] for p in repo.list_patients()]
    for pid in ids:
        yield load_profile(repo, pid, FAR_FUTURE)
        if on_progress is not None:
            on_progress(1)


def data_end(profiles: list[PatientProfile]) -> datetime:
    """The last clinical time recorded anywhere in these profiles (outcomes after it are unknown)."""
    latest = datetime(1900, 1, 1, tzinfo=UTC)
    for p in profiles:
        for e in p.encounters:
            for t in (e.start, e.end):
                if t is not None and t > latest:
                    latest = t
        for m in p.measurements:
            if m.effective is not None and m.effective > latest:
                latest = m.effective
    return latest


def readmission_frame(profiles: list[PatientProfile], end: datetime | None = None) -> pd.DataFrame:
    """One row per eligible discharge with the readmission features, the demographics for fairness and the label."""
    end = end or data_end(profiles)
    rows = []
    for profile in profiles:
        d = profile.demographics
        for row in readmission_examples(profile, end):
            row.update(sex=d.sex, race=d.race, ethnicity=d.ethnicity, site=d.site)
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["patient_id", "encounter_id", "index_time", *FEATURES, "label"])
    return frame
