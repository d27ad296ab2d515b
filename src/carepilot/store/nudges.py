"""The nudge repository: per-patient nudge settings, messages planned or suppressed, and patient responses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, select

from carepilot.domain.nudges import RESPONSE_KINDS, Arm, NudgeContext, NudgeSettings
from carepilot.errors import InputError, NotFoundError
from carepilot.store import tables as t
from carepilot.store.db import Database

RESPONSE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class NudgeMessage:
    id: str
    patient_id: str
    arm: Arm
    context: NudgeContext
    policy_id: str
    policy_version: str
    status: str  # planned | sent | suppressed
    reason: str | None
    scheduled_at: datetime


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class NudgeRepository:
    """Reads and writes the nudge tables (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def settings(self, patient_id: str) -> NudgeSettings:
        """The patient's settings, or the safe defaults when none were saved."""
        with self.db.read() as conn:
            row = conn.execute(select(t.nudge_settings).where(t.nudge_settings.c.patient_id == patient_id)).first()
        if row is None:
            return NudgeSettings(patient_id)
        return NudgeSettings(
            patient_id=row.patient_id,
            enabled=bool(row.enabled),
            max_per_week=row.max_per_week,
            quiet_start=row.quiet_start,
            quiet_end=row.quiet_end,
            reason=row.reason,
            updated_by=row.updated_by,
        )

    def save_settings(self, settings: NudgeSettings) -> None:
        """Replace the patient's settings (validated)."""
        if not 0 <= settings.max_per_week <= 7:
            raise InputError(f"max messages per week must be 0-7, got {settings.max_per_week}")
        for name in ("quiet_start", "quiet_end"):
            if not 0 <= getattr(settings, name) <= 23:
                raise InputError(f"{name} must be an hour 0-23, got {getattr(settings, name)}")
        row = {
            "patient_id": settings.patient_id,
            "enabled": 1 if settings.enabled else 0,
            "max_per_week": settings.max_per_week,
            "quiet_start": settings.quiet_start,
            "quiet_end": settings.quiet_end,
            "reason": settings.reason[:400] if settings.reason else None,
            "updated_by": settings.updated_by,
            "updated_at": datetime.now(UTC),
        }
        with self.db.write() as conn:
            conn.execute(delete(t.nudge_settings).where(t.nudge_settings.c.patient_id == settings.patient_id))
            conn.execute(insert(t.nudge_settings).values(**row))

    def record_message(
        self,
        patient_id: str,
        arm: Arm,
        context: NudgeContext,
        policy: tuple[str, str],
        status: str,
        reason: str | None,
        scheduled_at: datetime,
    ) -> NudgeMessage:
        """Store one planned (or suppressed) message with the context it was chosen in."""
        message = NudgeMessage(
            str(uuid.uuid4()), patient_id, arm, context, policy[0], policy[1], status, reason, scheduled_at
        )
        with self.db.write() as conn:
            conn.execute(
                insert(t.nudge_messages).values(
                    id=message.id,
                    patient_id=patient_id,
                    arm=arm.key,
                    message_type=arm.message,
                    channel=arm.channel,
                    timing=arm.timing,
                    context=orjson.dumps(context).decode(),
                    policy_id=policy[0],
                    policy_version=policy[1],
                    status=status,
                    reason=reason,
                    scheduled_at=scheduled_at,
                    created_at=datetime.now(UTC),
                )
            )
        return message

    def messages(self, patient_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The patient's messages, newest first, each with its responses."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.nudge_messages)
                .where(t.nudge_messages.c.patient_id == patient_id)
                .order_by(t.nudge_messages.c.scheduled_at.desc())
                .limit(limit)
            ).all()
            responses = conn.execute(
                select(t.nudge_responses).where(t.nudge_responses.c.patient_id == patient_id)
            ).all()
        by_message: dict[str, list[str]] = {}
        for r in responses:
            by_message.setdefault(r.message_id, []).append(r.kind)
        return [
            {
                "id": r.id,
                "arm": r.arm,
                "message_type": r.message_type,
                "channel": r.channel,
                "timing": r.timing,
                "status": r.status,
                "reason": r.reason,
                "scheduled_at": _aware(r.scheduled_at),
                "policy": f"{r.policy_id} {r.policy_version}",
                "responses": by_message.get(r.id, []),
            }
            for r in rows
        ]

    def sent_times(self, patient_id: str) -> list[datetime]:
        """When the patient's planned or sent (not suppressed) messages go out."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.nudge_messages.c.scheduled_at).where(
                    t.nudge_messages.c.patient_id == patient_id, t.nudge_messages.c.status != "suppressed"
                )
            ).all()
        return [_aware(r.scheduled_at) for r in rows]

    def record_response(self, message_id: str, kind: str, at: datetime | None = None) -> str:
        """Log a response (refill, reply or visit) to a message; returns the patient id."""
        if kind not in RESPONSE_KINDS:
            raise InputError(f"response kind must be one of {', '.join(RESPONSE_KINDS)}, got {kind!r}")
        with self.db.write() as conn:
            row = conn.execute(select(t.nudge_messages.c.patient_id).where(t.nudge_messages.c.id == message_id)).first()
            if row is None:
                raise NotFoundError(f"no nudge message {message_id}")
            conn.execute(
                insert(t.nudge_responses).values(
                    message_id=message_id, patient_id=row.patient_id, kind=kind, responded_at=at or datetime.now(UTC)
                )
            )
        return str(row.patient_id)

    def history(self, exclude: frozenset[str] = frozenset()) -> tuple[list[NudgeContext], list[Arm], list[float]]:
        """Every message that went out (``exclude``: patient ids left out) with its context and reward (1 when
        answered within 7 days)."""
        with self.db.read() as conn:
            rows = conn.execute(select(t.nudge_messages).where(t.nudge_messages.c.status != "suppressed")).all()
            answered = conn.execute(select(t.nudge_responses)).all()
        first: dict[str, datetime] = {}
        for r in answered:
            when = _aware(r.responded_at)
            if r.message_id not in first or when < first[r.message_id]:
                first[r.message_id] = when
        contexts, arms, rewards = [], [], []
        for r in rows:
            if r.patient_id in exclude:
                continue
            ctx = NudgeContext(**orjson.loads(r.context))
            at = _aware(r.scheduled_at)
            hit = first.get(r.id)
            contexts.append(ctx)
            arms.append(Arm.parse(r.arm))
            rewards.append(1.0 if hit is not None and at <= hit <= at + RESPONSE_WINDOW else 0.0)
        return contexts, arms, rewards
