"""Seed state of an Automation API portal (Opendatasoft and Huwise): a city's open data catalogue with
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


# when a city portal reprocesses a dataset: hourly counters, nightly and weekday extracts, monthly budgets
_CRON_SCHEDULES = ("0 * * * *", "15 3 * * *", "30 6 * * 1-5", "0 0 1 * *", "*/30 7-19 * * MON-FRI", "0 4 * * SUN")
EXAMPLE_SCHEDULE, EXAMPLE_FEEDBACK = "sc_qf2hyt", "df_qf2hyt"
# the spec's dataset_uid examples, by position: every portal's first dataset (most operations') and last one
# (deleteDataset's) have them (Opendatasoft's drew them), so each twin's examples name what its fixtures have
# The spec's examples name these: the first dataset, one whose (long) publication is under way (abort's example),
# one published and at rest (unpublish's), and the last (the delete's).
_EXAMPLE_DATASETS = {0: "da_kxbtjj", 1: "da_w8rmtp", 2: "da_h4v2qa", len(_TOPICS) - 1: "da_z6zfws"}
PUBLISHING = "da_w8rmtp"
PUBLISHED = "da_h4v2qa"
_FEEDBACK_COMMENTS = (
    "The opening hours changed last month.", "This location closed in the spring.",
    "The coordinates point to the wrong side of the street.", "A new one opened near the station.",
    "The name is misspelt.", "The value looks ten times too high.",
)  # fmt: skip


def activity(fake: Faker, datasets: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Some datasets' processing schedules, and the published ones' feedbacks from the portal's visitors (some
    archived, some asking for a new record and so on no record yet). The first dataset, which the spec's
    dataset_uid example names, has the schedule and the feedback its examples name (the document's own uids):
    no operation creates a feedback, so Schemathesis reaches them only through these."""
    uids: set[str] = {EXAMPLE_SCHEDULE, EXAMPLE_FEEDBACK}
    first = datasets[0]
    schedules = [{"uid": EXAMPLE_SCHEDULE, "dataset_uid": first["uid"], "cron_schedule": "0 * * * *"}]
    feedbacks: list[dict[str, Any]] = [
        {
            "uid": EXAMPLE_FEEDBACK,
            "dataset_uid": first["uid"],
            "record_id": "95969ddab924fc5db5e39c3fb2a7634f4d7dd51c",
            "user": {"username": "louise.data"},
            "comment": "I like this record, it provides meaningful insights",
            "values": None,
            "is_archived": False,
            "created_at": first["updated_at"],
        }
    ]
    for dataset in datasets:
        for cron in fake.random_elements(_CRON_SCHEDULES, length=fake.random_int(0, 2), unique=True):
            schedules.append({"uid": _uid(fake, "sc_", uids), "dataset_uid": dataset["uid"], "cron_schedule": cron})
        if not dataset["is_published"]:
            continue
        created = datetime.strptime(dataset["created_at"], _DATE).replace(tzinfo=UTC)
        for _ in range(fake.random_int(0, 3)):
            new_record = fake.boolean(25)
            feedbacks.append(
                {
                    "uid": _uid(fake, "df_", uids),
                    "dataset_uid": dataset["uid"],
                    "record_id": None if new_record else fake.sha1(),
                    "user": {"username": f"{fake.first_name()}.{fake.last_name()}".lower()},
                    "comment": fake.random_element(_FEEDBACK_COMMENTS),
                    "values": {"value": fake.street_address(), "type": "text"} if new_record else None,
                    "is_archived": fake.boolean(30),
                    "created_at": (created + timedelta(days=fake.random_int(1, 600))).strftime(_DATE),
                }
            )
    return {"dataset_schedules": schedules, "dataset_feedbacks": feedbacks}


