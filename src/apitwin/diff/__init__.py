"""`apitwin diff OLD NEW`: what changed between two versions of an OpenAPI document, seen by an existing client.

Three registries of small named rules, each testable alone: document rules compare the two documents (operations,
servers, security), operation rules one operation present in both (status codes, parameters, bodies), and schema
rules one schema node present in both (types, null, enums, limits, properties), applied at every node the
schemas of a parameter, request body or success response share. A request schema and a response schema change
in opposite directions: an enum value removed breaks a client that sends it, and one added breaks a client
that reads it. Documents are compared resolved (every $ref inlined); OpenAPI 3.0 and 3.1 spellings of the same
schema (`nullable: true` and `type: [X, "null"]`, boolean and numeric `exclusiveMinimum`) compare equal.

The package, by concern: `changes` (what is reported), `pairs` and `schema_view` (what the rules compare),
`registry` (the three registries), `document`, `operations` and `schemas` (the rules), `loading` (reading a
document), `compare` (running the rules), `render` (the report formats) and `command` (the click command). Importing
the package registers every rule. Everything here imports only click and the standard library at module level:
`apitwin --help` imports this package.
"""

from apitwin.diff.changes import (
    ALL_OPERATIONS,
    SEVERITIES,
    Change,
    Direction,
    Finding,
    Findings,
    Severity,
    UnreadableSpec,
)
from apitwin.diff.command import diff_command, exit_code
from apitwin.diff.compare import diff_files, diff_specs
from apitwin.diff.document import operation_added, operation_removed, security_changed, servers_changed
from apitwin.diff.loading import load_spec
from apitwin.diff.operations import (
    error_status_added,
    error_status_removed,
    media_type_added,
    media_type_removed,
    operation_id_changed,
    parameter_added,
    parameter_location_changed,
    parameter_removed,
    parameter_required_changed,
    parameter_style_changed,
    path_parameter_renamed,
    request_body_required_changed,
    success_status_added,
    success_status_changed,
)
from apitwin.diff.pairs import Operation, OperationPair, ParameterMatch, SpecPair, StatusChanges
from apitwin.diff.registry import OPERATION_RULES, SCHEMA_RULES, SPEC_RULES, operation_rule, schema_rule, spec_rule
from apitwin.diff.render import RENDERERS, render_json, render_markdown, render_text, summary
from apitwin.diff.schema_view import SchemaPair, SchemaView, schema_view
from apitwin.diff.schemas import (
    alternatives_changed,
    compare_schemas,
    constraint_changed,
    enum_changed,
    nullable_changed,
    property_added,
    property_removed,
    property_required_changed,
    type_changed,
)

__all__ = [
    "ALL_OPERATIONS",
    "OPERATION_RULES",
    "RENDERERS",
    "SCHEMA_RULES",
    "SEVERITIES",
    "SPEC_RULES",
    "Change",
    "Direction",
    "Finding",
    "Findings",
    "Operation",
    "OperationPair",
    "ParameterMatch",
    "SchemaPair",
    "SchemaView",
    "Severity",
    "SpecPair",
    "StatusChanges",
    "UnreadableSpec",
    "alternatives_changed",
    "compare_schemas",
    "constraint_changed",
    "diff_command",
    "diff_files",
    "diff_specs",
    "enum_changed",
    "error_status_added",
    "error_status_removed",
    "exit_code",
    "load_spec",
    "media_type_added",
    "media_type_removed",
    "nullable_changed",
    "operation_added",
    "operation_id_changed",
    "operation_removed",
    "operation_rule",
    "parameter_added",
    "parameter_location_changed",
    "parameter_removed",
    "parameter_required_changed",
    "parameter_style_changed",
    "path_parameter_renamed",
    "property_added",
    "property_removed",
    "property_required_changed",
    "render_json",
    "render_markdown",
    "render_text",
    "request_body_required_changed",
    "schema_rule",
    "schema_view",
    "security_changed",
    "servers_changed",
    "spec_rule",
    "success_status_added",
    "success_status_changed",
    "summary",
    "type_changed",
]
