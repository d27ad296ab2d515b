"""FHIRPath for ViewDefinitions: ``fhirpathpy`` parses and evaluates; this module adds what it lacks.

``fhirpathpy`` (beda.software, pinned ``>=2.0``) is the FHIRPath engine. SQL on FHIR v2 needs a few things it
does not provide, each added here rather than forking the engine:

1. ``$this`` at the root of an expression. ``fhirpathpy`` only binds ``$this`` inside function arguments, so
   ``$this`` as a column path (the spec's idiom for a ``forEach`` over primitives, e.g. ``name.given``) raises
   ``KeyError``. We build the evaluation context ourselves and bind ``$this`` to the focus.
2. ``getResourceKey()`` and ``getReferenceKey([type])`` (spec "Required additional functions"), defined in
   ``keys.py``: logical ids, whichever reference form a feed uses.
3. ``lowBoundary()`` / ``highBoundary()`` (FHIRPath 3.0, used by the suite's ``fn_boundary`` tests) for
   decimal, integer, date, dateTime, instant and time values.
4. ``join()`` on an empty collection returns ``''`` (FHIRPath: join of no strings is the empty string);
   ``fhirpathpy`` returns an empty collection, which would turn a column into null.
5. ``extension(url)`` returns every matching extension; ``fhirpathpy`` keeps only the first and fails on an
   extension without ``url``.
6. Typed constants: ``date``/``dateTime``/``instant``/``time`` constants are bound as FHIR-typed nodes so that
   comparisons use date/time semantics; other constants as plain values.
7. ``ofType``/``is`` consult the FHIR R4 model deterministically. ``fhirpathpy`` keeps the model in a class
   attribute that only ``is``/``as`` set, so ``ofType(string)`` on a ``code`` answered differently
   depending on which expression ran first in the process. We set it before every evaluation.
8. Syntax errors are errors. ``fhirpathpy.parse`` installs a silent ANTLR error listener, so ``name.where(``
   parsed into a partial tree and ran; we parse with its grammar and AST listener but a collecting listener,
   and also refuse text left over after the expression.
9. Speed: ``FhirPath.values`` tries the quick evaluator of ``fastpath.py`` for plain shapes first.

The module relies on ``fhirpathpy.engine.do_eval`` (its internal entry point) so that the extra functions
receive typed nodes; the public ``evaluate`` strips type information from user functions' inputs.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy.engine import do_eval
from fhirpathpy.engine.invocations import invocation_registry
from fhirpathpy.engine.invocations.constants import constants as _engine_constants
from fhirpathpy.engine.nodes import FP_DateTime, FP_Quantity, FP_Time, FP_Type, ResourceNode, TypeInfo
from fhirpathpy.models import models as _fhirpath_models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from carepilot.errors import InputError
from carepilot.features.viewdefinition.fastpath import Fallback, Step, compile_steps, run_steps
from carepilot.features.viewdefinition.keys import reference_keys, resource_keys

UCUM = "http://unitsofmeasure.org"
# Variables every expression may use besides the view's constants (%context and %ucum are FHIRPath's own).
BUILTIN_VARIABLES = frozenset({"rowIndex", "resource", "rootResource", "context", "ucum"})


class InvalidFhirPath(InputError):
    """A FHIRPath expression does not parse."""


class FhirPathEvaluationError(InputError):
    """A FHIRPath expression failed while being evaluated on a resource."""


def _model() -> dict[str, Any]:
    # Pydantic-free plain dict shipped with fhirpathpy: FHIR R4 choice types, paths and type hierarchy.
    return _fhirpath_models["r4"]


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    """FHIR R4 resource type names, from the engine's R4 model."""
    parents: Mapping[str, str] = _model()["type2Parent"]
    return frozenset(t for t, p in parents.items() if p in ("Resource", "DomainResource") and t != "DomainResource")


