"""Gradient-boosted trees (XGBoost) trained across sites with Flower's ``FedXgbBagging``: site and server sides.

Bagging, as Flower implements it (``flwr.serverapp.strategy.FedXgbBagging``; Flower docs, "Quickstart XGBoost"
and the ``xgboost-comprehensive`` example): every round the server sends the global booster (XGBoost's JSON
model as a ``uint8`` array, key ``"0"`` of an ``ArrayRecord``); each site loads it, runs one boosting round on
its own training rows and returns only the new tree; the server appends every site's new tree to the global
model (``aggregate_bagging``). A round therefore adds one tree per site, each fitted to the gradient of the same
global model at a different site, so the learning rate is divided by the number of sites: the sites' trees of a
round add up to one step of size ``eta``, their average (Flower's example calls this ``scaled_lr``). One local
round per Flower round is not a choice: ``aggregate_bagging`` appends ``num_parallel_tree`` trees (here 1) of
each reply, so more local rounds would be cut off.

Around the bagging rounds: (1) the pooled-preprocessing statistics phase (``query.stats``, shared with the
logistic path; only its pooled means and deviations are used, for the registered model's out-of-distribution
envelope: trees need no imputation or scaling, XGBoost routes missing values itself); (2) each site's training
row and event counts, so every site starts from the same pooled base rate (``base_score``); (3) the rounds, with
every site's log-loss on its calibration patients after each round; the number of rounds kept is the one with
the lowest pooled calibration loss (early stopping on calibration patients, never the held-out ones); (4) Platt
scaling of the booster's margin at each site on its calibration patients (``logistic.platt_fit``), averaged by
patient count; (5) the same final federated evaluation as the logistic path (``evaluation.site_metrics`` and
the risk histogram, pooled by ``evaluation.pooled``). Only model bytes and aggregate numbers travel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedXgbBagging
from scipy.special import expit

from carepilot.errors import ModelError
from carepilot.features.readmission import FEATURES
from carepilot.federated.client import SiteRuntime, _config, _reply, _shapes
from carepilot.federated.evaluation import pooled, risk_histogram, site_metrics
from carepilot.federated.logistic import platt_fit
from carepilot.federated.preprocessing import PooledPreprocessing
from carepilot.federated.server import _ask, _metric, open_federation

BOOSTED = "boosted"  # Flower action name of every boosted phase: ``train.boosted``, ``query.boosted_final``, ...
STRATEGY = "FedXgbBagging (Flower), one tree per site per round"


@dataclass(frozen=True)
class BoostingPlan:
    """What the boosted run does: rounds, sites to wait for, and the XGBoost settings every site uses."""

    rounds: int = 40
    min_clients: int = 2
    eta: float = 0.1  # per round; each site's tree uses eta / sites
    max_depth: int = 3
    min_child_weight: float = 5.0
    reg_lambda: float = 1.0
    seed: int = 7
    wait_seconds: float = 120.0
    timeout: float = 600.0


@dataclass
class BoostedResult:
    """The server's result: global booster (JSON bytes), Platt map, per-round history and evaluation."""

    preprocessing: PooledPreprocessing
    booster: bytes
    platt: np.ndarray
    sites: dict[str, dict[str, float]]
    pooled: dict[str, Any]
    history: list[dict[str, float]]
    rounds: int
    chosen_rounds: int
    trees: int
    base_score: float
    seconds: float
    bytes_per_round: float
    bytes_total: int
    strategy: str = STRATEGY
    plan: BoostingPlan = field(default_factory=BoostingPlan)


def boosted_run_config(plan: BoostingPlan) -> dict[str, Any]:
    """The Flower run config of a boosted run (``model = "boosted"``; read back by ``boosted_plan_from``)."""
    return {
        "model": BOOSTED,
        "rounds": plan.rounds,
        "min-clients": plan.min_clients,
        "eta": plan.eta,
        "max-depth": plan.max_depth,
        "min-child-weight": plan.min_child_weight,
        "lambda": plan.reg_lambda,
        "seed": plan.seed,
        "wait-seconds": plan.wait_seconds,
    }


