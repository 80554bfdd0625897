"""Dataiku DSS: what CRUD cannot express. Projects carry their metadata and permissions; datasets hold rows
per partition, streamed in DSS's formats; jobs run on the twin's clock; SQL queries run for real on the
connection's datasets; connections list as an object; logs, variables and project export."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from apitwin.behaviours import Behaviours
from apitwin.behaviours.dataiku_data import compile_filter, partition_ids, project_columns, render_rows, select_rows
from apitwin.behaviours.dataiku_sql import QueryFailed, Table, referenced_tables, run_query
from apitwin.engine import Collection, OperationContext, Reply, handle
from apitwin.engine.lifecycle import Lifecycle
from apitwin.errors import ErrorKind, TwinError

behaviours = Behaviours()

JOB_LIFECYCLE = Lifecycle((("NOT_STARTED", 1.0), ("RUNNING", 4.0)), final="DONE")
JOB_SECONDS_PER_EXTRA_OUTPUT = 2.0
NOT_PARTITIONED = "NP"
# What DSS answers (DSSInfoMessages) for calls that report messages; the twin's always succeed cleanly.
INFO_OK: dict[str, Any] = {"messages": [], "anyMessage": False, "success": True, "warning": False, "error": False,
                           "maxSeverity": None}  # fmt: skip


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


# projects


@behaviours.operation("listProjects")
def list_projects(ctx: OperationContext) -> Reply:
    """Only the projects the key may read are listed (the seed: READ_CONF)."""
    reply = handle(ctx)
    visible = [p for p in reply.body if ctx.permits("READ_CONF", {"projectKey": p["projectKey"]})]
    return Reply([_as_seen_by(ctx, project) for project in visible], reply.status)


@behaviours.operation("getProject")
def get_project(ctx: OperationContext) -> Reply:
    reply = handle(ctx)
    return Reply(_as_seen_by(ctx, reply.body), reply.status)


def _as_seen_by(ctx: OperationContext, project: dict[str, Any]) -> dict[str, Any]:
    """A project's permissions and exposed objects are its administrators' to read (GET .../permissions
    requires ADMIN): a key without ADMIN on the project sees the rest."""
    if ctx.permits("ADMIN", {"projectKey": project["projectKey"]}):
        return project
    return {name: value for name, value in project.items() if name not in ("permissions", "exposedObjects")}


@behaviours.operation("createProject")
def create_project(ctx: OperationContext) -> Reply:
    """The client sends name, owner and (recent versions) a permissions list; the project stores them as DSS
    shows them: ownerLogin, a metadata document and a permissions document."""
    body = dict(ctx.body or {})
    key = str(body.get("projectKey", ""))
    name = body.get("name") or key
    owner = body.pop("owner", None) or body.get("ownerLogin") or ctx.principal.get("name", "admin")
    tags = list(body.get("tags") or [])
    permissions = body.get("permissions")
    if not isinstance(permissions, dict):
        permissions = {"owner": owner, "permissions": list(permissions or [])}
    metadata = body.get("metadata") or {"label": name, "description": body.get("description") or "",
                                        "shortDesc": "", "tags": tags, "custom": {"kv": {}}}  # fmt: skip
    projects = ctx.collection("projects")
    if projects.find(key) is not None:
        raise TwinError(ErrorKind.CONFLICT, f"Project {key} already exists")
    project = projects.create(
        {**body, "name": name, "ownerLogin": owner, "tags": tags, "metadata": metadata, "permissions": permissions},
        creationDate=_ms(ctx.state.clock.timestamp()),
    )
    return Reply(projects.public(project), ctx.route.success_status)


@behaviours.operation("deleteProject")
def delete_project(ctx: OperationContext) -> Reply:
    """Deletes the project with its datasets, data and jobs; answers as a finished DSS future."""
    ctx.collection("projects").delete(ctx.path["projectKey"])
    return Reply({"hasResult": True, "aborted": False, "alive": False, "result": INFO_OK})


@behaviours.operation("setProjectMetadata")
@behaviours.operation("setDatasetMetadata")
def set_metadata(ctx: OperationContext) -> Reply:
    """Metadata tags are the item's tags (the ones list filters read)."""
    item_id = ctx.item_id
    collection = ctx.collection()
    if not isinstance(ctx.body, dict):
        raise TwinError(ErrorKind.INVALID, "Metadata is a JSON object")
    stored = collection.set(item_id, {"metadata": ctx.body, "tags": list(ctx.body.get("tags") or [])})
    status = ctx.route.success_status
    return Reply(None if status == 204 else stored["metadata"], status)


