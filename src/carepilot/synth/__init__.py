"""Synthetic population with ground truth; writes FHIR through carepilot.fhir builders."""
