"""A write runs on the writer thread; whatever it raises must reach the request that awaits it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apitwin.resolver import unstoppable


def _stops(ctx: Any) -> Any:
    raise StopIteration("from a next() on an empty iterator")


def _awaited(function: Any) -> Any:
    async def write() -> Any:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(None, function, _stops, None), timeout=5)

    return asyncio.run(write())


def test_a_stop_iteration_in_a_write_fails_the_request_instead_of_hanging_it() -> None:
    with pytest.raises(RuntimeError, match="StopIteration"):
        _awaited(unstoppable)


def test_a_plain_answer_passes_through() -> None:
    assert unstoppable(lambda ctx: ("answer", ctx), "ctx") == ("answer", "ctx")  # type: ignore[arg-type,return-value]
