"""Seed state of an Automation API portal (Opendatasoft and Huwise): a city's open data catalogue with
datasets described by the default metadata template, some published, some restricted, and its API keys."""

from __future__ import annotations

import copy
import hashlib
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
# and one published dataset with files whose resources, attachments and exports resources.yaml's examples name
# (apart from the first, whose children the check's fuzzing deletes).
_EXAMPLE_DATASETS = {0: "da_kxbtjj", 1: "da_w8rmtp", 2: "da_h4v2qa", 20: "da_q7fmxr", len(_TOPICS) - 1: "da_z6zfws"}
PUBLISHING = "da_w8rmtp"
PUBLISHED = "da_h4v2qa"
WITH_FILES = "da_q7fmxr"
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
        if dataset["uid"] in (PUBLISHED, WITH_FILES):
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
    dataset_files, blobs = files(datasets)
    collections = {**collections, **dataset_files, **people(fake, collections["apikeys"][0]), **pages(since)}
    collections["metadata_templates"] = templates(since)
    # the portal's logo, the image assets list's example (an SVG is text: its blob is stored as the others)
    logo = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30"/></svg>\n'
    blobs[blob_ref(logo)] = logo
    collections["image_assets"] = [{"url": "/assets/theme_image/portal-logo.svg", "file_blob": blob_ref(logo)}]
    return {"credentials": credentials, "collections": collections, "blobs": blobs}


# The pages pages.yaml's examples name: a published studio page (the rulesets' and most operations'), another
# (the delete's); code editor pages: the rulesets' and most operations', the delete's, the one archive and unarchive
# act on, and the two the bulk delete's example names.
_STUDIO_PAGES = (("sp_qf2hyt", "mobility-overview", "Mobility overview", True), ("sp_w4k8zn", None, "Draft", False))
_CODE_EDITOR_PAGES: tuple[tuple[str, str, str, list[str]], ...] = (
    ("mobility-dashboard", "Mobility dashboard", "Tableau de bord de la mobilité", ["mobility", "dashboard"]),
    ("legacy-homepage", "Former home page", "Ancienne page d'accueil", []),
    ("pricing-2024", "Pricing 2024", "Tarifs 2024", ["pricing"]),
    ("press-2019", "Press releases 2019", "Communiqués de presse 2019", ["press"]),
    ("press-2020", "Press releases 2020", "Communiqués de presse 2020", ["press"]),
)


def pages(since: datetime) -> dict[str, list[dict[str, Any]]]:
    """The portal's studio and code editor pages, made by louise.data; no draw of the portal's Faker."""
    studio = []
    for number, (uid, slug, title, published) in enumerate(_STUDIO_PAGES):
        created = (since + timedelta(days=40 + number)).strftime(_DATE)
        updated = (since + timedelta(days=60 + number)).strftime(_DATE)
        content = {"version_name": "draft", "title": title, "description": f"{title}, in figures.",
                   "created_at": created, "updated_at": updated, "updated_by": {"username": "louise.data"}}  # fmt: skip
        page: dict[str, Any] = {
            "uid": uid, "slug": slug, "public": published, "contents": [content],
            "first_published_at": updated if published else None, "created_at": created, "updated_at": updated,
            "created_by": {"username": "louise.data"},
        }  # fmt: skip
        if published:
            page["publication_machine"] = _published_record()
        studio.append(page)
    code_editor = []
    for number, (slug, english, french, tags) in enumerate(_CODE_EDITOR_PAGES):
        moment = (since + timedelta(days=30 + number)).strftime(_DATE)
        code_editor.append({
            "slug": slug, "title": {"en": english, "fr": french}, "description": f"{english}.",
            "content": {"html": {"en": f"<h1>{english}</h1>", "fr": f"<h1>{french}</h1>"},
                        "css": {"en": "h1 { color: #0a4d68; }", "fr": "h1 { color: #0a4d68; }"}},
            "template": "custom.html", "tags": tags, "is_restricted": False, "is_archived": False,
            "created_by": {"username": "louise.data"}, "updated_by": {"username": "louise.data"},
            "created_at": moment, "updated_at": moment,
        })  # fmt: skip
    return {"studio_pages": studio, "code_editor_pages": code_editor}


