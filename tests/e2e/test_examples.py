"""The specs' parameter examples are what Swagger UI pre-fills for "Try it out": sent as they are, they must make
a sensible request to the operation they sit on, against the fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from apitwin.spec import load_resolved
from apitwin.twins import TWINS
from tests.conftest import runtime_of

# A query id exists only once POST /sql/queries has started one: no example can name it beforehand.
NEEDS_A_STARTED_QUERY = {"streamSqlQuery"}


def operations() -> Iterator[tuple[str, str, str, dict[str, Any], list[dict[str, Any]]]]:
    """(twin, method, path, operation, its parameters) for every operation of every spec."""
    for name, twin in TWINS.items():
        for path, item in load_resolved(twin.spec_path)["paths"].items():
            for method, operation in item.items():
                if method in ("get", "put", "post", "patch", "delete"):
                    parameters = {(p["name"], p["in"]): p for p in item.get("parameters", [])}
                    parameters.update({(p["name"], p["in"]): p for p in operation.get("parameters", [])})
                    yield name, method, path, operation, list(parameters.values())


def example_of(parameter: dict[str, Any]) -> Any:
    """What Swagger UI pre-fills: the parameter's example, else its schema's."""
    return parameter.get("example", parameter.get("schema", {}).get("example"))


def test_projection_examples_name_only_what_the_operation_returns() -> None:
    checked, wrong = [], []
    for name, _method, _path, operation, parameters in operations():
        projection = load_resolved(TWINS[name].spec_path).get("x-twin", {}).get("projection", [])
        success = next(status for status in operation["responses"] if status.startswith("2"))
        schema = operation["responses"][success].get("content", {}).get("application/json", {}).get("schema", {})
        returned = set((schema.get("items", schema)).get("properties", {}))
        for parameter in parameters:
            example = example_of(parameter)
            if parameter["name"] in projection and example is not None:
                checked.append(operation["operationId"])
                if not set(example) <= returned:
                    wrong.append(
                        f"{operation['operationId']} {parameter['name']}={example}: returns {sorted(returned)}"
                    )
    assert sorted(checked) == ["getReport", "getServicePrincipal", "listReports", "listServicePrincipals"]
    assert wrong == []


TRY_IT_OUT = [
    pytest.param(name, method, path, operation, parameters, id=operation["operationId"])
    for name, method, path, operation, parameters in operations()
    if method == "get"
    and operation["operationId"] not in NEEDS_A_STARTED_QUERY
    and any(p["in"] == "query" and example_of(p) is not None for p in parameters)
]


@pytest.mark.parametrize(("name", "method", "path", "operation", "parameters"), TRY_IT_OUT)
def test_try_it_out_with_the_examples_finds_fixture_data(
    client: TestClient, name: str, method: str, path: str, operation: dict[str, Any], parameters: list[dict[str, Any]]
) -> None:
    live = runtime_of(client).twins[name]
    query: list[tuple[str, str]] = []
    for parameter in parameters:
        example = example_of(parameter)
        if example is None:
            continue
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(example))
        elif parameter["in"] == "query" and isinstance(example, list):
            if parameter.get("explode", True):  # form style: a=1&a=2, or a=1,2 when not exploded
                query += [(parameter["name"], str(value)) for value in example]
            else:
                query.append((parameter["name"], ",".join(map(str, example))))
        elif parameter["in"] == "query":
            query.append((parameter["name"], str(example)))
    headers = live.twin.credential_header(live.credentials()[0]["credential"])
    response = client.get(live.mount_path + path, params=query, headers=headers)
    assert response.status_code == live.model.routes[operation["operationId"]].success_status, response.text
    if response.headers.get("content-type", "").startswith("application/json") and response.content:
        assert response.json() not in ([], {}), f"{query} finds nothing"
