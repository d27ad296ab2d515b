"""A small FHIR REST client (read and search with paging) on httpx; the transport is injectable for tests."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson

from carepilot.errors import CarePilotError

log = logging.getLogger(__name__)

MAX_PAGES = 20


class FhirFetchError(CarePilotError):
    """The FHIR server could not be reached or refused the request."""


class FhirClient:
    """Reads resources and searchsets from one FHIR server with an optional bearer token."""

    def __init__(
        self,
        base_url: str,
        access_token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/fhir+json"}
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        self._client = httpx.Client(transport=transport, timeout=timeout_s, headers=headers)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, relative: str) -> dict[str, Any]:
        """GET ``base/relative`` (or an absolute URL a server handed back) as JSON."""
        url = relative if relative.startswith(("http://", "https://")) else f"{self.base_url}/{relative.lstrip('/')}"
        try:
            response = self._client.get(url)
        except httpx.HTTPError as exc:
            raise FhirFetchError(f"FHIR server unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise FhirFetchError(f"FHIR server answered {response.status_code} for a {relative.split('?')[0]} request")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise FhirFetchError("FHIR server answered with a body that is not JSON") from exc
        if not isinstance(body, dict):
            raise FhirFetchError("FHIR server answered with JSON that is not a resource")
        return body

    def resources(self, relative: str) -> list[dict[str, Any]]:
        """The resources a read or search returns; a searchset is followed through its ``next`` links."""
        body = self.get(relative)
        if body.get("resourceType") != "Bundle":
            return [body]
        found: list[dict[str, Any]] = []
        for _page in range(MAX_PAGES):
            found += [
                e["resource"]
                for e in body.get("entry", []) or []
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            ]
            following = next(
                (link.get("url") for link in body.get("link", []) or [] if link.get("relation") == "next"), None
            )
            if not following:
                return found
            body = self.get(following)
        log.warning("FHIR search stopped after %d pages", MAX_PAGES)
        return found