@behaviours.operation("exportProject")
@behaviours.operation("exportProjectWithOptions")
def export_project(ctx: OperationContext) -> Reply:
    """A zip of the project's configuration, with managed datasets' data when asked."""
    key = ctx.path["projectKey"]
    project = ctx.collection("projects").get(key)
    options = {**{k: v for k, v in ctx.query.items() if v is not None}, **(ctx.body or {})}
    with_data = bool(options.get("exportManaged", options.get("exportManagedFS", True)))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("project.json", json.dumps(ctx.collection("projects").public(project), indent=2))
        datasets = ctx.collection("datasets").under(key)
        data = ctx.collection("dataset_data").under(key)
        for dataset in datasets.all():
            bundle.writestr(f"datasets/{dataset['name']}.json", json.dumps(datasets.public(dataset), indent=2))
            stored = data.find(dataset["name"])
            if with_data and dataset.get("managed") and stored:
                columns = [c["name"] for c in dataset.get("schema", {}).get("columns", [])]
                rows = select_rows(stored.get("partitions", {}), None)
                bundle.writestr(f"managed_datasets/{dataset['name']}.csv", render_rows(rows, columns, "csv")[0])
    return Reply(archive.getvalue(), media_type="application/zip")


# datasets and their data


@behaviours.operation("listDatasets")
def list_datasets(ctx: OperationContext) -> Reply:
    """The project's datasets and, with foreign=true, those other projects expose to it (DSS's exposed
    objects, kept on the exposing project)."""
    reply = handle(ctx)
    if not ctx.query.get("foreign"):
        return reply
    target = ctx.path["projectKey"]
    datasets = ctx.collection("datasets")
    shared = []
    for project in ctx.collection("projects").all():
        for exposed in project.get("exposedObjects") or []:
            rules = exposed.get("rules") or []
            if exposed.get("type") == "DATASET" and any(rule.get("targetProject") == target for rule in rules):
                found = datasets.under(project["projectKey"]).find(exposed.get("localName"))
                if found is not None:
                    shared.append(datasets.public(found))
    return Reply([*reply.body, *shared], reply.status)


def _dataset_and_rows(ctx: OperationContext) -> tuple[dict[str, Any], dict[str, list[list[Any]]]]:
    name = ctx.path["datasetName"]
    dataset = ctx.collection("datasets").get(name)
    stored = ctx.collection("dataset_data").find(name)
    return dataset, dict((stored or {}).get("partitions", {}))


def _columns(dataset: dict[str, Any]) -> list[str]:
    return [str(column["name"]) for column in (dataset.get("schema") or {}).get("columns", [])]


def _stream(ctx: OperationContext, options: dict[str, Any]) -> Reply:
    dataset, partitions = _dataset_and_rows(ctx)
    columns = _columns(dataset)
    wanted_partitions = partition_ids(options.get("partitions"), dataset, partitions, ctx.state.clock.now())
    rows = select_rows(partitions, wanted_partitions)
    keep = compile_filter(options.get("filter"), columns)
    rows = [row for row in rows if keep(row)]
    limit = (options.get("sampling") or {}).get("maxRecords")
    if isinstance(limit, int) and limit >= 0:
        rows = rows[:limit]
    wanted = options.get("columns")
    if isinstance(wanted, str):
        wanted = [c.strip() for c in wanted.split(",") if c.strip()]
    rows = project_columns(rows, columns, wanted or None)
    body, media_type = render_rows(rows, wanted or columns, str(options.get("format") or "json"))
    return Reply(body, media_type=media_type)


# Filtering and rendering every row is CPU work that grows with the dataset: in a worker thread, so other
# callers are answered meanwhile (the store is safe to read from there).


@behaviours.operation("getDatasetData")
async def get_dataset_data(ctx: OperationContext) -> Reply:
    return await asyncio.to_thread(_stream, ctx, dict(ctx.query))


@behaviours.operation("postDatasetData")
async def post_dataset_data(ctx: OperationContext) -> Reply:
    body = dict(ctx.body or {})
    return await asyncio.to_thread(_stream, ctx, {**body, "filter": body.get("filterExpression")})


