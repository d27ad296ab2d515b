"""Alert policy: which rule candidates become alerts a clinician sees, and how many.

Candidates from the stream processor pass through a per-patient *episode*: the first candidate opens an alert;
later candidates while it is open are de-duplicated (same or lower severity) or escalate it (higher severity,
several distinct signals, or a condition still firing unacknowledged after a tier-dependent time). An
acknowledged episode stays quiet for a suppression window. Thresholds and policy times depend on the patient's
risk tier and live in ``data/rules.toml`` with their evidence. Each alert is an ``Insight`` of kind
MONITORING_ALERT carrying explanation factors, confidence, evidence and the source rule id + version. Alert
burden (alerts per patient-week) is counted as alerts are raised. Pure: no I/O beyond reading the packaged
rule table.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

from carepilot.domain.insight import Confidence, Evidence, Factor, Insight, InsightKind, Severity, Source
from carepilot.errors import InputError, NotFoundError
from carepilot.monitoring.readings import to_datetime

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
RANKED = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
HOUR = 3600.0
WEEK = 7 * 86_400.0


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Outcome(StrEnum):
    """What the policy did with a candidate."""

    RAISED = "raised"
    ESCALATED = "escalated"
    DUPLICATE = "duplicate"
    MERGED = "merged"
    ACKNOWLEDGED = "acknowledged"
    BELOW_TIER = "below_tier"


@dataclass(frozen=True)
class RuleSpec:
    """One rule: id, version, topic, evidence keys, shared parameters and thresholds per tier."""

    name: str
    id: str
    version: str
    topic: str
    evidence: tuple[str, ...]
    params: dict[str, Any]
    tiers: dict[str, dict[str, Any]]

    def threshold(self, tier: RiskTier | str) -> dict[str, Any]:
        """Shared parameters overlaid with this tier's thresholds."""
        return {**self.params, **self.tiers[str(tier)]}


@dataclass(frozen=True)
class PolicySpec:
    min_severity: Severity
    escalate_after_h: float
    multi_signal: int
    ack_suppress_h: float
    episode_gap_h: float


@dataclass(frozen=True)
class RuleTable:
    version: str
    rules: dict[str, RuleSpec]
    evidence: dict[str, Evidence]
    policy: dict[str, PolicySpec]
    # Model name -> (low, high) probability cut-offs that place a patient in a risk tier; the first model listed
    # for which the patient has a score decides.
    risk_tiers: dict[str, tuple[float, float]] = field(default_factory=dict)

    def tier_for(self, scores: dict[str, float]) -> RiskTier:
        """The patient's tier from their latest model scores: below ``low`` low, at or above ``high`` high.

        A patient with no score stays medium: no evidence of low risk is not evidence of it.
        """
        for model, (low, high) in self.risk_tiers.items():
            if model in scores:
                p = scores[model]
                return RiskTier.HIGH if p >= high else RiskTier.LOW if p < low else RiskTier.MEDIUM
        return RiskTier.MEDIUM

    def rule(self, name: str) -> RuleSpec:
        """The rule named ``name``."""
        try:
            return self.rules[name]
        except KeyError as exc:
            raise InputError(f"no monitoring rule named {name!r}") from exc


