"""The Dataiku DSS twin over HTTP: every operation's failures (401, 403, 404, 400) in Dataiku's error shape,
auth variants, base paths, headers, data formats, jobs on the clock and SQL errors."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import credential, runtime_of

BASE = "/dataiku/dip/publicapi"
P, D, J = "SALES_FORECAST", "orders", "build_orders_by_country_2025-09-01T02-00-00_oxlf"
DATASET = {"name": "returns", "type": "PostgreSQL", "params": {"connection": "warehouse-postgres", "table": "returns"}}
# operationId -> (method, path below the base, body): a request that succeeds with the admin key
OPERATIONS: dict[str, tuple[str, str, Any]] = {
    "listProjects": ("GET", "/projects/", None),
    "createProject": ("POST", "/projects/", {"projectKey": "NEW_ONE", "name": "New", "owner": "admin"}),
    "getProject": ("GET", f"/projects/{P}", None),
    "deleteProject": ("DELETE", f"/projects/{P}", None),
    "getProjectMetadata": ("GET", f"/projects/{P}/metadata", None),
    "setProjectMetadata": ("PUT", f"/projects/{P}/metadata", {"label": "Sales", "tags": []}),
    "getProjectPermissions": ("GET", f"/projects/{P}/permissions", None),
    "setProjectPermissions": ("PUT", f"/projects/{P}/permissions", {"owner": "admin", "permissions": []}),
    "exportProject": ("GET", f"/projects/{P}/export", None),
    "exportProjectWithOptions": ("POST", f"/projects/{P}/export", {"exportManagedFS": True}),
    "listDatasets": ("GET", f"/projects/{P}/datasets/", None),
    "createDataset": ("POST", f"/projects/{P}/datasets/", DATASET),
    "getDataset": ("GET", f"/projects/{P}/datasets/{D}", None),
    "setDataset": ("PUT", f"/projects/{P}/datasets/{D}", {"name": D, "type": "PostgreSQL", "params": {}}),
    "deleteDataset": ("DELETE", f"/projects/{P}/datasets/{D}", None),
    "getDatasetMetadata": ("GET", f"/projects/{P}/datasets/{D}/metadata", None),
    "setDatasetMetadata": ("PUT", f"/projects/{P}/datasets/{D}/metadata", {"label": "Orders", "tags": ["x"]}),
    "getDatasetSchema": ("GET", f"/projects/{P}/datasets/{D}/schema", None),
    "setDatasetSchema": ("PUT", f"/projects/{P}/datasets/{D}/schema", {"columns": [{"name": "a", "type": "string"}]}),
    "getDatasetData": ("GET", f"/projects/{P}/datasets/{D}/data/", None),
    "postDatasetData": ("POST", f"/projects/{P}/datasets/{D}/data/", {"format": "json"}),
    "clearDatasetData": ("DELETE", f"/projects/{P}/datasets/{D}/data", None),
    "finishDatasetStreaming": ("GET", f"/projects/{P}/datasets/{D}/finish-streaming/", None),
    "listDatasetPartitions": ("GET", f"/projects/{P}/datasets/{D}/partitions", None),
    "listJobs": ("GET", f"/projects/{P}/jobs/", None),
    "listRunningJobs": ("GET", f"/projects/{P}/jobs/running/", None),
    "startJob": ("POST", f"/projects/{P}/jobs/", {"outputs": [{"id": D}]}),
    "getJob": ("GET", f"/projects/{P}/jobs/{J}/", None),
    "abortJob": ("POST", f"/projects/{P}/jobs/{J}/abort", None),
    "getJobLog": ("GET", f"/projects/{P}/jobs/{J}/log", None),
    "startSqlQuery": ("POST", "/sql/queries/", {"query": "SELECT 1 AS one", "connection": "warehouse-postgres"}),
    "streamSqlQuery": ("GET", "/sql/queries/{queryId}/stream", None),
    "finishSqlQuery": ("GET", "/sql/queries/{queryId}/finish-streaming", None),
    "listConnections": ("GET", "/admin/connections/", None),
    "createConnection": ("POST", "/admin/connections/", {"name": "c2", "type": "PostgreSQL", "params": {}}),
    "getConnection": ("GET", "/admin/connections/warehouse-postgres", None),
    "setConnection": (
        "PUT", "/admin/connections/warehouse-postgres", {"name": "warehouse-postgres", "type": "PostgreSQL"}
    ),
    "deleteConnection": ("DELETE", "/admin/connections/warehouse-postgres", None),
    "listUsers": ("GET", "/admin/users/", None),
    "createUser": ("POST", "/admin/users/", {"login": "u2", "password": "p", "displayName": "U2", "groups": []}),
    "getUser": ("GET", "/admin/users/admin", None),
    "setUser": ("PUT", "/admin/users/admin", {"login": "admin", "displayName": "Admin"}),
    "deleteUser": ("DELETE", "/admin/users/admin", None),
    "listGroups": ("GET", "/admin/groups/", None),
    "createGroup": ("POST", "/admin/groups/", {"name": "g2", "description": "G2"}),
    "getGroup": ("GET", "/admin/groups/readers", None),
    "setGroup": ("PUT", "/admin/groups/readers", {"name": "readers", "description": "Readers"}),
    "deleteGroup": ("DELETE", "/admin/groups/readers", None),
    "listLogs": ("GET", "/admin/logs/", None),
    "getLog": ("GET", "/admin/logs/backend.log", None),
    "getVariables": ("GET", "/admin/variables/", None),
    "setVariables": ("PUT", "/admin/variables/", {"env": "test"}),
}  # fmt: skip
# the unknown-id version of each path that names items
UNKNOWN = {"SALES_FORECAST": "NO_SUCH_PROJECT", f"/{D}": "/no_such_dataset", J: "no_such_job",
           "warehouse-postgres": "no-such-connection", "/admin/users/admin": "/admin/users/nobody",
           "/groups/readers": "/groups/nobody", "backend.log": "nothing.log", "{queryId}": "no-such-query"}  # fmt: skip


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client("dataiku")


def basic(user: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def as_key(client: TestClient, name: str) -> dict[str, str]:
    return basic(credential(client, "dataiku", name))


def call(client: TestClient, operation: str, headers: dict[str, str], unknown: bool = False) -> Any:
    method, path, body = OPERATIONS[operation]
    if "{queryId}" in path and not unknown:
        started = client.post(
            f"{BASE}/sql/queries/", json=OPERATIONS["startSqlQuery"][2], headers=as_key(client, "admin")
        )
        path = path.replace("{queryId}", started.json()["queryId"])
    if unknown:
        for known, missing in UNKNOWN.items():
            path = path.replace(known, missing)
    return client.request(method, BASE + path, json=body, headers=headers)


def assert_dss_error(response: Any, status: int, error_type: str, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorType"] == f"com.dataiku.dip.exceptions.{error_type}"
    assert fragment in body["message"] and body["detailedMessage"].startswith(body["errorType"])
    assert response.headers["DSS-API-Version"] and response.headers["DSS-Version"]


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_operation_succeeds_for_an_admin_key(client: TestClient, operation: str) -> None:
    response = call(client, operation, as_key(client, "admin"))
    assert response.status_code in (200, 204), response.text
    assert response.headers["DSS-Version"] == "14.3.0"


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_operation_needs_a_known_key(client: TestClient, operation: str) -> None:
    assert_dss_error(call(client, operation, {}), 401, "NotAuthenticatedException")
    assert_dss_error(call(client, operation, basic("not-a-key")), 401, "NotAuthenticatedException", "Unknown API Key")


@pytest.mark.parametrize("operation", sorted(set(OPERATIONS) - {"listProjects"}))
def test_every_operation_refuses_a_key_without_the_privilege(client: TestClient, operation: str) -> None:
    # the analyst key reads CHURN only: nothing on SALES_FORECAST, no SQL, no administration
    assert_dss_error(call(client, operation, as_key(client, "analyst")), 403, "UnauthorizedException", "lacks")


NAMING_AN_ITEM = sorted(op for op, (_, path, _) in OPERATIONS.items() if any(known in path for known in UNKNOWN))


@pytest.mark.parametrize("operation", NAMING_AN_ITEM)
def test_every_operation_on_an_unknown_item_is_404(client: TestClient, operation: str) -> None:
    assert_dss_error(call(client, operation, as_key(client, "admin"), unknown=True), 404, "NotFoundException")


@pytest.mark.parametrize(
    ("method", "path", "body", "fragment"),
    [
        ("POST", "/projects/", {"projectKey": "bad key!", "name": "x"}, "projectKey"),
        ("POST", f"/projects/{P}/datasets/", {"name": "x"}, "type"),
        ("PUT", f"/projects/{P}/metadata", ["not", "an", "object"], ""),
        ("POST", f"/projects/{P}/jobs/", {"outputs": []}, "outputs"),
        ("POST", "/sql/queries/", {"connection": "warehouse-postgres"}, "query"),
        ("GET", f"/projects/{P}/datasets/{D}/data/?format=parquet", None, "format"),
        ("GET", f"/projects/{P}/datasets/{D}/data/?filter=amount%20%3E", None, "filter"),
        ("GET", f"/projects/{P}/datasets/{D}/data/?columns=nope", None, "nope"),
        ("POST", "/admin/connections/", {"name": "x"}, "type"),
        ("POST", "/admin/users/", {"displayName": "no login"}, "login"),
        ("PUT", "/admin/variables/", ["x"], ""),
    ],
)
def test_bad_input_is_400(client: TestClient, method: str, path: str, body: Any, fragment: str) -> None:
    response = client.request(method, BASE + path, json=body, headers=as_key(client, "admin"))
    assert_dss_error(response, 400, "DSSIllegalArgumentException", fragment)


def test_duplicates_and_failing_sql_are_refused_in_their_own_terms(client: TestClient) -> None:
    admin = as_key(client, "admin")
    duplicate = client.post(f"{BASE}/projects/", json={"projectKey": P, "name": "dup"}, headers=admin)
    assert_dss_error(duplicate, 409, "DSSIllegalArgumentException", "already exists")
    failing = client.post(f"{BASE}/sql/queries/", json={"query": "SELEC 1", "connection": "warehouse-postgres"},
                          headers=admin)  # fmt: skip
    assert failing.status_code == 400 and failing.json()["errorType"] == "java.sql.SQLException"
    assert "syntax error" in failing.json()["message"]


@pytest.mark.parametrize(
    "headers_of",
    [
        lambda key: basic(key),  # the official client: the key as user name
        lambda key: basic("", key),  # DSS 13 docs: the key as password
        lambda key: {"Authorization": f"Bearer {key}"},  # DSS 13 docs and third-party SDKs
    ],
)
def test_the_key_is_accepted_in_every_documented_form(client: TestClient, headers_of: Any) -> None:
    response = client.get(f"{BASE}/projects/", headers=headers_of(credential(client, "dataiku", "admin")))
    assert [p["projectKey"] for p in response.json()] == ["SALES_FORECAST", "CHURN"]


def test_documented_base_path_and_either_trailing_slash_work(client: TestClient) -> None:
    admin = as_key(client, "admin")
    assert client.get("/dataiku/public/api/projects/", headers=admin).status_code == 200
    assert client.get(f"{BASE}/projects", headers=admin).status_code == 200
    assert client.get(f"{BASE}/projects/{P}/datasets/{D}/", headers=admin).json()["name"] == D


def test_json_body_without_content_type_is_accepted(client: TestClient) -> None:
    headers = {**as_key(client, "admin")}
    response = client.post(f"{BASE}/projects/{P}/datasets/", content=b'{"name": "raw", "type": "Filesystem"}',
                           headers=headers)  # fmt: skip
    assert response.status_code == 200 and response.json()["name"] == "raw"


def test_data_json_format_is_arrays_of_strings(client: TestClient) -> None:
    rows = client.get(f"{BASE}/projects/{P}/datasets/customers/data/", headers=as_key(client, "admin")).json()
    assert rows and all(isinstance(value, str) for row in rows for value in row)


def test_data_text_formats_filters_and_columns(client: TestClient) -> None:
    admin = as_key(client, "admin")
    url = f"{BASE}/projects/{P}/datasets/{D}/data/"
    everything = list(csv.reader(io.StringIO(client.get(url, params={"format": "csv"}, headers=admin).text)))
    assert everything[0] == ["order_id", "customer_id", "country", "amount", "ordered_at"]
    big = client.get(url, params={"format": "tsv-excel-header", "filter": "amount >= 400 && country != 'FR'",
                                  "columns": "country,amount"}, headers=admin)  # fmt: skip
    assert big.headers["content-type"].startswith("text/tab-separated-values")
    lines = list(csv.reader(io.StringIO(big.text), delimiter="\t"))
    assert lines[0] == ["country", "amount"]
    expected = [[r[2], r[3]] for r in everything[1:] if float(r[3]) >= 400 and r[2] != "FR"]
    assert lines[1:] == expected


def test_post_data_samples_head_records_of_a_partition(client: TestClient) -> None:
    admin = as_key(client, "admin")
    body = {"format": "tsv-excel-noheader", "partitions": "2025-09-02", "sampling": {"maxRecords": 2},
            "columns": ["order_id"]}  # fmt: skip
    response = client.post(f"{BASE}/projects/{P}/datasets/{D}/data/", json=body, headers=admin)
    # The same rows a GET of that partition and column gives, cut to the first two.
    params = {"format": "tsv-excel-noheader", "partitions": "2025-09-02", "columns": "order_id"}
    partition = client.get(f"{BASE}/projects/{P}/datasets/{D}/data/", params=params, headers=admin).text.splitlines()
    everything = client.get(f"{BASE}/projects/{P}/datasets/{D}/data/", params={"format": "tsv-excel-noheader"},
                            headers=admin).text.splitlines()  # fmt: skip
    assert len(everything) > len(partition) > 2
    assert response.text.splitlines() == partition[:2]
    assert all("\t" not in line for line in response.text.splitlines())  # one column only


def test_clearing_some_partitions_keeps_the_others(client: TestClient) -> None:
    admin = as_key(client, "admin")
    url = f"{BASE}/projects/{P}/datasets/{D}"
    before = {
        partition: client.get(f"{url}/data/", params={"partitions": partition}, headers=admin).json()
        for partition in client.get(f"{url}/partitions", headers=admin).json()
    }
    assert len(before) == 3 and all(before.values())
    assert client.delete(f"{url}/data", params={"partitions": "2025-09-01"}, headers=admin).status_code == 200
    assert client.get(f"{url}/partitions", headers=admin).json() == ["2025-09-02", "2025-09-03"]
    for partition in ("2025-09-02", "2025-09-03"):
        assert client.get(f"{url}/data/", params={"partitions": partition}, headers=admin).json() == before[partition]


def test_jobs_move_on_the_clock_and_their_log_grows(client: TestClient) -> None:
    admin = as_key(client, "admin")
    clock = runtime_of(client).clock
    clock.freeze()
    job_id = client.post(f"{BASE}/projects/{P}/jobs/", json={"outputs": [{"id": D}]}, headers=admin).json()["id"]
    states, logs = [], []
    for _ in range(4):
        status = client.get(f"{BASE}/projects/{P}/jobs/{job_id}/", headers=admin).json()["baseStatus"]
        states.append(status["state"])
        assert status["status"] == status["state"]
        logs.append(client.get(f"{BASE}/projects/{P}/jobs/{job_id}/log", headers=admin).text)
        clock.advance(2)
    assert states == ["NOT_STARTED", "RUNNING", "RUNNING", "DONE"]
    assert all(earlier in later for earlier, later in zip(logs, logs[1:], strict=False))
    assert len(set(logs)) == 4


def test_deleting_a_project_deletes_its_datasets_data_and_jobs(client: TestClient) -> None:
    admin = as_key(client, "admin")
    state = runtime_of(client).twins["dataiku"].state
    assert client.delete(f"{BASE}/projects/{P}", headers=admin).json()["hasResult"] is True
    for collection in ("datasets", "dataset_data", "jobs"):
        assert all(doc["projectKey"] != P for doc in state.collection(collection).all())


def test_secrets_never_leave_the_twin(client: TestClient) -> None:
    admin = as_key(client, "admin")
    connections = client.get(f"{BASE}/admin/connections/", headers=admin).json()
    assert all("password" not in c["params"] for c in connections.values())
    assert all("password" not in u for u in client.get(f"{BASE}/admin/users/", headers=admin).json())


def test_log_is_text_when_asked_and_a_json_string_by_default(client: TestClient) -> None:
    admin = as_key(client, "admin")
    as_json = client.get(f"{BASE}/admin/logs/backend.log", headers=admin)
    as_text = client.get(f"{BASE}/admin/logs/backend.log", headers={**admin, "Accept": "text/plain"})
    assert as_json.json() == as_text.text and as_text.headers["content-type"].startswith("text/plain")


WITH_BODY = sorted(op for op, (_, _, body) in OPERATIONS.items() if body is not None)


@pytest.mark.parametrize("operation", WITH_BODY)
def test_every_body_of_the_wrong_type_is_400(client: TestClient, operation: str) -> None:
    method, path, _ = OPERATIONS[operation]
    path = path.replace("{queryId}", "unused")
    before = runtime_of(client).store.all("dataiku/projects")
    response = client.request(method, BASE + path, content=b'"just a string"', headers=as_key(client, "admin"))
    assert_dss_error(response, 400, "DSSIllegalArgumentException")
    assert runtime_of(client).store.all("dataiku/projects") == before  # nothing changed


@pytest.mark.parametrize(
    "path",
    [f"/projects/{P}/jobs/?limit=many", f"/projects/{P}/datasets/?foreign=maybe",
     f"/projects/{P}/export?exportUploads=2", f"/projects/{P}/datasets/{D}/data/?format=1&partitions=",
     "/admin/users/?connected=perhaps"],
)  # fmt: skip
def test_typed_query_parameters_reject_garbage(client: TestClient, path: str) -> None:
    assert_dss_error(client.get(BASE + path, headers=as_key(client, "admin")), 400, "DSSIllegalArgumentException")
