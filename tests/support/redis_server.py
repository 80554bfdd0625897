"""A real `redis-server` for the tests of the Redis backend: started on a free port in a temporary folder, with the
durability `apitwin serve --store redis://` is documented with (AOF, fsync on every write, no RDB snapshots), and
stopped at the end. Where no binary exists the tests that need it are skipped, saying why."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.ports import free_port

NO_SERVER = (
    "no redis-server binary on PATH: the Redis backend is tested against a real server only "
    "(Debian: apt-get install redis-server; .ci/run installs it)"
)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of its own; yields its URL (database 0)."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(NO_SERVER)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # fmt: off
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--appendonly", "yes",
         "--appendfsync", "always", "--save", "", "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # fmt: on
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "redis.log").read_text(errors="replace") if (folder / "redis.log").exists() else ""
                    raise RuntimeError(f"redis-server did not start: {log[-2000:]}") from None
                time.sleep(0.02)
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