# Huwise's studio pages hold their content versions apart (huwise/only.yaml): each page's draft, and the published
# page's published version; the draft page's metadata has no asset.title yet (it cannot be published). Blocks by uid.
_STUDIO_BLOCKS: dict[str, dict[str, Any]] = {
    "sp_qf2hyt": {
        "blocks": {
            "bl_title": {"type": "text", "content": {"en": "# Mobility in the city", "fr": "# La mobilité en ville"}},
            "bl_bikes": {"type": "chart", "data_provider": "dp_bikes", "chart_type": "line"},
        },
        "layouts": {"main": {"rows": [["bl_title"], ["bl_bikes"]]}},
        "data_providers": {"dp_bikes": {"dataset_uid": "da_kxbtjj"}},
        "filters": {"period": {"type": "date_range", "data_providers": ["dp_bikes"]}},
    },
    "sp_w4k8zn": {"blocks": {"bl_intro": {"type": "text", "content": {"en": "To be written."}}}},
}
# The pages' translation dictionaries: the terms of their titles and descriptions
_PAGE_TRANSLATIONS: dict[str, dict[str, dict[str, str]]] = {
    "sp_qf2hyt": {
        "Mobility overview": {"fr": "La mobilité en un coup d'œil", "de": "Mobilität im Überblick"},
        "Mobility overview, in figures.": {"fr": "La mobilité en chiffres.", "de": "Mobilität in Zahlen."},
    },
    "mobility-dashboard": {
        "Mobility dashboard": {"fr": "Tableau de bord de la mobilité", "de": "Mobilitäts-Dashboard"},
    },
}
_PUBLISHED_CODE_EDITOR_PAGES = ("mobility-dashboard", "pricing-2024")


def huwise_pages(since: datetime) -> dict[str, list[dict[str, Any]]]:
    """Huwise's studio pages, their content versions, and its code editor pages (huwise/only.yaml, huwise.yaml):
    the same pages as Opendatasoft's, but a code editor page's title is its metadata's (no title, tags nor
    archival: published or not), and a studio page's contents are versions apart, each with its metadata."""
    made = pages(since)
    contents = []
    for page in made["studio_pages"]:
        summary = page.pop("contents")[0]
        page["translations"] = _PAGE_TRANSLATIONS.get(page["uid"], {})
        published = page["first_published_at"] is not None
        asset = {"title": _value(summary["title"]), "description": _value(summary["description"])}
        draft = {
            "studio_page_uid": page["uid"], "version_name": "draft", **_STUDIO_BLOCKS[page["uid"]],
            "metadata": {"asset": asset if published else {"description": asset["description"]}},
            **{key: summary[key] for key in ("created_at", "updated_at", "updated_by")},
        }  # fmt: skip
        contents.append(draft)
        if published:  # published when last edited: its published version is the draft as it stands
            contents.append({**copy.deepcopy(draft), "version_name": "published", "created_at": summary["updated_at"]})
    code_editor = []
    for page in made["code_editor_pages"]:
        english = page.pop("title")["en"]
        del page["tags"], page["is_archived"]
        published = page["slug"] in _PUBLISHED_CODE_EDITOR_PAGES
        page.update({
            "is_published": published, "last_published_at": page["updated_at"] if published else None,
            "metadata": {"asset": {"title": _value(english), "description": _value(page["description"])}},
            "translations": _PAGE_TRANSLATIONS.get(page["slug"], {}),
        })  # fmt: skip
        if published:
            page["publication_machine"] = _published_record()
        code_editor.append(page)
    return {"studio_pages": made["studio_pages"], "studio_page_contents": contents, "code_editor_pages": code_editor}


def _published_record() -> dict[str, Any]:
    """A page's publication machine at rest in `published`, since before the twin knew."""
    return {"status": "published", "previous": "unpublished", "next": None, "since": None, "message": None,
            "params": {}, "records_errors": [], "outcome": None}  # fmt: skip


