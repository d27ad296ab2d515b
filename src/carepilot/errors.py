"""The project's exception tree. Edges (CLI, HTTP) translate these to exit codes and status codes.

::

    CarePilotError
    ├── ConfigurationError          unsafe or inconsistent settings
    ├── InputError                  data a user gave us is wrong (never a 5xx, exit code 2)
    │   ├── UnreadableInputError    a file is not JSON / NDJSON / gzip, or cannot be opened
    │   ├── ValidationFailure       a FHIR resource fails R4 validation
    │   └── NormalisationError      a code or unit cannot be mapped / converted
    ├── NotFoundError               an id names nothing in the store
    ├── StoreError                  the database refused an operation
    ├── ModelError                  a model cannot be fitted, loaded or applied
    │   └── IntegrityError          a model file's checksum does not match the registry
    ├── UnsafeToAnswer              an engine declines to produce an output (the reason says why)
    └── BenchmarkError              a benchmark's data or prerequisites are missing
"""

from __future__ import annotations


class CarePilotError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigurationError(CarePilotError):
    """Settings are unsafe or inconsistent."""


class InputError(CarePilotError):
    """Input from a user or a feed is wrong; the message says what and where."""


class UnreadableInputError(InputError):
    """A file cannot be read as JSON, NDJSON or gzip."""


class ValidationFailure(InputError):
    """A FHIR resource fails validation."""


class NormalisationError(InputError):
    """A code or unit cannot be mapped or converted."""


class NotFoundError(CarePilotError):
    """The identifier names nothing that is stored."""


class StoreError(CarePilotError):
    """The database refused an operation."""


class ModelError(CarePilotError):
    """A model cannot be fitted, loaded or applied."""


class IntegrityError(ModelError):
    """A stored artefact does not match its recorded checksum."""


class UnsafeToAnswer(CarePilotError):
    """An engine declines to answer; ``str(err)`` is the reason, for the record."""


class BenchmarkError(CarePilotError):
    """A benchmark cannot run (missing reference data or prerequisite)."""
