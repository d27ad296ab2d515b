from carepilot.fhir.validation import validate_resource
from tests import samples


def test_a_valid_observation_passes():
    assert validate_resource(samples.observation("o1")) is None


def test_a_missing_required_field_names_the_field():
    bad = samples.observation("o1")
    del bad["status"]
    problem = validate_resource(bad)
    assert problem is not None and problem.code == "validation_failed"
    assert "Observation.status" in problem.message


def test_a_wrong_type_names_the_path_but_never_the_value():
    bad = samples.patient(birth="not-a-date-1960")
    problem = validate_resource(bad)
    assert problem is not None and "birthDate" in problem.message
    assert "not-a-date-1960" not in problem.message


def test_unknown_and_missing_resource_types_have_their_own_reasons():
    assert validate_resource({"resourceType": "Banana", "id": "x"}).code == "unknown_resource_type"
    assert validate_resource({"id": "x"}).code == "missing_resource_type"
    assert validate_resource(["not", "an", "object"]).code == "not_a_resource"


def test_r4_types_missing_from_r4b_are_refused_with_an_explanation():
    problem = validate_resource({"resourceType": "MedicinalProduct", "id": "m"})
    assert problem is not None and problem.code == "r4_type_not_supported"
