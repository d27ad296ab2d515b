"""The CDS Hooks service layer: which services exist, how one call becomes cards, how feedback is kept.

Framework-free: the HTTP router parses and authenticates, then hands a ``HookCall`` here. The profile comes from the
store when the patient is known there, otherwise from the prefetch (or the client's FHIR server) as a transient
profile; every Insight shown and its write-back resources are stored in one transaction before the answer leaves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx

from carepilot.domain.insight import Insight, InsightKind
from carepilot.domain.profile import PatientProfile
from carepilot.errors import CarePilotError, InputError, NotFoundError
from carepilot.fhir.client import FhirClient, FhirFetchError
from carepilot.fhir.writeback import writeback_for_call
from carepilot.ingest.normalise import normalised_rows
from carepilot.insights.cards import insight_cards, override_reason_display
from carepilot.insights.prefetch import PREFETCH_TEMPLATES, DataUnavailable, gather_resources, transient_profile
from carepilot.insights.service import InsightContext, InsightProvider, InsightResult, InsightService
from carepilot.security.audit import AuditEntry
from carepilot.store.feedback import DeliveryRepository, FeedbackRecord
from carepilot.store.fhir_read import FhirReadRepository
from carepilot.store.profiles import load_profile, profile_from_rows
from carepilot.store.repository import ProfileRows, RecordRepository

log = logging.getLogger(__name__)

# Order hooks show what bears on the drugs being ordered; chart-level findings belong to patient-view.
ORDER_KINDS = frozenset(
    {InsightKind.PGX, InsightKind.INTERACTION, InsightKind.DOSE, InsightKind.ONCOLOGY, InsightKind.TREATMENT_OPTION}
)


@dataclass(frozen=True)
class ServiceSpec:
    id: str
    hook: str
    title: str
    description: str
    prefetch: dict[str, str]


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "carepilot-patient-view",
        "patient-view",
        "CarePilot patient summary",
        "Risk summary, best treatment options, alerts and guideline care gaps for the patient whose chart is open.",
        dict(PREFETCH_TEMPLATES),
    ),
    ServiceSpec(
        "carepilot-order-select",
        "order-select",
        "CarePilot order check (select)",
        "Pharmacogenomic, interaction and dose guidance for the medications being selected.",
        dict(PREFETCH_TEMPLATES),
    ),
    ServiceSpec(
        "carepilot-order-sign",
        "order-sign",
        "CarePilot order check (sign)",
        "Pharmacogenomic, interaction and dose guidance for the medication orders about to be signed.",
        dict(PREFETCH_TEMPLATES),
    ),
    ServiceSpec(
        "carepilot-encounter-discharge",
        "encounter-discharge",
        "CarePilot discharge review",
        "Readmission risk, open care gaps and follow-up proposals at discharge.",
        dict(PREFETCH_TEMPLATES),
    ),
)


def service_spec(service_id: str) -> ServiceSpec:
    """The declared service with this id; NotFoundError otherwise."""
    for spec in SERVICES:
        if spec.id == service_id:
            return spec
    raise NotFoundError(f"no CDS service with id {service_id!r}")


@dataclass(frozen=True)
class HookCall:
    """One parsed hook request (context already checked against the hook's context shape)."""

    service_id: str
    hook: str
    hook_instance: str
    patient_id: str
    user_id: str | None = None
    encounter_id: str | None = None
    draft_orders: tuple[dict[str, Any], ...] = ()
    context: dict[str, Any] | None = None
    prefetch: dict[str, Any] | None = None
    fhir_server: str | None = None
    fhir_token: str | None = None


@dataclass(frozen=True)
class HookAnswer:
    cards: list[dict[str, Any]]
    insights: list[Insight]
    skipped: list[str]
    profile_source: str  # store | prefetch | fhir-server
    milliseconds: float


def run_within_budget(
    providers: Sequence[InsightProvider],
    profile: PatientProfile,
    context: InsightContext,
    budget_ms: float | None,
    executor: ThreadPoolExecutor,
) -> InsightResult:
    """Run every provider concurrently; one still running when the budget is spent is skipped and logged.

    ``InsightService`` checks its budget only between providers, so a single slow engine would hold the whole call;
    here the call returns at the deadline with whatever the other engines produced.
    """
    result = InsightResult()
    futures: dict[Future[Sequence[Any]], str] = {
        executor.submit(provider.insights, profile, context): provider.name for provider in providers
    }
    timeout = budget_ms / 1000.0 if budget_ms is not None else None
    done, late = wait(futures, timeout=timeout)
    for future in late:
        future.cancel()
        result.skipped.append(futures[future])
        log.warning("insight engine %s skipped: latency budget %.0f ms spent", futures[future], budget_ms or 0)
    for future, name in futures.items():
        if future not in done:
            continue
        error = future.exception()
        if error is not None:
            if not isinstance(error, CarePilotError):
                log.error("insight engine %s raised %s", name, type(error).__name__)
            else:
                log.warning("insight engine %s failed: %s", name, type(error).__name__)
            result.skipped.append(name)
            continue
        for item in future.result():
            if isinstance(item, Insight):
                result.insights.append(item)
            else:
                result.declined.append(item)
    return result


def ordered_concepts(draft_orders: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """Canonical concept keys of the medications in a draftOrders bundle (unknown drugs are left out)."""
    concepts: list[str] = []
    for resource in draft_orders:
        if resource.get("resourceType") != "MedicationRequest":
            continue
        try:
            rows = normalised_rows({**resource, "id": resource.get("id") or "draft"})
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        concepts += [r["concept"] for r in rows if r.get("concept")]
    return tuple(dict.fromkeys(concepts))


class ProfileRowCache:
    """Recently read profile rows, reused while the patient's record fingerprint is unchanged.

    One indexed aggregate query replaces the seven reads of a full profile; the point-in-time profile is still
    rebuilt from the rows on every call, so ``as_of`` is always the call's own time.
    """

    def __init__(self, reads: FhirReadRepository, repo: RecordRepository, size: int = 2048) -> None:
        self.reads = reads
        self.repo = repo
        self.size = size
        self._rows: dict[str, tuple[tuple[int, str], ProfileRows]] = {}
        self._lock = threading.Lock()

    def profile(self, patient_id: str) -> PatientProfile | None:
        """The patient's profile now, or None when the store does not know the patient."""
        stamp = self.reads.patient_stamp(patient_id)
        if stamp is None:
            return None
        with self._lock:
            cached = self._rows.get(patient_id)
        if cached is not None and cached[0] == stamp:
            rows = cached[1]
        else:
            try:
                rows = self.repo.profile_rows(patient_id)
            except NotFoundError:
                return None
            with self._lock:
                if len(self._rows) >= self.size:
                    self._rows.pop(next(iter(self._rows)))
                self._rows[patient_id] = (stamp, rows)
        return profile_from_rows(rows, patient_id)


class CdsHookService:
    """Answers CDS Hooks calls with cards built from every registered insight provider."""

    def __init__(
        self,
        repo: RecordRepository,
        delivery: DeliveryRepository,
        insights: InsightService,
        *,
        budget_ms: float | None = 250.0,
        writeback: bool = True,
        transport: httpx.BaseTransport | None = None,
        reads: FhirReadRepository | None = None,
    ) -> None:
        self.repo = repo
        self.profiles = ProfileRowCache(reads, repo) if reads is not None else None
        self.delivery = delivery
        self.insights = insights
        self.budget_ms = budget_ms
        self.writeback = writeback
        self.transport = transport
        # Engines run in these threads so a late one can be left behind at the deadline.
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="insight-engine")

    def discovery(self) -> dict[str, Any]:
        """The discovery document (``GET /cds-services``)."""
        return {
            "services": [
                {"hook": s.hook, "title": s.title, "description": s.description, "id": s.id, "prefetch": s.prefetch}
                for s in SERVICES
            ]
        }

    def profile_for(self, call: HookCall) -> tuple[PatientProfile, str]:
        """The patient's profile and where it came from; DataUnavailable when it cannot be had."""
        if self.profiles is not None:
            stored = self.profiles.profile(call.patient_id)
            if stored is not None:
                return stored, "store"
        else:
            try:
                return load_profile(self.repo, call.patient_id), "store"
            except NotFoundError:
                pass
        spec = service_spec(call.service_id)
        context = call.context or {"patientId": call.patient_id}
        if call.fhir_server:
            with FhirClient(call.fhir_server, call.fhir_token, transport=self.transport) as client:
                try:
                    resources = gather_resources(call.prefetch, context, client.resources, spec.prefetch)
                except FhirFetchError as exc:
                    raise DataUnavailable(f"patient not in the store and the FHIR server fetch failed: {exc}") from exc
            source = "fhir-server" if not call.prefetch else "prefetch"
        else:
            resources = gather_resources(call.prefetch, context, None, spec.prefetch)
            source = "prefetch"
        return transient_profile(resources, call.patient_id), source

    def call(self, call: HookCall, base_url: str, audit: AuditEntry | None = None) -> HookAnswer:
        """Cards for one hook call; stores the Insights shown, the FHIR write-back (when on) and the audit entry.

        The audit entry is written in the same transaction as the Insights shown, before the answer leaves.
        """
        started = time.perf_counter()
        spec = service_spec(call.service_id)
        if spec.hook != call.hook:
            raise InputError(f"service {spec.id} answers the {spec.hook} hook, not {call.hook!r}")
        profile, source = self.profile_for(call)
        context = InsightContext(
            hook=call.hook, ordered_concepts=ordered_concepts(call.draft_orders), draft_orders=call.draft_orders
        )
        result = run_within_budget(self.insights.providers, profile, context, self.budget_ms, self.executor)
        shown = result.insights
        if call.hook in ("order-select", "order-sign"):
            shown = [i for i in shown if i.kind in ORDER_KINDS]
        cards = insight_cards(shown, base_url)
        resources: tuple[dict[str, Any], ...] = ()
        insight_of: dict[str, str] = {}
        if self.writeback:
            written = writeback_for_call(
                service_url=f"{base_url.rstrip('/')}/cds-services/{spec.id}",
                hook_instance=call.hook_instance,
                patient_id=call.patient_id,
                insights=shown,
                skipped=result.skipped,
            )
            resources, insight_of = written.resources, written.insight_of
        self.delivery.record_delivery(
            shown, call.hook_instance, resources, insight_of, patient_id=call.patient_id, audit=audit
        )
        elapsed = (time.perf_counter() - started) * 1000
        log.info(
            "hook %s instance %s: %d cards, %d skipped, profile from %s, %.1f ms",
            call.hook,
            call.hook_instance,
            len(cards),
            len(result.skipped),
            source,
            elapsed,
        )
        return HookAnswer(cards, shown, result.skipped, source, elapsed)

    def feedback(
        self,
        service_id: str,
        items: Sequence[dict[str, Any]],
        user_id: str | None = None,
        audit: AuditEntry | None = None,
    ) -> list[int]:
        """Store CDS Hooks feedback items (already shape-checked) joined to their Insights, audited per patient."""
        service_spec(service_id)
        records = []
        for item in items:
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            records.append(
                FeedbackRecord(
                    service_id=service_id,
                    channel="cds-hooks",
                    card=item["card"],
                    outcome=item["outcome"],
                    outcome_timestamp=item["outcomeTimestamp"],
                    override_code=reason.get("code"),
                    override_system=reason.get("system"),
                    override_display=reason.get("display") or override_reason_display(reason.get("code")),
                    user_comment=(item.get("overrideReason") or {}).get("userComment"),
                    accepted_suggestions=tuple(s["id"] for s in item.get("acceptedSuggestions") or ()),
                    user_id=user_id,
                )
            )
        return self.delivery.record_feedback(records, audit=audit)

    def record_viewed(self, insights: Sequence[Insight]) -> None:
        """Store Insights shown on the dashboard, so feedback given there joins to them."""
        self.delivery.record_delivery(insights)