@dataclass(frozen=True)
class FhirPath:
    """One parsed FHIRPath expression, evaluated many times."""

    expression: str
    tree: Mapping[str, Any]
    steps: tuple[Step, ...] | None = None

    def values(self, focus: list[Any], variables: Mapping[str, Any]) -> list[Any]:
        """Plain Python values of the expression: the quick path when it applies, else the engine."""
        if self.steps is not None:
            try:
                return to_python(run_steps(self.steps, focus, variables))
            except Fallback:
                pass
        return to_python(self.evaluate(focus, variables))

    def evaluate(self, focus: list[Any], variables: Mapping[str, Any]) -> list[Any]:
        """Evaluate on ``focus`` (a collection of dicts or nodes); returns engine nodes/values."""
        model = _model()
        _engine_constants.reset()  # now()/today() are fixed per evaluation, as the engine expects
        TypeInfo.model = model  # type: ignore[assignment]  # engine declares it None-typed
        ctx: dict[str, Any] = {
            "dataRoot": focus,
            "vars": {"context": focus, "ucum": UCUM, **variables},
            "model": model,
            "userInvocationTable": FUNCTIONS,
            "$this": focus,
        }
        try:
            result = do_eval(ctx, focus, self.tree["children"][0])
        except InputError:
            raise
        except Exception as exc:  # the engine raises bare Exception/ValueError/TypeError/KeyError alike
            raise FhirPathEvaluationError(f"FHIRPath {self.expression!r} failed: {exc}") from exc
        return result if isinstance(result, list) else [result]

    def constants_used(self) -> set[str]:
        """Names of the ``%variables`` the expression refers to."""
        found: set[str] = set()
        _collect_external_constants(self.tree, found)
        return found

    def unknown_functions(self) -> set[str]:
        """Functions the expression calls that neither the engine nor this module provides."""
        called: set[str] = set()
        _collect_functions(self.tree, called)
        return {name for name in called if name not in invocation_registry and name not in FUNCTIONS}


def compile_path(expression: str, quick: bool = True) -> FhirPath:
    """Parse an expression once; InvalidFhirPath names it when it does not parse.

    With ``quick`` the plainest shapes also get steps for the quick evaluator (see fastpath.py).
    """
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidFhirPath(f"FHIRPath expression must be a non-empty string, got {expression!r}")
    tree = _parse(expression)
    return FhirPath(expression, tree, compile_steps(tree) if quick else None)


class _SyntaxErrors(ErrorListener):
    """Collects syntax errors; fhirpathpy's own parse() silently recovers from them."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:
        self.errors.append(f"column {column}: {msg}")


def _raise(exc: Exception) -> None:
    raise exc


@lru_cache(maxsize=4096)
def _parse(expression: str) -> Mapping[str, Any]:
    """fhirpathpy's grammar and AST listener, with syntax errors reported instead of recovered from."""
    listener = _SyntaxErrors()
    try:
        lexer = FHIRPathLexer(InputStream(expression))
        lexer.recover = _raise
        lexer.removeErrorListeners()
        lexer.addErrorListener(listener)
        tokens = CommonTokenStream(lexer)
        parser = FHIRPathParser(tokens)
        parser.buildParseTrees = True
        parser.removeErrorListeners()
        parser.addErrorListener(listener)
        ast = ASTPathListener()
        ParseTreeWalker().walk(ast, parser.expression())
        trailing = tokens.LA(1) != Token.EOF
    except Exception as exc:  # ANTLR raises its own exception classes for lexer and parser errors
        raise InvalidFhirPath(f"invalid FHIRPath {expression!r}: {exc}") from exc
    if listener.errors:
        raise InvalidFhirPath(f"invalid FHIRPath {expression!r}: {listener.errors[0]}")
    if trailing:
        raise InvalidFhirPath(f"invalid FHIRPath {expression!r}: unexpected text after the expression")
    tree: Mapping[str, Any] = ast.parentStack[0]
    if not tree or not tree.get("children"):
        raise InvalidFhirPath(f"invalid FHIRPath {expression!r}: nothing parsed")
    return tree


