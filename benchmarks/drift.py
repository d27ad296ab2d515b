"""A simulated deployment of the readmission model, in time order, through a documented data shift.

The synthetic population is generated into a temporary folder and ingested into a fresh store through the real
pipeline; point-in-time readmission features are built from the store. Then, in time order:

1. **Champion**: an L2 logistic ``RiskClassifier`` is trained on the discharges from ``train_from`` (default
   2022-01-01, a full year into the record so every 365-day lookback is complete) whose 30-day outcome was known at
   the deployment date, validated by grouped 5-fold cross-validation, registered and approved (through
   ``learning.governance``, audited).
2. **Deployment**: every week, that week's discharges are scored by the *serving* version and logged as predictions;
   outcomes resolve only once their 30-day window has closed by that week (``OutcomeRepository.resolve(as_of=...)``);
   the monitor runs on the last ``window`` days of predictions (default 56: about 130 discharges at the default
   population's rate). Input drift must pass the PSI noise bound and performance findings their standard errors
   (``learning.monitoring``), so a quiet week does not page the owner.
3. **Shift** (from ``shift`` onwards, default 2024-07-01), applied to the point-in-time feature rows:
   * a lab assay unit change: creatinine arrives in µmol/L but is read as mg/dL (values x 88.4), the classic
     silent-unit failure;
   * a case-mix change: half of the discharges of patients under 65 stop arriving (a younger population moves to
     another hospital), so the served population is older.
4. **Detection**: the first weekly check on or after the shift that raises a *critical* input-drift,
   prediction-drift or performance ``model_alert`` (PSI 0.25 or more past its noise bound, or lost discrimination:
   what pages the model owner); every such alarm before the shift is a false alarm. Warnings (PSI 0.1-0.25,
   calibration drift) are counted apart: the synthetic cohort is closed, so it ages and gathers diagnoses year by
   year, and the monitor rightly reports that slow drift as warnings.
5. **Retraining**: from the detection on, once ``retrain_after`` (default 300) post-shift discharges have known
   outcomes, each week ``learning.retraining.retrain`` trains a challenger on the post-shift window (its latest
   quarter held out); the model owner approves it if it beats the champion on the held-out window and rejects it
   otherwise (the next week's attempt then has more data); an approved challenger serves from the next week.

Figures: AUROC of the served predictions before the shift, after it (champion), and after the approved challenger
serves, each with a 95% percentile bootstrap interval over discharges; the champion's AUROC on the same post-retrain
discharges shows what retraining bought. Options: ``patients`` (default 10000), ``years`` (5), ``seed`` (7),
``train_from`` (2022-01-01), ``deploy`` (2024-01-01), ``shift`` (2024-07-01), ``window`` (56), ``retrain_after``
(300), ``dir`` (an existing population folder instead of synthesising one), ``store`` (a SQLite file kept between
runs: ingested on the first run, reused after), ``sites_dir`` (a health system with one store per hospital, as
``carepilot federate prepare`` makes: the model serves every hospital and the examples are their union).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import bootstrap
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sqlalchemy import delete, select

from carepilot.bench import BenchReport, peak_rss_mb
from carepilot.config import Settings
from carepilot.domain.consent import StaticConsent
from carepilot.domain.insight import Severity
from carepilot.errors import ModelError
from carepilot.features.population import iter_profiles, readmission_frame
from carepilot.features.readmission import FEATURES, READMISSION_WINDOW
from carepilot.federated.deploy import cached_store_frame, store_url
from carepilot.ingest.pipeline import Ingestor
from carepilot.ingest.readers import discover
from carepilot.learning.drift import reference_profile
from carepilot.learning.governance import Governance, ModelEventRepository, owner
from carepilot.learning.inputs import demographics, read_reference, validated_metrics, write_reference
from carepilot.learning.monitoring import load_thresholds, monitor
from carepilot.learning.outcomes import OutcomeRepository, Prediction
from carepilot.learning.retraining import retrain
from carepilot.models.metrics import binary_metrics, calibration_slope_intercept
from carepilot.models.registry import ModelRegistry
from carepilot.models.risk import RiskClassifier
from carepilot.store import tables as t
from carepilot.store.db import open_database
from carepilot.store.repository import SqlRecordRepository
from carepilot.synth.population import SynthOptions, generate

NAME = "readmission"
UMOL_PER_MGDL = 88.4  # creatinine: 1 mg/dL = 88.4 µmol/L
DRIFT_TOPICS = {"input_drift", "prediction_drift", "performance"}


def _utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def apply_shift(frame: pd.DataFrame, shift: datetime, seed: int) -> pd.DataFrame:
    """The documented shift: creatinine in µmol/L read as mg/dL, and half the under-65 discharges gone, after ``shift``."""
    out = frame.copy()
    after = out["index_time"] >= shift
    out.loc[after, "latest_creatinine"] = out.loc[after, "latest_creatinine"] * UMOL_PER_MGDL
    rng = np.random.default_rng(seed)
    young_gone = after & (out["age"] < 65) & (rng.random(len(out)) < 0.5)
    return out[~young_gone].reset_index(drop=True)


def _interval(statistic: Any, arrays: tuple[np.ndarray, ...], seed: int) -> list[float]:
    """95% percentile bootstrap interval of ``statistic`` over discharges (500 paired resamples)."""
    ci = bootstrap(
        arrays, statistic, paired=True, vectorized=False, n_resamples=500, method="percentile", random_state=seed
    ).confidence_interval
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if y.min() != y.max() else np.nan


def _auroc_ci(y: np.ndarray, p: np.ndarray, seed: int) -> dict[str, Any]:
    if len(y) < 20 or y.min() == y.max():
        return {"auroc": None, "ci": [None, None], "n": len(y), "events": int(y.sum())}
    recal = calibration_slope_intercept(y, p)
    return {
        "auroc": round(_auroc(y, p), 4),
        "ci": _interval(_auroc, (y, p), seed),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "calibration_slope": round(recal.slope, 3),
        # observed minus mean predicted risk: finite even when a broken input saturates every score at 1
        "observed_minus_predicted": round(float(y.mean() - p.mean()), 4),
        "n": len(y),
        "events": int(y.sum()),
    }


def _paired_gain(y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, seed: int) -> dict[str, Any]:
    """Challenger minus champion AUROC on the same discharges, with a paired 95% percentile bootstrap interval."""
    if len(y) < 20 or y.min() == y.max():
        return {"gain": None, "ci": [None, None]}

    def gain(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return _auroc(a, b) - _auroc(a, c)

    return {"gain": round(gain(y, challenger, champion), 4), "ci": _interval(gain, (y, challenger, champion), seed)}


def _predictions(rows: pd.DataFrame, model: RiskClassifier, version: str) -> list[Prediction]:
    scores = model.predict_proba(rows[list(FEATURES)])[:, 1]
    return [
        Prediction(
            patient_id=str(r.patient_id),
            index_time=r.index_time.to_pydatetime(),
            model_name=NAME,
            model_version=version,
            score=float(s),
            encounter_id=str(r.encounter_id),
            features={f: float(getattr(r, f)) for f in FEATURES},
        )
        for r, s in zip(rows.itertuples(index=False), scores, strict=True)
    ]


@dataclass(frozen=True)
class Timeline:
    """The simulated deployment's dates and sizes."""

    train_from: datetime
    deploy: datetime
    shift: datetime
    window_days: int = 56
    retrain_after: int = 300