def parse_rule_table(text: str) -> RuleTable:
    """Build a RuleTable from the TOML text of ``data/rules.toml``."""
    raw = tomllib.loads(text)
    version = next(
        (line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# version:")),
        "unversioned",
    )
    evidence = {
        key: Evidence(label=e["label"], citation=e["citation"], url=e.get("url"), level=e.get("level"))
        for key, e in raw.get("evidence", {}).items()
    }
    rules: dict[str, RuleSpec] = {}
    for name, spec in raw.get("rules", {}).items():
        tiers = spec.get("tiers", {})
        missing = {t.value for t in RiskTier} - set(tiers)
        if missing:
            raise InputError(f"rule {name!r} lacks thresholds for tier(s) {', '.join(sorted(missing))}")
        unknown = [k for k in spec.get("evidence", []) if k not in evidence]
        if unknown:
            raise InputError(f"rule {name!r} cites unknown evidence {', '.join(unknown)}")
        params = {k: v for k, v in spec.items() if k not in ("id", "version", "topic", "evidence", "tiers")}
        tiers = {t: {**th, "severity": Severity(th["severity"])} for t, th in tiers.items()}
        rules[name] = RuleSpec(
            name, spec["id"], spec["version"], spec["topic"], tuple(spec.get("evidence", [])), params, tiers
        )
    policy = {
        tier: PolicySpec(
            min_severity=Severity(p["min_severity"]),
            escalate_after_h=float(p["escalate_after_h"]),
            multi_signal=int(p["multi_signal"]),
            ack_suppress_h=float(p["ack_suppress_h"]),
            episode_gap_h=float(p["episode_gap_h"]),
        )
        for tier, p in raw.get("policy", {}).items()
    }
    if set(policy) != {t.value for t in RiskTier}:
        raise InputError("alert policy must define exactly the tiers low, medium and high")
    risk_tiers: dict[str, tuple[float, float]] = {}
    for model, cut in raw.get("risk_tiers", {}).items():
        low, high = float(cut["low"]), float(cut["high"])
        if not 0.0 <= low < high <= 1.0:
            raise InputError(f"risk tier cut-offs of {model!r} must satisfy 0 <= low < high <= 1")
        risk_tiers[model] = (low, high)
    return RuleTable(version, rules, evidence, policy, risk_tiers)


@lru_cache(maxsize=1)
def rule_table() -> RuleTable:
    """The packaged rule table, loaded once per process."""
    text = resources.files("carepilot.monitoring").joinpath("data/rules.toml").read_text(encoding="utf-8")
    return parse_rule_table(text)


@dataclass(frozen=True)
class AlertCandidate:
    """A rule firing on a patient's data; ``triggered_at`` is the triggering reading's UTC epoch seconds."""

    patient_id: str
    rule: str
    triggered_at: float
    severity: Severity
    title: str
    detail: str
    factors: tuple[Factor, ...]
    confidence: Confidence
    value: float | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Alert:
    """A raised alert: the Insight a clinician sees plus the policy's bookkeeping."""

    insight: Insight
    rule: str
    rule_id: str
    rule_version: str
    topic: str
    triggered_at: datetime
    action: Outcome
    episode_id: str
    escalates: str | None = None

    @property
    def id(self) -> str:
        return self.insight.id

    @property
    def patient_id(self) -> str:
        return self.insight.patient_id

    @property
    def severity(self) -> Severity:
        return self.insight.severity


@dataclass
class _Episode:
    id: str
    severity: Severity
    opened_at: float
    last_alert_at: float
    last_candidate_at: float
    topics: set[str]
    factors: list[Factor]
    alert_ids: list[str]
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    context: set[str] = field(default_factory=set)


@dataclass
class AlertBurden:
    """Alerts raised per patient and monitored time, for alerts per patient-week."""

    raised: Counter[str] = field(default_factory=Counter)
    first_seen: dict[str, float] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)

    def observe(self, patient_id: str, first: float, last: float) -> None:
        """Extend a patient's monitored span to cover readings from ``first`` to ``last`` (epoch seconds)."""
        known = self.first_seen.get(patient_id)
        if known is None:
            self.first_seen[patient_id] = first
            self.last_seen[patient_id] = last
            return
        if first < known:
            self.first_seen[patient_id] = first
        if last > self.last_seen[patient_id]:
            self.last_seen[patient_id] = last

    @property
    def patient_weeks(self) -> float:
        return sum(self.last_seen[p] - self.first_seen[p] for p in self.first_seen) / WEEK

    @property
    def alerts(self) -> int:
        return sum(self.raised.values())

    def per_patient_week(self) -> float | None:
        """Alerts raised per patient-week of monitoring; None before any monitored time."""
        weeks = self.patient_weeks
        return self.alerts / weeks if weeks > 0 else None


