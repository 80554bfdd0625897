"""Dataiku DSS seed state: a small analytics instance with projects, partitioned datasets holding rows,
connections, users and groups, logs, variables, past jobs, and API keys of different reach."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

_START = datetime(2025, 9, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _key(fake: Faker, length: int = 32) -> str:
    return "".join(
        fake.random_element("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(length)
    )


# name -> (dataset type, connection, partitioned by day?, columns (name, DSS type), row maker)
Column = tuple[str, str]
RowMaker = Callable[[Faker, str], list[Any]]
_DATASETS: dict[str, list[tuple[str, str, str, bool, list[Column], RowMaker]]] = {
    "SALES_FORECAST": [
        ("orders", "PostgreSQL", "warehouse-postgres", True,
         [("order_id", "bigint"), ("customer_id", "bigint"), ("country", "string"), ("amount", "double"),
          ("ordered_at", "date")],
         lambda f, day: [f.random_int(100000, 999999), f.random_int(1, 500), f.country_code(),
                         round(f.pyfloat(min_value=5, max_value=900, right_digits=2), 2),
                         f"{day}T{_clock_time(f)}.000Z"]),
        ("customers", "PostgreSQL", "warehouse-postgres", False,
         [("customer_id", "bigint"), ("name", "string"), ("email", "string"), ("segment", "string")],
         lambda f, _: [f.random_int(1, 500), f.name(), f.email(),
                       f.random_element(("SMB", "Mid-market", "Enterprise"))]),
        ("orders_by_country", "Filesystem", "filesystem_managed", False,
         [("country", "string"), ("order_count", "int"), ("revenue", "double")],
         lambda f, _: [f.country_code(), f.random_int(1, 300), round(f.pyfloat(min_value=100, max_value=90000), 2)]),
    ],
    "CHURN": [
        ("subscriptions", "Snowflake", "snowflake-prod", False,
         [("account_id", "string"), ("plan", "string"), ("seats", "int"), ("started", "date"), ("active", "boolean")],
         lambda f, _: [f.bothify("ACC-#####"), f.random_element(("basic", "pro", "enterprise")), f.random_int(1, 250),
                       f"{f.date_between(start_date=_START - timedelta(days=1000), end_date=_START)}T00:00:00.000Z",
                       f.random_element(("true", "false"))]),
        ("web_events", "Filesystem", "filesystem_managed", True,
         [("event_id", "string"), ("account_id", "string"), ("kind", "string"), ("at", "date")],
         lambda f, day: [f.uuid4(), f.bothify("ACC-#####"), f.random_element(("login", "export", "invite", "upgrade")),
                         f"{day}T{_clock_time(f)}.000Z"]),
    ],
}  # fmt: skip


def _clock_time(fake: Faker) -> str:
    # not fake.time(): it draws from a range that ends now, so it changes from day to day
    return f"{fake.random_int(0, 23):02d}:{fake.random_int(0, 59):02d}:{fake.random_int(0, 59):02d}"


def _rows(fake: Faker, maker: RowMaker, partitioned: bool) -> dict[str, list[list[Any]]]:
    if not partitioned:
        return {"NP": [maker(fake, "") for _ in range(fake.random_int(8, 15))]}
    days = [(_START + timedelta(days=n)).date().isoformat() for n in range(3)]
    return {day: [maker(fake, day) for _ in range(fake.random_int(4, 8))] for day in days}


def dataiku(fake: Faker) -> dict[str, Any]:
    created = _ms(_START - timedelta(days=200))
    groups = [
        {"name": "administrators", "description": "DSS administrators", "admin": True, "sourceType": "LOCAL"},
        {"name": "data_team", "description": "Data scientists and engineers", "admin": False, "sourceType": "LOCAL"},
        {"name": "readers", "description": "Read-only business users", "admin": False, "sourceType": "LDAP"},
    ]
    users = []
    for login, display, user_groups, code in (
        ("admin", "Administrator", ["administrators"], True),
        (fake.user_name(), fake.name(), ["data_team"], True),
        (fake.user_name(), fake.name(), ["data_team"], True),
        (fake.user_name(), fake.name(), ["readers"], False),
    ):
        users.append(
            {
                "login": login,
                "displayName": display,
                "email": f"{login}@example.com",
                "sourceType": "LOCAL",
                "groups": user_groups,
                "codeAllowed": code,
                "creationDate": created,
                "password": _key(fake, 16),
            }
        )
    connections = [
        {"name": "warehouse-postgres", "type": "PostgreSQL", "allowWrite": True, "allowManagedDatasets": True,
         "usableBy": "ALL", "allowedGroups": [],
         "params": {"host": "pg.internal.example.com", "port": "5432", "db": "warehouse", "user": "dss",
                    "password": _key(fake, 20)}},
        {"name": "snowflake-prod", "type": "Snowflake", "allowWrite": False, "allowManagedDatasets": False,
         "usableBy": "ALLOWED", "allowedGroups": ["data_team"],
         "params": {"host": "acme.eu-west-1.snowflakecomputing.com", "db": "ANALYTICS", "warehouse": "REPORTING",
                    "user": "DSS_SVC", "password": _key(fake, 20)}},
        {"name": "filesystem_managed", "type": "Filesystem", "allowWrite": True, "allowManagedDatasets": True,
         "usableBy": "ALL", "allowedGroups": [], "params": {"root": "/data/dss/managed_datasets"}},
    ]  # fmt: skip
    projects, datasets, data, jobs = [], [], [], []
    for key, label, tags in (
        ("SALES_FORECAST", "Sales forecast", ["sales", "production"]),
        ("CHURN", "Customer churn", ["marketing"]),
    ):
        owner = users[1]["login"]
        description = fake.sentence(nb_words=10)
        projects.append({
            "projectKey": key, "name": label, "ownerLogin": owner, "description": description, "tags": tags,
            "metadata": {"label": label, "description": description, "shortDesc": fake.sentence(nb_words=5),
                         "tags": tags, "custom": {"kv": {"cost_center": fake.bothify("CC-####")}}},
            "permissions": {"owner": owner, "permissions": [{"group": "data_team", "type": "ANALYST_READWRITE"},
                                                           {"group": "readers", "type": "READER"}]},
            "creationDate": created,
            # DSS's sharing: the sales team exposes its customer table to the churn project
            "exposedObjects": [{"type": "DATASET", "localName": "customers", "rules": [{"targetProject": "CHURN"}]}]
            if key == "SALES_FORECAST" else [],
        })  # fmt: skip
        for name, kind, connection, partitioned, columns, maker in _DATASETS[key]:
            file_based = kind == "Filesystem"
            params: dict[str, Any] = {"connection": connection}
            params.update({"path": f"/{key}/{name}"} if file_based else {"table": name, "schema": "public"})
            datasets.append({
                "projectKey": key, "name": name, "type": kind, "params": params,
                "formatType": "csv" if file_based else None,
                "formatParams": {"style": "excel", "separator": ",", "charset": "utf8"} if file_based else {},
                "managed": file_based,
                "schema": {"columns": [{"name": c, "type": t, **({"maxLength": -1} if t == "string" else {})}
                                       for c, t in columns], "userModified": False},
                "partitioning": {"dimensions": [{"name": "day", "type": "time", "params": {"period": "DAY"}}]
                                 if partitioned else []},
                "tags": list(tags[:1]),
                "metadata": {"label": name, "description": fake.sentence(nb_words=8), "tags": list(tags[:1]),
                             "custom": {"kv": {}}},
                "creationDate": created,
            })  # fmt: skip
            data.append(
                {"key": f"{key}.{name}", "projectKey": key, "name": name, "partitions": _rows(fake, maker, partitioned)}
            )
        output = _DATASETS[key][-1][0]
        for n, state in enumerate(("DONE", "FAILED", "DONE")):
            start = _START + timedelta(days=n, hours=2)
            jobs.append({
                "projectKey": key, "id": f"build_{output}_{start:%Y-%m-%dT%H-%M-%S}_{_key(fake, 4).lower()}",
                "def": {"projectKey": key, "type": "RECURSIVE_BUILD", "initiator": "scheduler",
                        "outputs": [{"type": "DATASET", "projectKey": key, "id": output, "partition": "NP"}]},
                "startedAt": _ms(start), "endedAt": _ms(start + timedelta(minutes=3)), "finalState": state,
                "log": [f"[{start:%Y/%m/%d-%H:%M:%S}] [INFO] Starting build of {key}.{output}",
                        f"[{start + timedelta(minutes=3):%Y/%m/%d-%H:%M:%S}] [INFO] Job {state}"],
            })  # fmt: skip
    logs = [
        {"name": name, "lastModified": _ms(_START + timedelta(hours=hours)),
         "content": "\n".join(f"[{_START + timedelta(minutes=m):%Y/%m/%d-%H:%M:%S.000}] [{level}] {text}"
                              for m, (level, text) in enumerate(lines)) + "\n"}
        for name, hours, lines in (
            ("backend.log", 30, [("INFO", "DSS backend started"), ("INFO", "Loaded 2 projects"),
                                 ("WARN", "Connection snowflake-prod: slow handshake (2.3s)")]),
            ("ipython.log", 12, [("INFO", "Kernel gateway listening")]),
            ("nginx.log", 31, [("INFO", "GET /dip/publicapi/projects/ 200")]),
        )
    ]  # fmt: skip
    for log in logs:
        log["totalSize"] = len(str(log["content"]).encode())
    admin_key, analyst_key, pipeline_key = _key(fake), _key(fake), _key(fake)
    read_only = ["READ_CONF", "READ_DATA", "READ_METADATA", "READ_SCHEMA", "MONITOR_JOBS"]
    credentials = [
        {"name": "admin", "credential": admin_key, "admin": True},
        {"name": "pipeline", "credential": pipeline_key, "privileges": ["RUN_CODE"],
         "projects": {"SALES_FORECAST": [*read_only, "WRITE_CONF", "WRITE_DATA", "WRITE_METADATA", "WRITE_SCHEMA",
                                         "RUN_JOBS"]}},
        {"name": "analyst", "credential": analyst_key, "projects": {"CHURN": read_only}},
    ]  # fmt: skip
    variables = [
        {"name": "global", "values": {"env": "staging", "retention_days": 30, "alert_email": "data@example.com"}}
    ]
    return {
        "credentials": credentials,
        "collections": {
            "projects": projects, "datasets": datasets, "dataset_data": data, "jobs": jobs, "connections": connections,
            "users": users, "groups": groups, "logs": logs, "variables": variables,
        },
    }  # fmt: skip