# The default template's fields: automation.yaml's DatasetMetadataDefault, in its order (templates.yaml's header):
# (name, type, label, requirement level, self_suggest, is_filter, i18n, is_hidden)
_DEFAULT_FIELDS = (
    ("title", "text", "Title", "mandatory", False, False, True, False),
    ("description", "html", "Description", "recommended", False, False, True, False),
    ("keyword", "list", "Keywords", "recommended", True, True, True, False),
    ("modified", "datetime", "Modified", "mandatory", False, True, False, False),
    ("modified_updates_on_metadata_change", "boolean", "Update modified on metadata change", "optional", False, False,
     False, False),
    ("modified_updates_on_data_change", "boolean", "Update modified on data change", "optional", False, False, False,
     False),
    ("geographic_reference", "list", "Geographic coverage", "optional", False, True, False, False),
    ("geographic_reference_auto", "boolean", "Compute the geographic coverage", "optional", False, False, False, False),
    ("language", "text", "Language", "mandatory", False, True, False, False),
    ("timezone", "text", "Timezone", "optional", False, False, False, False),
    ("publisher", "text", "Publisher", "recommended", True, True, False, False),
    ("references", "text", "References", "optional", False, False, False, False),
    ("attributions", "list", "Attributions", "optional", False, False, False, False),
    ("records_count", "int", "Records count", "optional", False, False, False, True),
    ("data_processed", "datetime", "Data processed", "optional", False, False, False, True),
    ("metadata_processed", "datetime", "Metadata processed", "optional", False, False, False, True),
)  # fmt: skip
_LANGUAGES = ["en", "fr", "de", "es", "it", "nl"]


