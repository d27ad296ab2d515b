"""Benchmark ``fuzz-api``: schemathesis against the service's OpenAPI document, in process (ASGI), with valid tokens.

Run: ``carepilot bench fuzz-api --json fuzz-api.json [-o cases=5000] [-o seed=0]``

Every operation of ``/openapi.json`` (CDS Hooks discovery, hook calls and feedback, the FHIR API, the token endpoint,
SMART discovery) gets cases generated from its schema by schemathesis 4 (Hypothesis underneath), half conforming to
the schema (positive) and half violating it (negative: malformed CDS Hooks requests and FHIR searches, wrong types,
missing fields). Each case carries a fresh valid credential, so requests get past authentication and reach the
handlers: a clinician access token (every site) on user routes, a CDS client JWT for the hook's endpoint on hook
routes. The store holds a small synthetic population (written here; no real person).

Metrics (BENCHMARKS.md target: 0 server errors and 0 crashes in >= 5,000 cases): ``cases``, ``server_errors``
(HTTP 5xx), ``crashes`` (exceptions escaping the app), ``status_counts``, ``cases_per_operation``. Operations whose
input space is small (no parameters) are exhausted early by Hypothesis; the remaining budget goes to the others in
further rounds with new seeds until ``cases`` is reached.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from carepilot.bench import BenchReport, peak_rss_mb
from carepilot.config import Settings
from carepilot.errors import BenchmarkError

SITE = "Fuzz General"


def _population() -> list[dict[str, Any]]:
    """Three synthetic patients with a few observations and conditions (so reads and searches find data)."""
    out: list[dict[str, Any]] = []
    for n in range(3):
        pid = f"fz-{n}"
        out.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": f"Fuzzer{n}", "given": ["Test"]}],
                "gender": "female" if n % 2 else "male",
                "birthDate": f"19{50 + n * 10}-03-0{n + 1}",
                "managingOrganization": {"display": SITE},
            }
        )
        out.append(
            {
                "resourceType": "Condition",
                "id": f"fz-c{n}",
                "subject": {"reference": f"Patient/{pid}"},
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
                "onsetDateTime": "2015-01-01",
            }
        )
        out.append(
            {
                "resourceType": "Observation",
                "id": f"fz-o{n}",
                "status": "final",
                "subject": {"reference": f"Patient/{pid}"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                "valueQuantity": {"value": 7.0 + n, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
                "effectiveDateTime": "2025-06-01T09:00:00Z",
            }
        )
    return out


def _app(home: Path) -> Any:
    from carepilot.api.app import create_app
    from carepilot.bootstrap import open_store
    from carepilot.ingest.pipeline import Ingestor

    settings = Settings(home=home, dev=True)
    settings.ensure_home()
    _, repo = open_store(settings)
    bundle = home / "population.json"
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in _population()
    ]
    bundle.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
    Ingestor(repo, "fuzz").ingest([bundle])
    return create_app(settings)


class Credentials:
    """A fresh credential per case: CDS client JWTs on hook routes, clinician access tokens elsewhere."""

    def __init__(self, app: Any, base: str) -> None:
        from carepilot.security.jwt import DEV_ISSUER, ensure_dev_issuer

        self.app = app
        self.base = base
        self.cds_key = ensure_dev_issuer(app.state.services.settings.home)
        self.cds_issuer = DEV_ISSUER

    def headers(self, path: str) -> dict[str, str]:
        from carepilot.security.jwt import mint_token
        from carepilot.security.policy import DEFAULT_SCOPES
        from carepilot.security.principal import Role
        from carepilot.security.tokens import DEV_USER_ISSUER, mint_access_token

        if path.startswith("/cds-services/"):
            endpoint = f"{self.base}{path.removesuffix('/feedback')}"
            token = mint_token(self.cds_key, iss=self.cds_issuer, aud=endpoint, extra={"sub": "fuzz-ehr"})
        else:
            token = mint_access_token(
                self.app.state.auth.dev_key,
                iss=DEV_USER_ISSUER,
                aud=f"{self.base}/fhir",
                sub="fuzz-clinician",
                role=Role.CLINICIAN.value,
                scopes=DEFAULT_SCOPES[Role.CLINICIAN],
                sites=["*"],
            )
        return {"Authorization": f"Bearer {token}"}


def _fuzzer(operation: Any, mode: Any, budget: int, seed_value: int) -> Any:
    """A Hypothesis test sending ``budget`` generated cases of one operation (in one generation mode)."""
    from hypothesis import HealthCheck, Phase, given, seed
    from hypothesis import settings as hsettings

    @seed(seed_value)
    @hsettings(
        max_examples=budget,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(send: Any, case: Any) -> None:
        send(case)

    return fuzz


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    """Fuzz every operation until ``cases`` requests were sent; count 5xx answers and crashes."""
    try:
        import hypothesis  # noqa: F401 - checked here so a missing install is a clear BenchmarkError
        import schemathesis
        from hypothesis.errors import Unsatisfiable
        from schemathesis import GenerationMode
        from starlette.testclient import TestClient
    except ImportError as exc:
        raise BenchmarkError(f"fuzz-api needs schemathesis and hypothesis installed ({exc})") from exc

    target = int(options.get("cases", "5000"))
    base_seed = int(options.get("seed", "0"))
    started = time.perf_counter()
    # The store goes to memory-backed /dev/shm when there is one: every case records a token id (a write), and
    # the fuzzing is about the handlers, not about the disk's fsync latency.
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="carepilot-fuzz-", dir=shm if shm.is_dir() else None) as tmp:
        app = _app(Path(tmp) / "home")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        base = "http://localhost"
        credentials = Credentials(app, base)
        operations = [result.ok() for result in schema.get_all_operations()]
        # One in-process client for every case (the TestClient drives the ASGI app without a socket).
        client = TestClient(app, raise_server_exceptions=True)
        if not operations:
            raise BenchmarkError("the OpenAPI document lists no operation")
        statuses: Counter[str] = Counter()
        per_operation: Counter[str] = Counter()
        failures: list[dict[str, Any]] = []
        crashes = 0
        exhausted: set[tuple[str, Any]] = set()
        unsatisfiable: list[str] = []
        rounds = 0

        def send(case: Any) -> None:
            nonlocal crashes
            label = case.operation.label
            try:
                kwargs = case.as_transport_kwargs(base_url=base, headers=credentials.headers(case.formatted_path))
                response = client.request(**kwargs)
            except Exception as exc:
                crashes += 1
                if len(failures) < 20:
                    failures.append({"operation": label, "crash": type(exc).__name__})
                return
            per_operation[label] += 1
            statuses[str(response.status_code)] += 1
            if response.status_code >= 500 and len(failures) < 20:
                failures.append({"operation": label, "status": response.status_code, "curl": case.as_curl_command()})

        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        while sum(per_operation.values()) < target and rounds < 12:
            live = [(op, mode) for op in operations for mode in modes if (op.label, mode) not in exhausted]
            if not live:
                break
            budget = max(10, (target - sum(per_operation.values())) // len(live) + 1)
            for operation, mode in live:
                before = per_operation[operation.label]
                fuzz = _fuzzer(
                    operation, mode, budget, base_seed * 1000 + rounds * 2 + (mode is GenerationMode.NEGATIVE)
                )
                try:
                    fuzz(send)
                except Unsatisfiable:
                    # e.g. no schema-violating value exists for a plain string path parameter
                    exhausted.add((operation.label, mode))
                    unsatisfiable.append(f"{operation.label} ({mode.value})")
                    continue
                if per_operation[operation.label] - before < budget // 2:
                    exhausted.add((operation.label, mode))  # Hypothesis ran out of distinct inputs for it
            rounds += 1
    cases = sum(per_operation.values())
    server_errors = sum(n for code, n in statuses.items() if code.startswith("5"))
    notes = [
        "in-process ASGI calls (one starlette TestClient) with a fresh valid credential per case",
        f"{len(operations)} operations from /openapi.json; {rounds} round(s); positive and negative generation",
    ]
    if unsatisfiable:
        notes.append("no case could be generated for: " + ", ".join(sorted(set(unsatisfiable))))
    if cases < target:
        notes.append(f"MISS: only {cases} cases were generated (target {target})")
    if server_errors or crashes:
        notes.append(f"MISS: {server_errors} server errors and {crashes} crashes; see metrics.failures")
    return BenchReport(
        benchmark="fuzz-api",
        dataset="synthetic (3 patients written by the benchmark)",
        n=cases,
        metrics={
            "cases": cases,
            "server_errors": server_errors,
            "crashes": crashes,
            "status_counts": dict(sorted(statuses.items())),
            "cases_per_operation": dict(sorted(per_operation.items())),
            "failures": failures,
            "peak_rss_mb": peak_rss_mb(),
        },
        baselines={"target": {"cases": ">= 5000", "server_errors": 0, "crashes": 0}},
        seconds=round(time.perf_counter() - started, 3),
        notes=notes,
    )
