"""``carepilot audit verify|list|export`` (the tamper-evident audit trail) and ``carepilot deidentify``."""

from __future__ import annotations

import getpass
import gzip
import secrets
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, err_console, print_json, settings
from carepilot.errors import InputError, UnreadableInputError
from carepilot.security.audit import AuditEntry, audit_event
from carepilot.security.deid import DeidOptions, deidentify_resource
from carepilot.store import audit as store_audit
from carepilot.store.audit import SqlAuditSink
from carepilot.store.db import Database

audit_app = typer.Typer(help="The tamper-evident audit trail: verify, list, export.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.command("deidentify", help="De-identify FHIR JSON/NDJSON files (HIPAA Safe Harbor) into another folder.")(
        deidentify
    )


def cli_actor() -> str:
    """The audit name of whoever runs the command line (the operating-system account)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return "cli:unknown"


def record_cli_access(
    db: Database, action: str, entity: str, patient_id: str | None = None, reason: str | None = None
) -> int:
    """Commit the audit record of a command-line access to patient data (before the data is printed)."""
    return SqlAuditSink(db).append(
        AuditEntry(actor=cli_actor(), action=action, entity=entity, patient_id=patient_id, reason=reason)
    )


@audit_app.command("verify", help="Walk the hash chain; exit 0 when intact, 1 naming the first bad entry.")
def verify(json_out: JsonFlag = False) -> None:
    db, _ = open_store(settings())
    report = store_audit.verify(db)
    if json_out:
        print_json(report.as_dict())
    elif report.intact:
        console.print(f"audit chain intact: {report.entries} entries, head {report.head_seq} {report.head_hash}")
    else:
        err_console.print(f"[red]audit chain broken at entry {report.first_bad}:[/red] {report.problem}")
    if not report.intact:
        raise typer.Exit(code=1)


@audit_app.command("list", help="List audit entries, oldest first (optionally those about one patient).")
def list_entries(
    patient: Annotated[str | None, typer.Option("--patient", help="Only entries about this patient id.")] = None,
    limit: Annotated[int, typer.Option(help="The newest this many entries.")] = 200,
    json_out: JsonFlag = False,
) -> None:
    db, _ = open_store(settings())
    rows = store_audit.entries(db, patient, limit)
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"audit trail: {len(rows)} entries" + (f" about patient {patient}" if patient else ""))
    for col in ("seq", "time", "actor", "action", "entity", "patient", "outcome", "flag", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["seq"]),
            r["recorded_at"],
            r["actor"],
            r["action"],
            r["entity"],
            r["patient_id"] or "",
            r["outcome"],
            "!" if r["flagged"] else "",
            r["reason"] or "",
        )
    console.print(table)


@audit_app.command("export", help="Write the audit trail as FHIR R4 AuditEvent resources (NDJSON).")
def export(
    out: Annotated[Path, typer.Option("--out", help="NDJSON file to write.")],
    patient: Annotated[str | None, typer.Option("--patient", help="Only entries about this patient id.")] = None,
    json_out: JsonFlag = False,
) -> None:
    db, _ = open_store(settings())
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("wb") as fh:
        for row in store_audit.iter_entries(db, patient):
            fh.write(orjson.dumps(audit_event(row)) + b"\n")
            n += 1
    if json_out:
        print_json({"file": str(out), "events": n})
    else:
        console.print(f"{n} AuditEvent resources written to {out}")


def _read_resources(path: Path) -> list[dict[str, object]]:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        if path.name.removesuffix(".gz").endswith(".ndjson"):
            return [orjson.loads(line) for line in raw.splitlines() if line.strip()]
        return [orjson.loads(raw)]
    except (OSError, orjson.JSONDecodeError, gzip.BadGzipFile) as exc:
        raise UnreadableInputError(f"{path}: not readable as FHIR JSON or NDJSON ({exc})") from exc


def deid_key(path: Path) -> bytes:
    """The de-identification key kept in ``path`` (made, readable by its owner only, when absent)."""
    if path.exists():
        key = path.read_bytes().strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        path.write_bytes(key)
        path.chmod(0o600)
    if len(key) < 16:
        raise InputError(f"{path}: the key is shorter than 16 bytes")
    return key


def deidentify(
    in_dir: Annotated[Path, typer.Argument(help="Folder of FHIR .json / .ndjson (.gz) files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the de-identified files to.")],
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="Secret key for pseudonyms and date shifts; made (0600) when absent."),
    ] = None,
    dates: Annotated[str, typer.Option(help="shift (per-patient offset) or year (keep the year only).")] = "shift",
    json_out: JsonFlag = False,
) -> None:
    if not in_dir.is_dir():
        raise InputError(f"{in_dir} is not a folder")
    if dates not in ("shift", "year"):
        raise InputError(f"--dates must be shift or year, got {dates!r}")
    key_path = key_file or settings().home / "deid.key"
    key = deid_key(key_path)
    options = DeidOptions(dates=dates)
    files = sorted(p for p in in_dir.rglob("*") if p.is_file() and (".json" in p.name or ".ndjson" in p.name))
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in files:
        resources = [deidentify_resource(r, key, options) for r in _read_resources(path)]
        target = out / path.relative_to(in_dir).with_suffix("" if path.suffix == ".gz" else path.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.name.endswith(".ndjson"):
            target.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
        else:
            target.write_bytes(orjson.dumps(resources[0]))
        n += len(resources)
    summary = {"files": len(files), "resources": n, "out": str(out), "key_file": str(key_path), "dates": dates}
    if json_out:
        print_json(summary)
    else:
        console.print(f"{n} resources from {len(files)} files de-identified into {out} (key {key_path})")
