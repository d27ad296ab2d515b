"""The server side: a Flower ``ServerApp`` running the phases, with FedAvg or FedProx and optional central DP.

Order: (1) pooled preprocessing from the sites' sums and counts; (2) ``rounds`` rounds of Flower's ``FedProx``
(``proximal_mu = 0`` is plain FedAvg) on L2 logistic regression, with the sites' held-out loss each round; with
differential privacy, the strategy is wrapped in Flower's ``DifferentialPrivacyClientSideFixedClipping``
(sites clip their update with ``fixedclipping_mod``, the server adds Gaussian noise to the average) and the
privacy spent is tracked by Flower's RDP accountant (Mironov 2017, "Renyi Differential Privacy") with sites as
the privacy unit; with secure aggregation, the training rounds run under Flower's SecAgg+ workflow instead
(``secure.py``: the server only ever unmasks the sum of the sites' quantised updates); (3) Platt recalibration: each site fits Platt scaling on its calibration patients and the
server averages the two parameters weighted by patient count; (4) final federated evaluation. The server only
ever holds aggregate arrays; ``RecordingGrid`` counts every array byte exchanged and lets a caller inspect each
reply (the privacy test does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, PrivacyConfig, ServerApp
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedProx

from carepilot.errors import InputError, ModelError
from carepilot.features.readmission import FEATURES
from carepilot.federated.evaluation import histogram_auroc, pooled
from carepilot.federated.preprocessing import PooledPreprocessing, pool_statistics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrivacyPlan:
    """Central DP with client-side clipping: noise multiplier, clipping norm of an update, target delta."""

    noise_multiplier: float = 1.0
    clipping_norm: float = 0.1
    delta: float = 1e-5


@dataclass(frozen=True)
class SecAggPlan:
    """SecAgg+ (Bell et al. 2020): key shares per site, shares needed to unmask, clipping and quantisation ranges.

    Integers are counts; floats are fractions (of the sites for ``num_shares``, of the shares for the threshold),
    as Flower's ``SecAggPlusWorkflow`` reads them. ``clipping_range`` bounds every weighted parameter before it is
    quantised to ``quantization_range`` levels (masks are drawn modulo 2**32).
    """

    num_shares: int | float = 1.0
    reconstruction_threshold: int | float = 0.6
    clipping_range: float = 8.0
    quantization_range: int = 2**22


@dataclass(frozen=True)
class FederationPlan:
    """What the server runs: rounds, how many sites must join, FedProx mu, L2 strength, local work, DP, SecAgg+."""

    rounds: int = 20
    min_clients: int = 2
    proximal_mu: float = 0.1
    # Inverse L2 strengths tried (per pooled row, as scikit-learn's LogisticRegression(C=...)), the same grid as
    # central training's logistic model; the one with the lowest log-loss on the sites' calibration rows wins.
    C_grid: tuple[float, ...] = (0.01, 0.1, 1.0)
    local_steps: int = 10
    privacy: PrivacyPlan | None = None
    evaluate_each_round: bool = True  # held-out loss at every site after each round (the history)
    personalise: bool = True  # each site also fine-tunes the global model on its own patients (Ditto) and reports it
    wait_seconds: float = 120.0
    timeout: float = 600.0
    secure_aggregation: SecAggPlan | None = None

    def __post_init__(self) -> None:
        if self.secure_aggregation is not None and self.privacy is not None:
            # The DP used here is Flower's Message-API wrapper and RDP accountant; in Flower 1.42 SecAgg+ runs
            # only inside the legacy DefaultWorkflow with legacy strategies, which they cannot join.
            raise InputError(
                "--secagg and --dp cannot be combined: differential privacy here is Flower's Message-API "
                "DifferentialPrivacyClientSideFixedClipping with its RDP accountant, and Flower 1.42 runs SecAgg+ "
                "only in the legacy DefaultWorkflow with legacy strategies; run one or the other"
            )
        if self.secure_aggregation is not None:
            from carepilot.federated.secure import secagg_workflow

            secagg_workflow(self.secure_aggregation, self.timeout)  # refuses impossible share / range settings


@dataclass
class FederationResult:
    """Everything the server learned: preprocessing, weights, Platt map, per-round history and evaluation."""

    preprocessing: PooledPreprocessing
    theta: np.ndarray
    platt: np.ndarray
    sites: dict[str, dict[str, float]]
    pooled: dict[str, Any]
    history: list[dict[str, float]]
    rounds: int
    seconds: float
    bytes_per_round: float
    bytes_total: int
    epsilon: float | None = None
    delta: float | None = None
    strategy: str = ""
    plan: FederationPlan = field(default_factory=FederationPlan)
    chosen_C: float = 0.0
    validation: dict[str, float] = field(default_factory=dict)
    personalised_auroc: float | None = None  # pooled over the sites' own fine-tuned models (Ditto)


def array_bytes(records: Iterable[ArrayRecord]) -> int:
    """Bytes of serialised array data in these records (what crosses the wire besides framing)."""
    return sum(len(a.data) for rec in records for a in rec.values())


def payload_bytes(content: RecordDict) -> int:
    """Array bytes plus the raw bytes carried in config records (SecAgg+ keys, key shares and masked vectors)."""
    raw = 0
    for rec in content.config_records.values():
        for value in rec.values():
            items = value if isinstance(value, list) else [value]
            raw += sum(len(v) for v in items if isinstance(v, bytes))
    return array_bytes(content.array_records.values()) + raw


class RecordingGrid(Grid):
    """A ``Grid`` that forwards to the real one, counting array bytes and showing each reply to ``on_reply``."""

    def __init__(self, inner: Grid, on_reply: Callable[[Message], None] | None = None) -> None:
        self.inner = inner
        self.on_reply = on_reply
        self.bytes_sent = 0
        self.bytes_received = 0

    def set_run(self, run: Any) -> None:  # the run is fixed by the inner grid
        self.inner.set_run(run)

    @property
    def run(self) -> Any:
        return self.inner.run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        return self.inner.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self.inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        out = list(messages)
        self.bytes_sent += sum(payload_bytes(m.content) for m in out)
        return self.inner.push_messages(out)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._seen(self.inner.pull_messages(message_ids))

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        out = list(messages)
        self.bytes_sent += sum(payload_bytes(m.content) for m in out)
        return self._seen(self.inner.send_and_receive(out, timeout=timeout))

    def _seen(self, replies: Iterable[Message]) -> list[Message]:
        replies = list(replies)
        for reply in replies:
            if not reply.has_error():
                self.bytes_received += payload_bytes(reply.content)
            if self.on_reply is not None:
                self.on_reply(reply)
        return replies


def _wait_for(grid: Grid, count: int, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= count:
            return nodes
        if time.monotonic() > deadline:
            raise ModelError(f"only {len(nodes)} of {count} sites joined within {seconds:.0f} s")
        time.sleep(0.5)


def _ask(
    grid: Grid, nodes: list[int], kind: str, arrays: ArrayRecord | None, config: ConfigRecord, timeout: float
) -> list[Message]:
    messages = []
    for node in nodes:
        content = RecordDict({"config": config})
        if arrays is not None:
            content["arrays"] = arrays
        messages.append(Message(content, dst_node_id=node, message_type=f"query.{kind}"))
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    failed = [r for r in replies if r.has_error()]
    if failed or len(replies) < len(nodes):
        reasons = "; ".join(str(r.error.reason) for r in failed)
        raise ModelError(f"phase {kind}: {len(replies) - len(failed)} of {len(nodes)} sites answered ({reasons})")
    return replies


def _metric(reply: Message, key: str) -> float:
    return float(reply.content.metric_records["metrics"][key])  # type: ignore[arg-type]


def _train(
    grid: Grid, nodes: list[int], plan: FederationPlan, prep: PooledPreprocessing, C: float, accountant: Any
) -> Any:
    """``plan.rounds`` rounds of FedProx (optionally wrapped for DP) from zero weights with L2 strength ``C``."""
    base: dict[str, Any] = {
        "preprocessing": prep.to_vector(),
        "lam": 1.0 / (C * prep.n),
        "local-steps": plan.local_steps,
    }
    if plan.secure_aggregation is not None:
        from carepilot.federated.secure import train_secure

        return train_secure(grid, nodes, plan, plan.secure_aggregation, prep, base)
    strategy: Any = FedProx(
        fraction_evaluate=1.0 if plan.evaluate_each_round else 0.0,
        proximal_mu=plan.proximal_mu,
        min_train_nodes=len(nodes),
        min_evaluate_nodes=len(nodes),
        min_available_nodes=len(nodes),
    )
    if plan.privacy is not None:
        strategy = DifferentialPrivacyClientSideFixedClipping(
            strategy,
            noise_multiplier=plan.privacy.noise_multiplier,
            clipping_norm=plan.privacy.clipping_norm,
            num_sampled_clients=len(nodes),
            accountant=accountant,
        )
        base["uniform-weights"] = True
    return strategy.start(
        grid,
        ArrayRecord({"theta": Array(np.zeros(prep.width + 1))}),
        num_rounds=plan.rounds,
        timeout=plan.timeout,
        train_config=ConfigRecord(base),
        evaluate_config=ConfigRecord({"preprocessing": prep.to_vector()}),
    )


@dataclass(frozen=True)
class Opening:
    """What every federation starts from: the counting grid, the sites that joined, pooled statistics, names."""

    counting: RecordingGrid
    nodes: list[int]
    prep: PooledPreprocessing
    names: dict[int, str]


def open_federation(
    grid: Grid, min_clients: int, wait_seconds: float, timeout: float, site_names: dict[int, str] | None = None
) -> Opening:
    """Wait for the sites, then pool their feature statistics (the first phase of every model's federation)."""
    counting = grid if isinstance(grid, RecordingGrid) else RecordingGrid(grid)
    nodes = _wait_for(counting, min_clients, wait_seconds)
    replies = _ask(counting, nodes, "stats", None, ConfigRecord({"phase": "stats"}), timeout)
    prep = pool_statistics(FEATURES, [r.content.array_records["arrays"]["stats"].numpy() for r in replies])
    names = dict(site_names or {})
    for r in replies:
        site = r.content.config_records.get("site")
        if site is not None and r.metadata.src_node_id not in names:
            names[r.metadata.src_node_id] = str(site["name"])
    return Opening(counting, nodes, prep, names)


def federate(grid: Grid, plan: FederationPlan, site_names: dict[int, str] | None = None) -> FederationResult:
    """Run every phase against the sites reachable through ``grid``; returns the server's result."""
    started = time.perf_counter()
    opening = open_federation(grid, plan.min_clients, plan.wait_seconds, plan.timeout, site_names)
    counting, nodes, prep, names = opening.counting, opening.nodes, opening.prep, opening.names
    accountant = None
    if plan.privacy is not None:
        from flwr.serverapp import RdpAccountant
        from flwr.supercore.privacy_accounting import NeighboringRelation, SamplingMethod

        # One accountant across every candidate's training: all their releases count against the budget.
        accountant = RdpAccountant(
            PrivacyConfig(
                target_delta=plan.privacy.delta,
                population_size=len(nodes),
                neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                sampling_method=SamplingMethod.NO_AMPLIFICATION,
            )
        )
    name = "FedProx" if plan.proximal_mu > 0 else "FedAvg (FedProx with mu=0)"
    if plan.privacy is not None:
        name += " + DP (client-side fixed clipping)"
    if plan.secure_aggregation is not None:
        name += " + SecAgg+"
    bytes_rounds = 0
    candidates: list[tuple[float, float, np.ndarray, Any]] = []
    for C in plan.C_grid:
        sent_before = counting.bytes_sent + counting.bytes_received
        trained = _train(counting, nodes, plan, prep, C, accountant)
        bytes_rounds += counting.bytes_sent + counting.bytes_received - sent_before
        if trained.arrays is None:
            raise ModelError("federated training produced no model (no site answered a training round)")
        theta_c = trained.arrays["theta"].numpy()
        # Choose C on the sites' calibration patients (never their held-out ones), as central tuning does.
        replies = _ask(
            counting,
            nodes,
            "validate",
            ArrayRecord({"theta": Array(theta_c)}),
            ConfigRecord({"preprocessing": prep.to_vector()}),
            plan.timeout,
        )
        n_val = sum(_metric(r, "num-examples") for r in replies)
        loss = sum(_metric(r, "num-examples") * _metric(r, "log_loss") for r in replies) / max(n_val, 1.0)
        candidates.append((loss, C, theta_c, trained))
    _, chosen_C, theta, result = min(candidates, key=lambda c: c[0])
    validation = {f"validation_log_loss_C={c}": loss for loss, c, _, _ in candidates}
    history = []
    for k in range(1, plan.rounds + 1):
        row = {"round": float(k)}
        if k in result.train_metrics_clientapp:
            row["train_loss"] = float(result.train_metrics_clientapp[k]["train_loss"])
        if k in result.evaluate_metrics_clientapp:
            row["eval_loss"] = float(result.evaluate_metrics_clientapp[k]["eval_loss"])
        history.append(row)

    weights_config = ConfigRecord({"preprocessing": prep.to_vector()})
    arrays = ArrayRecord({"theta": Array(theta)})
    replies = _ask(counting, nodes, "calibrate", arrays, weights_config, plan.timeout)
    counts = np.array([_metric(r, "num-examples") for r in replies])
    if counts.sum() <= 0:
        raise ModelError("no site's calibration patients include both outcomes: Platt scaling cannot be fitted")
    platts = np.stack([r.content.array_records["arrays"]["platt"].numpy() for r in replies])
    platt = (platts * counts[:, None]).sum(axis=0) / counts.sum()

    final_arrays = ArrayRecord({"theta": Array(theta), "platt": Array(platt)})
    final_config = ConfigRecord({"preprocessing": prep.to_vector()})
    if plan.personalise:
        final_config["lam"] = 1.0 / (chosen_C * prep.n)
    replies = _ask(counting, nodes, "final", final_arrays, final_config, plan.timeout)
    sites: dict[str, dict[str, float]] = {}
    hists, own_hists = [], []
    for reply in replies:
        node = reply.metadata.src_node_id
        label = names.get(node, f"node-{node}")
        sites[label] = {k: float(v) for k, v in reply.content.metric_records["metrics"].items()}  # type: ignore[arg-type]
        returned = reply.content.array_records["arrays"]
        hists.append(returned["histogram"].numpy())
        if "histogram_personalised" in returned:
            own_hists.append(returned["histogram_personalised"].numpy())
    spent = accountant.get_privacy_spent() if accountant is not None else None
    return FederationResult(
        preprocessing=prep,
        theta=theta,
        platt=platt,
        sites=sites,
        pooled=pooled(hists, sites),
        history=history,
        rounds=plan.rounds,
        seconds=time.perf_counter() - started,
        bytes_per_round=bytes_rounds / (plan.rounds * len(plan.C_grid)),
        bytes_total=counting.bytes_sent + counting.bytes_received,
        epsilon=None if spent is None else float(spent.epsilon),
        delta=None if spent is None else float(spent.delta),
        strategy=name,
        plan=plan,
        chosen_C=chosen_C,
        validation=validation,
        personalised_auroc=histogram_auroc(np.sum(np.stack(own_hists), axis=0)) if own_hists else None,
    )


def make_server_app(
    plan: FederationPlan,
    on_result: Callable[[FederationResult], None],
    on_reply: Callable[[Message], None] | None = None,
) -> ServerApp:
    """A ServerApp that runs ``federate`` and hands the result to ``on_result`` (register, write, report)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        on_result(federate(RecordingGrid(grid, on_reply), plan))

    return app