def boosted_plan_from(config: dict[str, Any]) -> BoostingPlan:
    """The boosting plan from a run config."""
    default = BoostingPlan()
    return BoostingPlan(
        rounds=int(config.get("rounds", default.rounds)),
        min_clients=int(config.get("min-clients", default.min_clients)),
        eta=float(config.get("eta", default.eta)),
        max_depth=int(config.get("max-depth", default.max_depth)),
        min_child_weight=float(config.get("min-child-weight", default.min_child_weight)),
        reg_lambda=float(config.get("lambda", default.reg_lambda)),
        seed=int(config.get("seed", default.seed)),
        wait_seconds=float(config.get("wait-seconds", default.wait_seconds)),
    )


# ------------------------------------------------------------------------------------------- XGBoost at a site
def xgb_params(plan: BoostingPlan, sites: int, base_score: float) -> dict[str, Any]:
    """XGBoost training parameters; ``sites`` divides the learning rate (1 for a model trained in one place)."""
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "eta": plan.eta / max(sites, 1),
        "max_depth": plan.max_depth,
        "min_child_weight": plan.min_child_weight,
        "lambda": plan.reg_lambda,
        "base_score": min(max(base_score, 1e-3), 1 - 1e-3),
        "seed": plan.seed,
        "nthread": 1,
    }


def matrix(rows: pd.DataFrame, labelled: bool = True) -> xgb.DMatrix:
    """The ``FEATURES`` columns as an XGBoost matrix (NaN is missing: XGBoost learns where missing values go)."""
    X = rows[list(FEATURES)].astype(float).to_numpy()
    label = rows["label"].to_numpy(dtype=float) if labelled else None
    return xgb.DMatrix(X, label=label, missing=np.nan, feature_names=list(FEATURES), nthread=1)


def load_booster(model: bytes, params: dict[str, Any] | None = None) -> xgb.Booster:
    """A booster from its JSON bytes (training parameters are not stored in the model, so they are set again)."""
    booster = xgb.Booster(model_file=bytearray(model))
    booster.set_param(params or {"nthread": 1})
    return booster


def boost_round(model: bytes, rows: pd.DataFrame, params: dict[str, Any]) -> tuple[bytes, float]:
    """One boosting round on ``rows`` from the global model; returns only the new tree (as bytes) and the loss.

    An empty ``model`` (the first round) starts a booster from ``base_score``; as in Flower's XGBoost examples.
    """
    data = matrix(rows)
    if not model:
        booster = xgb.train(params, data, num_boost_round=1)
        new = booster
    else:
        booster = load_booster(model, params)
        done = booster.num_boosted_rounds()
        booster.update(data, done)
        new = booster[done : done + 1]
    p = booster.predict(data)
    return bytes(new.save_raw("json")), log_loss(data.get_label(), p)