@behaviours.operation("finishDatasetStreaming")
def finish_dataset_streaming(ctx: OperationContext) -> Reply:
    ctx.collection("datasets").get(ctx.path["datasetName"])
    return Reply(b"", media_type="application/text")  # the twin's streams never fail half-way


@behaviours.operation("clearDatasetData")
def clear_dataset_data(ctx: OperationContext) -> Reply:
    dataset, partitions = _dataset_and_rows(ctx)
    wanted = partition_ids(ctx.query.get("partitions"), dataset, partitions, ctx.state.clock.now())
    if wanted is None:
        partitions = {}
    else:
        partitions = {key: rows for key, rows in partitions.items() if key not in wanted}
    _save_rows(ctx, dataset, partitions)
    return Reply(INFO_OK)


def _save_rows(ctx: OperationContext, dataset: dict[str, Any], partitions: dict[str, list[list[Any]]]) -> None:
    data = ctx.collection("dataset_data")
    doc = {"projectKey": dataset["projectKey"], "name": dataset["name"], "partitions": partitions}
    if data.find(dataset["name"]) is None:
        data.create(doc)
    else:
        data.set(dataset["name"], doc)


@behaviours.operation("listDatasetPartitions")
def list_dataset_partitions(ctx: OperationContext) -> Reply:
    dataset, partitions = _dataset_and_rows(ctx)
    if not (dataset.get("partitioning") or {}).get("dimensions"):
        return Reply([NOT_PARTITIONED])
    return Reply(sorted(partitions))


@behaviours.operation("deleteDataset")
def delete_dataset(ctx: OperationContext) -> Reply:
    """dropData=true also deletes the stored rows; otherwise they stay, as the files of a DSS dataset do."""
    name = ctx.path["datasetName"]
    # The route requires WRITE_CONF; the document asks for WRITE_DATA too (the data goes with it).
    ctx.require("WRITE_DATA", {"projectKey": ctx.path["projectKey"]})
    with ctx.state.transaction():
        ctx.collection("datasets").delete(name)
        data = ctx.collection("dataset_data")
        if ctx.query.get("dropData") and data.find(name) is not None:
            data.delete(name)
    return Reply(None, ctx.route.success_status)


# jobs


def _job_lifecycle(job: dict[str, Any]) -> Lifecycle:
    outputs = len(job["def"].get("outputs") or [])
    running = JOB_LIFECYCLE.steps[1][1] + JOB_SECONDS_PER_EXTRA_OUTPUT * max(0, outputs - 1)
    final = "FAILED" if job.get("missingOutputs") else "DONE"
    return Lifecycle((JOB_LIFECYCLE.steps[0], ("RUNNING", running)), final)


def job_status(job: dict[str, Any], now: float) -> dict[str, Any]:
    """The job's state now: recorded history for finished fixture jobs, else computed from the clock."""
    started = job["startedAt"] / 1000
    if job.get("finalState"):
        state, end = job["finalState"], job.get("endedAt", 0)
    else:
        aborted = job.get("abortedAt")
        phase = _job_lifecycle(job).phase(started, now, ("ABORTED", aborted / 1000) if aborted else None)
        state, end = phase.state, (_ms(phase.entered_at) if phase.ends_at is None else 0)
    return {"state": state, "status": state, "jobStartTime": job["startedAt"], "jobEndTime": end}


def _job_view(job: dict[str, Any], now: float) -> dict[str, Any]:
    status = job_status(job, now)
    return {
        "projectKey": job["projectKey"], "jobId": job["id"], "def": {**job["def"], "id": job["id"]},
        "state": status["state"], "startTime": status["jobStartTime"], "endTime": status["jobEndTime"],
        "baseStatus": {**status, "def": {**job["def"], "id": job["id"]}},
    }  # fmt: skip


@behaviours.operation("listJobs")
def list_jobs(ctx: OperationContext) -> Reply:
    now = ctx.state.clock.timestamp()
    jobs = sorted(ctx.collection("jobs").all(), key=lambda j: j["startedAt"], reverse=True)
    limit = ctx.query.get("limit") or 0
    return Reply([_job_view(job, now) for job in (jobs[:limit] if limit > 0 else jobs)])


