"""The approval gate: a challenger serves only after a model owner approves it; rollback in one step; all audited.

Every change of the serving version goes through ``approve`` or ``rollback``, which

1. check who is acting (``Role.MODEL_OWNER`` only) and that a reason is given,
2. move the registry's serving pointer (``ModelRegistry.promote``, which verifies the artefact's checksum first),
3. record an ``AuditEntry`` in the ``model_events`` table (the model's maintenance history) and, when one is given,
   in the audit sink of the deployment (the hash-chained audit store),
4. rewrite the maintenance attributes of the now-serving version's model card (HTI-1 (b)(11)(iv)(B)(8)-(9)).

A refused attempt (wrong role, no reason) is recorded as ``outcome="denied"`` and changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from carepilot.errors import InputError, ModelError, NotFoundError
from carepilot.models.cards import ModelCard
from carepilot.models.registry import ModelRegistry
from carepilot.security.audit import AuditEntry, AuditSink
from carepilot.security.principal import Principal, Role
from carepilot.store import tables as t
from carepilot.store.db import Database

_ENTITY = re.compile(r"^model/(?P<name>[a-z0-9_-]+)@(?P<version>\d+)$")


class PermissionDenied(InputError):
    """The acting principal may not change what serves (not a model owner)."""


class ModelEventRepository:
    """The ``model_events`` table: an ``AuditSink`` for model actions and the models' maintenance history."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, entry: AuditEntry) -> None:
        """Append one entry (entity ``model/NAME@VERSION`` fills the model columns)."""
        match = _ENTITY.match(entry.entity)
        with self.db.write() as conn:
            conn.execute(
                insert(t.model_events).values(
                    at=datetime.now(UTC),
                    actor=entry.actor[:200],
                    action=entry.action[:32],
                    entity=entry.entity[:200],
                    model_name=match["name"] if match else None,
                    model_version=match["version"] if match else None,
                    outcome=entry.outcome[:16],
                    reason=entry.reason,
                    flagged=int(entry.flagged),
                )
            )

    def events(self, model: str | None = None) -> list[dict[str, Any]]:
        """Entries oldest first (of one model when given)."""
        stmt = select(t.model_events).order_by(t.model_events.c.id)
        if model is not None:
            stmt = stmt.where(t.model_events.c.model_name == model)
        with self.db.read() as conn:
            # str(): SQLAlchemy's column-name keys are a str subclass that JSON encoders refuse as keys.
            return [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(stmt)]


@dataclass(frozen=True)
class ServingChange:
    """What an approval or rollback did."""

    model: str
    version: str
    replaced: str | None
    action: str
    actor: str
    reason: str


def owner(subject: str) -> Principal:
    """The principal of a model owner named on the command line (``--by``)."""
    if not subject.strip():
        raise InputError("--by must name the approving model owner")
    return Principal(subject=subject.strip(), role=Role.MODEL_OWNER)


class Governance:
    """Approve, reject and roll back model versions; the only code that moves a serving pointer."""

    def __init__(self, registry: ModelRegistry, events: ModelEventRepository, audit: AuditSink | None = None) -> None:
        self.registry = registry
        self.events = events
        self.audit = audit

    def _record(self, entry: AuditEntry) -> None:
        self.events.record(entry)
        if self.audit is not None and self.audit is not self.events:
            self.audit.record(entry)

    def _check(self, principal: Principal, action: str, entity: str, reason: str) -> None:
        if principal.role != Role.MODEL_OWNER:
            self._record(AuditEntry(principal.actor, action, entity, outcome="denied", reason="not a model owner"))
            raise PermissionDenied(
                f"{action} needs the model-owner role; {principal.role.value} may not change what serves"
            )
        if not reason.strip():
            self._record(AuditEntry(principal.actor, action, entity, outcome="denied", reason="no reason given"))
            raise InputError(f"{action} needs a reason (--reason)")

    def approve(self, name: str, version: str, *, principal: Principal, reason: str) -> ServingChange:
        """Make ``version`` serve (it must not already serve)."""
        rec = self.registry.record(name, version)
        entity = f"model/{name}@{rec.version}"
        self._check(principal, "approve", entity, reason)
        if self.registry.serving_version(name) == rec.version:
            raise InputError(f"model {name} version {rec.version} already serves")
        if self.registry.statuses(name).get(rec.version) == "rejected":
            raise InputError(f"model {name} version {rec.version} was rejected; retrain instead")
        replaced = self.registry.promote(name, rec.version, actor=principal.actor, reason=reason)
        self._record(AuditEntry(principal.actor, "approve", entity, reason=reason))
        update_card_maintenance(self.registry, self.events, name, rec.version)
        return ServingChange(name, rec.version, replaced, "approve", principal.actor, reason)

    def reject(self, name: str, version: str, *, principal: Principal, reason: str) -> None:
        """Mark a pending challenger rejected (it can then never be approved)."""
        rec = self.registry.record(name, version)
        entity = f"model/{name}@{rec.version}"
        self._check(principal, "reject", entity, reason)
        self.registry.set_status(name, rec.version, "rejected", actor=principal.actor)
        self._record(AuditEntry(principal.actor, "reject", entity, reason=reason))

    def rollback(self, name: str, to: str | None = None, *, principal: Principal, reason: str) -> ServingChange:
        """Serve ``to`` (default: the version that served before the current one) again."""
        current = self.registry.serving_version(name)
        if current is None:
            raise NotFoundError(f"model {name!r} has no serving version to roll back from")
        if to is None:
            earlier = [
                h for h in self.registry.history(name) if h.get("status") == "serving" and h.get("version") != current
            ]
            if not earlier:
                raise NotFoundError(f"model {name!r} has never served another version; name one with --to")
            to = str(earlier[-1]["version"])
        rec = self.registry.record(name, to)
        entity = f"model/{name}@{rec.version}"
        self._check(principal, "rollback", entity, reason)
        if rec.version == current:
            raise InputError(f"model {name} version {rec.version} already serves")
        replaced = self.registry.promote(name, rec.version, actor=principal.actor, reason=reason)
        self._record(AuditEntry(principal.actor, "rollback", entity, reason=f"from version {current}: {reason}"))
        update_card_maintenance(self.registry, self.events, name, rec.version)
        return ServingChange(name, rec.version, replaced, "rollback", principal.actor, reason)


