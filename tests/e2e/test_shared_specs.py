"""Two twins on the same common spec file: each serves the bundle of its root and the common parts, so a change
in the common file shows in both, and a root component states one twin's difference."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from apitwin import twins
from apitwin.errors import datascale_error
from apitwin.twins import Twin

ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
DATASET: dict[str, Any] = {
    "type": "object",
    "required": ["uid"],
    "properties": {"uid": {"type": "string"}, "title": {"type": "string"}},
}
COMMON: dict[str, Any] = {
    "paths": {
        "/datasets/": {
            "x-twin": {"collection": "datasets"},
            "get": {
                "operationId": "listDatasets",
                "summary": "List datasets",
                "parameters": [{"$ref": "#/components/parameters/Order"}],
                "responses": {
                    "200": {
                        "description": "the datasets",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Dataset"}}
                            }
                        },
                    },
                    "400": ERROR,
                    "401": ERROR,
                },
            },
        }
    },
    "components": {
        "parameters": {
            "Order": {"name": "order", "in": "query", "required": True, "schema": {"type": "string", "enum": ["title"]}}
        },
        "schemas": {
            "Dataset": DATASET,
            "Error": {"type": "object", "properties": {"message": {"type": "string"}}},
        },
    },
}


def _root(title: str, **components: Any) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "security": [{"token": []}],
        "x-twin": {"collections": {"datasets": {"schema": "Dataset", "id": {"field": "uid", "style": "given"}}}},
        "paths": {"/datasets/": {"$ref": "common/portal.yaml#/paths/~1datasets~1"}},
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}, **components},
    }


@dataclass(frozen=True)
class _LocalTwin(Twin):
    """A twin whose spec and fixtures live in a test's folder (the spec file name is absolute)."""

    folder: str = ""

    @property
    def fixtures_path(self) -> Path:
        return Path(self.folder) / f"{self.name}.json"


