"""De-identification of FHIR resources after HIPAA Safe Harbor (45 CFR 164.514(b)(2)). Pure functions: no I/O.

The 18 identifiers of 164.514(b)(2)(i) and what happens to each here:

(A) names: HumanName anywhere, Organization/Location names, reference displays, narrative and notes are removed.
(B) geography below the state: address lines, city, district and text removed; state and country kept; the ZIP
    code kept to its first three digits, or ``000`` for the three-digit areas of 20,000 people or fewer.
(C) dates: every date of the individual shifted by a per-patient offset (1-182 days either way, derived from a
    keyed HMAC of the patient's id, so intervals within one patient are kept) or, with ``dates="year"``, cut to the
    year; ages over 89, and birth dates that imply them, are grouped as 90 or older.
(D-F) telephone, fax, email: every ``telecom`` / ContactPoint removed.
(G-K) SSN, medical record, health plan, account, certificate/licence numbers: every ``identifier`` removed.
(L-M) vehicle and device identifiers and serial numbers: Device serial/lot numbers, UDI carriers removed.
(N-O) URLs and IP addresses: attachment URLs, ``valueUrl``, endpoint addresses, agent network addresses removed;
    absolute references cut to ``Type/id``.
(P-Q) biometric identifiers and full-face photographs: photos and attachment data removed.
(R) any other unique number or code: resource ids and references replaced by keyed pseudonyms (HMAC-SHA256), so
    the de-identified resources still refer to each other; free-text strings are scrubbed of phone numbers, SSNs,
    emails, URLs and IP addresses.

Hand-written because no maintained Python library de-identifies FHIR JSON (Microsoft's FHIR-Tools-for-Anonymization
is a .NET service); the rules are short and each is tested on synthetic identifiers. Reference for the ZIP rule:
HHS, "Guidance Regarding Methods for De-identification of Protected Health Information" (2012), section 3.4.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

# Three-digit ZIP areas with 20,000 people or fewer (2000 Census), listed by HHS: these become "000".
RESTRICTED_ZIP3 = frozenset(
    {"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884", "890",
     "893"}
)  # fmt: skip
# Extensions that name or place a person beyond what the generic rules catch (Synthea writes both).
DROPPED_EXTENSIONS = ("mothersMaidenName", "birthPlace")
AGE_GROUP_URL = "http://carepilot.example.org/fhir/StructureDefinition/deid-age-group"
PERSON_TYPES = frozenset({"Patient", "Practitioner", "RelatedPerson", "Person"})
NAMED_TYPES = frozenset({"Organization", "Location", "HealthcareService", "Endpoint", "Group"})
DROP_ANYWHERE = frozenset(
    {
        "identifier",
        "telecom",
        "photo",
        "contact",  # relatives and other contacts: names, addresses, phones
        "note",
        "comment",
        "network",
        "serialNumber",
        "lotNumber",
        "udiCarrier",
        "distinctIdentifier",
        "deviceName",
        "subscriberId",
        "valueUrl",
        "valueContactPoint",
        "valueIdentifier",
        "valueHumanName",
        "valueAttachment",
        "position",  # Location latitude / longitude
        "alias",
        "ifNoneExist",  # conditional-create queries carry identifiers
    }
)
# Keys holding dates of the individual (any key ending in Date, DateTime, Instant is one too).
DATE_KEYS = frozenset(
    {
        "date",
        "dateTime",
        "start",
        "end",
        "event",
        "issued",
        "recorded",
        "authoredOn",
        "timestamp",
        "created",
        "sent",
        "received",
        "lastOccurrence",
        "whenHandedOver",
        "whenPrepared",
    }
)
# Keys whose string values are structure or terminology, never free text about a person.
STRUCTURAL_KEYS = frozenset(
    {"resourceType", "system", "url", "profile", "code", "valueSet", "version", "use", "status", "unit", "reference"}
)
_FHIR_DATE = re.compile(r"^(\d{4})(-(\d{2})(-(\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_SCRUB = (
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),  # SSN
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # email
    re.compile(r"\b(?:https?|ftp)://\S+", re.IGNORECASE),  # URL
    re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),  # IPv4
    re.compile(r"(?:\+?1[-. ]?)?\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b"),  # phone / fax
)
REMOVED = "[removed]"


@dataclass(frozen=True)
class DeidOptions:
    """``dates``: ``shift`` (per-patient keyed offset) or ``year``; ``as_of``: the day ages are counted to."""

    dates: str = "shift"
    as_of: date | None = None
    restricted_zip3: frozenset[str] = field(default=RESTRICTED_ZIP3)


def pseudonym(key: bytes, reference: str) -> str:
    """A keyed pseudonym (HMAC-SHA256, 32 hex digits, a valid FHIR id) for ``Type/id``."""
    return hmac.new(key, reference.encode(), hashlib.sha256).hexdigest()[:32]


def date_offset(key: bytes, patient_reference: str) -> int:
    """The patient's date shift in days: 1-182 either way, fixed by the key and the patient's ``Patient/id``."""
    digest = hmac.new(key, b"date-shift|" + patient_reference.encode(), hashlib.sha256).digest()
    magnitude = 1 + int.from_bytes(digest[:4], "big") % 182
    return magnitude if digest[4] & 1 else -magnitude


def generalise_zip(postal_code: str, restricted: frozenset[str] = RESTRICTED_ZIP3) -> str:
    """The first three digits of a US ZIP code, or ``000`` where that area holds 20,000 people or fewer."""
    digits = re.sub(r"\D", "", postal_code)
    if len(digits) < 3:
        return "000"
    return "000" if digits[:3] in restricted else digits[:3]


def shift_date(value: str, days: int, mode: str = "shift") -> str:
    """Shift a FHIR date/dateTime/instant by ``days`` keeping its precision (a bare year is kept as it is)."""
    match = _FHIR_DATE.match(value)
    if match is None:
        return REMOVED
    year = match.group(1)
    if mode == "year" or match.group(3) is None:
        return year
    if match.group(5) is None:  # year-month: shift the middle of the month
        moved = date(int(year), int(match.group(3)), 15) + timedelta(days=days)
        return moved.strftime("%Y-%m")
    if match.group(6) is None:
        return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    text = (stamp + timedelta(days=days)).isoformat()
    return text.replace("+00:00", "Z") if value.endswith("Z") else text


def _age_on(birth: str, as_of: date) -> int | None:
    match = _FHIR_DATE.match(birth)
    if match is None:
        return None
    year = int(match.group(1))
    month = int(match.group(3) or 1)
    day = int(match.group(5) or 1)
    return as_of.year - year - ((as_of.month, as_of.day) < (month, day))


def patient_reference(resource: Mapping[str, Any]) -> str:
    """Whose dates these are: the Patient itself, the patient a resource is about, else the resource itself."""
    rtype = str(resource.get("resourceType", ""))
    if rtype == "Patient":
        return f"Patient/{resource.get('id')}"
    for key in ("subject", "patient", "beneficiary", "individual"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str) and "Patient/" in ref["reference"]:
            return "Patient/" + ref["reference"].rsplit("Patient/", 1)[1]
    return f"{rtype}/{resource.get('id')}"


class _Deidentifier:
    def __init__(self, key: bytes, options: DeidOptions, offset: int) -> None:
        self.key = key
        self.options = options
        self.offset = offset
        self.as_of = options.as_of or date.today()

    def reference(self, ref: str) -> str:
        if ref.startswith("#"):
            return ref
        if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
            return "urn:uuid:" + _uuid_shape(pseudonym(self.key, ref))
        parts = ref.rstrip("/").split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) >= 2:
            rtype, rid = parts[-2], parts[-1]
            return f"{rtype}/{pseudonym(self.key, f'{rtype}/{rid}')}"
        return REMOVED

    def address(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.address(v) for v in value]
        if not isinstance(value, dict):
            return None
        kept = {k: value[k] for k in ("use", "type", "state", "country") if k in value}
        if value.get("postalCode"):
            kept["postalCode"] = generalise_zip(str(value["postalCode"]), self.options.restricted_zip3)
        return kept

    def attachment(self, value: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in value.items() if k in ("contentType", "language")}

    def age(self, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("value"), (int, float)) and value["value"] > 89:
            return {**value, "value": 90, "comparator": ">="}
        return value

    def walk(self, value: Any, key: str = "", parent_type: str = "") -> Any:
        if isinstance(value, dict):
            return self.walk_dict(value, parent_type)
        if isinstance(value, list):
            return [self.walk(v, key, parent_type) for v in value]
        if isinstance(value, str):
            if key in DATE_KEYS or key.endswith(("Date", "DateTime", "Instant")):
                return shift_date(value, self.offset, self.options.dates) if _FHIR_DATE.match(value) else value
            if key in STRUCTURAL_KEYS:
                return value
            return scrub_text(value)
        return value

    def walk_dict(self, obj: dict[str, Any], parent_type: str) -> dict[str, Any]:
        rtype = str(obj.get("resourceType") or parent_type)
        is_resource = "resourceType" in obj
        if "contentType" in obj and ("data" in obj or "url" in obj):
            return self.attachment(obj)
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k in DROP_ANYWHERE:
                continue
            if k == "name" and (rtype in PERSON_TYPES | NAMED_TYPES or _looks_like_human_name(v)):
                continue
            if k == "text" and isinstance(v, dict) and "div" in v:
                continue  # narrative: free text that repeats names, addresses, dates
            if k == "display" and "reference" in obj:
                continue  # a reference's display is often a person's name
            if k == "meta" and isinstance(v, dict):
                if v.get("profile"):
                    out["meta"] = {"profile": v["profile"]}
                continue
            if is_resource and k == "id" and isinstance(v, str):
                out["id"] = pseudonym(self.key, f"{rtype}/{v}")
            elif k in ("reference", "fullUrl") and isinstance(v, str):
                out[k] = self.reference(v)
            elif k == "url" and "method" in obj and isinstance(v, str):  # Bundle.entry.request.url
                out[k] = self.reference(v.split("?", 1)[0])
            elif k == "address" or k.endswith("Address"):
                if isinstance(v, (dict, list)):
                    out[k] = self.address(v)
            elif k == "birthDate" and isinstance(v, str):
                age = _age_on(v, self.as_of)
                if age is not None and age > 89:
                    out.setdefault("extension", []).append({"url": AGE_GROUP_URL, "valueString": "90+"})
                else:
                    out[k] = shift_date(v, self.offset, self.options.dates)
            elif k.endswith("Age") and isinstance(v, dict):
                out[k] = self.age(v)
            elif k == "extension" and isinstance(v, list):
                kept = [e for e in v if not str(e.get("url", "")).endswith(DROPPED_EXTENSIONS)]
                out.setdefault("extension", []).extend(self.walk(kept, k, rtype))
            else:
                out[k] = self.walk(v, k, rtype)
        if rtype == "Observation" and is_resource and _is_age_observation(obj):
            out["valueQuantity"] = self.age(out.get("valueQuantity"))
        return out


def _looks_like_human_name(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return any(isinstance(i, dict) and ({"family", "given"} & i.keys()) for i in items)


def _is_age_observation(obj: Mapping[str, Any]) -> bool:
    codes = {c.get("code") for c in (obj.get("code") or {}).get("coding") or [] if isinstance(c, dict)}
    return bool(codes & {"30525-0", "21612-7", "29553-5"}) and isinstance(obj.get("valueQuantity"), dict)


def _uuid_shape(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"


def scrub_text(text: str) -> str:
    """Free text with phone/fax numbers, SSNs, emails, URLs and IP addresses replaced by ``[removed]``."""
    for pattern in _SCRUB:
        text = pattern.sub(REMOVED, text)
    return text


def deidentify_resource(resource: Mapping[str, Any], key: bytes, options: DeidOptions | None = None) -> dict[str, Any]:
    """A Safe Harbor de-identified copy of one FHIR resource (a Bundle's entries each with their own patient's shift).

    ``key`` is the secret behind pseudonyms and date shifts: the same key gives the same pseudonyms and offsets, so
    resources de-identified separately still line up; without it they cannot be linked back.
    """
    opts = options or DeidOptions()
    if resource.get("resourceType") == "Bundle":
        walker = _Deidentifier(key, opts, date_offset(key, f"Bundle/{resource.get('id')}"))
        out = {k: walker.walk(v, k, "Bundle") for k, v in resource.items() if k not in ("entry", "identifier")}
        if "id" in resource:
            out["id"] = pseudonym(key, f"Bundle/{resource['id']}")
        entries = []
        for entry in resource.get("entry") or []:
            new = walker.walk_dict({k: v for k, v in entry.items() if k != "resource"}, "Bundle")
            if isinstance(entry.get("resource"), dict):
                new["resource"] = deidentify_resource(entry["resource"], key, opts)
            entries.append(new)
        if "entry" in resource:
            out["entry"] = entries
        return out
    walker = _Deidentifier(key, opts, date_offset(key, patient_reference(resource)))
    return walker.walk_dict(dict(resource), str(resource.get("resourceType", "")))
