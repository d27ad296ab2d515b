"""Authentication, authorisation, consent, audit and de-identification."""
