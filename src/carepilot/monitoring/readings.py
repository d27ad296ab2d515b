"""Wearable and CGM readings: the value object, the columnar batch and validation with reasons.

Validation never raises for a bad row: each rejected row gets a ``Rejection`` (index, reason code, message)
and every other row is kept. Units are converted to each type's canonical UCUM unit with
``carepilot.domain.units`` (lb -> kg, mmol/L -> mg/dL, SpO2 fraction -> %). Plausible ranges are physiological
limits plus device limits (CGM sensors report 40-400 mg/dL; we accept 20-600 so that out-of-range codes sent
as numbers are still caught). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np
import pandas as pd

from carepilot.domain.units import CONVERSIONS, canonical_unit_code


class ReadingType(StrEnum):
    HEART_RATE = "heart_rate"
    STEPS = "steps"
    SPO2 = "spo2"
    WEIGHT = "weight"
    CGM_GLUCOSE = "cgm_glucose"
    SYSTOLIC_BP = "systolic_bp"
    DIASTOLIC_BP = "diastolic_bp"


class Kind(IntEnum):
    """Compact integer code of a reading type, used in the columnar hot path."""

    HEART_RATE = 0
    STEPS = 1
    SPO2 = 2
    WEIGHT = 3
    CGM_GLUCOSE = 4
    SYSTOLIC_BP = 5
    DIASTOLIC_BP = 6


class Reason(StrEnum):
    """Why a reading was not used."""

    MISSING_FIELD = "missing_field"
    UNKNOWN_TYPE = "unknown_type"
    BAD_UNIT = "bad_unit"
    BAD_VALUE = "bad_value"
    IMPLAUSIBLE_VALUE = "implausible_value"
    BAD_TIMESTAMP = "bad_timestamp"
    NAIVE_TIMESTAMP = "naive_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"
    WRONG_PATIENT = "wrong_patient"
    INVALID_RESOURCE = "invalid_resource"
    NOT_A_READING = "not_a_reading"


@dataclass(frozen=True)
class TypeSpec:
    """Canonical unit, the concept ``domain.units`` converts under, plausible range, extra unit spellings."""

    type: ReadingType
    kind: Kind
    concept: str
    unit: str
    low: float
    high: float
    count_units: tuple[str, ...] = ()


SPECS: dict[str, TypeSpec] = {
    s.type.value: s
    for s in (
        TypeSpec(ReadingType.HEART_RATE, Kind.HEART_RATE, "heart_rate", "/min", 20.0, 300.0),
        # Step counts arrive per interval or per day; both are counts, summed per day downstream.
        TypeSpec(ReadingType.STEPS, Kind.STEPS, "steps", "/d", 0.0, 100_000.0, ("1", "{count}", "steps", "count")),
        TypeSpec(ReadingType.SPO2, Kind.SPO2, "spo2", "%", 50.0, 100.0),
        TypeSpec(ReadingType.WEIGHT, Kind.WEIGHT, "body_weight", "kg", 20.0, 400.0),
        TypeSpec(ReadingType.CGM_GLUCOSE, Kind.CGM_GLUCOSE, "cgm_glucose", "mg/dL", 20.0, 600.0),
        TypeSpec(ReadingType.SYSTOLIC_BP, Kind.SYSTOLIC_BP, "systolic_bp", "mm[Hg]", 50.0, 300.0),
        TypeSpec(ReadingType.DIASTOLIC_BP, Kind.DIASTOLIC_BP, "diastolic_bp", "mm[Hg]", 20.0, 200.0),
    )
}
SPEC_BY_KIND: dict[int, TypeSpec] = {int(s.kind): s for s in SPECS.values()}


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement from a device, as received (``time`` must carry a UTC offset)."""

    type: str
    time: datetime
    value: float
    unit: str
    device: str | None = None
    patient_id: str | None = None


@dataclass(frozen=True)
class Rejection:
    """A row that was not used, with the reason; ``index`` is its position in the input."""

    index: int
    reason: Reason
    message: str
    patient_id: str | None = None
    type: str | None = None


@dataclass
class ReadingBatch:
    """Validated readings in columns, canonical units, time as UTC epoch seconds."""

    patient_id: np.ndarray
    kind: np.ndarray
    time: np.ndarray
    value: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    def take(self, rows: np.ndarray | slice) -> ReadingBatch:
        """The rows selected by an index or boolean array."""
        return ReadingBatch(self.patient_id[rows], self.kind[rows], self.time[rows], self.value[rows], self.index[rows])

    @staticmethod
    def empty() -> ReadingBatch:
        """A batch with no rows."""
        return ReadingBatch(
            np.empty(0, dtype=object),
            np.empty(0, dtype=np.int8),
            np.empty(0, dtype=np.float64),
            np.empty(0, dtype=np.float64),
            np.empty(0, dtype=np.int64),
        )