def _collect_external_constants(node: Mapping[str, Any], found: set[str]) -> None:
    if node.get("type") == "ExternalConstant":
        for child in node.get("children", []):
            text = child.get("text") or "".join(child.get("terminalNodeText", []))
            found.add(text.strip("`'\""))
    for child in node.get("children", []) or []:
        if isinstance(child, Mapping):
            _collect_external_constants(child, found)


def _collect_functions(node: Mapping[str, Any], found: set[str]) -> None:
    if node.get("type") == "Functn":
        children = node.get("children") or []
        if children and children[0].get("type") == "Identifier":
            found.add(str(children[0].get("text", "")).strip("`"))
    for child in node.get("children", []) or []:
        if isinstance(child, Mapping):
            _collect_functions(child, found)


# --- values -----------------------------------------------------------------------------------------------

_DATE_TYPES = {"date", "dateTime", "instant", "time"}


def constant_value(fhir_type: str, value: Any) -> Any:
    """A view constant as the engine should see it (typed node for dates and times, plain value otherwise)."""
    if fhir_type in _DATE_TYPES:
        return ResourceNode.create_node(value, fhir_type)
    if fhir_type == "decimal" and isinstance(value, float):
        return Decimal(repr(value))
    return value


def to_python(items: Iterable[Any]) -> list[Any]:
    """Engine results as plain JSON-like Python values (str, bool, int, float, dict, list)."""
    out: list[Any] = []
    for item in items:
        data = item.data if isinstance(item, ResourceNode) else item
        if data is None:
            continue  # JSON null keeps primitive arrays aligned with their "_name" extension arrays
        if isinstance(data, Mapping) and list(data.keys()) == ["extension"]:
            continue  # the engine's stand-in for a primitive's extension without a value
        out.append(_plain(data))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, (FP_DateTime, FP_Time, FP_Quantity, FP_Type)):
        return str(value)
    if isinstance(value, ResourceNode):
        return _plain(value.data)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _data(item: Any) -> Any:
    return item.data if isinstance(item, ResourceNode) else item


# --- functions added to the engine ------------------------------------------------------------------------


def _get_resource_key(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    return list(resource_keys(_data(item) for item in coll))


def _get_reference_key(ctx: dict[str, Any], coll: list[Any], type_info: TypeInfo | None = None) -> list[Any]:
    wanted = type_info.name if isinstance(type_info, TypeInfo) else None
    return list(reference_keys((_data(item) for item in coll), wanted))


def _join(ctx: dict[str, Any], coll: list[Any], separator: Any = "") -> str:
    sep = "" if separator is None or separator == [] else str(separator)
    values = []
    for item in coll:
        data = _data(item)
        if not isinstance(data, str):
            raise FhirPathEvaluationError(f"join() needs strings, got {type(data).__name__}")
        values.append(data)
    return sep.join(values)


def _extension(ctx: dict[str, Any], coll: list[Any], url: Any) -> list[Any]:
    found = []
    for item in coll:
        data = _data(item)
        if isinstance(data, Mapping):
            for ext in data.get("extension", []) or []:
                if isinstance(ext, Mapping) and ext.get("url") == url:
                    found.append(ResourceNode.create_node(ext, "Extension"))
    return found


_DATETIME = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})"
    r"(?:\.(?P<f>\d+))?)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_TIME = re.compile(r"^(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?)?$")


def _kind(item: Any) -> str | None:
    """FHIR type of a value for the boundary functions: decimal, date, dateTime, time or None."""
    if isinstance(item, ResourceNode):
        path = item.path or ""
        if path in {"decimal", "integer", "positiveInt", "unsignedInt", "integer64"}:
            return "decimal"
        if path in {"date", "dateTime", "time"}:
            return path
        if path == "instant":
            return "dateTime"
        return None
    if isinstance(item, bool):
        return None
    if isinstance(item, (int, Decimal, float)):
        return "decimal"
    if isinstance(item, FP_Time):
        return "time"
    if isinstance(item, FP_DateTime):
        return "dateTime"
    return None


