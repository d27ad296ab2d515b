"""Run a ViewDefinition over FHIR resources (plain dicts) and yield rows; a pure function, no I/O.

The algorithm is the spec's "Processing Algorithm": for each resource of the view's type that passes every
``where``, a select node evaluates its iteration (``forEach``, ``forEachOrNull``, ``repeat``) to a list of
foci; for each focus the node's columns form one partial row, each nested ``select`` gives a list of rows and
the ``unionAll`` branches, concatenated, give another; the node's rows are the cross product of those lists.
``forEachOrNull`` over nothing evaluates the node once on an empty focus (every navigation is null,
``%rowIndex`` is 0) and always yields at least one row.

Because it is a generator over an iterable of dicts with a picklable compiled view, it runs unchanged inside
Spark ``mapPartitions`` or any other batch engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from carepilot.errors import InputError
from carepilot.features.viewdefinition.fhirpath import FhirPath
from carepilot.features.viewdefinition.model import (
    CompiledSelect,
    CompiledView,
    OutputColumn,
    ViewDefinition,
    parse_view,
)

INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})
MAX_REPEAT_DEPTH = 64


class ViewEvaluationError(InputError):
    """A view cannot be evaluated on a resource (non-boolean where, several values in a scalar column)."""


def run_view(
    definition: Mapping[str, Any] | ViewDefinition | CompiledView, resources: Iterable[Any]
) -> list[dict[str, Any]]:
    """All rows of the view over ``resources``, as a list."""
    return list(iter_rows(definition, resources))


def iter_rows(
    definition: Mapping[str, Any] | ViewDefinition | CompiledView, resources: Iterable[Any]
) -> Iterator[dict[str, Any]]:
    """Rows of the view over ``resources``, one resource at a time (streaming)."""
    view = parse_view(definition)
    for position, resource in enumerate(resources):
        if not isinstance(resource, Mapping):
            raise InputError(f"resource #{position} is a {type(resource).__name__}, not a JSON object")
        yield from resource_rows(view, resource)


def resource_rows(view: CompiledView, resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows the view produces for one resource (empty when the type differs or a where excludes it)."""
    if resource.get("resourceType") != view.resource:
        return []
    variables: dict[str, Any] = {
        **view.constants,
        "resource": resource,
        "rootResource": resource,
        "rowIndex": 0,
    }
    focus: list[Any] = [resource]
    for path in view.where:
        if not _passes(path, focus, variables, resource):
            return []
    order = [c.name for c in view.columns]
    return [{name: row.get(name) for name in order} for row in _select(view.root, focus, variables, resource)]


def _passes(path: FhirPath, focus: list[Any], variables: dict[str, Any], resource: Mapping[str, Any]) -> bool:
    values = path.values(focus, variables)
    if not values:
        return False
    if len(values) > 1 or not isinstance(values[0], bool):
        raise ViewEvaluationError(
            f"where path {path.expression!r} must give a single boolean; on {_label(resource)} it gave "
            f"{len(values)} value(s) of type {type(values[0]).__name__}"
        )
    return values[0]


def _select(
    node: CompiledSelect, focus: list[Any], variables: dict[str, Any], resource: Mapping[str, Any]
) -> list[dict[str, Any]]:
    if node.for_each is None and not node.repeat:
        return _combine(node, focus, variables, resource)
    if node.for_each is not None:
        items = node.for_each.evaluate(focus, variables)
    else:
        items = _traverse(node.repeat, focus, variables, 0)
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        rows.extend(_combine(node, [item], {**variables, "rowIndex": index}, resource))
    if not items and node.or_null:
        rows = _combine(node, [], {**variables, "rowIndex": 0}, resource)
        if not rows:
            rows = [dict.fromkeys((c.name for c in node.output), None)]
    return rows


def _traverse(paths: tuple[FhirPath, ...], focus: list[Any], variables: dict[str, Any], depth: int) -> list[Any]:
    """Depth-first, pre-order walk: every node reached by following the paths any number of times."""
    if depth > MAX_REPEAT_DEPTH:
        raise ViewEvaluationError(f"repeat went deeper than {MAX_REPEAT_DEPTH} levels")
    found: list[Any] = []
    for item in focus:
        for path in paths:
            for child in path.evaluate([item], variables):
                found.append(child)
                found.extend(_traverse(paths, [child], variables, depth + 1))
    return found


def _combine(
    node: CompiledSelect, focus: list[Any], variables: dict[str, Any], resource: Mapping[str, Any]
) -> list[dict[str, Any]]:
    parts: list[list[dict[str, Any]]] = []
    if node.columns:
        parts.append([_columns(node, focus, variables, resource)])
    for sub in node.selects:
        parts.append(_select(sub, focus, variables, resource))
    if node.union:
        parts.append([row for branch in node.union for row in _select(branch, focus, variables, resource)])
    rows: list[dict[str, Any]] = []
    for combo in itertools.product(*parts):
        merged: dict[str, Any] = {}
        for part in combo:
            merged.update(part)
        rows.append(merged)
    return rows


def _columns(
    node: CompiledSelect, focus: list[Any], variables: dict[str, Any], resource: Mapping[str, Any]
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for col in node.columns:
        values = col.path.values(focus, variables)
        if col.collection:
            row[col.name] = [_coerce(v, col.type) for v in values]
        elif len(values) > 1:
            raise ViewEvaluationError(
                f"column {col.name!r} (path {col.path.expression!r}) gave {len(values)} values on "
                f"{_label(resource)}; set collection: true or narrow the path (e.g. first())"
            )
        else:
            row[col.name] = _coerce(values[0], col.type) if values else None
    return row


def _coerce(value: Any, fhir_type: str | None) -> Any:
    if fhir_type in INTEGER_TYPES and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _label(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id', '?')}"


def output_columns(definition: Mapping[str, Any] | ViewDefinition | CompiledView) -> tuple[OutputColumn, ...]:
    """Columns (name, FHIR type, collection flag) in output order."""
    return parse_view(definition).columns