@behaviours.operation("listRunningJobs")
def list_running_jobs(ctx: OperationContext) -> Reply:
    now = ctx.state.clock.timestamp()
    jobs = sorted(ctx.collection("jobs").all(), key=lambda j: j["startedAt"], reverse=True)
    views = [_job_view(job, now) for job in jobs]
    return Reply([view for view in views if view["baseStatus"]["state"] in ("NOT_STARTED", "RUNNING")])


@behaviours.operation("startJob")
def start_job(ctx: OperationContext) -> Reply:
    body = dict(ctx.body or {})
    key = ctx.path["projectKey"]
    outputs = body.get("outputs") or []
    if not outputs:
        raise TwinError(ErrorKind.INVALID, "A job needs at least one output")
    missing = []
    for output in outputs:
        project = output.get("projectKey") or key
        ctx.require("RUN_JOBS", {"projectKey": project})  # building a dataset writes into its project
        if ctx.collection("datasets").under(project).find(output.get("id")) is None:
            missing.append(f"{project}.{output.get('id')}")
    now = ctx.state.clock.now()
    first = str(outputs[0].get("id"))
    job_id = f"Build_{first}_{now:%Y-%m-%dT%H-%M-%S}.{now.microsecond // 1000:03d}"
    definition = {"projectKey": key, "type": body.get("type") or "NON_RECURSIVE_FORCED_BUILD",
                  "initiator": ctx.principal.get("name"), "outputs": outputs,
                  **{k: v for k, v in body.items() if k not in ("outputs", "type")}}  # fmt: skip
    jobs = ctx.collection("jobs")
    if jobs.find(job_id) is not None:
        job_id += f"_{jobs.state.store.next_serial(jobs.table)}"
    jobs.create(None, id=job_id, **{"def": definition, "startedAt": _ms(now.timestamp()), "missingOutputs": missing})
    return Reply({**definition, "id": job_id})  # carries the seed's {projectKey, id}


@behaviours.operation("getJob")
def get_job(ctx: OperationContext) -> Reply:
    job = ctx.collection("jobs").get(ctx.path["jobId"])
    return Reply(_job_view(job, ctx.state.clock.timestamp()))


@behaviours.operation("abortJob")
def abort_job(ctx: OperationContext) -> Reply:
    """Asks the job to stop; it is ABORTED from now on unless it had already finished."""
    jobs = ctx.collection("jobs")
    job = jobs.get(ctx.path["jobId"])
    if not job.get("abortedAt") and not job.get("finalState"):
        jobs.set(job["id"], {"abortedAt": _ms(ctx.state.clock.timestamp())})
    return Reply(INFO_OK)


@behaviours.operation("getJobLog")
def get_job_log(ctx: OperationContext) -> Reply:
    """The log grows as the job runs: a line per phase reached, and one per second of running."""
    job = ctx.collection("jobs").get(ctx.path["jobId"])
    lines = list(job.get("log") or []) or _job_log(job, ctx.state.clock.timestamp())
    activity = ctx.query.get("activity")
    if activity:
        lines = [line for line in lines if activity in line]
    return Reply("\n".join(lines) + "\n", media_type="text/plain; charset=utf-8")