@dataclass
class Validated:
    """The rows kept and the rows rejected (with reasons)."""

    batch: ReadingBatch
    rejected: list[Rejection] = field(default_factory=list)

    def reasons(self) -> dict[str, int]:
        """Count of rejected rows per reason code."""
        counts: dict[str, int] = {}
        for r in self.rejected:
            counts[r.reason.value] = counts.get(r.reason.value, 0) + 1
        return counts


def parse_time(value: Any) -> float:
    """UTC epoch seconds of an ISO 8601 string or aware datetime.

    Raises:
        ValueError: unparseable, or naive (no UTC offset); the message starts with the reason code.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{Reason.BAD_TIMESTAMP}: {value!r} is not an ISO 8601 timestamp") from exc
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            raise ValueError(f"{Reason.BAD_TIMESTAMP}: missing timestamp")
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise ValueError(f"{Reason.BAD_TIMESTAMP}: {type(value).__name__} is not a timestamp")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{Reason.NAIVE_TIMESTAMP}: timestamp has no UTC offset")
    return value.timestamp()


def to_datetime(epoch_seconds: float) -> datetime:
    """Aware UTC datetime of epoch seconds."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


def _converter_factor(spec: TypeSpec, unit: str | None) -> tuple[float, float] | None:
    """(factor, offset) taking ``unit`` to the canonical unit, or None when it cannot be converted."""
    code = canonical_unit_code(unit)
    if code is None:
        return None
    if code == spec.unit or code.lower() == spec.unit.lower() or code in spec.count_units:
        return (1.0, 0.0)
    conv = CONVERSIONS.get((spec.concept, code, spec.unit)) or CONVERSIONS.get(("*", code, spec.unit))
    if conv is None:
        return None
    # Every conversion in domain.units is affine; recover it from two points to apply it to whole arrays.
    offset = float(conv(0.0))
    return (float(conv(1.0)) - offset, offset)


