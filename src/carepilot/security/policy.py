"""Who may call which route: the one access-policy table, deny by default, and the patient-access rule.

Every route of the app is listed here by method and path template. A route that is not listed is refused (403) for
everyone, and ``tests/integration/test_auth_routes.py`` fails, so a route cannot be added without a policy. Pure
logic: the owner and site look-ups are passed in by the HTTP layer.

Patient access: a patient sees only their own record; a clinician or care manager sees the patients of their sites
(``carepilot_sites``, ``*`` for every site) or care team (``carepilot_care_team``, patient ids); a system client with
``system/`` scopes sees every patient; break-glass (a stated reason) lets a clinician or care manager past the
site/care-team check, and the reason stays on the Principal for the audit trail to flag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from carepilot.security.principal import Principal, Role
from carepilot.security.scopes import grants
from carepilot.security.tokens import AccessDenied


class Access(StrEnum):
    PUBLIC = "public"  # no credentials: discovery, health, login, the token endpoint, static files
    CDS_CLIENT = "cds-client"  # the route verifies its CDS client JWT itself (security/jwt.py)
    USER = "user"  # a verified access token (or a dashboard session where ``session`` is set)


TREATING = frozenset({Role.CLINICIAN, Role.CARE_MANAGER})
READS_RECORDS = TREATING | {Role.PATIENT, Role.SYSTEM}
MODEL_ROLES = frozenset({Role.CLINICIAN, Role.DATA_SCIENTIST, Role.MODEL_OWNER, Role.ADMINISTRATOR})

# The scope context each role's tokens must use (SMART: patient/ for a patient's app, user/ for a user's, system/).
CONTEXT_OF_ROLE: dict[Role, tuple[str, ...]] = {
    Role.PATIENT: ("patient",),
    Role.SYSTEM: ("system",),
}
USER_CONTEXT = ("user",)

# The scopes a development token of each role carries (``carepilot auth token``; tests).
DEFAULT_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.CLINICIAN: ("openid", "fhirUser", "user/*.rs", "user/Observation.c"),
    Role.CARE_MANAGER: ("openid", "fhirUser", "user/*.rs", "user/Observation.c"),
    Role.DATA_SCIENTIST: ("openid", "fhirUser"),
    Role.ADMINISTRATOR: ("openid", "fhirUser"),
    Role.MODEL_OWNER: ("openid", "fhirUser"),
    Role.PATIENT: ("openid", "fhirUser", "launch/patient", "patient/*.rs", "patient/Observation.c"),
    Role.SYSTEM: ("system/*.rs", "system/Observation.c"),
}


@dataclass(frozen=True)
class Rule:
    """What a route needs: an access kind, the roles allowed and the SMART scope (resource type and permission).

    ``resource`` is a FHIR type, ``*`` (every type), ``{resource_type}`` (taken from the path) or None (no scope:
    a page that is not a FHIR resource). ``owner`` names how to find the patient behind an id in the path
    (``resource``: the FHIR resource's patient; ``insight``: the Insight's patient). ``session`` accepts the
    dashboard's session cookie instead of a bearer token.
    """

    access: Access
    roles: frozenset[Role] = field(default_factory=frozenset)
    resource: str | None = None
    permission: str = "r"
    owner: str | None = None
    session: bool = False


PUBLIC = Rule(Access.PUBLIC)
CDS = Rule(Access.CDS_CLIENT)


def _dashboard(
    roles: frozenset[Role], resource: str | None = None, permission: str = "r", owner: str | None = None
) -> Rule:
    return Rule(Access.USER, roles, resource, permission, owner=owner, session=True)


POLICY: dict[tuple[str, str], Rule] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/.well-known/smart-configuration"): PUBLIC,
    ("GET", "/auth/jwks"): PUBLIC,
    ("POST", "/auth/token"): PUBLIC,
    ("GET", "/cds-services"): PUBLIC,
    ("POST", "/cds-services/{service_id}"): CDS,
    ("POST", "/cds-services/{service_id}/feedback"): CDS,
    ("GET", "/fhir/metadata"): PUBLIC,
    ("GET", "/fhir/Patient/{patient_id}/$everything"): Rule(Access.USER, READS_RECORDS, "*", "r"),
    ("GET", "/fhir/{resource_type}/{resource_id}"): Rule(
        Access.USER, READS_RECORDS, "{resource_type}", "r", owner="resource"
    ),
    ("GET", "/fhir/{resource_type}"): Rule(Access.USER, READS_RECORDS, "{resource_type}", "s"),
    ("GET", "/dashboard/login"): PUBLIC,
    ("POST", "/dashboard/login"): PUBLIC,
    ("POST", "/dashboard/logout"): PUBLIC,
    ("GET", "/dashboard"): _dashboard(TREATING, "Patient", "s"),
    ("GET", "/dashboard/patients/{patient_id}"): _dashboard(TREATING, "Patient", "r"),
    ("POST", "/dashboard/insights/{insight_id}/feedback"): _dashboard(TREATING, owner="insight"),
    ("GET", "/dashboard/launch"): _dashboard(TREATING),
    ("GET", "/dashboard/models"): _dashboard(MODEL_ROLES),
    ("GET", "/dashboard/models/{name}/monitoring"): _dashboard(MODEL_ROLES),
    ("GET", "/dashboard/models/{name}/approval"): _dashboard(MODEL_ROLES),
    # Only the model owner changes what serves (the route records who and why).
    ("POST", "/dashboard/models/{name}/approval"): _dashboard(frozenset({Role.MODEL_OWNER})),
    ("GET", "/dashboard/models/{model_id:path}"): _dashboard(MODEL_ROLES),
    ("GET", "/dashboard/calibration/{model_id}.png"): _dashboard(MODEL_ROLES),
    ("POST", "/dashboard/patients/{patient_id}/nudges"): _dashboard(TREATING),
    # Patient portal: the patient's own pages (and their care team's view of them).
    ("GET", "/patient/{patient_id}"): _dashboard(TREATING | {Role.PATIENT}),
    ("POST", "/patient/{patient_id}/reports"): _dashboard(TREATING | {Role.PATIENT}),
    # Home monitoring: readings come from the patient's devices (their app or a device gateway) or the care team.
    ("POST", "/streams/{patient_id}"): Rule(Access.USER, READS_RECORDS, "Observation", "c"),
    ("GET", "/streams/{patient_id}/alerts"): Rule(Access.USER, TREATING | {Role.SYSTEM}),
    # Acknowledged from the dashboard's patient page (session cookie) or by an API client (bearer token).
    ("POST", "/streams/{patient_id}/alerts/{alert_id}/ack"): _dashboard(TREATING),
}

PATIENT_QUERY_PARAMS = ("patient", "subject")


def rule_for(method: str, path: str) -> Rule | None:
    """The policy of a route (HEAD is treated as GET), None when the route has none."""
    return POLICY.get(("GET" if method == "HEAD" else method, path))


def patient_ids(
    rule: Rule,
    path_params: Mapping[str, str],
    query: Mapping[str, str],
    owner_of: Callable[[str, str, str], str | None],
) -> set[str]:
    """Every patient a request names: ``{patient_id}``, ``?patient=`` / ``?subject=``, ``Patient/{id}``, owners."""
    found: set[str] = set()
    if path_params.get("patient_id"):
        found.add(path_params["patient_id"])
    for name in PATIENT_QUERY_PARAMS:
        value = query.get(name)
        if value:
            found.add(value.split("/", 1)[1] if value.startswith("Patient/") else value)
    rtype = path_params.get("resource_type")
    if rtype == "Patient":
        if path_params.get("resource_id"):
            found.add(path_params["resource_id"])
        if query.get("_id"):
            found.add(query["_id"])
    if rule.owner == "resource" and rtype and rtype != "Patient" and path_params.get("resource_id"):
        owner = owner_of("resource", rtype, path_params["resource_id"])
        if owner:
            found.add(owner)
    if rule.owner == "insight" and path_params.get("insight_id"):
        owner = owner_of("insight", "", path_params["insight_id"])
        if owner:
            found.add(owner)
    return found


def scope_contexts(principal: Principal) -> tuple[str, ...]:
    """The scope contexts that count for this principal's role."""
    return CONTEXT_OF_ROLE.get(principal.role, USER_CONTEXT)


