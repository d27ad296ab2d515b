"""Flower Deployment Runtime: the apps a SuperLink and SuperNodes load, and the processes that run them.

A hospital runs one SuperNode (``flower-supernode``) next to its own store; the coordinating party runs the
SuperLink (``flower-superlink``) and submits the run (``flwr run``), which ships this package's Flower App
(``app_dir``: a ``pyproject.toml`` naming ``server_app`` and ``client_app`` below) to every node. Each SuperNode
starts the ClientApp in a subprocess with its ``node-config`` (site name, store URL, home folder); the ServerApp
reads the plan from the run config and writes its result (and registers the model when asked) on the
coordinating machine. Since Flower 1.42 the SuperLink's Fleet, Control and Runtime APIs are served over HTTP on one port (the\nearlier gRPC Fleet API is deprecated there); on one machine everything listens on loopback only.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from carepilot.errors import InputError, ModelError
from carepilot.federated.boosting import BOOSTED, BoostingPlan, boosted_plan_from, boosted_run_config, federate_boosted
from carepilot.federated.client import SiteRuntime, make_client_app
from carepilot.federated.server import FederationPlan, PrivacyPlan, RecordingGrid, SecAggPlan, federate
from carepilot.federated.sites import site_data, store_frame
from carepilot.store.audit import SqlAuditSink
from carepilot.store.db import open_database

APP_NAME = "carepilot-federated"


def store_url(store: str) -> str:
    """A SQLAlchemy URL for ``store``: kept if it is one, else the SQLite file under that home folder."""
    if "://" in store:
        return store
    home = Path(store)
    if not home.is_dir():
        raise InputError(f"--store {store}: neither a database URL nor an existing CarePilot home folder")
    return f"sqlite:///{(home / 'carepilot.db').resolve()}"


def load_site(context: Context) -> SiteRuntime:
    """A SuperNode's site from its node config: ``site``, ``store`` (URL or home) and ``home`` (for the audit)."""
    cfg = context.node_config
    name, store = str(cfg.get("site", "")), str(cfg.get("store", ""))
    if not name or not store:
        raise InputError("the SuperNode needs --node-config with site=... and store=...")
    home = Path(str(cfg.get("home") or (store if "://" not in store else ".")))
    frame, consent = cached_store_frame(store_url(store), home / "federated")
    data = site_data(name, frame, consent)
    # Every round is audited in the site's own hash-chained audit trail.
    return SiteRuntime(name, data, SqlAuditSink(open_database(store_url(store))))


def cached_store_frame(url: str, cache_dir: Path) -> tuple[pd.DataFrame, Any]:
    """``store_frame``, with the examples cached at the site as Parquet until the SQLite file changes.

    Flower's SuperNode starts a fresh ClientApp process for every message, so without this each round would
    rebuild every patient's profile. The cache never leaves the site's home folder; consent is re-read each time.
    """
    from carepilot.store.consent import SqlConsentDirectory

    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if path is None or not path.is_file():
        return store_frame(url)
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir / f"examples-{key}.parquet"
    if cached.is_file():
        return pd.read_parquet(cached), SqlConsentDirectory(open_database(url))
    frame, consent = store_frame(url)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob("examples-*.parquet"):
        old.unlink()
    frame.to_parquet(cached)
    return frame, consent


client_app = make_client_app(load_site)
server_app = ServerApp()


def plan_from(config: dict[str, Any]) -> FederationPlan:
    """The federation plan from a run config (keys as in ``app_pyproject``)."""
    privacy = None
    if bool(config.get("dp", False)):
        privacy = PrivacyPlan(
            noise_multiplier=float(config.get("noise-multiplier", 1.0)),
            clipping_norm=float(config.get("clipping-norm", 0.1)),
            delta=float(config.get("delta", 1e-5)),
        )
    secagg = None
    if bool(config.get("secagg", False)):
        secagg = SecAggPlan(
            num_shares=count_or_fraction(config.get("secagg-num-shares", 1.0)),
            reconstruction_threshold=count_or_fraction(config.get("secagg-threshold", 0.6)),
            clipping_range=float(config.get("secagg-clipping-range", 8.0)),
            quantization_range=int(config.get("secagg-quantization-range", 2**22)),
        )
    return FederationPlan(
        rounds=int(config.get("rounds", 20)),
        min_clients=int(config.get("min-clients", 2)),
        proximal_mu=float(config.get("proximal-mu", 0.1)),
        C_grid=tuple(float(c) for c in str(config.get("C-grid", "0.01,0.1,1.0")).split(",")),
        local_steps=int(config.get("local-steps", 10)),
        privacy=privacy,
        evaluate_each_round=bool(config.get("evaluate-each-round", True)),
        wait_seconds=float(config.get("wait-seconds", 120.0)),
        secure_aggregation=secagg,
    )


