"""Record commands: ``ingest``, ``quarantine``, ``patients``, ``profile`` and ``quality``."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.audit import record_cli_access
from carepilot.cli.console import console, err_console, print_json, settings
from carepilot.cli.serialise import plain
from carepilot.domain.profile import Measurement, PatientProfile
from carepilot.errors import InputError
from carepilot.ingest.pipeline import Ingestor
from carepilot.ingest.quality import build_report
from carepilot.ingest.quarantine import retry
from carepilot.ingest.readers import discover
from carepilot.ingest.times import parse_datetime
from carepilot.store.links import LinkRepository
from carepilot.store.profiles import load_profile, person_record
from carepilot.store.quality import quality_counts

quarantine_app = typer.Typer(help="Inspect and re-try records that failed validation.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def register(app: typer.Typer) -> None:
    app.command("ingest", help="Ingest FHIR R4 JSON: Bundles, single resources, Bulk NDJSON (files, folders, .gz).")(
        ingest
    )
    app.add_typer(quarantine_app, name="quarantine")
    app.command("patients", help="List the patients in the store.")(patients)
    app.command("profile", help="Show one patient's unified profile and timeline.")(profile)
    app.command("quality", help="Data-quality report (Kahn et al. 2016 framework).")(quality)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    source: Annotated[str, typer.Option("--source", help="Name of the source system these files come from.")] = "ehr",
    json_out: JsonFlag = False,
) -> None:
    s = settings()
    _, repo = open_store(s)
    files = discover(paths)
    with Progress(
        TextColumn("[bold]ingest[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[resources]} resources"),
        TimeElapsedColumn(),
        console=err_console,
        disable=json_out or not err_console.is_terminal,
    ) as progress:
        task = progress.add_task(source, total=len(files), resources=0)
        counter = {"n": 0}

        def on_progress(n: int) -> None:
            counter["n"] += n
            progress.update(task, resources=counter["n"])

        ingestor = Ingestor(repo, source, batch_size=s.ingest_batch_size, on_progress=on_progress)
        summary = ingestor.ingest(files, on_file=lambda _p: progress.advance(task))
    for line in summary.unreadable_files:
        err_console.print(f"[red]unreadable:[/red] {line}")
    if json_out:
        print_json(summary.as_dict())
    else:
        table = Table(title=f"ingest from source '{source}'", show_header=False)
        for key in (
            "files",
            "resources_read",
            "accepted",
            "updated",
            "unchanged",
            "stale",
            "deleted",
            "quarantined",
            "patients",
        ):
            table.add_row(key.replace("_", " "), str(getattr(summary, key)))
        table.add_row("seconds", f"{summary.seconds:.1f}")
        console.print(table)
        if summary.quarantine_reasons:
            reasons = Table(title="quarantined, by reason")
            reasons.add_column("reason")
            reasons.add_column("count", justify="right")
            for reason, n in summary.quarantine_reasons.most_common():
                reasons.add_row(reason, str(n))
            console.print(reasons)
            console.print("See them with [bold]carepilot quarantine list[/bold].")
    if summary.nothing_read:
        raise typer.Exit(code=2)


@quarantine_app.command("list", help="List quarantined records with their reasons.")
def quarantine_list(
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 200,
    json_out: JsonFlag = False,
) -> None:
    _, repo = open_store(settings())
    rows = repo.quarantined(None if status == "all" else status, limit)
    if json_out:
        print_json(plain(rows))
        return
    table = Table(title=f"quarantine ({status}): {len(rows)} shown")
    for col in ("id", "source", "where", "resource", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        where = f"{Path(r['file'] or '').name} {r['position'] or ''}".strip()
        resource = f"{r['resource_type'] or '?'}/{r['resource_id'] or '?'}"
        table.add_row(str(r["id"]), r["source"], where, resource, f"[{r['reason_code']}] {r['reason']}")
    console.print(table)


@quarantine_app.command("show", help="Show one quarantined record: where it came from, why, and its content.")
def quarantine_show(item_id: Annotated[int, typer.Argument(help="Quarantine id.")], json_out: JsonFlag = False) -> None:
    db, repo = open_store(settings())
    item = repo.quarantine_item(item_id)
    record_cli_access(db, "read", f"quarantine/{item_id}", reason="quarantined record shown")
    if json_out:
        print_json(plain(item))
        return
    console.print(f"[bold]#{item['id']}[/bold] {item['status']} from source '{item['source']}'")
    console.print(f"file: {item['file']}  position: {item['position'] or '-'}")
    console.print(f"resource: {item['resource_type'] or '?'}/{item['resource_id'] or '?'}")
    console.print(f"reason [{item['reason_code']}]: {item['reason']}")
    content = item["content"] or ""
    with contextlib.suppress(orjson.JSONDecodeError):
        content = orjson.dumps(orjson.loads(content), option=orjson.OPT_INDENT_2).decode()
    console.print(Panel(content[:20_000], title="content as received"))


@quarantine_app.command("retry", help="Run a quarantined record through ingest again (optionally a corrected file).")
def quarantine_retry(
    item_id: Annotated[int, typer.Argument(help="Quarantine id.")],
    file: Annotated[Path | None, typer.Option("--file", help="Corrected resource JSON to use instead.")] = None,
    json_out: JsonFlag = False,
) -> None:
    _, repo = open_store(settings())
    replacement = None
    if file is not None:
        try:
            replacement = orjson.loads(file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InputError(f"{file}: cannot read a JSON resource ({exc})") from exc
    result = retry(repo, item_id, replacement)
    if json_out:
        print_json(plain(result))
    elif result.accepted:
        console.print(f"#{item_id} accepted and marked resolved.")
    else:
        console.print(f"[red]#{item_id} still fails:[/red] {result.reason}")
    if not result.accepted:
        raise typer.Exit(code=2)


def patients(
    limit: Annotated[int | None, typer.Option(help="At most this many patients.")] = None,
    json_out: JsonFlag = False,
) -> None:
    db, repo = open_store(settings())
    rows = repo.list_patients(limit)
    record_cli_access(db, "read", "Patient?list", reason=f"{len(rows)} listed")
    if json_out:
        print_json(plain([{k: v for k, v in r.items() if k != "identifiers"} for r in rows]))
        return
    table = Table(title=f"{len(rows)} patients")
    for col in ("id", "name", "birth date", "sex", "site", "source"):
        table.add_column(col)
    for r in rows:
        name = " ".join(x for x in (r.get("given"), r.get("family")) if x)
        table.add_row(
            r["patient_id"],
            name,
            str(r.get("birth_date") or ""),
            r.get("sex") or "",
            r.get("site") or "",
            r.get("source") or "",
        )
    console.print(table)


def profile(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Only what was known at this date/time.")] = None,
    json_out: JsonFlag = False,
) -> None:
    when = None
    if as_of is not None:
        when = parse_datetime(as_of)
        if when is None:
            raise InputError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD) or date-time")
    db, repo = open_store(settings())
    prof = load_profile(repo, patient_id, when)
    record_cli_access(db, "read", f"Patient/{patient_id}", patient_id=patient_id, reason="profile")
    person = person_record(repo, LinkRepository(db), patient_id, when)
    if json_out:
        doc = profile_document(prof)
        if person is not None:
            doc["person"] = person
        print_json(doc)
        return
    render_profile(prof)
    if person is not None:
        render_person(person)


def render_person(person: dict[str, Any]) -> None:
    """The golden record: the person's records in each source, merged identifiers, observations per source."""
    table = Table(title=f"person {person['golden_id']}: records linked across sources")
    for col in ("patient id", "source", "match probability", "status", "observations"):
        table.add_column(col)
    counts: dict[str, int] = {}
    for o in person["observations"]:
        counts[o["patient_id"]] = counts.get(o["patient_id"], 0) + 1
    for r in person["records"]:
        p = r["match_probability"]
        table.add_row(
            r["patient_id"],
            r["source"] or "-",
            f"{p:.3f}" if p is not None else "-",
            r["status"],
            str(counts.get(r["patient_id"], 0)),
        )
    console.print(table)
    ids = Table(title="identifiers (merged)")
    for col in ("system", "value", "source"):
        ids.add_column(col)
    for i in person["identifiers"]:
        ids.add_row(i["system"], i["value"], i["source"] or "-")
    console.print(ids)


