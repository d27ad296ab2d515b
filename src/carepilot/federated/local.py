"""An in-process ``Grid``: the server's messages go straight to each site's ``ClientApp`` in this process.

Same ServerApp phases and ClientApp handlers as the gRPC deployment and Flower's simulation, without starting
Ray or sockets: the unit tests use it (milliseconds instead of a minute of Ray start-up on two shared cores), and
so can the benchmark. It is a stand-in for transport only; nothing about what is sent changes. Like a real
transport, each site gets its own copy of a message (Flower's protobuf round trip): SecAgg+ sends one content
object to every site and its client mod consumes entries of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from carepilot.federated.boosting import BoostedResult, BoostingPlan, federate_boosted
from carepilot.federated.client import SiteRuntime, make_client_app
from carepilot.federated.server import FederationPlan, FederationResult, RecordingGrid, federate

R = TypeVar("R")


class LocalGrid(Grid):
    """Delivers each message to the destination node's ClientApp synchronously and keeps the replies."""

    def __init__(self, app: ClientApp, node_configs: Sequence[dict[str, Any]]) -> None:
        self.app = app
        self.contexts = {
            i + 1: Context(run_id=1, node_id=i + 1, node_config=cfg, state=RecordDict(), run_config={})
            for i, cfg in enumerate(node_configs)
        }
        self._pending: dict[str, Message] = {}
        # The legacy workflow (SecAgg+) reads the run id from the grid.
        self._run: Any = Run.create_empty(1)

    def set_run(self, run: Any) -> None:
        self._run = run

    @property
    def run(self) -> Any:
        return self._run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid4())
            delivered = message_from_proto(message_to_proto(message))
            self._pending[message.metadata.message_id] = self.app(
                delivered, self.contexts[message.metadata.dst_node_id]
            )
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._pending.pop(i) for i in list(message_ids) if i in self._pending]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


def run_local(
    sites: Sequence[SiteRuntime], plan: FederationPlan, on_reply: Callable[[Message], None] | None = None
) -> FederationResult:
    """Run every phase with the sites' ClientApps called in this process."""
    return in_process(sites, lambda grid: federate(grid, plan), on_reply)


def run_local_boosted(
    sites: Sequence[SiteRuntime], plan: BoostingPlan, on_reply: Callable[[Message], None] | None = None
) -> BoostedResult:
    """Run the boosted-tree phases (Flower's ``FedXgbBagging``) with the sites' ClientApps in this process."""
    return in_process(sites, lambda grid: federate_boosted(grid, plan), on_reply)


def in_process(
    sites: Sequence[SiteRuntime], drive: Callable[[Grid], R], on_reply: Callable[[Message], None] | None = None
) -> R:
    """Call ``drive`` (a server's phases) on a ``LocalGrid`` over the sites' ClientApps."""
    app = make_client_app(lambda ctx: sites[int(ctx.node_config["partition-id"])])
    grid = LocalGrid(app, [{"partition-id": i} for i in range(len(sites))])
    # Messages take their run and sender from the process's task identity, which Flower's runtimes set.
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, SUPERLINK_NODE_ID, 1
    try:
        return drive(RecordingGrid(grid, on_reply))
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved
