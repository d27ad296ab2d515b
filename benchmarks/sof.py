"""``carepilot bench sof``: every test of the SQL on FHIR v2 suite, judged as the reference runner does.

Reads every test document in ``sql_on_fhir_v2`` (files with ``resources`` and ``tests``), runs each test's
view over the file's resources and compares rows order-insensitively. Writes the suite's own
``test_report.json`` (``{"<file>.json": {"tests": [{"name", "result": {"passed", "error"?}}]}}``) to the
``report`` option's path (default: ``test_report.json`` in CAREPILOT_HOME).

Options: ``report=PATH`` where to write test_report.json; ``data=PATH`` another suite folder;
``throughput=N`` also times the bundled views on N Synthea bundles (default 5; 0 skips), with the quick
FHIRPath path and with the engine alone, as a ratio measured in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from carepilot.bench import BenchReport, environment, require_reference
from carepilot.config import Settings
from carepilot.errors import BenchmarkError
from carepilot.features.viewdefinition import parse_view, run_view
from carepilot.features.viewdefinition.conformance import CaseResult, iter_cases, run_case
from carepilot.features.viewdefinition.sources import iter_resources, read_json
from carepilot.features.views import available_views, view_definition


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    """Run the whole suite and report passed / total with the reason for each failure."""
    folder = Path(options["data"]) if "data" in options else require_reference(settings, "sql_on_fhir_v2")
    if not folder.is_dir():
        raise BenchmarkError(f"SQL on FHIR suite folder not found at {folder}")
    started = time.perf_counter()
    results: dict[str, list[CaseResult]] = {}
    for path in sorted(folder.glob("*.json")):
        document = read_json(path)
        if not isinstance(document, dict) or "tests" not in document or "resources" not in document:
            continue  # the schema and the list of implementations are not test documents
        resources = list(document.get("resources") or [])
        results[path.name] = [run_case(path.name, resources, test) for test in iter_cases(document)]
    seconds = time.perf_counter() - started
    if not results:
        raise BenchmarkError(f"no SQL on FHIR test documents in {folder}")
    cases = [case for file_cases in results.values() for case in file_cases]
    failed = [f"{c.file}: {c.name} — {c.reason}" for c in cases if not c.passed]
    report_path = Path(options.get("report", str(settings.home / "test_report.json")))
    report_path.parent.mkdir(parents=True, exist_ok=True)
    suite_report = {name: {"tests": [c.report_entry() for c in file_cases]} for name, file_cases in results.items()}
    report_path.write_bytes(orjson.dumps(suite_report, option=orjson.OPT_INDENT_2))
    passed = len(cases) - len(failed)
    notes = [f"test_report.json written to {report_path}"]
    metrics: dict[str, Any] = {
        "passed": passed,
        "total": len(cases),
        "failed_tests": failed,
        "files": len(results),
        "pass_rate": round(passed / len(cases), 4),
        "target_met": not failed,
        "suite_seconds": round(seconds, 3),
    }
    bundles = int(options.get("throughput", "5"))
    synthea = settings.reference_data / "synthea_fhir_r4"
    if bundles > 0 and synthea.is_dir():
        metrics["throughput"] = _throughput(sorted(synthea.glob("*.json"))[:bundles])
    elif bundles > 0:
        notes.append(f"throughput skipped: no Synthea bundles at {synthea}")
    return BenchReport(
        benchmark="sof",
        dataset=f"SQL on FHIR v2 test suite ({folder})",
        n=len(cases),
        metrics=metrics,
        baselines={"reference implementations (suite claim)": {"passed": len(cases), "total": len(cases)}},
        environment=environment(),
        notes=notes,
    )


def _throughput(files: list[Path]) -> dict[str, Any]:
    """Resources per second for each bundled view, quick path versus engine alone, on the same resources."""
    resources = list(iter_resources(files))
    out: dict[str, Any] = {"bundles": len(files), "resources": len(resources)}
    for name in available_views():
        timings = {}
        for label, quick in (("quick", True), ("engine", False)):
            view = parse_view(view_definition(name), quick=quick)
            matching = sum(1 for r in resources if r.get("resourceType") == view.resource)
            started = time.perf_counter()
            rows = run_view(view, resources)
            timings[label] = (time.perf_counter() - started, matching, len(rows))
        (fast, matching, rows), (slow, _, _) = timings["quick"], timings["engine"]
        out[name] = {
            "resources": matching,
            "rows": rows,
            "resources_per_s_quick": round(matching / fast, 1) if fast else None,
            "resources_per_s_engine": round(matching / slow, 1) if slow else None,
            "speedup": round(slow / fast, 2) if fast else None,
        }
    return out
