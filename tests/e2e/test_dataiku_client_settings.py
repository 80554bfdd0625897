"""The seeded objects are complete: the official client's settings classes read every property they expose on
every seeded connection, user, group and dataset without a KeyError, as on objects the client creates."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import dataikuapi
import pytest

from apitwin.app import create_app
from apitwin.serving import serve_in_background

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dss() -> Iterator[dataikuapi.DSSClient]:
    app = create_app(["dataiku"], prefixed=False, validate_responses=True)
    admin = app.state.runtime.twins["dataiku"].credentials()[0]["credential"]
    with serve_in_background(app) as origin:
        yield dataikuapi.DSSClient(origin, admin)


def read_every_property(settings: Any) -> dict[str, Any]:
    """Each public property of the client's class, read as a user's code would (a missing field raises)."""
    values = {}
    for name, member in inspect.getmembers(type(settings)):
        if isinstance(member, property) and not name.startswith("_"):
            values[name] = getattr(settings, name)
    assert values, f"{type(settings).__name__} exposes no property"
    return values


def test_every_seeded_connection_reads_completely(dss: dataikuapi.DSSClient) -> None:
    names = dss.list_connections()
    assert len(names) == 3
    for name in names:
        settings = dss.get_connection(name).get_settings()
        values = read_every_property(settings)
        assert values["type"] and values["usable_by"] in ("ALL", "ALLOWED")
        assert isinstance(values["details_readability"].allowed_groups, list)


def test_every_seeded_user_reads_completely(dss: dataikuapi.DSSClient) -> None:
    for user in dss.list_users():
        settings = dss.get_user(user["login"]).get_settings()
        values = read_every_property(settings)
        assert isinstance(values["user_properties"], dict) and isinstance(values["admin_properties"], dict)
        assert values["enabled"] is True


def test_every_seeded_dataset_reads_completely(dss: dataikuapi.DSSClient) -> None:
    for key in dss.list_project_keys():
        project = dss.get_project(key)
        for item in project.list_datasets():
            settings = project.get_dataset(item["name"]).get_settings()
            values = read_every_property(settings)
            assert values["schema_columns"] and values["type"]
            assert settings.get_raw()["featureGroup"] is False


def test_a_created_connection_and_a_seeded_one_have_the_same_fields(dss: dataikuapi.DSSClient) -> None:
    created = dss.create_connection("fresh", type="PostgreSQL", params={"host": "h", "db": "d", "user": "u"})
    fresh = created.get_settings().get_raw()
    seeded = dss.get_connection("warehouse-postgres").get_settings().get_raw()
    assert set(fresh) == set(seeded)
