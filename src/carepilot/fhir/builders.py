"""Small pure functions that build FHIR R4 resources as plain JSON dicts.

Written by hand rather than through ``fhir.resources`` model classes because the synthetic population writes
millions of resources and model construction costs tens of microseconds each; the output is validated against
the R4B models in the tests instead. References are written as ``Type/id`` so the same dict serves a
transaction Bundle and Bulk Data NDJSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
HGNC = "http://www.genenames.org"
HGVS = "http://varnomen.hgvs.org"
OMB_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
BCP47 = "urn:ietf:bcp:47"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
GENOMICS_REPORTING = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition"

Json = dict[str, Any]


def ref(resource_type: str, resource_id: str) -> Json:
    """A literal reference ``Type/id``."""
    return {"reference": f"{resource_type}/{resource_id}"}


def coding(system: str, code: str, display: str | None = None) -> Json:
    """One Coding."""
    out: Json = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def codeable(system: str, code: str, display: str | None = None, text: str | None = None) -> Json:
    """A CodeableConcept with one coding."""
    out: Json = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


def quantity(value: float, unit: str) -> Json:
    """A UCUM Quantity."""
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def organization(org_id: str, name: str, identifier_system: str, identifier_value: str) -> Json:
    """An Organization (a care site or an outside laboratory)."""
    return {
        "resourceType": "Organization",
        "id": org_id,
        "active": True,
        "identifier": [{"system": identifier_system, "value": identifier_value}],
        "name": name,
    }


def identifier(system: str, value: str, type_code: str = "MR", type_display: str = "Medical record number") -> Json:
    """A Patient identifier with its v2-0203 type."""
    return {
        "use": "usual",
        "type": codeable(IDENTIFIER_TYPE, type_code, type_display),
        "system": system,
        "value": value,
    }


def _omb_extension(url: str, code: str, display: str) -> Json:
    return {
        "url": url,
        "extension": [
            {"url": "ombCategory", "valueCoding": coding(OMB_RACE_ETHNICITY, code, display)},
            {"url": "text", "valueString": display},
        ],
    }


def patient(
    patient_id: str,
    *,
    identifiers: Sequence[Json],
    family: str,
    given: Sequence[str],
    gender: str,
    birth_date: str,
    race: tuple[str, str] | None,
    ethnicity: tuple[str, str] | None,
    language: tuple[str, str] | None,
    address: Json | None,
    phone: str | None,
    managing_organization: str | None,
) -> Json:
    """A Patient with US Core race/ethnicity extensions (OMB codes) and a preferred language."""
    out: Json = {"resourceType": "Patient", "id": patient_id}
    extensions = []
    if race is not None:
        extensions.append(_omb_extension(US_CORE_RACE, race[0], race[1]))
    if ethnicity is not None:
        extensions.append(_omb_extension(US_CORE_ETHNICITY, ethnicity[0], ethnicity[1]))
    if extensions:
        out["extension"] = extensions
    out["identifier"] = list(identifiers)
    out["active"] = True
    out["name"] = [{"use": "official", "family": family, "given": list(given)}]
    if phone:
        out["telecom"] = [{"system": "phone", "value": phone, "use": "home"}]
    out["gender"] = gender
    out["birthDate"] = birth_date
    if address is not None:
        out["address"] = [address]
    if language is not None:
        out["communication"] = [{"language": codeable(BCP47, language[0], language[1]), "preferred": True}]
    if managing_organization:
        out["managingOrganization"] = ref("Organization", managing_organization)
    return out


def address(line: str, city: str, state: str, postal_code: str) -> Json:
    """A home Address in the US."""
    return {
        "use": "home",
        "line": [line],
        "city": city,
        "state": state,
        "postalCode": postal_code,
        "country": "US",
    }


ENCOUNTER_CLASS_DISPLAY = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient encounter"}


def encounter(
    encounter_id: str,
    patient_id: str,
    *,
    class_code: str,
    start: str,
    end: str,
    type_code: tuple[str, str],
    reason: tuple[str, str] | None = None,
    discharge_disposition: tuple[str, str] | None = None,
    service_provider: str | None = None,
) -> Json:
    """A finished Encounter (AMB, EMER or IMP); inpatient stays carry a discharge disposition."""
    out: Json = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": "finished",
        "class": coding(ACT_CODE, class_code, ENCOUNTER_CLASS_DISPLAY.get(class_code)),
        "type": [codeable(SNOMED, type_code[0], type_code[1])],
        "subject": ref("Patient", patient_id),
        "period": {"start": start, "end": end},
    }
    if reason is not None:
        out["reasonCode"] = [codeable(SNOMED, reason[0], reason[1])]
    if discharge_disposition is not None:
        out["hospitalization"] = {
            "dischargeDisposition": codeable(DISCHARGE_DISPOSITION, discharge_disposition[0], discharge_disposition[1])
        }
    if service_provider:
        out["serviceProvider"] = ref("Organization", service_provider)
    return out


def _observation_head(
    observation_id: str,
    patient_id: str,
    code: tuple[str, str, str],
    category: str,
    effective: str,
    encounter_id: str | None,
    performer: str | None,
) -> Json:
    out: Json = {
        "resourceType": "Observation",
        "id": observation_id,
        "status": "final",
        "category": [codeable(OBS_CATEGORY, category)],
        "code": codeable(code[0], code[1], code[2]),
        "subject": ref("Patient", patient_id),
    }
    if encounter_id:
        out["encounter"] = ref("Encounter", encounter_id)
    out["effectiveDateTime"] = effective
    if performer:
        out["performer"] = [ref("Organization", performer)]
    return out


def observation_quantity(
    observation_id: str,
    patient_id: str,
    *,
    code: tuple[str, str, str],
    value: float,
    unit: str,
    effective: str,
    category: str,
    encounter_id: str | None = None,
    performer: str | None = None,
) -> Json:
    """An Observation with a valueQuantity (a lab result, a vital sign, a score)."""
    out = _observation_head(observation_id, patient_id, code, category, effective, encounter_id, performer)
    out["valueQuantity"] = quantity(value, unit)
    return out


def component_quantity(code: tuple[str, str, str], value: float, unit: str) -> Json:
    """An Observation.component with a valueQuantity."""
    return {"code": codeable(code[0], code[1], code[2]), "valueQuantity": quantity(value, unit)}


def component_codeable(code: tuple[str, str, str], value: Json) -> Json:
    """An Observation.component with a valueCodeableConcept."""
    return {"code": codeable(code[0], code[1], code[2]), "valueCodeableConcept": value}


def observation_components(
    observation_id: str,
    patient_id: str,
    *,
    code: tuple[str, str, str],
    components: Iterable[Json],
    effective: str,
    category: str,
    encounter_id: str | None = None,
    value: Json | None = None,
    performer: str | None = None,
) -> Json:
    """A panel Observation (blood pressure, a genomic finding) whose values sit in components."""
    out = _observation_head(observation_id, patient_id, code, category, effective, encounter_id, performer)
    if value is not None:
        out["valueCodeableConcept"] = value
    out["component"] = list(components)
    return out


def observation_codeable(
    observation_id: str,
    patient_id: str,
    *,
    code: tuple[str, str, str],
    value: Json,
    effective: str,
    category: str,
    encounter_id: str | None = None,
    performer: str | None = None,
) -> Json:
    """An Observation whose value is a CodeableConcept (receptor status, MSI, phenotype)."""
    out = _observation_head(observation_id, patient_id, code, category, effective, encounter_id, performer)
    out["valueCodeableConcept"] = value
    return out


def condition(
    condition_id: str,
    patient_id: str,
    *,
    code: tuple[str, str, str],
    onset: str,
    recorded: str,
    active: bool = True,
    abatement: str | None = None,
    encounter_id: str | None = None,
) -> Json:
    """A confirmed problem-list Condition."""
    out: Json = {
        "resourceType": "Condition",
        "id": condition_id,
        "clinicalStatus": codeable(CONDITION_CLINICAL, "active" if active else "resolved"),
        "verificationStatus": codeable(CONDITION_VERIFICATION, "confirmed"),
        "category": [codeable(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": codeable(code[0], code[1], code[2]),
        "subject": ref("Patient", patient_id),
    }
    if encounter_id:
        out["encounter"] = ref("Encounter", encounter_id)
    out["onsetDateTime"] = onset
    if abatement and not active:
        out["abatementDateTime"] = abatement
    out["recordedDate"] = recorded
    return out


def medication_request(
    request_id: str,
    patient_id: str,
    *,
    rxnorm: str,
    display: str,
    authored_on: str,
    dose_mg: float | None,
    frequency_per_day: int,
    dosage_text: str,
    status: str = "active",
    encounter_id: str | None = None,
) -> Json:
    """An outpatient MedicationRequest coded with RxNorm and a structured dose."""
    dosage: Json = {
        "text": dosage_text,
        "timing": {"repeat": {"frequency": frequency_per_day, "period": 1, "periodUnit": "d"}},
    }
    if dose_mg is not None:
        dosage["doseAndRate"] = [{"doseQuantity": quantity(dose_mg, "mg")}]
    out: Json = {
        "resourceType": "MedicationRequest",
        "id": request_id,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": codeable(RXNORM, rxnorm, display, text=display),
        "subject": ref("Patient", patient_id),
    }
    if encounter_id:
        out["encounter"] = ref("Encounter", encounter_id)
    out["authoredOn"] = authored_on
    out["dosageInstruction"] = [dosage]
    return out


def medication_dispense(
    dispense_id: str,
    patient_id: str,
    *,
    request_id: str,
    rxnorm: str,
    display: str,
    handed_over: str,
    quantity_units: float,
    days_supply: int,
) -> Json:
    """A completed pharmacy fill; gaps between fills express adherence."""
    return {
        "resourceType": "MedicationDispense",
        "id": dispense_id,
        "status": "completed",
        "medicationCodeableConcept": codeable(RXNORM, rxnorm, display, text=display),
        "subject": ref("Patient", patient_id),
        "authorizingPrescription": [ref("MedicationRequest", request_id)],
        "quantity": {"value": quantity_units, "unit": "tablet"},
        "daysSupply": {"value": days_supply, "unit": "day", "system": UCUM, "code": "d"},
        "whenHandedOver": handed_over,
    }


def allergy(
    allergy_id: str,
    patient_id: str,
    *,
    code: tuple[str, str, str],
    recorded: str,
    reaction: tuple[str, str] | None = None,
    criticality: str = "low",
) -> Json:
    """A confirmed drug AllergyIntolerance."""
    out: Json = {
        "resourceType": "AllergyIntolerance",
        "id": allergy_id,
        "clinicalStatus": codeable(ALLERGY_CLINICAL, "active"),
        "verificationStatus": codeable(ALLERGY_VERIFICATION, "confirmed"),
        "type": "allergy",
        "category": ["medication"],
        "criticality": criticality,
        "code": codeable(code[0], code[1], code[2]),
        "patient": ref("Patient", patient_id),
        "recordedDate": recorded,
    }
    if reaction is not None:
        out["reaction"] = [{"manifestation": [codeable(SNOMED, reaction[0], reaction[1])]}]
    return out


def gene_component(symbol: str, hgnc_id: str) -> Json:
    """Component 48018-6 'Gene studied' coded with HGNC."""
    return component_codeable((LOINC, "48018-6", "Gene studied [ID]"), codeable(HGNC, hgnc_id, symbol))


def genotype_observation(
    observation_id: str,
    patient_id: str,
    *,
    gene: str,
    hgnc_id: str,
    diplotype: str,
    phenotype: str | None,
    effective: str,
    performer: str | None = None,
) -> Json:
    """A pharmacogenomic genotype (LOINC 84413-4, value 'GENE *a/*b') with gene studied and phenotype."""
    components = [gene_component(gene, hgnc_id)]
    if phenotype:
        components.append(
            component_codeable(
                (LOINC, "53040-2", "Genetic variation's effect on drug metabolism"),
                {"text": f"{gene} {phenotype}"},
            )
        )
    out = observation_components(
        observation_id,
        patient_id,
        code=(LOINC, "84413-4", "Genotype display name"),
        components=components,
        effective=effective,
        category="laboratory",
        value={"text": f"{gene} {diplotype}"},
        performer=performer,
    )
    out["meta"] = {"profile": [f"{GENOMICS_REPORTING}/genotype"]}
    return out


def variant_observation(
    observation_id: str,
    patient_id: str,
    *,
    gene: str,
    hgnc_id: str,
    transcript: str | None,
    dna_change: str | None,
    protein_change: str | None,
    somatic: bool,
    effective: str,
    code: tuple[str, str, str] = (LOINC, "69548-6", "Genetic variant assessment"),
    description: str | None = None,
    performer: str | None = None,
) -> Json:
    """A genomic variant (LOINC 69548-6 / 81252-9) with gene, HGVS and amino-acid change components."""
    components = [gene_component(gene, hgnc_id)]
    if transcript:
        components.append(
            component_codeable(
                (LOINC, "51958-7", "Transcript reference sequence [ID]"),
                codeable("http://www.ncbi.nlm.nih.gov/refseq", transcript, transcript),
            )
        )
    if dna_change:
        components.append(
            component_codeable((LOINC, "48004-6", "DNA change (c.HGVS)"), codeable(HGVS, dna_change, dna_change))
        )
    if protein_change:
        components.append(
            component_codeable(
                (LOINC, "48005-3", "Amino acid change (pHGVS)"),
                codeable(HGVS, protein_change, protein_change),
            )
        )
    components.append(
        component_codeable(
            (LOINC, "48002-0", "Genomic source class [Type]"),
            codeable(LOINC, "LA6684-0", "Somatic") if somatic else codeable(LOINC, "LA6683-2", "Germline"),
        )
    )
    value = codeable(LOINC, "LA9633-4", "Present", text=description) if description else None
    out = observation_components(
        observation_id,
        patient_id,
        code=code,
        components=components,
        effective=effective,
        category="laboratory",
        value=value or codeable(LOINC, "LA9633-4", "Present"),
        performer=performer,
    )
    out["meta"] = {"profile": [f"{GENOMICS_REPORTING}/variant"]}
    return out


def bundle_entry(resource: Json) -> Json:
    """A transaction entry: ``fullUrl urn:uuid:<id>`` and ``PUT Type/id`` (idempotent on re-send)."""
    rtype = resource["resourceType"]
    rid = resource["id"]
    return {
        "fullUrl": f"urn:uuid:{rid}",
        "resource": resource,
        "request": {"method": "PUT", "url": f"{rtype}/{rid}"},
    }


def transaction_bundle(bundle_id: str, resources: Iterable[Json], timestamp: str) -> Json:
    """A FHIR transaction Bundle of the given resources."""
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "transaction",
        "timestamp": timestamp,
        "entry": [bundle_entry(r) for r in resources],
    }
