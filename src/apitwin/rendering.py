"""Content negotiation and the JSON / XML bodies of replies. XML element names come from the schema's
OpenAPI `xml` object (name, wrapped), so the spec decides the XML shape."""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from typing import Any

JSON = "application/json"
XML = "application/xml"
_XML_ALIASES = ("application/xml", "text/xml")
# Characters XML 1.0 cannot carry at all, not even as &#...; references: control characters other than tab,
# newline and carriage return, lone surrogates, and U+FFFE/U+FFFF. They become U+FFFD, so the document parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # json.dumps made one per call


def negotiate(accept: str | None, offered: Sequence[str]) -> str | None:
    """The offered media type the Accept header prefers; the first offered when Accept is absent or */*."""
    return _negotiated(accept, tuple(offered))


@functools.lru_cache(maxsize=1024)  # Accept headers are the clients': bounded; most send one of a few
def _negotiated(accept: str | None, offered: tuple[str, ...]) -> str | None:
    if not offered:
        return JSON
    if not accept or not accept.strip():
        return offered[0]
    ranges: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranges.append((-quality, position, media.lower()))
    for _, _, media in sorted(ranges):
        for candidate in offered:
            if _covers(media, candidate):
                return candidate
    return None


def _covers(media_range: str, media_type: str) -> bool:
    if media_range in ("*/*", "*"):
        return True
    if media_range == media_type or (media_range in _XML_ALIASES and media_type == XML):
        return True
    major, _, minor = media_range.partition("/")
    return minor == "*" and media_type.startswith(major + "/")


def render(body: Any, media_type: str, schema: Mapping[str, Any] | None = None) -> bytes:
    if isinstance(body, bytes):
        return body  # already in its format (zip archives, data streams)
    if isinstance(body, str) and not media_type.endswith("json"):
        return body.encode("utf-8")  # text/plain logs and the like
    if media_type == XML:
        return to_xml(body, schema or {})
    return _COMPACT_JSON.encode(body).encode("utf-8")


def to_xml(body: Any, schema: Mapping[str, Any]) -> bytes:
    root = _element(_xml_name(schema, "response"), body, schema)
    xml: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def _xml_name(schema: Mapping[str, Any], fallback: str) -> str:
    return str(schema.get("xml", {}).get("name") or fallback)


def _element(name: str, value: Any, schema: Mapping[str, Any]) -> ElementTree.Element:
    element = ElementTree.Element(name)
    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        for key, item in value.items():
            child_schema = properties.get(key, {})
            element.append(_element(_xml_name(child_schema, key), item, child_schema))
    elif isinstance(value, list | tuple):
        items_schema = schema.get("items", {})
        item_name = _xml_name(items_schema, "item")
        for item in value:
            element.append(_element(item_name, item, items_schema))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("\ufffd", str(value))
    return element
