"""The generic, spec-driven collection engine. It knows no API: everything it does for a twin is declared
in that twin's spec (`x-twin`) and interpreted here."""

from apitwin.engine.collections import Collection, TwinState, UploadedFile
from apitwin.engine.context import OperationContext, Reply
from apitwin.engine.handlers import handle
from apitwin.engine.routes import CollectionDef, Conventions, Route, SpecError, TwinModel, build_model

__all__ = [
    "Collection",
    "CollectionDef",
    "Conventions",
    "OperationContext",
    "UploadedFile",
    "Reply",
    "Route",
    "SpecError",
    "TwinModel",
    "TwinState",
    "build_model",
    "handle",
]
