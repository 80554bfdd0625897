"""Pages, sorting, search, filter defaults, prefixed ids, unique fields and authors: what the Opendatasoft
Automation API's lists and objects need, declared in x-twin."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from apitwin.clock import Clock
from apitwin.engine import OperationContext, SpecError, TwinState, build_model, handle
from apitwin.errors import ErrorKind, TwinError
from apitwin.store import Store
from tests.support.tiny_twin import tiny_twin

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}
CREATED = {"201": OK["200"]}
GONE = {"204": {"description": "gone"}}
BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
DATASET_UID = {"name": "dataset_uid", "in": "path", "required": True, "schema": {"type": "string"}}


def query(name: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": dict(schema or {"type": "string"})}


PAGE = [
    query("limit", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 20}),
    query("offset", {"type": "integer", "minimum": 0}),
]
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Tiny catalogue", "version": "1.0"},
    "x-twin": {
        "collections": {
            "datasets": {
                "schema": "Dataset",
                "id": {"field": "uid", "style": "prefixed", "prefix": "da_", "alphabet": ALNUM, "length": 6},
                "created": "created_at", "updated": "updated_at",
                "created_by": "created_by", "updated_by": "updated_by",
                "unique": ["dataset_id"],
            },
            "feedbacks": {
                "schema": "Feedback",
                "id": {"field": "uid", "style": "prefixed", "prefix": "df_"},
                "created": "created_at",
                "parent": {"collection": "datasets", "field": "dataset_uid"},
                "unique": ["title"],
            },
        },
    },
    "components": {
        "securitySchemes": {"QueryAPIKey": {"type": "apiKey", "in": "query", "name": "apikey"}},
        "schemas": {
            "Dataset": {
                "type": "object",
                "properties": {
                    "uid": {"type": "string", "readOnly": True},
                    "dataset_id": {"type": "string"},
                    "title": {"type": "string", "nullable": True},
                    "description": {"type": "string", "nullable": True},
                    "theme": {"type": "string", "nullable": True},
                    "owner": {"type": "object", "nullable": True, "properties": {"username": {"type": "string"}}},
                    "created_at": {"type": "string", "readOnly": True},
                    "updated_at": {"type": "string", "readOnly": True},
                    "created_by": {"type": "string", "readOnly": True, "nullable": True},
                    "updated_by": {"type": "string", "readOnly": True, "nullable": True},
                },
            },
            "Feedback": {
                "type": "object",
                "properties": {
                    "uid": {"type": "string", "readOnly": True},
                    "dataset_uid": {"type": "string", "readOnly": True},
                    "title": {"type": "string"},
                    "is_archived": {"type": "boolean", "default": False},
                    "created_at": {"type": "string", "readOnly": True},
                },
            },
        },
    },
    "security": [{"QueryAPIKey": []}],
    "paths": {
        "/datasets/": {
            "x-twin": {"collection": "datasets"},
            "get": {
                "operationId": "listDatasets",
                "x-twin": {
                    "paginate": {"limit": "limit", "offset": "offset"},
                    "sort": {"fields": {"created_at": "created_at", "title": "title", "owner": "owner.username"}},
                    "filters": {"search": {"fields": ["dataset_id", "title", "description"], "op": "like"},
                                "theme": "eq"},
                },
                "parameters": [*PAGE, {**query("sort", {"type": "array", "items": {"type": "string"}}),
                                       "style": "form", "explode": True},
                               query("search"), query("theme")],
                "responses": OK,
            },
            "post": {"operationId": "createDataset", "requestBody": BODY, "responses": CREATED},
        },
        "/datasets/{dataset_uid}/": {
            "x-twin": {"collection": "datasets"},
            "parameters": [DATASET_UID],
            "get": {"operationId": "getDataset", "responses": OK},
            "put": {"operationId": "updateDataset", "requestBody": BODY, "responses": OK},
            "delete": {"operationId": "deleteDataset", "responses": GONE},
        },
        "/datasets/{dataset_uid}/feedbacks/": {
            "x-twin": {"collection": "feedbacks"},
            "parameters": [DATASET_UID],
            "get": {
                "operationId": "listFeedbacks",
                "x-twin": {"paginate": {}, "sort": {"param": "sort", "fields": ["created_at", "title"]},
                           "filters": {"is_archived": "eq"}},
                "parameters": [query("is_archived", {"type": "boolean", "default": False}),
                               query("sort", {"type": "string", "default": "-created_at"})],
                "responses": OK,
            },
            "post": {"operationId": "createFeedback", "requestBody": BODY, "responses": CREATED},
        },
        "/datasets/{dataset_uid}/feedbacks/{feedback_uid}/": {
            "x-twin": {"collection": "feedbacks"},
            "parameters": [DATASET_UID, {"name": "feedback_uid", "in": "path", "required": True,
                                         "schema": {"type": "string"}}],
            "put": {"operationId": "updateFeedback", "requestBody": BODY, "responses": OK},
        },
    },
}  # fmt: skip
THEMES = ("health", "transport", "culture")


def spec_with(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    change(spec)
    return spec


def dataset(number: int) -> dict[str, Any]:
    """A stored dataset, the 1st created first: `da_000001`, themes in turn, every third one owned."""
    return {
        "uid": f"da_{number:06d}", "dataset_id": f"set-{number:02d}", "title": f"Set {number:02d}",
        "description": "Bike counts" if number % 5 == 0 else None, "theme": THEMES[number % 3],
        "owner": {"username": f"user{number % 4}"} if number % 3 == 0 else None,
        "created_at": f"2025-01-{number:02d}T00:00:00Z", "updated_at": f"2025-01-{number:02d}T00:00:00Z",
        "created_by": None, "updated_by": None,
    }  # fmt: skip


@pytest.fixture
def state() -> TwinState:
    model = build_model(SPEC)
    clock = Clock()
    clock.freeze()
    twin = TwinState("tiny", Store(), clock, model.conventions, model.collections)
    datasets = twin.collection("datasets")
    twin.store.load("tiny/", {datasets.table: [(f"da_{n:06d}", dataset(n)) for n in range(1, 26)]})
    return twin


def call(state: TwinState, operation_id: str, **parts: Any) -> Any:
    route = build_model(SPEC).routes[operation_id]
    return handle(OperationContext(route=route, state=state, **parts)).body


def uids(page: Mapping[str, Any]) -> list[str]:
    return [doc["uid"] for doc in page["results"]]


# pages


def test_the_envelope_counts_every_match_and_shows_the_default_limit(state: TwinState) -> None:
    page = call(state, "listDatasets", url="http://h/tiny/datasets/")
    assert set(page) == {"total_count", "next", "previous", "results"}
    assert page["total_count"] == 25 and len(page["results"]) == 20
    assert page["next"] == "http://h/tiny/datasets/?limit=20&offset=20" and page["previous"] is None


def test_following_next_collects_every_match_once_with_the_filters_kept(state: TwinState) -> None:
    url: str | None = "http://h/tiny/datasets/?theme=health&apikey=K&limit=2"
    seen: list[str] = []
    total = None
    while url is not None:
        params = {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}
        assert params["theme"] == "health" and params["apikey"] == "K"
        page = call(state, "listDatasets", query=params, url=url)
        total = page["total_count"]
        seen += uids(page)
        url = page["next"]
    assert total == 8 and len(seen) == len(set(seen)) == total
    assert all(state.collection("datasets").get(uid)["theme"] == "health" for uid in seen)


def test_previous_walks_back_and_the_first_page_names_no_offset(state: TwinState) -> None:
    page = call(state, "listDatasets", query={"limit": 10, "offset": 15}, url="http://h/d/?offset=15&limit=10&x=1")
    assert uids(page) == [f"da_{n:06d}" for n in range(16, 26)] and page["next"] is None
    assert page["previous"] == "http://h/d/?offset=5&limit=10&x=1"
    back = call(state, "listDatasets", query={"limit": 10, "offset": 5}, url=page["previous"])
    assert back["previous"] == "http://h/d/?limit=10&x=1"


def test_limit_zero_gives_the_count_and_no_results(state: TwinState) -> None:
    page = call(state, "listDatasets", query={"limit": 0, "theme": "culture"})
    assert page == {"total_count": 8, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(("params", "message"), [({"limit": 1001}, "between 0 and 1000"),
                                                 ({"limit": -1}, "between 0 and 1000"),
                                                 ({"offset": -3}, "0 or more"),
                                                 ({"limit": "ten"}, "not an integer"),
                                                 ({"limit": 2.5}, "not an integer")])  # fmt: skip
def test_a_limit_or_offset_out_of_range_is_a_400(state: TwinState, params: dict[str, Any], message: str) -> None:
    with pytest.raises(TwinError, match=message) as info:
        call(state, "listDatasets", query=params)
    assert info.value.kind is ErrorKind.INVALID


def test_a_list_without_limit_parameters_is_one_whole_page(state: TwinState) -> None:
    feedbacks = state.collection("feedbacks").under("da_000001")
    for title in ("a", "b", "c"):
        feedbacks.create({"title": title})
    page = call(state, "listFeedbacks", path={"dataset_uid": "da_000001"})
    assert page["total_count"] == 3 and len(page["results"]) == 3 and page["next"] is None


def test_lists_that_declare_no_pages_stay_bare_arrays(state: TwinState) -> None:
    spec = spec_with(lambda s: s["paths"]["/datasets/"]["get"]["x-twin"].pop("paginate"))
    route = build_model(spec).routes["listDatasets"]
    listed = handle(OperationContext(route=route, state=state)).body
    assert isinstance(listed, list) and len(listed) == 25


# sorting, search, filter defaults


def test_sort_descending_and_on_several_fields(state: TwinState) -> None:
    newest = call(state, "listDatasets", query={"sort": "-created_at", "limit": 3})
    assert uids(newest) == ["da_000025", "da_000024", "da_000023"]
    by_owner = call(state, "listDatasets", query={"sort": "-owner,title", "theme": "health"})
    assert uids(by_owner) == [f"da_{n:06d}" for n in (3, 15, 6, 18, 9, 21, 12, 24)]
    repeated = call(state, "listDatasets", query={"sort": ["-owner", "-title"], "theme": "health"})
    assert uids(repeated) == [f"da_{n:06d}" for n in (15, 3, 18, 6, 21, 9, 24, 12)]


def test_items_without_the_sort_field_come_last_ascending(state: TwinState) -> None:
    page = call(state, "listDatasets", query={"sort": "owner", "limit": 100})
    assert [doc["owner"] is None for doc in page["results"]] == [False] * 8 + [True] * 17


def test_an_unknown_sort_field_is_a_400_never_ignored(state: TwinState) -> None:
    with pytest.raises(TwinError, match="sort: sorts on 'size', which is not one of") as info:
        call(state, "listDatasets", query={"sort": "title,-size"})
    assert info.value.kind is ErrorKind.INVALID


def test_the_sort_parameters_default_applies_when_absent(state: TwinState) -> None:
    feedbacks = state.collection("feedbacks").under("da_000002")
    for title in ("old", "new", "newest"):
        state.clock.advance(60)
        feedbacks.create({"title": title})
    page = call(state, "listFeedbacks", path={"dataset_uid": "da_000002"})
    assert [doc["title"] for doc in page["results"]] == ["newest", "new", "old"]


def test_search_matches_any_declared_field_ignoring_case(state: TwinState) -> None:
    page = call(state, "listDatasets", query={"search": "BIKE", "limit": 100})
    assert uids(page) == ["da_000005", "da_000010", "da_000015", "da_000020", "da_000025"]
    assert call(state, "listDatasets", query={"search": "set-07"})["total_count"] == 1
    assert call(state, "listDatasets", query={"search": "Set 1", "theme": "health"})["total_count"] == 3


def test_a_filter_whose_parameter_is_absent_applies_its_default(state: TwinState) -> None:
    feedbacks = state.collection("feedbacks").under("da_000003")
    feedbacks.create({"title": "open"})
    feedbacks.create({"title": "done", "is_archived": True})
    shown = call(state, "listFeedbacks", path={"dataset_uid": "da_000003"})
    assert [doc["title"] for doc in shown["results"]] == ["open"]
    archived = call(state, "listFeedbacks", path={"dataset_uid": "da_000003"}, query={"is_archived": True})
    assert [doc["title"] for doc in archived["results"]] == ["done"]


# ids, unique fields, authors


def test_prefixed_ids_have_the_declared_shape_and_are_unique(state: TwinState) -> None:
    created = {call(state, "createDataset", body={"dataset_id": f"new-{n}"})["uid"] for n in range(30)}
    assert len(created) == 30 and all(re.fullmatch(r"da_[a-z0-9]{6}", uid) for uid in created)
    feedback = call(state, "createFeedback", path={"dataset_uid": "da_000001"}, body={"title": "t"})
    assert re.fullmatch(r"df_[a-z0-9]{6}", feedback["uid"])


def narrow_ids(spec: dict[str, Any]) -> None:
    for collection in spec["x-twin"]["collections"].values():
        collection["id"].update(alphabet="ab", length=1)


@pytest.mark.parametrize("nested", [False, True])
def test_a_prefixed_id_never_repeats_one_the_collection_has(nested: bool) -> None:
    model = build_model(spec_with(narrow_ids))
    narrow = TwinState("narrow", Store(), Clock(), model.conventions, model.collections)
    datasets = narrow.collection("datasets")
    parents = [datasets.create({"dataset_id": name})["uid"] for name in ("x", "y")]
    assert set(parents) == {"da_a", "da_b"}
    if nested:  # unique in the collection, not only under one parent
        made = {narrow.collection("feedbacks").under(uid).create({"title": "t"})["uid"] for uid in parents}
        assert made == {"df_a", "df_b"}
    with pytest.raises(TwinError) as info:
        if nested:
            narrow.collection("feedbacks").under(parents[0]).create({"title": "u"})
        else:
            datasets.create({"dataset_id": "z"})
    assert info.value.kind is ErrorKind.SERVER


@pytest.mark.parametrize(
    ("id_spec", "message"),
    [
        ({"field": "uid", "style": "serial", "prefix": "da_"}, r"unknown x-twin key\(s\) \['prefix'\]"),
        ({"field": "uid", "style": "given", "length": 6}, r"unknown x-twin key\(s\) \['length'\]"),
        ({"field": "uid", "style": "prefixed"}, "needs a prefix"),
        ({"field": "uid", "style": "prefixed", "prefix": "da_", "alphabet": "aa"}, "two distinct characters"),
        ({"field": "uid", "style": "prefixed", "prefix": "da_", "length": 0}, "positive integer"),
        ({"field": "uid", "style": "prefixed", "prefix": "da_", "lenght": 6}, r"\['lenght'\]"),
    ],
)
def test_a_wrong_id_declaration_stops_the_build(id_spec: dict[str, Any], message: str) -> None:
    spec = spec_with(lambda s: s["x-twin"]["collections"]["datasets"].update(id=id_spec))
    with pytest.raises(SpecError, match=message) as info:
        build_model(spec, source="tiny.yaml")
    assert str(info.value).startswith("tiny.yaml: x-twin.collections.datasets.id")


def test_a_duplicate_unique_value_is_a_400_naming_the_field(state: TwinState) -> None:
    for attempt in (
        lambda: call(state, "createDataset", body={"dataset_id": "set-03"}),
        lambda: call(state, "updateDataset", path={"dataset_uid": "da_000004"}, body={"dataset_id": "set-03"}),
    ):
        with pytest.raises(TwinError) as info:
            attempt()
        assert info.value.kind is ErrorKind.INVALID and set(info.value.field_errors) == {"dataset_id"}
    same = call(state, "updateDataset", path={"dataset_uid": "da_000003"}, body={"dataset_id": "set-03"})
    assert same["dataset_id"] == "set-03"  # its own value is no duplicate


def test_unique_fields_of_a_nested_collection_are_unique_under_their_parent(state: TwinState) -> None:
    first = state.collection("feedbacks").under("da_000001")
    first.create({"title": "broken link"})
    state.collection("feedbacks").under("da_000002").create({"title": "broken link"})
    with pytest.raises(TwinError, match="title") as info:
        first.create({"title": "broken link"})
    assert info.value.field_errors == {"title": ["Feedback with this title already exists."]}
    other = first.create({"title": "typo"})
    with pytest.raises(TwinError, match="title"):
        first.replace(other["uid"], {"title": "broken link"})


def test_created_by_and_updated_by_name_the_caller(state: TwinState) -> None:
    louise = {"name": "ci-key", "username": "louise.data"}
    made = call(state, "createDataset", body={"dataset_id": "mine", "created_by": "eve"}, principal=louise)
    assert made["created_by"] == made["updated_by"] == "louise.data"
    changed = call(state, "updateDataset", path={"dataset_uid": made["uid"]}, body={"dataset_id": "mine"},
                   principal={"name": "ci-robot"})  # fmt: skip
    assert (changed["created_by"], changed["updated_by"]) == ("louise.data", "ci-robot")
    state.collection("datasets").set(made["uid"], {"title": "by the server"})
    assert state.collection("datasets").get(made["uid"])["updated_by"] == "ci-robot"


# declarations


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["paths"]["/datasets/"]["get"]["x-twin"]["paginate"].update(size="limit"), r"\['size'\]"),
        (lambda s: s["paths"]["/datasets/"]["get"]["x-twin"]["paginate"].update(limit="count"), "'count' is not a"),
        (lambda s: s["paths"]["/datasets/"]["get"]["x-twin"]["paginate"].pop("offset"), "needs an offset"),
        (lambda s: s["paths"]["/datasets/"]["post"].update({"x-twin": {"paginate": {}}}), "list action only"),
        (lambda s: s["paths"]["/datasets/"]["get"]["x-twin"]["sort"].update(param="order"), "'order' is not a"),
        (lambda s: s["paths"]["/datasets/"]["get"]["x-twin"]["sort"].update(fields=[]), "needs the fields"),
        (lambda s: s["paths"]["/datasets/"]["get"]["x-twin"]["sort"].update(default="title"), r"\['default'\]"),
        (lambda s: s["paths"]["/datasets/"]["get"]["parameters"][2]["schema"].update(default=["-size"]), "'-size'"),
        (lambda s: s["paths"]["/datasets/"]["get"]["x-twin"]["filters"]["search"].update(field="x"), "not both"),
        (lambda s: s["paths"]["/datasets/"]["get"]["x-twin"]["filters"]["search"].update(fuzzy=True), r"\['fuzzy'\]"),
        (lambda s: s["x-twin"]["collections"]["datasets"].update(unique=["doi"]), "'doi' is not a property"),
        (lambda s: s["x-twin"]["collections"]["datasets"].update(created_by="author"), "'author' is not a property"),
    ],
)
def test_wrong_list_and_collection_declarations_stop_the_build(change: Callable[[Any], object], message: str) -> None:
    with pytest.raises(SpecError, match=message) as info:
        build_model(spec_with(change), source="tiny.yaml")
    assert str(info.value).startswith("tiny.yaml")


# over HTTP


def tiny_error(error: TwinError) -> Mapping[str, Any]:
    body: dict[str, Any] = {"error_code": error.kind.value, "message": error.message}
    if error.field_errors:
        body["detail"] = {name: list(messages) for name, messages in error.field_errors.items()}
    return body


@pytest.fixture
def http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The tiny twin over HTTP at /tiny/api, 25 datasets, the key K of louise.data."""
    fixtures = {
        "credentials": [{"name": "ci-louise", "username": "louise.data", "credential": "K"}],
        "collections": {"datasets": [dataset(n) for n in range(1, 26)]},
    }
    with tiny_twin(tmp_path, monkeypatch, SPEC, fixtures, tiny_error, validate_responses=True) as client:
        yield client


