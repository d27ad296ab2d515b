"""Flower's Simulation Runtime (``flwr.simulation.run_simulation``) over sites held in memory (tests, benchmark)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flwr.app import Context, Message
from flwr.simulation import run_simulation

from carepilot.errors import ModelError
from carepilot.federated.client import SiteRuntime, make_client_app
from carepilot.federated.server import FederationPlan, FederationResult, make_server_app


def simulate(
    sites: Sequence[SiteRuntime],
    plan: FederationPlan,
    on_reply: Callable[[Message], None] | None = None,
) -> FederationResult:
    """Run the server and one ClientApp per site in Flower's simulation; returns the server's result."""
    if plan.min_clients > len(sites):
        raise ModelError(f"the plan needs {plan.min_clients} sites, {len(sites)} given")
    results: list[FederationResult] = []

    def load(context: Context) -> SiteRuntime:
        return sites[int(context.node_config["partition-id"])]

    server = make_server_app(plan, results.append, on_reply)
    client = make_client_app(load)
    run_simulation(
        server_app=server,
        client_app=client,
        num_supernodes=len(sites),
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}, "init_args": {"num_cpus": 1}},
        verbose_logging=False,
    )
    if not results:
        raise ModelError("the federated simulation ended without a result (see the Flower log above)")
    return results[0]
