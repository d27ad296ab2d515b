"""The site side: a Flower ``ClientApp`` that answers the server's phases from one site's own data.

Phases (Flower message types): ``query.stats`` (pooled-preprocessing statistics), ``train`` (local FedAvg /
FedProx steps from the global weights), ``evaluate`` (held-out loss each round), ``query.calibrate`` (local Platt
fit of the final weights) and ``query.final`` (held-out metrics and a risk histogram of the calibrated model);
the boosted-tree phases (``train.boosted`` etc.) are added by ``boosting.register_boosting``.
Every reply carries arrays of fixed, model-defined shapes and scalar metrics; every phase is audited at the site.
With differential privacy on, Flower's ``fixedclipping_mod`` clips each training update before it leaves. With
secure aggregation on, the training messages follow Flower's SecAgg+ protocol (legacy ``FitIns`` / ``FitRes``
records, see ``secure.py``) and Flower's ``secaggplus_mod`` quantises and masks the update before it leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM
from scipy.special import expit

from carepilot.features.readmission import FEATURES
from carepilot.federated.evaluation import risk_histogram, site_metrics
from carepilot.federated.logistic import decision, local_fit, platt_fit
from carepilot.federated.model import FederatedRiskClassifier
from carepilot.federated.personalise import personalise
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


def secagg_when_asked_mod(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower's ``secaggplus_mod`` for SecAgg+ training messages, otherwise a pass-through.

    ``secaggplus_mod`` fails on a training message without its SecAgg+ config record, so the Message-API training
    rounds of a run without secure aggregation go straight to the handler.
    """
    if RECORD_KEY_CONFIGS in message.content.config_records:
        return secaggplus_mod(message, context, call_next)
    return call_next(message, context)


LEGACY_PARAMETERS = "fitins.parameters"


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

    def local_update(s: SiteRuntime, theta: np.ndarray, config: ConfigRecord, mu: float) -> tuple[np.ndarray, float]:
        prep = _prep(config)
        rows = s.data.fit_rows
        X, y = prep.transform(rows), rows["label"].to_numpy(dtype=float)
        return local_fit(theta, X, y, lam=float(config["lam"]), mu=mu, steps=int(config["local-steps"]))  # type: ignore[arg-type]

    @app.train(mods=[secagg_when_asked_mod, clipping_when_asked_mod])
    def train(message: Message, context: Context) -> Message:
        s = site(context)
        rows = s.data.fit_rows
        if LEGACY_PARAMETERS in message.content.array_records:
            # SecAgg+ round: legacy FitIns in, FitRes out; secaggplus_mod masks the parameters before they leave.
            # (Read as records: the preprocessing vector is a list, which compat.recorddict_to_fitins refuses.)
            record = message.content.array_records[LEGACY_PARAMETERS]
            theta = parameters_to_ndarrays(compat.arrayrecord_to_parameters(record, keep_input=True))[0]
            config = message.content.config_records["fitins.config"]
            mu = float(config.get("proximal_mu", 0.0))  # type: ignore[arg-type]
            new, loss = local_update(s, theta, config, mu)
            s.record(
                "federated_train",
                f"round {config.get('server-round')!s}: {len(rows)} rows, mu={mu:g}; "
                f"sent theta{tuple(new.shape)} quantised and masked (SecAgg+)",
            )
            fitres = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([new]), len(rows), {"train_loss": loss})
            return Message(compat.fitres_to_recorddict(fitres, keep_input=True), reply_to=message)
        config = _config(message)
        theta = message.content.array_records["arrays"]["theta"].numpy()
        mu = float(config.get("proximal-mu", 0.0))  # type: ignore[arg-type]
        new, loss = local_update(s, theta, config, mu)
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
        if rows["label"].nunique() < 2:
            # Platt scaling needs both outcomes: a small site abstains (weight 0) instead of stopping the run.
            arrays = ArrayRecord({"platt": Array(np.array([1.0, 0.0]))})
            s.record("federated_calibrate", f"{len(rows)} calibration rows of one outcome class; abstained")
            return _reply(message, arrays, {"num-examples": 0.0})
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
        config = _config(message)
        if "lam" in config and len(test):
            # Ditto: the site's own fine-tuned model stays here; only its held-out metrics travel.
            mine = personalise(s.data, _prep(config), arrays_in["theta"].numpy(), float(config["lam"]))  # type: ignore[arg-type]
            p_own = mine.predict(_prep(config), test)
            own = site_metrics(y, p_own, test[[]])  # no subgroup table: the global model's is the one reported
            metrics.update({f"personalised_{k}": v for k, v in own.items()})
            metrics["personalised_mu"] = mine.mu if np.isfinite(mine.mu) else -1.0
            arrays["histogram_personalised"] = Array(risk_histogram(y, p_own))
        s.record("federated_final_evaluation", f"{len(test)} held-out rows scored; sent {_shapes(arrays)}")
        return _reply(message, arrays, metrics)

    from carepilot.federated.boosting import register_boosting  # imported here: it imports this module

    register_boosting(app, site)
    return app
