"""Each twin's served OpenAPI document (what Swagger UI loads) is made once, not on every request."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.app import create_app


def test_the_served_document_is_made_once_per_twin_and_answered_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: connexion deep-copies and re-validates the spec for each request (0.3 s of blocked event loop)."""
    from connexion.middleware.swagger_ui import SwaggerUIAPI

    made: list[str] = []
    original = SwaggerUIAPI._spec_for_prefix

    def counted(self: Any, request: Any) -> Any:
        made.append(request.url.path)
        return original(self, request)

    monkeypatch.setattr(SwaggerUIAPI, "_spec_for_prefix", counted)
    # its own app, so no earlier test has made the documents already
    client = TestClient(create_app(["datascaphe", "datascale"], prefixed=True), base_url="http://localhost")
    json_url, yaml_url = "/datascaphe/api/v1/openapi.json", "/datascaphe/api/v1/openapi.yaml"

    first, second = client.get(json_url), client.get(json_url)
    yaml_first, yaml_second = client.get(yaml_url), client.get(yaml_url)
    assert client.get("/datascaphe/api/v1/ui/").status_code == 200  # Swagger UI's page, then its fetch
    third = client.get(json_url)

    assert first.status_code == yaml_first.status_code == 200
    assert first.content == second.content == third.content and first.headers == third.headers
    assert yaml_first.content == yaml_second.content
    assert first.json()["info"]["title"]
    assert made == [json_url, yaml_url]  # once each; the other twin's not at all until asked
