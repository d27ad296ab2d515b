"""Outcome models with known truth: 30-day readmission, deterioration episodes, disease progression."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# 30-day readmission after an inpatient discharge: logistic model. Intercept sets the mean near the 15-20%
# all-cause rate of US Medicare discharges (Jencks et al., NEJM 2009: 19.6%; CMS 2019: ~15.5%); the covariates
# are those of the HOSPITAL score (Donze et al., JAMA Intern Med 2013) and LACE index (van Walraven et al.,
# CMAJ
# 2010): prior admissions, length of stay, comorbidity burden, plus glycaemic control (Rubin, Curr Diab Rep
# 2015), kidney function, adherence and heart failure (CMS HRRP condition).
READMISSION_COEF = {
    "intercept": -2.85,
    "age_per_decade_over_65": 0.10,
    "comorbidities": 0.18,
    "prior_admissions_12m": 0.35,
    "hba1c_over_7": 0.12,
    "egfr_below_60_per_10": 0.10,
    "adherence_below_08_per_01": 0.12,
    "heart_failure": 0.45,
    "copd": 0.25,
    "los_over_5_days": 0.30,
    "discharged_to_facility": 0.20,
    "left_against_advice": 0.80,
}


def readmission_risk(
    *,
    age: float,
    comorbidities: int,
    prior_admissions: int,
    hba1c: float | None,
    egfr: float,
    adherence: float,
    heart_failure: bool,
    copd: bool,
    los_days: float,
    disposition: str,
) -> float:
    """True probability of a readmission within 30 days of this discharge."""
    c = READMISSION_COEF
    z = c["intercept"]
    z += c["age_per_decade_over_65"] * max(age - 65.0, 0.0) / 10.0
    z += c["comorbidities"] * comorbidities
    z += c["prior_admissions_12m"] * min(prior_admissions, 4)
    if hba1c is not None:
        z += c["hba1c_over_7"] * max(hba1c - 7.0, 0.0)
    z += c["egfr_below_60_per_10"] * max(60.0 - egfr, 0.0) / 10.0
    z += c["adherence_below_08_per_01"] * max(0.8 - adherence, 0.0) / 0.1
    z += c["heart_failure"] * heart_failure + c["copd"] * copd
    z += c["los_over_5_days"] * (los_days > 5)
    z += c["discharged_to_facility"] * (disposition in ("snf", "rehab", "other-hcf"))
    z += c["left_against_advice"] * (disposition == "aadvice")
    return 1.0 / (1.0 + math.exp(-z))


@dataclass
class Deterioration:
    """Persons with a deterioration episode inside the stream window and its drift."""

    person: np.ndarray
    kind: np.ndarray  # heart_failure | copd | diabetes
    drift_start_day: np.ndarray  # days after the window start
    event_day: np.ndarray


def sample_deterioration(
    rng: np.random.Generator,
    candidates: np.ndarray,
    kind: np.ndarray,
    window_days: float,
    stream_days: float,
    rate: float = 0.12,
) -> Deterioration:
    """Pick episodes among stream-monitored patients with HF, COPD or diabetes.

    The event falls in the last ``stream_days`` of the window (at least 7 days in), preceded by a drift of
    3-14
    days (HF decompensation shows weight gain and rising heart rate 1-2 weeks ahead: Chaudhry et al.,
    Circulation 2007; COPD exacerbations show falling activity and rising heart rate days ahead: Shah et al.,
    Respirology 2017).
    """
    chosen = rng.random(len(candidates)) < rate
    person = candidates[chosen]
    m = len(person)
    stream_start = window_days - stream_days
    event_day = stream_start + 7.0 + rng.random(m) * (stream_days - 8.0)
    drift = 3.0 + rng.random(m) * 11.0
    drift_start = np.maximum(event_day - drift, stream_start)
    return Deterioration(person=person, kind=kind[chosen], drift_start_day=drift_start, event_day=event_day)
