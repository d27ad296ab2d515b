"""``carepilot federate``: prepare site stores, run a hospital's client, the coordinating server, or everything."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carepilot.cli.console import console, print_json, settings
from carepilot.errors import InputError

if TYPE_CHECKING:
    from carepilot.federated.boosting import BoostingPlan
    from carepilot.federated.server import FederationPlan

MODELS = ("logistic", "boosted")

federate_app = typer.Typer(help="Federated training across sites with Flower (records never leave a site).")


def register(app: typer.Typer) -> None:
    app.add_typer(federate_app, name="federate")


def _plan(
    rounds: int,
    min_clients: int,
    mu: float,
    dp: bool,
    noise: float,
    clip: float,
    secagg: bool = False,
    shares: str = "1.0",
    threshold: str = "0.6",
    *,
    model: str = "logistic",
) -> FederationPlan | BoostingPlan:
    from carepilot.federated.boosting import BoostingPlan
    from carepilot.federated.deploy import count_or_fraction
    from carepilot.federated.server import FederationPlan, PrivacyPlan, SecAggPlan

    if model not in MODELS:
        raise InputError(f"--model {model}: use one of {', '.join(MODELS)}")
    if model == "boosted":
        if dp or secagg:
            raise InputError(
                "--dp and --secagg apply to the logistic model only (boosted trees send whole trees, not updates)"
            )
        return BoostingPlan(rounds=rounds, min_clients=min_clients)
    privacy = PrivacyPlan(noise_multiplier=noise, clipping_norm=clip) if dp else None
    secure = None
    if secagg:
        secure = SecAggPlan(
            num_shares=count_or_fraction(shares, "--secagg-shares"),
            reconstruction_threshold=count_or_fraction(threshold, "--secagg-threshold"),
        )
    return FederationPlan(
        rounds=rounds, min_clients=min_clients, proximal_mu=mu, privacy=privacy, secure_aggregation=secure
    )


Rounds = Annotated[int, typer.Option("--rounds", help="Federated training rounds.")]
Mu = Annotated[float, typer.Option("--proximal-mu", help="FedProx mu (0 = FedAvg).")]
Dp = Annotated[bool, typer.Option("--dp", help="Differential privacy: client-side clipping + Gaussian noise.")]
Noise = Annotated[float, typer.Option("--noise-multiplier", help="DP noise multiplier.")]
Clip = Annotated[float, typer.Option("--clipping-norm", help="DP clipping norm of a site's update.")]
SecAgg = Annotated[
    bool, typer.Option("--secagg", help="Secure aggregation (SecAgg+): the server sees only the sum of updates.")
]
Shares = Annotated[
    str, typer.Option("--secagg-shares", help="SecAgg+ key shares per site: a count, or a fraction of the sites.")
]
Threshold = Annotated[
    str,
    typer.Option("--secagg-threshold", help="SecAgg+ shares needed to unmask: a count, or a fraction of the shares."),
]
Register = Annotated[bool, typer.Option("--register/--no-register", help="Register the model in this home.")]
Model = Annotated[
    str, typer.Option("--model", help="logistic (FedProx) or boosted (XGBoost trees, Flower FedXgbBagging).")
]


@federate_app.command("prepare")
def prepare(
    population: Annotated[Path, typer.Option("--population", help="A synthetic NDJSON population folder.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to create one store per site in.")],
) -> None:
    """Split a synthetic population by managing organisation and ingest each site into its own store."""
    from carepilot.federated.sites import ingest_site, split_population

    for name in split_population(population, out):
        console.print(f"{name}: {ingest_site(out / name)}")


@federate_app.command("client")
def client(
    site: Annotated[str, typer.Option("--site", help="This site's name (as the server will report it).")],
    store: Annotated[str, typer.Option("--store", help="The site's database URL or CarePilot home folder.")],
    superlink: Annotated[str, typer.Option("--superlink", help="host:port of the server's SuperLink.")],
) -> None:
    """Run this hospital's Flower SuperNode; it answers the server's rounds from the local store only."""
    from carepilot.federated.deploy import child_env, free_port, store_url, supernode_command

    store_url(store)  # refuses a store that does not exist before Flower starts
    home = Path(store) if "://" not in store else settings().home
    cmd = supernode_command(superlink, site, store, home.resolve(), free_port())
    os.execvpe(cmd[0], cmd, child_env())


@federate_app.command("server")
def server(
    rounds: Rounds = 20,
    min_clients: Annotated[int, typer.Option("--min-clients", help="Sites that must join before training.")] = 2,
    port: Annotated[int, typer.Option("--port", help="Loopback port of the SuperLink.")] = 9092,
    proximal_mu: Mu = 0.1,
    dp: Dp = False,
    noise_multiplier: Noise = 1.0,
    clipping_norm: Clip = 0.1,
    secagg: SecAgg = False,
    secagg_shares: Shares = "1.0",
    secagg_threshold: Threshold = "0.6",
    register_model: Register = True,
    model: Model = "logistic",
    out: Annotated[Path, typer.Option("--out", help="Where to write the run's JSON summary.")] = Path(
        "federated-result.json"
    ),
) -> None:
    """Run the SuperLink and the ServerApp; waits for ``--min-clients`` sites, trains, calibrates, evaluates."""
    from carepilot.federated.deploy import serve

    s = settings()
    s.ensure_home()
    plan = _plan(
        rounds,
        min_clients,
        proximal_mu,
        dp,
        noise_multiplier,
        clipping_norm,
        secagg,
        secagg_shares,
        secagg_threshold,
        model=model,
    )
    code = serve(
        plan, s.home / "federated-server", port, out.resolve(), s.models_dir if register_model else None, 3600.0
    )
    if code != 0:
        raise typer.Exit(code)
    console.print(f"result written to {out}")


@federate_app.command("run")
def run(
    sites_dir: Annotated[Path, typer.Option("--sites-dir", help="Folder with one CarePilot home per site.")],
    rounds: Rounds = 20,
    proximal_mu: Mu = 0.1,
    dp: Dp = False,
    noise_multiplier: Noise = 1.0,
    clipping_norm: Clip = 0.1,
    secagg: SecAgg = False,
    secagg_shares: Shares = "1.0",
    secagg_threshold: Threshold = "0.6",
    register_model: Register = True,
    model: Model = "logistic",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Start the server and one client per site as separate processes on loopback and wait for the result."""
    from carepilot.federated.deploy import run_all

    homes = sorted(p for p in sites_dir.iterdir() if (p / "carepilot.db").is_file()) if sites_dir.is_dir() else []
    if len(homes) < 2:
        raise InputError(f"{sites_dir} needs at least two site folders with a carepilot.db")
    s = settings()
    s.ensure_home()
    plan = _plan(
        rounds,
        len(homes),
        proximal_mu,
        dp,
        noise_multiplier,
        clipping_norm,
        secagg,
        secagg_shares,
        secagg_threshold,
        model=model,
    )
    work = s.home / "federated-run"
    sites = [(h.name, str(h.resolve()), h.resolve()) for h in homes]
    result = run_all(sites, plan, work, (work / "result.json").resolve(), s.models_dir if register_model else None)
    if as_json:
        print_json(result)
        return
    console.print(f"pooled held-out AUROC {result['pooled']['auroc']:.3f} after {result['rounds']} rounds")
    for name, m in sorted(result["sites"].items()):
        console.print(f"  {name}: n={m['n']:.0f} AUROC={m.get('auroc', float('nan')):.3f}")
