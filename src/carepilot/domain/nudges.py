"""Engagement nudges: the arms (message type x channel x timing), the patient context, and the safety rules.

Safety rules apply before any learned choice: a clinician's switch-off wins, at most ``max_per_week`` messages in
any 7 days (default 2), nothing in quiet hours (default 21:00-08:00 local), only channels the patient can receive.
Messages are fixed, reviewed templates (``TEMPLATES``); the learner picks among them, it never writes text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import product

MESSAGES = ("reminder", "education", "encouragement")
CHANNELS = ("sms", "email", "phone")
TIMINGS = ("morning", "evening")
SEND_HOUR = {"morning": 9, "evening": 18}
TEMPLATES = {
    "reminder": "Time to refill {drug}? Your pharmacy can have it ready today.",
    "education": "Taking {drug} every day keeps it working. Questions about side effects or cost? Reply or call us.",
    "encouragement": "Your care team is thinking of you. Staying on {drug} matters, and we're here to help.",
}
RESPONSE_KINDS = ("refill", "reply", "visit")
DEFAULT_MAX_PER_WEEK = 2
DEFAULT_QUIET_START, DEFAULT_QUIET_END = 21, 8
LOW_ADHERENCE = 0.8


@dataclass(frozen=True)
class Arm:
    message: str
    channel: str
    timing: str

    @property
    def key(self) -> str:
        return f"{self.message}/{self.channel}/{self.timing}"

    @classmethod
    def parse(cls, key: str) -> Arm:
        """The arm named ``message/channel/timing``."""
        message, channel, timing = key.split("/")
        return cls(message, channel, timing)


ARMS: tuple[Arm, ...] = tuple(Arm(m, c, t) for m, c, t in product(MESSAGES, CHANNELS, TIMINGS))
DEFAULT_ARM = Arm("reminder", "sms", "morning")  # the usual pharmacy refill reminder


@dataclass(frozen=True)
class NudgeSettings:
    """Per-patient switches a clinician controls."""

    patient_id: str
    enabled: bool = True
    max_per_week: int = DEFAULT_MAX_PER_WEEK
    quiet_start: int = DEFAULT_QUIET_START
    quiet_end: int = DEFAULT_QUIET_END
    reason: str | None = None
    updated_by: str | None = None


def in_quiet_hours(hour: int, settings: NudgeSettings) -> bool:
    """Whether an hour of the day (0-23) falls in the quiet period (which may wrap past midnight)."""
    if settings.quiet_start == settings.quiet_end:
        return False
    if settings.quiet_start < settings.quiet_end:
        return settings.quiet_start <= hour < settings.quiet_end
    return hour >= settings.quiet_start or hour < settings.quiet_end


def may_send(settings: NudgeSettings, sent: Sequence[datetime], at: datetime) -> tuple[bool, str]:
    """(allowed, reason): the switch-off, the 7-day cap and quiet hours, in that order."""
    if not settings.enabled:
        return False, "switched off by the care team" + (f": {settings.reason}" if settings.reason else "")
    recent = [s for s in sent if at - timedelta(days=7) < s <= at]
    if len(recent) >= settings.max_per_week:
        return False, f"frequency cap: {len(recent)} messages in the last 7 days (limit {settings.max_per_week})"
    if in_quiet_hours(at.hour, settings):
        return False, f"quiet hours {settings.quiet_start:02d}:00-{settings.quiet_end:02d}:00"
    return True, "ok"


@dataclass(frozen=True)
class NudgeContext:
    """What the learner may condition on: no names, no free text."""

    age: float
    female: bool
    pdc: float
    depression: bool
    diabetes: bool
    conditions: int
    stated_channel: str | None = None
    care_gaps: int = 0


CONTEXT_FEATURES = (
    "age_decades",
    "female",
    "pdc",
    "low_pdc",
    "depression",
    "diabetes",
    "conditions",
    "stated_sms",
    "stated_email",
    "stated_phone",
    "care_gaps",
)


def context_vector(ctx: NudgeContext) -> list[float]:
    """The context as numbers in ``CONTEXT_FEATURES`` order (scaled to roughly unit range)."""
    return [
        (ctx.age - 50.0) / 10.0,
        1.0 if ctx.female else 0.0,
        ctx.pdc,
        1.0 if ctx.pdc < 0.6 else 0.0,
        1.0 if ctx.depression else 0.0,
        1.0 if ctx.diabetes else 0.0,
        min(ctx.conditions, 6) / 3.0,
        1.0 if ctx.stated_channel == "sms" else 0.0,
        1.0 if ctx.stated_channel == "email" else 0.0,
        1.0 if ctx.stated_channel == "phone" else 0.0,
        min(ctx.care_gaps, 3) / 3.0,
    ]


def needs_nudge(pdc: float | None, care_gaps: int) -> bool:
    """Low adherence (PDC under 80%) or an open care gap."""
    return (pdc is not None and pdc == pdc and pdc < LOW_ADHERENCE) or care_gaps > 0


def send_time(day: datetime, arm: Arm) -> datetime:
    """When an arm's message goes out on ``day`` (local time of the patient)."""
    return day.replace(hour=SEND_HOUR[arm.timing], minute=0, second=0, microsecond=0)
