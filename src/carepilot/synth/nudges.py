"""Ground truth for engagement nudges: each patient's chance of responding to each nudge arm.

A response is the action a nudge asks for within 7 days (a refill, a reply or a booked visit). For patient i and
arm (message, channel, timing) the weekly response probability is logistic in:

- a patient intercept N(-1.55, 0.45): about 18% respond to an average reminder (text-message reminder trials:
  Thakkar et al., JAMA Intern Med 2016, adherence 50% -> 68%; Milkman et al., PNAS 2021 megastudy of reminders);
- a latent preferred channel drawn by age (under 40: SMS 60 / email 25 / phone 15%; 40-64: 45 / 35 / 20%;
  65+: 25 / 25 / 50%; Pew Research Center mobile and texting use by age, 2021): +0.9 on that channel; an automated
  call to someone under 40 -0.4. 60% of patients have stated it (``stated_channel``), the rest must be learned;
- adherence: habitually low adherers respond less (+1.0 x (adherence - 0.75)); reminders help the forgetful
  (+0.35 when adherence >= 0.6) and education the doubtful (+0.5 when adherence < 0.6) (unintentional vs
  intentional non-adherence, Horne et al. 2005; Kini & Ho, JAMA 2018);
- depression: encouragement from the care team +0.5, education -0.3 (Grenard et al., J Gen Intern Med 2011:
  depression doubles non-adherence); diabetes: education +0.3 (diabetes self-management education);
- timing: morning +0.3 at 60 and over, evening +0.3 at 25-59 (working hours);
- a patient-by-arm idiosyncrasy N(0, 0.25) that no context explains (the floor of any learner's regret).

Drawn from ``default_rng([seed, 5_000_011])``, its own stream, so adding it changes no other file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carepilot.domain.nudges import ARMS, CHANNELS
from carepilot.synth.conditions import Conditions
from carepilot.synth.people import People

STREAM = 5_000_011
STATED_RATE = 0.6
PREFERENCE_BY_AGE = ((40.0, (0.60, 0.25, 0.15)), (65.0, (0.45, 0.35, 0.20)), (200.0, (0.25, 0.25, 0.50)))


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def nudge_truth(
    seed: int,
    patient_id: np.ndarray,
    age: np.ndarray,
    female: np.ndarray,
    adherence: np.ndarray,
    depression: np.ndarray,
    diabetes: np.ndarray,
    conditions: np.ndarray,
) -> pd.DataFrame:
    """One row per patient and arm: the patient's context, preferred channel and true response probability."""
    rng = np.random.default_rng([seed, STREAM])
    n = len(patient_id)
    prefer = np.empty(n, dtype=object)
    u = rng.random(n)
    for i in range(n):
        probs = next(p for limit, p in PREFERENCE_BY_AGE if age[i] < limit)
        prefer[i] = CHANNELS[int(np.searchsorted(np.cumsum(probs), u[i], side="right"))]
    stated = np.where(rng.random(n) < STATED_RATE, prefer, "")
    intercept = rng.normal(-1.55, 0.45, n)
    noise = rng.normal(0.0, 0.25, (n, len(ARMS)))
    logits = np.empty((n, len(ARMS)))
    for k, arm in enumerate(ARMS):
        z = intercept + 1.0 * (adherence - 0.75)
        z = z + 0.9 * (prefer == arm.channel)
        if arm.channel == "phone":
            z = z - 0.4 * (age < 40)
        if arm.message == "reminder":
            z = z + 0.35 * (adherence >= 0.6)
        elif arm.message == "education":
            z = z + 0.5 * (adherence < 0.6) - 0.3 * depression + 0.3 * diabetes
        else:
            z = z + 0.5 * depression
        suits = (age >= 60) if arm.timing == "morning" else ((age >= 25) & (age < 60))
        z = z + 0.3 * suits
        logits[:, k] = z + noise[:, k]
    p = _logistic(logits)
    rows = len(ARMS)
    return pd.DataFrame(
        {
            "patient_id": np.repeat(patient_id.astype(str), rows),
            "arm": np.tile([a.key for a in ARMS], n),
            "message": np.tile([a.message for a in ARMS], n),
            "channel": np.tile([a.channel for a in ARMS], n),
            "timing": np.tile([a.timing for a in ARMS], n),
            "age": np.repeat(age.astype(float), rows),
            "female": np.repeat(female.astype(bool), rows),
            "adherence": np.repeat(adherence.astype(float), rows),
            "depression": np.repeat(depression.astype(bool), rows),
            "diabetes": np.repeat(diabetes.astype(bool), rows),
            "conditions": np.repeat(conditions.astype(int), rows),
            "preferred_channel": np.repeat(prefer.astype(str), rows),
            "stated_channel": np.repeat(stated.astype(str), rows),
            "p_response": p.reshape(-1),
        }
    )


def population_nudge_truth(seed: int, people: People, cond: Conditions) -> pd.DataFrame:
    """``nudge_truth`` for a drawn population."""
    return nudge_truth(
        seed,
        people.patient_id,
        people.age,
        people.female,
        people.adherence,
        cond.has["depression"],
        cond.has["type2_diabetes"],
        cond.count(),
    )
