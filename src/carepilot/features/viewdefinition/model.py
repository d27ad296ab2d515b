"""The ViewDefinition resource (SQL on FHIR v2), parsed and checked before any data is read.

Parsing with pydantic catches structural mistakes (missing ``resource``, a number where a FHIRPath is
expected, a constant without a value). ``parse_view`` then compiles every FHIRPath once and checks what
the spec requires of a whole view: constants that are referenced exist, ``unionAll`` branches have the same
columns in the same order, column names are unique and usable as SQL identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, model_validator

from carepilot.errors import InputError
from carepilot.features.viewdefinition.fhirpath import (
    BUILTIN_VARIABLES,
    FhirPath,
    InvalidFhirPath,
    compile_path,
    constant_value,
    resource_types,
)


class InvalidViewDefinition(InputError):
    """A ViewDefinition is malformed; the message names the element at fault."""


# value[x] choices a ViewDefinition.constant may use, mapped to the FHIR type and the JSON type it arrives as.
CONSTANT_TYPES: dict[str, tuple[str, tuple[type, ...]]] = {
    "valueBase64Binary": ("base64Binary", (str,)),
    "valueBoolean": ("boolean", (bool,)),
    "valueCanonical": ("canonical", (str,)),
    "valueCode": ("code", (str,)),
    "valueDate": ("date", (str,)),
    "valueDateTime": ("dateTime", (str,)),
    "valueDecimal": ("decimal", (int, float, Decimal)),
    "valueId": ("id", (str,)),
    "valueInstant": ("instant", (str,)),
    "valueInteger": ("integer", (int,)),
    "valueInteger64": ("integer64", (int, str)),
    "valueOid": ("oid", (str,)),
    "valueString": ("string", (str,)),
    "valuePositiveInt": ("positiveInt", (int,)),
    "valueTime": ("time", (str,)),
    "valueUnsignedInt": ("unsignedInt", (int,)),
    "valueUri": ("uri", (str,)),
    "valueUrl": ("url", (str,)),
    "valueUuid": ("uuid", (str,)),
}

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Tag(BaseModel):
    """A column tag (e.g. ``ansi/type``)."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr
    value: StrictStr


class Column(BaseModel):
    """One output column: a name, a FHIRPath and an optional FHIR type."""

    model_config = ConfigDict(extra="forbid")
    id: StrictStr | None = None
    extension: list[dict[str, Any]] | None = None
    name: StrictStr
    path: StrictStr
    description: StrictStr | None = None
    collection: StrictBool | None = None
    type: StrictStr | None = None
    tag: list[Tag] | None = None


class Select(BaseModel):
    """A select node: columns, nested selects, an iteration (forEach / forEachOrNull / repeat), unionAll."""

    model_config = ConfigDict(extra="forbid")
    id: StrictStr | None = None
    extension: list[dict[str, Any]] | None = None
    column: list[Column] | None = None
    select: list[Select] | None = None
    forEach: StrictStr | None = None
    forEachOrNull: StrictStr | None = None
    repeat: list[StrictStr] | None = Field(default=None, min_length=1)
    unionAll: list[Select] | None = None

    @model_validator(mode="after")
    def _one_iteration(self) -> Select:
        chosen = [k for k in ("forEach", "forEachOrNull", "repeat") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"a select may use only one of forEach, forEachOrNull, repeat (got {chosen})")
        return self


class Where(BaseModel):
    """A filter: the resource is kept when the path is true."""

    model_config = ConfigDict(extra="allow")
    path: StrictStr
    description: StrictStr | None = None


class Constant(BaseModel):
    """A named constant usable as ``%name`` in every path of the view."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr
    fhir_type: str
    value: Any

    @model_validator(mode="before")
    @classmethod
    def _value_x(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise ValueError("a constant must be an object")
        values = [k for k in raw if k.startswith("value")]
        if len(values) != 1:
            raise ValueError(f"constant {raw.get('name')!r} needs exactly one value[x], found {values or 'none'}")
        key = values[0]
        if key not in CONSTANT_TYPES:
            raise ValueError(f"constant {raw.get('name')!r}: {key} is not an allowed constant type")
        fhir_type, json_types = CONSTANT_TYPES[key]
        value = raw[key]
        if (isinstance(value, bool) and bool not in json_types) or not isinstance(value, json_types):
            raise ValueError(f"constant {raw.get('name')!r}: {key} has a {type(value).__name__} value")
        return {"name": raw.get("name"), "fhir_type": fhir_type, "value": value}


class ViewDefinition(BaseModel):
    """The ViewDefinition resource; metadata elements are kept but not interpreted."""

    model_config = ConfigDict(extra="allow")
    resourceType: StrictStr | None = None
    name: StrictStr | None = None
    status: StrictStr | None = None
    resource: StrictStr = Field(min_length=1)
    constant: list[Constant] | None = None
    select: list[Select] = Field(min_length=1)
    where: list[Where] | None = None

    @model_validator(mode="after")
    def _kind(self) -> ViewDefinition:
        if self.resourceType not in (None, "ViewDefinition"):
            raise ValueError(f"resourceType must be ViewDefinition, got {self.resourceType!r}")
        return self


@dataclass(frozen=True)
class OutputColumn:
    """A column of the view's output, in output order."""

    name: str
    type: str | None
    collection: bool
    description: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    def tag(self, name: str) -> str | None:
        """Value of the column tag ``name`` (e.g. ``ansi/type``), if set."""
        return next((value for key, value in self.tags if key == name), None)


@dataclass(frozen=True)
class CompiledColumn:
    """A column with its compiled path."""

    name: str
    path: FhirPath
    type: str | None
    collection: bool


