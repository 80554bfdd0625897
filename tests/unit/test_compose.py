"""docker-compose.yml, which CI cannot run (no Docker engine there): it is YAML compose reads, its Redis keeps every
acknowledged write (the AOF, fsynced per write), and its apitwin command is one `apitwin serve` takes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from apitwin.cli import main

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return document


def test_redis_keeps_every_acknowledged_write_and_apitwin_waits_for_it() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", "apitwin"}
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command and "--appendfsync always" in redis_command
    assert services["apitwin"]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert compose()["volumes"] == {"redis-data": None}


def test_the_apitwin_command_is_one_serve_takes_with_its_default_workers() -> None:
    service = compose()["services"]["apitwin"]
    # compose's ${NAME:-default}, as compose substitutes it when NAME is not set
    command = [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(part)) for part in service["command"]]
    assert command[:2] == ["apitwin", "serve"]
    context = main.commands["serve"].make_context("serve", command[2:])  # parses and checks, serves nothing
    assert context.params["store_url"] == "redis://redis:6379/0" and context.params["workers"] == 2
    assert service["build"] == "." and "[redis]" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
