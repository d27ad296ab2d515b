"""Benchmark harness: the JSON report of DESIGN.md section 6 and the registry of benchmark scripts.

Each script in ``benchmarks/`` (``benchmarks/NAME.py``, hyphens in NAME written as underscores) defines::

    def run(settings: Settings, options: dict[str, str]) -> BenchReport

and is run with ``carepilot bench NAME --json FILE``.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from carepilot.config import Settings, repo_root
from carepilot.errors import BenchmarkError


@dataclass
class BenchReport:
    """One benchmark result, serialised as the JSON of DESIGN.md section 6."""

    benchmark: str
    dataset: str
    n: int
    metrics: dict[str, Any]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    environment: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)


def environment() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "platform": platform.platform(terse=True),
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024.0, 1) if sys.platform != "darwin" else round(kb / 1024.0 / 1024.0, 1)


def benchmarks_dir() -> Path:
    return repo_root() / "benchmarks"


def available() -> list[str]:
    """Names of the benchmarks this checkout has."""
    folder = benchmarks_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem.replace("_", "-") for p in folder.glob("*.py") if not p.stem.startswith("_"))


def run_benchmark(name: str, settings: Settings, options: dict[str, str] | None = None) -> BenchReport:
    """Load ``benchmarks/NAME.py`` and run it, timing the whole run."""
    path = benchmarks_dir() / f"{name.replace('-', '_')}.py"
    if not path.is_file():
        raise BenchmarkError(f"no benchmark named {name!r}; available: {', '.join(available()) or 'none'}")
    spec = importlib.util.spec_from_file_location(f"carepilot_benchmarks.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise BenchmarkError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so that annotations and pickling can resolve the module by name
    spec.loader.exec_module(module)
    started = time.perf_counter()
    report: BenchReport = module.run(settings, options or {})
    if not report.seconds:
        report.seconds = round(time.perf_counter() - started, 3)
    if not report.environment:
        report.environment = environment()
    return report


def require_reference(settings: Settings, *parts: str) -> Path:
    """Path to a reference data set, or a clear BenchmarkError when it is absent."""
    path = settings.reference_data.joinpath(*parts)
    if not path.exists():
        raise BenchmarkError(
            f"reference data not found at {path}; set CAREPILOT_REFERENCE_DATA to the shared data folder"
        )
    return path