def portal(fake: Faker, *, publisher: str = "City of {city}", since: datetime = _START) -> dict[str, Any]:
    """A portal's catalogue; `publisher` (with {city}) and `since` (its first dataset's creation) make each
    twin's its own."""
    city = fake.city()
    publisher = publisher.format(city=city)
    uids: set[str] = set()
    datasets = []
    for number, (title, keywords) in enumerate(_TOPICS):
        created = since + timedelta(days=number * 23, seconds=fake.random_int(0, 86_399))
        updated = created + timedelta(days=fake.random_int(0, 300), seconds=fake.random_int(0, 86_399))
        uid = _uid(fake, "da_", uids)  # drawn for the first too, so that the other draws stay as they were
        datasets.append(
            {
                "uid": _EXAMPLE_DATASETS.get(number, uid),
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
    for dataset in datasets:  # set after every draw, so the rest of the portal comes out as before
        if dataset["uid"] == PUBLISHED:
            dataset["is_published"] = True
        if dataset["uid"] == PUBLISHING:
            # A large dataset's first publication, started before the twin knew (no `since`): it is processing
            # until aborted (the machine times only the runs it sees start).
            dataset["is_published"] = False
            dataset["status_machine"] = {
                **{"status": "processing", "previous": "queued", "next": "idle", "since": None, "message": None},
                **{"params": {}, "records_errors": [], "outcome": None},
            }
    credentials = [
        {"name": "admin", "credential": "".join(fake.random_element(_ALPHABET) for _ in range(48))},
    ]
    collections = {"datasets": datasets, **processing(datasets), **activity(fake, datasets)}
    # drawn last, so the collections above come out as they did before keys lived in a collection
    collections["apikeys"] = [
        _api_key(fake, credential["name"], credential["credential"]) for credential in credentials
    ]
    return {"credentials": credentials, "collections": collections}


# The domain permissions of the Opendatasoft document (an API key holds some of its user's).
PERMISSIONS = (
    "edit_domain", "create_page", "edit_page", "manage_page", "explore_restricted_page", "create_dataset",
    "edit_dataset", "publish_dataset", "manage_dataset", "explore_restricted_dataset", "edit_reuse",
    "manage_subdomains", "explore_monitoring", "edit_theme",
)  # fmt: skip


def _api_key(fake: Faker, username: str, key: str) -> dict[str, Any]:
    """The key a client sends, as the API keeps it: the collection the twin authenticates requests against."""
    return {
        "uid": _uid(fake, "ak_", set()),
        "label": f"{username} automation",
        "key": key,
        "permissions": list(PERMISSIONS),
        "created_at": _START.strftime(_DATE),
        "user": {"username": username},
        "is_revoked": False,
    }


def _parameter(kind: str, name: str, label: str, mandatory: bool = False, **more: str) -> dict[str, Any]:
    return {"type": kind, "is_mandatory": mandatory, "name": name, "label": label, **more}


# The domain's catalogues, served as static collections: the processor types the twin serves, and the
# extractors the vendor's contract describes in its examples (the csvfile parameters its resources show).
_FIELD = _parameter("field", "field", "Field", True, description="The field to process")
PROCESSOR_TYPES = [
    {
        "type": "string_replace",
        "label": "Replace a text",
        "description": "Replaces a text by another in the values of a field.",
        "parameters": [
            _FIELD,
            _parameter("string", "old", "Old text", True, description="The text to replace"),
            _parameter("string", "new", "New text", True, description="Its replacement"),
        ],
    },
    {
        "type": "regexp_replace",
        "label": "Replace via regular expression",
        "description": "Replaces what a regular expression matches in the values of a field.",
        "parameters": [
            _FIELD,
            _parameter("string", "regexp", "Regular expression", True, description="What to match"),
            _parameter("string", "new", "New text", True, description="Each match's replacement"),
        ],
    },
]
EXTRACTORS = [
    {
        "type": "csvfile",
        "label": "CSV File",
        "parameters": [
            _parameter("string", "separator", "Separator"),
            _parameter("string", "encoding", "Encoding", default="utf-8"),
            _parameter("integer", "first_row_no", "First line", default="1"),
            _parameter("boolean", "headers_first_row", "Headers on the first line", default="true"),
            _parameter("boolean", "doublequote", "Double quote", default="true"),
        ],
    },
    {
        "type": "jsonfile",
        "label": "JSON File",
        "parameters": [
            _parameter(
                "boolean", "extract_filename", "Extract filename", description="Extract the filename in a field"
            ),
            _parameter("string", "json_root", "JSON root", description="Path to the array of the records' objects"),
            _parameter("string", "json_object", "JSON object", description="Relative path to the object to extract"),
        ],
    },
]
_PROCESSING_SEED = 10
_PROCESSORS = (
    {"type": "string_replace", "label": "Spell out N/A", "field": "status", "old": "N/A", "new": "Not available"},
    {
        "type": "string_replace",
        "label": "Use the district's full name",
        "field": "district",
        "old": "Arr.",
        "new": "Arrondissement",
    },
    {
        "type": "regexp_replace",
        "label": "Keep the digits of the phone number",
        "field": "phone",
        "regexp": "[^0-9+]",
        "new": "",
    },
    {"type": "regexp_replace", "label": "Trim the address", "field": "address", "regexp": "^\\s+|\\s+$", "new": ""},
)
_FIELD_CONFIGURATIONS = (
    {"type": "rename", "label": "Renaming field nom", "from_name": "nom", "to_name": "name", "field_label": "Name"},
    {"type": "type", "label": "Typing field count to integer", "field": "count", "type_param": "int"},
    {"type": "annotate", "label": "Filter by district", "field": "district", "annotation": "facet"},
    {
        "type": "annotate",
        "label": "Surface in square kilometers",
        "field": "surface",
        "annotation": "unit",
        "args": ["km2"],
    },
    {
        "type": "description",
        "label": "Describing field updated",
        "field": "updated",
        "description": "When the record last changed",
    },
    {"type": "delete", "label": "Deleting field internal_id", "field": "internal_id"},
)


def processing(datasets: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Some datasets' processors and field configurations (both pr_, one namespace), the stacks in order, and
    the domain's catalogues. Drawn from a fixed seed of their own, so that neither these uids (the spec's
    examples name the first dataset's) nor the rest of the portal move when the other changes."""
    fake = Faker()
    fake.seed_instance(_PROCESSING_SEED)
    uids: set[str] = set()
    processors: list[dict[str, Any]] = []
    field_configurations: list[dict[str, Any]] = []
    for number, dataset in enumerate(datasets):
        owner = {"dataset_uid": dataset["uid"]}
        if number % 3 == 0:
            for template in fake.random_sample(_PROCESSORS, length=fake.random_int(1, 3)):
                processors.append({"uid": _uid(fake, "pr_", uids), **template, **owner})
        if number % 2 == 0:
            for configuration in fake.random_sample(_FIELD_CONFIGURATIONS, length=fake.random_int(2, 4)):
                field_configurations.append({"uid": _uid(fake, "pr_", uids), **configuration, **owner})
    return {
        "processors": processors,
        "field_configurations": field_configurations,
        "processor_types": PROCESSOR_TYPES,
        "extractors": EXTRACTORS,
    }
