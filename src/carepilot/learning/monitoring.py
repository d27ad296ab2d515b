"""Model monitoring: input and prediction drift, performance and fairness over time, CDS feedback, alerts.

``monitor(...)`` is pure: it takes the logged predictions (joined to resolved outcomes), the patients' demographics,
the model's reference profile and validated metrics, the feedback rows and the thresholds, and returns a
``MonitoringReport``; ``monitor_model`` gathers those inputs from the store and the registry.

Performance per time window is AUROC, calibration slope and intercept (logistic recalibration, Cox 1958; see
``models/metrics.py``) and the Brier score, each with a 95% percentile bootstrap interval over patients' predictions
(``scipy.stats.bootstrap``, Efron & Tibshirani 1993 ch. 13). Fairness per window is Fairlearn's ``MetricFrame``
through ``models/fairness.subgroup_metrics`` for the HTI-1 demographic groups (sex, race, ethnicity, age band).
A performance finding must pass its threshold and the window's sampling noise (analytic standard errors: Hanley &
McNeil 1982 for AUROC, the recalibration fit's Fisher information for slope and intercept), as an input-drift
finding must pass the PSI noise bound; otherwise a few hundred outcomes raise alarms from chance alone.
Thresholds come from the versioned ``data/monitoring_thresholds.toml``; each finding past one becomes a
``model_alert`` Insight addressed to the model owner.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from scipy.stats import bootstrap, norm
from sklearn.metrics import brier_score_loss, roc_auc_score

from carepilot.domain.insight import Confidence, Evidence, Factor, Insight, InsightKind, Severity, Source
from carepilot.errors import InputError
from carepilot.learning.drift import FeatureReference, feature_drift, psi_critical, reference_of
from carepilot.models.fairness import subgroup_metrics
from carepilot.models.metrics import auroc_standard_error, calibration_slope_intercept

FAIRNESS_ATTRIBUTES: tuple[str, ...] = ("sex", "race", "ethnicity", "age_band")
THRESHOLDS_FILE = "data/monitoring_thresholds.toml"


def load_thresholds(path: Path | None = None) -> dict[str, Any]:
    """The monitoring thresholds (the packaged, versioned file unless ``path`` is given)."""
    try:
        text = (
            Path(path).read_text(encoding="utf-8")
            if path is not None
            else resources.files("carepilot.learning").joinpath(THRESHOLDS_FILE).read_text("utf-8")
        )
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read monitoring thresholds {path or THRESHOLDS_FILE}: {exc}") from exc
    for section in ("drift", "performance", "fairness", "feedback"):
        if section not in data:
            raise InputError(f"monitoring thresholds lack the [{section}] table")
    return data


def age_band(age: pd.Series) -> pd.Series:
    """HTI-1 age bands used across the model cards."""
    return pd.cut(age, [0, 45, 65, 80, 200], right=False, labels=["18-44", "45-64", "65-79", "80+"]).astype(str)


def _performance(y: np.ndarray, p: np.ndarray, n_resamples: int, seed: int) -> dict[str, Any]:
    """AUROC, calibration slope/intercept and Brier with 95% percentile bootstrap intervals."""

    def stats(yy: np.ndarray, pp: np.ndarray) -> np.ndarray:
        if yy.min() == yy.max():
            return np.full(4, np.nan)
        recal = calibration_slope_intercept(yy, pp)
        return np.array([roc_auc_score(yy, pp), recal.slope, recal.intercept, brier_score_loss(yy, pp)])

    point = stats(y, p)
    names = ("auroc", "calibration_slope", "calibration_intercept", "brier")
    out: dict[str, Any] = _standard_errors(y, p, point)
    if n_resamples <= 0:  # point estimates only (a simulation checking every week needs no intervals)
        out.update({k: v for i, n in enumerate(names) for k, v in ((n, _num(point[i])), (f"{n}_ci", [None, None]))})
        return out
    result = bootstrap(
        (y, p),
        stats,
        paired=True,
        vectorized=False,
        n_resamples=n_resamples,
        method="percentile",
        random_state=seed,
    )
    low, high = np.asarray(result.confidence_interval.low), np.asarray(result.confidence_interval.high)
    for k, name in enumerate(names):
        out[name] = _num(point[k])
        out[f"{name}_ci"] = [_num(low[k]), _num(high[k])]
    return out


def _standard_errors(y: np.ndarray, p: np.ndarray, point: np.ndarray) -> dict[str, float | None]:
    """Analytic standard errors of the window's metrics: what a finding must exceed to be more than chance."""
    if y.min() == y.max():
        return {f"{n}_se": None for n in ("auroc", "calibration_slope", "calibration_intercept", "brier")}
    events = int(y.sum())
    recal = calibration_slope_intercept(y, p)
    return {
        "auroc_se": _num(auroc_standard_error(float(point[0]), events, len(y) - events)),
        "calibration_slope_se": _num(recal.slope_se),
        "calibration_intercept_se": _num(recal.intercept_se),
        "brier_se": _num(np.std((p - y) ** 2, ddof=1) / math.sqrt(len(y))),
    }


