"""Seed state of an Automation API portal (Opendatasoft, and Huwise later): a city's open data catalogue with
datasets described by the default metadata template, some published, some restricted, and its API keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

_START = datetime(2023, 3, 1, tzinfo=UTC)
_DATE = "%Y-%m-%dT%H:%M:%SZ"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# (title, keywords): what a city portal publishes
_TOPICS = (
    ("Bicycle counters", ["mobility", "cycling"]), ("Air quality measurements", ["environment", "air"]),
    ("Public toilets", ["amenities"]), ("Trees of the city", ["environment", "nature"]),
    ("Parking occupancy", ["mobility", "parking"]), ("Budget execution", ["finance"]),
    ("Building permits", ["urbanism"]), ("Libraries opening hours", ["culture"]),
    ("Bus stops", ["mobility", "transport"]), ("Noise measurements", ["environment", "noise"]),
    ("School catchment areas", ["education"]), ("Election results", ["elections"]),
    ("Public Wi-Fi hotspots", ["digital"]), ("Street works", ["urbanism", "mobility"]),
    ("Swimming pools attendance", ["sport"]), ("Waste collection schedule", ["environment", "waste"]),
    ("Population by district", ["demography"]), ("Cultural events", ["culture", "events"]),
    ("Electric vehicle chargers", ["mobility", "energy"]), ("Energy consumption of buildings", ["energy"]),
    ("Markets", ["commerce"]), ("Playgrounds", ["amenities", "children"]),
    ("Road accidents", ["mobility", "safety"]), ("Municipal grants", ["finance", "associations"]),
)  # fmt: skip


def _uid(fake: Faker, prefix: str, taken: set[str]) -> str:
    while True:
        uid = prefix + "".join(fake.random_element(_ALPHABET) for _ in range(6))
        if uid not in taken:
            taken.add(uid)
            return uid


def _value(value: Any) -> dict[str, Any]:
    return {"value": value, "remote_value": None, "override_remote_value": False}


def portal(fake: Faker) -> dict[str, Any]:
    city = fake.city()
    publisher = f"City of {city}"
    uids: set[str] = set()
    datasets = []
    for number, (title, keywords) in enumerate(_TOPICS):
        created = _START + timedelta(days=number * 23, seconds=fake.random_int(0, 86_399))
        updated = created + timedelta(days=fake.random_int(0, 300), seconds=fake.random_int(0, 86_399))
        datasets.append(
            {
                "uid": _uid(fake, "da_", uids),
                "dataset_id": re.sub(r"[^a-z0-9]+", "-", f"{title} {city}".lower()).strip("-"),
                "created_at": created.strftime(_DATE),
                "updated_at": updated.strftime(_DATE),
                "is_published": fake.boolean(70),
                "is_restricted": fake.boolean(20),
                "metadata": {
                    "default": {
                        "title": _value(f"{title} - {city}"),
                        "description": _value(f"<p>{fake.paragraph(nb_sentences=3)}</p>"),
                        "keyword": _value(keywords),
                        "language": _value("en"),
                        "publisher": _value(publisher),
                        "modified": _value(updated.strftime(_DATE)),
                    },
                    "visualization": {},
                    "internal": {},
                },
                "default_security": {"is_data_visible": True, "visible_fields": None, "filter_query": ""},
            }
        )
    credentials = [
        {"name": "admin", "credential": "".join(fake.random_element(_ALPHABET) for _ in range(48))},
    ]
    return {"credentials": credentials, "collections": {"datasets": datasets}}
