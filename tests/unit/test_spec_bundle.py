"""Bundling: a root spec and the common files it refers to become one document with local $refs only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from apitwin.spec import BundleError, Override, bundle, bundled_file, load_bundled, load_raw, load_resolved
from apitwin.twins import TWINS

DATASET = {"type": "object", "properties": {"uid": {"type": "string"}, "owner": {"$ref": "#/components/schemas/User"}}}
USER = {"type": "object", "properties": {"name": {"type": "string"}}}
DATASETS_ITEM = {
    "get": {
        "operationId": "listDatasets",
        "parameters": [{"$ref": "params.yaml#/components/parameters/Limit"}],
        "responses": {
            "200": {
                "description": "the datasets",
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "items": {"$ref": "schemas.yaml#/components/schemas/Dataset"}}
                    }
                },
            }
        },
    }
}
COMMON = {
    "datasets.yaml": {"paths": {"/datasets/": DATASETS_ITEM}},
    "schemas.yaml": {"components": {"schemas": {"Dataset": DATASET, "User": USER}}},
    "params.yaml": {
        "components": {"parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}}}
    },
}


def _root(**extra: Any) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Portal", "version": "1"},
        "paths": {"/datasets/": {"$ref": "common/datasets.yaml#/paths/~1datasets~1"}},
        **extra,
    }


def _write(folder: Path, root: dict[str, Any], common: dict[str, Any] | None = None, name: str = "portal.yaml") -> Path:
    (folder / "common").mkdir(exist_ok=True)
    for file_name, content in (COMMON if common is None else common).items():
        (folder / "common" / file_name).write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    path = folder / name
    path.write_text(yaml.safe_dump(root, sort_keys=False), encoding="utf-8")
    return path


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*([node["$ref"]] if "$ref" in node else []), *(r for v in node.values() for r in _refs(v))]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_a_path_item_of_a_common_file_is_inlined_and_its_components_copied_into_the_root(tmp_path: Path) -> None:
    document = load_bundled(_write(tmp_path, _root()))

    operation = document["paths"]["/datasets/"]["get"]
    assert operation["operationId"] == "listDatasets"
    assert operation["parameters"] == [{"$ref": "#/components/parameters/Limit"}]
    assert document["components"]["schemas"] == {"Dataset": DATASET, "User": USER}  # User: Dataset's own local ref
    assert document["components"]["parameters"]["Limit"]["name"] == "limit"
    assert all(ref.startswith("#/") for ref in _refs(document))


def test_a_root_ref_to_a_common_component_becomes_a_local_ref(tmp_path: Path) -> None:
    root = _root(paths={}, components={"schemas": {"Page": {"$ref": "common/schemas.yaml#/components/schemas/User"}}})
    document = load_bundled(_write(tmp_path, root))

    assert document["components"]["schemas"] == {"Page": {"$ref": "#/components/schemas/User"}, "User": USER}


def test_a_root_component_that_imports_the_common_one_of_its_name_is_no_override(tmp_path: Path) -> None:
    root = _root(components={"schemas": {"User": {"$ref": "common/schemas.yaml#/components/schemas/User"}}})
    made = bundle(_write(tmp_path, root))

    assert made.overrides == () and made.document["components"]["schemas"]["User"] == USER


def test_a_common_component_may_refer_to_itself(tmp_path: Path) -> None:
    tree = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}},
    }
    root = _root(paths={}, components={"schemas": {"Root": {"$ref": "common/tree.yaml#/components/schemas/Node"}}})
    document = load_bundled(_write(tmp_path, root, {"tree.yaml": {"components": {"schemas": {"Node": tree}}}}))

    assert document["components"]["schemas"]["Node"] == tree
    resolved = load_resolved(tmp_path / "portal.yaml")  # the engine's view: recursion kept, no error
    assert "children" in resolved["components"]["schemas"]["Root"]["properties"]


def test_a_root_component_of_the_same_name_overrides_the_common_one_everywhere(tmp_path: Path) -> None:
    mine = {"type": "object", "properties": {"uid": {"type": "string"}, "huwise_only": {"type": "boolean"}}}
    path = _write(tmp_path, _root(components={"schemas": {"Dataset": mine}}))
    made = bundle(path)

    assert made.document["components"]["schemas"]["Dataset"] == mine
    assert made.overrides == (Override("schemas", "Dataset", "common/schemas.yaml"),)
    assert "User" not in made.document["components"]["schemas"]  # only the overridden common Dataset needed it
    items = load_resolved(path)["paths"]["/datasets/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "huwise_only" in items["schema"]["items"]["properties"]


def test_two_common_components_of_one_name_are_an_error_naming_both_files(tmp_path: Path) -> None:
    common = {**COMMON, "other.yaml": {"components": {"schemas": {"User": {"type": "string"}}}}}
    root = _root(components={"schemas": {"Other": {"$ref": "common/other.yaml#/components/schemas/User"}}})

    with pytest.raises(BundleError, match=r"User is defined both in common/schemas.yaml and in common/other.yaml"):
        bundle(_write(tmp_path, root, common))


def test_a_missing_file_is_named_with_where_the_ref_is(tmp_path: Path) -> None:
    root = _root(paths={"/x": {"$ref": "common/nope.yaml#/paths/~1x"}})

    with pytest.raises(BundleError, match=r"portal.yaml \(bundled into portal.yaml at paths./x\).*no file common/nope"):
        bundle(_write(tmp_path, root))


def test_a_missing_pointer_says_which_file_lacks_what(tmp_path: Path) -> None:
    root = _root(paths={"/x": {"$ref": "common/datasets.yaml#/paths/~1datasets"}})

    with pytest.raises(BundleError, match=r"common/datasets.yaml has nothing at #/paths/~1datasets$"):
        bundle(_write(tmp_path, root))


def test_a_missing_pointer_inside_a_common_file_names_that_file(tmp_path: Path) -> None:
    common = {**COMMON, "schemas.yaml": {"components": {"schemas": {"Dataset": DATASET}}}}  # no User

    with pytest.raises(
        BundleError, match=r"^common/schemas.yaml .*schemas.yaml has nothing at #/components/schemas/User"
    ):
        bundle(_write(tmp_path, _root(), common))


def test_path_items_that_refer_to_each_other_in_a_circle_are_an_error(tmp_path: Path) -> None:
    common = {"loop.yaml": {"paths": {"/a": {"$ref": "#/paths/~1b"}, "/b": {"$ref": "#/paths/~1a"}}}}
    root = _root(paths={"/a": {"$ref": "common/loop.yaml#/paths/~1a"}})

    with pytest.raises(BundleError, match="refers to itself"):
        bundle(_write(tmp_path, root, common))


def test_a_change_in_a_common_file_shows_in_the_next_load(tmp_path: Path) -> None:
    path = _write(tmp_path, _root())
    assert "Limit" in load_resolved(path)["components"]["parameters"]
    common = {**COMMON, "params.yaml": {"components": {"parameters": {"Limit": {"name": "rows", "in": "query"}}}}}
    _write(tmp_path, _root(), common)

    assert load_resolved(path)["paths"]["/datasets/"]["get"]["parameters"][0]["name"] == "rows"
    assert load_bundled(path)["components"]["parameters"]["Limit"]["name"] == "rows"


def test_the_bundled_file_for_schemathesis_holds_the_bundle(tmp_path: Path) -> None:
    path = _write(tmp_path, _root())
    out = tmp_path / "out"
    out.mkdir()

    written = bundled_file(path, out)
    assert written.parent == out and load_raw(written) == load_bundled(path)


SELF_CONTAINED = [name for name, twin in TWINS.items() if "common/" not in twin.spec_path.read_text(encoding="utf-8")]


def test_the_twins_on_common_files_bundle_them() -> None:
    shared = [name for name in TWINS if name not in SELF_CONTAINED]
    assert shared == ["opendatasoft", "huwise"]
    made = bundle(TWINS["opendatasoft"].spec_path)
    assert made.files[0].name == "opendatasoft.yaml"
    assert {"automation.yaml", "metadata.yaml", "schedules.yaml", "feedbacks.yaml"} <= {
        path.name for path in made.files[1:]
    }
    assert not any(f"{path.name}#" in str(made.document) for path in made.files[1:])  # every $ref is local


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_a_self_contained_spec_bundles_to_itself(name: str, tmp_path: Path) -> None:
    path = TWINS[name].spec_path
    made = bundle(path)

    assert made.files == (path.resolve(),) and made.overrides == ()
    assert made.document == load_raw(path) and list(made.document) == list(load_raw(path))
    assert bundled_file(path, tmp_path) == path  # Schemathesis reads the file as written


def test_bundling_leaves_the_files_as_parsed(tmp_path: Path) -> None:
    path = _write(tmp_path, _root(components={"schemas": {"Dataset": USER}}))
    bundle(path)

    assert load_raw(tmp_path / "common" / "datasets.yaml") == COMMON["datasets.yaml"]  # its refs not rewritten
    assert load_raw(path)["paths"]["/datasets/"] == {"$ref": "common/datasets.yaml#/paths/~1datasets~1"}