def count_or_fraction(value: Any, what: str = "a SecAgg+ share setting") -> int | float:
    """A SecAgg+ share setting as Flower reads it: an integer is a count, a number with a point a fraction."""
    text = str(value).strip()
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise InputError(f"{what}: {text!r} is neither a count (e.g. 3) nor a fraction (e.g. 0.6)") from None


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    from carepilot.federated.publish import register, write_result
    from carepilot.models.registry import ModelRegistry

    config = dict(context.run_config)
    if config.get("model") == BOOSTED:
        _boosted_main(grid, config)
        return
    result = federate(RecordingGrid(grid), plan_from(config))
    out = str(config.get("out", ""))
    if out:
        write_result(result, Path(out))
    models = str(config.get("models-dir", ""))
    if models:
        register(result, ModelRegistry(Path(models)))


def _boosted_main(grid: Grid, config: dict[str, Any]) -> None:
    from carepilot.federated.boosted_model import register_boosted, write_boosted_result
    from carepilot.models.registry import ModelRegistry

    result = federate_boosted(RecordingGrid(grid), boosted_plan_from(config))
    if str(config.get("out", "")):
        write_boosted_result(result, Path(str(config["out"])))
    if str(config.get("models-dir", "")):
        register_boosted(result, ModelRegistry(Path(str(config["models-dir"]))))


def app_pyproject(config: dict[str, Any]) -> str:
    """The Flower App's ``pyproject.toml``: components point at this module; ``config`` gives the defaults."""
    lines = [
        "[build-system]",
        'requires = ["hatchling"]',
        'build-backend = "hatchling.build"',
        "",
        "[project]",
        f'name = "{APP_NAME}"',
        'version = "1.0.0"',
        "dependencies = []",
        "",
        "[tool.hatch.build.targets.wheel]",
        'packages = ["."]',
        "",
        "[tool.flwr.app]",
        'publisher = "carepilot"',
        "",
        "[tool.flwr.app.components]",
        f'serverapp = "{__name__}:server_app"',
        f'clientapp = "{__name__}:client_app"',
        "",
        "[tool.flwr.app.config]",
    ]
    for key, value in config.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def write_app(folder: Path, config: dict[str, Any]) -> Path:
    """Write the Flower App folder ``flwr run`` packages (its code is this installed package)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(app_pyproject(config))
    (folder / "carepilot_app.py").write_text('"""The components live in carepilot.federated.deploy."""\n')
    return folder


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flower_bin(name: str) -> str:
    """Path of a Flower console script installed next to this Python."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def superlink_command(port: int) -> list[str]:
    """``flower-superlink`` on 127.0.0.1:``port`` without TLS (Fleet, Control and Runtime APIs share the port)."""
    return [flower_bin("flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(port)]


def supernode_command(superlink: str, site: str, store: str, home: Path, runtime_port: int) -> list[str]:
    """``flower-supernode`` for one site, connecting to the SuperLink's Fleet API."""
    node_config = f'site="{site}" store="{store}" home="{home}"'
    return [
        flower_bin("flower-supernode"),
        "--insecure",
        "--superlink",
        superlink,
        "--node-config",
        node_config,
        "--port",
        str(runtime_port),
    ]


CONNECTION = "carepilot"


def write_flwr_config(flwr_home: Path, superlink: str) -> Path:
    """A ``FLWR_HOME/config.toml`` naming the SuperLink connection ``flwr run`` submits to (no TLS, loopback)."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    path = flwr_home / "config.toml"
    path.write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "{superlink}"\ninsecure = true\n'
    )
    return path


def run_command(app_dir: Path, overrides: dict[str, Any]) -> list[str]:
    """``flwr run`` submitting the app through the ``carepilot`` connection and streaming its log."""
    pairs = " ".join(f"{k}={_toml(v)}" for k, v in overrides.items())
    cmd = [flower_bin("flwr"), "run", str(app_dir), CONNECTION, "--stream"]
    if pairs:
        cmd += ["--run-config", pairs]
    return cmd


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return f'"{value}"'


def child_env() -> dict[str, str]:
    """Environment for the Flower processes: this interpreter's path so they import this package."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # The SuperLink and SuperNodes start Flower's other console scripts (flower-superexec, flwr-serverapp) by name.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, seconds: float = 60.0) -> None:
    """Block until something listens on 127.0.0.1:``port`` (fails early if ``process`` exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ModelError(f"a Flower process (pid {process.pid}) exited with code {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise ModelError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


def start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start one process with its output in ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("wb")
    # Own session: Flower's processes start children (SuperExec, ServerApp, ClientApp) that must stop with them.
    return subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a process started by ``start`` and everything it started (its process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    except ProcessLookupError:
        return


def run_config(plan: FederationPlan | BoostingPlan, out: Path, models_dir: Path | None) -> dict[str, Any]:
    """The run config of one federated run (the keys ``plan_from`` or ``boosted_plan_from`` reads back)."""
    if isinstance(plan, BoostingPlan):
        return {**boosted_run_config(plan), "out": str(out), "models-dir": str(models_dir or "")}
    privacy = plan.privacy or PrivacyPlan()
    secagg = plan.secure_aggregation or SecAggPlan()
    return {
        "rounds": plan.rounds,
        "min-clients": plan.min_clients,
        "proximal-mu": plan.proximal_mu,
        "C-grid": ",".join(str(c) for c in plan.C_grid),
        "local-steps": plan.local_steps,
        "dp": plan.privacy is not None,
        "noise-multiplier": privacy.noise_multiplier,
        "clipping-norm": privacy.clipping_norm,
        "delta": privacy.delta,
        "evaluate-each-round": plan.evaluate_each_round,
        "wait-seconds": plan.wait_seconds,
        "secagg": plan.secure_aggregation is not None,
        # Shares as strings: a TOML float 1.0 and integer 1 would otherwise be indistinguishable once written.
        "secagg-num-shares": str(secagg.num_shares),
        "secagg-threshold": str(secagg.reconstruction_threshold),
        "secagg-clipping-range": secagg.clipping_range,
        "secagg-quantization-range": secagg.quantization_range,
        "out": str(out),
        "models-dir": str(models_dir or ""),
    }


def serve(
    plan: FederationPlan | BoostingPlan, work: Path, port: int, out: Path, models_dir: Path | None, timeout: float
) -> int:
    """Start the SuperLink on loopback, submit the run and wait for it; returns ``flwr run``'s exit code."""
    env = child_env()
    env["FLWR_HOME"] = str(work / "flwr")
    link = start(superlink_command(port), work / "logs" / "superlink.log", env)
    try:
        wait_for_port(port, link)
        write_flwr_config(work / "flwr", f"127.0.0.1:{port}")
        app = write_app(work / "app", run_config(plan, out, models_dir))
        submitted = subprocess.run(
            run_command(app, {}), env=env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        (work / "logs" / "run.log").write_bytes(submitted.stdout or b"")
        return submitted.returncode
    finally:
        stop(link)


def run_all(
    sites: list[tuple[str, str, Path]],
    plan: FederationPlan | BoostingPlan,
    work: Path,
    out: Path,
    models_dir: Path | None = None,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """SuperLink, one SuperNode per ``(name, store, home)`` and the run, as separate processes on loopback."""
    import json

    env = child_env()
    env["FLWR_HOME"] = str(work / "flwr")
    port = free_port()
    link = start(superlink_command(port), work / "logs" / "superlink.log", env)
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        wait_for_port(port, link)
        for name, store, home in sites:
            cmd = supernode_command(f"127.0.0.1:{port}", name, store, home, free_port())
            nodes.append(start(cmd, work / "logs" / f"supernode-{name}.log", env))
        write_flwr_config(work / "flwr", f"127.0.0.1:{port}")
        app = write_app(work / "app", run_config(plan, out, models_dir))
        submitted = subprocess.run(
            run_command(app, {}), env=env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        (work / "logs" / "run.log").write_bytes(submitted.stdout or b"")
        if submitted.returncode != 0 or not out.is_file():
            raise ModelError(f"the federated run failed (exit {submitted.returncode}); logs in {work / 'logs'}")
        return dict(json.loads(out.read_text()))
    finally:
        for node in nodes:
            stop(node)
        stop(link)
