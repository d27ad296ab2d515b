"""Incremental stream processor: readings in, alerts out, one small state per patient.

Each reading costs O(1) amortised: it is appended to a per-(patient, type) rolling window and a per-day
bucket. Work that needs a whole window (percentiles, baseline comparison) runs at most once per patient, type
and hour of data time, or when a day closes, on numpy arrays of at most a day or a month of values. Batches
are validated and sorted with numpy, then walked patient by patient.

Ordering: readings are processed in time order per patient and type. A reading up to ``max_lateness`` behind
the newest one of its type is still placed in order (and a day's summary waits ``max_lateness`` past midnight
before closing); an older one is rejected as ``too_late``. A second reading with the same patient, type and
timestamp is rejected as ``duplicate`` (the first one wins). Day boundaries are UTC days.

Rules are defined in ``data/rules.toml`` (thresholds by risk tier, evidence) and evaluated here; the alert
policy (``alerts.py``) decides which candidates are raised. Pure engine: no I/O, no clock; data time comes
from readings.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carepilot.domain.insight import Confidence, Factor, Severity
from carepilot.errors import ConfigurationError
from carepilot.monitoring.alerts import Alert, AlertCandidate, AlertPolicy, RiskTier, RuleSpec, RuleTable
from carepilot.monitoring.baselines import (
    Baseline,
    BaselineComparison,
    Cusum,
    fit_baseline,
    pooled_cv,
    quantile,
    weight_gain,
)
from carepilot.monitoring.readings import (
    SPEC_BY_KIND,
    Kind,
    Reading,
    ReadingBatch,
    Reason,
    Rejection,
    Validated,
    validate_records,
)

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0
N_KINDS = len(Kind)
SUBDAILY = 6  # usual readings per day from which a stream counts as sub-daily (needs an 18-hour span)
_HR, _STEPS, _SPO2, _WEIGHT, _CGM = (
    int(Kind.HEART_RATE),
    int(Kind.STEPS),
    int(Kind.SPO2),
    int(Kind.WEIGHT),
    int(Kind.CGM_GLUCOSE),
)
# Rolling window per type: 24 h for daily-scale comparisons; weight keeps 8 days for the 3- and 7-day gains;
# CGM only needs enough to spot duplicates and runs (its variability rule works on daily aggregates).
WINDOW_SPAN = {
    Kind.HEART_RATE: DAY,
    Kind.STEPS: DAY,
    Kind.SPO2: DAY,
    Kind.WEIGHT: 8 * DAY,
    Kind.CGM_GLUCOSE: 2 * HOUR,
    Kind.SYSTOLIC_BP: DAY,
    Kind.DIASTOLIC_BP: DAY,
}


@dataclass(frozen=True)
class PatientContext:
    """What the monitor knows about a patient beyond the stream.

    ``heart_failure`` None means unknown: the weight-gain rule then runs for any patient who sends weights,
    because home scales in telemonitoring are issued for heart failure. ``spo2_scale`` 2 only when a clinician
    has set a 88-92% target (NEWS2 scale 2).
    """

    risk_tier: RiskTier = RiskTier.MEDIUM
    heart_failure: bool | None = None
    spo2_scale: int = 1


@dataclass(slots=True)
class DaySummary:
    """Per-day aggregates of one type for one patient."""

    day: int
    n: int
    total: float
    total_sq: float
    p25: float
    p50: float


class _Window:
    """Readings of one type in the last ``span`` seconds, kept sorted by time, with their running sum."""

    __slots__ = ("span", "t", "total", "v")

    def __init__(self, span: float) -> None:
        self.span = span
        self.t: deque[float] = deque()
        self.v: deque[float] = deque()
        self.total = 0.0

    def add(self, t: float, v: float) -> bool:
        """Insert in time order; False (nothing stored) when a reading with this timestamp is already held."""
        tt = self.t
        if not tt or t > tt[-1]:
            tt.append(t)
            self.v.append(v)
            self.total += v
            horizon = t - self.span
            while tt[0] <= horizon:
                tt.popleft()
                self.total -= self.v.popleft()
            return True
        if t == tt[-1]:
            return False
        i = bisect_left(tt, t)
        if tt[i] == t:
            return False
        tt.insert(i, t)
        self.v.insert(i, v)
        self.total += v
        return True


class _Series:
    """State of one type for one patient: window, open and closed days, evaluation clock, run counters."""

    __slots__ = (
        "cache",
        "closed",
        "fired_at",
        "flag",
        "last_closed",
        "last_t",
        "next_close",
        "next_eval",
        "open",
        "run",
        "run_start",
        "usual",
        "window",
    )

    def __init__(self, span: float) -> None:
        self.window = _Window(span)
        self.open: dict[int, list[float]] = {}
        self.closed: deque[DaySummary] = deque(maxlen=60)
        self.last_closed = -1
        self.next_close = math.inf
        self.next_eval = -math.inf
        self.run = 0
        self.run_start = math.nan
        self.fired_at = -math.inf
        self.last_t = -math.inf
        self.flag = False
        self.usual = 0.0
        self.cache: dict[str, tuple[tuple[int, int], Baseline | None]] = {}

    def close_days(self, now: float, lateness: float) -> list[DaySummary]:
        """Summarise every open day that ended more than ``lateness`` before ``now``."""
        done: list[DaySummary] = []
        for day in sorted(self.open):
            if (day + 1) * DAY + lateness > now:
                break
            values = self.open.pop(day)
            summary = DaySummary(
                day,
                len(values),
                math.fsum(values),
                math.fsum(v * v for v in values),
                quantile(values, 0.25),
                quantile(values, 0.5),
            )
            self.closed.append(summary)
            self.last_closed = day
            done.append(summary)
        self.next_close = min(((d + 1) * DAY + lateness for d in self.open), default=math.inf)
        if done:
            self.usual = quantile([d.n for d in self.closed], 0.5)
        return done

    def usual_count(self) -> float:
        """Median readings per closed day: how much data a full day of this patient's wear holds."""
        return self.usual

    def fitted(
        self, name: str, before_day: int, th: dict[str, Any], stat: Callable[[DaySummary], float]
    ) -> Baseline | None:
        """Baseline for rule ``name`` from the days before ``before_day``; refitted only when that changes."""
        key = (before_day, self.last_closed)
        hit = self.cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        hist = self.baseline(before_day, th["baseline_days"], stat)
        base = fit_baseline(hist, min_days=th["min_days"], scale_floor=th["scale_floor"])
        self.cache[name] = (key, base)
        return base

    def baseline(self, before_day: int, days: int, stat: Callable[[DaySummary], float]) -> list[float]:
        """``stat`` of each well-covered closed day in the ``days`` before ``before_day``.

        Days with fewer than half the patient's usual readings (partial wear) are left out.
        """
        floor = 0.5 * self.usual_count()
        start = before_day - days
        return [stat(d) for d in self.closed if start <= d.day < before_day and d.n >= floor]


