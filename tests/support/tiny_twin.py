"""A temporary twin served over HTTP for an engine test: a spec and fixtures written to a folder, no behaviours."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

import apitwin.twins
from apitwin.app import create_app
from apitwin.behaviours import Behaviours
from apitwin.errors import ErrorShape
from apitwin.twins import Twin


@contextmanager
def tiny_twin(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    spec: Mapping[str, Any],
    fixtures: Mapping[str, Any],
    error_shape: ErrorShape,
    **app_options: Any,
) -> Iterator[TestClient]:
    """Serve `spec` as the only twin, `tiny`, at /tiny/api (base path /api), seeded with `fixtures`."""
    spec_file = folder / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(dict(spec)), encoding="utf-8")
    (folder / "tiny.json").write_text(json.dumps(fixtures), encoding="utf-8")
    module = types.ModuleType("tiny_twin_behaviours")
    module.behaviours = Behaviours()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    twin = Twin("tiny", "Tiny twin", str(spec_file), "/api", error_shape, module.__name__)
    monkeypatch.setattr(apitwin.twins, "TWINS", {"tiny": twin})
    monkeypatch.setattr(apitwin.twins, "FIXTURES_DIR", folder)
    with TestClient(create_app(["tiny"], prefixed=True, **app_options), base_url="http://localhost") as client:
        yield client
