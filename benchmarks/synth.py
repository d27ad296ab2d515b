"""Benchmark ``synth``: synthetic population generation speed (target: 10,000 patients x 3 years < 120 s).

Options: ``patients=N`` (default 10000), ``years=Y`` (3), ``format=bundle|ndjson`` (bundle), ``seed=S`` (0),
``streams=0|1`` (1), ``stream_fraction=F`` (1.0), ``workers=N`` (0 = one per CPU, at most 2), ``out=DIR``
(a temporary folder, removed afterwards).
"""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
from pathlib import Path

from carepilot.bench import BenchReport, environment, peak_rss_mb
from carepilot.config import Settings
from carepilot.errors import BenchmarkError
from carepilot.synth.population import SynthOptions, generate

TARGET_SECONDS = 120.0


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    """Generate the population once, timing the whole run and each stage."""
    try:
        patients = int(options.get("patients", "10000"))
        years = float(options.get("years", "3"))
        seed = int(options.get("seed", "0"))
        streams = options.get("streams", "1") not in ("0", "false", "no")
        stream_fraction = float(options.get("stream_fraction", "1.0"))
        workers = int(options.get("workers", "0"))
    except ValueError as exc:
        raise BenchmarkError(f"bad synth benchmark option: {exc}") from exc
    fmt = options.get("format", "bundle")
    keep = "out" in options
    out = Path(options["out"]) if keep else Path(tempfile.mkdtemp(prefix="carepilot-synth-bench-"))
    try:
        cpu0 = _cpu_seconds()
        started = time.perf_counter()
        summary = generate(
            SynthOptions(
                patients=patients,
                seed=seed,
                out=out,
                format=fmt,
                years=years,
                streams=streams,
                stream_fraction=stream_fraction,
                workers=workers,
                reference_data=settings.reference_data,
            )
        )
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu0
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    resources = sum(sum(c.values()) for c in summary.resources.values())
    notes = [
        f"target: {TARGET_SECONDS:.0f} s for 10,000 patients x 3 years "
        f"({'met' if seconds < TARGET_SECONDS else 'missed'}"
        f" at n={patients})"
    ]
    return BenchReport(
        benchmark="synth",
        dataset=f"carepilot synthetic population (seed {seed}, {years:g} years, {fmt})",
        n=patients,
        metrics={
            "patients": patients,
            "seconds": round(seconds, 3),
            "patients_per_s": round(patients / seconds, 1),
            "peak_rss_mb": peak_rss_mb(),
            # CPU seconds of this process and its workers: on a shared machine, wall time includes waiting.
            "cpu_seconds": round(cpu, 3),
            "resources": resources,
            "resources_per_s": round(resources / seconds, 1),
            "readings": summary.readings,
            "stage_seconds": summary.stage_seconds,
        },
        seconds=round(seconds, 3),
        environment=environment(),
        notes=notes,
    )


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