def _job_log(job: dict[str, Any], now: float) -> list[str]:
    def at(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("[%Y/%m/%d-%H:%M:%S.%f")[:-3] + "]"

    started = job["startedAt"] / 1000
    outputs = [f"{o.get('projectKey') or job['projectKey']}.{o.get('id')}" for o in job["def"].get("outputs", [])]
    lines = [f"{at(started)} [INFO] [dku.jobs] - Job {job['id']} queued, outputs: {', '.join(outputs)}"]
    status = job_status(job, now)
    running_from = started + JOB_LIFECYCLE.steps[0][1]
    if now >= running_from and status["state"] != "NOT_STARTED":
        lines.append(f"{at(running_from)} [INFO] [dku.jobs] - Starting activity compute_{'_'.join(outputs)}_NP")
        until = min(now, status["jobEndTime"] / 1000 if status["jobEndTime"] else now)
        for second in range(1, int(until - running_from) + 1):
            lines.append(f"{at(running_from + second)} [INFO] [dku.flow.activity] - Processed batch {second}")
    if status["state"] in ("DONE", "FAILED", "ABORTED"):
        end = status["jobEndTime"] / 1000
        if status["state"] == "FAILED":
            missing = ", ".join(job.get("missingOutputs", []))
            lines.append(f"{at(end)} [ERROR] [dku.jobs] - Dataset(s) {missing} do not exist")
        lines.append(f"{at(end)} [INFO] [dku.jobs] - Job {job['id']} {status['state']}")
    return lines


# SQL queries

QUERY_RESULTS_KEPT_SECONDS = 3600.0  # results nobody finished streaming are dropped after an hour
QUERY_RESULTS_KEPT = 32  # and at most this many are held at once, the oldest dropped first


class _QueryResults:
    """Result rows of started queries, in memory (not state: they never reach the store), per twin state."""

    def __init__(self) -> None:
        self._held: OrderedDict[str, tuple[float, list[list[Any]]]] = OrderedDict()

    def hold(self, query_id: str, rows: list[list[Any]], now: float) -> None:
        self._drop_expired(now)
        self._held[query_id] = (now, rows)
        while len(self._held) > QUERY_RESULTS_KEPT:
            self._held.popitem(last=False)

    def rows(self, query_id: str, now: float) -> list[list[Any]] | None:
        self._drop_expired(now)
        held = self._held.get(query_id)
        return held[1] if held else None

    def drop(self, query_id: str) -> None:
        self._held.pop(query_id, None)

    def _drop_expired(self, now: float) -> None:
        for query_id in [q for q, (at, _) in self._held.items() if now - at > QUERY_RESULTS_KEPT_SECONDS]:
            del self._held[query_id]


_RESULTS: WeakKeyDictionary[Any, _QueryResults] = WeakKeyDictionary()


def _results(ctx: OperationContext) -> _QueryResults:
    return _RESULTS.setdefault(ctx.state, _QueryResults())


def _tables_of(ctx: OperationContext, connection: str, wanted: set[tuple[str | None, str]]) -> list[Table]:
    """The tables the query names, each once, as the connection's database names them (schema.table). Two
    datasets on the same table (or one name in two projects on the same table) are one table: its rows are
    those of the first dataset holding any."""
    names = {name for _, name in wanted}
    found: dict[tuple[str | None, str], Table] = {}
    for dataset in ctx.collection("datasets").all():
        params = dataset.get("params") or {}
        name = str(params.get("table") or dataset["name"])
        schema = str(params["schema"]) if params.get("schema") else None
        key = (schema.lower() if schema else None, name.lower())
        if params.get("connection") != connection or key[1] not in names:
            continue
        if key not in wanted and (None, key[1]) not in wanted:
            continue  # the query names this table in another schema
        if key in found and found[key].rows:
            continue
        data = ctx.collection("dataset_data").under(dataset["projectKey"]).find(dataset["name"])
        rows = select_rows((data or {}).get("partitions", {}), None)
        found[key] = Table(schema, name, (dataset.get("schema") or {}).get("columns", []), rows)
    return list(found.values())


def _check_connection_usable(ctx: OperationContext, connection: dict[str, Any]) -> None:
    """A connection `usableBy: ALLOWED` serves only members of its allowedGroups (an admin key, always)."""
    if ctx.principal.get("admin") or connection.get("usableBy", "ALL") == "ALL":
        return
    allowed = list(connection.get("allowedGroups") or [])
    if not set(ctx.principal.get("groups") or []) & set(allowed):
        raise TwinError(
            ErrorKind.FORBIDDEN,
            f"Action forbidden: connection {connection['name']} is usable by {', '.join(allowed) or 'no group'} "
            "only, and this API key belongs to none of them",
        )


@behaviours.operation("startSqlQuery")
async def start_sql_query(ctx: OperationContext) -> Reply:
    body = dict(ctx.body or {})
    connection_name = body.get("connection") or body.get("database")
    full_name = body.get("datasetFullName")
    if not connection_name and full_name:
        project, _, dataset_name = str(full_name).partition(".")
        ctx.require("READ_DATA", {"projectKey": project})
        dataset = ctx.collection("datasets").under(project).get(dataset_name)
        connection_name = (dataset.get("params") or {}).get("connection")
    if not connection_name:
        raise TwinError(ErrorKind.INVALID, "A query needs a connection, a database or a datasetFullName")
    connection = ctx.collection("connections").find(connection_name)
    if connection is None:
        raise TwinError(ErrorKind.NOT_FOUND, f"Connection {connection_name} not found")
    _check_connection_usable(ctx, connection)
    query = body.get("query")
    pre = body.get("preQueries") or []
    if not query or not isinstance(query, str):
        raise TwinError(ErrorKind.INVALID, "The query is empty")
    if not isinstance(pre, list) or not all(isinstance(statement, str) for statement in pre):
        raise TwinError(ErrorKind.INVALID, "preQueries is a list of SQL statements")
    kind = str(connection.get("type"))
    try:
        # Parsing and running are CPU work on untrusted input: in a worker thread, so other callers are served.
        wanted = await asyncio.to_thread(referenced_tables, [*pre, query], kind)
        tables = _tables_of(ctx, connection_name, wanted)
        result = await asyncio.to_thread(run_query, query, kind, tables, pre)
    except QueryFailed as exc:
        raise TwinError(ErrorKind.INVALID, f"Query failed: {exc}", details="java.sql.SQLException") from None
    # the seed's schema is a list of columns, which the client's value casters iterate
    stored = ctx.collection("sql_queries").create(None, connection=connection_name, query=query, schema=result.columns)
    _results(ctx).hold(stored["queryId"], result.rows, ctx.state.clock.timestamp())
    return Reply({"queryId": stored["queryId"], "hasResults": bool(result.columns), "schema": result.columns})


@behaviours.operation("streamSqlQuery")
def stream_sql_query(ctx: OperationContext) -> Reply:
    query = ctx.collection("sql_queries").get(ctx.path["queryId"])
    rows = _results(ctx).rows(query["queryId"], ctx.state.clock.timestamp())
    if rows is None:
        raise TwinError(ErrorKind.NOT_FOUND, f"The results of query {query['queryId']} are no longer available")
    columns = [c["name"] for c in query["schema"]]
    body, media_type = render_rows(rows, columns, str(ctx.query.get("format") or "json"))
    return Reply(body, media_type=media_type)


@behaviours.operation("finishSqlQuery")
def finish_sql_query(ctx: OperationContext) -> Reply:
    """The client calls this once it has read the stream: the results are released."""
    query_id = ctx.collection("sql_queries").get(ctx.path["queryId"])["queryId"]
    _results(ctx).drop(query_id)
    return Reply(b"", media_type="application/text")


# instance administration


@behaviours.operation("listConnections")
def list_connections(ctx: OperationContext) -> Reply:
    connections: Collection = ctx.collection("connections")
    return Reply({c["name"]: connections.public(c) for c in connections.all()})


@behaviours.operation("setConnection")
def set_connection(ctx: OperationContext) -> Reply:
    """A connection's name and type are fixed once created (DSS: "cannot change the type of a connection");
    everything else is replaced as the document says."""
    current = ctx.collection("connections").get(ctx.path["connectionName"])
    body = dict(ctx.body or {})
    for field in ("name", "type"):
        if field in body and body[field] != current[field]:
            raise TwinError(
                ErrorKind.INVALID,
                f"The {field} of connection {current['name']} cannot be changed (it is {current[field]!r})",
            )
    return handle(ctx)


@behaviours.operation("listUsers")
def list_users(ctx: OperationContext) -> Reply:
    """`connected=true` lists the users with an open session in DSS's web interface. The twin serves no
    interface, so nobody is ever connected: an empty list, never the whole list."""
    if ctx.query.get("connected"):
        return Reply([], ctx.route.success_status)
    return handle(ctx)


@behaviours.operation("listLogs")
def list_logs(ctx: OperationContext) -> Reply:
    logs = ctx.collection("logs").all()
    return Reply({"logs": [{k: log[k] for k in ("name", "totalSize", "lastModified")} for log in logs]})


@behaviours.operation("getLog")
def get_log(ctx: OperationContext) -> Reply:
    """The official client reads this as JSON (a string); a client that accepts text/plain gets the raw text."""
    log = ctx.collection("logs").get(ctx.path["logName"])
    if ctx.media_type == "text/plain":
        return Reply(log["content"], media_type="text/plain; charset=utf-8")
    return Reply(log["content"])


@behaviours.operation("getVariables")
def get_variables(ctx: OperationContext) -> Reply:
    return Reply(ctx.collection("variables").get("global").get("values", {}))


@behaviours.operation("setVariables")
def set_variables(ctx: OperationContext) -> Reply:
    if not isinstance(ctx.body, dict):
        raise TwinError(ErrorKind.INVALID, "Variables are a JSON object")
    ctx.collection("variables").set("global", {"values": ctx.body})
    return Reply(None, ctx.route.success_status)