def _field(name: str, kind: str, label: str, level: str = "optional", suggest: bool = False, is_filter: bool = False,
           i18n: bool = False, hidden: bool = False, choices: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    url = f"/api/automation/v1.0/metadata/templates/default/fields/{name}/suggest/" if suggest else None
    return {"name": name, "type": kind, "label": label, "help_text": None, "is_hidden": hidden,
            "self_suggest": suggest, "is_filter": is_filter, "i18n": i18n, "suggest_url": url, "choices": choices,
            "labels": None, "requirement_level": level}  # fmt: skip


_CONTENT_CONFIGURATION = (  # Huwise's fourth standard template (its document names these fields)
    ("facets", "list", "Facets"),
    ("fields_displayed_in_specific_languages", "list", "Fields displayed in specific languages"),
    ("records_search_boosts", "list", "Records search boosts"),
)


def templates(since: datetime, huwise: bool = False) -> list[dict[str, Any]]:
    """The system templates a dataset's metadata has (Huwise's four, Opendatasoft's three), and two inactive
    custom ones the examples name."""
    default = [_field(*row, choices=_LANGUAGES if row[0] == "language" else None) for row in _DEFAULT_FIELDS]
    visualization = [_field("map_marker_color", "text", "Map marker color")]
    internal = [_field("draft", "boolean", "Draft"), _field("license_checked", "boolean", "License checked")]
    quality = [
        _field("completeness", "text", "Completeness", "recommended", choices=["complete", "partial", "sample"]),
        _field("last_checked", "date", "Last checked"),
    ]
    notes = [_field("notes", "text", "Notes")]
    content = [_field(*row) for row in _CONTENT_CONFIGURATION]
    moment = since.strftime(_DATE)
    made = []
    standard = [
        ("default", "Default", "basic", True, default),
        ("visualization", "Visualization", "extra", True, visualization),
        ("internal", "Internal", "admin", True, internal),
        *([("asset_content_configuration", "Asset content configuration", "extra", True, content)] if huwise else []),
    ]
    for name, title, kind, system, fields in (
        *standard, ("data-quality", "Data quality", "basic", False, quality),
        ("old-internal-notes", "Old internal notes", "admin", False, notes),
    ):  # fmt: skip
        author = {"username": "admin" if system else "louise.data"}
        made.append({
            "name": name, "title": title, "is_active": system, "is_always_active": system, "is_system": system,
            "schema": fields, "created_at": moment, "created_by": author, "updated_at": moment, "updated_by": author,
            "type": kind,
        })  # fmt: skip
    return made


# The people the specs' examples name (people.yaml, security.yaml): the administrator the twin's key acts for,
# louise.data and amelie.roux of the content designers, hugo.vasseur whom the delete example removes.
_PEOPLE = (
    ("admin", "Portal", "Administrator", ["edit_domain"]),
    ("louise.data", "Louise", "Data", ["explore_restricted_dataset", "edit_dataset"]),
    ("amelie.roux", "Amélie", "Roux", ["create_page", "edit_page"]),
    ("hugo.vasseur", "Hugo", "Vasseur", ["explore_restricted_dataset"]),
)
_GROUPS: tuple[tuple[str, str, str, list[str], list[str]], ...] = (
    ("content_designers", "Content Designers", "Designers of the portal's pages and of its theme.",
     ["create_page", "edit_page", "edit_theme"], ["louise.data", "amelie.roux"]),
    ("former_contractors", "Former contractors", "People who worked on the portal's first version.", [], []),
)  # fmt: skip


def people(fake: Faker, admin_key: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The domain's users, groups and their members, a second key (louise.data's: the examples revoke it, not
    the twin's own) and two datasource connections."""
    users = []
    for number, (username, first, last, permissions) in enumerate(_PEOPLE):
        email = f"{username}@example.org"
        joined = _START + timedelta(days=number * 17, seconds=fake.random_int(0, 86_399))
        seen = joined + timedelta(days=fake.random_int(1, 400)) if username != "hugo.vasseur" else None
        digest = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
        users.append({
            "username": username, "display_name": username, "first_name": first, "last_name": last, "email": email,
            "permissions": permissions, "joined_at": joined.strftime(_DATE), "account_type": "global",
            "last_seen_at": seen and seen.strftime(_DATE), "last_login_at": seen and seen.strftime(_DATE),
            "gravatar_url": f"//www.gravatar.com/avatar/{digest}?d=mm&s=80",
        })  # fmt: skip
    groups, members = [], []
    for uid, title, description, permissions, belonging in _GROUPS:
        groups.append({
            "uid": uid, "title": title, "description": description, "permissions": permissions,
            "created_at": _START.strftime(_DATE), "updated_at": _START.strftime(_DATE),
            "created_by": {"username": "admin"}, "updated_by": {"username": "admin"},
        })  # fmt: skip
        members += [{"group_uid": uid, "username": username} for username in belonging]
    second_key = {
        **admin_key,
        "uid": "ak_qf2hyt",
        "label": "Nightly catalogue export",
        "key": hashlib.sha256(b"louise.data's key").hexdigest()[:56],
        "permissions": ["explore_restricted_dataset"],
        "user": {"username": "louise.data"},
    }
    connections: list[dict[str, Any]] = [
        {"uid": uid, "type": "http", "url": url, "auth": None, "headers": [], "is_reusable": True,
         "created_at": _START.strftime(_DATE), "updated_at": _START.strftime(_DATE)}
        for uid, url in (("co_qf2hyt", "https://data.example.org"), ("co_5vb8ne", "https://old.example.org"))
    ]  # fmt: skip
    return {
        "users": users,
        "groups": groups,
        "group_members": members,
        "apikeys": [admin_key, second_key],
        "datasource_connections": connections,
    }


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


# -- dataset files: resources and their uploaded files, attachments, alternative exports

# Each file's content: text (CSV, Markdown, GeoJSON), the bytes its blob holds once encoded as UTF-8.
_FROMAGES = """nom;region;lait;aop_depuis
Comté;Jura;vache;1958
Roquefort;Occitanie;brebis;1925
Reblochon;Savoie;vache;1958
Munster;Alsace;vache;1969
Bleu d'Auvergne;Auvergne;vache;1975
Ossau-Iraty;Pays basque;brebis;1980
Sainte-Maure-de-Touraine;Centre-Val de Loire;chèvre;1990
Brie de Meaux;Île-de-France;vache;1980
"""
_BICYCLE_COUNTS = """counter_id,counter_name,date,hour,count
C-001,Bridge Street (northbound),2026-11-02,07,184
C-001,Bridge Street (northbound),2026-11-02,08,412
C-001,Bridge Street (northbound),2026-11-02,09,297
C-002,Riverside Path,2026-11-02,07,96
C-002,Riverside Path,2026-11-02,08,233
C-002,Riverside Path,2026-11-02,09,151
"""
_TREES = """tree_id,species,height_m,planted,district
T-10482,Platanus x acerifolia,18.5,1962,Old Town
T-10483,Tilia cordata,12.0,1987,Old Town
T-22917,Acer platanoides,9.5,2004,Riverside
T-30551,Quercus robur,21.0,1931,North Park
"""
_MARKETS_METHODOLOGY = """# Cheeses sold at the city's markets

One line per cheese with a protected designation of origin (AOP) sold by the markets' stallholders: its name,
its region, the milk it is made of and the year of its designation. Surveyed each spring by the markets office.
"""
_COUNTERS_METHODOLOGY = """# How the bicycle counters count

Each counter is an inductive loop under the cycle lane; counts are hourly, in local time. A counter under
maintenance reports no count for those hours rather than zero.
"""
_MARKETS_SURVEY = """# The 2025 survey

Forty-two stallholders answered, on the central and harbour markets; the survey of 2026 replaces it.
"""
_MARKETS_GEOJSON = """{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"market": "Central market"},
   "geometry": {"type": "Point", "coordinates": [4.8357, 45.764]}},
  {"type": "Feature", "properties": {"market": "Harbour market"},
   "geometry": {"type": "Point", "coordinates": [4.8421, 45.7489]}}
]}
"""
_CSV_PARAMS = {"doublequote": True, "encoding": "utf-8", "first_row_no": 1, "headers_first_row": True}
# (dataset, name, content, resource uid, resource title, separator): the spec's examples name the first three
_RESOURCE_FILES = (
    (WITH_FILES, "fromages.csv", _FROMAGES, "re_qf2hyt", "fromages.csv", ";"),
    (WITH_FILES, "bicycle-counts.csv", _BICYCLE_COUNTS, "re_k2v9xd", "Bicycle counts", ","),
    (WITH_FILES, "trees.csv", _TREES, "re_w6dx3n", "Trees (draft)", ","),
    ("da_kxbtjj", "bicycle-counts.csv", _BICYCLE_COUNTS, "re_h3kq8v", "Bicycle counts", ","),
)
# (dataset, uid, name, media type, content)
_ATTACHMENTS = (
    (WITH_FILES, "at_qf2hyt", "markets-methodology.md", "text/markdown", _MARKETS_METHODOLOGY),
    (WITH_FILES, "at_x4d9lm", "markets-2025-survey.md", "text/markdown", _MARKETS_SURVEY),
    ("da_kxbtjj", "at_r7c2wm", "counters-methodology.md", "text/markdown", _COUNTERS_METHODOLOGY),
)
_FILES_CREATED = "2026-11-02T09:00:00Z"


def blob_ref(content: str) -> str:
    """The store's reference of a blob (blobs.py): its content's SHA-256."""
    return "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()


def files(datasets: list[dict[str, Any]]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Some datasets' resources, each reading a file uploaded to its dataset, their attachments and alternative
    exports (an uploaded file and a url made on the portal); and the files' contents by blob reference. Fixed,
    not drawn: the spec's examples name them."""
    known = {dataset["uid"] for dataset in datasets}
    blobs: dict[str, str] = {}

    def stored(content: str) -> str:
        blobs[blob_ref(content)] = content
        return blob_ref(content)

    resource_files: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    for dataset, name, content, resource, title, separator in _RESOURCE_FILES:
        owner = {"dataset_uid": dataset}
        resource_files.append(
            {"uid": name, "filename": name, "mimetype": "text/csv", "created_at": _FILES_CREATED}
            | {"file_blob": stored(content), **owner}
        )
        resources.append(
            {"uid": resource, "type": "csvfile", "title": title, "params": {**_CSV_PARAMS, "separator": separator}}
            | {"datasource": {"type": "uploaded_file", "file": {"uid": name}}, "updated_at": _FILES_CREATED, **owner}
        )
    for dataset, uid, name, mimetype, content in _ATTACHMENTS:
        attachments.append(
            {"uid": uid, "filename": name, "mimetype": mimetype, "created_at": _FILES_CREATED}
            | {"file_blob": stored(content), "dataset_uid": dataset}
        )
    exports: list[dict[str, Any]] = [
        {
            "uid": "ae_qf2hyt",
            "title": "Markets as GeoJSON",
            "description": "The markets' locations, for maps.",
            "mimetype": "application/geo+json",
            "type": "uploaded_file",
            "filename": "markets.geojson",
            "file_blob": stored(_MARKETS_GEOJSON),
            "dataset_uid": WITH_FILES,
        },
        {
            "uid": "ae_p2n8rw",
            "title": "Producers (external)",
            "description": "The producers of each cheese, on the interprofession's server.",
            "mimetype": None,
            "type": "url",
            "url": "https://data.example.org/aop-cheese-producers.csv",
            "dataset_uid": WITH_FILES,
        },
        {
            "uid": "ae_t5v0zj",
            "title": "Full history (external)",
            "description": "Every count since 2010, on the city's open data server.",
            "mimetype": None,
            "type": "url",
            "url": "https://data.example.org/bicycle-counts-history.zip",
            "dataset_uid": "da_kxbtjj",
        },
    ]
    for export in exports:
        export["created_at"] = export["updated_at"] = _FILES_CREATED
    assert {doc["dataset_uid"] for doc in [*resources, *attachments, *exports]} <= known
    collections = {
        "resource_files": resource_files,
        "resources": resources,
        "attachments": attachments,
        "alternative_exports": exports,
    }
    return collections, blobs


# Huwise's glossary (huwise/only.yaml): te_abc123 the examples read and replace, te_x9c3vh the delete removes,
# te_b5n1ts and te_g7w2ly the bulk delete removes.
_GLOSSARY: tuple[tuple[str, str, str, list[str]], ...] = (
    ("te_abc123", "API", "A set of protocols and tools for building software applications",
     ["Application Programming Interface"]),
    ("te_x9c3vh", "Open data", "Data anyone can access, use and share.", []),
    ("te_b5n1ts", "Dataset", "A collection of records published together.", ["Data set"]),
    ("te_g7w2ly", "Metadata", "Data that describes a dataset: its title, themes, licence.", ["Meta data"]),
    ("te_q4m8rz", "Geocoding", "Turning addresses into coordinates.", []),
    ("te_k2p6wd", "Licence", "The terms under which a dataset may be reused.", ["License"]),
)  # fmt: skip


def huwise_only(since: datetime) -> dict[str, list[dict[str, Any]]]:
    """Huwise's own collections (huwise/only.yaml); no draw of the portal's Faker."""
    terms = []
    for number, (uid, name, description, aliases) in enumerate(_GLOSSARY):
        created = (since + timedelta(days=90 + number)).strftime(_DATE)
        author = {"username": "louise.data"}
        terms.append({
            "uid": uid, "name": name, "description": description, "aliases": aliases,
            "created_at": created, "updated_at": created, "created_by": author, "updated_by": author,
        })  # fmt: skip
    requests = [
        {**request, "updated_at": request["created_at"],
         "updated_by": request["created_by"] if request["created_by"]["username"] else None}
        for request in _USER_REQUESTS
    ]  # fmt: skip
    return {"glossary_terms": terms, "user_requests": requests, **forms(since)}


# Huwise's forms (huwise/only.yaml): (uid, slug, title, access_type, published, moderated). fm_wztr5n the examples
# read (its draft is version 2, form-automation the Portal's submit example), fm_p3r6td the unpublish removes from the
# portal (restricted: its rulesets grant submit_private_form), fm_k5b8xh, the last, the delete removes.
_FORMS = (
    ("fm_wztr5n", "form-automation", "Cat adoption", "open", True, False),
    ("fm_p3r6td", "bike-parking-requests", "Bike parking requests", "restricted", True, True),
    ("fm_m8c2qe", "volunteer-sign-up", "Volunteer sign-up", "authenticated", False, False),
    ("fm_k5b8xh", "event-feedback", "Event feedback", "open", False, False),
)
_CAT_SECTIONS = [
    {"uid": "about_the_cat", "title": {"en": "About the cat"}, "blocks": [
        {"uid": "cat_name", "type": "text", "label": {"en": "Name"}, "required": True},
        {"uid": "cat_breed", "type": "multiple_choice", "label": {"en": "Breed"}, "choices": ["Siberian", "Persian"]},
    ]},
]  # fmt: skip
# (form, uid, submitter or None, days after the form's publication, content): 4c7286ad-... the examples read,
# 2b0d9a4e-... the delete removes
_SUBMISSIONS = (
    ("fm_wztr5n", "4c7286ad-6ede-4654-a1b3-3e39fcd199b7", "hugo.vasseur", 3,
     {"cat_name": "Rio", "cat_breed": ["Siberian"], "contact": {"email": "harry@cover.com"}}),
    ("fm_wztr5n", "2b0d9a4e-8f3c-4d71-9e55-61c7a3f0b8d2", None, 5, {"cat_name": "Mitsi", "cat_breed": ["Persian"]}),
    ("fm_wztr5n", "9d3f6b2a-1c4e-4f8a-b7d5-2e6c8a0f4b13", "amelie.roux", 9, {"cat_name": "Pixel", "cat_breed": []}),
    ("fm_p3r6td", "5e8a1d7c-3b2f-4a6e-9c0d-7f1b4e2a8c59", "hugo.vasseur", 2, {"station": "Gare du Nord", "spots": 12}),
)  # fmt: skip
_PUBLISHED_MACHINE: dict[str, Any] = {
    "status": "published", "previous": "unpublished", "next": None, "since": None, "message": None, "params": {},
    "records_errors": [], "outcome": None,
}  # fmt: skip


def forms(since: datetime) -> dict[str, list[dict[str, Any]]]:
    """Huwise's forms, made by louise.data: published ones with their published version and their draft (the next
    version), draft-only ones with their first draft; a few submissions; the restricted form's rulesets."""
    made, versions, submissions = [], [], []
    author = {"username": "louise.data"}
    for number, (uid, slug, title, access, published, moderated) in enumerate(_FORMS):
        created = since + timedelta(days=120 + number)
        stamp = created.strftime(_DATE)
        publication = (created + timedelta(days=1)).strftime(_DATE)
        form: dict[str, Any] = {
            "uid": uid, "slug": slug, "title": title, "access_type": access, "enable_moderation": moderated,
            "has_published_version": published, "created_at": stamp, "updated_at": stamp, "created_by": author,
            "updated_by": author, "first_published_at": publication if published else None,
            "published_at": publication if published else None, "published_by": author if published else None,
        }  # fmt: skip
        if published:
            form["publication_machine"] = _PUBLISHED_MACHINE
        made.append(form)
        content = {"default_language": "en", "title": {"en": title}, "ending": {"type": "message",
                   "message": {"en": "Thank you!"}}, "sections": _CAT_SECTIONS if number == 0 else []}  # fmt: skip
        for version in (1, 2) if published else (1,):
            draft = version == 2 or not published
            versions.append({
                "form_uid": uid, "version": version, "is_draft": draft, "is_published": not draft,
                "created_at": publication if version == 2 else stamp, "updated_at": publication if draft else stamp,
                "created_by": author, "content": copy.deepcopy(content),
            })  # fmt: skip
    for form_uid, uid, submitter, days, values in _SUBMISSIONS:
        form = next(form for form in made if form["uid"] == form_uid)
        moment = (datetime.strptime(form["published_at"], _DATE) + timedelta(days=days)).strftime(_DATE)
        submissions.append({
            "form_uid": form_uid, "uid": uid, "lang": "en", "content": values, "created_at": moment,
            "updated_at": moment, "created_by": {"username": submitter} if submitter else None, "updated_by": None,
            "status": "pending" if form["enable_moderation"] else "approved",
        })  # fmt: skip
    rulesets = {
        "form_user_rulesets": [
            {"form_uid": "fm_p3r6td", "user": {"username": "hugo.vasseur"}, "permissions": ["submit_private_form"]}
        ],
        "form_group_rulesets": [
            {"form_uid": "fm_p3r6td", "group": {"uid": "content_designers"}, "permissions": ["submit_private_form"]}
        ],
    }
    return {"forms": made, "form_versions": versions, "form_submissions": submissions, **rulesets}


# Huwise's user requests (huwise/only.yaml), raised on the portal: fc50dcdf-... the examples read.
_USER_REQUESTS: tuple[dict[str, Any], ...] = (
    {"uid": "fc50dcdf-ab41-4ed8-bc65-070278ba2363", "type": "domain_access", "status": "pending",
     "created_at": "2026-11-13T13:36:23Z", "created_by": {"username": "amelie.roux"},
     "request_message": "let me in!", "rejection_message": None},
    {"uid": "0b6f3c2e-5d41-4a8e-9f27-3c1d8e6a7b90", "type": "dataset_asset_access", "status": "approved",
     "created_at": "2026-10-02T09:12:40Z", "created_by": {"username": "hugo.vasseur"},
     "request_message": "I need the restricted budget lines for the mobility study.", "rejection_message": None},
    {"uid": "7e2a9d14-8c3b-4f56-a1e0-5b9c2d7f4e81", "type": "external_asset_access", "status": "rejected",
     "created_at": "2026-08-21T16:05:11Z", "created_by": {"username": "louise.data"},
     "request_message": "Access to the regional traffic dashboard, please.",
     "rejection_message": "That dashboard is not shared outside the agency."},
    {"uid": "c4d8e2f1-3a6b-4c9d-8e7f-1a2b3c4d5e6f", "type": "external_showcase", "status": "pending",
     "created_at": "2026-11-28T08:30:00Z", "created_by": {"username": None, "email": "guest@example.org"},
     "request_message": "Our bike map reuses your counters dataset.", "rejection_message": None},
)  # fmt: skip


# The translation dictionary of the dataset the examples name (da_kxbtjj): the suggestions' examples find it.
DATASET_TRANSLATIONS: dict[str, dict[str, str]] = {
    "Climate Data Analysis 2023": {"fr": "Analyse des données climatiques 2023", "de": "Klimadatenanalyse 2023"},
    "Temperature measurements from global weather stations": {
        "fr": "Mesures de température des stations météorologiques mondiales",
        "de": "Temperaturmessungen von weltweiten Wetterstationen",
    },
}


# The harvesters harvesters.yaml's examples name, created and run by the engine itself (fixtures.py's
# `_harvested`), so their datasets are what a run makes: (uid, configuration, what happened, its schedule).
# ha_k3v9qp: idle after a run, with its datasets and schedule (most examples); ha_p5r8tc: a first run under way
# (abort's example; started before the twin knew, so it stays processing until aborted); ha_n6b2jd: never run,
# without a schedule (the schedule create's example); ha_x7d2mw: run, the delete's example.
HARVESTERS: tuple[tuple[str, dict[str, Any], str, str | None], ...] = (
    ("ha_k3v9qp", {"type": "csw", "name": "Regional geocatalogue", "url": "https://geocatalogue.example.org/csw",
                   "forced_metas": {"default": {"publisher": "Regional mapping office"}}}, "ran", "sc_hv3kzq"),
    ("ha_p5r8tc", {"type": "ckan", "name": "National open data", "url": "https://ckan.example.net",
                   "query": "", "delete_missing_datasets": True}, "processing", None),
    ("ha_n6b2jd", {"type": "ods", "name": "Partner portal", "domain": "partner.example.org",
                   "api_key": "3f0e8c1d5b7a9c2e4f6a8b0d"}, "new", None),
    ("ha_x7d2mw", {"type": "arcgis", "name": "City ArcGIS services", "metadata_only": True,
                   "url": "https://services.arcgis.example.com/arcgis/rest/services"}, "ran", None),
)  # fmt: skip
HARVESTER_SCHEDULE = {"cron_schedule": "0 2 * * *", "timezone": "Europe/Paris"}
HARVESTERS_CREATED = datetime(2026, 10, 12, 8, tzinfo=UTC)
HARVESTS_RUN = datetime(2026, 11, 29, 2, tzinfo=UTC)  # the night before the twin's clock starts
