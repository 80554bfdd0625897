"""Huwise's own operations (specs/huwise/only.yaml, whose header holds every decision): what CRUD cannot express.

Registered on the Automation registry like its siblings; the Opendatasoft spec has no such operation, so nothing
here asks which twin it serves. The engine serves the glossary, the user requests and the assets' translation
dictionaries; these behaviours add the glossary's bulk delete.
"""

from __future__ import annotations

from apitwin.behaviours.automation import behaviours
from apitwin.engine import OperationContext, Reply


@behaviours.operation("bulkDeleteGlossaryTerms")
def bulk_delete_glossary_terms(ctx: OperationContext) -> Reply:
    """The terms `uid_list` names, at once; a uid that names no term is ignored."""
    terms = ctx.collection("glossary_terms")
    named = set((ctx.body or {}).get("uid_list") or [])
    with ctx.state.transaction():
        for term in terms.views():
            if term["uid"] in named:
                terms.delete(term["uid"])
    return Reply(None, ctx.route.success_status)
