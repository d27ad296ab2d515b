"""Treatment decisions with confounded assignment and heterogeneous, known individual effects.

For each decision the generator draws, per eligible person: covariates at the decision date, the TRUE
propensity of every option (a multinomial logit of covariates that also move the outcome, so assignment is
confounded), the potential outcome under every option (effects that vary with the covariates plus an
idiosyncratic part), and the option given. The record then shows the option given and the outcome it leads to.
Effect sizes and their sources are written next to each model and in docs/synthetic-population.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from carepilot.synth.conditions import Conditions
from carepilot.synth.genomics import Genotypes, phenotype_array
from carepilot.synth.people import People
from carepilot.synth.physiology import Physiology

# Concrete drugs written for each option: (concept key, RxNorm ingredient code, dose mg, times per day).
DRUGS: dict[str, tuple[tuple[str, str, float, int], ...]] = {
    "sglt2": (("empagliflozin", "1545653", 10.0, 1), ("dapagliflozin", "1488564", 10.0, 1)),
    "glp1": (
        ("semaglutide", "1991302", 0.5, 1),
        ("dulaglutide", "1551291", 1.5, 1),
        ("liraglutide", "475968", 1.2, 1),
    ),
    "dpp4": (("sitagliptin", "593411", 100.0, 1), ("linagliptin", "1100699", 5.0, 1)),
    "su": (("glipizide", "4821", 5.0, 2), ("glimepiride", "25789", 2.0, 1)),
    "clopidogrel": (("clopidogrel", "32968", 75.0, 1),),
    "prasugrel": (("prasugrel", "613391", 10.0, 1),),
    "ticagrelor": (("ticagrelor", "1116632", 90.0, 2),),
    "sertraline": (("sertraline", "36437", 50.0, 1),),
    "escitalopram": (("escitalopram", "321988", 10.0, 1),),
    "bupropion": (("bupropion", "42347", 150.0, 1),),
    "mirtazapine": (("mirtazapine", "15996", 15.0, 1),),
    "warfarin_3mg": (("warfarin", "11289", 3.0, 1),),
    "warfarin_5mg": (("warfarin", "11289", 5.0, 1),),
    "warfarin_7_5mg": (("warfarin", "11289", 7.5, 1),),
}


@dataclass
class Decision:
    """One decision problem: who faced it, when, covariates, propensities and potential outcomes."""

    name: str
    options: tuple[str, ...]
    outcome: str  # name of the primary potential outcome
    person: np.ndarray  # person index per row
    day: np.ndarray  # decision time, days after the window start
    covariates: dict[str, np.ndarray]
    propensity: np.ndarray  # (rows, options)
    given: np.ndarray  # option index per row
    potential: dict[str, np.ndarray]  # outcome name -> (rows, options)
    realised: dict[str, np.ndarray] = field(default_factory=dict)  # outcome name -> (rows,) for the given option
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # other truth columns per row
    drug: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))  # concrete drug index per row

    def observed(self, outcome: str | None = None) -> np.ndarray:
        """The potential outcome of the option given, per row."""
        values = self.potential[outcome or self.outcome]
        return values[np.arange(len(self.given)), self.given]

    def individual_effects(self, treated: str, control: str, outcome: str | None = None) -> np.ndarray:
        """True individual effect ``Y(treated) - Y(control)`` per row."""
        values = self.potential[outcome or self.outcome]
        return values[:, self.options.index(treated)] - values[:, self.options.index(control)]

    def naive_difference(self, treated: str, control: str, outcome: str | None = None) -> float:
        """Observed mean outcome of those given ``treated`` minus that of those given ``control``."""
        y = self.observed(outcome)
        t = self.given == self.options.index(treated)
        c = self.given == self.options.index(control)
        if not t.any() or not c.any():
            return float("nan")
        return float(y[t].mean() - y[c].mean())

    def expected_naive_difference(self, treated: str, control: str, outcome: str | None = None) -> float:
        """The naive difference expected under the true propensities (assignment noise averaged out).

        ``sum_i e_t(x_i) Y_i(t) / sum_i e_t(x_i) - sum_i e_c(x_i) Y_i(c) / sum_i e_c(x_i)``: the mean outcome
        among those who would be given each option; it differs from the true ATE only through confounding.
        """
        values = self.potential[outcome or self.outcome]
        jt, jc = self.options.index(treated), self.options.index(control)
        et, ec = self.propensity[:, jt], self.propensity[:, jc]
        return float((et * values[:, jt]).sum() / et.sum() - (ec * values[:, jc]).sum() / ec.sum())

    def to_frame(self, patient_ids: np.ndarray, window_start: np.datetime64) -> pd.DataFrame:
        """The truth table ``decision_<name>.parquet``: one row per person who faced the decision."""
        data: dict[str, object] = {
            "patient_id": patient_ids[self.person].astype(str),
            "decision_time": pd.to_datetime(window_start + (self.day * 86400).astype("timedelta64[s]"), utc=True),
        }
        for key, values in self.covariates.items():
            data[f"x_{key}"] = values
        data["option_given"] = np.array(self.options, dtype=object)[self.given].astype(str)
        for j, option in enumerate(self.options):
            data[f"propensity_{option}"] = self.propensity[:, j]
        for name, values in self.potential.items():
            for j, option in enumerate(self.options):
                data[f"{name}_{option}"] = values[:, j]
        for name, values in self.realised.items():
            data[f"observed_{name}"] = values
        for key, values in self.extra.items():
            data[key] = values
        return pd.DataFrame(data)


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _assign(rng: np.random.Generator, propensity: np.ndarray) -> np.ndarray:
    u = rng.random(len(propensity))
    return (propensity.cumsum(axis=1) < u[:, None]).sum(axis=1).clip(0, propensity.shape[1] - 1)


def _choose_drug(rng: np.random.Generator, options: tuple[str, ...], given: np.ndarray) -> np.ndarray:
    counts = np.array([len(DRUGS[o]) for o in options])
    return (rng.random(len(given)) * counts[given]).astype(int)


def _risk_under_hazard_ratio(p0: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """Event probability when the hazard is scaled by ``hr`` (proportional hazards: 1 - (1 - p0)^hr)."""
    return 1.0 - (1.0 - p0) ** hr


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def t2d_addon(
    rng: np.random.Generator, people: People, cond: Conditions, phys: Physiology, window_days: float
) -> Decision:
    """Type 2 diabetes add-on to metformin: SGLT2i, GLP-1 RA, DPP-4i or sulfonylurea; HbA1c at 6 months."""
    options = ("sglt2", "glp1", "dpp4", "su")
    lo, hi = 90.0, window_days - 240.0
    candidates = np.flatnonzero(cond.has["type2_diabetes"]) if hi > lo else np.empty(0, dtype=int)
    day_all = lo + rng.random(len(candidates)) * max(hi - lo, 0.0)
    years = day_all / 365.25
    h_all = phys.hba1c0[candidates] + phys.hba1c_slope[candidates] * years
    keep = h_all >= 7.0  # ADA Standards of Care 2024: intensify when HbA1c is above a 7% goal
    idx, day, h0 = candidates[keep], day_all[keep], h_all[keep]
    m = len(idx)
    years = day / 365.25
    age = people.age[idx] - (window_days - day) / 365.25
    bmi = people.bmi[idx]
    egfr = np.maximum(phys.egfr0[idx] + phys.egfr_slope[idx] * years, 5.0)
    hf = cond.has["heart_failure"][idx]
    ckd = cond.has["ckd"][idx]
    chd = cond.has["coronary_disease"][idx]
    asian = people.race[idx] == "asian"
    rural = people.site[idx] == 2
    adherence = people.adherence[idx]
    duration = phys.diabetes_years[idx]

    # Potential HbA1c at 6 months. Common course: trend + small lifestyle/regression effect + shared noise.
    common = h0 + 0.5 * phys.hba1c_slope[idx] - 0.1 + rng.normal(0, 0.3, m)
    scale = 0.6 + 0.4 * adherence  # what a person takes is what works
    # Placebo-adjusted HbA1c reductions: SGLT2i -0.6 to -0.8 (Zaccardi et al., Diabetes Obes Metab 2016),
    # smaller
    # as eGFR falls and minimal below 30 (Cherney et al., Kidney Int 2014); GLP-1 RA -1.0 to -1.5 (SUSTAIN
    # 1-7;
    # Htike et al., Diabetes Obes Metab 2017); DPP-4i -0.5 to -0.7, ~0.3 more in Asian populations (Kim et
    # al.,
    # Diabetologia 2013); sulfonylurea -1.0 to -1.2 (Hirst et al., Diabetologia 2013), waning with diabetes
    # duration (UKPDS / ADOPT secondary failure). Larger reductions from higher baselines (DeFronzo 2010).
    effect = np.column_stack(
        [
            -(0.7 + 0.25 * (h0 - 8.0)) * np.clip((egfr - 25.0) / 35.0, 0.15, 1.0),
            -(1.25 + 0.35 * (h0 - 8.0)) - 0.02 * (bmi - 32.0),
            -(0.6 + 0.2 * (h0 - 8.0)) - 0.3 * asian,
            -(1.1 + 0.3 * (h0 - 8.0)) + 0.03 * np.minimum(duration, 15.0),
        ]
    )
    effect = np.minimum(effect, -0.05) * (1.0 + rng.normal(0, 0.2, (m, 4))) * scale[:, None]
    hba1c_6m = np.maximum(common[:, None] + effect, 5.0)

    # Cardio-renal event (HF hospitalisation, MI, stroke or kidney failure) within 2 years. Baseline logistic
    # model; hazard ratios: SGLT2i 0.70 with HF or CKD (DAPA-HF 0.74, CREDENCE 0.70, EMPA-KIDNEY 0.72) and
    # 0.88
    # otherwise (EMPA-REG MACE 0.86); GLP-1 RA 0.80 with coronary disease (LEADER 0.87, SUSTAIN-6 0.74) and
    # 0.92
    # otherwise; DPP-4i 1.00 (TECOS); sulfonylurea 1.00 (CAROLINA vs linagliptin).
    p0 = _logistic(-3.6 + 0.04 * (age - 60.0) + 1.1 * hf + 0.7 * ckd + 0.6 * chd + 0.02 * np.maximum(60.0 - egfr, 0))
    hr = np.column_stack([np.where(hf | ckd, 0.70, 0.88), np.where(chd, 0.80, 0.92), np.ones(m), np.ones(m)])
    event_risk = _risk_under_hazard_ratio(p0[:, None], hr)

    # Who gets what (ADA 2024 practice: SGLT2i for HF/CKD, GLP-1 RA for obesity and high HbA1c, DPP-4i in
    # older
    # or low-eGFR patients, sulfonylurea where cost matters (the rural site)).
    scores = np.column_stack(
        [
            1.2 * hf + 0.8 * ckd + 0.4 * chd - 2.0 * (egfr < 30) - 0.3 * (age > 75),
            -0.3 + 0.1 * (bmi - 30.0) + 0.9 * (h0 - 8.0) + 0.3 * chd - 0.02 * (age - 60.0),
            -0.4 + 0.03 * (age - 60.0) + 0.6 * (egfr < 45) + 0.4 * asian,
            -0.3 + 0.4 * (h0 - 8.0) + 0.8 * rural + 0.02 * (age - 60.0),
        ]
    )
    propensity = _softmax(scores)
    given = _assign(rng, propensity)
    events = rng.random(m) < event_risk[np.arange(m), given]
    event_day = day + 30.0 + rng.random(m) * 700.0
    return Decision(
        name="t2d_addon",
        options=options,
        outcome="hba1c_6m",
        person=idx,
        day=day,
        covariates={
            "age": age,
            "female": people.female[idx],
            "bmi": bmi,
            "egfr": egfr,
            "hba1c": h0,
            "heart_failure": hf,
            "ckd": ckd,
            "coronary_disease": chd,
            "asian": asian,
            "site": people.site[idx],
            "adherence": adherence,
            "diabetes_years": duration,
        },
        propensity=propensity,
        given=given,
        potential={"hba1c_6m": hba1c_6m, "cardiorenal_risk_2y": event_risk},
        realised={"hba1c_6m": hba1c_6m[np.arange(m), given], "cardiorenal_event": events},
        extra={"cardiorenal_event_day": np.where(events, event_day, np.nan)},
        drug=_choose_drug(rng, options, given),
    )


def antiplatelet(
    rng: np.random.Generator,
    people: People,
    cond: Conditions,
    phys: Physiology,
    geno: Genotypes,
    window_days: float,
) -> Decision:
    """P2Y12 inhibitor after an ACS: clopidogrel, prasugrel or ticagrelor; 12-month MACE."""
    options = ("clopidogrel", "prasugrel", "ticagrelor")
    chd = np.flatnonzero(cond.has["coronary_disease"])
    # ~3%/year of people with coronary disease have an ACS (AHA 2023 statistics), enriched here to 35% over
    # the
    # window so the decision has enough rows at small N.
    idx = chd[rng.random(len(chd)) < 0.35] if window_days > 120 else np.empty(0, dtype=int)
    m = len(idx)
    day = 30.0 + rng.random(m) * (window_days - 60.0)
    age = people.age[idx] - (window_days - day) / 365.25
    weight = people.weight_kg[idx]
    t2d = cond.has["type2_diabetes"][idx]
    ckd = cond.has["ckd"][idx]
    hf = cond.has["heart_failure"][idx]
    af = cond.has["atrial_fibrillation"][idx]
    smoker = cond.smoker[idx]
    pheno = phenotype_array(geno, "CYP2C19")[idx]
    pm = pheno == "Poor Metabolizer"
    im = pheno == "Intermediate Metabolizer"

    # 12-month MACE on clopidogrel ~10-12% (PLATO, TRITON control arms). Hazard ratios: prasugrel 0.81
    # (TRITON-
    # TIMI 38), no net benefit at age >= 75 or weight < 60 kg (TRITON label subgroups); ticagrelor 0.84
    # (PLATO);
    # clopidogrel in CYP2C19 reduced-function carriers 1.53 (one allele) and 1.76 (two) (Mega et al., JAMA
    # 2010).
    p0 = _logistic(-2.3 + 0.03 * (age - 65.0) + 0.45 * t2d + 0.45 * ckd + 0.4 * hf + 0.3 * smoker)
    frail = (age >= 75) | (weight < 60)
    hr = np.column_stack(
        [
            np.where(pm, 1.76, np.where(im, 1.53, 1.0)),
            np.where(frail, 1.0, 0.81),
            np.full(m, 0.84),
        ]
    )
    hr = hr * np.exp(rng.normal(0, 0.1, (m, 3)))
    mace = _risk_under_hazard_ratio(p0[:, None], hr)
    # Major bleeding: ~3%/year on clopidogrel; prasugrel HR 1.32 (TRITON), ticagrelor 1.19 (PLATO, non-CABG).
    b0 = _logistic(-3.6 + 0.04 * (age - 65.0) + 0.8 * af + 0.3 * ckd)
    bleed = _risk_under_hazard_ratio(b0[:, None], np.column_stack([np.ones(m), np.full(m, 1.32), np.full(m, 1.19)]))
    # Assignment: clopidogrel for older, anticoagulated (AF) or CKD patients (bleeding concern); prasugrel for
    # younger PCI patients; genotype is rarely known at the bedside, so it does not enter the propensity.
    scores = np.column_stack(
        [
            0.06 * (age - 65.0) + 1.0 * af + 0.5 * ckd,
            -0.5 - 0.06 * (age - 65.0) - 1.5 * (age >= 75) - 0.8 * (weight < 60),
            0.3 - 0.02 * (age - 65.0),
        ]
    )
    propensity = _softmax(scores)
    given = _assign(rng, propensity)
    events = rng.random(m) < mace[np.arange(m), given]
    return Decision(
        name="antiplatelet",
        options=options,
        outcome="mace_risk_12m",
        person=idx,
        day=day,
        covariates={
            "age": age,
            "female": people.female[idx],
            "weight": weight,
            "type2_diabetes": t2d,
            "ckd": ckd,
            "heart_failure": hf,
            "atrial_fibrillation": af,
            "smoker": smoker,
            "cyp2c19_phenotype": pheno.astype(str),
        },
        propensity=propensity,
        given=given,
        potential={"mace_risk_12m": mace, "bleed_risk_12m": bleed},
        realised={"mace_12m": events},
        extra={"mace_day": np.where(events, day + 14.0 + rng.random(m) * 350.0, np.nan)},
        drug=np.zeros(m, dtype=int),
    )


# IWPC pharmacogenetic dosing equation (International Warfarin Pharmacogenetics Consortium, NEJM 2009;
# 360:753-764, appendix): sqrt(weekly dose in mg).
IWPC = {
    "intercept": 5.6044,
    "age_decades": -0.2614,
    "height_cm": 0.0087,
    "weight_kg": 0.0128,
    "vkorc1_ag": -0.8677,
    "vkorc1_aa": -1.6974,
    "cyp2c9_12": -0.5211,
    "cyp2c9_13": -0.9357,
    "cyp2c9_22": -1.0616,
    "cyp2c9_23": -1.9206,
    "cyp2c9_33": -2.3312,
    "asian": -0.1092,
    "black": -0.2760,
    "mixed_or_missing_race": -0.1032,
    "enzyme_inducer": 1.1816,
    "amiodarone": -0.5503,
}


def iwpc_sqrt_dose(
    age: np.ndarray,
    height: np.ndarray,
    weight: np.ndarray,
    vkorc1_t: np.ndarray,
    cyp2c9_class: np.ndarray,
    race: np.ndarray,
    amiodarone: np.ndarray,
) -> np.ndarray:
    """IWPC equation: sqrt(weekly warfarin dose); ``cyp2c9_class`` in {'11','12','13','22','23','33'}."""
    c = IWPC
    out = c["intercept"] + c["age_decades"] * np.floor(age / 10.0) + c["height_cm"] * height
    out = out + c["weight_kg"] * weight
    out = out + np.where(vkorc1_t == 1, c["vkorc1_ag"], 0.0) + np.where(vkorc1_t == 2, c["vkorc1_aa"], 0.0)
    for key in ("12", "13", "22", "23", "33"):
        out = out + np.where(cyp2c9_class == key, c[f"cyp2c9_{key}"], 0.0)
    out = out + np.where(race == "asian", c["asian"], 0.0) + np.where(race == "black", c["black"], 0.0)
    out = out + np.where(np.isin(race, ["aian", "nhpi"]), c["mixed_or_missing_race"], 0.0)
    return out + np.where(amiodarone, c["amiodarone"], 0.0)


def cyp2c9_class(geno: Genotypes, idx: np.ndarray) -> np.ndarray:
    """Map CYP2C9 diplotypes to the IWPC classes (*2-like decreased, *3-like no function alleles)."""
    # Allele order in the table: *1, *2, *3, *5, *8, *11, *6. Decreased-function alleles count as *2, no-
    # function
    # as *3 (the IWPC equation only has *2 and *3; Asian and African alleles mapped by function, as CPIC
    # does).
    to_class = np.array(["1", "2", "3", "2", "2", "2", "3"])
    a = to_class[geno.first["CYP2C9"][idx]]
    b = to_class[geno.second["CYP2C9"][idx]]
    pair = np.where(a <= b, np.char.add(a, b), np.char.add(b, a))
    return pair


def warfarin(
    rng: np.random.Generator,
    people: People,
    cond: Conditions,
    geno: Genotypes,
    amiodarone: np.ndarray,
    on_warfarin: np.ndarray,
    window_days: float,
) -> Decision:
    """Warfarin starting dose (3, 5 or 7.5 mg/day) given the unknown true requirement; INR on day 7."""
    options = ("warfarin_3mg", "warfarin_5mg", "warfarin_7_5mg")
    daily = np.array([3.0, 5.0, 7.5])
    idx = np.flatnonzero(on_warfarin) if window_days > 120 else np.empty(0, dtype=int)
    m = len(idx)
    day = 14.0 + rng.random(m) * min(120.0, window_days - 90.0)
    age = people.age[idx] - (window_days - day) / 365.25
    height = people.height_cm[idx]
    weight = people.weight_kg[idx]
    race = people.race[idx]
    vk = (geno.first["VKORC1"][idx] + geno.second["VKORC1"][idx]).astype(int)  # number of T (-1639A) alleles
    c9 = cyp2c9_class(geno, idx)
    amio = amiodarone[idx]
    sqrt_pred = iwpc_sqrt_dose(age, height, weight, vk, c9, race, amio)
    # True requirement = IWPC prediction + person-level residual: SD 0.9 on the sqrt scale reproduces the IWPC
    # validation MAE of ~8.5 mg/week at the cohort's mean dose (NEJM 2009: MAE 8.5, R^2 0.43-0.47).
    true_week = np.clip(sqrt_pred + rng.normal(0, 0.9, m), 1.0, 12.0) ** 2
    # INR on day 7 of a fixed daily dose: steady-state INR ~ 1 + 1.5 * dose / requirement (2.5 at the stable
    # dose, the middle of the 2-3 range), ~85% reached by day 7 (warfarin half-life ~40 h; Hirsh, Chest 2008).
    ratio = (daily[None, :] * 7.0) / true_week[:, None]
    sensitivity = np.exp(rng.normal(0, 0.08, m))[:, None]
    inr7 = 1.0 + 0.85 * 1.5 * ratio * sensitivity
    # Clinicians start lower in the old, the light, Asian patients and with amiodarone (ACCP 2012 / CHEST),
    # which
    # are also what lowers the requirement: confounded.
    scores = np.column_stack(
        [
            0.06 * (age - 70.0) + 1.2 * amio + 0.8 * (race == "asian") - 0.03 * (weight - 80.0),
            np.full(m, 0.8),
            -1.2 - 0.05 * (age - 70.0) + 0.03 * (weight - 80.0) - 1.5 * amio,
        ]
    )
    propensity = _softmax(scores)
    given = _assign(rng, propensity)
    return Decision(
        name="warfarin",
        options=options,
        outcome="inr_day7",
        person=idx,
        day=day,
        covariates={
            "age": age,
            "height_cm": height,
            "weight_kg": weight,
            "race": race.astype(str),
            "vkorc1_t_alleles": vk,
            "cyp2c9_iwpc_class": c9.astype(str),
            "amiodarone": amio,
        },
        propensity=propensity,
        given=given,
        potential={"inr_day7": inr7},
        realised={"inr_day7": inr7[np.arange(m), given]},
        extra={
            "true_weekly_dose_mg": true_week,
            "iwpc_predicted_weekly_dose_mg": np.clip(sqrt_pred, 0, None) ** 2,
        },
        drug=np.zeros(m, dtype=int),
    )


def antidepressant(
    rng: np.random.Generator, people: People, cond: Conditions, geno: Genotypes, window_days: float
) -> Decision:
    """Antidepressant choice (sertraline, escitalopram, bupropion, mirtazapine); PHQ-9 at 12 weeks."""
    options = ("sertraline", "escitalopram", "bupropion", "mirtazapine")
    dep = np.flatnonzero(cond.has["depression"])
    idx = dep[rng.random(len(dep)) < 0.6] if window_days > 150 else np.empty(0, dtype=int)
    m = len(idx)
    day = 30.0 + rng.random(m) * (window_days - 130.0)
    age = people.age[idx] - (window_days - day) / 365.25
    bmi = people.bmi[idx]
    female = people.female[idx]
    phq0 = np.clip(np.round(rng.normal(16.0, 3.5, m)), 10, 27)
    anxiety = rng.random(m) < 0.5  # ~half of major depression has comorbid anxiety (Kessler 2003, NCS-R)
    insomnia = rng.random(m) < 0.4
    c19 = phenotype_array(geno, "CYP2C19")[idx]
    d6 = phenotype_array(geno, "CYP2D6")[idx]

    # Course at 12 weeks without a specific drug effect: ~30% improvement (placebo response; Furukawa 2016).
    common = phq0 - (4.5 + 0.15 * (phq0 - 16.0)) + rng.normal(0, 2.5, m)
    # Drug-specific extra improvement ~2 PHQ-9 points (SMD ~0.3; Cipriani et al., Lancet 2018), modified by
    # CYP2C19 for the SSRIs (CPIC 2023 SSRI guideline, Bousman et al.: poor metabolisers have higher exposure
    # and
    # more intolerance, ultrarapid/rapid lower exposure and less response), by anxiety and insomnia for
    # bupropion
    # and mirtazapine (assumption from clinical practice, stated in docs), slightly by CYP2D6 for mirtazapine.
    c19_pm = c19 == "Poor Metabolizer"
    c19_fast = np.isin(c19, ["Ultrarapid Metabolizer", "Rapid Metabolizer"])
    c19_um = c19 == "Ultrarapid Metabolizer"
    extra = np.column_stack(
        [
            2.0 * np.where(c19_pm, 0.75, 1.0) * np.where(c19_um, 0.85, 1.0),
            2.4 * np.where(c19_pm, 0.55, 1.0) * np.where(c19_um, 0.4, np.where(c19_fast, 0.8, 1.0)),
            1.9 * np.where(anxiety, 0.55, 1.0) * np.where(insomnia, 0.8, 1.0),
            2.1 * np.where(insomnia, 1.8, 1.0) * np.where(d6 == "Poor Metabolizer", 0.85, 1.0),
        ]
    )
    extra = extra * (1.0 + rng.normal(0, 0.3, (m, 4))) * (0.6 + 0.4 * people.adherence[idx])[:, None]
    phq_12w = np.clip(common[:, None] - extra, 0.0, 27.0)
    scores = np.column_stack(
        [
            np.full(m, 0.5),
            np.full(m, 0.4),
            -0.6 + 0.6 * (bmi > 30) + 0.4 * (age < 40) - 0.8 * anxiety,
            -1.4 + 2.0 * insomnia + 0.04 * (age - 50.0) - 0.6 * (bmi > 30),
        ]
    )
    propensity = _softmax(scores)
    given = _assign(rng, propensity)
    return Decision(
        name="antidepressant",
        options=options,
        outcome="phq9_12w",
        person=idx,
        day=day,
        covariates={
            "age": age,
            "female": female,
            "bmi": bmi,
            "phq9": phq0,
            "anxiety": anxiety,
            "insomnia": insomnia,
            "cyp2c19_phenotype": c19.astype(str),
            "cyp2d6_phenotype": d6.astype(str),
        },
        propensity=propensity,
        given=given,
        potential={"phq9_12w": phq_12w},
        realised={"phq9_12w": phq_12w[np.arange(m), given]},
        drug=np.zeros(m, dtype=int),
    )
