"""One person's longitudinal record as FHIR resources: encounters, labs, vitals, medications, fills,
allergies, PHQ-9, genomics, plus the truth rows (readmissions, progression) the record implies.

Per-patient work is a plain Python loop over a few dozen events; random numbers come from one numpy Generator
per chunk, drawn in blocks (``Draws``) because a numpy call per scalar would dominate the run time.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from carepilot.fhir import builders as fb
from carepilot.synth.conditions import CANCERS, Conditions, condition_code
from carepilot.synth.decisions import DRUGS, Decision
from carepilot.synth.genomics import HGNC_IDS, PGX_GENES, Genotypes, TumourFinding, phenotype
from carepilot.synth.medications import Background, Regimen
from carepilot.synth.outcomes import readmission_risk
from carepilot.synth.people import LANGUAGES, People
from carepilot.synth.physiology import Physiology, ckd_epi_2021_egfr, creatinine_for_egfr
from carepilot.synth.tables import load_table

LOINC = fb.LOINC
C_HBA1C = (LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")
C_HBA1C_IFCC = (LOINC, "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol")
C_GLUCOSE = (LOINC, "2345-7", "Glucose [Mass/volume] in Serum or Plasma")
C_GLUCOSE_MOL = (LOINC, "14749-6", "Glucose [Moles/volume] in Serum or Plasma")
C_CREAT = (LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma")
C_CREAT_MOL = (LOINC, "14682-9", "Creatinine [Moles/volume] in Serum or Plasma")
C_EGFR = (
    LOINC,
    "98979-8",
    "Glomerular filtration rate/1.73 sq M.predicted by Creatinine-based formula (CKD-EPI 2021)",
)
C_K = (LOINC, "2823-3", "Potassium [Moles/volume] in Serum or Plasma")
C_LDL = (LOINC, "18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay")
C_BNP = (LOINC, "30934-4", "Natriuretic peptide B [Mass/volume] in Serum or Plasma")
C_INR = (LOINC, "6301-6", "INR in Platelet poor plasma by Coagulation assay")
C_HB = (LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood")
C_BP = (LOINC, "85354-9", "Blood pressure panel with all children optional")
C_SBP = (LOINC, "8480-6", "Systolic blood pressure")
C_DBP = (LOINC, "8462-4", "Diastolic blood pressure")
C_HR = (LOINC, "8867-4", "Heart rate")
C_RR = (LOINC, "9279-1", "Respiratory rate")
C_SPO2 = (LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")
C_TEMP = (LOINC, "8310-5", "Body temperature")
C_WEIGHT = (LOINC, "29463-7", "Body weight")
C_HEIGHT = (LOINC, "8302-2", "Body height")
C_BMI = (LOINC, "39156-5", "Body mass index (BMI) [Ratio]")
C_PHQ9 = (LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]")
C_PHQ9_ITEM9 = (
    LOINC,
    "44260-8",
    "Thoughts that you would be better off dead, or of hurting yourself in some way",
)
C_ER = (LOINC, "85337-4", "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain")
C_PR = (LOINC, "85339-0", "Progesterone receptor Ag [Presence] in Breast cancer specimen by Immune stain")
C_MSI = (LOINC, "81695-9", "Microsatellite instability [Interpretation] in Cancer specimen Qualitative")
C_VARIANT = (LOINC, "81252-9", "Discrete genetic variant")
C_VARIANT_ASSESS = (LOINC, "69548-6", "Genetic variant assessment")

ENC_AMB = ("185349003", "Encounter for check up")
ENC_EMER = ("50849002", "Emergency room admission")
ENC_IMP = ("32485007", "Hospital admission")
REASON_MI = ("22298006", "Myocardial infarction")
REASON_HF = ("84114007", "Heart failure")
REASON_COPD = ("195951007", "Acute exacerbation of chronic obstructive airways disease")
REASON_HYPERGLYCAEMIA = ("80394007", "Hyperglycemia")
REASON_PNEUMONIA = ("233604007", "Pneumonia")
REASON_GENERAL = ("267036007", "Dyspnea")
DISPOSITIONS = (
    ("home", "Home", 0.74),
    ("alt-home", "Alternative home", 0.06),
    ("snf", "Skilled nursing facility", 0.11),
    ("rehab", "Rehabilitation", 0.05),
    ("other-hcf", "Other healthcare facility", 0.03),
    ("aadvice", "Left against advice", 0.01),
)
DISPOSITION_CUM = np.cumsum([d[2] for d in DISPOSITIONS]).tolist()

# Allergy labels (Macy & Contreras, J Allergy Clin Immunol 2014: penicillin ~8-10%, sulfonamide ~3%).
ALLERGIES = (
    (0.09, (fb.RXNORM, "7980", "penicillin"), ("247472004", "Wheal"), "low"),
    (0.03, (fb.RXNORM, "10180", "sulfamethoxazole"), ("271807003", "Eruption of skin"), "low"),
)
POSITIVE = fb.codeable(fb.SNOMED, "10828004", "Positive")
NEGATIVE = fb.codeable(fb.SNOMED, "260385009", "Negative")
MSI_HIGH = fb.codeable(LOINC, "LA26203-2", "MSI-H", text="MSI-H")
MSI_STABLE = fb.codeable(LOINC, "LA14122-8", "Stable", text="MSS")
ALT_UNIT_RATE = 0.10  # share of lab results that arrive in an alternative unit


class Draws:
    """Standard normals and uniforms drawn in blocks from a numpy Generator (fast scalar access)."""

    def __init__(self, rng: np.random.Generator, block: int = 2048) -> None:
        self.rng = rng
        self.block = block
        self._z: list[float] = []
        self._u: list[float] = []

    def z(self) -> float:
        if not self._z:
            self._z = self.rng.standard_normal(self.block).tolist()
        return self._z.pop()

    def u(self) -> float:
        if not self._u:
            self._u = self.rng.random(self.block).tolist()
        return self._u.pop()

    def poisson(self, lam: float) -> int:
        return int(self.rng.poisson(lam))


class Ids:
    """Resource ids for one patient: the patient's UUID prefix with a counter (unique, deterministic)."""

    def __init__(self, patient_uuid: str) -> None:
        self.prefix = patient_uuid[:24]
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count:012x}"


