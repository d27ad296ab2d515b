"""SMART App Launch 2 scopes: ``context/Resource.perms`` (``patient/*.rs``, ``user/Observation.rs``, ``system/*.rs``).

Parsed by hand because the grammar is one line of the SMART specification (section "Scopes for requesting
FHIR resources") and no maintained Python package implements it; SMART v1 suffixes (``.read``, ``.write``, ``.*``)
are accepted and mapped to their v2 permissions (``rs``, ``cud``, ``cruds``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

CONTEXTS = ("patient", "user", "system")
PERMISSIONS = "cruds"  # create, read, update, delete, search, in the order SMART v2 requires
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]+)(\?.*)?$")


@dataclass(frozen=True)
class Scope:
    """One resource scope: who it acts for, which resource type (``*`` for all) and which permissions."""

    context: str
    resource: str
    permissions: frozenset[str]

    def allows(self, resource_type: str, permission: str) -> bool:
        """True when this scope grants ``permission`` (one of c r u d s) on ``resource_type``."""
        return self.resource in ("*", resource_type) and permission in self.permissions


def parse_scope(text: str) -> Scope | None:
    """One scope string as a Scope, or None for scopes that grant no resource access (``openid``, malformed)."""
    match = _SCOPE.match(text.strip())
    if match is None:
        return None
    context, resource, perms, _ = match.groups()
    if perms in _V1:
        return Scope(context, resource, frozenset(_V1[perms]))
    # v2 permissions are a subsequence of "cruds" in that order (SMART 2.0.0, "Scope syntax").
    positions = [PERMISSIONS.find(p) for p in perms]
    if -1 in positions or positions != sorted(set(positions)):
        return None
    return Scope(context, resource, frozenset(perms))


def parse_scopes(scopes: Iterable[str]) -> list[Scope]:
    """The resource scopes among ``scopes`` (others are ignored)."""
    return [found for found in (parse_scope(s) for s in scopes) if found is not None]


def grants(scopes: Iterable[str], resource_type: str, permission: str, contexts: Iterable[str] = CONTEXTS) -> bool:
    """True when any scope in one of ``contexts`` grants ``permission`` on ``resource_type``."""
    allowed = set(contexts)
    return any(s.context in allowed and s.allows(resource_type, permission) for s in parse_scopes(scopes))


def narrow(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The requested scopes a client may have: each must be covered by one allowed scope (same context)."""
    allowed_scopes = parse_scopes(allowed)
    granted = []
    for text in requested:
        scope = parse_scope(text)
        if scope is None:
            continue
        if any(
            a.context == scope.context and a.resource in ("*", scope.resource) and scope.permissions <= a.permissions
            for a in allowed_scopes
        ):
            granted.append(text)
    return granted
