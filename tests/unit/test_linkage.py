"""Identity resolution: the record a Patient becomes, the decisions on scored pairs, persons from links."""

import pandas as pd
import pytest

from carepilot.errors import InputError
from carepilot.ingest.linkage import Thresholds, decide, golden_id, one_to_one, pair_key, persons
from carepilot.ingest.linkage_model import comparable_fields, linkage_record, name_forms


def patient(pid, given, family, birth, **extra):
    resource = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "birthDate": birth,
        "gender": "female",
    }
    resource.update(extra)
    return resource


def test_a_patient_becomes_a_case_folded_record_with_its_swapped_birth_date_and_phone_digits():
    r = linkage_record(
        patient(
            "p1", "BILL", "NELSON", "1969-08-06",
            telecom=[{"system": "phone", "value": "555-299-2863"}],
            address=[{"postalCode": "92501"}],
            identifier=[{"system": "http://x/mrn", "value": "M1"}],
        ),
        "ehr",
    )  # fmt: skip
    assert r["given"] == "bill" and r["family"] == "nelson"
    assert r["birth_swapped"] == "1969-06-08" and r["birth_year"] == "1969"
    assert r["phone"] == "5552992863" and r["postcode"] == "92501"
    assert (r["id_system"], r["id_value"]) == ("http://x/mrn", "M1")
    assert "william" in r["given_names"]


def test_nicknames_resolve_to_their_formal_names_in_english_and_spanish():
    assert "william" in name_forms("Bill")
    assert "guadalupe" in name_forms("Lupe")
    assert name_forms("Zzyzx") == ("zzyzx",)


def test_a_patient_without_name_or_birth_date_still_gives_a_record():
    r = linkage_record({"resourceType": "Patient", "id": "p2"}, "lab")
    assert r["given"] is None and r["birth_date"] is None and r["given_names"] is None


def test_fields_only_one_source_carries_are_not_compared():
    records = pd.DataFrame(
        {
            "source": ["ehr", "ehr", "lab"],
            "postcode": ["1", "2", None],
            "phone": ["5", None, "6"],
            "id_system": ["mrn", "mrn", "lab"],
            "id_value": ["a", "b", "c"],
        }
    )
    assert comparable_fields(records) == {"phone"}


def scored(rows):
    return pd.DataFrame(
        rows, columns=["left_id", "right_id", "left_source", "right_source", "match_weight", "match_probability"]
    )


def test_pairs_are_linked_queued_or_left_by_the_thresholds():
    pairs = scored(
        [
            ("e1", "l1", "ehr", "lab", 12.0, 0.9998),
            ("e2", "l2", "ehr", "lab", 4.0, 0.94),
            ("e3", "l3", "ehr", "lab", -1.0, 0.33),
        ]
    )
    out = decide(pairs, Thresholds(upper=6, lower=2))
    assert out["decision"].tolist() == ["auto", "review", "none"]


def test_each_record_links_to_its_best_candidate_in_the_other_source_only():
    pairs = scored(
        [
            ("e1", "l1", "ehr", "lab", 10.0, 0.999),
            ("e2", "l1", "ehr", "lab", 9.0, 0.998),  # a namesake of e1: l1 is already taken
            ("e2", "l2", "ehr", "lab", 7.0, 0.99),
        ]
    )
    assert one_to_one(pairs).tolist() == [True, False, True]
    out = decide(pairs, Thresholds(upper=6, lower=2))
    assert out["decision"].tolist() == ["auto", "none", "auto"]


def test_a_reviewer_decision_wins_over_the_thresholds():
    pairs = scored([("e1", "l1", "ehr", "lab", 12.0, 0.9998), ("e2", "l2", "ehr", "lab", 3.0, 0.9)])
    decisions = {pair_key("l1", "e1"): "rejected", pair_key("e2", "l2"): "accepted"}
    out = decide(pairs, Thresholds(upper=6, lower=2), decisions)
    assert out["decision"].tolist() == ["rejected", "reviewed"]


def test_linked_records_form_one_person_with_a_stable_golden_id():
    pairs = scored([("e1", "l1", "ehr", "lab", 12.0, 0.99), ("l1", "w1", "lab", "wearable", 9.0, 0.97)])
    pairs["decision"] = ["auto", "reviewed"]
    records = pd.DataFrame({"unique_id": ["e1", "l1", "w1", "e9"], "source": ["ehr", "lab", "wearable", "ehr"]})
    out = persons(pairs, records)
    assert set(out["patient_id"]) == {"e1", "l1", "w1"}
    assert out["golden_id"].nunique() == 1 and out["golden_id"].iloc[0] == golden_id(["w1", "l1", "e1"])
    assert dict(zip(out["patient_id"], out["status"], strict=True))["w1"] == "reviewed"


def test_a_review_threshold_above_the_link_threshold_is_refused():
    with pytest.raises(InputError):
        Thresholds(upper=2, lower=6)