@dataclass
class Encounter:
    day: float
    klass: str  # AMB | EMER | IMP
    los: float = 0.0
    reason: tuple[str, str] | None = None
    tags: set[str] = field(default_factory=set)
    disposition: tuple[str, str] | None = None
    readmission: tuple[float, bool, dict[str, float | str]] | None = None  # true risk, readmitted, covariates


@dataclass
class LabPerson:
    """How one person appears in the outside lab source (noisy demographics, own ids)."""

    patient_id: str
    identifier: str
    given: str
    family: str
    birth_date: str
    phone: str | None
    noise: str  # which noise was applied, for truth


@dataclass
class RecordContext:
    """Population-level inputs the per-patient builder reads."""

    people: People
    cond: Conditions
    phys: Physiology
    background: Background
    genotypes: Genotypes
    tumour: dict[int, list[TumourFinding]]
    decisions: dict[int, list[tuple[Decision, int]]]
    deterioration: dict[int, tuple[str, float, float]]
    lab_people: dict[int, LabPerson]
    pgx_tested: np.ndarray
    site_orgs: list[dict[str, Any]]
    site_places: list[tuple[str, str, str]]  # city, state, postal code per site
    lab_org: dict[str, Any]
    site_mrn_systems: list[str]
    lab_identifier_system: str
    window_start_s: int
    window_days: float


@dataclass
class PatientOutput:
    """Everything one person contributes."""

    ehr: list[dict[str, Any]]
    lab: list[dict[str, Any]]
    readmissions: list[tuple[str, str, float, float, bool, dict[str, float | str]]]
    progression: list[tuple[str, float, float, float]]


def iso(start_s: int, day: float) -> str:
    """UTC timestamp ``day`` days after the window start, as a FHIR instant."""
    seconds = start_s + int(day * 86400.0)
    date = _date_text(seconds // 86400)
    rest = seconds % 86400
    return f"{date}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}Z"


@lru_cache(maxsize=65536)
def _date_text(epoch_day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_day * 86400))


