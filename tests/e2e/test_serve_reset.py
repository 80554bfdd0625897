"""`apitwin serve --reset` against a real process: state on disk survives a restart unless --reset is given."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.shell import served
from tests.e2e.test_durability import admin_credential

pytestmark = pytest.mark.slow


def _name_of_report_1(base: str) -> str:
    answer = httpx.get(f"{base}/report/1", headers={"Authorization": admin_credential()}, timeout=10)
    return str(answer.json()["name"])


def test_state_survives_a_restart_and_reset_brings_back_the_fixtures(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    options = ("--api", "datascaphe", "--data", str(data))
    with served(*options) as server:
        base = server.origin + "/api/v1"
        seeded = _name_of_report_1(base)
        changed = httpx.patch(
            f"{base}/report/1", json={"name": "renamed"}, headers={"Authorization": admin_credential()}, timeout=10
        )
        assert changed.status_code == 200
    with served(*options) as server:
        assert _name_of_report_1(server.origin + "/api/v1") == "renamed"
    with served(*options, "--reset") as server:
        assert _name_of_report_1(server.origin + "/api/v1") == seeded
