"""CDS Hooks ``patient-view`` latency over real HTTP, open-loop, against a no-op route on the same server.

The server is ``carepilot serve`` (uvicorn, one worker) in a subprocess on a free loopback port, over a fresh store
holding a small synthetic population. The client sends calls on a fixed schedule (open loop: a slow answer does not
delay the next call) from a pool of client threads; each call carries its own ES384-signed JWT (unique ``jti``, checked
and recorded by the server) and the prefetch for its patient, and the server writes the Insights shown and the FHIR
write-back before answering. Latency is measured from each call's *scheduled* send time, so queueing behind a slow
call counts against the service (no coordinated omission). The no-op route (``GET /healthz``) is measured first
with the same schedule, as the baseline.

Options: ``calls=N`` (default 10000), ``rps=R`` (default 100), ``noop_calls=N`` (default min(calls, 2000)),
``patients=N`` (default 200), ``profile=store|prefetch`` (default store: the patient is in the store and the
prefetch is parsed but the stored record is used; prefetch: patients unknown to the store, so the profile is built
from the prefetch on every call).
"""

from __future__ import annotations

import os
import queue
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from carepilot.bench import BenchReport, environment
from carepilot.config import Settings
from carepilot.errors import BenchmarkError
from carepilot.security.jwt import DEV_ISSUER, ensure_dev_issuer, mint_token

SERVICE = "carepilot-patient-view"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _when(rng: random.Random, max_days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=rng.randint(1, max_days))).strftime("%Y-%m-%dT%H:%M:%SZ")


def _obs(rid: str, pid: str, loinc: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def synthetic_patient(index: int, rng: random.Random) -> list[dict[str, Any]]:
    """One synthetic patient (no real person): chronic conditions, ~20 labs and vitals, a few medications."""
    pid = f"bench-{index}"
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": f"Bench{index}", "given": ["Sam"]}],
            "gender": rng.choice(["female", "male"]),
            "birthDate": f"{rng.randint(1940, 1995)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        }
    ]
    for n, (snomed, p) in enumerate((("44054006", 0.5), ("38341003", 0.6), ("84114007", 0.15))):
        if rng.random() < p:
            out.append(
                {
                    "resourceType": "Condition",
                    "id": f"{pid}-c{n}",
                    "clinicalStatus": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                        ]
                    },
                    "code": {"coding": [{"system": "http://snomed.info/sct", "code": snomed}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "onsetDateTime": "2015-01-01",
                }
            )
    for k in range(rng.randint(2, 5)):
        out.append(_obs(f"{pid}-a{k}", pid, "4548-4", round(rng.uniform(5.5, 11.0), 1), "%", _when(rng, 900)))
    for k in range(rng.randint(3, 8)):
        when = _when(rng, 900)
        out.append(_obs(f"{pid}-s{k}", pid, "8480-6", rng.randint(110, 170), "mm[Hg]", when))
        out.append(_obs(f"{pid}-d{k}", pid, "8462-4", rng.randint(65, 100), "mm[Hg]", when))
    out.append(_obs(f"{pid}-l", pid, "18262-6", rng.randint(80, 230), "mg/dL", _when(rng, 700)))
    if rng.random() < 0.5:
        out.append(_obs(f"{pid}-e", pid, "33914-3", rng.randint(25, 100), "mL/min/{1.73_m2}", _when(rng, 500)))
    for n, code in enumerate(rng.sample(["6809", "29046", "83367", "1488564"], rng.randint(0, 3))):
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"{pid}-m{n}",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
                "subject": {"reference": f"Patient/{pid}"},
                "authoredOn": "2018-01-01",
            }
        )
    return out


def prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    def bundle(kind: str) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in resources if r["resourceType"] == kind],
        }

    return {
        "patient": resources[0],
        "conditions": bundle("Condition"),
        "medications": bundle("MedicationRequest"),
        "observations": bundle("Observation"),
        "allergies": bundle("AllergyIntolerance"),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(home: Path, port: int, log: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CAREPILOT_HOME": str(home), "CAREPILOT_DEV": "1", "CAREPILOT_DATABASE_URL": ""}
    env.pop("CAREPILOT_DATABASE_URL")
    proc = subprocess.Popen(
        [sys.executable, "-m", "carepilot", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-warm"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,  # a file: a pipe nobody reads would block the server once it fills
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchmarkError(f"server exited with code {proc.returncode}; see its log")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise BenchmarkError("server did not start within 60 s")


def _open_loop(
    base: str, requests: list[tuple[str, str, bytes | None, dict[str, str]]], rps: float, workers: int = 32
) -> tuple[np.ndarray, int, float]:
    """Send each request at its scheduled time; latency from the schedule. Returns (ms, errors, seconds).

    A dispatcher releases requests on the schedule to ``workers`` threads, each with its own keep-alive
    connection (sync httpx: an async client's pool costs more CPU per request than the service under test once
    requests queue, which would measure the client instead of the server).
    """
    latencies = np.zeros(len(requests))
    errors = [0]
    jobs: queue.Queue[tuple[int, float] | None] = queue.Queue()

    def work() -> None:
        with httpx.Client(base_url=base, timeout=30.0) as client:
            while (job := jobs.get()) is not None:
                index, scheduled = job
                method, path, body, headers = requests[index]
                try:
                    if client.request(method, path, content=body, headers=headers).status_code != 200:
                        errors[0] += 1
                except httpx.HTTPError:
                    errors[0] += 1
                latencies[index] = (time.perf_counter() - scheduled) * 1000

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    started = time.perf_counter() + 0.05
    for index in range(len(requests)):
        scheduled = started + index / rps
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put((index, scheduled))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - started


def _summary(ms: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    """Run the benchmark (see the module docstring for options)."""
    calls = int(options.get("calls", 10_000))
    rps = float(options.get("rps", 100))
    noop_calls = int(options.get("noop_calls", min(calls, 2000)))
    n_patients = int(options.get("patients", 200))
    mode = options.get("profile", "store")
    if mode not in ("store", "prefetch"):
        raise BenchmarkError("option profile must be store or prefetch")
    rng = random.Random(20261127)
    population = [synthetic_patient(i, rng) for i in range(n_patients)]
    with tempfile.TemporaryDirectory(prefix="carepilot-bench-cds-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        if mode == "store":
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                    for patient in population
                    for r in patient
                ],
            }
            (Path(tmp) / "population.json").write_bytes(orjson.dumps(bundle))
            env = {**os.environ, "CAREPILOT_HOME": str(home)}
            env.pop("CAREPILOT_DATABASE_URL", None)
            subprocess.run(
                [sys.executable, "-m", "carepilot", "ingest", str(Path(tmp) / "population.json"), "--json"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        key = ensure_dev_issuer(home)  # the server trusts this issuer in dev mode
        audience = f"{base}/cds-services/{SERVICE}"
        log_path = Path(tmp) / "server.log"
        log = log_path.open("wb")
        proc = _start_server(home, port, log)
        try:
            noop = [("GET", "/healthz", None, {}) for _ in range(noop_calls)]

            def hook_request(i: int) -> tuple[str, str, bytes, dict[str, str]]:
                resources = population[i % n_patients]
                body = {
                    "hook": "patient-view",
                    "hookInstance": str(uuid.uuid4()),
                    "context": {"userId": "Practitioner/bench", "patientId": resources[0]["id"]},
                    "prefetch": prefetch(resources),
                }
                token = mint_token(key, iss=DEV_ISSUER, aud=audience, lifetime_s=3600)  # fresh jti per call
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                return ("POST", f"/cds-services/{SERVICE}", orjson.dumps(body), headers)

            # Signing happens before the clock starts, so the client's CPU does not distort the schedule.
            hook_requests = [hook_request(i) for i in range(calls)]
            _open_loop(base, [hook_request(i) for i in range(50)], rps)  # warm-up, not measured
            noop_ms, noop_errors, _ = _open_loop(base, noop, rps)
            hook_ms, errors, seconds = _open_loop(base, hook_requests, rps)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            skipped = log_path.read_text(errors="replace").count("skipped: latency budget")
    hook = _summary(hook_ms)
    noop_summary = _summary(noop_ms)
    over_500 = int((hook_ms > 500).sum())
    metrics: dict[str, Any] = {
        **hook,
        "rps": round(calls / seconds, 1),
        "target_rps": rps,
        "calls": calls,
        "errors": errors,
        "over_500_ms": over_500,
        "noop_p99_ms": noop_summary["p99_ms"],
        "noop_p50_ms": noop_summary["p50_ms"],
        "noop_errors": noop_errors,
        "p99_ratio_to_noop": round(hook["p99_ms"] / noop_summary["p99_ms"], 2) if noop_summary["p99_ms"] else None,
        "profile_source": mode,
        "engine_skips": skipped,
    }
    met = hook["p99_ms"] <= 50 and over_500 == 0 and errors == 0 and (metrics["p99_ratio_to_noop"] or 0) <= 3
    notes = [
        f"targets: p99 <= 50 ms at {rps:g} rps, none over 500 ms, p99 <= 3x no-op: {'met' if met else 'MISSED'}",
        "one uvicorn worker; engines: the care-gap rules; writes per call: jti, Insights shown, GuidanceResponse + Provenance",
    ]
    return BenchReport(
        benchmark="cds",
        dataset=f"synthetic population, {n_patients} patients, profile from {mode}",
        n=calls,
        metrics=metrics,
        baselines={"no-op FastAPI route on the same server": noop_summary},
        environment=environment(),
        notes=notes,
    )
