"""Two runtimes on one Redis namespace, as two workers hold them: what one changes of the clock and fault rules, the
other takes up at its next request (`Runtime.refresh`), a worker started later included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from apitwin.faults import FaultRule
from apitwin.runtime import Runtime
from apitwin.storeredis import RedisStore
from apitwin.twins import select


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    name = uuid.uuid4().hex
    yield name
    RedisStore(redis_url, name).drop_namespace()


def worker(redis_url: str, namespace: str) -> Runtime:
    runtime = Runtime(select(["datascale"]), store=RedisStore(redis_url, namespace))
    runtime.seed()
    return runtime


def test_a_worker_started_later_applies_the_fault_rules_already_there(redis_url: str, namespace: str) -> None:
    first = worker(redis_url, namespace)
    first.faults.add(FaultRule(twin="datascale", status=503))
    later = worker(redis_url, namespace)
    later.refresh()
    assert [rule.status for rule in later.faults.rules()] == [503]


def test_a_clock_change_through_one_worker_is_the_others_after_its_refresh(redis_url: str, namespace: str) -> None:
    first, second = worker(redis_url, namespace), worker(redis_url, namespace)
    second.refresh()
    first.clock.advance(3600)
    assert not second.clock.state()["offset_seconds"]
    second.refresh()
    assert second.clock.state()["offset_seconds"] == pytest.approx(3600, abs=1)
    first.reset()  # a reset of every twin puts the shared clock back to real time, for every worker
    second.refresh()
    assert not second.clock.state()["offset_seconds"]