def margin(model: bytes, rows: pd.DataFrame) -> np.ndarray:
    """The booster's log-odds for ``rows``."""
    if len(rows) == 0:
        return np.zeros(0)
    return np.asarray(load_booster(model).predict(matrix(rows, labelled=False), output_margin=True))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean log-loss (0 for no rows, so a site without rows adds nothing when weighted by its count)."""
    if len(y) == 0:
        return 0.0
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    y = np.asarray(y, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibrated(model: bytes, platt: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    """Platt-calibrated risk ``s(a * margin + b)``."""
    return np.asarray(expit(platt[0] * margin(model, rows) + platt[1]))


def fit_booster(fit_rows: pd.DataFrame, calibration: pd.DataFrame, plan: BoostingPlan) -> tuple[bytes, np.ndarray]:
    """The same booster trained in one place (central pooling, or one site alone): the non-federated reference.

    Same settings, ``plan.rounds`` rounds with the learning rate undivided (one tree per round), the number of
    rounds kept chosen by log-loss on ``calibration``, then Platt scaling on ``calibration``.
    """
    y = fit_rows["label"].to_numpy(dtype=float)
    if len(y) == 0:
        raise ModelError("no training rows")
    params = xgb_params(plan, 1, float(y.mean()))
    evals: dict[str, Any] = {}
    cal = matrix(calibration)
    booster = xgb.train(
        params,
        matrix(fit_rows),
        num_boost_round=plan.rounds,
        evals=[(cal, "cal")],
        evals_result=evals,
        verbose_eval=False,
    )
    keep = int(np.argmin(evals["cal"]["logloss"])) + 1
    model = bytes(booster[:keep].save_raw("json"))
    return model, platt_fit(margin(model, calibration), calibration["label"].to_numpy())


# ----------------------------------------------------------------------------------------- the site's handlers
def _params(config: ConfigRecord) -> dict[str, Any]:
    """The XGBoost settings the server sent; the site always uses one thread."""
    keys = ("eta", "max_depth", "min_child_weight", "lambda", "base_score", "seed")
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        **{k: config[k] for k in keys},
        "nthread": 1,
    }


def _model_of(message: Message) -> bytes:
    return message.content.array_records["arrays"]["0"].numpy().tobytes()


def register_boosting(app: ClientApp, site: Callable[[Context], SiteRuntime]) -> None:
    """Add the boosted phases to a site's ``ClientApp``; every phase is audited at the site."""

    @app.query(f"{BOOSTED}_prior")
    def prior(message: Message, context: Context) -> Message:
        s = site(context)
        rows = s.data.fit_rows
        s.record("federated_boosted_prior", f"{len(rows)} training rows counted")
        return _reply(message, None, {"num-examples": float(len(rows)), "events": float(rows["label"].sum())})

    @app.train(BOOSTED)
    def train(message: Message, context: Context) -> Message:
        s = site(context)
        config = _config(message)
        rows = s.data.fit_rows
        tree, loss = boost_round(_model_of(message), rows, _params(config))
        arrays = ArrayRecord([np.frombuffer(tree, dtype=np.uint8)])
        s.record(
            "federated_boosted_train",
            f"round {config.get('server-round')!s}: {len(rows)} rows, one tree; sent {_shapes(arrays)}",
        )
        return _reply(message, arrays, {"num-examples": float(len(rows)), "train_loss": loss})

    @app.evaluate(BOOSTED)
    def evaluate(message: Message, context: Context) -> Message:
        s = site(context)
        rows = s.data.calibration
        p = expit(margin(_model_of(message), rows))
        loss = log_loss(rows["label"].to_numpy(), p)
        s.record(
            "federated_boosted_evaluate",
            f"round {_config(message).get('server-round')!s}: {len(rows)} calibration rows scored",
        )
        return _reply(message, None, {"num-examples": float(len(rows)), "calibration_loss": loss})

    @app.query(f"{BOOSTED}_calibrate")
    def calibrate(message: Message, context: Context) -> Message:
        s = site(context)
        rows = s.data.calibration
        platt = platt_fit(margin(_model_of(message), rows), rows["label"].to_numpy())
        arrays = ArrayRecord({"platt": Array(platt)})
        s.record("federated_boosted_calibrate", f"{len(rows)} calibration rows; sent {_shapes(arrays)}")
        return _reply(message, arrays, {"num-examples": float(len(rows))})

    @app.query(f"{BOOSTED}_final")
    def final(message: Message, context: Context) -> Message:
        s = site(context)
        test = s.data.test
        platt = message.content.array_records["arrays"]["platt"].numpy()
        y = test["label"].to_numpy(dtype=int)
        p = calibrated(_model_of(message), platt, test)
        arrays = ArrayRecord({"histogram": Array(risk_histogram(y, p))})
        s.record("federated_boosted_final", f"{len(test)} held-out rows scored; sent {_shapes(arrays)}")
        return _reply(message, arrays, site_metrics(y, p, test))


# --------------------------------------------------------------------------------------------- the server side
class BoostedBagging(FedXgbBagging):
    """Flower's ``FedXgbBagging`` addressing the sites' boosted handlers (``train.boosted``, ``evaluate.boosted``)."""

    def _construct_messages(self, record: Any, node_ids: list[int], message_type: str) -> Any:
        return super()._construct_messages(record, node_ids, f"{message_type}.{BOOSTED}")


def _booster_record(model: bytes) -> ArrayRecord:
    return ArrayRecord([np.frombuffer(model, dtype=np.uint8)])


