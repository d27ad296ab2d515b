"""A quick evaluator for the plainest FHIRPath shapes; ``fhirpathpy`` evaluates everything else.

Why hand-written: ``fhirpathpy`` spends 50-250 microseconds on each evaluation even of ``status`` (measured
in this checkout), so a 15-column view ran at about 200 resources per second. Most view columns are plain
navigation, and for those FHIRPath's semantics over FHIR JSON are short: follow keys, flatten arrays, drop
nulls. This module compiles such expressions into a tuple of steps (plain data, so compiled views still
pickle for Spark) and runs them on JSON values. The shapes covered:

- member steps (``code.coding``), except capitalised names (type filters), ``length``, and names that are
  the base of a FHIR choice element (``value``, ``effective``...) unless followed by ``ofType(T)``;
- ``x.ofType(T)`` on a choice element: the key ``x`` + ``T``, which is what the engine resolves on valid FHIR
  JSON (a subtype's key such as ``valueAge`` for ``Quantity`` is left to the engine, which knows whether the
  element allows it);
- ``first()``, ``last()``, ``exists()``, ``empty()``, ``count()``, ``[n]`` with a literal index;
- ``extension(url)`` and ``where(path = 'text')`` with a string literal or string constant;
- ``(a | b | ...).first()``: the first value of the first operand that has one;
- ``getResourceKey()``, ``getReferenceKey([T])``, ``$this``, ``%variables``, string/number/boolean literals.

Anything else compiles to ``None`` and the engine evaluates it. At run time, data the quick evaluator
cannot judge the way the engine would (a plain ``value`` key where a choice was expected, two ``value[x]``
keys, a primitive carrying extensions in ``_name``) raises ``Fallback`` and the engine evaluates that
expression on that focus. The runner uses the quick path only for column and ``where`` values, never for
``forEach``/``repeat`` foci, because later paths need the engine's type-annotated nodes. The tests
``tests/unit/test_viewdefinition_fastpath.py`` (tricky hand-made data) and
``tests/conformance/test_quick_path_equivalence.py`` (the whole conformance suite and Synthea bundles) check
that both evaluators give identical results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as _fhirpath_models

from carepilot.features.viewdefinition.keys import reference_keys, resource_keys

Step = tuple[Any, ...]


class Fallback(Exception):
    """The quick evaluator cannot answer for this data exactly as the engine would."""


@lru_cache(maxsize=1)
def _choice_bases() -> frozenset[str]:
    """Names that are the base of some R4 choice element (``Observation.value[x]`` gives ``value``)."""
    paths: Mapping[str, Any] = _fhirpath_models["r4"]["choiceTypePaths"]
    return frozenset(p.rsplit(".", 1)[-1] for p in paths)


@lru_cache(maxsize=256)
def _type_and_subtypes(type_name: str) -> tuple[str, ...]:
    parents: Mapping[str, str] = _fhirpath_models["r4"]["type2Parent"]
    found = [type_name]
    for candidate in parents:
        parent = parents.get(candidate)
        seen = 0
        while parent and seen < 32:
            if parent == type_name:
                found.append(candidate)
                break
            parent = parents.get(parent)
            seen += 1
    return tuple(found)


def compile_steps(tree: Mapping[str, Any]) -> tuple[Step, ...] | None:
    """Steps for a parsed expression, or None when the engine must evaluate it."""
    children = tree.get("children") or []
    if len(children) != 1:
        return None
    steps = _expression(children[0])
    if steps is None or any(step[0] == "union" for step in steps):
        return None  # a union not narrowed by first() keeps the engine's distinct() semantics
    return tuple(steps)


def _expression(node: Mapping[str, Any]) -> list[Step] | None:
    kind = node.get("type")
    children = node.get("children") or []
    if kind == "TermExpression" and len(children) == 1:
        return _term(children[0])
    if kind == "InvocationExpression" and len(children) == 2:
        left = _expression(children[0])
        if left is None:
            return None
        return _invocation(left, children[1])
    if kind == "IndexerExpression" and len(children) == 2:
        left = _expression(children[0])
        index = _integer_literal(children[1])
        if left is None or index is None:
            return None
        return [*left, ("index", index)]
    return None


def _term(node: Mapping[str, Any]) -> list[Step] | None:
    kind = node.get("type")
    children = node.get("children") or []
    if kind == "InvocationTerm" and len(children) == 1:
        inner = children[0]
        if inner.get("type") == "ThisInvocation":
            return []
        return _invocation([], inner)
    if kind == "ExternalConstantTerm" and children:
        constant = children[0].get("children") or []
        if len(constant) == 1 and constant[0].get("type") == "Identifier":
            return [("var", str(constant[0].get("text", "")).strip("`"))]
        return None
    if kind == "LiteralTerm" and len(children) == 1:
        literal = _literal(children[0])
        return [("literal", literal)] if literal is not None else None
    if kind == "ParenthesizedTerm" and len(children) == 1:
        inner = children[0]
        if inner.get("type") == "UnionExpression":
            parts = _union_parts(inner)
            return [("union", parts)] if parts is not None else None
        return _expression(inner)
    return None


def _union_parts(node: Mapping[str, Any]) -> tuple[tuple[Step, ...], ...] | None:
    parts: list[tuple[Step, ...]] = []
    for child in node.get("children") or []:
        if child.get("type") == "UnionExpression":
            nested = _union_parts(child)
            if nested is None:
                return None
            parts.extend(nested)
            continue
        steps = _expression(child)
        if steps is None:
            return None
        parts.append(tuple(steps))
    return tuple(parts) if len(parts) >= 2 else None


def _operand(node: Mapping[str, Any]) -> Step | None:
    """A string literal or a %variable used as a function argument or comparison operand."""
    steps = _expression(node)
    if steps is not None and len(steps) == 1 and steps[0][0] == "var":
        return steps[0]
    if steps is not None and len(steps) == 1 and steps[0][0] == "literal" and isinstance(steps[0][1], str):
        return steps[0]
    return None


def _invocation(left: list[Step], node: Mapping[str, Any]) -> list[Step] | None:
    kind = node.get("type")
    children = node.get("children") or []
    if kind == "MemberInvocation" and len(children) == 1:
        name = str(children[0].get("text", "")).replace("`", "")
        if not name or name[0].isupper() or name == "length":
            return None
        step = ("choice_member", name) if name in _choice_bases() else ("member", name)
        return [*left, step]
    if kind != "FunctionInvocation" or len(children) != 1:
        return None
    functn = children[0].get("children") or []
    if not functn or functn[0].get("type") != "Identifier":
        return None
    name = str(functn[0].get("text", ""))
    params = (functn[1].get("children") or []) if len(functn) > 1 else []
    if name == "first" and not params and left and left[-1][0] == "union":
        # (a | b).first(): the first value of the first operand that has one; distinct() cannot change it
        return [*left[:-1], ("first_of", left[-1][1])]
    if left and left[-1][0] == "union":
        return None
    if name in {"first", "last", "exists", "empty", "count", "getResourceKey"} and not params:
        return [*left, (name,)]
    if name == "extension" and len(params) == 1:
        url = _operand(params[0])
        return [*left, ("extension", url)] if url is not None else None
    if name == "where" and len(params) == 1 and params[0].get("type") == "EqualityExpression":
        sides = params[0].get("children") or []
        if params[0].get("terminalNodeText") != ["="] or len(sides) != 2:
            return None
        criterion = _expression(sides[0])
        operand = _operand(sides[1])
        if criterion is None or operand is None or any(st[0] in ("union", "var", "literal") for st in criterion):
            return None
        return [*left, ("where_eq", tuple(criterion), operand)]
    if name == "getReferenceKey" and len(params) <= 1:
        type_name = _type_name(params[0]) if params else ""
        if type_name is None:
            return None
        return [*left, ("getReferenceKey", type_name)]
    if name == "ofType" and len(params) == 1 and left and left[-1][0] == "choice_member":
        type_name = _type_name(params[0])
        if not type_name:
            return None
        base = left[-1][1]
        keys = tuple(base + t[0].upper() + t[1:] for t in _type_and_subtypes(type_name))
        return [*left[:-1], ("choice", base, keys)]
    return None


def _type_name(node: Mapping[str, Any]) -> str | None:
    """A bare type identifier used as a function argument (``Patient``), else None."""
    if node.get("type") != "TermExpression":
        return None
    term = (node.get("children") or [{}])[0]
    member = (term.get("children") or [{}])[0] if term.get("type") == "InvocationTerm" else {}
    if member.get("type") != "MemberInvocation":
        return None
    identifier = (member.get("children") or [{}])[0]
    text = str(identifier.get("text", "")).replace("`", "")
    return text or None


def _integer_literal(node: Mapping[str, Any]) -> int | None:
    if node.get("type") != "TermExpression":
        return None
    term = (node.get("children") or [{}])[0]
    if term.get("type") != "LiteralTerm":
        return None
    value = _literal((term.get("children") or [{}])[0])
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _literal(node: Mapping[str, Any]) -> Any:
    kind = node.get("type")
    text = str(node.get("text", ""))
    if kind == "BooleanLiteral" and text in ("true", "false"):
        return text == "true"
    if kind == "NumberLiteral" and text:
        return Decimal(text) if "." in text else int(text)
    if kind == "StringLiteral" and len(text) >= 2 and text[0] == text[-1] == "'" and "\\" not in text:
        return text[1:-1]
    return None


def run_steps(steps: tuple[Step, ...], focus: list[Any], variables: Mapping[str, Any]) -> list[Any]:
    """Evaluate compiled steps on a focus; raises Fallback when the engine must decide."""
    coll: list[Any] = [item.data if isinstance(item, ResourceNode) else item for item in focus]
    for step in steps:
        op = step[0]
        if op == "member":
            coll = _member(coll, step[1])
        elif op == "choice_member":
            coll = _choice_member(coll, step[1])
        elif op == "choice":
            coll = _choice(coll, step[1], step[2])
        elif op == "first":
            coll = coll[:1]
        elif op == "last":
            coll = coll[-1:]
        elif op == "exists":
            coll = [bool(coll)]
        elif op == "empty":
            coll = [not coll]
        elif op == "count":
            coll = [len(coll)]
        elif op == "index":
            coll = coll[step[1] : step[1] + 1] if step[1] >= 0 else []
        elif op == "literal":
            coll = [step[1]]
        elif op == "var":
            coll = _variable(variables, step[1])
        elif op == "first_of":
            coll = _first_of(coll, step[1], variables)
        elif op == "extension":
            coll = _extension(coll, _text_operand(step[1], variables))
        elif op == "where_eq":
            coll = _where_equal(coll, step[1], _text_operand(step[2], variables), variables)
        elif op == "getResourceKey":
            coll = list(resource_keys(coll))
        elif op == "getReferenceKey":
            coll = list(reference_keys(coll, step[1] or None))
        else:  # "union" not followed by first(): compile_steps never produces it, but be safe
            raise Fallback(op)
    return coll


def _member(coll: list[Any], name: str) -> list[Any]:
    out: list[Any] = []
    for item in coll:
        if not isinstance(item, Mapping):
            continue
        if "_" + name in item:
            raise Fallback(name)  # a primitive with its own extensions: the engine carries them
        value = item.get(name)
        if isinstance(value, list):
            out.extend(v for v in value if v is not None)
        elif value is not None:
            out.append(value)
    return out


def _choice_keys(item: Mapping[str, Any], base: str) -> list[str]:
    size = len(base)
    return [k for k in item if len(k) > size and k.startswith(base) and k[size].isupper()]


def _choice_member(coll: list[Any], base: str) -> list[Any]:
    out: list[Any] = []
    for item in coll:
        if not isinstance(item, Mapping):
            continue
        if base not in item:
            if _choice_keys(item, base):
                raise Fallback(base)  # the engine resolves value[x] here from the FHIR model
            continue
        out.extend(_member([item], base))
    return out


def _choice(coll: list[Any], base: str, keys: tuple[str, ...]) -> list[Any]:
    out: list[Any] = []
    for item in coll:
        if not isinstance(item, Mapping):
            continue
        present = _choice_keys(item, base)
        if base in item or len(present) > 1 or any(k.startswith("_" + base) for k in item):
            raise Fallback(base)  # not a choice element here, malformed, or extended: the engine judges
        if present and present[0] != keys[0] and present[0] in keys:
            raise Fallback(base)  # a subtype (valueAge for Quantity): allowed or not depends on the element
        if present and present[0] == keys[0]:
            out.extend(_member([item], keys[0]))
    return out


def _first_of(coll: list[Any], parts: tuple[tuple[Step, ...], ...], variables: Mapping[str, Any]) -> list[Any]:
    for part in parts:
        values = run_steps(part, coll, variables)
        if values:
            return values[:1]
    return []


def _text_operand(operand: Step, variables: Mapping[str, Any]) -> str:
    value = operand[1] if operand[0] == "literal" else variables.get(operand[1])
    if not isinstance(value, str):
        raise Fallback("operand")  # typed constants (dates) compare with the engine's semantics
    return value


def _extension(coll: list[Any], url: str) -> list[Any]:
    out: list[Any] = []
    for item in coll:
        if isinstance(item, Mapping):
            for ext in item.get("extension") or []:
                if isinstance(ext, Mapping) and ext.get("url") == url:
                    out.append(ext)
    return out


_DATE_LIKE = re.compile(r"^(\d{4}(-\d{2}(-\d{2})?)?(T.*)?|\d{2}:\d{2}.*)$")


def _where_equal(
    coll: list[Any], criterion: tuple[Step, ...], expected: str, variables: Mapping[str, Any]
) -> list[Any]:
    kept = []
    for item in coll:
        values = run_steps(criterion, [item], variables)
        if not values:
            continue
        if len(values) > 1 or not isinstance(values[0], str) or _DATE_LIKE.match(values[0]):
            raise Fallback("where")  # collection or date equality: the engine's rules apply
        if values[0] == expected:
            kept.append(item)
    return kept


def _variable(variables: Mapping[str, Any], name: str) -> list[Any]:
    if name not in variables:
        raise Fallback(name)  # the engine raises the proper error
    value = variables[name]
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [v.data if isinstance(v, ResourceNode) and isinstance(v.data, Mapping) else v for v in values]