def simulate(
    frame: pd.DataFrame, people: pd.DataFrame, workdir: Path, db: Any, when: Timeline, seed: int
) -> dict[str, Any]:
    """Run the deployment week by week; returns the figures and the event log."""
    registry = ModelRegistry(workdir / "models")
    outcomes = OutcomeRepository(db)
    gov = Governance(registry, ModelEventRepository(db))
    thresholds = load_thresholds()

    deploy, shift, window_days = when.deploy, when.shift, when.window_days
    known = frame[(frame["index_time"] >= when.train_from) & (frame["index_time"] + READMISSION_WINDOW <= deploy)]
    X, y, groups = known[list(FEATURES)], known["label"].to_numpy(int), known["patient_id"].to_numpy()
    oof = cross_val_predict(
        RiskClassifier("logistic", random_state=seed), X, y, groups=groups, cv=GroupKFold(5), method="predict_proba"
    )[:, 1]
    cv = binary_metrics(y, oof)
    champion = RiskClassifier("logistic", random_state=seed).fit(X, y, groups)
    rec = registry.save(
        champion,
        NAME,
        metadata={
            "estimator": "logistic",
            "training_window": f"{known['index_time'].min():%Y-%m-%d} to {known['index_time'].max():%Y-%m-%d}",
            "n": len(known),
            "events": int(y.sum()),
            "validation": {"auroc": cv["auroc"], "brier": cv["brier"]},
        },
        status="pending",
    )
    write_reference(registry, NAME, rec.version, reference_profile(known, FEATURES, champion.predict_proba(X)[:, 1]))
    gov.approve(NAME, rec.version, principal=owner("bench-owner"), reason="initial deployment after validation")

    events: list[dict[str, Any]] = []
    detection: datetime | None = None
    creatinine_seen: datetime | None = None
    false_alarms = 0
    episodes = 0
    alarmed_last_week = False
    warnings_before = 0
    checks_before = 0
    approved_at: datetime | None = None
    loaded: dict[str, RiskClassifier] = {}
    end = frame["index_time"].max()
    week = deploy
    while week <= end:
        nxt = week + timedelta(days=7)
        serving = registry.record(NAME).version
        if serving not in loaded:
            loaded[serving] = registry.load(NAME, serving)
        rows = frame[(frame["index_time"] >= week) & (frame["index_time"] < nxt)]
        if len(rows):
            outcomes.log_predictions(_predictions(rows, loaded[serving], serving), served_at=nxt)
        outcomes.resolve(now=nxt, as_of=nxt)
        preds = outcomes.predictions(NAME)
        preds = preds[
            (preds["model_version"] == serving) & (preds["index_time"] >= nxt - timedelta(days=2 * window_days + 30))
        ]
        # Labels the store resolved only count once their window closed by this week (as_of above).
        report = monitor(
            NAME,
            preds,
            people,
            read_reference(registry, NAME, serving),
            validated_metrics(registry, NAME, serving),
            pd.DataFrame(),
            thresholds,
            serving_version=serving,
            window_days=window_days,
            n_resamples=0,  # weekly checks need point estimates; the final figures carry intervals
            seed=seed,
        )
        drift_alerts = [a for a in report.alerts if a.topic in DRIFT_TOPICS]
        # An alarm is a critical alert, the kind that pages the model owner; warnings (PSI 0.1-0.25, calibration
        # drift) are listed on the monitoring page and counted separately.
        alarms = [a for a in drift_alerts if a.severity == Severity.CRITICAL]
        named = sorted({f.label for a in alarms if a.topic == "input_drift" for f in a.explanation})
        if nxt > shift and creatinine_seen is None and "latest_creatinine" in named:
            creatinine_seen = nxt
        if nxt <= shift:
            checks_before += 1
            warnings_before += bool(drift_alerts) and not alarms
            if alarms:
                false_alarms += 1
                # An episode starts in a week after one without an alarm: what a de-duplicating pager would send,
                # so a drift that persists for weeks is one episode.
                episodes += not alarmed_last_week
                events.append(
                    {
                        "week": f"{week:%Y-%m-%d}",
                        "event": "false alarm",
                        "alerts": [a.title for a in alarms],
                        "features": [f.phrase for a in alarms if a.topic == "input_drift" for f in a.explanation],
                    }
                )
            alarmed_last_week = bool(alarms)
        elif detection is None and alarms:
            detection = nxt
            events.append(
                {
                    "week": f"{week:%Y-%m-%d}",
                    "event": "drift detected",
                    "alerts": [a.title for a in alarms],
                    "features": named,
                }
            )
        labelled = frame[(frame["index_time"] + READMISSION_WINDOW <= nxt)]
        post_shift = int((labelled["index_time"] >= shift).sum())
        if detection is not None and approved_at is None and post_shift >= when.retrain_after:
            since_shift = max(int((labelled["index_time"].max() - shift).days), 30)
            try:
                result = retrain(
                    labelled, registry, NAME, consent=StaticConsent(), window_days=since_shift, n_bootstrap=0, seed=seed
                )
            except ModelError as exc:
                events.append({"week": f"{week:%Y-%m-%d}", "event": "retrain deferred", "why": str(exc)[:120]})
            else:
                c = result.comparison
                if c["challenger"]["auroc"] < c["champion"]["auroc"]:
                    # The owner's rule here: never approve a challenger that is worse on the held-out window.
                    gov.reject(
                        NAME,
                        result.record.version,
                        principal=owner("bench-owner"),
                        reason=f"challenger AUROC {c['challenger']['auroc']:.3f} below champion "
                        f"{c['champion']['auroc']:.3f} on {c['holdout']['n']} held-out discharges",
                    )
                    events.append(
                        {
                            "week": f"{week:%Y-%m-%d}",
                            "event": "challenger rejected",
                            "version": result.record.version,
                            "champion_holdout_auroc": c["champion"]["auroc"],
                            "challenger_holdout_auroc": c["challenger"]["auroc"],
                            "holdout": c["holdout"],
                        }
                    )
                    week = nxt
                    continue
                gov.approve(
                    NAME,
                    result.record.version,
                    principal=owner("bench-owner"),
                    reason=f"challenger AUROC {result.comparison['challenger']['auroc']:.3f} vs champion "
                    f"{result.comparison['champion']['auroc']:.3f} on the held-out post-shift window",
                )
                approved_at = nxt
                events.append(
                    {
                        "week": f"{week:%Y-%m-%d}",
                        "event": "challenger approved",
                        "version": result.record.version,
                        "comparison": {
                            k: result.comparison[r][k] for r in ("champion", "challenger") for k in ("auroc",)
                        },
                        "holdout": result.comparison["holdout"],
                        "champion_holdout_auroc": result.comparison["champion"]["auroc"],
                        "challenger_holdout_auroc": result.comparison["challenger"]["auroc"],
                    }
                )
        week = nxt

    outcomes.resolve(as_of=end + timedelta(days=1))
    served = outcomes.predictions(NAME)
    served = served[served["label"].notna()]
    y_all, p_all = served["label"].to_numpy(int), served["score"].to_numpy(float)
    t = served["index_time"]
    before = (t < shift).to_numpy()
    after = (t >= shift).to_numpy() & (served["model_version"] == "1").to_numpy()
    retrained = (served["model_version"] != "1").to_numpy()
    figures: dict[str, Any] = {
        "before": _auroc_ci(y_all[before], p_all[before], seed),
        "after_drift": _auroc_ci(y_all[after], p_all[after], seed),
        "after_retrain": _auroc_ci(y_all[retrained], p_all[retrained], seed),
    }
    if retrained.any():
        # What the champion would have scored on the very discharges the challenger served.
        rows = frame.set_index("encounter_id").loc[served.loc[retrained, "encounter_id"]]
        champ = loaded["1"].predict_proba(rows[list(FEATURES)])[:, 1]
        figures["champion_on_retrain_rows"] = _auroc_ci(y_all[retrained], champ, seed)
        figures["retrain_gain"] = _paired_gain(y_all[retrained], p_all[retrained], champ, seed)
    return {
        "figures": figures,
        "cv_auroc": round(cv["auroc"], 4),
        "champion_training": {"n": len(known), "events": int(y.sum())},
        "detection": detection,
        "creatinine_seen": creatinine_seen,
        "false_alarms": false_alarms,
        "false_alarm_episodes": episodes,
        "warnings_before_shift": warnings_before,
        "checks_before_shift": checks_before,
        "approved_at": approved_at,
        "events": events,
        "audit": [
            {"action": e["action"], "version": e["model_version"], "actor": e["actor"]} for e in gov.events.events(NAME)
        ],
    }


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    seed = int(options.get("seed", "7"))
    patients = int(options.get("patients", "10000"))
    when = Timeline(
        train_from=_utc(options.get("train_from", "2022-01-01")),
        deploy=_utc(options.get("deploy", "2024-01-01")),
        shift=_utc(options.get("shift", "2024-07-01")),
        window_days=int(options.get("window", "56")),
        retrain_after=int(options.get("retrain_after", "300")),
    )
    shift = when.shift
    workdir = Path(tempfile.mkdtemp(prefix="carepilot-bench-drift-"))
    try:
        if "sites_dir" in options:
            examples, db = _health_system(Path(options["sites_dir"]), workdir)
            dataset = f"synthetic health system, one store per hospital ({options['sites_dir']})"
        else:
            examples, db = _single_store(options, settings, workdir, patients, seed)
            dataset = (
                f"synthetic population at {options['dir']}"
                if "dir" in options
                else f"CarePilot synthetic population ({patients} patients, seed {seed})"
            )
        frame = apply_shift(examples, shift, seed)
        sim = simulate(frame, demographics(db), workdir, db, when, seed)
        db.dispose()
        f = sim["figures"]
        delay = (sim["detection"] - shift).days if sim["detection"] is not None else None
        metrics: dict[str, Any] = {
            "detection_delay_days": delay,
            "false_alarms": sim["false_alarms"],
            "false_alarm_episodes": sim["false_alarm_episodes"],
            "creatinine_flagged_delay_days": (sim["creatinine_seen"] - shift).days if sim["creatinine_seen"] else None,
            "weekly_checks_before_shift": sim["checks_before_shift"],
            "weeks_with_only_warnings_before_shift": sim["warnings_before_shift"],
            "auroc_before": f["before"]["auroc"],
            "auroc_after_drift": f["after_drift"]["auroc"],
            "auroc_after_retrain": f["after_retrain"]["auroc"],
            "auroc_before_ci": f["before"]["ci"],
            "auroc_after_drift_ci": f["after_drift"]["ci"],
            "auroc_after_retrain_ci": f["after_retrain"]["ci"],
            "auroc_champion_on_retrain_rows": f.get("champion_on_retrain_rows", {}).get("auroc"),
            **{
                f"{k}_{period}": f[period].get(k)
                for period in ("before", "after_drift", "after_retrain")
                for k in ("brier", "calibration_slope", "observed_minus_predicted")
            },
            "brier_champion_on_retrain_rows": f.get("champion_on_retrain_rows", {}).get("brier"),
            "auroc_gain_of_retrain": f.get("retrain_gain", {}).get("gain"),
            "auroc_gain_of_retrain_ci": f.get("retrain_gain", {}).get("ci"),
            "n_before": f["before"]["n"],
            "n_after_drift": f["after_drift"]["n"],
            "n_after_retrain": f["after_retrain"]["n"],
            "champion_cv_auroc": sim["cv_auroc"],
            "champion_training": sim["champion_training"],
            "challenger_approved": f"{sim['approved_at']:%Y-%m-%d}" if sim["approved_at"] else None,
            "discharges": len(frame),
            "events": sim["events"],
            "audit": sim["audit"],
            "peak_rss_mb": peak_rss_mb(),
        }
        return BenchReport(
            benchmark="drift",
            dataset=f"{dataset}, shift on {shift:%Y-%m-%d}",
            n=len(frame),
            metrics=metrics,
            baselines={"champion cross-validated on its training period": {"auroc": sim["cv_auroc"]}},
            notes=[
                "shift: creatinine in µmol/L read as mg/dL (x88.4) and half of under-65 discharges dropped, from the "
                "shift date, applied to point-in-time feature rows",
                "weekly monitor: drift on the last `window` days of predictions, outcomes resolved by that week only",
                "AUROC intervals: 95% percentile bootstrap over discharges (500 resamples)",
            ],
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _single_store(
    options: dict[str, str], settings: Settings, workdir: Path, patients: int, seed: int
) -> tuple[pd.DataFrame, Any]:
    """The examples of one store, synthesised and ingested here unless ``dir`` / ``store`` say otherwise."""
    population = Path(options["dir"]) if "dir" in options else workdir / "population"
    if "dir" not in options and not ("store" in options and Path(options["store"]).is_file()):
        generate(
            SynthOptions(
                patients=patients,
                seed=seed,
                years=float(options.get("years", "5")),
                out=population,
                format="ndjson",
                streams=False,
                reference_data=settings.reference_data,
            )
        )
    # ``store=PATH`` keeps the ingested store between runs (ingest dominates the run time on a busy machine);
    # the learning tables are emptied so each run starts from no predictions, outcomes or approvals.
    store = Path(options["store"]) if "store" in options else workdir / "store.db"
    reuse = store.is_file()
    db = open_database(f"sqlite:///{store}")
    repo = SqlRecordRepository(db)
    if reuse:
        with db.write() as conn:
            for table in (t.predictions, t.outcomes, t.model_events):
                conn.execute(delete(table))
    else:
        Ingestor(repo, "ehr").ingest(discover([population / "fhir" / "ehr"]))
    # With ``store=``, the point-in-time frame is cached next to it (``STORE.frame.parquet``; delete it after
    # re-ingesting): building 10,000 patients' profiles takes minutes, and the simulation never changes them.
    cached = store.with_suffix(".frame.parquet")
    if reuse and cached.is_file():
        return pd.read_parquet(cached), db
    examples = readmission_frame(list(iter_profiles(repo)))
    if "store" in options:
        examples.to_parquet(cached)
    return examples, db


def _health_system(sites_dir: Path, workdir: Path) -> tuple[pd.DataFrame, Any]:
    """Examples of every hospital store under ``sites_dir`` (``carepilot federate prepare``) and a warehouse.

    One model serves the whole health system. Its predictions, outcomes and approvals go to a fresh warehouse
    store holding every hospital's patients and encounters (what demographics and outcome resolution read). Each
    hospital's examples are cached at the hospital, as the federated client caches them.
    """
    homes = sorted(p for p in sites_dir.iterdir() if (p / "carepilot.db").is_file())
    if not homes:
        raise ModelError(f"{sites_dir} holds no hospital stores (HOSPITAL/carepilot.db)")
    db = open_database(f"sqlite:///{workdir / 'warehouse.db'}")
    frames = []
    for home in homes:
        url = store_url(str(home))
        frames.append(cached_store_frame(url, home / "federated")[0])
        site_db = open_database(url)
        with site_db.read() as src, db.write() as dst:
            for table in (t.patients, t.encounters):
                rows = [dict(r._mapping) for r in src.execute(select(table))]
                if rows:
                    dst.execute(table.insert(), rows)
        site_db.dispose()
    return pd.concat(frames, ignore_index=True), db
