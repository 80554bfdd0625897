"""`apitwin drift`: the same requests to a twin and to a real deployment, and where their answers disagree.

The requests come from the spec (`plan_requests`): each selected operation's documented examples, then
Schemathesis-generated cases — positive ones with path parameters pinned to the spec's examples (our specs'
examples are fixture ids, so these reach existing data), a few with path parameters no fixture uses (so "not
found" is compared too), and a few negative ones. Every request is sent to a twin started for the run and to
the target (first checked as `apitwin check` checks it: reachable, accepting the credential, at this base path),
each with its own credential, and the two answers are compared (`compare`): status class, exact
status, media type, conformance to the documented schema on one side only, the top-level keys of error bodies,
and the shape of 2xx JSON bodies — keys and JSON types, never values, so ids, timestamps and data may differ.
The fidelity score needs at least one request both sides answered with a 2xx: two sides refusing everything
agree on nothing worth a score.

The package, by concern: `planning` (the requests, generated in a child interpreter), `compare` (two answers and
where they disagree), `result` (the exchanges of a run and what they add up to), `sending` (talking to the twin
and the target), `report` (console summary, .md and .json reports) and `command` (`run_drift` and the click
command). Only click and the standard library are imported here: httpx and Schemathesis load when drift runs.
"""

from apitwin.drift.command import drift_command as drift_command
from apitwin.drift.command import run_drift as run_drift
from apitwin.drift.compare import Answer as Answer
from apitwin.drift.compare import Disagreement as Disagreement
from apitwin.drift.compare import DisagreementKind as DisagreementKind
from apitwin.drift.compare import compare as compare
from apitwin.drift.compare import shape_differences as shape_differences
from apitwin.drift.errors import DriftTargetError as DriftTargetError
from apitwin.drift.errors import DriftUsageError as DriftUsageError
from apitwin.drift.planning import SAFE_METHODS as SAFE_METHODS
from apitwin.drift.planning import PlannedRequest as PlannedRequest
from apitwin.drift.planning import plan_requests as plan_requests
from apitwin.drift.planning import print_generated as print_generated
from apitwin.drift.report import CONSOLE_LIMIT as CONSOLE_LIMIT
from apitwin.drift.report import json_report as json_report
from apitwin.drift.report import markdown_report as markdown_report
from apitwin.drift.report import summary_lines as summary_lines
from apitwin.drift.report import write_report as write_report
from apitwin.drift.result import DriftResult as DriftResult
from apitwin.drift.result import Exchange as Exchange
from apitwin.drift.result import OperationSummary as OperationSummary
from apitwin.drift.sending import REQUEST_TIMEOUT as REQUEST_TIMEOUT
from apitwin.drift.sending import measure_drift as measure_drift
