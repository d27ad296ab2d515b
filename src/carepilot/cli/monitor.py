"""``carepilot monitor cgm-metrics|news2|replay``: CGM metrics, NEWS2, stream replay (docs/monitoring.md)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Annotated, Any

import orjson
import pandas as pd
import typer
from rich.table import Table

from carepilot.cli.console import console, print_json, settings
from carepilot.errors import InputError, UnreadableInputError
from carepilot.monitoring.alerts import Alert, RiskTier
from carepilot.monitoring.cgm import ambulatory_glucose_profile, cgm_metrics
from carepilot.monitoring.news2 import Consciousness, News2Input, news2
from carepilot.monitoring.processor import PatientContext, StreamProcessor
from carepilot.monitoring.readings import Kind, Validated, validate_frame, validate_records
from carepilot.monitoring.replay import contexts_from_patients, score_alerts, truth_events
from carepilot.monitoring.replay import replay as replay_stream

log = logging.getLogger(__name__)
monitor_app = typer.Typer(help="Continuous monitoring: CGM metrics, NEWS2, stream replay (docs/monitoring.md).")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]

CGM_KEYS = (
    "gmi",
    "mean_glucose",
    "cv",
    "time_below_54",
    "time_54_69",
    "time_in_range",
    "time_181_250",
    "time_above_250",
    "data_sufficiency",
)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")


def _read_json_list(path: Path) -> list[Any]:
    try:
        payload = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise UnreadableInputError(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise UnreadableInputError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(payload, list):
        raise InputError(f"{path} must hold a JSON list of readings, found a {type(payload).__name__}")
    return payload


@monitor_app.command("cgm-metrics")
def cgm_metrics_command(
    readings: Annotated[Path, typer.Option("--readings", help="JSON list of CGM readings (type, value, unit, time).")],
    json_out: JsonFlag = False,
    period_days: Annotated[float, typer.Option("--period-days", help="Period ending at the last reading.")] = 14.0,
    agp: Annotated[Path | None, typer.Option("--agp", help="Also write the AGP chart to this PNG file.")] = None,
    utc_offset_minutes: Annotated[
        int, typer.Option("--utc-offset-minutes", help="Patient's clock for the AGP time of day (e.g. 60).")
    ] = 0,
) -> None:
    """Consensus CGM metrics (Battelino 2019): GMI, mean, CV, time in ranges, data sufficiency."""
    rows = _read_json_list(readings)
    validated = validate_records(rows, patient_id="cli")
    b = validated.batch
    named = {p for p in (r.get("patient_id") for r in rows if isinstance(r, dict)) if p is not None}
    if len(named) > 1:
        # Metrics over several people's glucose would describe no one.
        raise InputError(f"{readings} holds readings of {len(named)} patients; give one patient's readings")
    is_cgm = b.kind == Kind.CGM_GLUCOSE
    if not is_cgm.any():
        reasons = validated.reasons()
        raise InputError(
            f"{readings} holds no valid cgm_glucose readings ({len(rows)} rows; rejected: {reasons or 'none'})"
        )
    if period_days <= 0:
        raise InputError("--period-days must be positive")
    metrics = cgm_metrics(b.time[is_cgm], b.value[is_cgm], period_days=period_days)
    result: dict[str, Any] = {key: getattr(metrics, key) for key in CGM_KEYS}
    result.update(
        n_readings=metrics.n_readings,
        period_days=metrics.period_days,
        sufficient=metrics.sufficient,
        other_types_ignored=int((~is_cgm).sum()),
        rejected=len(validated.rejected),
        rejected_reasons=validated.reasons(),
    )
    if agp is not None:
        from carepilot.monitoring.plots import render_agp_png

        profile = ambulatory_glucose_profile(b.time[is_cgm], b.value[is_cgm], utc_offset_minutes=utc_offset_minutes)
        agp.parent.mkdir(parents=True, exist_ok=True)
        agp.write_bytes(render_agp_png(profile, metrics))
        result["agp_png"] = str(agp)
    if json_out:
        print_json(result)
        return
    table = Table(title=f"CGM metrics ({metrics.n_readings} readings, {period_days:g} days)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("mean glucose", f"{metrics.mean_glucose:.1f} mg/dL")
    table.add_row("GMI", f"{metrics.gmi:.2f} %")
    table.add_row("CV", f"{metrics.cv:.1%}" + ("  (unstable, >36%)" if metrics.cv > 0.36 else ""))
    for key, label in (
        ("time_below_54", "time <54 mg/dL"),
        ("time_54_69", "time 54-69"),
        ("time_in_range", "time in range 70-180"),
        ("time_181_250", "time 181-250"),
        ("time_above_250", "time >250"),
    ):
        table.add_row(label, f"{getattr(metrics, key):.1%}")
    table.add_row(
        "data sufficiency",
        f"{metrics.data_sufficiency:.0%} ({'sufficient' if metrics.sufficient else 'below 70%'})",
    )
    console.print(table)
    if validated.rejected:
        console.print(f"  {len(validated.rejected)} rows rejected: {validated.reasons()}")


@monitor_app.command("news2")
def news2_command(
    rr: Annotated[float, typer.Option("--rr", help="Respiratory rate per minute.")],
    spo2: Annotated[float, typer.Option("--spo2", help="SpO2 %.")],
    sbp: Annotated[float, typer.Option("--sbp", help="Systolic blood pressure mmHg.")],
    hr: Annotated[float, typer.Option("--hr", help="Pulse per minute.")],
    temp: Annotated[float, typer.Option("--temp", help="Temperature in degrees Celsius.")],
    consciousness: Annotated[
        str, typer.Option("--consciousness", help="ACVPU: A (alert), C (new confusion), V, P or U.")
    ] = "A",
    oxygen: Annotated[bool, typer.Option("--oxygen/--air", help="On supplemental oxygen or breathing air.")] = False,
    scale: Annotated[int, typer.Option("--scale", help="SpO2 scale: 1, or 2 for a prescribed 88-92% target.")] = 1,
    json_out: JsonFlag = False,
) -> None:
    """NEWS2 (Royal College of Physicians 2017): aggregate score and clinical risk band."""
    try:
        level = Consciousness(consciousness.strip().upper())
    except ValueError as exc:
        raise InputError(f"--consciousness must be one of A, C, V, P, U; got {consciousness!r}") from exc
    result = news2(News2Input(rr, spo2, oxygen, sbp, hr, level, temp, scale))
    payload = {
        "score": result.score,
        "risk": result.band.value,
        "red_score": result.red_score,
        "parameters": result.parameters,
        "response": result.response,
        "spo2_scale": scale,
    }
    if json_out:
        print_json(payload)
        return
    table = Table(title=f"NEWS2 {result.score} ({result.band.value} risk)")
    table.add_column("parameter")
    table.add_column("score", justify="right")
    for name, points in result.parameters.items():
        table.add_row(name.replace("_", " "), str(points))
    console.print(table)
    console.print(f"  {result.response}")


@monitor_app.command("replay")
def replay_command(
    directory: Annotated[Path, typer.Argument(help="Population folder with streams/readings.parquet.")],
    json_out: JsonFlag = False,
    patients: Annotated[int, typer.Option("--patients", help="Replay only the first N patients (0 = all).")] = 0,
    tier: Annotated[str, typer.Option("--tier", help="Risk tier for every patient: low, medium, high.")] = "medium",
    tolerance_hours: Annotated[
        float, typer.Option("--tolerance-hours", help="An alert this long before drift_start still counts.")
    ] = 24.0,
    assume_utc: Annotated[
        bool, typer.Option("--assume-utc", help="Read a time column stored without timezone as UTC.")
    ] = False,
    store: Annotated[
        bool,
        typer.Option("--store", help="Also write the readings and alerts into the store (patients it knows)."),
    ] = False,
) -> None:
    """Replay a recorded stream in time order through the processor and alert policy; score against truth."""
    path = directory / "streams" / "readings.parquet"
    if not path.is_file():
        raise InputError(f"no stream at {path}")
    try:
        risk_tier = RiskTier(tier)
    except ValueError as exc:
        raise InputError(f"--tier must be low, medium or high; got {tier!r}") from exc
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise UnreadableInputError(f"cannot read {path} as Parquet: {exc}") from exc
    if patients > 0 and "patient_id" in frame.columns:
        keep = frame["patient_id"].drop_duplicates().iloc[:patients]
        frame = frame[frame["patient_id"].isin(keep)].reset_index(drop=True)
    validated = validate_frame(frame, assume_utc=assume_utc)
    default = PatientContext(risk_tier=risk_tier)
    processor = StreamProcessor(default_context=default)
    patients_path = directory / "truth" / "patients.parquet"
    if patients_path.is_file():
        # The recorded heart-failure diagnosis decides whether the weight rule applies.
        known = pd.read_parquet(patients_path, columns=None)
        for pid, context in contexts_from_patients(known, default).items():
            processor.set_context(pid, context)
    run = replay_stream(validated, processor)
    log.info("replayed readings=%d patients=%d alerts=%d", len(frame), processor.patients, len(run.alerts))
    result: dict[str, Any] = {
        "readings": len(frame),
        "accepted": processor.accepted,
        "rejected": dict(sorted(processor.rejected.items())),
        "patients": processor.patients,
        "alerts": len(run.alerts),
        "alerts_per_patient_week": processor.policy.burden.per_patient_week(),
        "patient_weeks": round(processor.policy.burden.patient_weeks, 2),
        "policy_outcomes": dict(sorted(processor.policy.outcomes.items())),
        "readings_per_s": round(processor.accepted / run.process_seconds, 1) if run.process_seconds else None,
        "readings_per_cpu_s": (
            round(processor.accepted / run.process_cpu_seconds, 1) if run.process_cpu_seconds else None
        ),
    }
    truth_path = directory / "truth" / "deterioration.parquet"
    if truth_path.is_file():
        truth = pd.read_parquet(truth_path)
        if patients > 0:
            truth = truth[truth["patient_id"].isin(set(frame["patient_id"]))]
        score = score_alerts(
            run.alerts,
            truth_events(truth),
            processor.policy.burden,
            tolerance_hours=tolerance_hours,
            batch=validated.batch,
        )
        result.update(
            events=score.events,
            detected=score.detected,
            sensitivity=score.sensitivity,
            observable_events=score.observable_events,
            sensitivity_observable=score.sensitivity_observable,
            median_lead_hours=score.median_lead_hours,
            ppv=score.ppv,
            false_alerts_per_patient_week=score.false_alerts_per_patient_week,
            alerts_by_rule=score.alerts_by_rule,
        )
    if store:
        result["store"] = _write_store(validated, run.alerts)
    if json_out:
        print_json(result)
        return
    table = Table(title=f"replay of {directory}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key.replace("_", " "), _fmt(value))
    console.print(table)


def _write_store(validated: Validated, alerts: list[Alert]) -> dict[str, int]:
    """Readings and alerts of the replay into the configured store; counts of what was written."""
    from carepilot.bootstrap import open_store
    from carepilot.insights.monitoring import store_replay
    from carepilot.store.feedback import DeliveryRepository
    from carepilot.store.readings import ReadingRepository

    db, _ = open_store(settings())
    try:
        done = store_replay(ReadingRepository(db), DeliveryRepository(db), validated, alerts)
    finally:
        db.dispose()
    log.info("replay stored patients=%d readings=%d alerts=%d", done.patients, done.readings, done.alerts)
    return {
        "patients": done.patients,
        "readings": done.readings,
        "alerts": done.alerts,
        "unknown_patients": done.unknown_patients,
    }


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


@monitor_app.command("models")
def models_command(
    json_out: JsonFlag = False,
    model: Annotated[str | None, typer.Option("--model", help="Monitor one model (default: every model).")] = None,
    window_days: Annotated[int, typer.Option("--window-days", help="Length of each monitoring window.")] = 30,
) -> None:
    """Drift, performance, fairness and CDS feedback of the registered models, with model_alert Insights."""
    from carepilot.cli.console import settings
    from carepilot.cli.model_monitor import model_reports, print_model_reports

    reports = model_reports(settings(), model, window_days)
    if json_out:
        print_json([r.to_dict() for r in reports])
        return
    print_model_reports(reports)


@monitor_app.command("feedback")
def feedback_command(json_out: JsonFlag = False) -> None:
    """Alert-policy review: card types overridden most often, and threshold suggestions with their effect."""
    from carepilot.cli.console import settings
    from carepilot.cli.model_monitor import feedback_review, print_feedback_review

    review = feedback_review(settings())
    if json_out:
        print_json(review.to_dict())
        return
    print_feedback_review(review)
