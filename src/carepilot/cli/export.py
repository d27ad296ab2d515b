"""``carepilot export``: FHIR Bulk Data NDJSON of the unified record, without patients who opted out of sharing."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.audit import deid_key
from carepilot.cli.console import console, print_json, settings
from carepilot.domain.consent import ConsentScope
from carepilot.errors import InputError
from carepilot.ingest.times import parse_datetime
from carepilot.security.deid import deidentify_resource
from carepilot.store.bulk_export import export_bulk, with_linked_records
from carepilot.store.consent import SqlConsentDirectory


def register(app: typer.Typer) -> None:
    app.command("export", help="Write FHIR Bulk Data NDJSON (one file per type) and its manifest.")(export)


def export(
    out: Annotated[Path, typer.Option("--out", help="Folder for the NDJSON files and manifest.json.")],
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Resource type(s) to export (repeatable or comma-separated).")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only resources stored at or after this time.")] = None,
    deidentify: Annotated[
        bool, typer.Option("--deidentify", help="HIPAA Safe Harbor de-identification of every resource written.")
    ] = False,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="De-identification key (default CAREPILOT_HOME/deid.key).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    when = None
    if since is not None:
        when = parse_datetime(since)
        if when is None:
            raise InputError(f"--since {since!r} is not a date (YYYY-MM-DD) or date-time")
    wanted = sorted({x.strip() for item in types or [] for x in item.split(",") if x.strip()})
    s = settings()
    transform = None
    if deidentify:
        key = deid_key(key_file or s.home / "deid.key")
        transform = partial(deidentify_resource, key=key)
    db, _ = open_store(s)
    excluded = with_linked_records(db, SqlConsentDirectory(db).opted_out(ConsentScope.SHARING))
    request = "$export" + (f"?_type={','.join(wanted)}" if wanted else "") + (f"&_since={since}" if since else "")
    result = export_bulk(
        db,
        out,
        types=wanted,
        since=when,
        excluded=excluded,
        request=request.replace("$export&", "$export?"),
        transform=transform,
    )
    if json_out:
        print_json({**result.manifest, "excluded_patients": result.excluded_patients})
        return
    table = Table(title=f"bulk export to {out}")
    table.add_column("type")
    table.add_column("resources", justify="right")
    for rtype, n in sorted(result.counts.items()):
        table.add_row(rtype, f"{n:,}")
    console.print(table)
    console.print(f"{result.excluded_patients} patient records left out (opted out of sharing); manifest.json written")
