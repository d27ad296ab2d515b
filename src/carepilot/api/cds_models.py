"""CDS Hooks 2.0.1 request and response shapes as pydantic models.

Hand-written because no validator for CDS Hooks 2.0 is published as a Python package; every field follows the
specification (https://cds-hooks.hl7.org/2.0/) and the models are tested against every example in the
specification. Shapes this service *produces* forbid unknown fields, so a mistake of ours fails loudly; shapes it
*receives* ignore them, since the specification lets clients add fields under ``extension``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Indicator = Literal["info", "warning", "critical"]
HOOKS = ("patient-view", "order-select", "order-sign", "encounter-discharge")


class Received(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Produced(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Coding(Received):
    code: str = Field(min_length=1)
    system: str | None = None
    display: str | None = None


# -- discovery -----------------------------------------------------------------------------------------------------
class ServiceDescriptor(Produced):
    hook: str = Field(min_length=1)
    title: str | None = None
    description: str
    id: str = Field(min_length=1)
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None
    extension: dict[str, Any] | None = None


class DiscoveryResponse(Produced):
    services: list[ServiceDescriptor]


# -- request -------------------------------------------------------------------------------------------------------
class FhirAuthorization(Received):
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None


class HookRequest(Received):
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> HookRequest:
        # Invariant cds-r-1: fhirAuthorization.exists() implies fhirServer.exists().
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirAuthorization is given without fhirServer")
        return self


class BundleEntry(Received):
    resource: dict[str, Any]


class DraftOrders(Received):
    resourceType: Literal["Bundle"]
    entry: list[BundleEntry] = Field(default_factory=list)


class PatientViewContext(Received):
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None


class OrderSelectContext(Received):
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None
    selections: list[str] = Field(min_length=1)
    draftOrders: DraftOrders


class OrderSignContext(Received):
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None
    draftOrders: DraftOrders


class EncounterDischargeContext(Received):
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str = Field(min_length=1)


CONTEXTS: dict[str, type[Received]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
    "encounter-discharge": EncounterDischargeContext,
}


class PrefetchTemplates(Produced):
    prefetch: dict[str, str]


class PrefetchData(Received):
    prefetch: dict[str, dict[str, Any] | None]


# -- response ------------------------------------------------------------------------------------------------------
class Source(Produced):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(Produced):
    type: Literal["create", "update", "delete"]
    description: str | None = None
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Action:
        if self.type in ("create", "update") and self.resource is None:
            raise ValueError(f"a {self.type} action needs a resource")
        if self.type == "delete" and not self.resourceId and self.resource is None:
            raise ValueError("a delete action needs a resourceId")
        return self


class Suggestion(Produced):
    label: str = Field(min_length=1)
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(Produced):
    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None


class Card(Produced):
    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _selection(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        return self


class CdsResponse(Produced):
    cards: list[Card]
    systemActions: list[Action] | None = None


class OverrideReasons(Produced):
    overrideReasons: list[Coding]


# -- feedback ------------------------------------------------------------------------------------------------------
class AcceptedSuggestion(Received):
    id: str = Field(min_length=1)


class OverrideReason(Received):
    reason: Coding | None = None
    userComment: str | None = None


class FeedbackItem(Received):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime


class FeedbackRequest(Received):
    feedback: list[FeedbackItem] = Field(min_length=1)


# -- security ------------------------------------------------------------------------------------------------------
class JwtHeader(Received):
    alg: str
    typ: str | None = None
    kid: str | None = None
    jku: str | None = None


class JwtClaims(Received):
    iss: str = Field(min_length=1)
    aud: str | list[str]
    exp: int
    iat: int
    jti: str = Field(min_length=1)
    sub: str | None = None
    tenant: str | None = None


class Jwk(Received):
    model_config = ConfigDict(extra="allow")
    kty: Literal["EC", "RSA"]
    kid: str | None = None
    alg: str | None = None
    use: str | None = None


class Jwks(Received):
    keys: list[Jwk] = Field(min_length=1)
