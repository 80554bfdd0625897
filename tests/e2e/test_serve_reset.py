"""`apitwin serve --reset` against a real process: state on disk survives a restart unless --reset is given."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_durability import admin_credential, served

pytestmark = pytest.mark.slow


def _name_of_report_1(base: str) -> str:
    answer = httpx.get(f"{base}/report/1", headers={"Authorization": admin_credential()}, timeout=10)
    return str(answer.json()["name"])


def test_state_survives_a_restart_and_reset_brings_back_the_fixtures(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    with served(data) as (_, base):
        seeded = _name_of_report_1(base)
        changed = httpx.patch(
            f"{base}/report/1", json={"name": "renamed"}, headers={"Authorization": admin_credential()}, timeout=10
        )
        assert changed.status_code == 200
    with served(data) as (_, base):
        assert _name_of_report_1(base) == "renamed"
    with served(data, "--reset") as (_, base):
        assert _name_of_report_1(base) == seeded
