"""Nudges that learn, on the synthetic population whose truth gives every patient's response to every nudge arm.

Patients with low adherence (true PDC < 80%) get one nudge a week for ``weeks`` weeks, through the same safety
rules as the service (``domain.nudges.may_send``: switch-off, at most 2 in 7 days, quiet hours). Each week the
learner picks an arm per patient from the patient's context (age, sex, recorded PDC with noise, depression,
diabetes, comorbidity count, stated channel when known), the response is drawn from the truth
(``synth/nudges.py``) and fed back. Compared in the same run on the same patients:

- ``random``: a uniformly random arm each week;
- ``single``: the one arm best for the whole eligible population, chosen with hindsight from the truth (the
  strongest one-message-for-all policy; no real deployment could know it in advance);
- ``default``: the usual pharmacy refill reminder (SMS, morning) for everyone;
- ``oracle``: each patient's best arm by the truth (the limit).

``regret`` is the cumulative expected regret against the oracle, sum over patient-weeks of p(best) - p(chosen).
Adherence gain is the expected share of days covered the nudges add: a response closes that week's supply gap, so
each nudge adds (1 - adherence) x p(response) of a week; reported in PDC percentage points, averaged over
patient-weeks. Options: ``patients`` (4000), ``seed`` (0), ``weeks`` (26), ``alpha`` (0.5, LinTS exploration).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from carepilot.bench import BenchReport, peak_rss_mb
from carepilot.config import Settings
from carepilot.domain.nudges import ARMS, DEFAULT_ARM, NudgeContext, NudgeSettings, may_send, send_time
from carepilot.errors import BenchmarkError
from carepilot.learning.nudges import NudgeBandit
from carepilot.synth.nudges import population_nudge_truth
from carepilot.synth.population import SynthOptions, draw_population

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    try:
        n_patients = int(options.get("patients", 4000))
        seed = int(options.get("seed", 0))
        weeks = int(options.get("weeks", 26))
        alpha = float(options.get("alpha", 0.5))
    except ValueError as exc:
        raise BenchmarkError(f"bad nudges option: {exc}") from exc
    population, _ = draw_population(SynthOptions(patients=n_patients, seed=seed, out=settings.home / "unused"))
    truth = population_nudge_truth(seed, population.people, population.cond)
    k = len(ARMS)
    first = truth.iloc[::k].reset_index(drop=True)
    p = truth["p_response"].to_numpy().reshape(-1, k)
    eligible = np.flatnonzero(first["adherence"].to_numpy() < 0.8)
    if len(eligible) == 0:
        raise BenchmarkError("no patient with low adherence in this population")
    rows = first.iloc[eligible]
    p = p[eligible]
    adherence = rows["adherence"].to_numpy()
    rng = np.random.default_rng([seed, 77])
    recorded_pdc = np.clip(adherence + rng.normal(0, 0.05, len(rows)), 0, 1)
    contexts = [
        NudgeContext(
            age=float(r.age),
            female=bool(r.female),
            pdc=float(recorded_pdc[i]),
            depression=bool(r.depression),
            diabetes=bool(r.diabetes),
            conditions=int(r.conditions),
            stated_channel=str(r.stated_channel) or None,
        )
        for i, r in enumerate(rows.itertuples())
    ]
    gap = 1.0 - adherence
    best = p.max(axis=1)
    n = len(rows)
    arm_index = {a.key: j for j, a in enumerate(ARMS)}

    bandit = NudgeBandit(alpha=alpha, seed=seed).fit([], [], [])
    settings_by_patient = NudgeSettings(patient_id="any")
    sent: list[list[datetime]] = [[] for _ in range(n)]
    chosen_p = np.zeros((weeks, n))
    messages = 0
    responses = 0
    weekly_regret = []
    for week in range(weeks):
        day = START + timedelta(weeks=week)
        arms = bandit.choose(contexts)
        idx = np.array([arm_index[a.key] for a in arms])
        send = np.zeros(n, dtype=bool)
        for i, arm in enumerate(arms):
            at = send_time(day, arm)
            ok, _ = may_send(settings_by_patient, sent[i], at)
            if ok:
                sent[i].append(at)
                send[i] = True
        pw = p[np.arange(n), idx]
        reward = (rng.random(n) < pw).astype(float)
        chosen_p[week] = np.where(send, pw, 0.0)
        messages += int(send.sum())
        responses += int(reward[send].sum())
        weekly_regret.append(float(np.sum((best - pw)[send])))
        keep = np.flatnonzero(send)
        bandit.update([contexts[i] for i in keep], [arms[i] for i in keep], reward[keep].tolist())

    def gain(prob: np.ndarray) -> float:
        """Mean PDC points added per patient-week by arms with these response probabilities."""
        return float(np.mean(gap[None, :] * prob) * 100.0) if prob.ndim == 2 else float(np.mean(gap * prob) * 100)

    bandit_gain = gain(chosen_p)
    random_p = p.mean(axis=1)
    single_j = int(np.argmax((gap[:, None] * p).mean(axis=0)))
    random_gain = gain(random_p)
    single_gain = gain(p[:, single_j])
    default_gain = gain(p[:, arm_index[DEFAULT_ARM.key]])
    oracle_gain = gain(best)
    regret = float(sum(weekly_regret))
    random_regret = float(np.sum(best - random_p) * weeks)
    single_regret = float(np.sum(best - p[:, single_j]) * weeks)
    last = min(4, weeks)
    metrics = {
        "regret": round(regret, 2),
        "regret_per_patient_week": round(regret / (n * weeks), 4),
        "regret_per_patient_week_last_4": round(sum(weekly_regret[-last:]) / (n * last), 4),
        "regret_per_patient_week_first_4": round(sum(weekly_regret[:last]) / (n * last), 4),
        "adherence_gain_pdc_points": round(bandit_gain, 3),
        "adherence_gain_vs_random": round(bandit_gain - random_gain, 3),
        "adherence_gain_vs_single": round(bandit_gain - single_gain, 3),
        "adherence_gain_vs_default": round(bandit_gain - default_gain, 3),
        "share_of_oracle_gain": round(bandit_gain / oracle_gain, 4) if oracle_gain else 0.0,
        "messages_per_patient_week": round(messages / (n * weeks), 3),
        "response_rate": round(responses / messages, 4) if messages else 0.0,
        "peak_rss_mb": peak_rss_mb(),
    }
    return BenchReport(
        benchmark="nudges",
        dataset=f"synthetic population, {n_patients} persons, seed {seed}; truth/nudge_response",
        n=n,
        metrics=metrics,
        baselines={
            "random arm": {
                "adherence_gain_pdc_points": round(random_gain, 3),
                "regret": round(random_regret, 2),
                "regret_per_patient_week": round(random_regret / (n * weeks), 4),
            },
            f"single best arm for all, chosen with hindsight ({ARMS[single_j].key})": {
                "adherence_gain_pdc_points": round(single_gain, 3),
                "regret": round(single_regret, 2),
            },
            f"default reminder ({DEFAULT_ARM.key})": {"adherence_gain_pdc_points": round(default_gain, 3)},
            "oracle (each patient's best arm)": {"adherence_gain_pdc_points": round(oracle_gain, 3), "regret": 0.0},
        },
        notes=[
            f"{n} patients with true PDC < 80%, {weeks} weeks, one nudge a week through the safety rules; "
            f"LinTS alpha {alpha}",
            "regret is expected (pseudo-)regret against each patient's best arm; gains are expected PDC points "
            "per patient-week",
        ],
    )
