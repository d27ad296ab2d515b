"""SQL column types and ``CREATE TABLE`` statements for view outputs, so views load into SQL engines.

Types follow the spec's type hints: a column tag ``ansi/type`` wins; otherwise the FHIR type maps to an ANSI
type. FHIR ``date`` and ``dateTime`` values may be partial (``1970-06``), which SQL DATE and TIMESTAMP
cannot hold, so untagged date/time columns are text; tag them ``ansi/type: DATE`` where the data is known to
be complete. ``collection: true`` columns are arrays of the element type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from carepilot.errors import InputError
from carepilot.features.viewdefinition.model import CompiledView, OutputColumn, ViewDefinition, parse_view

ANSI_TYPES: dict[str, str] = {
    "boolean": "BOOLEAN",
    "integer": "INTEGER",
    "positiveInt": "INTEGER",
    "unsignedInt": "INTEGER",
    "integer64": "BIGINT",
    "decimal": "DOUBLE PRECISION",
}
DEFAULT_TYPE = "VARCHAR"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An ansi/type tag is pasted into DDL, so it must look like a type name, e.g. "DECIMAL(10, 2)".
_TYPE_TEXT = re.compile(r"^[A-Za-z][A-Za-z0-9 _]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?$")


def sql_type(column: OutputColumn) -> str:
    """The SQL type of a view column."""
    tagged = column.tag("ansi/type")
    if tagged is not None:
        if not _TYPE_TEXT.match(tagged):
            raise InputError(f"column {column.name!r}: ansi/type tag {tagged!r} is not a SQL type name")
        base = tagged.upper()
    else:
        base = ANSI_TYPES.get(column.type or "", DEFAULT_TYPE)
    return f"{base}[]" if column.collection else base


def create_table_sql(definition: Mapping[str, Any] | ViewDefinition | CompiledView, table: str | None = None) -> str:
    """``CREATE TABLE`` for the view's output (table name defaults to the view's name)."""
    view = parse_view(definition)
    name = table or view.name
    if not name or not _IDENTIFIER.match(name):
        raise InputError(f"table name {name!r} must be a plain SQL identifier")
    columns = ",\n".join(f'  "{c.name}" {sql_type(c)}' for c in view.columns)
    return f'CREATE TABLE "{name}" (\n{columns}\n)'
