"""A spec connexion found valid is not checked again until its content changes; an invalid one still fails."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from connexion.exceptions import InvalidSpecification
from connexion.spec import OpenAPISpecification

from apitwin import specvalidity

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {"/ping": {"get": {"operationId": "ping", "responses": {"200": {"description": "ok"}}}}},
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(specvalidity, "_valid", set())
    specvalidity.install()
    return tmp_path / "apitwin" / "valid-specs"


def _never_checked(spec: Any) -> Any:
    raise AssertionError("the meta-schema check ran again")


def test_a_valid_spec_is_checked_once_then_remembered_across_processes(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = copy.deepcopy(SPEC)
    OpenAPISpecification._validate_spec(spec)
    assert [path.name for path in cache.iterdir()] == [specvalidity.digest(spec)]
    monkeypatch.setattr("connexion.spec.create_spec_validator", _never_checked)  # what connexion checks with
    OpenAPISpecification._validate_spec(copy.deepcopy(spec))  # remembered in the process
    specvalidity._valid.clear()  # a new process: the marker on disk is enough
    OpenAPISpecification._validate_spec(copy.deepcopy(spec))
    changed = copy.deepcopy(spec)
    changed["info"]["title"] = "changed"
    with pytest.raises(AssertionError, match="ran again"):  # another content is checked
        OpenAPISpecification._validate_spec(changed)


def test_an_invalid_spec_still_fails_and_a_changed_spec_is_checked_again(cache: Path) -> None:
    OpenAPISpecification._validate_spec(copy.deepcopy(SPEC))
    invalid = copy.deepcopy(SPEC)
    invalid["paths"]["/ping"]["get"]["responses"] = "none"
    for _ in range(2):  # not remembered: it fails every time
        with pytest.raises(InvalidSpecification):
            OpenAPISpecification._validate_spec(invalid)
    assert len(list(cache.iterdir())) == 1