def profile_document(prof: PatientProfile) -> dict[str, object]:
    """The profile as plain data, with the derived views a reader wants (active lists, latest values)."""
    latest: dict[str, Measurement] = {}
    for m in prof.measurements:
        if m.concept and (m.value is not None or m.text_value):
            current = latest.get(m.concept)
            if current is None or (m.effective and current.effective and m.effective > current.effective):
                latest[m.concept] = m
    return {
        "patient_id": prof.patient_id,
        "as_of": prof.as_of.isoformat(),
        "demographics": plain(prof.demographics),
        "age": round(prof.age, 1) if prof.age is not None else None,
        "sources": list(prof.sources),
        "active_problems": plain(prof.active_problems()),
        "active_medications": plain(prof.active_medications()),
        "allergies": plain(prof.allergies),
        "latest": {k: plain(v) for k, v in sorted(latest.items())},
        "encounters": plain(sorted(prof.encounters, key=lambda e: e.start or prof.as_of)),
        "timeline": plain(prof.timeline()),
    }


def render_profile(prof: PatientProfile) -> None:
    d = prof.demographics
    age = f"{prof.age:.0f} y" if prof.age is not None else "age unknown"
    head = (
        f"[bold]{d.name or prof.patient_id}[/bold]  {d.sex or '?'}, {age} (born {d.birth_date or '?'})"
        f"{'  [red]deceased ' + d.deceased.date().isoformat() + '[/red]' if d.deceased else ''}\n"
        f"id {prof.patient_id} · race {d.race or '-'} · ethnicity {d.ethnicity or '-'} · language {d.language or '-'}"
        f" · site {d.site or '-'} · sources {', '.join(prof.sources) or '-'}\n"
        f"as of {prof.as_of.strftime('%Y-%m-%d %H:%M')} UTC"
    )
    console.print(Panel(head, title="patient"))
    problems = Table(title="active problems")
    problems.add_column("problem")
    problems.add_column("concept")
    problems.add_column("since")
    for p in sorted(prof.active_problems(), key=lambda p: p.onset or prof.as_of):
        problems.add_row(p.code.display or p.code.code, p.concept or "-", _day(p.onset))
    console.print(problems)
    meds = Table(title="active medications")
    meds.add_column("medication")
    meds.add_column("concept")
    meds.add_column("since")
    meds.add_column("dosage")
    for m in sorted(prof.active_medications(), key=lambda m: m.authored or prof.as_of):
        meds.add_row(m.code.display or m.code.code, m.concept or "-", _day(m.authored), m.dosage or "")
    console.print(meds)
    if prof.allergies:
        allergies = Table(title="allergies")
        allergies.add_column("substance")
        allergies.add_column("criticality")
        for a in prof.allergies:
            allergies.add_row(a.code.display or a.code.code, a.criticality or "-")
        console.print(allergies)
    labs = Table(title="latest labs and vitals (canonical units; as received in brackets when converted)")
    for col in ("measurement", "value", "date"):
        labs.add_column(col)
    doc = profile_document(prof)
    latest = doc["latest"]
    assert isinstance(latest, dict)
    for concept, m in latest.items():
        value = m["text_value"] if m["value"] is None else f"{m['value']:.4g} {m['unit'] or ''}"
        if m["original_unit"] and m["original_unit"] != m["unit"] and m["original_value"] is not None:
            value += f"  [dim]({m['original_value']:.4g} {m['original_unit']})[/dim]"
        labs.add_row(concept.replace("_", " "), str(value), (m["effective"] or "")[:10])
    console.print(labs)
    encounters = sorted(prof.encounters, key=lambda e: e.start or prof.as_of, reverse=True)
    enc = Table(title=f"encounters (latest 10 of {len(encounters)})")
    for col in ("start", "class", "type", "discharge"):
        enc.add_column(col)
    for e in encounters[:10]:
        enc.add_row(_day(e.start), e.encounter_class or "-", e.type or "-", e.discharge_disposition or "")
    console.print(enc)
    events = prof.timeline()
    timeline = Table(title=f"timeline (latest 15 of {len(events)} events)")
    for col in ("date", "kind", "event"):
        timeline.add_column(col)
    for ev in events[-15:]:
        timeline.add_row(_day(ev.when), ev.kind, ev.label)
    console.print(timeline)


def _day(when: datetime | None) -> str:
    return when.astimezone(UTC).date().isoformat() if when else "-"


def quality(json_out: JsonFlag = False) -> None:
    db, _ = open_store(settings())
    report = build_report(quality_counts(db))
    if json_out:
        print_json(report.as_dict())
        return
    console.print(f"[bold]Data quality[/bold] (Kahn et al. 2016 framework), {report.patients} patients")
    types = Table(title="resources by type and source")
    types.add_column("type")
    types.add_column("source counts")
    for rtype, by_source in sorted(report.resources_by_type.items()):
        types.add_row(rtype, ", ".join(f"{s}: {n}" for s, n in sorted(by_source.items())))
    console.print(types)
    for category in ("conformance", "completeness", "plausibility"):
        table = Table(title=category)
        for col in ("", "check", "count", "rate", "detail"):
            table.add_column(col, overflow="fold")
        for c in report.checks:
            if c.category != category:
                continue
            mark = "[green]ok[/green]" if c.passed else "[yellow]![/yellow]"
            table.add_row(
                mark,
                f"{c.subcategory}: {c.name}",
                "" if c.count is None else str(c.count),
                "" if c.rate is None else f"{c.rate:.1%}",
                c.detail[:300],
            )
        console.print(table)