def iso_date(start_s: int, day: float) -> str:
    """Calendar date ``day`` days after the window start."""
    return _date_text((start_s + int(day * 86400.0)) // 86400)


class PatientRecordBuilder:
    """Builds one person's record; ``build`` is the only public entry point."""

    def __init__(self, ctx: RecordContext, i: int, draws: Draws) -> None:
        self.ctx = ctx
        self.i = i
        self.d = draws
        self.p = ctx.people
        self.pid = str(ctx.people.patient_id[i])
        self.ids = Ids(self.pid)
        self.out: list[dict[str, Any]] = []
        self.readmissions: list[tuple[str, str, float, float, bool, dict[str, float | str]]] = []
        self.site = int(ctx.people.site[i])
        self.org_id = ctx.site_orgs[self.site]["id"]
        self.female = bool(ctx.people.female[i])
        self.age_end = float(ctx.people.age[i])
        self.has = {c: bool(ctx.cond.has[c][i]) for c in ctx.cond.names}
        self.n_chronic = sum(v for c, v in self.has.items() if c not in CANCERS)
        self.t2d_decision: tuple[Decision, int] | None = None
        self.dep_decision: tuple[Decision, int] | None = None
        self.warfarin_decision: tuple[Decision, int] | None = None
        for dec, row in ctx.decisions.get(i, []):
            if dec.name == "t2d_addon":
                self.t2d_decision = (dec, row)
            elif dec.name == "antidepressant":
                self.dep_decision = (dec, row)
            elif dec.name == "warfarin":
                self.warfarin_decision = (dec, row)
        self.on_warfarin = bool(ctx.background.on_warfarin[i])
        self.statin = bool(ctx.background.statin[i])
        # Python floats once per person: numpy scalar arithmetic per observation would dominate the run time.
        phys = ctx.phys
        self.v = {
            name: float(getattr(phys, name)[i])
            for name in (
                "hba1c0",
                "hba1c_slope",
                "egfr0",
                "egfr_slope",
                "sbp0",
                "dbp0",
                "hr0",
                "ldl0",
                "bnp0",
                "hb0",
                "k0",
            )
        }
        self.height_m = float(ctx.people.height_cm[i]) / 100.0
        self.weight = float(ctx.people.bmi[i]) * self.height_m**2
        self.adherence = float(ctx.people.adherence[i])
        self.t2d: tuple[float, float, float] | None = None
        if self.t2d_decision is not None:
            dec, row = self.t2d_decision
            self.t2d = (float(dec.day[row]), float(dec.covariates["hba1c"][row]), float(dec.observed()[row]))
        self.dep: tuple[float, float, float] | None = None
        if self.dep_decision is not None:
            dec, row = self.dep_decision
            self.dep = (float(dec.day[row]), float(dec.covariates["phq9"][row]), float(dec.observed()[row]))

    # ------------------------------------------------------------------ latent values at a time
    def age_at(self, day: float) -> float:
        return self.age_end - (self.ctx.window_days - day) / 365.25

    def hba1c(self, day: float) -> float:
        v = self.v
        value = v["hba1c0"] + v["hba1c_slope"] * day / 365.25
        if self.t2d is not None:
            d0, h0, y = self.t2d
            if d0 <= day <= d0 + 182.0:
                value = h0 + (y - h0) * (day - d0) / 182.0
            elif day > d0 + 182.0:
                value = y + v["hba1c_slope"] * (day - d0 - 182.0) / 365.25
        return value

    def egfr(self, day: float) -> float:
        return max(self.v["egfr0"] + self.v["egfr_slope"] * day / 365.25, 5.0)

    def phq9(self, day: float) -> float:
        if self.dep is not None:
            d0, base, y = self.dep
            if day < d0:
                return base - 1.0
            frac = min((1.0 - math.exp(-(day - d0) / 28.0)) / (1.0 - math.exp(-3.0)), 1.0)
            return base + (y - base) * frac
        return 11.0 if self.has["depression"] else 2.0

    # ------------------------------------------------------------------ resource helpers
    def t(self, day: float) -> str:
        return iso(self.ctx.window_start_s, day)

    def obs(
        self, code: tuple[str, str, str], value: float, unit: str, day: float, category: str, enc: str | None
    ) -> None:
        self.out.append(
            fb.observation_quantity(
                self.ids.next(),
                self.pid,
                code=code,
                value=value,
                unit=unit,
                effective=self.t(day),
                category=category,
                encounter_id=enc,
            )
        )

    def build(self) -> PatientOutput:
        ctx = self.ctx
        self.out.append(self.patient_resource())
        first_day = self.conditions()
        self.allergies(first_day)
        encounters = self.schedule()
        for enc in encounters:
            self.encounter(enc)
        self.medications(encounters)
        self.genomics()
        lab = self.lab_source() if self.i in ctx.lab_people else []
        progression = [
            (self.pid, float(day), self.hba1c(day), self.egfr(day)) for day in np.arange(0.0, ctx.window_days, 182.625)
        ]
        return PatientOutput(ehr=self.out, lab=lab, readmissions=self.readmissions, progression=progression)

    def patient_resource(self) -> dict[str, Any]:
        p, i = self.p, self.i
        races = load_table("population")["race"]
        race_code = races["codes"][p.race[i]]
        ethnicity = races["hispanic"] if p.hispanic[i] else races["not_hispanic"]
        city, state, postal = self.ctx.site_places[self.site]
        return fb.patient(
            self.pid,
            identifiers=[fb.identifier(self.ctx.site_mrn_systems[self.site], str(p.mrn[i]))],
            family=str(p.family[i]),
            given=[str(p.given[i])],
            gender="female" if self.female else "male",
            birth_date=str(p.birth_date[i]),
            race=(race_code[0], race_code[1]),
            ethnicity=(ethnicity[0], ethnicity[1]),
            language=LANGUAGES[p.language[i]],
            address=fb.address(str(p.street[i]), city, state, postal),
            phone=str(p.phone[i]),
            managing_organization=self.org_id,
        )

    def conditions(self) -> float:
        start_s = self.ctx.window_start_s
        onset_day_min = 0.0
        for name in self.ctx.cond.names:
            if not self.has[name]:
                continue
            onset = self.ctx.cond.onset[name][self.i]
            onset_s = int(onset.astype("datetime64[s]").astype(np.int64))
            day = (onset_s - start_s) / 86400.0
            code, display = condition_code(name)
            self.out.append(
                fb.condition(
                    self.ids.next(),
                    self.pid,
                    code=(fb.SNOMED, code, display),
                    onset=str(onset),
                    recorded=str(onset),
                )
            )
            onset_day_min = min(onset_day_min, day)
        return onset_day_min

    def allergies(self, first_day: float) -> None:
        for rate, code, reaction, criticality in ALLERGIES:
            if self.d.u() < rate:
                day = min(first_day, 0.0) - 30.0 - 2000.0 * self.d.u()
                self.out.append(
                    fb.allergy(
                        self.ids.next(),
                        self.pid,
                        code=code,
                        recorded=iso_date(self.ctx.window_start_s, day),
                        reaction=reaction,
                        criticality=criticality,
                    )
                )

    # ------------------------------------------------------------------ encounter schedule
    def schedule(self) -> list[Encounter]:
        ctx, d = self.ctx, self.d
        wd = ctx.window_days
        years = wd / 365.25
        encs: list[Encounter] = []
        n_amb = max(1, d.poisson(years * (1.0 + 0.7 * min(self.n_chronic, 5))))
        for _ in range(n_amb):
            encs.append(Encounter(d.u() * wd, "AMB"))
        for _ in range(d.poisson(years * (0.08 + 0.07 * self.n_chronic))):
            encs.append(Encounter(d.u() * wd, "EMER", reason=REASON_GENERAL))
        for dec, row in ctx.decisions.get(self.i, []):
            d0 = float(dec.day[row])
            if dec.name == "t2d_addon":
                encs.append(Encounter(d0, "AMB", tags={"t2d_start"}))
                encs.append(Encounter(d0 + 182.0, "AMB", tags={"t2d_followup"}))
            elif dec.name == "antidepressant":
                encs.append(Encounter(d0, "AMB", tags={"dep_start"}))
                encs.append(Encounter(d0 + 28.0, "AMB", tags={"phq"}))
                encs.append(Encounter(d0 + 56.0, "AMB", tags={"phq"}))
                encs.append(Encounter(d0 + 84.0, "AMB", tags={"phq", "phq12"}))
            elif dec.name == "warfarin":
                encs.append(Encounter(d0, "AMB", tags={"warfarin_start"}))
                encs.append(Encounter(d0 + 7.0, "AMB", tags={"inr7"}))
                encs.append(Encounter(d0 + 35.0, "AMB", tags={"warfarin_maintenance"}))
        # Inpatient stays: index admissions + event admissions, each discharge draws a 30-day readmission.
        admissions: list[tuple[float, tuple[str, str], frozenset[str]]] = []
        rate = 0.02 + 0.04 * self.n_chronic + 0.15 * self.has["heart_failure"] + 0.08 * self.has["copd"]
        for _ in range(d.poisson(years * rate)):
            admissions.append((d.u() * wd, REASON_HF if self.has["heart_failure"] else REASON_PNEUMONIA, frozenset()))
        for dec, row in ctx.decisions.get(self.i, []):
            if dec.name == "antiplatelet":
                admissions.append((float(dec.day[row]), REASON_MI, frozenset({"acs"})))
                mace_day = dec.extra["mace_day"][row]
                if not math.isnan(mace_day):
                    admissions.append((float(mace_day), REASON_MI, frozenset({"mace"})))
            if dec.name == "t2d_addon":
                ev = dec.extra["cardiorenal_event_day"][row]
                if not math.isnan(ev):
                    reason = REASON_HF if (self.has["heart_failure"] or self.has["ckd"]) else REASON_MI
                    admissions.append((float(ev), reason, frozenset({"cardiorenal"})))
        det = ctx.deterioration.get(self.i)
        if det is not None:
            kind, _drift, event_day = det
            reason = {"heart_failure": REASON_HF, "copd": REASON_COPD}.get(kind, REASON_HYPERGLYCAEMIA)
            encs.append(Encounter(event_day, "EMER", reason=reason, tags={"deterioration"}))
        encs.extend(self.inpatient(admissions))
        encs = [e for e in encs if e.day >= 0.0 and e.day + e.los < wd]
        encs.sort(key=lambda e: e.day)
        return encs

    def inpatient(self, admissions: list[tuple[float, tuple[str, str], frozenset[str]]]) -> list[Encounter]:
        """Inpatient stays in time order; each discharge draws its 30-day readmission from the true risk.

        Events that are truth elsewhere (ACS, MACE, cardio-renal) always happen, starting after any stay in
        progress; a readmission always happens; an index admission is dropped when it would overlap a stay or
        fall inside the 30 days after a discharge that was not readmitted, so that "any admission within 30
        days of discharge" in the record equals ``readmitted`` in the truth. A truth event that still lands
        inside those 30 days turns the discharge into a readmitted one.
        """
        d, wd = self.d, self.ctx.window_days
        heap = [(a[0], k, a[1], a[2]) for k, a in enumerate(admissions)]
        heapq.heapify(heap)
        counter = len(heap)
        history: list[float] = []
        out: list[Encounter] = []
        busy_until = -1.0
        quiet_until = -1.0  # no index admission before this day (30 days after a non-readmitted discharge)
        last: Encounter | None = None
        while heap:
            day, _, reason, tags = heapq.heappop(heap)
            mandatory = bool(tags & {"acs", "mace", "cardiorenal", "readmission"})
            if not mandatory and (day < busy_until or day < quiet_until):
                continue
            day = max(day, busy_until + 0.5)
            if day >= wd - 1.0:
                continue
            los = 1.0 + d.poisson(3.2 if "acs" not in tags else 2.5) + d.u()
            if day + los >= wd:
                continue
            if last is not None and last.readmission is not None and day - (last.day + last.los) <= 30.0:
                risk0, readmitted0, feats0 = last.readmission
                if not readmitted0:
                    last.readmission = (risk0, True, feats0)
            u = d.u()
            k = next(j for j, c in enumerate(DISPOSITION_CUM) if u <= c or j == len(DISPOSITION_CUM) - 1)
            disp = DISPOSITIONS[k]
            prior = sum(1 for h in history if day - h <= 365.0)
            discharge = day + los
            age = self.age_at(discharge)
            hba1c = self.hba1c(discharge) if self.has["type2_diabetes"] else None
            egfr = self.egfr(discharge)
            risk = readmission_risk(
                age=age,
                comorbidities=self.n_chronic,
                prior_admissions=prior,
                hba1c=hba1c,
                egfr=egfr,
                adherence=self.adherence,
                heart_failure=self.has["heart_failure"],
                copd=self.has["copd"],
                los_days=los,
                disposition=disp[0],
            )
            feats: dict[str, float | str] = {
                "age": age,
                "comorbidities": float(self.n_chronic),
                "prior_admissions": float(prior),
                "hba1c": float("nan") if hba1c is None else hba1c,
                "egfr": egfr,
                "adherence": self.adherence,
                "heart_failure": float(self.has["heart_failure"]),
                "copd": float(self.has["copd"]),
                "los_days": los,
                "disposition": disp[0],
                "follow_up_complete": float(discharge + 30.0 <= wd),
            }
            readmitted = d.u() < risk
            enc = Encounter(
                day,
                "IMP",
                los=los,
                reason=reason,
                tags=set(tags),
                disposition=(disp[0], disp[1]),
                readmission=(risk, readmitted, feats),
            )
            out.append(enc)
            last = enc
            history.append(day)
            busy_until = discharge
            if readmitted:
                gap = 1.0 + 29.0 * d.u()
                reason2 = reason if d.u() < 0.6 else REASON_GENERAL
                counter += 1
                heapq.heappush(heap, (discharge + gap, counter, reason2, frozenset({"readmission"})))
                quiet_until = discharge + gap
            else:
                quiet_until = discharge + 30.0
        return out

    # ------------------------------------------------------------------ one encounter and its observations
    def encounter(self, enc: Encounter) -> None:
        eid = self.ids.next()
        start = enc.day
        end = enc.day + (enc.los if enc.klass == "IMP" else (0.25 if enc.klass == "EMER" else 0.02))
        type_code = {"AMB": ENC_AMB, "EMER": ENC_EMER, "IMP": ENC_IMP}[enc.klass]
        self.out.append(
            fb.encounter(
                eid,
                self.pid,
                class_code=enc.klass,
                start=self.t(start),
                end=self.t(end),
                type_code=type_code,
                reason=enc.reason,
                discharge_disposition=enc.disposition,
                service_provider=self.org_id,
            )
        )
        if enc.readmission is not None:
            risk, readmitted, feats = enc.readmission
            self.readmissions.append((self.pid, eid, end, risk, readmitted, feats))
        if "acs" in enc.tags:
            self.out.append(
                fb.condition(
                    self.ids.next(),
                    self.pid,
                    code=(fb.SNOMED, *REASON_MI),
                    onset=self.t(start),
                    recorded=self.t(start),
                    active=False,
                    abatement=self.t(end),
                    encounter_id=eid,
                )
            )
        acute = enc.klass != "AMB"
        self.vitals(start + 0.01, eid, acute, enc)
        self.labs(start + 0.02, eid, acute, enc)
        if enc.klass == "IMP":
            self.kidney(end - 0.1, eid)

    def vitals(self, day: float, eid: str, acute: bool, enc: Encounter) -> None:
        d, v = self.d, self.v
        treated = -8.0 if self.has["hypertension"] else 0.0
        sbp = round(v["sbp0"] + treated + 9.0 * d.z() + (10.0 if acute else 0.0))
        dbp = round(v["dbp0"] + 0.5 * treated + 6.0 * d.z())
        self.out.append(
            fb.observation_components(
                self.ids.next(),
                self.pid,
                code=C_BP,
                effective=self.t(day),
                category="vital-signs",
                encounter_id=eid,
                components=[
                    fb.component_quantity(C_SBP, sbp, "mm[Hg]"),
                    fb.component_quantity(C_DBP, dbp, "mm[Hg]"),
                ],
            )
        )
        deteriorating = "deterioration" in enc.tags
        hr = round(v["hr0"] + 6.0 * d.z() + (14.0 if acute else 0.0) + (10.0 if deteriorating else 0.0))
        self.obs(C_HR, hr, "/min", day, "vital-signs", eid)
        weight = self.weight + 1.0 * d.z()
        if d.u() < ALT_UNIT_RATE:
            self.obs(C_WEIGHT, round(weight / 0.45359237, 1), "[lb_av]", day, "vital-signs", eid)
        else:
            self.obs(C_WEIGHT, round(weight, 1), "kg", day, "vital-signs", eid)
        self.obs(C_BMI, round(weight / self.height_m**2, 1), "kg/m2", day, "vital-signs", eid)
        if acute or d.u() < 0.3:
            copd = self.has["copd"]
            rr = round(16.0 + 2.0 * d.z() + (4.0 if acute else 0.0) + (3.0 if copd and deteriorating else 0.0))
            spo2 = min(100.0, round(97.0 - 2.5 * copd - (3.0 if acute and copd else 0.0) + 1.0 * d.z()))
            temp = round(36.8 + 0.3 * d.z() + (0.8 * d.u() if acute else 0.0), 1)
            self.obs(C_RR, rr, "/min", day, "vital-signs", eid)
            self.obs(C_SPO2, spo2, "%", day, "vital-signs", eid)
            self.obs(C_TEMP, temp, "Cel", day, "vital-signs", eid)

    def kidney(self, day: float, eid: str | None, performer: str | None = None) -> None:
        d = self.d
        age = self.age_at(day)
        creat = creatinine_for_egfr(self.egfr(day), age, self.female) * (1.0 + 0.05 * d.z())
        creat = max(round(creat, 2), 0.2)
        if d.u() < ALT_UNIT_RATE:
            self._lab(C_CREAT_MOL, round(creat * 88.42), "umol/L", day, eid, performer)
        else:
            self._lab(C_CREAT, creat, "mg/dL", day, eid, performer)
        self._lab(C_EGFR, round(ckd_epi_2021_egfr(creat, age, self.female)), "mL/min/{1.73_m2}", day, eid, performer)
        self._lab(C_K, round(self.v["k0"] + 0.25 * d.z(), 1), "mmol/L", day, eid, performer)

    def _lab(
        self,
        code: tuple[str, str, str],
        value: float,
        unit: str,
        day: float,
        eid: str | None,
        performer: str | None,
    ) -> None:
        self.out.append(
            fb.observation_quantity(
                self.ids.next(),
                self.pid,
                code=code,
                value=value,
                unit=unit,
                effective=self.t(day),
                category="laboratory",
                encounter_id=eid,
                performer=performer,
            )
        )

    def glycaemia(self, day: float, eid: str | None, exact: float | None = None, performer: str | None = None) -> None:
        d = self.d
        a1c = exact if exact is not None else self.hba1c(day) + 0.15 * d.z()
        a1c = round(a1c, 1)
        if d.u() < ALT_UNIT_RATE and exact is None:
            self._lab(C_HBA1C_IFCC, round((a1c - 2.152) / 0.09148), "mmol/mol", day, eid, performer)
        else:
            self._lab(C_HBA1C, a1c, "%", day, eid, performer)
        glucose = max(28.7 * self.hba1c(day) - 46.7 + 20.0 * d.z(), 55.0)
        if d.u() < ALT_UNIT_RATE:
            self._lab(C_GLUCOSE_MOL, round(glucose / 18.016, 1), "mmol/L", day, eid, performer)
        else:
            self._lab(C_GLUCOSE, round(glucose), "mg/dL", day, eid, performer)

    def labs(self, day: float, eid: str, acute: bool, enc: Encounter) -> None:
        d, v, has = self.d, self.v, self.has
        tags = enc.tags
        if "t2d_start" in tags or "t2d_followup" in tags:
            dec, row = self.t2d_decision  # type: ignore[misc]
            exact = float(dec.covariates["hba1c"][row]) if "t2d_start" in tags else float(dec.observed()[row])
            self.glycaemia(day, eid, exact=exact)
        elif has["type2_diabetes"] and (acute or d.u() < 0.55):
            self.glycaemia(day, eid)
        elif acute or d.u() < 0.15:
            glucose = max(28.7 * self.hba1c(day) - 46.7 + 15.0 * d.z(), 55.0)
            self._lab(C_GLUCOSE, round(glucose), "mg/dL", day, eid, None)
        renal = has["ckd"] or has["hypertension"] or has["type2_diabetes"] or has["heart_failure"]
        if acute or (renal and d.u() < 0.6) or d.u() < 0.15:
            self.kidney(day, eid)
        if d.u() < (0.35 if (self.statin or has["coronary_disease"] or has["type2_diabetes"]) else 0.12):
            ldl = v["ldl0"] * (0.62 if self.statin else 1.0) + 10.0 * d.z()
            self._lab(C_LDL, round(max(ldl, 25.0)), "mg/dL", day, eid, None)
        if has["heart_failure"] and (acute or d.u() < 0.4):
            factor = 3.0 if ("deterioration" in tags or enc.reason == REASON_HF) else 1.0
            self._lab(C_BNP, round(v["bnp0"] * factor * math.exp(0.3 * d.z())), "pg/mL", day, eid, None)
        if acute or d.u() < 0.25:
            self._lab(C_HB, round(v["hb0"] + 0.4 * d.z(), 1), "g/dL", day, eid, None)
        self.inr(day, eid, tags)
        if "dep_start" in tags or "phq" in tags or (has["depression"] and d.u() < 0.4) or d.u() < 0.05:
            exact_day = "dep_start" in tags or "phq" in tags
            total = self.phq9(day) + (0.0 if exact_day else 2.0 * d.z())
            if "phq12" in tags and self.dep_decision is not None:
                dec, row = self.dep_decision
                total = float(dec.observed()[row])  # the 12-week score is the potential outcome given
            if "dep_start" in tags and self.dep_decision is not None:
                dec, row = self.dep_decision
                total = float(dec.covariates["phq9"][row])
            total = int(min(max(round(total), 0), 27))
            item9 = 0
            if d.u() < (0.35 if total >= 15 else 0.08 if total >= 10 else 0.02):
                item9 = 1 + int(d.u() * 2.2)
            self.obs(C_PHQ9, total, "{score}", day, "survey", eid)
            self.obs(C_PHQ9_ITEM9, min(item9, 3), "{score}", day, "survey", eid)

    def inr(self, day: float, eid: str, tags: set[str]) -> None:
        d = self.d
        if self.warfarin_decision is not None:
            dec, row = self.warfarin_decision
            d0 = float(dec.day[row])
            if "warfarin_start" in tags:
                value = 1.0 + 0.05 * d.z()
            elif "inr7" in tags:
                value = float(dec.realised["inr_day7"][row])
            elif day > d0:
                value = 2.5 + 0.4 * d.z()
            else:
                return
            self._lab(C_INR, round(max(value, 0.8), 1), "{INR}", day, eid, None)
        elif self.on_warfarin:
            self._lab(C_INR, round(max(2.5 + 0.45 * d.z(), 0.9), 1), "{INR}", day, eid, None)
        elif d.u() < 0.05:
            self._lab(C_INR, round(1.0 + 0.05 * d.z(), 1), "{INR}", day, eid, None)

    # ------------------------------------------------------------------ medications and fills
    def medications(self, encounters: list[Encounter]) -> None:
        wd = self.ctx.window_days
        regimens: list[Regimen] = list(self.ctx.background.regimens[self.i])
        for dec, row in self.ctx.decisions.get(self.i, []):
            d0 = float(dec.day[row])
            option = dec.options[int(dec.given[row])]
            key, rx, dose, per_day = DRUGS[option][int(dec.drug[row])]
            if dec.name == "antiplatelet":
                start = d0 + 3.0  # at discharge
                regimens.append(
                    Regimen(key, rx, dose, per_day, start, start + 365.0, _dose_text(dose, per_day), dec.name)
                )
            elif dec.name == "warfarin":
                regimens.append(Regimen(key, rx, dose, 1, d0, d0 + 35.0, _dose_text(dose, 1), dec.name))
                maint = max(round(float(dec.extra["true_weekly_dose_mg"][row]) / 7.0 * 2.0) / 2.0, 0.5)
                regimens.append(Regimen(key, rx, maint, 1, d0 + 35.0, wd, _dose_text(maint, 1), "warfarin_maintenance"))
            else:
                regimens.append(Regimen(key, rx, dose, per_day, d0, wd, _dose_text(dose, per_day), dec.name))
        adherence = self.adherence
        for reg in regimens:
            if reg.start_day >= wd:
                continue
            rid = self.ids.next()
            active = reg.end_day >= wd
            self.out.append(
                fb.medication_request(
                    rid,
                    self.pid,
                    rxnorm=reg.rxnorm,
                    display=reg.drug,
                    authored_on=self.t(reg.start_day),
                    dose_mg=reg.dose_mg,
                    frequency_per_day=reg.per_day,
                    dosage_text=reg.dosage_text,
                    status="active" if active else "completed",
                )
            )
            self.dispenses(rid, reg, adherence)

    def dispenses(self, request_id: str, reg: Regimen, adherence: float) -> None:
        """Fills every 90 days (30 for a new decision drug's first); gaps scale with 1/adherence - 1."""
        d = self.d
        day = reg.start_day + 0.5
        stop = min(reg.end_day, self.ctx.window_days)
        first = True
        while day < stop:
            supply = 30 if (first and reg.decision) else 90
            self.out.append(
                fb.medication_dispense(
                    self.ids.next(),
                    self.pid,
                    request_id=request_id,
                    rxnorm=reg.rxnorm,
                    display=reg.drug,
                    handed_over=self.t(day),
                    quantity_units=float(supply * reg.per_day),
                    days_supply=supply,
                )
            )
            # Expected PDC ~ adherence: the mean gap is supply x (1/adherence - 1).
            gap = supply * (1.0 / max(adherence, 0.05) - 1.0) * -math.log(max(d.u(), 1e-9))
            day += supply + gap
            first = False

    # ------------------------------------------------------------------ genomics
    def genomics(self) -> None:
        ctx, i = self.ctx, self.i
        perf = None
        if ctx.pgx_tested[i]:
            day = 10.0 + 200.0 * self.d.u()
            for gene in PGX_GENES:
                a = int(ctx.genotypes.first[gene][i])
                b = int(ctx.genotypes.second[gene][i])
                self.out.append(
                    fb.genotype_observation(
                        self.ids.next(),
                        self.pid,
                        gene=gene,
                        hgnc_id=HGNC_IDS[gene],
                        diplotype=ctx.genotypes.diplotype(gene, i),
                        phenotype=phenotype(gene, a, b),
                        effective=self.t(day),
                        performer=perf,
                    )
                )
        for finding in ctx.tumour.get(i, []):
            onset = ctx.cond.onset[finding.cancer][i]
            onset_s = int(onset.astype("datetime64[s]").astype(np.int64))
            day = max((onset_s - ctx.window_start_s) / 86400.0, 0.0) + 14.0
            eff = self.t(min(day, ctx.window_days - 1.0))
            oid = self.ids.next()
            if finding.kind == "receptor":
                code = C_ER if finding.gene == "ESR1" else C_PR
                self.out.append(
                    fb.observation_codeable(
                        oid,
                        self.pid,
                        code=code,
                        value=POSITIVE if finding.positive else NEGATIVE,
                        effective=eff,
                        category="laboratory",
                    )
                )
            elif finding.kind == "msi":
                self.out.append(
                    fb.observation_codeable(
                        oid,
                        self.pid,
                        code=C_MSI,
                        value=MSI_HIGH if finding.positive else MSI_STABLE,
                        effective=eff,
                        category="laboratory",
                    )
                )
            else:
                structural = finding.kind in ("fusion", "amplification")
                self.out.append(
                    fb.variant_observation(
                        oid,
                        self.pid,
                        gene=finding.gene,
                        hgnc_id=HGNC_IDS[finding.gene],
                        transcript=finding.transcript,
                        dna_change=finding.dna_change,
                        protein_change=finding.protein_change,
                        somatic=finding.kind != "germline",
                        effective=eff,
                        code=C_VARIANT_ASSESS if structural else C_VARIANT,
                        description=finding.label,
                    )
                )

    # ------------------------------------------------------------------ the outside lab source
    def lab_source(self) -> list[dict[str, Any]]:
        ctx, d = self.ctx, self.d
        lp = ctx.lab_people[self.i]
        p, i = self.p, self.i
        races = load_table("population")["race"]
        race_code = races["codes"][p.race[i]]
        patient = fb.patient(
            lp.patient_id,
            identifiers=[fb.identifier(ctx.lab_identifier_system, lp.identifier, "PI", "Patient internal identifier")],
            family=lp.family,
            given=[lp.given],
            gender="female" if self.female else "male",
            birth_date=lp.birth_date,
            race=(race_code[0], race_code[1]) if d.u() < 0.5 else None,
            ethnicity=None,
            language=None,
            address=None,
            phone=lp.phone,
            managing_organization=ctx.lab_org["id"],
        )
        saved = (self.out, self.pid, self.ids)
        self.out, self.pid, self.ids = [ctx.lab_org, patient], lp.patient_id, Ids(lp.patient_id)
        for _ in range(2 + int(d.u() * 4)):
            day = d.u() * ctx.window_days
            if self.has["type2_diabetes"] or d.u() < 0.3:
                self.glycaemia(day, None, performer=ctx.lab_org["id"])
            self.kidney(day, None, performer=ctx.lab_org["id"])
            if d.u() < 0.5:
                ldl = self.v["ldl0"] * (0.62 if self.statin else 1.0) + 10.0 * d.z()
                self._lab(C_LDL, round(max(ldl, 25.0)), "mg/dL", day, None, ctx.lab_org["id"])
        out = self.out
        self.out, self.pid, self.ids = saved
        return out


def _dose_text(dose: float | None, per_day: int) -> str:
    freq = {1: "once daily", 2: "twice daily"}.get(per_day, f"{per_day} times daily")
    return f"{dose:g} mg by mouth {freq}" if dose is not None else freq
