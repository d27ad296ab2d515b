"""The model page shows each registered model's calibration figure, served from the registry's plots folder."""

from __future__ import annotations

import json

import numpy as np

from carepilot.api.app import create_app
from carepilot.config import Settings
from carepilot.models.plots import plot_calibration
from tests.api import client_for


def test_the_model_page_shows_the_calibration_figure_of_a_registered_model(tmp_path):
    settings = Settings(home=tmp_path / "home", dev=True)
    settings.ensure_home()
    folder = settings.models_dir / "deterioration" / "1"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps({"model_id": "deterioration", "metrics": {"auroc": 0.75}}))
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.5, 400)
    plot_calibration(
        {"logistic": (rng.random(400) < p, p)}, settings.models_dir / "plots" / "deterioration_calibration.png", "t"
    )
    client = client_for(create_app(settings), role="model_owner")
    page = client.get("/dashboard/models/deterioration").text
    assert 'src="/dashboard/calibration/deterioration.png"' in page
    image = client.get("/dashboard/calibration/deterioration.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_unknown_or_malformed_figure_names_are_not_found(tmp_path):
    settings = Settings(home=tmp_path / "home", dev=True)
    settings.ensure_home()
    client = client_for(create_app(settings), role="model_owner")
    assert client.get("/dashboard/calibration/readmission.png").status_code == 404
    assert client.get("/dashboard/calibration/..%2Findex.png").status_code == 404
