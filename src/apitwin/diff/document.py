"""Document rules: operations removed and added, servers, and security, compared across the two documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apitwin.diff.changes import Finding, Findings
from apitwin.diff.pairs import SpecPair
from apitwin.diff.registry import spec_rule


@spec_rule
def operation_removed(pair: SpecPair) -> Findings:
    """An operation (method and path, whatever its path parameters are called) is gone."""
    for key, op in pair.old_operations.items():
        if key not in pair.new_operations:
            message = f"{op.label} was removed: clients calling it get 404 or 405"
            yield Finding("breaking", op.pointer, message, op.label)


@spec_rule
def operation_added(pair: SpecPair) -> Findings:
    """A new operation: nothing existing clients do changes."""
    for key, op in pair.new_operations.items():
        if key not in pair.old_operations:
            yield Finding("info", op.pointer, f"new operation {op.label}", op.label)


def _server_urls(servers: Any) -> list[str]:
    """The server URLs with their variables at their defaults; none means "/", as OpenAPI says."""
    urls = []
    for server in servers or [{"url": "/"}]:
        url = str(server.get("url", "/"))
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace(f"{{{name}}}", str(variable.get("default", "")))
        urls.append(url.rstrip("/") or "/")
    return urls


def _server_findings(old: Any, new: Any, where: str, operation: str) -> Findings:
    old_urls, new_urls = _server_urls(old), _server_urls(new)
    gone = [url for url in old_urls if url not in new_urls]
    if gone:
        message = f"server {', '.join(gone)} is no longer listed (now {', '.join(new_urls)}): clients calling the old"
        yield Finding("breaking", where, f"{message} base URL miss every operation there", operation)
    elif fresh := [url for url in new_urls if url not in old_urls]:
        yield Finding("info", where, f"new server {', '.join(fresh)}; the old ones are still listed", operation)


@spec_rule
def servers_changed(pair: SpecPair) -> Findings:
    """A server URL (with it, the base path) clients call is no longer listed; servers added are info."""
    yield from _server_findings(pair.old.get("servers"), pair.new.get("servers"), "servers", "")
    for op in pair.common():  # the operations whose own servers (or their path item's) replace the document's
        sides = ((pair.old, op.old), (pair.new, op.new))
        if any("servers" in side.node or "servers" in side.item for _, side in sides):
            old, new = (
                side.node.get("servers") or side.item.get("servers") or spec.get("servers") for spec, side in sides
            )
            yield from _server_findings(old, new, f"{op.new.pointer}.servers", op.new.label)


SchemeKey = tuple[str, ...]


def _scheme_key(name: str, schemes: Mapping[str, Any]) -> SchemeKey:
    """What a client must do to satisfy a security scheme, whatever the scheme is called."""
    scheme = schemes.get(name)
    if not isinstance(scheme, Mapping):
        return ("undefined", name)
    kind = str(scheme.get("type"))
    if kind == "apiKey":
        return (kind, str(scheme.get("in")), str(scheme.get("name")))
    if kind == "http":
        return (kind, str(scheme.get("scheme", "")).lower())
    if kind == "oauth2":
        return (kind, *sorted(scheme.get("flows") or {}))
    if kind == "openIdConnect":
        return (kind, str(scheme.get("openIdConnectUrl")))
    return (kind,)


def _describe_scheme(key: SchemeKey) -> str:
    if key[0] == "apiKey":
        return f"an API key in {key[1]} {key[2]!r}"
    if key[0] == "http":
        return f"HTTP {key[1]} authentication"
    if key[0] == "oauth2":
        return f"OAuth2 ({', '.join(key[1:])})"
    if key[0] == "undefined":
        return f"the undefined scheme {key[1]!r}"
    return " ".join(key)


Alternative = dict[SchemeKey, frozenset[str]]  # every scheme a client must satisfy together, with its scopes


def _alternatives(requirements: Any, spec: Mapping[str, Any]) -> list[Alternative]:
    """The ways a client may authenticate; no requirement means anonymous calls are fine."""
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    found = [
        {_scheme_key(str(name), schemes): frozenset(scopes or ()) for name, scopes in requirement.items()}
        for requirement in requirements or ()
        if isinstance(requirement, Mapping)
    ]
    return found or [{}]


def _describe(alternative: Alternative) -> str:
    parts = [
        _describe_scheme(key) + (f" with scopes {', '.join(sorted(scopes))}" if scopes else "")
        for key, scopes in alternative.items()
    ]
    return " and ".join(parts) or "no credentials"


def _satisfies(new: Alternative, old: Alternative) -> bool:
    """Whether a client that satisfies `old` also satisfies `new`."""
    return all(key in old and scopes <= old[key] for key, scopes in new.items())


def _security_findings(pair: SpecPair, old: Any, new: Any, where: str, operation: str) -> Findings:
    old_ways, new_ways = _alternatives(old, pair.old), _alternatives(new, pair.new)
    broken = [way for way in old_ways if not any(_satisfies(other, way) for other in new_ways)]
    accepted = " or ".join(_describe(way) for way in new_ways)
    for way in broken:
        message = f"clients authenticating with {_describe(way)} are no longer accepted: the API now takes {accepted}"
        yield Finding("breaking", where, message, operation)
    if not broken:
        for way in [way for way in new_ways if way not in old_ways]:
            yield Finding("info", where, f"the API now also accepts {_describe(way)}", operation)


@spec_rule
def security_changed(pair: SpecPair) -> Findings:
    """A way of authenticating that clients use is no longer accepted (a scheme required on top, another scheme
    type or header, an alternative removed): breaking; a new way accepted: info. Schemes compare by what a
    client sends, not by their names; operation-level security is compared where either side declares it."""
    yield from _security_findings(pair, pair.old.get("security"), pair.new.get("security"), "security", "")
    for op in pair.common():
        if "security" in op.old.node or "security" in op.new.node:
            old = op.old.node.get("security", pair.old.get("security"))
            new = op.new.node.get("security", pair.new.get("security"))
            yield from _security_findings(pair, old, new, f"{op.new.pointer}.security", op.new.label)
