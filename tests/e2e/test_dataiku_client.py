"""The official Dataiku client (dataikuapi, pinned) works unchanged against the twin: every documented
workflow, driven through the client as a user would, over real HTTP to a twin served in a thread."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import dataikuapi
import pytest
from dataikuapi.dss.job import DSSJobWaiter
from dataikuapi.utils import DataikuException

from apitwin.app import create_app
from apitwin.runtime import Runtime
from apitwin.serving import serve_in_background

pytestmark = pytest.mark.slow


@pytest.fixture
def twin() -> Iterator[tuple[str, Runtime]]:
    app = create_app(["dataiku"], prefixed=False, validate_responses=True)
    with serve_in_background(app) as origin:
        yield origin, app.state.runtime


def key(runtime: Runtime, name: str) -> str:
    return next(c["credential"] for c in runtime.twins["dataiku"].credentials() if c["name"] == name)


@pytest.fixture
def dss(twin: tuple[str, Runtime]) -> dataikuapi.DSSClient:
    origin, runtime = twin
    return dataikuapi.DSSClient(origin, key(runtime, "admin"))


@pytest.fixture
def runtime(twin: tuple[str, Runtime]) -> Runtime:
    return twin[1]


def test_projects_create_metadata_permissions_round_trip_and_delete(dss: dataikuapi.DSSClient) -> None:
    assert dss.list_project_keys() == ["SALES_FORECAST", "CHURN"]
    project = dss.create_project("MARKETING_MIX", "Marketing mix", "admin", description="Budget allocation")
    assert "MARKETING_MIX" in dss.list_project_keys()
    metadata = project.get_metadata()
    assert metadata["label"] == "Marketing mix" and metadata["description"] == "Budget allocation"
    project.set_metadata({**metadata, "tags": ["finance"], "custom": {"kv": {"owner_team": "growth"}}})
    assert project.get_metadata()["custom"] == {"kv": {"owner_team": "growth"}}
    assert [p["projectKey"] for p in dss.list_projects() if "finance" in p.get("tags", [])] == ["MARKETING_MIX"]
    permissions = project.get_permissions()
    permissions["permissions"].append({"group": "readers", "type": "READER"})
    project.set_permissions(permissions)
    assert project.get_permissions()["permissions"] == [{"group": "readers", "type": "READER"}]
    project.delete()
    assert "MARKETING_MIX" not in dss.list_project_keys()
    with pytest.raises(DataikuException, match="NotFoundException"):
        project.get_metadata()


def test_dataset_settings_schema_metadata_and_delete(dss: dataikuapi.DSSClient) -> None:
    project = dss.get_project("SALES_FORECAST")
    dataset = project.create_dataset(
        "returns", "PostgreSQL", params={"connection": "warehouse-postgres", "table": "returns"}
    )
    assert "returns" in [d["name"] for d in project.list_datasets()]
    settings = dataset.get_settings()
    settings.get_raw()["params"]["schema"] = "public"
    settings.save()
    assert dataset.get_settings().get_raw()["params"] == {
        "connection": "warehouse-postgres", "table": "returns", "schema": "public"
    }  # fmt: skip
    dataset.set_schema({"columns": [{"name": "order_id", "type": "bigint"}, {"name": "reason", "type": "string"}]})
    assert [c["name"] for c in dataset.get_schema()["columns"]] == ["order_id", "reason"]
    dataset.set_metadata({**dataset.get_metadata(), "label": "Returns", "tags": ["quality"]})
    assert dataset.get_metadata()["label"] == "Returns"
    dataset.delete()
    assert "returns" not in [d["name"] for d in project.list_datasets()]


def test_iter_rows_casts_by_schema_and_honours_partitions_and_columns(dss: dataikuapi.DSSClient) -> None:
    orders = dss.get_project("SALES_FORECAST").get_dataset("orders")
    partitions = orders.list_partitions()
    assert partitions == ["2025-09-01", "2025-09-02", "2025-09-03"]
    rows = list(orders.iter_rows())
    assert rows and all(isinstance(row[0], int) and isinstance(row[3], float) for row in rows)
    assert rows[0][4].year == 2025  # dates arrive as datetimes through the client's casters
    first_day = list(orders.iter_rows(partitions=partitions[0]))
    assert 0 < len(first_day) < len(rows)
    assert all(len(row) == 2 for row in orders.iter_rows(columns=["country", "amount"]))
    assert dss.get_project("SALES_FORECAST").get_dataset("customers").list_partitions() == ["NP"]


def test_foreign_datasets_are_those_exposed_to_the_project(dss: dataikuapi.DSSClient) -> None:
    churn = dss.get_project("CHURN")
    own = [(d["projectKey"], d["name"]) for d in churn.list_datasets()]
    with_shared = [(d["projectKey"], d["name"]) for d in churn.list_datasets(include_shared=True)]
    assert with_shared == [*own, ("SALES_FORECAST", "customers")]


def test_clear_empties_a_dataset(dss: dataikuapi.DSSClient) -> None:
    summary = dss.get_project("SALES_FORECAST").get_dataset("orders_by_country")
    assert list(summary.iter_rows())
    summary.clear()
    assert list(summary.iter_rows()) == []


def test_start_job_poll_status_and_read_the_log(dss: dataikuapi.DSSClient, runtime: Runtime) -> None:
    runtime.clock.freeze()
    project = dss.get_project("SALES_FORECAST")
    job = project.start_job({"outputs": [{"id": "orders_by_country"}], "type": "RECURSIVE_BUILD"})
    assert job.get_status()["baseStatus"]["state"] == "NOT_STARTED"
    runtime.clock.advance(2)
    assert job.get_status()["baseStatus"]["state"] == "RUNNING"
    running_log = job.get_log()
    runtime.clock.advance(10)
    assert DSSJobWaiter(job).wait() == "DONE"  # no polling wait: the clock has moved on
    final_log = job.get_log()
    assert running_log in final_log and len(final_log) > len(running_log) and "DONE" in final_log
    assert project.list_jobs()[0]["def"]["id"] == job.id


def test_job_on_a_missing_output_fails_and_abort_stops_a_running_one(
    dss: dataikuapi.DSSClient, runtime: Runtime
) -> None:
    runtime.clock.freeze()
    project = dss.get_project("CHURN")
    failing = project.start_job({"outputs": [{"id": "no_such_dataset"}]})
    runtime.clock.advance(30)
    assert DSSJobWaiter(failing).wait(no_fail=True) == "FAILED"
    assert "no_such_dataset" in failing.get_log()
    running = project.start_job({"outputs": [{"id": "web_events"}]})
    runtime.clock.advance(2)
    running.abort()
    runtime.clock.advance(30)
    with pytest.raises(DataikuException, match="ABORTED"):
        DSSJobWaiter(running).wait()


def test_sql_query_rows_and_verify(dss: dataikuapi.DSSClient) -> None:
    query = dss.sql_query(
        "SELECT segment, COUNT(*) AS customers FROM public.customers GROUP BY segment ORDER BY segment",
        connection="warehouse-postgres",
    )
    rows = list(query.iter_rows())
    query.verify()
    assert [c["name"] for c in query.get_schema()] == ["segment", "customers"]
    assert sum(row[1] for row in rows) > 0 and all(isinstance(row[1], int) for row in rows)


def test_sql_on_an_unknown_connection_is_a_dataiku_error(dss: dataikuapi.DSSClient) -> None:
    with pytest.raises(DataikuException, match="NotFoundException: Connection nowhere not found"):
        dss.sql_query("SELECT 1", connection="nowhere")


def test_connections_round_trip_keeps_the_password(dss: dataikuapi.DSSClient, runtime: Runtime) -> None:
    assert set(dss.list_connections()) == {"warehouse-postgres", "snowflake-prod", "filesystem_managed"}
    created = dss.create_connection("staging-pg", "PostgreSQL", params={"host": "db", "password": "hunter2"})
    definition = created.get_definition()
    assert "password" not in definition["params"]
    definition["params"]["port"] = "5433"
    created.set_definition(definition)
    stored = runtime.twins["dataiku"].state.collection("connections").get("staging-pg")
    assert stored["params"] == {"host": "db", "port": "5433", "password": "hunter2"}
    created.delete()
    assert "staging-pg" not in dss.list_connections()


def test_users_and_groups(dss: dataikuapi.DSSClient) -> None:
    dss.create_group("analysts", description="Business analysts")
    user = dss.create_user("jdoe", "s3cret", display_name="Jane Doe", groups=["analysts"])
    assert "jdoe" in [u["login"] for u in dss.list_users()]
    settings = user.get_settings()
    settings.get_raw()["displayName"] = "Jane D."
    settings.save()
    definition = user.get_settings().get_raw()
    assert definition["displayName"] == "Jane D." and "password" not in definition
    group = dss.get_group("analysts")
    group.set_definition({**group.get_definition(), "description": "Analysts (EMEA)"})
    assert group.get_definition()["description"] == "Analysts (EMEA)"
    user.delete()
    group.delete()
    assert "analysts" not in [g["name"] for g in dss.list_groups()]


def test_logs_variables_and_export(dss: dataikuapi.DSSClient) -> None:
    names = [log["name"] for log in dss.list_logs()["logs"]]
    assert "backend.log" in names and "DSS backend started" in dss.get_log("backend.log")
    variables = dss.get_global_variables()
    variables["env"] = "production"
    variables.save()
    assert dss.get_global_variables() == {"env": "production", "retention_days": 30, "alert_email": "data@example.com"}
    with dss.get_project("SALES_FORECAST").get_export_stream() as stream:
        archive = zipfile.ZipFile(io.BytesIO(stream.read()))
    assert "project.json" in archive.namelist() and "datasets/orders.json" in archive.namelist()
    managed = archive.read("managed_datasets/orders_by_country.csv").decode()
    assert next(csv.reader(io.StringIO(managed))) == ["country", "order_count", "revenue"]


def test_a_narrower_key_sees_only_its_project(twin: tuple[str, Runtime]) -> None:
    origin, runtime = twin
    analyst = dataikuapi.DSSClient(origin, key(runtime, "analyst"))
    assert analyst.list_project_keys() == ["CHURN"]
    churn: Any = analyst.get_project("CHURN")
    assert list(churn.get_dataset("subscriptions").iter_rows())
    with pytest.raises(DataikuException, match="UnauthorizedException"):
        churn.create_dataset("x", "Filesystem", params={"connection": "filesystem_managed"})
    with pytest.raises(DataikuException, match="UnauthorizedException"):
        analyst.get_project("SALES_FORECAST").get_dataset("orders").get_schema()
    with pytest.raises(DataikuException, match="UnauthorizedException"):
        analyst.list_users()


def test_project_summary_and_running_jobs_through_the_client(dss: dataikuapi.DSSClient, runtime: Runtime) -> None:
    project = dss.get_project("SALES_FORECAST")
    summary = project.get_summary()
    assert summary["projectKey"] == "SALES_FORECAST" and summary["name"] == "Sales forecast"
    runtime.clock.freeze()
    assert project.list_running_jobs() == []  # the seeded jobs are all finished
    job = project.start_job({"outputs": [{"id": "orders_by_country"}]})
    assert [item.id for item in project.list_running_jobs(as_type="objects")] == [job.id]
    runtime.clock.advance(60)
    assert project.list_running_jobs() == []


def test_a_narrower_key_reads_a_summary_without_permissions(twin: tuple[str, Runtime]) -> None:
    origin, runtime = twin
    summary = dataikuapi.DSSClient(origin, key(runtime, "analyst")).get_project("CHURN").get_summary()
    assert summary["projectKey"] == "CHURN" and "permissions" not in summary
    with pytest.raises(DataikuException):
        dataikuapi.DSSClient(origin, key(runtime, "analyst")).get_project("SALES_FORECAST").get_summary()