def validate_columns(
    patient_id: Sequence[Any] | np.ndarray,
    type_: Sequence[Any] | np.ndarray,
    time: np.ndarray,
    value: Sequence[Any] | np.ndarray,
    unit: Sequence[Any] | np.ndarray,
    *,
    not_after: float | None = None,
    pre_rejected: dict[int, Rejection] | None = None,
) -> Validated:
    """Validate columns of readings, vectorised; ``time`` is UTC epoch seconds with NaN for missing.

    Rows named in ``pre_rejected`` (found bad while parsing) are rejected with that reason.
    """
    n = len(type_)
    pid = np.asarray(patient_id, dtype=object)
    times = np.asarray(time, dtype=np.float64)
    raw = np.asarray(value)
    if raw.dtype.kind in "fiu":
        values = raw.astype(np.float64, copy=False)
    else:
        values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    reason = np.zeros(n, dtype=np.int8)  # 0 = ok; otherwise index into _REASON_ORDER
    message: dict[int, str] = {}
    rejected: dict[int, Rejection] = dict(pre_rejected or {})
    for i in rejected:
        reason[i] = 1

    type_codes, type_uniques = _factorize(type_)
    unit_codes, unit_uniques = _factorize(unit)
    kind = np.full(n, -1, dtype=np.int8)
    factor = np.ones(n)
    offset = np.zeros(n)
    for t_code, t_name in enumerate(type_uniques):
        spec = SPECS.get(t_name) if isinstance(t_name, str) else None
        rows = type_codes == t_code
        if spec is None:
            _mark(
                rows,
                reason,
                2,
                message,
                f"unknown reading type {t_name!r}; expected one of {', '.join(SPECS)}",
            )
            continue
        kind[rows] = spec.kind
        for u_code in np.unique(unit_codes[rows]):
            urows = rows & (unit_codes == u_code)
            u_name = unit_uniques[u_code] if u_code >= 0 else None
            conv = _converter_factor(spec, u_name if isinstance(u_name, str) else None)
            if conv is None:
                _mark(
                    urows,
                    reason,
                    3,
                    message,
                    f"unit {u_name!r} cannot be converted to {spec.unit} for {t_name}",
                )
                continue
            factor[urows], offset[urows] = conv
    if (type_codes < 0).any():
        _mark(type_codes < 0, reason, 4, message, "reading type is missing")
    missing_id = np.fromiter((p is None or p != p or p == "" for p in pid.tolist()), dtype=bool, count=n)
    _mark(missing_id, reason, 4, message, "patient_id is missing")
    _mark(~np.isfinite(values), reason, 5, message, "value is not a finite number")
    _mark(~np.isfinite(times), reason, 6, message, "timestamp is missing or unreadable")
    converted = values * factor + offset
    low = np.array([SPEC_BY_KIND[k].low if k >= 0 else -np.inf for k in range(-1, 7)])[kind + 1]
    high = np.array([SPEC_BY_KIND[k].high if k >= 0 else np.inf for k in range(-1, 7)])[kind + 1]
    with np.errstate(invalid="ignore"):
        bad_range = (converted < low) | (converted > high)
    _mark(bad_range, reason, 7, message, "value outside the plausible range")
    if not_after is not None:
        with np.errstate(invalid="ignore"):
            _mark(times > not_after, reason, 8, message, "timestamp is in the future")

    bad_rows = np.flatnonzero(reason)
    for i in bad_rows.tolist():
        if i in rejected:
            continue
        code = _REASON_ORDER[reason[i]]
        text = message[int(reason[i])]
        if code is Reason.IMPLAUSIBLE_VALUE:
            spec = SPEC_BY_KIND[int(kind[i])]
            text = f"{type_[i]} {converted[i]:g} {spec.unit} is outside {spec.low:g}-{spec.high:g}"
        elif code is Reason.UNKNOWN_TYPE:
            text = f"unknown reading type {type_[i]!r}; expected one of {', '.join(SPECS)}"
        elif code is Reason.BAD_UNIT:
            text = f"unit {unit[i]!r} cannot be converted to {SPEC_BY_KIND[int(kind[i])].unit} for {type_[i]}"
        rejected[i] = Rejection(i, code, text, _str_or_none(pid[i]), _str_or_none(type_[i]))
    keep = reason == 0
    batch = ReadingBatch(pid[keep], kind[keep], times[keep], converted[keep], np.flatnonzero(keep).astype(np.int64))
    return Validated(batch, [rejected[i] for i in sorted(rejected)])


_REASON_ORDER: dict[int, Reason] = {
    1: Reason.BAD_TIMESTAMP,
    2: Reason.UNKNOWN_TYPE,
    3: Reason.BAD_UNIT,
    4: Reason.MISSING_FIELD,
    5: Reason.BAD_VALUE,
    6: Reason.BAD_TIMESTAMP,
    7: Reason.IMPLAUSIBLE_VALUE,
    8: Reason.FUTURE_TIMESTAMP,
}


SMALL_FACTORIZE = 4096  # below this a dict is faster than building a pandas Series to factorize