def test_over_http_next_links_work_and_collect_every_match(http: TestClient) -> None:
    url: str | None = "/tiny/api/datasets?apikey=K&theme=transport&limit=3&sort=-created_at"
    seen: list[str] = []
    while url is not None:
        answer = http.get(url)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert isinstance(page["total_count"], int)
        seen += uids(page)
        url = page["next"]
        assert url is None or url.startswith("http://localhost/tiny/api/datasets")
    assert len(seen) == len(set(seen)) == page["total_count"] == 9
    assert seen == sorted(seen, reverse=True)


def test_over_http_limits_sorts_and_duplicates_are_the_twins_400(http: TestClient) -> None:
    for bad in ("limit=1001", "limit=-1", "offset=-1", "sort=size"):
        answer = http.get(f"/tiny/api/datasets/?apikey=K&{bad}")
        assert answer.status_code == 400 and answer.json()["error_code"] == "invalid", bad
    assert http.get("/tiny/api/datasets/?apikey=K&limit=0").json()["results"] == []
    repeated = http.get("/tiny/api/datasets/?apikey=K&theme=health&sort=-owner&sort=title&limit=3").json()
    assert uids(repeated) == ["da_000003", "da_000015", "da_000006"]
    assert "sort=-owner&sort=title" in repeated["next"]
    made = http.post("/tiny/api/datasets/?apikey=K", json={"dataset_id": "fresh"})
    assert made.status_code == 201 and re.fullmatch(r"da_[a-z0-9]{6}", made.json()["uid"])
    assert made.json()["created_by"] == "louise.data"
    duplicate = http.post("/tiny/api/datasets/?apikey=K", json={"dataset_id": "fresh"})
    assert duplicate.status_code == 400
    assert duplicate.json()["detail"] == {"dataset_id": ["Dataset with this dataset_id already exists."]}
