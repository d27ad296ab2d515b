"""Write view rows to CSV, Parquet or NDJSON, typed from the view's column types (streaming, in batches).

Parquet types follow the spec's FHIR-to-SQL guidance: boolean -> bool, integer kinds -> int64, decimal ->
float64, everything else (dates, codes, ids, strings) -> string; ``collection: true`` columns become lists.
CSV cannot hold lists or objects, so those cells are written as JSON text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from carepilot.errors import InputError
from carepilot.features.viewdefinition.model import OutputColumn

FORMATS = (".csv", ".parquet", ".ndjson", ".jsonl")
BATCH_ROWS = 10_000
_INTEGER = {"integer", "positiveInt", "unsignedInt", "integer64"}


def arrow_type(column: OutputColumn) -> pa.DataType:
    """Arrow type for a view column."""
    if column.type == "boolean":
        base: pa.DataType = pa.bool_()
    elif column.type in _INTEGER:
        base = pa.int64()
    elif column.type == "decimal":
        base = pa.float64()
    else:
        base = pa.string()
    return pa.list_(base) if column.collection else base


def arrow_schema(columns: Sequence[OutputColumn]) -> pa.Schema:
    """Arrow schema for a view's output."""
    return pa.schema([pa.field(c.name, arrow_type(c)) for c in columns])


def write_rows(rows: Iterable[dict[str, Any]], columns: Sequence[OutputColumn], path: Path) -> int:
    """Write rows to ``path`` (format from its suffix); returns the number of rows written."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: output format must be one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        return _write_csv(rows, columns, path)
    if suffix == ".parquet":
        return _write_parquet(rows, columns, path)
    return _write_ndjson(rows, path)


def _write_csv(rows: Iterable[dict[str, Any]], columns: Sequence[OutputColumn], path: Path) -> int:
    count = 0
    names = [c.name for c in columns]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow([_csv_cell(row.get(n)) for n in names])
            count += 1
    return count


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return orjson.dumps(value, default=_json_default).decode()
    return value


def _write_ndjson(rows: Iterable[dict[str, Any]], path: Path) -> int:
    count = 0
    with path.open("wb") as handle:
        for row in rows:
            handle.write(orjson.dumps(row, default=_json_default))
            handle.write(b"\n")
            count += 1
    return count


def to_arrow(rows: Iterable[dict[str, Any]], columns: Sequence[OutputColumn]) -> pa.Table:
    """Rows as an Arrow table typed by the view's columns (for DuckDB, pandas, Spark)."""
    batch = list(rows)
    schema = arrow_schema(columns)
    return pa.Table.from_pydict(
        {c.name: [_arrow_value(r.get(c.name), c) for r in batch] for c in columns}, schema=schema
    )


def _write_parquet(rows: Iterable[dict[str, Any]], columns: Sequence[OutputColumn], path: Path) -> int:
    schema = arrow_schema(columns)
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in _batches(rows, BATCH_ROWS):
            writer.write_table(to_arrow(batch, columns))
            count += len(batch)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count


def _arrow_value(value: Any, column: OutputColumn) -> Any:
    if value is None:
        return None
    if column.collection:
        return [_arrow_scalar(v, column) for v in value] if isinstance(value, list) else [value]
    return _arrow_scalar(value, column)


def _arrow_scalar(value: Any, column: OutputColumn) -> Any:
    kind = column.type
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    numeric = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    if kind in _INTEGER:
        return int(value) if numeric else None
    if kind == "decimal":
        return float(value) if numeric else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, default=_json_default).decode()
    return str(value)


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