def _write(path: Path, content: Any) -> None:
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Twins `portal_a` and `portal_b` on specs/common/portal.yaml in tmp_path; portal_b overrides Dataset."""
    (tmp_path / "common").mkdir()
    _write(tmp_path / "common" / "portal.yaml", COMMON)
    extended = {**DATASET, "properties": {**DATASET["properties"], "theme": {"type": "string"}}}
    _write(tmp_path / "portal_a.yaml", _root("Portal A"))
    order = {"name": "order", "in": "query", "required": True, "schema": {"type": "string", "enum": ["-created_at"]}}
    _write(tmp_path / "portal_b.yaml", _root("Portal B", schemas={"Dataset": extended}, parameters={"Order": order}))
    fixtures = {"credentials": [{"name": "ci", "credential": "k1"}], "collections": {"datasets": [{"uid": "d1"}]}}
    for name in ("portal_a", "portal_b"):
        (tmp_path / f"{name}.json").write_text(json.dumps(fixtures), encoding="utf-8")
        twin = _LocalTwin(
            name=name,
            title=name,
            spec_file=str(tmp_path / f"{name}.yaml"),
            base_path="/v1",
            error_shape=datascale_error,
            behaviours_module="apitwin.behaviours.datascale",
            auth_hint="Authorization: Bearer {credential}",
            folder=str(tmp_path),
        )
        monkeypatch.setitem(twins.TWINS, name, twin)
    yield tmp_path


def _openapi(client: TestClient, name: str) -> dict[str, Any]:
    response = client.get(f"/{name}/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_both_twins_serve_the_common_path_items_with_local_refs_only(
    specs: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client("portal_a", "portal_b")

    for name in ("portal_a", "portal_b"):
        document = _openapi(client, name)
        assert document["paths"]["/datasets/"]["get"]["operationId"] == "listDatasets"
        assert "common/" not in str(document)
        order = "title" if name == "portal_a" else "-created_at"
        answer = client.get(f"/{name}/v1/datasets/?order={order}", headers={"Authorization": "Bearer k1"})
        assert answer.status_code == 200 and [dataset["uid"] for dataset in answer.json()] == ["d1"]


def test_a_root_component_overrides_the_common_one_in_that_twin_only(
    specs: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client("portal_a", "portal_b")

    assert "theme" not in _openapi(client, "portal_a")["components"]["schemas"]["Dataset"]["properties"]
    assert "theme" in _openapi(client, "portal_b")["components"]["schemas"]["Dataset"]["properties"]


def test_a_change_in_the_common_file_shows_in_both_twins_openapi(
    specs: Path, make_client: Callable[..., TestClient]
) -> None:
    changed = {**COMMON, "paths": {"/datasets/": {**COMMON["paths"]["/datasets/"]}}}
    changed["paths"]["/datasets/"]["get"] = {**COMMON["paths"]["/datasets/"]["get"], "summary": "Every dataset"}
    _write(specs / "common" / "portal.yaml", changed)

    client = make_client("portal_a", "portal_b")
    for name in ("portal_a", "portal_b"):
        assert _openapi(client, name)["paths"]["/datasets/"]["get"]["summary"] == "Every dataset"


def test_diff_reads_roots_that_refer_to_common_files(specs: Path) -> None:
    from apitwin.diff import diff_files

    changes = diff_files(specs / "portal_a.yaml", specs / "portal_b.yaml")
    assert any("theme" in str(change) for change in changes)


def test_drift_plans_requests_from_the_bundled_spec(specs: Path) -> None:
    from apitwin.drift.planning import plan_requests

    planned = plan_requests("portal_b", cases=5)

    positive = [request for request in planned if request.origin == "positive"]
    assert positive and {request.query for request in positive} == {"order=-created_at"}  # portal_b's override


def test_drift_judges_answers_by_the_bundled_spec(specs: Path) -> None:
    from apitwin.drift.compare import Answer
    from apitwin.drift.sending import _Documented

    documented = _Documented(specs / "portal_b.yaml")
    body = json.dumps([{"uid": "d1", "theme": 5}]).encode()
    answer = Answer(status=200, media_type="application/json", body=body)
    url = "http://twin.invalid/v1/datasets/?order=-created_at"
    assert documented.violation("GET /datasets/", url, answer)  # portal_b's Dataset: theme is a string


@pytest.mark.parametrize("name", ["datascaphe", "datascale", "dataiku"])
def test_a_self_contained_spec_is_served_as_before_bundling(name: str, make_client: Callable[..., TestClient]) -> None:
    from connexion import AsyncApp
    from connexion.resolver import Resolver

    from apitwin.spec import for_connexion, load_raw

    twin = twins.TWINS[name]
    before = AsyncApp(__name__)  # what app.py served before bundling: the file as written
    before.add_api(
        for_connexion(load_raw(twin.spec_path)),
        base_path=twin.mount_path(True),
        resolver=Resolver(function_resolver=lambda _: lambda: None),
    )
    url = f"{twin.mount_path(True)}/openapi.json"
    with TestClient(before, base_url="http://localhost") as plain:
        expected = plain.get(url).content

    assert make_client(name).get(url).content == expected


def test_check_fuzzes_the_bundled_spec(specs: Path) -> None:
    from apitwin.contract import run_check

    output: list[str] = []
    code = run_check("portal_b", max_examples=5, echo=lambda line, **_: output.append(str(line)))

    assert code == 0, "\n".join(output)


def test_a_change_in_a_real_common_file_shows_in_opendatasoft_and_huwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    import dataclasses
    import shutil

    from apitwin.spec import SPECS_DIR

    shutil.copytree(SPECS_DIR, tmp_path / "specs")
    common = tmp_path / "specs" / "common" / "schedules.yaml"
    text = common.read_text(encoding="utf-8")
    common.write_text(text.replace("summary: List dataset schedules", "summary: Every schedule"), encoding="utf-8")
    for name in ("opendatasoft", "huwise"):
        copied = dataclasses.replace(twins.TWINS[name], spec_file=str(tmp_path / "specs" / f"{name}.yaml"))
        monkeypatch.setitem(twins.TWINS, name, copied)

    client = make_client("opendatasoft", "huwise")
    for name in ("opendatasoft", "huwise"):
        document = client.get(f"/{name}/api/automation/v1.0/openapi.json").json()
        assert document["paths"]["/datasets/{dataset_uid}/schedules/"]["get"]["summary"] == "Every schedule"


# Common path items the Huwise document does not have (Opendatasoft's code editor page archive and unarchive):
# Huwise leaves them out.
OPENDATASOFT_ONLY: frozenset[str] = frozenset(
    {"/code_editor_pages/{page_slug}/archive/", "/code_editor_pages/{page_slug}/unarchive/"}
)


def test_huwise_refers_to_every_common_path_item_opendatasoft_serves() -> None:
    """Issue 12: the shared operations land in both twins at once."""
    from apitwin.spec import load_raw

    def common_paths(name: str) -> set[str]:
        """Path items taken from the common files whole, or (Huwise's own lists) whose operations refer to theirs."""
        paths = load_raw(twins.TWINS[name].spec_path)["paths"]
        return {
            path
            for path, item in paths.items()
            if "common/" in str(item.get("$ref", ""))
            or any(
                "common/" in str(operation.get("$ref", ""))
                for operation in item.values()
                if isinstance(operation, dict)
            )
        }

    missing = common_paths("opendatasoft") - OPENDATASOFT_ONLY - common_paths("huwise")
    assert not missing, f"specs/huwise.yaml should refer to these common path items too: {sorted(missing)}"
