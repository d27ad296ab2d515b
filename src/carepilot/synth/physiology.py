"""Each person's latent physiology over the record window: HbA1c, kidney function, blood pressure, lipids.

Values are drawn at the window start with a per-person linear trend; the record samples them at encounter
times with measurement noise, and treatment decisions change them after the decision date. Sources per line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carepilot.synth.conditions import Conditions
from carepilot.synth.people import People

# CKD stage mix among people with CKD (NHANES 2015-2018 in USRDS Annual Data Report 2022, ch. 1): G1-2 with
# albuminuria ~40% is folded into G2 here, G3a ~35%, G3b ~15%, G4 ~7%, G5 ~3%; eGFR range per stage (KDIGO
# 2012).
CKD_STAGES = (("G2", 60.0, 89.0, 0.30), ("G3a", 45.0, 59.0, 0.38), ("G3b", 30.0, 44.0, 0.19),
              ("G4", 15.0, 29.0, 0.10), ("G5", 8.0, 14.9, 0.03))  # fmt: skip


@dataclass
class Physiology:
    """Latent values at the window start (``*0``) and yearly slopes, one row per person."""

    hba1c0: np.ndarray
    hba1c_slope: np.ndarray
    egfr0: np.ndarray
    egfr_slope: np.ndarray
    sbp0: np.ndarray
    dbp0: np.ndarray
    hr0: np.ndarray
    ldl0: np.ndarray
    bnp0: np.ndarray
    hb0: np.ndarray
    k0: np.ndarray
    diabetes_years: np.ndarray

    def hba1c(self, i: int, years: float) -> float:
        """Untreated-trend HbA1c (%) of person ``i`` ``years`` after the window start."""
        return float(self.hba1c0[i] + self.hba1c_slope[i] * years)

    def egfr(self, i: int, years: float) -> float:
        """True eGFR (mL/min/1.73 m2) of person ``i`` ``years`` after the window start."""
        return float(max(self.egfr0[i] + self.egfr_slope[i] * years, 5.0))


def ckd_stage(egfr: float | np.ndarray) -> np.ndarray:
    """KDIGO G stage label from eGFR."""
    labels = np.array(["G5", "G4", "G3b", "G3a", "G2", "G1"])
    return labels[np.digitize(egfr, [15.0, 30.0, 45.0, 60.0, 90.0])]


def sample_physiology(
    rng: np.random.Generator, people: People, cond: Conditions, years: float, end: np.datetime64
) -> Physiology:
    """Draw every person's baseline physiology consistent with their conditions."""
    n = people.n
    has = cond.has
    age0 = people.age - years
    t2d = has["type2_diabetes"]
    metabolic = cond.factors["metabolic"]
    # HbA1c: NHANES 2015-2018 mean 7.5% (SD ~1.6) in diagnosed diabetes (Fang et al., NEJM 2021), 5.4% (0.35)
    # without; slow upward drift with diabetes duration (UKPDS: ~0.2%/year on conventional therapy).
    hba1c0 = np.where(
        t2d,
        np.clip(rng.normal(7.4 + 0.25 * metabolic, 1.1), 5.9, 13.0),
        np.clip(rng.normal(5.4 + 0.08 * metabolic, 0.3), 4.4, 6.3),
    )
    hba1c_slope = np.where(t2d, rng.normal(0.15, 0.15), 0.02)
    since = (end - cond.onset["type2_diabetes"]).astype("timedelta64[D]").astype(float) / 365.25
    diabetes_years = np.where(t2d, np.nan_to_num(np.maximum(since, 0.0), nan=0.0), 0.0)

    # eGFR without CKD: ~ 115 - 0.9/year after 30 (Wetzels et al., Kidney Int 2007), floored at 62.
    egfr_healthy = np.clip(115.0 - 0.9 * np.maximum(age0 - 30.0, 0.0) + rng.normal(0, 10, n), 62.0, 130.0)
    stage_p = np.array([s[3] for s in CKD_STAGES])
    stage = rng.choice(len(CKD_STAGES), size=n, p=stage_p / stage_p.sum())
    lo = np.array([s[1] for s in CKD_STAGES])[stage]
    hi = np.array([s[2] for s in CKD_STAGES])[stage]
    egfr_ckd = lo + rng.random(n) * (hi - lo)
    egfr0 = np.where(has["ckd"], egfr_ckd, egfr_healthy)
    # Decline: ~1 mL/min/year with age; 2-4 in CKD, faster in diabetes (KDIGO 2012; Levey & Coresh 2012).
    egfr_slope = np.where(has["ckd"], rng.normal(-2.5, 1.2, n), rng.normal(-1.0, 0.5, n)) - np.where(t2d, 0.8, 0.0)

    htn = has["hypertension"]
    sbp0 = np.where(htn, rng.normal(138, 14, n), rng.normal(116 + 0.25 * (age0 - 40), 10, n))
    dbp0 = np.clip(0.45 * sbp0 + 20 + rng.normal(0, 6, n) - 0.1 * np.maximum(age0 - 60, 0), 45, 120)
    hr0 = rng.normal(72, 9, n) + np.where(has["heart_failure"], 6, 0) + np.where(has["atrial_fibrillation"], 8, 0)
    ldl0 = np.clip(rng.normal(112, 30, n), 40, 250)
    bnp0 = np.where(
        has["heart_failure"],
        np.exp(rng.normal(np.log(380), 0.7, n)),
        np.exp(rng.normal(np.log(25 + 0.5 * np.maximum(age0 - 40, 0)), 0.6, n)),
    )
    hb0 = np.where(people.female, rng.normal(13.4, 1.0, n), rng.normal(14.9, 1.1, n))
    hb0 = hb0 - np.where(egfr0 < 45, 1.2, 0.0) - np.where(egfr0 < 30, 0.8, 0.0)  # anaemia of CKD
    k0 = rng.normal(4.2, 0.35, n) + np.where(egfr0 < 30, 0.4, 0.0)
    return Physiology(
        hba1c0=hba1c0,
        hba1c_slope=hba1c_slope,
        egfr0=egfr0,
        egfr_slope=egfr_slope,
        sbp0=sbp0,
        dbp0=dbp0,
        hr0=hr0,
        ldl0=ldl0,
        bnp0=bnp0,
        hb0=hb0,
        k0=k0,
        diabetes_years=diabetes_years,
    )


def ckd_epi_2021_egfr(creatinine_mg_dl: float, age: float, female: bool) -> float:
    """eGFR from serum creatinine by the race-free CKD-EPI 2021 equation (Inker et al., NEJM 2021)."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = creatinine_mg_dl / kappa
    egfr = 142.0 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age
    return egfr * 1.012 if female else egfr


def creatinine_for_egfr(egfr: float, age: float, female: bool) -> float:
    """Serum creatinine (mg/dL) that gives ``egfr`` under CKD-EPI 2021 (the equation inverted per branch)."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    base = 142.0 * 0.9938**age * (1.012 if female else 1.0)
    ratio = (egfr / base) ** (1.0 / alpha)  # branch creatinine <= kappa
    if ratio > 1.0:
        ratio = (egfr / base) ** (1.0 / -1.200)
    return ratio * kappa
