"""Whether a server keeps answering while it serves a slow request: a blocked event loop would hold every
health check for the whole request. (The latency target itself is the soak benchmark's, not a test's.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


BLOCKED_SECONDS = 1.0  # a health check this slow means the loop waited for the slow request


def slowest_health_during(origin: str, slow_request: Callable[[], T]) -> tuple[T, float]:
    """Run `slow_request` in a thread, polling /__apitwin/health until it returns: (its result, slowest poll).
    The slow request must take a few seconds, so that several polls fall inside it."""
    outcome: list[T] = []
    worker = threading.Thread(target=lambda: outcome.append(slow_request()))
    worker.start()
    time.sleep(0.3)  # the slow request has reached its handler
    slowest, polls = 0.0, 0
    while worker.is_alive():
        polls += 1
        started = time.monotonic()
        assert httpx.get(f"{origin}/__apitwin/health", timeout=5).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.05)
    worker.join()
    assert outcome, "the slow request raised"
    assert polls >= 5, f"only {polls} health checks were answered while the slow request ran"
    return outcome[0], slowest