def update_card_maintenance(registry: ModelRegistry, events: ModelEventRepository, name: str, version: str) -> None:
    """Rewrite the HTI-1 maintenance attributes ((8)-(9)) of a version's card from its evaluation and history."""
    path = registry.card_path(name, version)
    if not path.is_file():
        return
    try:
        card = ModelCard.read(path)
    except InputError as exc:
        raise ModelError(f"model card of {name} version {version} is unreadable: {exc}") from exc
    history = [e for e in events.events(name) if e["outcome"] == "success"]
    changes = "; ".join(
        f"{e['at']:%Y-%m-%d} {e['action']} v{e['model_version']} by {e['actor']} ({e['reason']})" for e in history[-5:]
    )
    comparison = registry.root / name / version / "comparison.json"
    local = None
    if comparison.is_file():
        try:
            local = json.loads(comparison.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            local = None
    attrs = dict(card.attributes)
    attrs["validity_monitoring"] = (
        "Every served prediction is logged with its model version; 30-day readmission outcomes resolve once their "
        "window has closed in the data. `carepilot monitor models` computes, per 30-day window, AUROC, calibration "
        "slope/intercept and Brier with bootstrap intervals, input drift (PSI, missingness) and prediction drift, "
        "and raises model_alert Insights past versioned thresholds; run at least weekly."
    )
    attrs["fairness_monitoring"] = (
        "The same monitor computes per-window AUROC, false-negative rate and calibration-in-the-large for sex, race, "
        "ethnicity and age band (Fairlearn MetricFrame) and alerts on gaps above the thresholds; at least weekly."
    )
    attrs["update_process"] = (
        "`carepilot retrain` trains a challenger on the recent data window (or refits only the calibrator), compares "
        "it with the champion on the same held-out recent window and registers it as pending; it serves only after "
        "a model owner approves it (`carepilot models approve`), and `carepilot models rollback` restores any earlier "
        "version. History: " + (changes or "none yet")
    )
    attrs["performance_correction"] = (
        "When an alert shows lost discrimination a challenger is retrained; when only calibration drifts the "
        "calibrator is refitted; a fairness alert triggers review before any approval. Each correction is a new "
        "version approved by a model owner."
    )
    if local:
        ch = local.get("challenger", {})
        window = local.get("holdout", {}).get("period", "the recent window")
        attrs["validity_local"] = (
            f"On {local.get('holdout', {}).get('n', '?')} held-out local discharges ({window}): AUROC "
            f"{_f(ch.get('auroc'))}, calibration slope {_f(ch.get('calibration_slope'))}, intercept "
            f"{_f(ch.get('calibration_intercept'))}, Brier {_f(ch.get('brier'))}"
        )
        gaps = local.get("fairness", {}).get("challenger", [])
        if gaps:
            attrs["fairness_local"] = "; ".join(
                f"{g['attribute']}: largest AUROC gap {_f(g['largest_gap'].get('auroc'))}, calibration gap "
                f"{_f(g['largest_gap'].get('calibration_in_the_large'))}"
                for g in gaps
            )
    card.attributes = attrs
    path.write_text(card.to_json(), encoding="utf-8")
    path.with_suffix(".md").write_text(card.to_markdown(), encoding="utf-8")


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "n/a"
