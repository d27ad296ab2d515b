"""The site side: a Flower ``ClientApp`` that answers the server's phases from one site's own data.

Phases (Flower message types): ``query.stats`` (pooled-preprocessing statistics), ``train`` (local FedAvg /
FedProx steps from the global weights), ``evaluate`` (held-out loss each round), ``query.calibrate`` (local Platt
fit of the final weights) and ``query.final`` (held-out metrics and a risk histogram of the calibrated model);
the boosted-tree phases (``train.boosted`` etc.) are added by ``boosting.register_boosting``.
Every reply carries arrays of fixed, model-defined shapes and scalar metrics; every phase is audited at the site.
With differential privacy on, Flower's ``fixedclipping_mod`` clips each training update before it leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM
from scipy.special import expit

from carepilot.features.readmission import FEATURES
from carepilot.federated.evaluation import risk_histogram, site_metrics
from carepilot.federated.logistic import decision, local_fit, platt_fit
from carepilot.federated.model import FederatedRiskClassifier
from carepilot.federated.preprocessing import PooledPreprocessing, site_statistics
from carepilot.federated.sites import SiteData
from carepilot.security.audit import AuditEntry, AuditSink

ENTITY = "model/readmission@federated"


@dataclass
class SiteRuntime:
    """What one site's ClientApp works with: its name, its consented data and its audit sink."""

    name: str
    data: SiteData
    audit: AuditSink

    def record(self, action: str, detail: str) -> None:
        """Audit one phase at this site (counts and shapes only)."""
        self.audit.record(
            AuditEntry(actor=f"system:federated-site:{self.name}", action=action, entity=ENTITY, reason=detail)
        )


SiteLoader = Callable[[Context], SiteRuntime]


def _config(message: Message) -> ConfigRecord:
    return message.content.config_records.get("config", ConfigRecord())


def _prep(config: ConfigRecord) -> PooledPreprocessing:
    return PooledPreprocessing.from_vector(FEATURES, [float(v) for v in config["preprocessing"]])  # type: ignore[union-attr]


def _shapes(arrays: ArrayRecord) -> str:
    return ", ".join(f"{k}{tuple(v.shape)}" for k, v in arrays.items())


def _reply(message: Message, arrays: ArrayRecord | None, metrics: Mapping[str, float]) -> Message:
    content = RecordDict({"metrics": MetricRecord(dict(metrics))})
    if arrays is not None:
        content["arrays"] = arrays
    return Message(content, reply_to=message)


def clipping_when_asked_mod(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower's ``fixedclipping_mod`` when the server asks for clipping (DP runs), otherwise a pass-through."""
    if KEY_CLIPPING_NORM in _config(message):
        return fixedclipping_mod(message, context, call_next)
    return call_next(message, context)


def make_client_app(load_site: SiteLoader) -> ClientApp:
    """The site's ClientApp; ``load_site`` turns the node's context into its ``SiteRuntime`` (cached per node)."""
    app = ClientApp()
    cache: dict[Any, SiteRuntime] = {}

    def site(context: Context) -> SiteRuntime:
        key = (context.node_id, tuple(sorted(context.node_config.items())))
        if key not in cache:
            cache[key] = load_site(context)
        return cache[key]

    @app.query("stats")
    def stats(message: Message, context: Context) -> Message:
        s = site(context)
        rows = s.data.fit_rows
        arrays = ArrayRecord({"stats": Array(site_statistics(rows, FEATURES))})
        s.record("federated_statistics", f"{len(rows)} training rows summarised; sent {_shapes(arrays)}")
        reply = _reply(message, arrays, {"num-examples": float(len(rows))})
        reply.content["site"] = ConfigRecord({"name": s.name})
        return reply

    @app.train(mods=[clipping_when_asked_mod])
    def train(message: Message, context: Context) -> Message:
        s = site(context)
        config = _config(message)
        prep = _prep(config)
        rows = s.data.fit_rows
        theta = message.content.array_records["arrays"]["theta"].numpy()
        X, y = prep.transform(rows), rows["label"].to_numpy(dtype=float)
        mu = float(config.get("proximal-mu", 0.0))  # type: ignore[arg-type]
        new, loss = local_fit(theta, X, y, lam=float(config["lam"]), mu=mu, steps=int(config["local-steps"]))  # type: ignore[arg-type]
        arrays = ArrayRecord({"theta": Array(new)})
        weight = 1.0 if bool(config.get("uniform-weights", False)) else float(len(rows))
        s.record(
            "federated_train",
            f"round {config.get('server-round')!s}: {len(rows)} rows, mu={mu:g}; sent {_shapes(arrays)}",
        )
        return _reply(message, arrays, {"num-examples": weight, "train_loss": loss})

    @app.evaluate()
    def evaluate(message: Message, context: Context) -> Message:
        s = site(context)
        test = s.data.test
        theta = message.content.array_records["arrays"]["theta"].numpy()
        prep = _prep(_config(message))
        y = test["label"].to_numpy(dtype=float)
        p = np.clip(expit(decision(theta, prep.transform(test))), 1e-12, 1 - 1e-12)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else float("nan")
        s.record("federated_evaluate", f"round {_config(message).get('server-round')!s}: {len(test)} held-out rows")
        return _reply(message, None, {"num-examples": float(max(len(test), 1)), "eval_loss": loss})

    @app.query("validate")
    def validate(message: Message, context: Context) -> Message:
        s = site(context)
        rows = s.data.calibration
        theta = message.content.array_records["arrays"]["theta"].numpy()
        prep = _prep(_config(message))
        y = rows["label"].to_numpy(dtype=float)
        p = np.clip(expit(decision(theta, prep.transform(rows))), 1e-12, 1 - 1e-12)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else 0.0
        s.record("federated_validate", f"{len(rows)} calibration rows scored")
        return _reply(message, None, {"num-examples": float(len(rows)), "log_loss": loss})

    @app.query("calibrate")
    def calibrate(message: Message, context: Context) -> Message:
        s = site(context)
        rows = s.data.calibration
        theta = message.content.array_records["arrays"]["theta"].numpy()
        prep = _prep(_config(message))
        platt = platt_fit(decision(theta, prep.transform(rows)), rows["label"].to_numpy())
        arrays = ArrayRecord({"platt": Array(platt)})
        s.record("federated_calibrate", f"{len(rows)} calibration rows; sent {_shapes(arrays)}")
        return _reply(message, arrays, {"num-examples": float(len(rows))})

    @app.query("final")
    def final(message: Message, context: Context) -> Message:
        s = site(context)
        test = s.data.test
        arrays_in = message.content.array_records["arrays"]
        model = FederatedRiskClassifier.assemble(
            _prep(_config(message)), arrays_in["theta"].numpy(), arrays_in["platt"].numpy()
        )
        y = test["label"].to_numpy(dtype=int)
        p = model.predict_proba(test[list(FEATURES)])[:, 1] if len(test) else np.zeros(0)
        metrics = site_metrics(y, p, test)
        arrays = ArrayRecord({"histogram": Array(risk_histogram(y, p))})
        s.record("federated_final_evaluation", f"{len(test)} held-out rows scored; sent {_shapes(arrays)}")
        return _reply(message, arrays, metrics)

    from carepilot.federated.boosting import register_boosting  # imported here: it imports this module

    register_boosting(app, site)
    return app
