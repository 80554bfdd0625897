"""What only the Redis backend does: several stores (as several processes would) on one namespace, the lock that
serialises their transactions, and durability through Redis' AOF. The shared contract is test_store_contract.py."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from apitwin import storeredis
from apitwin.store import StoreError
from apitwin.storeredis import RedisStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def two(redis_url: str, namespace: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """Two stores on one namespace: what two workers hold."""
    first, second = RedisStore(redis_url, namespace), RedisStore(redis_url, namespace)
    yield first, second
    first.drop_namespace()
    first.close()
    second.close()


def test_a_commit_through_one_store_is_read_through_the_other(two: tuple[RedisStore, RedisStore]) -> None:
    first, second = two
    with first.transaction():
        first.put("t/items", "p1/a", {"id": "a"})
        first.put("t/items", "p1/b", {"id": "b"})
        assert second.count("t/items") == 0  # not before the commit
    assert [d["id"] for d in second.scan("t/items", "p1")] == ["a", "b"]
    second.set_meta("clock", {"offset": 3})
    assert first.get_meta("clock") == {"offset": 3}


def test_serials_drawn_through_two_stores_at_once_are_unique(two: tuple[RedisStore, RedisStore]) -> None:
    drawn: list[int] = []

    def draw(store: RedisStore) -> None:
        for _ in range(40):
            with store.transaction():  # as the engine creates: the serial and the document together
                serial = store.next_serial("t/items")
                store.insert("t/items", str(serial), {"id": serial})
            drawn.append(serial)

    threads = [threading.Thread(target=draw, args=(store,)) for store in (*two, *two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(drawn) == list(range(1, 161))
    assert two[1].count("t/items") == 160


def test_a_transaction_waits_for_another_stores_and_reads_what_it_committed(
    two: tuple[RedisStore, RedisStore],
) -> None:
    first, second = two
    first.put("t/counter", "c", {"n": 0})
    inside, done = threading.Event(), threading.Event()

    def slow_increment() -> None:
        with first.transaction():
            n = first.get("t/counter", "c")["n"]  # type: ignore[index]
            inside.set()
            time.sleep(0.3)
            first.put("t/counter", "c", {"n": n + 1})
            done.set()  # still inside: the commit and the lock's release come after it, so it is set before the
            # second transaction can begin (set after the block, it raced the second's taking the lock)

    thread = threading.Thread(target=slow_increment)
    thread.start()
    inside.wait(5)
    with second.transaction():  # serialised behind the first: no lost update
        assert done.is_set()
        n = second.get("t/counter", "c")["n"]  # type: ignore[index]
        second.put("t/counter", "c", {"n": n + 1})
    thread.join()
    assert first.get("t/counter", "c") == {"n": 2}


def test_a_lock_left_by_a_dead_process_expires(two: tuple[RedisStore, RedisStore], namespace: str) -> None:
    first, _ = two
    started = time.monotonic()  # before the lock is set: a pause between the two cannot shorten the wait seen
    first._redis.set(f"apitwin:{namespace}:lock", "a worker killed mid-transaction", px=300)
    first.put("t/items", "a", {"id": "a"})
    assert 0.25 < time.monotonic() - started < 5  # 300 ms, less what Redis rounds
    assert first.get("t/items", "a") == {"id": "a"}


def test_a_transaction_that_outlived_its_lock_commits_nothing(
    two: tuple[RedisStore, RedisStore], namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two
    monkeypatch.setattr(storeredis, "_RENEW_AFTER", 3600.0)  # never renewed
    with pytest.raises(StoreError, match="expired"), first.transaction():
        first.put("t/items", "a", {"id": "a"})
        first._redis.delete(f"apitwin:{namespace}:lock")  # expired; another process may hold it now
        second.put("t/items", "b", {"id": "b"})
    assert first.get("t/items", "a") is None and first.get("t/items", "b") == {"id": "b"}


def test_namespaces_on_one_database_are_apart(redis_url: str) -> None:
    one, other = RedisStore(redis_url, uuid.uuid4().hex), RedisStore(redis_url, uuid.uuid4().hex)
    one.put("t/items", "a", {"id": "a"})
    one.save_snapshot("s")
    assert other.tables() == [] and other.snapshots() == []
    other.put("t/items", "a", {"id": "other"})
    one.drop_namespace()
    assert one.tables() == [] and other.get("t/items", "a") == {"id": "other"}
    other.drop_namespace()


@pytest.mark.slow
def test_kill_9_of_redis_loses_no_acknowledged_transaction_and_leaves_each_whole(tmp_path: Path) -> None:
    """Durable per the AOF (appendfsync always): redis-server killed mid-commit and started again on its folder."""
    from tests.support.redis_server import redis_server

    acknowledged: dict[int, str] = {}
    namespace = "durability"
    for _round in range(3):
        with redis_server(tmp_path / "redis") as url:
            command = [sys.executable, "-m", "tests.support.killable_writer", "redis", url, namespace]
            command.append(str(len(acknowledged)))
            writer = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            assert writer.stdout is not None
            for line in writer.stdout:
                n, ref = line.split()
                acknowledged[int(n)] = ref.decode()
                if len(acknowledged) >= 15 * (_round + 1):
                    break
            server = _redis_server_pid(url)
            subprocess.run(["kill", "-9", str(server)], check=True)  # mid-flight: the writer is still writing
            writer.kill()  # rather than wait for its client to give up reconnecting
            writer.wait(timeout=10)
            writer.stdout.close()
        with redis_server(tmp_path / "redis") as url:  # the same folder: the AOF is replayed
            store = RedisStore(url, namespace)
            parents = {doc["n"]: doc for doc in store.scan("t/parents")}
            for n, doc in parents.items():  # acknowledged or not: every transaction there is whole
                assert store.count("t/children", f"p{n}") == 50
                assert hashlib.sha256(store.get_blob(doc["file"])).hexdigest() == doc["file"].removeprefix("sha256:")
            assert set(acknowledged) <= set(parents)
            store.close()
    assert len(acknowledged) >= 45


def _redis_server_pid(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    pid = int(client.info("server")["process_id"])
    client.close()
    return pid