@dataclass
class Ingested:
    """What one call did: alerts raised, candidates seen, rows rejected (with reasons), rows accepted."""

    alerts: list[Alert] = field(default_factory=list)
    candidates: list[AlertCandidate] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    accepted: int = 0


class PatientMonitor:
    """Per-patient state and rule evaluation; fed readings in time order by ``StreamProcessor``."""

    def __init__(self, patient_id: str, context: PatientContext, table: RuleTable, max_lateness: float) -> None:
        self.patient_id = patient_id
        self.table = table
        self.lateness = max_lateness
        self.series: list[_Series | None] = [None] * N_KINDS
        self.set_context(context)

    def set_context(self, context: PatientContext) -> None:
        """Change tier or clinical context; thresholds and trend detectors follow the new tier."""
        self.context = context
        tier = context.risk_tier
        rules = self.table.rules
        self._th = {name: rule.threshold(tier) for name, rule in rules.items()}
        self._glucose_below = float(self._th["glucose_low"]["below"])
        hr, steps = self._th["resting_hr_trend"], self._th["activity_trend"]
        self.hr_cusum = Cusum(k=hr["k"], h=hr["h"], direction=1)
        self.steps_cusum = Cusum(k=steps["k"], h=steps["h"], direction=-1)

    def ingest(
        self,
        ix: Iterable[int],
        kinds: list[int],
        times: list[float],
        values: list[float],
        rows: list[int],
        out: Ingested,
    ) -> None:
        """Feed the readings at positions ``ix`` (time order) of the column lists; results go to ``out``."""
        # The hot path: plain ints for kinds, locals for attributes, the in-order window append inlined.
        series = self.series
        lateness = self.lateness
        cands = out.candidates
        accepted = 0
        for i in ix:
            k = kinds[i]
            t = times[i]
            v = values[i]
            s = series[k]
            if s is None:
                s = series[k] = _Series(WINDOW_SPAN[Kind(k)])
            w = s.window
            wt = w.t
            if wt and t <= wt[-1]:
                if t < wt[-1] - lateness:
                    out.rejected.append(self._rejection(rows[i], k, Reason.TOO_LATE))
                    continue
                if not w.add(t, v):
                    out.rejected.append(self._rejection(rows[i], k, Reason.DUPLICATE))
                    continue
            else:
                wt.append(t)
                w.v.append(v)
                w.total += v
                horizon = t - w.span
                while wt[0] <= horizon:
                    wt.popleft()
                    w.total -= w.v.popleft()
            accepted += 1
            day = int(t // DAY)
            if day > s.last_closed:
                bucket = s.open.get(day)
                if bucket is None:
                    s.open[day] = [v]
                    s.next_close = min(s.next_close, (day + 1) * DAY + lateness)
                else:
                    bucket.append(v)
            if t >= s.next_close:
                self._on_days_closed(k, s, s.close_days(t, lateness), t, cands)
            if k == _HR:
                if t >= s.next_eval:
                    s.next_eval = (t // HOUR + 1) * HOUR
                    self._resting_hr(s, t, cands)
            elif k == _CGM:
                if v < self._glucose_below or s.run:
                    self._glucose_low(s, t, v, cands)
            elif k == _STEPS:
                if t >= s.next_eval:
                    s.next_eval = (t // HOUR + 1) * HOUR
                    self._activity(s, t, cands)
            elif k == _SPO2:
                self._spo2_low(s, t, v, cands)
                if t >= s.next_eval:
                    s.next_eval = (t // HOUR + 1) * HOUR
                    self._spo2_drop(s, t, cands)
            elif k == _WEIGHT:
                if self.context.heart_failure is not False:
                    self._weight(s, t, v, cands)
            else:
                self._bp(k, s, t, v, cands)
        out.accepted += accepted

    def _rejection(self, row: int, k: int, reason: Reason) -> Rejection:
        what = (
            f"more than {self.lateness:g} s older than the newest reading of this type"
            if reason is Reason.TOO_LATE
            else "same patient, type and timestamp as an earlier reading"
        )
        return Rejection(row, reason, what, self.patient_id, SPEC_BY_KIND[k].type.value)

    # ---- rules evaluated on rolling windows ----

    def _current_ok(self, s: _Series, t: float) -> bool:
        """The 24-hour window holds a full day of wear: half the usual readings and, for streams with
        several readings a day, a span of 18 h or more (a once-daily total or spot reading is a full day)."""
        w = s.window
        if not w.t or len(w.t) < 0.5 * s.usual:
            return False
        return s.usual < SUBDAILY or w.t[0] <= t - 18 * HOUR

    def _resting_hr(self, s: _Series, t: float, out: list[AlertCandidate]) -> None:
        th = self._th["resting_hr"]
        base = s.fitted("resting_hr", int((t - DAY) // DAY), th, _p25)
        if base is None or not self._current_ok(s, t):
            return
        # Resting heart rate estimated as the lower quartile of the day's readings, so exercise does not
        # count.
        current = quantile(s.window.v, 0.25)
        delta = current - base.center
        if base.scale <= 0 or delta < th["min_delta"] or delta < th["z"] * base.scale:
            return
        rule, cmp = self.table.rules["resting_hr"], base.compare(current)
        phrase = (
            f"resting HR {cmp.delta:.0f} bpm above your {th['baseline_days']}-day baseline "
            f"({cmp.center:.0f} -> {current:.0f} bpm)"
        )
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"Resting heart rate {cmp.delta:.0f} bpm above personal baseline",
                detail=_detail(
                    phrase,
                    cmp,
                    "Consider infection, decompensation, dehydration, new arrhythmia or "
                    "medication change; check symptoms and vital signs.",
                ),
                factors=(Factor("resting heart rate", round(cmp.delta, 1), phrase),),
                confidence=_confidence(cmp, th["z"], th["baseline_days"]),
                value=round(current, 1),
                unit="/min",
            )
        )

    def _activity(self, s: _Series, t: float, out: list[AlertCandidate]) -> None:
        th = self._th["activity_drop"]
        base = s.fitted("activity_drop", int((t - DAY) // DAY), th, _total)
        if base is None or not self._current_ok(s, t):
            return
        cmp = base.compare(s.window.total)
        if cmp.ratio > 1.0 - th["drop"] or cmp.z > -th["z"]:
            return
        rule, current = self.table.rules["activity_drop"], cmp.current
        drop = 1.0 - cmp.ratio
        phrase = (
            f"steps {drop:.0%} below your {th['baseline_days']}-day baseline "
            f"({cmp.center:,.0f} -> {current:,.0f} per day)"
        )
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"Activity {drop:.0%} below personal baseline",
                detail=_detail(
                    phrase,
                    cmp,
                    "A sustained fall in activity can precede decompensation; "
                    "ask about symptoms, falls and device wear.",
                ),
                factors=(Factor("daily steps", -round(drop, 3), phrase),),
                confidence=_confidence(cmp, th["z"], th["baseline_days"]),
                value=round(current, 0),
                unit="/d",
            )
        )

    def _spo2_drop(self, s: _Series, t: float, out: list[AlertCandidate]) -> None:
        th = self._th["spo2_drop"]
        base = s.fitted("spo2_drop", int((t - DAY) // DAY), th, _p50)
        if base is None or not self._current_ok(s, t):
            return
        current = quantile(s.window.v, 0.5)
        cmp = base.compare(current)
        if -cmp.delta < th["min_delta"] or cmp.z > -th["z"]:
            return
        rule = self.table.rules["spo2_drop"]
        phrase = (
            f"SpO2 {-cmp.delta:.1f} points below your {th['baseline_days']}-day baseline "
            f"({cmp.center:.0f}% -> {current:.0f}%)"
        )
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"Oxygen saturation {-cmp.delta:.0f} points below personal baseline",
                detail=_detail(phrase, cmp, "Check respiratory rate, breathlessness and a spot SpO2 reading."),
                factors=(Factor("oxygen saturation", round(cmp.delta, 1), phrase),),
                confidence=_confidence(cmp, th["z"], th["baseline_days"]),
                value=round(current, 1),
                unit="%",
            )
        )

    # ---- rules evaluated on each reading ----

    def _spo2_low(self, s: _Series, t: float, v: float, out: list[AlertCandidate]) -> None:
        rule, th = self.table.rules["spo2_low"], self._th["spo2_low"]
        limit = th["scale2"] if self.context.spo2_scale == 2 else th["scale1"]
        if v > limit:
            s.run = 0
            return
        # Readings more than 30 minutes apart do not make a sustained low.
        s.run = s.run + 1 if s.run and t - s.run_start <= 30 * MINUTE else 1
        s.run_start = t
        if s.run < th["consecutive"] or t - s.fired_at < HOUR:
            return
        s.fired_at = t
        scale = self.context.spo2_scale
        phrase = f"SpO2 {v:.0f}% on {s.run} consecutive readings (NEWS2 scale {scale} threshold <= {limit:.0f}%)"
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"Low oxygen saturation: {v:.0f}% sustained",
                detail=f"{phrase}.\n\nA NEWS2 SpO2 score of 3 alone calls for an urgent ward-based response; "
                "confirm with a clinical oximeter and assess the patient.",
                factors=(Factor("oxygen saturation", -(limit - v + 1), phrase),),
                confidence=Confidence(
                    "moderate",
                    "Rule-based on wearable SpO2, which reads less accurately than "
                    "a clinical oximeter; not a calibrated probability.",
                ),
                value=v,
                unit="%",
            )
        )

    def _weight(self, s: _Series, t: float, v: float, out: list[AlertCandidate]) -> None:
        rule, th = self.table.rules["hf_weight_gain"], self._th["hf_weight_gain"]
        if t - s.fired_at < 12 * HOUR:
            return
        w = s.window
        earlier = list(zip(w.t, w.v, strict=True))
        hit = weight_gain(earlier, t, v, days=th["days"])
        limit = th["gain_kg"]
        if hit is None or hit[0] < limit:
            hit = weight_gain(earlier, t, v, days=th["week_days"])
            limit = th["week_gain_kg"]
            if hit is None or hit[0] < limit:
                return
        s.fired_at = t
        gain, since = hit
        days = (t - since) / DAY
        phrase = f"weight up {gain:.1f} kg in {days:.1f} days ({v - gain:.1f} -> {v:.1f} kg)"
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"Weight gain {gain:.1f} kg in {days:.1f} days",
                detail=f"{phrase}.\n\nHeart failure guidance asks patients to report a gain of more "
                "than 2 kg in 3 days or 2.3 kg (5 lb) in a week: consider fluid retention, review diuretic "
                "dose and symptoms of congestion.",
                factors=(Factor("body weight", round(gain, 2), phrase),),
                confidence=Confidence(
                    "moderate",
                    f"Guideline threshold ({limit:g} kg) on home-scale weights; not a calibrated probability.",
                ),
                value=round(v, 2),
                unit="kg",
            )
        )

    def _glucose_low(self, s: _Series, t: float, v: float, out: list[AlertCandidate]) -> None:
        rule, th = self.table.rules["glucose_low"], self._th["glucose_low"]
        if v >= th["below"]:
            s.run = 0
            return
        # A gap of more than 15 minutes between low readings breaks the event (Battelino 2019).
        if s.run == 0 or t - s.last_t > 15 * MINUTE:
            s.run, s.run_start, s.flag = 1, t, False
        else:
            s.run += 1
        s.last_t = t
        # Each 5-minute reading stands for 5 minutes, so three consecutive lows make a 15-minute event.
        minutes = (t - s.run_start) / MINUTE + 5.0
        if minutes < th["minutes"] or s.flag:
            return
        s.flag = True  # one alert per event
        phrase = f"glucose below {th['below']:.0f} mg/dL for {minutes:.0f} min ({v:.0f} mg/dL)"
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"Level 2 hypoglycaemia: glucose {v:.0f} mg/dL for 15 minutes",
                detail=f"{phrase}.\n\nLevel 2 hypoglycaemia (<54 mg/dL) needs immediate action; "
                "review insulin and sulfonylurea doses.",
                factors=(Factor("CGM glucose", -(th["below"] - v), phrase),),
                confidence=Confidence(
                    "high",
                    "Sustained sensor readings below the consensus threshold; not a calibrated probability.",
                ),
                value=v,
                unit="mg/dL",
            )
        )

    def _bp(self, k: int, s: _Series, t: float, v: float, out: list[AlertCandidate]) -> None:
        rule, th = self.table.rules["bp_extreme"], self._th["bp_extreme"]
        if k == Kind.SYSTOLIC_BP:
            low, high = v <= th["sbp_low"], v > th["sbp_high"]
            label = "systolic BP"
        else:
            low, high = False, v > th["dbp_high"]
            label = "diastolic BP"
        if not (low or high):
            s.run = 0
            return
        s.run += 1
        if s.run < th["consecutive"] or t - s.fired_at < 6 * HOUR:
            return
        s.fired_at = t
        what = "low" if low else "very high"
        phrase = f"{label} {v:.0f} mmHg ({what}) on {s.run} consecutive readings"
        consider = (
            "NEWS2 scores a systolic BP of 90 or less 3: assess for hypovolaemia, sepsis or over-treatment."
            if low
            else "Above 180/120 mmHg is a hypertensive crisis (ACC/AHA 2017): assess for target-organ damage."
        )
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"Blood pressure {what}: {label} {v:.0f} mmHg",
                detail=f"{phrase}.\n\n{consider}",
                factors=(Factor(label, (v - th["sbp_low"]) if low else (v - th["sbp_high"]), phrase),),
                confidence=Confidence(
                    "moderate",
                    "Home cuff readings against guideline thresholds; not a calibrated probability.",
                ),
                value=v,
                unit="mm[Hg]",
            )
        )

    # ---- rules evaluated when a day closes ----

    def _on_days_closed(self, k: int, s: _Series, days: list[DaySummary], t: float, out: list[AlertCandidate]) -> None:
        if k == Kind.HEART_RATE:
            for d in days:
                self._trend("resting_hr_trend", s, d, _p25, self.hr_cusum, t, out)
        elif k == Kind.STEPS:
            for d in days:
                self._trend("activity_trend", s, d, _total, self.steps_cusum, t, out)
        elif k == Kind.CGM_GLUCOSE and days:
            self._glucose_variability(s, t, out)

    def _trend(
        self,
        name: str,
        s: _Series,
        day: DaySummary,
        stat: Callable[[DaySummary], float],
        cusum: Cusum,
        t: float,
        out: list[AlertCandidate],
    ) -> None:
        rule, th = self.table.rules[name], self._th[name]
        if day.n < 0.5 * s.usual_count():
            return
        base = s.fitted(name, day.day, th, stat)
        if base is None:
            return
        cmp = base.compare(stat(day))
        if not cusum.update(cmp.z):
            return
        n = cusum.alarm_run
        if cusum.direction > 0:
            what, unit = "Resting heart rate", "bpm"
            phrase = (
                f"resting HR trending up over {n} days (today {cmp.current:.0f} vs baseline {cmp.center:.0f} {unit})"
            )
        else:
            what, unit = "Activity", "steps"
            phrase = f"steps trending down over {n} days (today {cmp.current:,.0f} vs baseline {cmp.center:,.0f})"
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"{what} trend: sustained change over {n} days",
                detail=f"{phrase}.\n\nDetected by a one-sided CUSUM on daily values standardised against the "
                "personal baseline (Page 1954).",
                factors=(Factor(what.lower(), round(cmp.delta, 1), phrase),),
                confidence=Confidence(
                    "low" if cmp.n_days < 21 else "moderate",
                    f"Trend test (CUSUM k={th['k']}, "
                    f"h={th['h']}) on {cmp.n_days} baseline days; not a calibrated probability.",
                ),
                value=round(cmp.current, 1),
                unit="/min" if cusum.direction > 0 else "/d",
            )
        )

    def _glucose_variability(self, s: _Series, t: float, out: list[AlertCandidate]) -> None:
        rule, th = self.table.rules["glucose_variability"], self._th["glucose_variability"]
        last = s.last_closed
        recent_days = th["recent_days"]
        floor = 0.5 * s.usual_count()
        recent = [d for d in s.closed if d.day > last - recent_days and d.n >= floor]
        base = [
            d
            for d in s.closed
            if last - recent_days - th["baseline_days"] < d.day <= last - recent_days and d.n >= floor
        ]
        if len(recent) < recent_days or len(base) < th["min_days"]:
            return
        cv_recent = pooled_cv([d.n for d in recent], [d.total for d in recent], [d.total_sq for d in recent])
        cv_base = pooled_cv([d.n for d in base], [d.total for d in base], [d.total_sq for d in base])
        if cv_recent is None or cv_base is None:
            return
        if cv_recent < th["cv_min"] or cv_recent - cv_base < th["rise"]:
            return
        phrase = (
            f"glucose CV {cv_recent:.0%} over the last {recent_days} days vs {cv_base:.0%} over your "
            f"previous {len(base)} days"
        )
        out.append(
            self._candidate(
                rule,
                th,
                t,
                title=f"Glucose variability up: CV {cv_recent:.0%} (was {cv_base:.0%})",
                detail=f"{phrase}.\n\nA CV above 36% marks unstable glucose with more hypoglycaemia "
                "(Battelino 2019); review recent changes in therapy, meals and illness.",
                factors=(Factor("glucose variability (CV)", round(cv_recent - cv_base, 3), phrase),),
                confidence=Confidence(
                    "moderate" if len(base) >= 14 else "low",
                    f"{len(base)} baseline days; not a calibrated probability.",
                ),
                value=round(cv_recent, 4),
                unit="1",
            )
        )

    def _candidate(
        self,
        rule: RuleSpec,
        th: dict[str, object],
        t: float,
        *,
        title: str,
        detail: str,
        factors: tuple[Factor, ...],
        confidence: Confidence,
        value: float | None,
        unit: str | None,
    ) -> AlertCandidate:
        return AlertCandidate(
            self.patient_id,
            rule.name,
            t,
            Severity(str(th["severity"])),
            title,
            detail,
            factors,
            confidence,
            value,
            unit,
        )


