"""Training rounds under SecAgg+ (Bell et al. 2020): the server unmasks only the sum of the sites' updates.

Bell, Bonawitz, Gascon, Lepoint, Raykova 2020, "Secure Single-Server Aggregation with (Poly)Logarithmic
Complexity" (CCS). Per round, Flower's ``SecAggPlusWorkflow`` exchanges four messages with every site, answered at
the site by Flower's ``secaggplus_mod``: setup (two public keys per site), share keys (Shamir shares of each site's
mask seed and secret key, encrypted for its neighbours), collect masked vectors (the site trains, multiplies its
parameters by its row count / ``max_weight``, quantises them and adds its private mask and pairwise masks modulo
2**32) and unmask (the surviving sites return shares; the server removes the masks from the sum only). Dividing by
the summed weights gives FedAvg's weighted average. Row counts and training losses still travel in the clear, as
in every other phase; the parameter vectors never do.

In Flower 1.42 ``SecAggPlusWorkflow`` runs only as the fit step of the legacy ``DefaultWorkflow`` with a
``LegacyContext`` and a legacy ``flwr.server.strategy`` strategy (it raises ``TypeError`` for any other context),
so this module builds exactly that for the training phase alone: one ``LegacyContext`` per L2 strength with
Flower's legacy ``FedProx`` (initial parameters: zero weights; fit config: the same preprocessing, L2 strength
and local work as the Message-API path), and an evaluate step sending the same Message-API ``evaluate`` messages
``FedProx.start`` sends. It returns Flower's ``Result``, so the statistics, C choice, calibration and evaluation
phases in ``server.py`` are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import FedProx as LegacyFedProx
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Result

from carepilot.errors import InputError, ModelError
from carepilot.federated.preprocessing import PooledPreprocessing
from carepilot.federated.server import FederationPlan, SecAggPlan


def secagg_workflow(secagg: SecAggPlan, timeout: float | None, max_weight: float = 1000.0) -> SecAggPlusWorkflow:
    """Flower's SecAgg+ fit workflow for ``secagg``; impossible share or range settings are an ``InputError``."""
    try:
        return SecAggPlusWorkflow(
            num_shares=secagg.num_shares,
            reconstruction_threshold=secagg.reconstruction_threshold,
            max_weight=max_weight,
            clipping_range=secagg.clipping_range,
            quantization_range=secagg.quantization_range,
            timeout=timeout,
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"secure aggregation settings: {exc}") from exc


def global_theta(context: Context) -> np.ndarray:
    """The global parameters the legacy workflow holds in its context state."""
    record = context.state.array_records[MAIN_PARAMS_RECORD]
    return np.asarray(parameters_to_ndarrays(compat.arrayrecord_to_parameters(record, keep_input=True))[0])


def _weighted(key: str) -> Callable[[list[tuple[int, dict[str, Any]]]], dict[str, Any]]:
    def aggregate(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        total = sum(n for n, _ in results)
        return {key: sum(n * float(m[key]) for n, m in results) / total} if total else {}

    return aggregate


def _evaluate_step(
    nodes: list[int], prep: PooledPreprocessing, timeout: float, sink: dict[int, MetricRecord]
) -> Callable[[Grid, Context], None]:
    """The legacy workflow's evaluate step: the sites' held-out loss of the global weights, as ``FedProx`` asks."""

    def step(grid: Grid, context: Context) -> None:
        current = int(context.state.config_records[MAIN_CONFIGS_RECORD][Key.CURRENT_ROUND])  # type: ignore[arg-type]
        arrays = ArrayRecord({"theta": Array(global_theta(context))})
        config = ConfigRecord({"preprocessing": prep.to_vector(), "server-round": current})
        messages = [
            Message(RecordDict({"arrays": arrays, "config": config}), dst_node_id=node, message_type="evaluate")
            for node in nodes
        ]
        replies = [r for r in grid.send_and_receive(messages, timeout=timeout) if not r.has_error()]
        metrics = [r.content.metric_records["metrics"] for r in replies]
        counts = [float(m["num-examples"]) for m in metrics]  # type: ignore[arg-type]
        losses = [float(m["eval_loss"]) for m in metrics]  # type: ignore[arg-type]
        if sum(counts):
            sink[current] = MetricRecord({"eval_loss": float(np.dot(counts, losses) / sum(counts))})

    return step


def _no_evaluation(grid: Grid, context: Context) -> None:
    return None


def train_secure(
    grid: Grid,
    nodes: list[int],
    plan: FederationPlan,
    secagg: SecAggPlan,
    prep: PooledPreprocessing,
    train_config: dict[str, Any],
) -> Result:
    """``plan.rounds`` rounds of FedProx from zero weights whose aggregation is SecAgg+; returns Flower's Result."""
    strategy = LegacyFedProx(
        fraction_fit=1.0,
        fraction_evaluate=0.0,  # evaluation goes through the Message-API evaluate step below
        min_fit_clients=len(nodes),
        min_available_clients=len(nodes),
        initial_parameters=ndarrays_to_parameters([np.zeros(prep.width + 1)]),
        on_fit_config_fn=lambda server_round: {**train_config, "server-round": server_round},
        fit_metrics_aggregation_fn=_weighted("train_loss"),
        proximal_mu=plan.proximal_mu,
    )
    run = grid.run
    base = Context(
        run_id=run.run_id if run is not None else 0, node_id=0, node_config={}, state=RecordDict(), run_config={}
    )
    context = LegacyContext(
        base, config=ServerConfig(num_rounds=plan.rounds, round_timeout=plan.timeout), strategy=strategy
    )
    evaluated: dict[int, MetricRecord] = {}
    # max_weight = the pooled row count: every site's weight (rows / max_weight) is at most 1, so the weighted,
    # quantised parameters of all sites sum without overflowing the 2**32 mask modulus.
    fit = secagg_workflow(secagg, plan.timeout, max_weight=float(prep.n))
    evaluate = _evaluate_step(nodes, prep, plan.timeout, evaluated) if plan.evaluate_each_round else _no_evaluation
    DefaultWorkflow(fit_workflow=fit, evaluate_workflow=evaluate)(grid, context)
    trained = context.history.metrics_distributed_fit.get("train_loss", [])
    if len(trained) < plan.rounds:
        raise ModelError(
            f"secure aggregation completed {len(trained)} of {plan.rounds} rounds (too few sites answered to unmask)"
        )
    return Result(
        arrays=ArrayRecord({"theta": Array(global_theta(context))}),
        train_metrics_clientapp={r: MetricRecord({"train_loss": float(v)}) for r, v in trained},
        evaluate_metrics_clientapp=evaluated,
    )
