"""Writing the synthetic population to disk: FHIR bundles or NDJSON, Parquet truth and streams.

Serialisation uses orjson on plain dicts (no model objects) so 10,000 patients write in seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from carepilot.errors import InputError
from carepilot.fhir.builders import transaction_bundle

OWNED_FOLDERS = ("fhir", "streams", "truth", "vcf")
FORMATS = ("bundle", "ndjson")


def prepare_output(out: Path) -> None:
    """Create ``out`` and empty the folders this generator owns, so a re-run leaves no stale files."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output path {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in OWNED_FOLDERS:
        folder = out / name
        if folder.is_dir():
            shutil.rmtree(folder)


class FhirWriter:
    """Writes resources per source as one transaction Bundle per patient or as NDJSON per resource type."""

    def __init__(self, out: Path, fmt: str, timestamp: str, buffer_only: bool = False) -> None:
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self.root = out / "fhir"
        self.fmt = fmt
        self.timestamp = timestamp
        self.counts: dict[str, dict[str, int]] = {}
        self._buffers: dict[tuple[str, str], list[bytes]] = {}
        self._files: dict[tuple[str, str], Any] = {}
        # A worker process buffers NDJSON lines and hands them to the parent, which writes chunks in order.
        self.buffer_only = buffer_only

    def _count(self, source: str, resources: list[dict[str, Any]]) -> None:
        per_type = self.counts.setdefault(source, {})
        for r in resources:
            per_type[r["resourceType"]] = per_type.get(r["resourceType"], 0) + 1

    def write_shared(self, source: str, resources: list[dict[str, Any]]) -> None:
        """Resources all patients of a source share (Organizations): once in NDJSON, else per bundle."""
        if self.fmt == "ndjson":
            self._count(source, resources)
            self._append(source, resources)

    def write_patient(self, source: str, patient_id: str, resources: list[dict[str, Any]]) -> None:
        """One patient's resources (the shared ones already included for bundles)."""
        if self.fmt == "bundle":
            self._count(source, resources)
            folder = self.root / source
            folder.mkdir(parents=True, exist_ok=True)
            bundle = transaction_bundle(patient_id, resources, self.timestamp)
            (folder / f"{patient_id}.json").write_bytes(orjson.dumps(bundle, option=orjson.OPT_SERIALIZE_NUMPY))
        else:
            body = [r for r in resources if r["resourceType"] != "Organization"]
            self._count(source, body)
            self._append(source, body)

    def _append(self, source: str, resources: list[dict[str, Any]]) -> None:
        for r in resources:
            key = (source, r["resourceType"])
            buf = self._buffers.get(key)
            if buf is None:
                buf = self._buffers[key] = []
            buf.append(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY))
            if len(buf) >= 4096 and not self.buffer_only:
                self._flush(key)

    def _flush(self, key: tuple[str, str]) -> None:
        buf = self._buffers.get(key)
        if not buf:
            return
        handle = self._files.get(key)
        if handle is None:
            folder = self.root / key[0]
            folder.mkdir(parents=True, exist_ok=True)
            handle = self._files[key] = (folder / f"{key[1]}.ndjson").open("wb")
        handle.write(b"\n".join(buf) + b"\n")
        buf.clear()

    def take_buffers(self) -> dict[tuple[str, str], bytes]:
        """The buffered NDJSON lines per (source, type), emptied (worker side)."""
        out = {key: b"\n".join(buf) + b"\n" for key, buf in self._buffers.items() if buf}
        self._buffers.clear()
        return out

    def take_counts(self) -> dict[str, dict[str, int]]:
        """Resource counts so far, reset (worker side)."""
        out, self.counts = self.counts, {}
        return out

    def add_chunk(self, data: dict[tuple[str, str], bytes], counts: dict[str, dict[str, int]]) -> None:
        """Append a worker's NDJSON chunk and counts (parent side, in chunk order)."""
        for key, blob in data.items():
            self._flush(key)
            handle = self._files.get(key)
            if handle is None:
                folder = self.root / key[0]
                folder.mkdir(parents=True, exist_ok=True)
                handle = self._files[key] = (folder / f"{key[1]}.ndjson").open("wb")
            handle.write(blob)
        for source, per_type in counts.items():
            mine = self.counts.setdefault(source, {})
            for rtype, count in per_type.items():
                mine[rtype] = mine.get(rtype, 0) + count

    def close(self) -> None:
        """Flush and close every NDJSON file."""
        for key in list(self._buffers):
            self._flush(key)
        for handle in self._files.values():
            handle.close()
        self._files.clear()


def write_parquet(path: Path, data: pd.DataFrame | pa.Table) -> None:
    """Write a DataFrame or Arrow table as Parquet (zstd), deterministic byte for byte for the same data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    table = table.replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd")