class AlertPolicy:
    """De-duplication, suppression, escalation and acknowledgement of alert candidates, by risk tier."""

    def __init__(self, table: RuleTable | None = None) -> None:
        self.table = table or rule_table()
        self.outcomes: Counter[str] = Counter()
        self.burden = AlertBurden()
        self._episodes: dict[str, _Episode] = {}
        self._by_alert: dict[str, tuple[str, _Episode]] = {}

    def decide(self, candidate: AlertCandidate, tier: RiskTier) -> Alert | None:
        """The alert to raise for ``candidate``, or None when policy holds it back (the reason is counted)."""
        policy = self.table.policy[str(tier)]
        rule = self.table.rule(candidate.rule)
        t = candidate.triggered_at
        ep = self._episodes.get(candidate.patient_id)
        if SEVERITY_RANK[candidate.severity] < SEVERITY_RANK[policy.min_severity]:
            # Too weak to raise alone, but context for an alert already open: its factor joins the episode.
            if (
                ep is not None
                and ep.acknowledged_at is None
                and rule.topic not in ep.topics
                and rule.topic not in ep.context
                and t - ep.last_candidate_at <= policy.episode_gap_h * HOUR
            ):
                ep.context.add(rule.topic)
                ep.factors.extend(candidate.factors)
            return self._count(Outcome.BELOW_TIER)
        if ep is not None and ep.acknowledged_at is not None:
            if t < ep.acknowledged_at + policy.ack_suppress_h * HOUR:
                ep.last_candidate_at = max(ep.last_candidate_at, t)
                return self._count(Outcome.ACKNOWLEDGED)
            ep = None
        if ep is not None and t - ep.last_candidate_at > policy.episode_gap_h * HOUR:
            ep = None
        if ep is None:
            return self._open(candidate, rule)
        ep.last_candidate_at = max(ep.last_candidate_at, t)
        new_topic = rule.topic not in ep.topics
        if new_topic:
            ep.topics.add(rule.topic)
            ep.factors.extend(candidate.factors)
        target: Severity | None = None
        why = ""
        if SEVERITY_RANK[candidate.severity] > SEVERITY_RANK[ep.severity]:
            target, why = candidate.severity, f"new {candidate.severity.value} signal"
        elif ep.severity is not Severity.CRITICAL:
            if new_topic and len(ep.topics) >= policy.multi_signal:
                target, why = _next(ep.severity), f"{len(ep.topics)} concurrent signals"
            elif t - ep.last_alert_at >= policy.escalate_after_h * HOUR:
                hours = (t - ep.opened_at) / HOUR
                target, why = _next(ep.severity), f"unacknowledged and still present after {hours:.0f} h"
        if target is None:
            return self._count(Outcome.MERGED if new_topic else Outcome.DUPLICATE)
        return self._escalate(ep, candidate, rule, target, why)

    def acknowledge(self, alert_id: str, at: datetime, by: str | None = None) -> None:
        """Record that a clinician has seen an alert; its episode is suppressed for the tier's window.

        Raises:
            NotFoundError: no alert with this id was raised by this policy.
        """
        hit = self._by_alert.get(alert_id)
        if hit is None:
            raise NotFoundError(f"no monitoring alert {alert_id}")
        if at.tzinfo is None:
            raise InputError("acknowledgement time must carry a UTC offset")
        _, ep = hit
        ep.acknowledged_at = at.timestamp()
        ep.acknowledged_by = by

    def is_acknowledged(self, alert_id: str) -> bool:
        """Whether the episode of this alert has been acknowledged."""
        hit = self._by_alert.get(alert_id)
        if hit is None:
            raise NotFoundError(f"no monitoring alert {alert_id}")
        return hit[1].acknowledged_at is not None

    def _count(self, outcome: Outcome) -> Alert | None:
        """Record why a candidate raised nothing; returns None for ``decide`` to pass on."""
        self.outcomes[outcome.value] += 1
        return None

    def _open(self, candidate: AlertCandidate, rule: RuleSpec) -> Alert:
        t = candidate.triggered_at
        alert = self._build(candidate, rule, candidate.severity, Outcome.RAISED, None, candidate.factors, "")
        ep = _Episode(
            id=alert.id,
            severity=candidate.severity,
            opened_at=t,
            last_alert_at=t,
            last_candidate_at=t,
            topics={rule.topic},
            factors=list(candidate.factors),
            alert_ids=[alert.id],
        )
        alert = replace(alert, episode_id=ep.id)
        self._episodes[candidate.patient_id] = ep
        self._by_alert[alert.id] = (candidate.patient_id, ep)
        self.outcomes[Outcome.RAISED.value] += 1
        self.burden.raised[candidate.patient_id] += 1
        return alert

    def _escalate(self, ep: _Episode, candidate: AlertCandidate, rule: RuleSpec, target: Severity, why: str) -> Alert:
        # The firing signal first, then the other signals gathered in this episode.
        factors = (*candidate.factors, *(f for f in ep.factors if f not in candidate.factors))
        alert = self._build(candidate, rule, target, Outcome.ESCALATED, ep.alert_ids[-1], factors, why)
        alert = replace(alert, episode_id=ep.id)
        ep.severity = target
        ep.last_alert_at = candidate.triggered_at
        ep.alert_ids.append(alert.id)
        self._by_alert[alert.id] = (candidate.patient_id, ep)
        self.outcomes[Outcome.ESCALATED.value] += 1
        self.burden.raised[candidate.patient_id] += 1
        return alert

    def _build(
        self,
        candidate: AlertCandidate,
        rule: RuleSpec,
        severity: Severity,
        action: Outcome,
        escalates: str | None,
        factors: tuple[Factor, ...],
        why: str,
    ) -> Alert:
        when = to_datetime(candidate.triggered_at)
        title = candidate.title if action is Outcome.RAISED else f"Escalated: {candidate.title}"
        detail = candidate.detail
        if why:
            detail = f"**Escalated** ({why}).\n\n{detail}"
        insight = Insight(
            patient_id=candidate.patient_id,
            as_of=when,
            kind=InsightKind.MONITORING_ALERT,
            title=title[:139],
            detail=detail,
            confidence=candidate.confidence,
            source=Source(id=rule.id, version=rule.version, kind="rule", data_window=_window(rule)),
            explanation=factors,
            evidence=tuple(self.table.evidence[k] for k in rule.evidence),
            value=candidate.value,
            unit=candidate.unit,
            severity=severity,
            topic=f"{rule.topic}:{action.value}",
        )
        return Alert(insight, rule.name, rule.id, rule.version, rule.topic, when, action, "", escalates)


def _next(severity: Severity) -> Severity:
    return RANKED[min(SEVERITY_RANK[severity] + 1, len(RANKED) - 1)]


def _window(rule: RuleSpec) -> str | None:
    days = rule.params.get("baseline_days")
    return f"{days}-day personal baseline" if days else None
