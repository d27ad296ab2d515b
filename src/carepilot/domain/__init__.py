"""Pure domain: value objects and rules. No I/O, no web, no SQL, no FHIR classes."""