def _factorize(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, Sequence[Any]]:
    """Integer codes of values (-1 for None / NaN) and the distinct values, as ``pandas.factorize``."""
    if len(values) > SMALL_FACTORIZE:
        try:
            codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
            return codes, list(uniques)
        except TypeError:
            pass  # a JSON list or object where a string belongs: the loop below handles it
    seen: dict[Any, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    items = values.tolist() if isinstance(values, np.ndarray) else values
    for i, v in enumerate(items):
        if v is None or (type(v) is float and v != v):
            out[i] = -1
            continue
        if isinstance(v, (list, dict)):
            v = repr(v)  # unhashable; rejected downstream as an unknown type or unit
        code = seen.get(v)
        if code is None:
            code = seen[v] = len(seen)
        out[i] = code
    return out, list(seen)


def _mark(rows: np.ndarray, reason: np.ndarray, code: int, message: dict[int, str], text: str) -> None:
    """Give rows that are still OK the reason ``code`` (the first reason found wins)."""
    hit = rows & (reason == 0)
    if hit.any():
        reason[hit] = code
        message.setdefault(code, text)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _epoch_or_nan(value: Any) -> float:
    """Fast path of ``parse_time`` for ISO strings; NaN sends the row to the slow path for its reason."""
    if type(value) is not str:
        return math.nan
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return math.nan
    return math.nan if parsed.tzinfo is None else parsed.timestamp()


def _number_or_nan(value: Any) -> float:
    """Numbers as float; numeric strings parsed; booleans and anything else NaN (rejected as bad_value)."""
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is str:
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def validate_records(
    records: Iterable[Mapping[str, Any] | Reading],
    *,
    patient_id: str | None = None,
    not_after: float | None = None,
) -> Validated:
    """Validate readings given as mappings (JSON objects) or ``Reading`` objects.

    ``patient_id`` is used for rows that do not carry one (the per-patient stream API).
    """
    rows = records if isinstance(records, list) else list(records)
    pre: dict[int, Rejection] = {}
    if all(type(r) is dict for r in rows):
        # Fast path for parsed JSON: one comprehension per column.
        dicts: list[dict[str, Any]] = rows  # type: ignore[assignment]
        pids = [r.get("patient_id", patient_id) for r in dicts]
        types = [r.get("type") for r in dicts]
        raw_times = [r.get("time") for r in dicts]
        values = [_number_or_nan(r.get("value")) for r in dicts]
        units = [r.get("unit") for r in dicts]
    else:
        pids, types, raw_times, values, units = [], [], [], [], []
        for i, rec in enumerate(rows):
            fields: tuple[Any, ...]
            if isinstance(rec, Reading):
                fields = (rec.patient_id, rec.type, rec.time, rec.value, rec.unit)
            elif isinstance(rec, Mapping):
                fields = tuple(rec.get(k) for k in ("patient_id", "type", "time", "value", "unit"))
            else:
                fields = (None, None, None, None, None)
                pre[i] = Rejection(i, Reason.MISSING_FIELD, f"row is a {type(rec).__name__}, not an object")
            pids.append(fields[0] if fields[0] is not None else patient_id)
            types.append(fields[1])
            raw_times.append(fields[2])
            values.append(_number_or_nan(fields[3]))
            units.append(fields[4])
    times = [_epoch_or_nan(x) for x in raw_times]
    for i, t in enumerate(times):
        if t == t or i in pre:  # t == t is False only for NaN
            continue
        raw = raw_times[i]
        if raw is None:
            pre[i] = Rejection(
                i, Reason.MISSING_FIELD, "time is missing", _str_or_none(pids[i]), _str_or_none(types[i])
            )
            continue
        try:
            times[i] = parse_time(raw)
        except ValueError as exc:
            code, _, text = str(exc).partition(": ")
            pre[i] = Rejection(i, Reason(code), text, _str_or_none(pids[i]), _str_or_none(types[i]))
    return validate_columns(
        np.array(pids, dtype=object),
        np.array(types, dtype=object),
        np.array(times, dtype=np.float64),
        np.array(values, dtype=np.float64),
        np.array(units, dtype=object),
        not_after=not_after,
        pre_rejected=pre,
    )


def validate_frame(frame: pd.DataFrame, *, not_after: float | None = None, assume_utc: bool = False) -> Validated:
    """Validate a readings table (columns patient_id, type, time, value, unit), e.g. read from Parquet.

    A ``time`` column without a timezone is rejected row by row as naive, unless ``assume_utc`` says the
    file's own schema documents its timestamps as UTC (a column-level declaration, never a per-row guess).
    """
    missing = [c for c in ("patient_id", "type", "time", "value", "unit") if c not in frame.columns]
    if missing:
        from carepilot.errors import InputError

        raise InputError(f"readings table lacks column(s) {', '.join(missing)}")
    col = frame["time"]
    pre: dict[int, Rejection] = {}
    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is None and assume_utc:
            col = col.dt.tz_localize("UTC")
        if getattr(col.dt, "tz", None) is None:
            times = np.full(len(frame), np.nan)
            pre = {
                i: Rejection(
                    i,
                    Reason.NAIVE_TIMESTAMP,
                    "timestamp column has no timezone (use assume_utc if it is UTC)",
                )
                for i in range(len(frame))
            }
        else:
            ns = col.dt.tz_convert("UTC").to_numpy(dtype="datetime64[ns]").astype(np.int64)
            times = ns / 1e9
            times[col.isna().to_numpy()] = np.nan
    else:
        times = np.full(len(frame), np.nan)
        for i, raw in enumerate(col.tolist()):
            try:
                times[i] = parse_time(raw)
            except ValueError as exc:
                code, _, text = str(exc).partition(": ")
                pre[i] = Rejection(i, Reason(code), text)
    return validate_columns(
        frame["patient_id"].to_numpy(dtype=object),
        frame["type"].to_numpy(dtype=object),
        times,
        frame["value"].to_numpy(),
        frame["unit"].to_numpy(dtype=object),
        not_after=not_after,
        pre_rejected=pre,
    )
