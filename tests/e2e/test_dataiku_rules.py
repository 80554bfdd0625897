"""Rules the Dataiku document states, kept by the twin: fixed connection names and types, what each key may
see of a project, who is connected, and the privileges a dataset delete needs."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import runtime_of
from tests.e2e.test_dataiku import BASE, as_key

CONNECTION = f"{BASE}/admin/connections/warehouse-postgres"


def test_a_connection_keeps_its_name_and_type(client: TestClient) -> None:
    admin = as_key(client, "admin")
    current = client.get(CONNECTION, headers=admin).json()
    retyped = client.put(CONNECTION, json={**current, "type": "MySQL"}, headers=admin)
    assert retyped.status_code == 400 and "type of connection warehouse-postgres cannot be changed" in retyped.text
    renamed = client.put(CONNECTION, json={**current, "name": "elsewhere"}, headers=admin)
    assert renamed.status_code == 400 and "name" in renamed.json()["message"]
    assert client.get(CONNECTION, headers=admin).json()["type"] == "PostgreSQL"
    changed = client.put(CONNECTION, json={**current, "allowWrite": False}, headers=admin)
    assert changed.status_code == 200 and client.get(CONNECTION, headers=admin).json()["allowWrite"] is False


def test_project_lists_show_permissions_only_to_the_project_admins(client: TestClient) -> None:
    admin_view = {p["projectKey"]: p for p in client.get(f"{BASE}/projects/", headers=as_key(client, "admin")).json()}
    assert "permissions" in admin_view["SALES_FORECAST"] and "exposedObjects" in admin_view["SALES_FORECAST"]
    pipeline = as_key(client, "pipeline")
    [seen] = client.get(f"{BASE}/projects/", headers=pipeline).json()
    assert seen["projectKey"] == "SALES_FORECAST" and seen["name"] == admin_view["SALES_FORECAST"]["name"]
    assert "permissions" not in seen and "exposedObjects" not in seen
    assert client.get(f"{BASE}/projects/SALES_FORECAST/permissions", headers=pipeline).status_code == 403


def test_connected_users_are_none_since_nobody_uses_the_twins_interface(client: TestClient) -> None:
    admin = as_key(client, "admin")
    assert client.get(f"{BASE}/admin/users/", params={"connected": "true"}, headers=admin).json() == []
    assert len(client.get(f"{BASE}/admin/users/", params={"connected": "false"}, headers=admin).json()) == 4
    assert len(client.get(f"{BASE}/admin/users/", headers=admin).json()) == 4


def test_deleting_a_dataset_needs_write_data_as_well_as_write_conf(client: TestClient) -> None:
    dataiku = runtime_of(client).twins["dataiku"]
    conf_only = {
        "name": "conf-only",
        "credential": "conf-only-key",
        "projects": {"SALES_FORECAST": ["READ_CONF", "WRITE_CONF"]},
    }
    dataiku.state.store.insert("dataiku/credentials", "conf-only-key", conf_only)
    url = f"{BASE}/projects/SALES_FORECAST/datasets/customers"
    denied = client.delete(url, headers={"Authorization": "Bearer conf-only-key"})
    assert denied.status_code == 403 and "WRITE_DATA" in denied.json()["message"]
    assert client.get(url, headers=as_key(client, "admin")).status_code == 200
    assert client.delete(url, headers=as_key(client, "pipeline")).status_code == 204