@dataclass(frozen=True)
class CompiledSelect:
    """A select node with its FHIRPaths compiled; the runner walks this tree."""

    columns: tuple[CompiledColumn, ...]
    selects: tuple[CompiledSelect, ...]
    union: tuple[CompiledSelect, ...]
    for_each: FhirPath | None
    or_null: bool
    repeat: tuple[FhirPath, ...]
    output: tuple[OutputColumn, ...]


@dataclass(frozen=True)
class CompiledView:
    """A validated ViewDefinition ready to run: pure data, picklable, safe to share between workers."""

    name: str | None
    resource: str
    constants: Mapping[str, Any]
    where: tuple[FhirPath, ...]
    root: CompiledSelect

    @property
    def columns(self) -> tuple[OutputColumn, ...]:
        """Output columns in order (columns, then nested selects, then unionAll, depth first)."""
        return self.root.output


def parse_view(definition: Mapping[str, Any] | ViewDefinition | CompiledView, quick: bool = True) -> CompiledView:
    """Validate and compile a ViewDefinition; InvalidViewDefinition says what is wrong and where.

    ``quick=False`` evaluates every path with the FHIRPath engine alone (to check the quick path).
    """
    if isinstance(definition, CompiledView):
        return definition
    if isinstance(definition, ViewDefinition):
        view = definition
    else:
        if not isinstance(definition, Mapping):
            raise InvalidViewDefinition(f"a ViewDefinition must be a JSON object, got {type(definition).__name__}")
        try:
            view = ViewDefinition.model_validate(dict(definition))
        except ValidationError as exc:
            raise InvalidViewDefinition(_describe(exc)) from exc
    if view.resource not in resource_types():
        raise InvalidViewDefinition(f"resource {view.resource!r} is not a FHIR R4 resource type")
    constants: dict[str, Any] = {}
    for const in view.constant or []:
        if not NAME_PATTERN.match(const.name):
            raise InvalidViewDefinition(f"constant name {const.name!r} must match {NAME_PATTERN.pattern}")
        if const.name in constants or const.name in BUILTIN_VARIABLES:
            raise InvalidViewDefinition(f"constant {const.name!r} is defined twice or shadows a built-in")
        constants[const.name] = constant_value(const.fhir_type, const.value)
    known = set(constants) | BUILTIN_VARIABLES
    compiler = _Compiler(known, quick)
    where = tuple(compiler.path(w.path, f"where[{i}].path") for i, w in enumerate(view.where or []))
    root = compiler.select(Select(select=view.select), "")
    seen: set[str] = set()
    for col in root.output:
        if col.name in seen:
            raise InvalidViewDefinition(f"column name {col.name!r} is used more than once")
        seen.add(col.name)
    return CompiledView(name=view.name, resource=view.resource, constants=constants, where=where, root=root)


class _Compiler:
    def __init__(self, known_variables: set[str], quick: bool) -> None:
        self.known = known_variables
        self.quick = quick

    def path(self, expression: str, where: str, quick: bool = True) -> FhirPath:
        try:
            compiled = compile_path(expression, quick=quick and self.quick)
        except InvalidFhirPath as exc:
            raise InvalidViewDefinition(f"{where}: {exc}") from exc
        functions = compiled.unknown_functions()
        if functions:
            raise InvalidViewDefinition(f"{where}: unknown FHIRPath function(s) {', '.join(sorted(functions))}")
        unknown = compiled.constants_used() - self.known
        if unknown:
            raise InvalidViewDefinition(f"{where}: undefined constant(s) {', '.join('%' + u for u in sorted(unknown))}")
        return compiled

    def select(self, node: Select, where: str) -> CompiledSelect:
        columns = []
        output: list[OutputColumn] = []
        for i, col in enumerate(node.column or []):
            at = f"{where}column[{i}]"
            if not NAME_PATTERN.match(col.name):
                raise InvalidViewDefinition(f"{at}: column name {col.name!r} must match {NAME_PATTERN.pattern}")
            columns.append(CompiledColumn(col.name, self.path(col.path, f"{at}.path"), col.type, bool(col.collection)))
            tags = tuple((t.name, t.value) for t in col.tag or [])
            output.append(OutputColumn(col.name, col.type, bool(col.collection), col.description, tags))
        selects = tuple(self.select(s, f"{where}select[{i}].") for i, s in enumerate(node.select or []))
        for sub in selects:
            output.extend(sub.output)
        union = tuple(self.select(s, f"{where}unionAll[{i}].") for i, s in enumerate(node.unionAll or []))
        if union:
            first = [c.name for c in union[0].output]
            for i, branch in enumerate(union[1:], start=1):
                names = [c.name for c in branch.output]
                if names != first:
                    raise InvalidViewDefinition(
                        f"{where}unionAll[{i}] has columns {names}, unionAll[0] has {first}: "
                        "every branch needs the same columns in the same order"
                    )
            output.extend(union[0].output)
        iteration = node.forEach if node.forEach is not None else node.forEachOrNull
        # Foci feed later paths, which need the engine's typed nodes: no quick path for iterations.
        for_each = self.path(iteration, f"{where}forEach", quick=False) if iteration is not None else None
        repeat = tuple(self.path(p, f"{where}repeat[{i}]", quick=False) for i, p in enumerate(node.repeat or []))
        return CompiledSelect(
            columns=tuple(columns),
            selects=selects,
            union=union,
            for_each=for_each,
            or_null=node.forEachOrNull is not None,
            repeat=repeat,
            output=tuple(output),
        )


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc or 'view'}: {err.get('msg')}")
    return "invalid ViewDefinition: " + "; ".join(parts)
