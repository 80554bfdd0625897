"""The Schemathesis hooks `apitwin check` loads, on a spec of their own."""

from __future__ import annotations

from typing import Any

from apitwin.contract import show_hidden_secrets


def test_a_nullable_write_only_field_may_come_back_as_null_in_the_runs_spec() -> None:
    secret: dict[str, Any] = {"type": "string", "nullable": True, "writeOnly": True}
    password: dict[str, Any] = {"type": "string", "writeOnly": True}
    spec = {"components": {"schemas": {"Auth": {"properties": {"key": secret, "password": password}}}}}
    show_hidden_secrets(None, spec)
    assert secret == {"type": "string", "nullable": True} and password["writeOnly"] is True
