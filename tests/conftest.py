"""Shared fixtures: a fresh app with freshly seeded in-memory state for every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from apitwin.app import create_app
from apitwin.runtime import Runtime


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Build a client over a new app; keyword arguments go to create_app."""
    clients: list[TestClient] = []

    def build(*twins: str, **options: Any) -> TestClient:
        options.setdefault("validate_responses", True)  # a handler bug must fail the test, not reach clients
        # localhost, as a client on this machine names the server (the app refuses Hosts it does not serve)
        app = create_app(list(twins), prefixed=True, **options)
        client = TestClient(app, base_url="http://localhost", raise_server_exceptions=True)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def runtime_of(client: TestClient) -> Runtime:
    app = client.app
    assert isinstance(app, Starlette)
    runtime = app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


def credential(client: TestClient, twin: str, name: str) -> str:
    """A credential of the twin's fixtures, by its name (admin, developer, viewer, revoked, ci-...)."""
    for record in runtime_of(client).twins[twin].credentials():
        if record["name"] == name or record.get("role") == name:
            return str(record["credential"])
    raise KeyError(name)
