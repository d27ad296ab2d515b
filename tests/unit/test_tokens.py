"""Access-token verification, SMART scopes and the route policy, without HTTP."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey, RSAKey

from carepilot.security.jwt import IssuerRegistry, TrustedIssuer
from carepilot.security.policy import POLICY, Access, Rule, check_patients, check_scope, patient_ids, rule_for
from carepilot.security.principal import Principal, Role
from carepilot.security.scopes import grants, narrow, parse_scope
from carepilot.security.tokens import (
    AccessDenied,
    AccessTokenVerifier,
    AuthenticationError,
    mint_access_token,
    principal_from_claims,
    public_jwks,
)
from tests.auth_support import MemoryJti, bad_tokens

ISS = "https://login.example.org"
AUD = "https://carepilot.example.org/fhir"


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)


@pytest.fixture
def verifier(key) -> AccessTokenVerifier:
    registry = IssuerRegistry()
    registry.add(TrustedIssuer(iss=ISS, jwks=public_jwks([key])))
    return AccessTokenVerifier(registry, MemoryJti())


def clinician_token(key, **kw) -> str:
    return mint_access_token(
        key, iss=ISS, aud=AUD, sub="dr-1", role="clinician", scopes=["user/*.rs"], sites=["north"], **kw
    )


def test_a_valid_token_gives_its_principal(verifier, key):
    principal = verifier.verify(clinician_token(key, care_team=["p9"]), [AUD])
    assert principal.role is Role.CLINICIAN and principal.subject == "dr-1" and principal.issuer == ISS
    assert principal.scopes == {"user/*.rs"} and principal.sites == {"north"} and principal.care_team == {"p9"}
    assert principal.actor == "clinician:dr-1"


def test_rsa_keys_are_accepted_too():
    rsa = RSAKey.generate_key(2048, parameters={"alg": "RS384"}, auto_kid=True)
    registry = IssuerRegistry()
    registry.add(TrustedIssuer(iss=ISS, jwks=public_jwks([rsa])))
    token = mint_access_token(rsa, iss=ISS, aud=AUD, sub="s", role="clinician", scopes=["user/*.rs"])
    assert AccessTokenVerifier(registry, MemoryJti()).verify(token, [AUD]).role is Role.CLINICIAN


@pytest.mark.parametrize(
    "name",
    [
        "missing",
        "garbage",
        "forged signature",
        "expired",
        "not yet valid",
        "issued in the future",
        "wrong audience",
        "alg none",
        "HS256",
        "unknown issuer",
    ],
)
def test_every_bad_token_is_refused(verifier, key, name):
    token = bad_tokens(key, ISS, AUD, {"sub": "dr-1", "carepilot_role": "clinician", "scope": "user/*.rs"})[name]()
    with pytest.raises(AuthenticationError):
        verifier.verify(token, [AUD])


def test_a_replayed_jti_is_refused_and_reuse_can_be_allowed(verifier, key):
    token = clinician_token(key)
    verifier.verify(token, [AUD])
    with pytest.raises(AuthenticationError, match="replay"):
        verifier.verify(token, [AUD])
    verifier.single_use = False
    other = clinician_token(key)
    assert verifier.verify(other, [AUD]) == verifier.verify(other, [AUD])


def test_roles_come_from_the_custom_claim_or_fhir_user():
    base = {"sub": "x", "scope": "patient/*.rs"}
    assert principal_from_claims(base | {"fhirUser": "https://ehr/Patient/p1"}, ISS).patient == "p1"
    assert principal_from_claims(base | {"fhirUser": "Practitioner/d1"}, ISS).role is Role.CLINICIAN
    assert principal_from_claims(base | {"carepilot_role": "model_owner"}, ISS).role is Role.MODEL_OWNER
    with pytest.raises(AuthenticationError, match="role"):
        principal_from_claims(base | {"carepilot_role": "superuser"}, ISS)
    with pytest.raises(AuthenticationError, match="patient"):
        principal_from_claims(base | {"carepilot_role": "patient"}, ISS)
    with pytest.raises(AuthenticationError, match="no role"):
        principal_from_claims(base, ISS)


def test_smart_scopes_v2_and_v1():
    assert parse_scope("user/Observation.rs").permissions == {"r", "s"}
    assert parse_scope("patient/*.read").permissions == {"r", "s"}
    assert parse_scope("user/*.sr") is None  # v2 permissions must keep the c-r-u-d-s order
    assert parse_scope("openid") is None
    assert grants(["user/Observation.rs"], "Observation", "r")
    assert not grants(["user/Observation.rs"], "Condition", "r")
    assert not grants(["user/*.rs"], "Observation", "r", contexts=("patient",))
    assert not grants(["user/*.s"], "Observation", "r")
    assert narrow(["system/Observation.rs", "system/*.cruds"], ["system/*.rs"]) == ["system/Observation.rs"]


def test_the_policy_checks_role_scope_and_patient():
    rule = POLICY[("GET", "/fhir/{resource_type}/{resource_id}")]
    clinician = Principal("d1", Role.CLINICIAN, frozenset({"user/Observation.rs"}), sites=frozenset({"north"}))
    check_scope(clinician, rule, {"resource_type": "Observation"})
    with pytest.raises(AccessDenied, match="scope"):
        check_scope(clinician, rule, {"resource_type": "Condition"})
    with pytest.raises(AccessDenied, match="role"):
        check_scope(Principal("a", Role.ADMINISTRATOR, frozenset({"user/*.rs"})), rule, {"resource_type": "Patient"})
    site = {"p-north": "north", "p-south": "south"}.get
    assert check_patients(clinician, {"p-north"}, site) is False
    with pytest.raises(AccessDenied, match="break-glass"):
        check_patients(clinician, {"p-south"}, site)
    glass = Principal("d1", Role.CLINICIAN, sites=frozenset({"north"}), break_glass="patient unconscious in ED")
    assert check_patients(glass, {"p-south"}, site) is True
    patient = Principal("p", Role.PATIENT, frozenset({"patient/*.rs"}), patient="p-north", break_glass="mine")
    with pytest.raises(AccessDenied, match="own record"):
        check_patients(patient, {"p-south"}, site)


def test_patient_ids_are_found_in_path_query_and_owners():
    rule = Rule(Access.USER, owner="resource")
    owner = {"Observation/o1": "p3"}
    found = patient_ids(
        rule,
        {"resource_type": "Observation", "resource_id": "o1"},
        {"subject": "Patient/p2"},
        lambda kind, rt, rid: owner.get(f"{rt}/{rid}"),
    )
    assert found == {"p2", "p3"}
    assert patient_ids(rule, {"patient_id": "p1"}, {"patient": "p4"}, lambda *a: None) == {"p1", "p4"}


def test_unlisted_routes_have_no_rule():
    assert rule_for("GET", "/admin/everything") is None
    assert rule_for("HEAD", "/healthz") == rule_for("GET", "/healthz")
