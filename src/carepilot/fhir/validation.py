"""FHIR R4 validation with ``fhir.resources``.

fhir.resources ships R5 (default), R4B and STU3 models but no R4 package; R4B is wire-compatible with R4 for
every resource type CarePilot reads (Patient, Observation, Condition, Encounter, Medication*, AllergyIntolerance,
Procedure, DiagnosticReport, Immunization, CarePlan, Claim, ExplanationOfBenefit ...: all 25 Synthea R4 bundles
validate unchanged). The gaps are the R4 resource types that R4B removed or renamed; a resource of such a type is
quarantined with a reason that says so rather than accepted unvalidated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

# R4 resource types that R4B replaced (FHIR R4B "Changes from R4"): no R4B model can validate them.
R4_ONLY_TYPES = frozenset(
    {
        "EffectEvidenceSynthesis",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "RiskEvidenceSynthesis",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
    }
)


@dataclass(frozen=True)
class Problem:
    """Why a resource was refused: a stable code for counting and a sentence a person can act on."""

    code: str
    message: str


@lru_cache(maxsize=256)
def _model_class(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def validate_resource(resource: Any) -> Problem | None:
    """Validate one resource dict against the FHIR R4 (R4B) model; None when it is valid."""
    if not isinstance(resource, dict):
        return Problem("not_a_resource", f"expected a JSON object, got {type(resource).__name__}")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return Problem("missing_resource_type", "the object has no 'resourceType'")
    if resource_type in R4_ONLY_TYPES:
        return Problem(
            "r4_type_not_supported",
            f"{resource_type} is an R4 resource type with no R4B model (renamed or removed in R4B); not validated",
        )
    try:
        model = _model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return Problem("unknown_resource_type", f"'{resource_type}' is not a FHIR R4 resource type")
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return Problem("validation_failed", describe_errors(resource_type, exc))
    except (TypeError, ValueError) as exc:  # fhir.resources raises these for some primitive checks
        return Problem("validation_failed", f"{resource_type}: {exc}")
    return None


def describe_errors(resource_type: str, exc: ValidationError, limit: int = 3) -> str:
    """Turn pydantic's errors into 'Observation.status: Field required; ...' (paths, never values)."""
    parts: list[str] = []
    errors = exc.errors(include_input=False, include_url=False)
    for err in errors[:limit]:
        path = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        parts.append(
            f"{resource_type}.{path}: {err.get('msg', 'invalid')}" if path else f"{resource_type}: {err.get('msg')}"
        )
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)
