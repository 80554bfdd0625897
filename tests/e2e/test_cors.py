"""CORS on the twins, as Prism answers by default, so a browser app on another origin can call them; never on
the control plane; off with create_app(cors=False) (`apitwin serve --no-cors`)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from apitwin.auth import RateLimit
from tests.conftest import credential, runtime_of

ORIGIN = "http://localhost:5173"
REPORT = "/datascaphe/api/v1/report/1"
INGEST = "/datascale/v1/ingest"


def preflight(client: TestClient, path: str, method: str = "PATCH") -> dict[str, str]:
    response = client.options(
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    return {"status": str(response.status_code), **response.headers}


def test_a_preflight_is_answered_without_credentials_echoing_what_the_browser_asks(client: TestClient) -> None:
    headers = preflight(client, REPORT)
    assert headers["status"] == "204"
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-methods"] == "PATCH"
    assert headers["access-control-allow-headers"] == "authorization, content-type"
    assert headers["access-control-allow-credentials"] == "true"
    assert int(headers["access-control-max-age"]) > 0


def test_preflights_spend_no_rate_limit_and_are_journalled_as_what_they_got(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client("datascale", rate_limits={"datascale": RateLimit(requests=1, window_seconds=60)})
    token = runtime_of(client).twins["datascale"].credentials()[0]["credential"]
    assert [preflight(client, INGEST, "PUT")["status"] for _ in range(3)] == ["204"] * 3
    ingest = {"json": {"content": "select 1"}, "headers": {"Authorization": f"Bearer {token}", "Origin": ORIGIN}}
    assert client.put(INGEST, **ingest).status_code == 200  # type: ignore[arg-type]
    assert client.put(INGEST, **ingest).status_code == 429  # type: ignore[arg-type]
    journalled = client.get("/__apitwin/requests").json()["requests"]
    assert [(e["method"], e["status"], e["operation_id"]) for e in journalled] == [
        ("PUT", 429, "ingestContent"),
        ("PUT", 200, "ingestContent"),
        *[("OPTIONS", 204, None)] * 3,
    ]


def test_answers_name_the_origin_and_expose_their_headers(client: TestClient) -> None:
    key = credential(client, "dataiku", "admin")
    answer = client.get(
        "/dataiku/dip/publicapi/projects/", headers={"Authorization": f"Bearer {key}", "Origin": ORIGIN}
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert answer.headers["access-control-expose-headers"] == "dss-api-version, dss-version"
    assert "Origin" in answer.headers["vary"]


def test_errors_are_readable_cross_origin_too(client: TestClient) -> None:
    refused = client.get(REPORT, headers={"Origin": ORIGIN})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    limited = client.get(REPORT, headers={"Origin": ORIGIN, "Prefer": "code=429", **datascaphe_admin(client)})
    assert limited.status_code == 429 and "retry-after" in limited.headers["access-control-expose-headers"]


def test_a_request_without_origin_is_told_any_origin_may_read(client: TestClient) -> None:
    answer = client.get(REPORT, headers=datascaphe_admin(client))
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers


def test_the_control_plane_has_no_cors(client: TestClient) -> None:
    assert "access-control-allow-origin" not in preflight(client, "/__apitwin/reset", "POST")
    assert "access-control-allow-origin" not in client.get("/__apitwin/health", headers={"Origin": ORIGIN}).headers


def test_cors_can_be_turned_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client("datascaphe", cors=False)
    assert "access-control-allow-origin" not in preflight(client, REPORT)
    answer = client.get(REPORT, headers={"Origin": ORIGIN, **datascaphe_admin(client)})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


def datascaphe_admin(client: TestClient) -> dict[str, str]:
    return {"Authorization": credential(client, "datascaphe", "admin")}
