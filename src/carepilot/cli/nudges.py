"""``carepilot nudges``: plan this week's nudges, show a patient's messages, switch nudges off or on, log responses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, print_json, settings
from carepilot.learning.nudges import NudgePlanner
from carepilot.store.consent import SqlConsentDirectory
from carepilot.store.nudges import NudgeRepository
from carepilot.store.repository import SqlRecordRepository

nudges_app = typer.Typer(help="Engagement nudges: plan, show, switch off or on, log responses.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(nudges_app, name="nudges")


def _repos() -> tuple[SqlRecordRepository, NudgeRepository]:
    db, repo = open_store(settings())
    return repo, NudgeRepository(db)


@nudges_app.command("plan", help="Choose and record this week's nudge for every patient who needs one.")
def plan(
    patients: Annotated[list[str] | None, typer.Argument(help="Patient ids (default: every patient).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the Thompson sampler.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    db, repo = open_store(settings())
    ids = list(patients or [p["patient_id"] for p in repo.list_patients()])
    planned = NudgePlanner(repo, NudgeRepository(db), SqlConsentDirectory(db), seed=seed).plan(ids, datetime.now(UTC))
    rows = [
        {
            "patient_id": p.patient_id,
            "message_id": p.message_id,
            "arm": p.arm.key,
            "status": p.status,
            "reason": p.reason,
            "scheduled_at": p.scheduled_at.isoformat(),
        }
        for p in planned
    ]
    if json_out:
        print_json({"patients": len(ids), "planned": rows})
        return
    table = Table(title=f"nudges for {len(ids)} patients: {sum(p.status == 'planned' for p in planned)} planned")
    for col in ("patient", "arm", "status", "reason", "when"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["patient_id"], r["arm"], r["status"], r["reason"], r["scheduled_at"])
    console.print(table)


@nudges_app.command("show", help="A patient's nudge settings and messages.")
def show(patient_id: str, json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    _, nudges = _repos()
    s = nudges.settings(patient_id)
    messages = nudges.messages(patient_id)
    if json_out:
        print_json(
            {
                "settings": s.__dict__,
                "messages": [{**m, "scheduled_at": m["scheduled_at"].isoformat()} for m in messages],
            }
        )
        return
    state = "on" if s.enabled else f"off ({s.reason or 'no reason given'})"
    console.print(f"nudges {state}; at most {s.max_per_week} a week; quiet {s.quiet_start:02d}:00-{s.quiet_end:02d}:00")
    table = Table(title=f"{len(messages)} messages")
    for col in ("when", "arm", "status", "responses"):
        table.add_column(col)
    for m in messages:
        table.add_row(m["scheduled_at"].isoformat(), m["arm"], m["status"], ", ".join(m["responses"]) or "-")
    console.print(table)


@nudges_app.command("off", help="Switch nudges off for a patient (the care team's decision, with a reason).")
def off(
    patient_id: str,
    reason: Annotated[str, typer.Option(help="Why (shown to the care team).")] = "",
    user: Annotated[str, typer.Option(help="Who decided.")] = "cli",
) -> None:
    _, nudges = _repos()
    nudges.save_settings(replace(nudges.settings(patient_id), enabled=False, reason=reason or None, updated_by=user))
    console.print(f"nudges switched off for {patient_id}")


@nudges_app.command("on", help="Switch nudges back on for a patient, optionally with a new weekly cap.")
def on(
    patient_id: str,
    max_per_week: Annotated[int | None, typer.Option(help="At most this many messages in 7 days.")] = None,
    user: Annotated[str, typer.Option(help="Who decided.")] = "cli",
) -> None:
    _, nudges = _repos()
    current = nudges.settings(patient_id)
    cap = current.max_per_week if max_per_week is None else max_per_week
    nudges.save_settings(replace(current, enabled=True, reason=None, max_per_week=cap, updated_by=user))
    console.print(f"nudges switched on for {patient_id} (at most {cap} a week)")


@nudges_app.command("respond", help="Log a patient's response to a message: refill, reply or visit.")
def respond(message_id: str, kind: Annotated[str, typer.Option(help="refill, reply or visit.")] = "refill") -> None:
    _, nudges = _repos()
    nudges.record_response(message_id, kind)
    console.print(f"response {kind} logged for message {message_id}")
