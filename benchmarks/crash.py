"""Crash safety: kill -9 the server while clients write, restart, and check that every acknowledged write is stored.

Each cycle starts the real server (the ``carepilot serve`` code: ``create_app`` under uvicorn, one worker) on a free
loopback port over one store that lives across cycles, then drives concurrent writes until a random moment when the
server gets SIGKILL:

- CDS ``patient-view`` hook calls (each stores the Insights shown, the FHIR write-back and its audit entry in one
  transaction); acknowledged = HTTP 200, checked = every card's Insight row and the call's audit entry are stored;
- CDS feedback POSTs on cards acknowledged earlier; acknowledged = HTTP 200, checked = at least that many feedback
  rows per card;
- ingest of a small bundle of new Observations by a separate process running the ingest pipeline (what
  ``carepilot ingest`` runs) on the same store at the same time; acknowledged = exit status 0, checked = every
  resource is stored.

After each kill the store is opened afresh and checked: acknowledged writes missing (``lost``, target 0), SQLite's
``PRAGMA integrity_check``, and the audit hash chain (``carepilot audit verify``).

Launchers: ``launcher=fork`` (default) forks the server from this process, which has imported the application once,
so a cycle costs the server's start-up (opening the store, building the engines) rather than a fresh interpreter's
imports (seconds on a shared machine); the child is a separate process killed with SIGKILL exactly like the CLI
server. ``launcher=subprocess`` runs ``python -m carepilot serve`` each cycle instead (slower, same checks).

Options: ``cycles=N`` (default 200), ``db=sqlite|postgresql`` (default sqlite; postgresql takes ``url=...`` or the
configured ``CAREPILOT_DATABASE_URL``), ``writers=N`` hook/feedback client threads (default 4), ``seed=S``,
``max_ms=M`` longest time before the kill (default 1500).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select, text

from carepilot.bench import BenchReport, environment
from carepilot.config import Settings
from carepilot.errors import BenchmarkError
from carepilot.security.jwt import DEV_ISSUER, ensure_dev_issuer, mint_token
from carepilot.store import audit as store_audit
from carepilot.store import tables as t
from carepilot.store.db import Database, open_database

SERVICE = "carepilot-patient-view"
PATIENTS = 12


def _ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT09:00:00Z")


def _observation(rid: str, pid: str, loinc: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def population() -> list[dict[str, Any]]:
    """Synthetic diabetic, hypertensive patients (no real person) whose care gaps give every hook call cards."""
    out: list[dict[str, Any]] = []
    for i in range(PATIENTS):
        pid = f"crash-p{i}"
        out += [
            {"resourceType": "Patient", "id": pid, "gender": "female" if i % 2 else "male", "birthDate": "1958-02-11"},
            {
                "resourceType": "Condition",
                "id": f"crash-c{i}",
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "onsetDateTime": "2012-04-01",
            },
            _observation(f"crash-a{i}", pid, "4548-4", 10.4, "%", _ago(220)),
            _observation(f"crash-s{i}", pid, "8480-6", 152, "mm[Hg]", _ago(220)),
        ]
    return out


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
        ],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ingest(settings: Settings, path: Path) -> None:
    from carepilot.bootstrap import open_store
    from carepilot.ingest.pipeline import Ingestor

    db, repo = open_store(settings)
    summary = Ingestor(repo, "crash").ingest([path])
    db.dispose()
    if summary.quarantined or summary.nothing_read:
        raise BenchmarkError("crash ingest quarantined its input")


def _fork(target: Any, *args: Any) -> int:
    """Run ``target(*args)`` in a forked child (stdout/stderr to /dev/null); exit status 0 when it returned."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            target(*args)
            code = 0
        except BaseException:  # the child reports failure by its exit status only
            code = 1
        finally:
            os._exit(code)
    return pid


def _preload(settings: Settings) -> None:
    """Import the application and fill its module-level caches once, so each forked server starts warm."""
    import uvicorn

    import carepilot.cli.serve  # noqa: F401  (imported for the forked children)
    from carepilot.api.app import create_app
    from carepilot.insights.providers import default_providers
    from carepilot.knowledge.concepts import concept_map

    concept_map()
    default_providers(settings)
    app = create_app(settings)
    uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical").load()  # imports the protocol modules
    app.state.services.db.dispose()  # no connection may cross the fork


def _serve(settings: Settings, port: int) -> None:
    from carepilot.cli.serve import serve

    serve(settings, "127.0.0.1", port, log_level="critical", warm=False)


