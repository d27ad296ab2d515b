"""Model cards: every HTI-1 source attribute present with a value, JSON round trip, markdown, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from carepilot.cli.app import app
from carepilot.errors import InputError
from carepilot.models.cards import HTI1_COUNT, ModelCard, hti1_attributes, representation


def card(**overrides: object) -> ModelCard:
    base: dict[str, object] = {
        "model_id": "readmission-30d",
        "version": "1",
        "title": "30-day readmission (diabetes encounters)",
        "outcome": "30-day readmission",
        "model_type": "LightGBM, Platt-calibrated",
        "training_window": "1999-2008",
        "training_population": "Synthetic test population",
        "intended_use": "Flag inpatients at high risk of readmission for discharge planning",
        "intended_users": "Discharge planners and ward clinicians",
        "intended_population": "Adult inpatients with diabetes",
        "out_of_scope": ["Paediatric patients", "Deciding who is admitted"],
        "limitations": ["No external validation", "US hospitals 1999-2008 only"],
        "metrics": {"auroc": 0.68, "brier": 0.095, "calibration_slope": 1.01},
        "subgroups": [
            {
                "attribute": "sex",
                "groups": [
                    {
                        "group": "F",
                        "n": 10,
                        "events": 2,
                        "auroc": 0.7,
                        "fnr": 0.4,
                        "calibration_in_the_large": 0.01,
                    }
                ],
                "largest_gap": {"auroc": 0.02, "fnr": 0.05, "calibration_in_the_large": 0.01},
            }
        ],
        "training_data": {
            "inclusion_exclusion": "Excluded discharges to hospice or death",
            "demographics": representation(pd.DataFrame({"sex": ["F", "M", "F", None]})),
        },
        "features": ["age_years", "gender", "hba1c"],
        "demographic_features": {"gender": "sex", "age_years": "date of birth"},
        "methods": {"validation": "5-fold CV grouped by patient", "interval": "bootstrap (Efron 1993)"},
    }
    base.update(overrides)
    return ModelCard(**base)  # type: ignore[arg-type]


def test_the_data_file_lists_all_31_hti1_attributes_once() -> None:
    attrs = hti1_attributes()
    assert len(attrs) == HTI1_COUNT == 31
    assert len({a.paragraph for a in attrs}) == 31
    per_paragraph = [a.paragraph.split(")")[0].strip("(") for a in attrs]
    # (B)(1)..(9) hold 4, 4, 2, 4, 2, 4, 5, 4 and 2 items, in the regulation's order.
    assert [per_paragraph.count(str(i)) for i in range(1, 10)] == [4, 4, 2, 4, 2, 4, 5, 4, 2]
    assert per_paragraph == sorted(per_paragraph, key=int)
    by_id = {a.id: a.paragraph for a in attrs}
    assert by_id["validity_local"] == "(8)(ii)" and by_id["fairness_local"] == "(8)(iv)"
    assert by_id["outcome_evaluation_references"] == "(7)(v)"


def test_card_json_has_every_hti1_attribute_with_a_value() -> None:
    data = json.loads(card().to_json())
    attrs = data["hti1_source_attributes"]
    assert len(attrs) == 31
    for attr in attrs:
        assert attr["value"].strip(), attr["id"]
        if attr["value"].startswith("not applicable"):
            # An honest "not applicable" says why.
            assert re.match(r"not applicable[^:]*: \S", attr["value"]), attr["value"]


def test_card_derives_attribute_values_from_its_own_fields() -> None:
    values = {a["id"]: a["value"] for a in card().source_attributes()}
    assert "auroc 0.680" in values["validity_same_source"]
    assert "sex: largest gap auroc 0.020" in values["fairness_same_source"]
    assert "sex (feature 'gender')" in values["demographic_variables_used"]
    assert "race" in values["demographic_variables_used"].split("Not used:")[1]
    assert "F 50.0%" in values["demographic_representativeness"]
    assert values["training_inclusion_exclusion"] == "Excluded discharges to hospice or death"
    assert values["external_validation_party"].startswith("not applicable")


def test_explicit_attribute_overrides_the_default_and_unknown_ids_are_rejected() -> None:
    values = {a["id"]: a["value"] for a in card(attributes={"funding_source": "Grant X"}).source_attributes()}
    assert values["funding_source"] == "Grant X"
    with pytest.raises(InputError, match="unknown HTI-1"):
        card(attributes={"made_up": "x"}).source_attributes()


def test_card_round_trips_through_json_and_renders_markdown(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text(card().to_json())
    again = ModelCard.read(path)
    assert again.to_dict() == card().to_dict()
    md = again.to_markdown()
    for heading in (
        "## Intended use",
        "## Out-of-scope use",
        "## Known limitations",
        "## Subgroups",
        "## ONC HTI-1 source attributes",
    ):
        assert heading in md
    assert md.count("| (B)(") == 31


def test_reading_a_card_missing_fields_names_them(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"model_id": "x"}))
    with pytest.raises(InputError, match="outcome"):
        ModelCard.read(path)


def test_model_card_show_command_prints_the_card(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text(card().to_json())
    result = CliRunner().invoke(app, ["model-card", "show", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["hti1_source_attributes"]) == 31
    shown = CliRunner().invoke(app, ["model-card", "show", str(path)])
    assert "Intended use" in shown.output
