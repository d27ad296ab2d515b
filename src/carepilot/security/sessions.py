"""Dashboard sessions: a random id in a signed, Secure, HttpOnly, SameSite=Strict cookie; the session kept server-side.

The cookie carries ``<id>.<HMAC-SHA256(session secret, id)>``, so a forged cookie is refused without a database
read; the database keeps only the SHA-256 of the id (a copy of the table opens no session), the Principal, and
when the session was created and last used. A session ends after ``idle`` without a request (automatic logoff),
after ``max_age`` in all, or on logout. Hand-written on purpose: it is a few lines over ``hmac`` and the store,
and the server-side row is what makes logout and idle expiry real (a purely signed cookie cannot be revoked).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import delete, insert, select, update

from carepilot.security.principal import Principal, Role
from carepilot.store import tables as t
from carepilot.store.db import Database

COOKIE = "carepilot_session"
TOUCH_EVERY = timedelta(seconds=30)  # last_seen is written at most this often, so reads stay reads


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _principal_json(principal: Principal) -> bytes:
    return orjson.dumps(
        {
            "subject": principal.subject,
            "role": principal.role.value,
            "scopes": sorted(principal.scopes),
            "patient": principal.patient,
            "sites": sorted(principal.sites),
            "care_team": sorted(principal.care_team),
            "issuer": principal.issuer,
            "break_glass": principal.break_glass,
        }
    )


def _principal(raw: str) -> Principal:
    data = orjson.loads(raw)
    return Principal(
        subject=data["subject"],
        role=Role(data["role"]),
        scopes=frozenset(data["scopes"]),
        patient=data.get("patient"),
        sites=frozenset(data.get("sites") or ()),
        care_team=frozenset(data.get("care_team") or ()),
        issuer=data.get("issuer"),
        break_glass=data.get("break_glass"),
    )


class SessionStore:
    """Creates, resolves (sliding the idle timer) and ends dashboard sessions."""

    def __init__(
        self,
        db: Database,
        secret: bytes,
        *,
        idle: timedelta,
        max_age: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.secret = secret
        self.idle = idle
        self.max_age = max_age
        self.clock = clock

    def _sign(self, sid: str) -> str:
        return _b64(hmac.new(self.secret, sid.encode(), hashlib.sha256).digest())

    def _id_hash(self, sid: str) -> str:
        return hashlib.sha256(sid.encode()).hexdigest()

    def create(self, principal: Principal) -> str:
        """Start a session; returns the cookie value."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        self.prune()  # sign-ins are rare: a good moment to forget abandoned sessions
        with self.db.write() as conn:
            conn.execute(
                insert(t.sessions).values(
                    id_hash=self._id_hash(sid),
                    principal=_principal_json(principal).decode(),
                    created_at=now,
                    last_seen=now,
                )
            )
        return f"{sid}.{self._sign(sid)}"

    def _sid(self, cookie: str | None) -> str | None:
        if not cookie or cookie.count(".") != 1:
            return None
        sid, signature = cookie.split(".")
        return sid if hmac.compare_digest(signature, self._sign(sid)) else None

    def resolve(self, cookie: str | None) -> Principal | None:
        """The Principal of a live session, None for no, forged, idle or expired sessions (those are deleted)."""
        sid = self._sid(cookie)
        if sid is None:
            return None
        key = self._id_hash(sid)
        with self.db.read() as conn:
            row = conn.execute(select(t.sessions).where(t.sessions.c.id_hash == key)).first()
        if row is None:
            return None
        now = self.clock()
        created, seen = _aware(row.created_at), _aware(row.last_seen)
        if now - seen > self.idle or now - created > self.max_age:
            self._delete(key)
            return None
        if now - seen > TOUCH_EVERY:
            with self.db.write() as conn:
                conn.execute(update(t.sessions).where(t.sessions.c.id_hash == key).values(last_seen=now))
        return _principal(row.principal)

    def end(self, cookie: str | None) -> None:
        """Log out: forget the session (a missing or forged cookie is a no-op)."""
        sid = self._sid(cookie)
        if sid is not None:
            self._delete(self._id_hash(sid))

    def prune(self) -> int:
        """Forget sessions idle for longer than the limit."""
        with self.db.write() as conn:
            done = conn.execute(delete(t.sessions).where(t.sessions.c.last_seen < self.clock() - self.idle))
            return int(done.rowcount or 0)

    def _delete(self, key: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.id_hash == key))


def _aware(when: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were written in UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