@dataclass
class Acks:
    """What the server and the ingest process acknowledged, to be found in the store after the crash."""

    hooks: list[tuple[str, list[str]]] = field(default_factory=list)  # (hook instance, card uuids)
    feedback: dict[str, int] = field(default_factory=dict)  # card -> acknowledged feedback posts
    ingested: list[str] = field(default_factory=list)  # resource ids
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        return len(self.hooks) + sum(self.feedback.values()) + len(self.ingested)


class Crasher:
    def __init__(self, settings: Settings, url: str, launcher: str, writers: int, max_ms: int, seed: int) -> None:
        self.settings = settings
        self.url = url
        self.launcher = launcher
        self.writers = writers
        self.max_ms = max_ms
        self.rng = random.Random(seed)
        self.key = ensure_dev_issuer(settings.home)
        self.cards: list[str] = []  # acknowledged cards, for feedback

    def _token(self, base: str, suffix: str = "") -> str:
        audience = f"{base}/cds-services/{SERVICE}"
        return mint_token(self.key, iss=DEV_ISSUER, aud=audience + suffix if suffix else audience)

    def start_server(self, port: int) -> Any:
        if self.launcher == "subprocess":
            env = {
                **os.environ,
                "CAREPILOT_HOME": str(self.settings.home),
                "CAREPILOT_DEV": "1",
                "CAREPILOT_DATABASE_URL": self.url,
            }
            return subprocess.Popen(
                [sys.executable, "-m", "carepilot", "serve", "--port", str(port), "--no-warm"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ).pid
        return _fork(_serve, self.settings, port)

    def wait_up(self, base: str, pid: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                raise BenchmarkError("the server exited during start-up")
            time.sleep(0.02)
        raise BenchmarkError("the server did not start within 120 s")

    def writer(self, base: str, acks: Acks, stop: threading.Event, rng: random.Random) -> None:
        with httpx.Client(base_url=base, timeout=10) as client:
            while not stop.is_set():
                try:
                    with acks.lock:
                        cards = list(self.cards[-50:])
                    if cards and rng.random() < 0.4:
                        card = rng.choice(cards)
                        stamp = datetime.now(UTC).isoformat()
                        body: dict[str, Any] = {
                            "feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": stamp}]
                        }
                        auth = {"Authorization": "Bearer " + self._token(base)}
                        response = client.post(f"/cds-services/{SERVICE}/feedback", json=body, headers=auth)
                        if response.status_code == 200:
                            with acks.lock:
                                acks.feedback[card] = acks.feedback.get(card, 0) + 1
                        continue
                    instance = str(uuid.uuid4())
                    body = {
                        "hook": "patient-view",
                        "hookInstance": instance,
                        "context": {"userId": "Practitioner/crash", "patientId": f"crash-p{rng.randrange(PATIENTS)}"},
                    }
                    auth = {"Authorization": "Bearer " + self._token(base)}
                    response = client.post(f"/cds-services/{SERVICE}", json=body, headers=auth)
                    if response.status_code == 200:
                        uuids = [c["uuid"] for c in response.json()["cards"]]
                        with acks.lock:
                            acks.hooks.append((instance, uuids))
                            self.cards += uuids
                except (httpx.HTTPError, ValueError, KeyError):
                    continue  # the server died mid-request: not acknowledged
                if stop.is_set():
                    return

    def cycle(self, n: int, acks: Acks, folder: Path) -> None:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        ids = [f"crash-x{n}-{k}" for k in range(20)]
        path = folder / f"ingest-{n}.json"
        resources = [
            _observation(i, f"crash-p{k % PATIENTS}", "29463-7", 80 + k, "kg", _ago(10)) for k, i in enumerate(ids)
        ]
        path.write_bytes(orjson.dumps(_bundle(resources)))
        server = self.start_server(port)
        stop = threading.Event()
        threads: list[threading.Thread] = []
        ingest = None
        try:
            self.wait_up(base, server)
            ingest = _fork(_ingest, self.settings, path)
            threads = [
                threading.Thread(target=self.writer, args=(base, acks, stop, random.Random(self.rng.random())))
                for _ in range(self.writers)
            ]
            for th in threads:
                th.start()
            time.sleep(self.rng.uniform(0.05, self.max_ms / 1000))
        finally:
            os.kill(server, signal.SIGKILL)  # the crash
            os.waitpid(server, 0)
            stop.set()
            for th in threads:
                th.join(timeout=30)
        if ingest is not None and os.waitstatus_to_exitcode(os.waitpid(ingest, 0)[1]) == 0:
            acks.ingested += ids

    def check(self, acks: Acks) -> dict[str, Any]:
        db = Database(self.url)
        try:
            with db.read() as conn:
                insight_ids = set(conn.execute(select(t.insights.c.id)).scalars())
                audited = {
                    str(r).rsplit("instance ", 1)[-1]
                    for r in conn.execute(select(t.audit_log.c.reason).where(t.audit_log.c.action == "hook")).scalars()
                }
                feedback: dict[str, int] = dict(
                    conn.execute(select(t.feedback.c.card, func.count()).group_by(t.feedback.c.card)).tuples().all()
                )
                stored = set(
                    conn.execute(
                        select(t.resources.c.resource_id).where(t.resources.c.resource_id.like("crash-x%"))
                    ).scalars()
                )
                integrity = conn.execute(text("PRAGMA integrity_check")).scalar() if db.is_sqlite else "ok"
            chain = store_audit.verify(db)
        finally:
            db.dispose()
        lost_hooks = sum(
            1 for instance, uuids in acks.hooks if not set(uuids) <= insight_ids or instance not in audited
        )
        lost_feedback = sum(max(0, n - feedback.get(card, 0)) for card, n in acks.feedback.items())
        lost_ingest = len(set(acks.ingested) - stored)
        return {
            "lost": lost_hooks + lost_feedback + lost_ingest,
            "lost_hooks": lost_hooks,
            "lost_feedback": lost_feedback,
            "lost_ingest": lost_ingest,
            "integrity_ok": integrity == "ok",
            "audit_chain_intact": chain.intact,
            "audit_entries": chain.entries,
        }


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    cycles = int(options.get("cycles", 200))
    backend = options.get("db", "sqlite")
    writers = int(options.get("writers", 4))
    max_ms = int(options.get("max_ms", 1500))
    seed = int(options.get("seed", 0))
    launcher = options.get("launcher", "fork")
    if backend not in ("sqlite", "postgresql") or launcher not in ("fork", "subprocess"):
        raise BenchmarkError("options: db=sqlite|postgresql, launcher=fork|subprocess")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="carepilot-crash-") as tmp:
        home = Path(tmp) / "home"
        if backend == "postgresql":
            url = options.get("url") or settings.database_url or ""
            if not url.startswith("postgresql"):
                raise BenchmarkError("db=postgresql needs url=postgresql+psycopg://... or CAREPILOT_DATABASE_URL")
        else:
            url = f"sqlite:///{home / 'carepilot.db'}"
        local = Settings(
            home=home, database_url=url, dev=True, cds_budget_ms=2000, reference_data=settings.reference_data
        )
        local.ensure_home()
        seed_file = Path(tmp) / "population.json"
        seed_file.write_bytes(orjson.dumps(_bundle(population())))
        open_database(url).dispose()
        pid = _fork(_ingest, local, seed_file)
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
            raise BenchmarkError("the synthetic population could not be ingested")
        if launcher == "fork":
            _preload(local)
        crasher = Crasher(local, url, launcher, writers, max_ms, seed)
        acks = Acks()
        worst: dict[str, Any] = {"lost": 0}
        integrity_failures = chain_breaks = 0
        for n in range(cycles):
            crasher.cycle(n, acks, Path(tmp))
            result = crasher.check(acks)
            integrity_failures += not result["integrity_ok"]
            chain_breaks += not result["audit_chain_intact"]
            if result["lost"] > worst["lost"]:
                worst = result
        final = crasher.check(acks)
    seconds = round(time.perf_counter() - started, 2)
    return BenchReport(
        benchmark="crash",
        dataset=f"synthetic, {PATIENTS} patients; {backend}; {writers} writer threads + 1 ingest process per cycle",
        n=cycles,
        metrics={
            "cycles": cycles,
            "acknowledged": acks.count,
            "acknowledged_hooks": len(acks.hooks),
            "acknowledged_feedback": sum(acks.feedback.values()),
            "acknowledged_ingest_resources": len(acks.ingested),
            "lost": max(final["lost"], worst["lost"]),
            "lost_by_kind": {k: final[k] for k in ("lost_hooks", "lost_feedback", "lost_ingest")},
            "integrity_failures": integrity_failures,
            "audit_chain_breaks": chain_breaks,
            "audit_entries": final["audit_entries"],
            "seconds": seconds,
        },
        baselines={"target (BENCHMARKS.md)": {"lost": 0, "cycles_sqlite": 200, "cycles_postgresql": 50}},
        seconds=seconds,
        environment={**environment(), "db": backend, "launcher": launcher},
        notes=[
            "kill -9 is a process crash: committed transactions survive it in SQLite WAL mode with synchronous=NORMAL;"
            " power loss (not tested here) can lose the last transactions at that setting.",
        ],
    )