def check_scope(principal: Principal, rule: Rule, path_params: Mapping[str, str]) -> None:
    """AccessDenied unless the principal's role is allowed and a scope grants the rule's resource permission."""
    if principal.role not in rule.roles:
        raise AccessDenied(f"role {principal.role.value} may not use this route")
    if rule.resource is None:
        return
    resource = path_params.get("resource_type", "") if rule.resource == "{resource_type}" else rule.resource
    if not grants(principal.scopes, resource, rule.permission, scope_contexts(principal)):
        raise AccessDenied(f"no scope grants '{rule.permission}' on {resource or 'this resource'}")


def may_see(principal: Principal, patient_id: str, site_of: Callable[[str], str | None]) -> bool:
    """True when the principal may see this patient's record without break-glass."""
    if principal.role is Role.PATIENT:
        return principal.patient == patient_id
    if principal.role is Role.SYSTEM:
        return True
    if principal.role in TREATING:
        if patient_id in principal.care_team or "*" in principal.sites:
            return True
        site = site_of(patient_id)
        return site is not None and site in principal.sites
    return False


def check_patients(principal: Principal, patients: set[str], site_of: Callable[[str], str | None]) -> bool:
    """AccessDenied unless every named patient may be seen; returns True when break-glass was needed."""
    outside = [p for p in sorted(patients) if not may_see(principal, p, site_of)]
    if not outside:
        return False
    if principal.role in TREATING and principal.break_glass:
        return True
    if principal.role is Role.PATIENT:
        raise AccessDenied("a patient may see only their own record")
    raise AccessDenied("patient is outside this user's sites and care team (break-glass needs a stated reason)")