def _p25(d: DaySummary) -> float:
    return d.p25


def _p50(d: DaySummary) -> float:
    return d.p50


def _total(d: DaySummary) -> float:
    return d.total


def _detail(phrase: str, cmp: BaselineComparison, consider: str) -> str:
    return (
        f"{phrase[0].upper()}{phrase[1:]}; robust z = {cmp.z:+.1f} against {cmp.n_days} baseline days "
        f"(median {cmp.center:.1f}, scale {cmp.scale:.1f}).\n\n{consider}"
    )


def _confidence(cmp: BaselineComparison, z_threshold: float, baseline_days: int) -> Confidence:
    """Words for how much the comparison rests on: baseline length and distance past the threshold."""
    if cmp.n_days >= 0.85 * baseline_days and abs(cmp.z) >= z_threshold + 1.0:
        level = "high"
    elif cmp.n_days >= 0.75 * baseline_days:
        level = "moderate"
    else:
        level = "low"
    return Confidence(
        level,
        f"Rule-based comparison with {cmp.n_days} of {baseline_days} baseline days, robust z {cmp.z:+.1f} "
        f"(threshold {z_threshold:g}); not a calibrated probability.",
    )


class StreamProcessor:
    """The monitoring engine: validated readings in, alerts (Insights of kind MONITORING_ALERT) out."""

    def __init__(
        self,
        policy: AlertPolicy | None = None,
        *,
        max_lateness_s: float = HOUR,
        default_context: PatientContext | None = None,
    ) -> None:
        if not 0 <= max_lateness_s <= WINDOW_SPAN[Kind.CGM_GLUCOSE]:
            raise ConfigurationError(f"max_lateness_s must be between 0 and 7200 s, got {max_lateness_s}")
        self.policy = policy or AlertPolicy()
        self.table = self.policy.table
        self.max_lateness = max_lateness_s
        self.default_context = default_context or PatientContext()
        self._patients: dict[str, PatientMonitor] = {}
        self._contexts: dict[str, PatientContext] = {}
        self.rejected: dict[str, int] = {}
        self.accepted = 0

    def set_context(self, patient_id: str, context: PatientContext) -> None:
        """Set a patient's risk tier and clinical context (before or during streaming)."""
        self._contexts[patient_id] = context
        monitor = self._patients.get(patient_id)
        if monitor is not None:
            monitor.set_context(context)

    def context(self, patient_id: str) -> PatientContext:
        """The context in force for a patient."""
        return self._contexts.get(patient_id, self.default_context)

    @property
    def patients(self) -> int:
        return len(self._patients)

    def process(self, patient_id: str, readings: Iterable[Reading | Mapping[str, object]]) -> list[Alert]:
        """Validate and process one patient's readings; the alerts raised (bad rows are counted)."""
        return self.ingest(patient_id, readings).alerts

    def ingest(self, patient_id: str, readings: Iterable[Reading | Mapping[str, object]]) -> Ingested:
        """Like ``process`` but also returns the candidates and the rejected rows with reasons.

        A row that names another patient is rejected (``wrong_patient``), never re-routed.
        """
        validated = validate_records(readings, patient_id=patient_id)
        b = validated.batch
        keep = b.patient_id == patient_id
        if not keep.all():
            wrong = [
                Rejection(int(i), Reason.WRONG_PATIENT, "reading names another patient than the stream", patient_id)
                for i in b.index[~keep]
            ]
            validated = Validated(b.take(keep), sorted(validated.rejected + wrong, key=lambda r: r.index))
        return self.ingest_validated(validated)

    def process_batch(self, batch: ReadingBatch | Validated) -> list[Alert]:
        """Process validated readings of any number of patients; the alerts raised."""
        validated = batch if isinstance(batch, Validated) else Validated(batch)
        return self.ingest_validated(validated).alerts

    def ingest_validated(self, validated: Validated) -> Ingested:
        """Process a validated batch: sort per patient by time, update state, apply the alert policy."""
        out = Ingested(rejected=list(validated.rejected))
        b = validated.batch
        if len(b):
            burden = self.policy.burden
            kinds, times = b.kind.tolist(), b.time.tolist()
            values, rows = b.value.tolist(), b.index.tolist()
            for pid, ix in _by_patient(b, times):
                monitor = self._patients.get(pid)
                if monitor is None:
                    monitor = self._patients[pid] = PatientMonitor(
                        pid, self.context(pid), self.table, self.max_lateness
                    )
                first = len(out.candidates)
                monitor.ingest(ix, kinds, times, values, rows, out)
                burden.observe(pid, times[ix[0]], times[ix[-1]])
                if len(out.candidates) > first:
                    tier = monitor.context.risk_tier
                    for cand in out.candidates[first:]:
                        alert = self.policy.decide(cand, tier)
                        if alert is not None:
                            out.alerts.append(alert)
        for r in out.rejected:
            self.rejected[r.reason.value] = self.rejected.get(r.reason.value, 0) + 1
        self.accepted += out.accepted
        out.rejected.sort(key=lambda r: r.index)
        return out


SMALL_BATCH = 512  # below this, grouping in Python beats numpy's fixed per-call cost


def _by_patient(b: ReadingBatch, times: list[float]) -> Iterable[tuple[str, list[int]]]:
    """Positions of each patient's rows in time order (stable: of equal timestamps the first wins)."""
    n = len(b)
    if n <= SMALL_BATCH:
        groups: dict[str, list[int]] = {}
        for i, pid in enumerate(b.patient_id.tolist()):
            group = groups.get(pid)
            if group is None:
                groups[pid] = [i]
            else:
                group.append(i)
        for pid, ix in groups.items():
            if len(ix) > 1:
                ix.sort(key=times.__getitem__)
            yield str(pid), ix
        return
    codes, uniques = pd.factorize(b.patient_id)
    order = np.lexsort((b.time, codes))
    sorted_codes = codes[order]
    bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
    starts = np.concatenate(([0], bounds)).tolist()
    ends = np.concatenate((bounds, [n])).tolist()
    ordered = order.tolist()
    for lo, hi in zip(starts, ends, strict=True):
        yield str(uniques[sorted_codes[lo]]), ordered[lo:hi]