def _num(value: Any) -> float | None:
    v = float(value)
    return None if math.isnan(v) or math.isinf(v) else round(v, 4)


@dataclass
class MonitoringReport:
    """Everything the monitor found for one model, JSON-ready."""

    model: str
    serving_version: str | None
    window_days: int
    data_end: str | None
    thresholds_version: str
    reference: str
    drift: list[dict[str, Any]] = field(default_factory=list)
    score_drift: list[dict[str, Any]] = field(default_factory=list)
    performance: list[dict[str, Any]] = field(default_factory=list)
    fairness: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Insight] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "alerts"}
        data["alerts"] = [orjson.loads(orjson.dumps(a)) for a in self.alerts]
        return data


def _windows(times: pd.Series, end: pd.Timestamp, days: int) -> pd.Series:
    """Window number of each time counting back from ``end`` (0 = the most recent ``days``)."""
    age = (end - times).dt.total_seconds() / 86400.0
    return np.floor(age.clip(lower=0) / days).astype(int)


def feedback_rates(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Acceptance and override rates with the override reasons, per card type (Insight kind)."""
    if rows.empty:
        return []
    out = []
    for kind, group in rows.groupby(rows["kind"].fillna("unknown")):
        overridden = group[group["outcome"] == "overridden"]
        reasons = (
            overridden["override_display"].fillna(overridden["override_code"]).fillna("no reason given").value_counts()
        )
        n = len(group)
        out.append(
            {
                "card_type": str(kind),
                "decided": n,
                "accepted": int((group["outcome"] == "accepted").sum()),
                "overridden": len(overridden),
                "acceptance_rate": round(float((group["outcome"] == "accepted").mean()), 4),
                "override_rate": round(len(overridden) / n, 4),
                "override_reasons": {str(k): int(v) for k, v in reasons.items()},
            }
        )
    return sorted(out, key=lambda r: -r["override_rate"])


def monitor(
    model: str,
    predictions: pd.DataFrame,
    demographics: pd.DataFrame,
    reference: dict[str, Any] | None,
    validated: dict[str, float],
    feedback: pd.DataFrame,
    thresholds: dict[str, Any],
    *,
    serving_version: str | None = None,
    window_days: int = 30,
    n_resamples: int = 200,
    seed: int = 0,
) -> MonitoringReport:
    """Drift, performance, fairness and feedback of one model over time windows, with alerts past the thresholds.

    ``predictions`` has ``patient_id, index_time, score, features`` (JSON) and ``label`` (NaN until resolved);
    ``reference`` is the profile stored with the model (``learning.drift.reference_profile``); when it is absent,
    the earliest window of served predictions is the reference. ``validated`` holds the card's AUROC and Brier.
    """
    if window_days < 1:
        raise InputError(f"window must be at least one day, got {window_days}")
    tv = str(thresholds.get("version", "unversioned"))
    report = MonitoringReport(model, serving_version, window_days, None, tv, "training data")
    report.feedback = feedback_rates(feedback)
    if predictions.empty:
        report.notes.append("no predictions logged yet for this model")
        report.alerts = _feedback_alerts(model, report.feedback, thresholds, datetime.now(UTC).replace(microsecond=0))
        return report
    preds = predictions.copy()
    end = preds["index_time"].max()
    report.data_end = end.isoformat()
    preds["window"] = _windows(preds["index_time"], end, window_days)
    feats = pd.DataFrame([orjson.loads(f) if isinstance(f, str) else {} for f in preds["features"]], index=preds.index)
    feats = feats.apply(pd.to_numeric, errors="coerce")

    refs: dict[str, FeatureReference]
    score_ref: FeatureReference | None
    if reference and reference.get("features"):
        refs = {n: FeatureReference.from_dict(d) for n, d in reference["features"].items()}
        score_ref = FeatureReference.from_dict(reference["score"]) if reference.get("score") else None
    else:
        first = preds["window"].max()
        report.reference = f"earliest {window_days}-day window of served predictions (no stored reference)"
        base = _one_per_patient(preds, preds["window"] == first)
        refs = {c: reference_of(c, feats.loc[base, c]) for c in feats.columns}
        score_ref = reference_of("score", preds.loc[base, "score"])
        n_reference = len(base)
    if reference and reference.get("features"):
        n_reference = int(reference.get("n", 0))
    alpha = float(thresholds["drift"].get("alpha", 0.01))

    windows = sorted(preds["window"].unique())
    for w in windows:
        rows = _one_per_patient(preds, preds["window"] == w)  # independent rows for the PSI noise bound
        n = len(rows)
        start = end - timedelta(days=window_days * (int(w) + 1))
        label = f"{(start + timedelta(seconds=1)).date()} to {(end - timedelta(days=window_days * int(w))).date()}"
        if score_ref is not None:
            sd = feature_drift(score_ref, preds.loc[rows, "score"])
            report.score_drift.append(
                {
                    "window": int(w),
                    "period": label,
                    "n": n,
                    "psi": round(sd.psi, 4),
                    "psi_noise_bound": round(psi_critical(n_reference, n, sd.bins, alpha), 4),
                    "mean_score": round(float(preds.loc[rows, "score"].mean()), 4),
                }
            )
        for name, ref in refs.items():
            values = feats.loc[rows, name] if name in feats.columns else pd.Series([np.nan] * n)
            fd = feature_drift(ref, values)
            report.drift.append(
                {
                    "window": int(w),
                    "period": label,
                    "feature": name,
                    "n": n,
                    "psi": round(fd.psi, 4),
                    # Bonferroni over the features: one chance excursion among 40 features is expected otherwise.
                    "psi_noise_bound": round(psi_critical(n_reference, n, fd.bins, alpha / max(len(refs), 1)), 4),
                    "missing_reference": round(fd.missing_reference, 4),
                    "missing_now": round(fd.missing_now, 4),
                    "missing_change": round(fd.missing_change, 4),
                }
            )

    resolved = preds[preds["label"].notna()].copy()
    if not resolved.empty:
        demo = demographics.set_index("patient_id") if not demographics.empty else pd.DataFrame()
        for w in windows:
            part = resolved[resolved["window"] == w]
            if part.empty:
                continue
            y = part["label"].to_numpy(dtype=int)
            p = part["score"].to_numpy(dtype=float)
            events = int(y.sum())
            row: dict[str, Any] = {
                "window": int(w),
                "period": _period(end, w, window_days),
                "n": len(part),
                "events": events,
            }
            if events >= 2 and len(part) - events >= 2:
                row.update(_performance(y, p, n_resamples, seed))
            report.performance.append(row)
            if not demo.empty:
                groups = _groups(part, demo)
                for rep in subgroup_metrics(y, p, groups, min_group=int(thresholds["fairness"]["min_group"])):
                    report.fairness.append(
                        {
                            "window": int(w),
                            "period": _period(end, w, window_days),
                            "attribute": rep.attribute,
                            **rep.to_dict(),
                        }
                    )
    else:
        report.notes.append("no outcomes resolved yet: performance and fairness wait for outcome windows to close")
    report.alerts = _alerts(model, report, validated, thresholds, end.to_pydatetime())
    return report


def _one_per_patient(preds: pd.DataFrame, mask: pd.Series) -> pd.Index:
    """Index of each patient's latest prediction among ``mask`` (all of them when patients are not known)."""
    part = preds[mask]
    if "patient_id" not in part:
        return part.index
    return part.sort_values("index_time").drop_duplicates("patient_id", keep="last").index


def _period(end: pd.Timestamp, w: int, days: int) -> str:
    start = end - timedelta(days=days * (int(w) + 1))
    return f"{(start + timedelta(seconds=1)).date()} to {(end - timedelta(days=days * int(w))).date()}"


def _groups(part: pd.DataFrame, demo: pd.DataFrame) -> pd.DataFrame:
    joined = demo.reindex(part["patient_id"].to_numpy())
    birth = pd.Series(pd.to_datetime(joined["birth_date"].to_numpy(), errors="coerce", utc=True))
    index = pd.Series(pd.to_datetime(part["index_time"].to_numpy(), utc=True))
    age = (index - birth).dt.total_seconds() / (365.25 * 86400.0)
    return pd.DataFrame(
        {
            "sex": joined["sex"].fillna("unknown").to_numpy(),
            "race": joined["race"].fillna("unknown").to_numpy(),
            "ethnicity": joined["ethnicity"].fillna("unknown").to_numpy(),
            "age_band": age_band(age).to_numpy(),
        }
    )


def _alert(
    model: str,
    at: datetime,
    title: str,
    detail: str,
    severity: Severity,
    topic: str,
    factors: Sequence[Factor],
    tv: str,
) -> Insight:
    return Insight(
        patient_id=f"model:{model}",
        as_of=at,
        kind=InsightKind.MODEL_ALERT,
        title=title[:139],
        detail=detail,
        confidence=Confidence(level="moderate", statement="A monitoring threshold was crossed; review before acting."),
        source=Source(id=f"monitor:{model}", version=tv, kind="rule"),
        explanation=tuple(factors),
        evidence=(Evidence(label="Monitoring thresholds", citation=f"carepilot learning/{THRESHOLDS_FILE} {tv}"),),
        severity=severity,
        topic=topic,
    )


def _alerts(
    model: str, report: MonitoringReport, validated: dict[str, float], thresholds: dict[str, Any], at: datetime
) -> list[Insight]:
    d, perf, fair = thresholds["drift"], thresholds["performance"], thresholds["fairness"]
    tv = report.thresholds_version
    alerts: list[Insight] = []
    latest = min((r["window"] for r in report.score_drift), default=None)
    if latest is not None:
        recent = [r for r in report.drift if r["window"] == latest and r["n"] >= d["min_window_predictions"]]
        shifted = [
            r
            for r in recent
            if r["psi"] > r["psi_noise_bound"]
            and (r["psi"] >= d["psi_warning"] or abs(r["missing_change"]) >= d["missing_change"])
        ]
        if shifted:
            worst = max(r["psi"] for r in shifted)
            sev = Severity.CRITICAL if worst >= d["psi_critical"] else Severity.WARNING
            shifted.sort(key=lambda r: -r["psi"])
            factors = [
                Factor(
                    r["feature"],
                    r["psi"],
                    f"{r['feature']}: PSI {r['psi']:.2f}, missing "
                    f"{100 * r['missing_reference']:.0f}% -> {100 * r['missing_now']:.0f}%",
                )
                for r in shifted[:5]
            ]
            alerts.append(
                _alert(
                    model,
                    at,
                    f"{model}: input drift in {len(shifted)} feature(s) ({shifted[0]['period']})",
                    "Inputs in the latest window differ from the training data. Check for unit or coding changes "
                    "before trusting the scores; consider retraining.",
                    sev,
                    "input_drift",
                    factors,
                    tv,
                )
            )
        sd = next(r for r in report.score_drift if r["window"] == latest)
        if (
            sd["n"] >= d["min_window_predictions"]
            and sd["psi"] >= d["score_psi_warning"]
            and sd["psi"] > sd["psi_noise_bound"]
        ):
            sev = Severity.CRITICAL if sd["psi"] >= d["score_psi_critical"] else Severity.WARNING
            alerts.append(
                _alert(
                    model,
                    at,
                    f"{model}: prediction drift, PSI {sd['psi']:.2f} ({sd['period']})",
                    f"The served risk scores shifted (mean {sd['mean_score']:.3f}); alert volume will change.",
                    sev,
                    "prediction_drift",
                    [Factor("score PSI", sd["psi"], f"PSI {sd['psi']:.2f}")],
                    tv,
                )
            )
    judged = [
        r
        for r in report.performance
        if r["n"] >= perf["min_outcomes"] and r["events"] >= perf["min_events"] and r.get("auroc") is not None
    ]
    if judged:
        r = min(judged, key=lambda x: x["window"])
        problems: list[Factor] = []
        # A finding counts only past its threshold AND past sampling noise (one-sided z at the thresholds' alpha,
        # on the window's analytic standard error), as drift is judged against the PSI noise bound: on 100-200
        # outcomes an AUROC moves by 0.05 and a calibration slope by 0.3 from chance alone.
        z = float(norm.ppf(1.0 - float(perf.get("alpha", 0.01))))

        def beyond_noise(deviation: float, se_key: str) -> bool:
            se = r.get(se_key)
            return se is None or abs(deviation) > z * se

        base_auroc = validated.get("auroc")
        if (
            base_auroc is not None
            and r["auroc"] < base_auroc - perf["auroc_drop"]
            and beyond_noise(base_auroc - r["auroc"], "auroc_se")
        ):
            problems.append(
                Factor("AUROC", r["auroc"] - base_auroc, f"AUROC {r['auroc']:.3f} vs {base_auroc:.3f} validated")
            )
        slope = r.get("calibration_slope")
        if (
            slope is not None
            and not perf["slope_low"] <= slope <= perf["slope_high"]
            and beyond_noise(slope - 1.0, "calibration_slope_se")
        ):
            problems.append(Factor("calibration slope", slope - 1.0, f"calibration slope {slope:.2f}"))
        inter = r.get("calibration_intercept")
        if inter is not None and abs(inter) > perf["intercept_abs"] and beyond_noise(inter, "calibration_intercept_se"):
            problems.append(Factor("calibration intercept", inter, f"calibration intercept {inter:+.2f}"))
        base_brier = validated.get("brier")
        if (
            base_brier
            and r["brier"] > base_brier * (1 + perf["brier_rise"])
            and beyond_noise(r["brier"] - base_brier, "brier_se")
        ):
            problems.append(Factor("Brier", r["brier"] - base_brier, f"Brier {r['brier']:.3f} vs {base_brier:.3f}"))
        if problems:
            discrimination = any(f.label == "AUROC" for f in problems)
            alerts.append(
                _alert(
                    model,
                    at,
                    f"{model}: performance below its card ({r['period']}, {r['n']} outcomes)",
                    "Resolved outcomes show "
                    + (
                        "lost discrimination: retrain a challenger."
                        if discrimination
                        else "calibration drift with discrimination intact: a recalibration-only update may suffice."
                    ),
                    Severity.CRITICAL if discrimination else Severity.WARNING,
                    "performance",
                    problems,
                    tv,
                )
            )
    if report.fairness:
        latest_w = min(r["window"] for r in report.fairness)
        gaps = [
            Factor(r["attribute"], gap, f"{r['attribute']}: {metric.replace('_', ' ')} gap {gap:.2f}")
            for r in report.fairness
            if r["window"] == latest_w
            for metric, limit in (("auroc", fair["auroc_gap"]), ("calibration_in_the_large", fair["calibration_gap"]))
            if (gap := r["largest_gap"].get(metric)) is not None and gap > limit
        ]
        if gaps:
            alerts.append(
                _alert(
                    model,
                    at,
                    f"{model}: subgroup gap above threshold ({len(gaps)} finding(s))",
                    "Performance differs between demographic groups more than the thresholds allow.",
                    Severity.WARNING,
                    "fairness",
                    gaps,
                    tv,
                )
            )
    alerts.extend(_feedback_alerts(model, report.feedback, thresholds, at))
    return alerts


def _feedback_alerts(
    model: str, feedback: list[dict[str, Any]], thresholds: dict[str, Any], at: datetime
) -> list[Insight]:
    fb = thresholds["feedback"]
    flagged = [r for r in feedback if r["decided"] >= fb["min_cards"] and r["override_rate"] >= fb["override_rate"]]
    if not flagged:
        return []
    factors = [
        Factor(
            r["card_type"],
            r["override_rate"],
            f"{r['card_type']}: {100 * r['override_rate']:.0f}% of {r['decided']} overridden",
        )
        for r in flagged
    ]
    return [
        _alert(
            model,
            at,
            f"{len(flagged)} card type(s) overridden at or above {100 * fb['override_rate']:.0f}%",
            "Review the alert policy: `carepilot monitor feedback`.",
            Severity.INFO,
            "feedback",
            factors,
            str(thresholds.get("version", "")),
        )
    ]
