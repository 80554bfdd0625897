"""What an operation handler receives and returns; no HTTP types here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apitwin.engine.collections import Collection, TwinState, UploadedFile
from apitwin.engine.routes import Route


@dataclass
class OperationContext:
    route: Route
    state: TwinState
    path: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    files: Mapping[str, UploadedFile] = field(default_factory=dict)  # multipart parts that carry a file, by name
    principal: Mapping[str, Any] = field(default_factory=dict)
    media_type: str = "application/json"  # the representation the client accepts, among those documented
    url: str = ""  # the request's absolute URL, query string included: links to other pages are made from it
    permits: Callable[[str, Mapping[str, Any]], bool] = lambda required, path: True
    """Whether the caller holds `required` for the given path parameters (e.g. to filter a list)."""
    require: Callable[[str, Mapping[str, Any]], None] = lambda required, path: None
    """Like `permits`, but refuses (403, in the API's words) when the caller lacks it: for a privilege the
    route's own `requires` cannot name (a second one, or one on another project)."""

    def collection(self, name: str | None = None) -> Collection:
        """The named collection, or the one the route declares, written on behalf of the caller; scoped to its
        parent item when the path names one (404 if that parent does not exist)."""
        name = name or self.route.collection
        if name is None:
            raise KeyError(f"{self.route.operation_id} declares no collection")
        collection = self.state.collection(name).by(self.caller)
        parent = collection.definition.parent
        if parent is not None and parent.field in self.path:
            return collection.under(self.path[parent.field])
        return collection

    @property
    def caller(self) -> str | None:
        """Who asks, as created_by/updated_by record it: the principal's username, else its name."""
        name = self.principal.get("username") or self.principal.get("name")
        return None if name is None else str(name)

    @property
    def item_id(self) -> Any:
        if self.route.id_param is None:
            raise KeyError(f"{self.route.operation_id} has no item id")
        return self.path[self.route.id_param]


@dataclass
class Reply:
    """A successful answer: rendered by the HTTP layer in the negotiated media type."""

    body: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    schema: Mapping[str, Any] | None = None  # for XML element names; JSON needs none
    media_type: str | None = None  # set when the operation, not Accept, decides it (a stream's `format`)
