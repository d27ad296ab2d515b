"""The only package that imports FHIR model classes: validate, read and build FHIR R4 resources."""