def federate_boosted(grid: Grid, plan: BoostingPlan, site_names: dict[int, str] | None = None) -> BoostedResult:
    """Run the boosted phases against the sites reachable through ``grid``; returns the server's result."""
    started = time.perf_counter()
    opening = open_federation(grid, plan.min_clients, plan.wait_seconds, plan.timeout, site_names)
    counting, nodes, prep, names = opening.counting, opening.nodes, opening.prep, opening.names

    replies = _ask(counting, nodes, f"{BOOSTED}_prior", None, ConfigRecord({}), plan.timeout)
    n = sum(_metric(r, "num-examples") for r in replies)
    if n == 0:
        raise ModelError("no site has training rows")
    base_score = sum(_metric(r, "events") for r in replies) / n
    params = xgb_params(plan, len(nodes), base_score)

    trees: dict[int, int] = {}

    def count_trees(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        # Server-side "evaluation" that only notes how many trees the global model holds after each round.
        model = arrays["0"].numpy().tobytes()
        trees[server_round] = load_booster(model).num_boosted_rounds() if model else 0
        return None

    strategy = BoostedBagging(
        fraction_train=1.0,
        fraction_evaluate=1.0,
        min_train_nodes=len(nodes),
        min_evaluate_nodes=len(nodes),
        min_available_nodes=len(nodes),
    )
    before = counting.bytes_sent + counting.bytes_received
    config = {k: v for k, v in params.items() if k in ("eta", "max_depth", "min_child_weight", "lambda", "seed")}
    trained = strategy.start(
        counting,
        _booster_record(b""),
        num_rounds=plan.rounds,
        timeout=plan.timeout,
        train_config=ConfigRecord({**config, "base_score": params["base_score"]}),
        evaluate_fn=count_trees,
    )
    bytes_rounds = counting.bytes_sent + counting.bytes_received - before
    if trained.arrays is None:
        raise ModelError("federated boosting produced no model (no site answered a training round)")
    history = []
    for k in range(1, plan.rounds + 1):
        row = {"round": float(k), "trees": float(trees.get(k, 0))}
        if k in trained.train_metrics_clientapp:
            row["train_loss"] = float(trained.train_metrics_clientapp[k]["train_loss"])  # type: ignore[arg-type]
        if k in trained.evaluate_metrics_clientapp:
            row["calibration_loss"] = float(trained.evaluate_metrics_clientapp[k]["calibration_loss"])  # type: ignore[arg-type]
        history.append(row)
    scored = [r for r in history if "calibration_loss" in r]
    best = min(scored, key=lambda r: r["calibration_loss"]) if scored else history[-1]
    chosen, kept = int(best["round"]), int(best["trees"])
    model = bytes(load_booster(trained.arrays["0"].numpy().tobytes())[:kept].save_raw("json"))

    replies = _ask(counting, nodes, f"{BOOSTED}_calibrate", _booster_record(model), ConfigRecord({}), plan.timeout)
    counts = np.array([_metric(r, "num-examples") for r in replies])
    platts = np.stack([r.content.array_records["arrays"]["platt"].numpy() for r in replies])
    platt = (platts * counts[:, None]).sum(axis=0) / counts.sum()

    final = ArrayRecord({"0": Array(np.frombuffer(model, dtype=np.uint8)), "platt": Array(platt)})
    replies = _ask(counting, nodes, f"{BOOSTED}_final", final, ConfigRecord({}), plan.timeout)
    sites: dict[str, dict[str, float]] = {}
    hists = []
    for reply in replies:
        node = reply.metadata.src_node_id
        label = names.get(node) or f"node-{node}"
        sites[label] = {k: float(v) for k, v in reply.content.metric_records["metrics"].items()}  # type: ignore[arg-type]
        hists.append(reply.content.array_records["arrays"]["histogram"].numpy())
    return BoostedResult(
        preprocessing=prep,
        booster=model,
        platt=platt,
        sites=sites,
        pooled=pooled(hists, sites),
        history=history,
        rounds=plan.rounds,
        chosen_rounds=chosen,
        trees=kept,
        base_score=float(params["base_score"]),
        seconds=time.perf_counter() - started,
        bytes_per_round=bytes_rounds / plan.rounds,
        bytes_total=counting.bytes_sent + counting.bytes_received,
        plan=plan,
    )
