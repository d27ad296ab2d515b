"""SQL on FHIR v2 ViewDefinitions: parse, validate and run them over FHIR resources.

model, fhirpath, runner, conformance and sql are pure; sources.py reads files and tables.py writes them.
"""

from carepilot.features.viewdefinition.model import (
    CompiledView,
    InvalidViewDefinition,
    OutputColumn,
    ViewDefinition,
    parse_view,
)
from carepilot.features.viewdefinition.runner import (
    ViewEvaluationError,
    iter_rows,
    output_columns,
    resource_rows,
    run_view,
)

__all__ = [
    "CompiledView",
    "InvalidViewDefinition",
    "OutputColumn",
    "ViewDefinition",
    "ViewEvaluationError",
    "iter_rows",
    "output_columns",
    "parse_view",
    "resource_rows",
    "run_view",
]
