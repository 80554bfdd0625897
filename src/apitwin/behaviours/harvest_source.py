"""The stand-in catalogue a harvester reads (the twin reaches no real CSW, CKAN or ArcGIS server): the same
configuration always finds the same remote datasets, each with the same CSV data, so a harvest, its preview and
a publication of what it harvested are reproducible (specs/common/harvesters.yaml's header).

Which datasets a source holds follows from the fields that name the source (its URL, domain, host, organization
or database and the filters it applies), hashed; the fields that narrow a harvest (CKAN's query, limit and
offset, number_of_datasets) narrow that list. A source whose host is under `.invalid` (RFC 2606: nothing
resolves there) cannot be reached: the run ends with the platform's critical error and harvests nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

UNREACHABLE = "A fatal error occured. Please check the harvester configuration."  # the contract's words
# what names a source (and so its catalogue), by harvester type; the rest of a configuration does not change it
SOURCE_FIELDS = (
    "url", "domain", "host", "directory", "organization_id", "filter_name", "filter_value", "database_code",
    "group", "language", "categories", "query_string", "metadata_file",
)  # fmt: skip
FIXED_HOSTS = {"datagouv": "www.data.gouv.fr", "quandl": "data.nasdaq.com"}  # types that name no server
# (slug, title, description, keywords, columns): what stand-in catalogues are made of
TOPICS = (
    (
        "bus-stops",
        "Bus stops",
        "Every stop of the regional bus network.",
        ["transport", "bus"],
        ("stop_id", "name", "line"),
    ),
    (
        "cycle-lanes",
        "Cycle lanes",
        "The cycle lanes of the region.",
        ["transport", "cycling"],
        ("lane_id", "street", "length_m"),
    ),
    (
        "air-quality",
        "Air quality stations",
        "Hourly measures of the air quality stations.",
        ["environment", "air"],
        ("station", "pollutant", "value"),
    ),
    (
        "public-toilets",
        "Public toilets",
        "Location and opening hours of public toilets.",
        ["city", "services"],
        ("site", "district", "opening_hours"),
    ),
    (
        "tree-inventory",
        "Tree inventory",
        "The trees of the city's parks and streets.",
        ["environment", "trees"],
        ("tree_id", "species", "height_m"),
    ),
    (
        "parking-lots",
        "Parking lots",
        "Capacity of the public parking lots.",
        ["transport", "parking"],
        ("lot", "district", "capacity"),
    ),
    (
        "schools",
        "Schools",
        "Primary and secondary schools with their pupils.",
        ["education"],
        ("school", "district", "pupils"),
    ),
    (
        "libraries",
        "Public libraries",
        "The network of public libraries.",
        ["culture", "libraries"],
        ("library", "district", "loans"),
    ),
    (
        "building-permits",
        "Building permits",
        "Building permits granted this year.",
        ["urbanism"],
        ("permit", "district", "surface_m2"),
    ),
    (
        "water-quality",
        "Bathing water quality",
        "Seasonal analyses of the bathing sites.",
        ["environment", "water"],
        ("site", "sample", "quality"),
    ),
    (
        "population",
        "Population by district",
        "The census population of each district.",
        ["demography"],
        ("district", "year", "population"),
    ),
    (
        "ev-chargers",
        "EV charging points",
        "Charging points for electric vehicles.",
        ["transport", "energy"],
        ("point", "operator", "power_kw"),
    ),
)


@dataclass(frozen=True)
class RemoteDataset:
    """A dataset of a source: what a harvest makes a portal dataset of."""

    id: str
    title: str
    description: str
    keywords: tuple[str, ...]
    publisher: str
    modified: str
    data_url: str
    columns: tuple[str, ...]

    def preview(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "description": self.description}


def host_of(configuration: Mapping[str, Any]) -> str:
    """The server a configuration reads."""
    kind = str(configuration.get("type") or "")
    if kind in FIXED_HOSTS:
        return FIXED_HOSTS[kind]
    where = str(configuration.get("url") or configuration.get("domain") or configuration.get("host") or "")
    return (urlsplit(where).hostname or "") if "//" in where else where.split("/")[0].lower()


def unreachable(configuration: Mapping[str, Any]) -> str | None:
    """The critical error a run of this configuration ends with, or None."""
    host = host_of(configuration)
    return UNREACHABLE if not host or host == "invalid" or host.endswith(".invalid") else None


def catalogue(configuration: Mapping[str, Any]) -> list[RemoteDataset]:
    """The datasets a configuration's source holds, as its filters narrow them (none for an unreachable one)."""
    if unreachable(configuration):
        return []
    named = {name: configuration.get(name) for name in ("type", *SOURCE_FIELDS) if configuration.get(name)}
    seed = int(hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest(), 16)
    count, first = 3 + seed % 4, (seed // 4) % len(TOPICS)
    host = host_of(configuration)
    base = str(configuration.get("url") or f"https://{host}").rstrip("/")
    publisher = host.removeprefix("www.").split(".")[0].replace("-", " ").title() or "Remote portal"
    found = []
    for rank in range(count):
        slug, title, description, keywords, columns = TOPICS[(first + rank) % len(TOPICS)]
        day = 1 + (seed // (7 + rank)) % 28
        found.append(
            RemoteDataset(
                id=slug, title=title, description=description, keywords=tuple(keywords), publisher=publisher,
                modified=f"2026-{1 + (seed // (3 + rank)) % 10:02d}-{day:02d}T06:00:00Z",
                data_url=f"{base}/datasets/{slug}.csv", columns=columns,
            )
        )  # fmt: skip
    query = str(configuration.get("query") or "").strip().lower()
    if query:
        found = [remote for remote in found if query in f"{remote.title} {remote.description}".lower()]
    offset = configuration.get("offset") or 0
    limit = configuration.get("limit")
    if limit is None:
        limit = configuration.get("number_of_datasets")
    return found[offset:] if limit is None else found[offset : offset + limit]


def data_at(url: str) -> bytes | None:
    """The file a stand-in dataset's data_url serves: a `;`-separated CSV, the same rows every time; None for a
    URL no stand-in source serves."""
    parts = urlsplit(url)
    name = parts.path.rsplit("/datasets/", 1)[-1] if "/datasets/" in parts.path else ""
    topic = next((topic for topic in TOPICS if f"{topic[0]}.csv" == name), None)
    if topic is None or unreachable({"url": url}):
        return None
    slug, title, _, _, columns = topic
    seed = int(hashlib.sha256(url.encode()).hexdigest(), 16)
    rows = [";".join(columns)]
    for number in range(1, 4 + seed % 9):
        rows.append(f"{slug}-{number};{title} {number};{(seed // number) % 1000}")
    return ("\n".join(rows) + "\n").encode()
