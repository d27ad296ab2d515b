"""``carepilot serve`` (dashboard + CDS Hooks + FHIR API) and ``carepilot auth`` (development tokens and curl lines)."""

from __future__ import annotations

import shlex
import uuid
from typing import Annotated

import orjson
import typer

from carepilot.cli.console import console, settings
from carepilot.config import Settings
from carepilot.errors import ConfigurationError

auth_app = typer.Typer(
    help="Development credentials: user access tokens and CDS client JWTs (CAREPILOT_DEV=1 only).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("serve", help="Serve the dashboard, the CDS Hooks service and the FHIR API (uvicorn, one worker).")(
        serve_command
    )
    app.add_typer(auth_app, name="auth")


def serve(
    settings: Settings, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning", warm: bool = True
) -> None:
    """Run the app with uvicorn until interrupted (callable from other commands, e.g. a demo).

    With ``warm``, every patient's Insights are computed in a background thread so the patient list's flag
    column is filled without opening each chart first.
    """
    import threading

    import uvicorn

    from carepilot.api.app import create_app

    app = create_app(settings)
    if warm:
        threading.Thread(target=app.state.services.dashboard.refresh, name="warm-insights", daemon=True).start()
    console.print(f"CarePilot on http://{host}:{port}/dashboard  (CDS Hooks: /cds-services, FHIR: /fhir/metadata)")
    if settings.dev:
        console.print("Development mode: sign in on /dashboard/login with a role, or `carepilot auth token --role ...`")
    uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level, access_log=False)


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    warm: Annotated[bool, typer.Option(help="Compute every patient's Insights in the background at start.")] = True,
) -> None:
    serve(settings(), host, port, warm=warm)


def dev_token(settings: Settings, audience: str, lifetime_s: int = 300) -> str:
    """A JWT signed by the local development issuer for ``audience`` (a CDS service endpoint URL)."""
    from carepilot.security.jwt import DEV_ISSUER, ensure_dev_issuer, mint_token

    if not settings.dev:
        raise ConfigurationError("development tokens need CAREPILOT_DEV=1 (the dev issuer is trusted only then)")
    key = ensure_dev_issuer(settings.home)
    return mint_token(key, iss=DEV_ISSUER, aud=audience, lifetime_s=lifetime_s, extra={"sub": "carepilot-dev-client"})


def patient_view_curl(settings: Settings, patient_id: str, base_url: str = "http://127.0.0.1:8000") -> str:
    """A ready-to-paste curl for the patient-view service with a fresh development JWT."""
    base = base_url.rstrip("/")
    endpoint = f"{base}/cds-services/carepilot-patient-view"
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
    }
    token = dev_token(settings, endpoint)
    return (
        f"curl -s -X POST {shlex.quote(endpoint)} -H 'Content-Type: application/json' "
        f"-H {shlex.quote('Authorization: Bearer ' + token)} -d {shlex.quote(orjson.dumps(body).decode())}"
    )


@auth_app.command("cds-token", help="Print a signed ES384 JWT from the development issuer, for curl.")
def cds_token(
    service: Annotated[str, typer.Option(help="CDS service id the token is for.")] = "carepilot-patient-view",
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where the service is reached.")
    ] = "http://127.0.0.1:8000",
    lifetime: Annotated[int, typer.Option(help="Seconds until the token expires.")] = 300,
) -> None:
    audience = f"{base_url.rstrip('/')}/cds-services/{service}"
    typer.echo(dev_token(settings(), audience, lifetime))


@auth_app.command("curl", help="Print a ready-to-paste curl for the patient-view hook with a fresh development JWT.")
def curl(
    patient_id: Annotated[str, typer.Argument(help="Patient id in the store.")],
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where the service is reached.")
    ] = "http://127.0.0.1:8000",
) -> None:
    typer.echo(patient_view_curl(settings(), patient_id, base_url))


def dev_access_token(
    settings: Settings,
    role: str,
    *,
    base_url: str = "http://127.0.0.1:8000",
    patient: str | None = None,
    sites: list[str] | None = None,
    care_team: list[str] | None = None,
    lifetime_s: int = 300,
    subject: str | None = None,
) -> str:
    """A user access token from the local development issuer (refused unless CAREPILOT_DEV=1)."""
    from carepilot.api.auth import dev_user_issuer_dir
    from carepilot.security.policy import DEFAULT_SCOPES
    from carepilot.security.principal import Role
    from carepilot.security.tokens import DEV_USER_ISSUER, ensure_key, mint_access_token

    if not settings.dev:
        raise ConfigurationError("development tokens need CAREPILOT_DEV=1 (the dev issuer is trusted only then)")
    try:
        picked = Role(role)
    except ValueError as exc:
        raise ConfigurationError(f"role must be one of {', '.join(r.value for r in Role)}, got {role!r}") from exc
    if picked is Role.PATIENT and not patient:
        raise ConfigurationError("a patient-role token needs --patient ID")
    audience = settings.auth_audience or f"{(settings.public_url or base_url).rstrip('/')}/fhir"
    return mint_access_token(
        ensure_key(dev_user_issuer_dir(settings)),
        iss=DEV_USER_ISSUER,
        aud=audience,
        sub=subject or f"dev-{picked.value}",
        role=picked.value,
        scopes=DEFAULT_SCOPES[picked],
        patient=patient,
        sites=sites or ([] if picked is Role.PATIENT else ["*"]),
        care_team=care_team or [],
        lifetime_s=lifetime_s,
    )


@auth_app.command("token", help="Print a signed access token for a role from the development issuer.")
def token(
    role: Annotated[str, typer.Option(help="clinician, care_manager, data_scientist, administrator, patient, ...")],
    patient: Annotated[str | None, typer.Option(help="The patient's own record (patient role).")] = None,
    site: Annotated[list[str] | None, typer.Option(help="A site the user works at (repeat; '*' = every site).")] = None,
    care_team: Annotated[list[str] | None, typer.Option(help="A patient id on the user's care team (repeat).")] = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where the service is reached.")
    ] = "http://127.0.0.1:8000",
    lifetime: Annotated[int, typer.Option(help="Seconds until the token expires.")] = 300,
) -> None:
    typer.echo(
        dev_access_token(
            settings(), role, base_url=base_url, patient=patient, sites=site, care_team=care_team, lifetime_s=lifetime
        )
    )