def _decimal_boundary(value: Any, precision: Any, high: bool) -> Decimal | None:
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    exponent = number.as_tuple().exponent
    scale = max(0, -exponent) if isinstance(exponent, int) else 0
    half = Decimal(5).scaleb(-(scale + 1))
    bound = number + half if high else number - half
    if precision not in (None, []):
        digits = int(precision)
        if digits < 0 or digits > 28:
            return None
        bound = bound.quantize(Decimal(1).scaleb(-digits))
    return bound


def _date_boundary(text: str, high: bool) -> str | None:
    match = _DATETIME.match(text)
    if match is None or match["H"] is not None:
        return None
    year = int(match["y"])
    month = int(match["m"]) if match["m"] else (12 if high else 1)
    last = calendar.monthrange(year, month)[1]
    day = int(match["d"]) if match["d"] else (last if high else 1)
    return f"{year:04d}-{month:02d}-{day:02d}"


def _datetime_boundary(text: str, high: bool) -> str | None:
    match = _DATETIME.match(text)
    if match is None:
        return None
    date = _date_boundary(
        f"{match['y']}" + (f"-{match['m']}" if match["m"] else "") + (f"-{match['d']}" if match["d"] else ""),
        high,
    )
    hour = match["H"] or ("23" if high else "00")
    minute = match["M"] or ("59" if high else "00")
    second = match["S"] or ("59" if high else "00")
    fraction = (match["f"] or "")[:3].ljust(3, "9" if high else "0")
    # Without a zone the instant could be anywhere from UTC+14 to UTC-12.
    zone = match["tz"] or ("-12:00" if high else "+14:00")
    return f"{date}T{hour}:{minute}:{second}.{fraction}{zone}"


def _time_boundary(text: str, high: bool) -> str | None:
    match = _TIME.match(text)
    if match is None:
        return None
    minute = match["M"] or ("59" if high else "00")
    second = match["S"] or ("59" if high else "00")
    fraction = (match["f"] or "")[:3].ljust(3, "9" if high else "0")
    return f"{match['H']}:{minute}:{second}.{fraction}"


def _boundary(high: bool) -> Callable[..., list[Any]]:
    def boundary(ctx: dict[str, Any], coll: list[Any], precision: Any = None) -> list[Any]:
        if len(coll) > 1:
            raise FhirPathEvaluationError("lowBoundary()/highBoundary() need a single value")
        out: list[Any] = []
        for item in coll:
            kind = _kind(item)
            data = _data(item)
            if kind == "decimal":
                bound = _decimal_boundary(data, precision, high)
                if bound is not None:
                    out.append(bound)
                continue
            text = str(data)
            if kind == "date":
                result = _date_boundary(text, high)
            elif kind == "dateTime":
                result = _datetime_boundary(text, high)
            elif kind == "time":
                result = _time_boundary(text, high)
            else:
                result = None
            if result is not None:
                out.append(ResourceNode.create_node(result, kind))
        return out

    return boundary


# Entries follow the engine's invocation-table format: fn(ctx, input collection, *params) and the arity table.
FUNCTIONS: dict[str, dict[str, Any]] = {
    "getResourceKey": {"fn": _get_resource_key},
    "getReferenceKey": {"fn": _get_reference_key, "arity": {0: [], 1: ["TypeSpecifier"]}},
    "lowBoundary": {"fn": _boundary(high=False), "arity": {0: [], 1: ["Integer"]}},
    "highBoundary": {"fn": _boundary(high=True), "arity": {0: [], 1: ["Integer"]}},
    "join": {"fn": _join, "arity": {0: [], 1: ["String"]}},
    "extension": {"fn": _extension, "arity": {1: ["String"]}},
}
