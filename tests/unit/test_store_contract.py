"""The store interface (`StoreBackend`): the suite any backend must pass. Add a backend to BACKENDS and it runs
every test here; what only a file store does (its log, recovery, compaction) is in test_store.py, what only the
Redis one does (several processes) in test_store_redis.py. The Redis backend runs against a real redis-server
(tests/support/redis_server.py), each test in a namespace of its own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apitwin.store import BlobError, BlobTooLarge, Store, StoreBackend, StoreError


def _redis(request: pytest.FixtureRequest, tmp: Path, **limits: int) -> StoreBackend:
    from apitwin.storeredis import RedisStore

    return RedisStore(request.getfixturevalue("redis_url"), namespace=uuid.uuid4().hex, **limits)


# each makes a store, with the blob limits given as keyword arguments (max_blob, max_blobs_total)
BACKENDS: dict[str, Callable[..., StoreBackend]] = {
    "memory": lambda request, tmp, **limits: Store(**limits),
    "file": lambda request, tmp, **limits: Store(tmp / "db.json", **limits),
    "redis": _redis,
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    backend = BACKENDS[request.param](request, tmp_path)
    yield backend
    backend.close()


def test_documents_round_trip_by_string_id_and_reads_are_copies(store: StoreBackend) -> None:
    store.insert("t/items", "a1", {"id": "a1", "tags": ["x"]})
    doc = store.get("t/items", "a1")
    assert doc == {"id": "a1", "tags": ["x"]}
    assert doc is not None
    doc["tags"].append("mutated")
    listed = store.all("t/items")
    listed[0]["tags"].append("mutated")
    store.page("t/items", 0, 1)[0]["tags"].append("mutated")
    assert store.get("t/items", "a1") == {"id": "a1", "tags": ["x"]}


def test_read_shows_a_document_as_get_does_and_sees_the_transactions_own_writes(store: StoreBackend) -> None:
    store.insert("t/items", "a1", {"id": "a1", "n": 1})
    assert store.read("t/items", "a1") == store.get("t/items", "a1") == {"id": "a1", "n": 1}
    assert store.read("t/items", "missing") is None
    with store.transaction():
        store.put("t/items", "a1", {"id": "a1", "n": 2})
        assert store.read("t/items", "a1") == {"id": "a1", "n": 2}
        store.delete("t/items", "a1")
        assert store.read("t/items", "a1") is None


def test_a_written_document_is_the_stores_own_copy(store: StoreBackend) -> None:
    doc = {"id": "a", "tags": ["x"]}
    store.put("t/items", "a", doc)
    doc["tags"].append("changed after the write")
    assert store.get("t/items", "a") == {"id": "a", "tags": ["x"]}


def test_duplicate_insert_is_refused_and_put_replaces_the_whole_document(store: StoreBackend) -> None:
    store.insert("t/items", "a", {"id": "a", "old": 1})
    with pytest.raises(StoreError):
        store.insert("t/items", "a", {"id": "a"})
    store.put("t/items", "a", {"id": "a", "new": 2})
    assert store.get("t/items", "a") == {"id": "a", "new": 2}
    assert store.delete("t/items", "a") is True
    assert store.delete("t/items", "a") is False
    assert store.get("t/items", "a") is None


def test_serials_are_never_reused(store: StoreBackend) -> None:
    assert [store.next_serial("t/items") for _ in range(3)] == [1, 2, 3]
    store.delete("t/items", "3")
    assert store.next_serial("t/items") == 4


def test_scans_count_and_pages_follow_insertion_order_and_the_parent(store: StoreBackend) -> None:
    for parent in ("p1", "p2"):
        for n in range(5):
            store.put("t/children", f"{parent}/c{n}", {"id": f"c{n}", "parent": parent})
    store.put("t/children", "p1/c1", {"id": "c1", "parent": "p1", "changed": True})  # keeps its place
    assert [d["id"] for d in store.scan("t/children", "p1")] == ["c0", "c1", "c2", "c3", "c4"]
    assert store.scan("t/children", "p1")[1]["changed"] is True
    assert store.count("t/children") == 10 and store.count("t/children", "p2") == 5
    assert store.count("t/children", "absent") == 0 and store.scan("t/children", "absent") == []
    assert [d["id"] for d in store.page("t/children", 3, 2, "p2")] == ["c3", "c4"]
    assert [d["parent"] for d in store.page("t/children", 4, 2)] == ["p1", "p2"]
    assert len(store.page("t/children", 0, None)) == 10
    store.delete("t/children", "p2/c0")
    assert [d["id"] for d in store.page("t/children", 0, 1, "p2")] == ["c1"]


def test_a_transaction_applies_all_its_writes_or_none(store: StoreBackend) -> None:
    store.put("t/a", "1", {"v": 1})
    with pytest.raises(RuntimeError), store.transaction():
        store.put("t/a", "1", {"v": 2})
        store.insert("t/b", "x", {"v": 3})
        store.delete("t/a", "1")
        raise RuntimeError("half way")
    assert store.get("t/a", "1") == {"v": 1} and store.get("t/b", "x") is None
    with store.transaction():
        store.put("t/a", "1", {"v": 2})
        store.insert("t/b", "x", {"v": 3})
        # the transaction reads its own writes
        assert store.get("t/a", "1") == {"v": 2} and store.count("t/b") == 1 and store.tables("t/") == ["t/a", "t/b"]
    assert store.get("t/a", "1") == {"v": 2} and store.get("t/b", "x") == {"v": 3}


def test_an_inner_transaction_that_fails_takes_back_only_its_own_writes(store: StoreBackend) -> None:
    with store.transaction():
        store.put("t/a", "kept", {"v": 1})
        with pytest.raises(StoreError), store.transaction():
            store.put("t/a", "dropped", {"v": 2})
            store.insert("t/a", "kept", {"v": 3})  # a duplicate: this inner transaction fails
        assert store.get("t/a", "dropped") is None
    assert [d["v"] for d in store.scan("t/a")] == [1]


def test_other_threads_see_a_transaction_only_once_it_commits(store: StoreBackend) -> None:
    store.put("t/a", "1", {"v": 1})
    seen: list[object] = []
    with store.transaction():
        store.put("t/a", "1", {"v": 2})
        reader = threading.Thread(target=lambda: seen.append(store.get("t/a", "1")))
        reader.start()
        reader.join(5)
    assert seen == [{"v": 1}]
    assert store.get("t/a", "1") == {"v": 2}


def test_concurrent_writers_lose_nothing(store: StoreBackend) -> None:
    def writer(worker: int) -> None:
        for n in range(50):
            serial = store.next_serial("t/items")
            store.insert("t/items", str(serial), {"id": serial, "by": worker, "n": n})

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count("t/items") == 400
    assert sorted(int(d["id"]) for d in store.scan("t/items")) == list(range(1, 401))


def test_load_replaces_one_namespace_and_continues_serials_after_fixtures(store: StoreBackend) -> None:
    store.insert("a/x", "1", {"id": 1})
    store.insert("a/y", "1", {"id": 1})
    store.insert("b/x", "1", {"id": 1})
    store.next_serial("a/y")
    store.load("a/", {"a/x": [("7", {"id": 7}), ("9", {"id": 9})]})
    assert [d["id"] for d in store.all("a/x")] == [7, 9]
    assert store.tables() == ["a/x", "b/x"] and store.is_empty("c/") and not store.is_empty("a/")
    assert store.all("b/x") == [{"id": 1}]
    assert store.next_serial("a/x") == 10 and store.next_serial("a/y") == 1


@pytest.mark.parametrize("value", [b"bytes", float("nan"), float("inf"), "lone \ud800 surrogate"])
def test_a_value_that_cannot_be_stored_changes_nothing(store: StoreBackend, value: object) -> None:
    store.insert("t/items", "a", {"id": "a", "v": 1})
    with pytest.raises(StoreError, match="cannot be stored"):
        store.put("t/items", "a", {"id": "a", "v": value})
    assert store.get("t/items", "a") == {"id": "a", "v": 1}
    store.put("t/items", "a", {"id": "a", "v": 2})  # and the store goes on working
    assert store.get("t/items", "a") == {"id": "a", "v": 2}


def test_snapshots_restore_everything_but_the_stores_own_values(store: StoreBackend) -> None:
    store.insert("t/items", "a", {"id": "a", "v": 1})
    store.set_meta("clock", {"offset": 5})
    store.save_snapshot("s1")
    store.put("t/items", "a", {"id": "a", "v": 2})
    store.insert("t/items", "b", {"id": "b"})
    store.insert("u/items", "c", {"id": "c"})
    store.set_meta("clock", {"offset": 9})
    store.restore_snapshot("s1")
    assert store.all("t/items") == [{"id": "a", "v": 1}] and store.tables() == ["t/items"]
    assert store.get_meta("clock") == {"offset": 9}  # time does not go back with a snapshot
    assert store.snapshots() == ["s1"]
    store.delete_snapshot("s1")
    with pytest.raises(StoreError):
        store.restore_snapshot("s1")


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "name\n", "a\nb"])
def test_snapshot_names_cannot_escape(store: StoreBackend, name: str) -> None:
    with pytest.raises(StoreError):
        store.save_snapshot(name)


def test_snapshots_are_bounded_in_number(store: StoreBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    import apitwin.store as store_module

    monkeypatch.setattr(store_module, "MAX_SNAPSHOTS", 3)
    for name in ("a", "b", "c"):
        store.save_snapshot(name)
    with pytest.raises(StoreError, match="at most 3"):
        store.save_snapshot("d")
    store.save_snapshot("c")  # replacing one is fine
    store.delete_snapshot("a")
    store.save_snapshot("d")


def test_meta_values_are_kept_apart_from_the_twins_tables(store: StoreBackend) -> None:
    assert store.get_meta("clock") is None
    store.set_meta("clock", {"frozen_at": 1.5})
    assert store.get_meta("clock") == {"frozen_at": 1.5}
    assert store.tables() == [] and store.is_empty("")
    store.load("", {})
    assert store.get_meta("clock") == {"frozen_at": 1.5}


def test_blobs_are_named_by_their_content(store: StoreBackend) -> None:
    ref = store.put_blob(b"a,b\n1,2\n")
    assert ref == "sha256:" + __import__("hashlib").sha256(b"a,b\n1,2\n").hexdigest()
    assert store.put_blob(b"a,b\n1,2\n") == ref  # stored once
    assert store.get_blob(ref) == b"a,b\n1,2\n"
    with pytest.raises(BlobError):
        store.get_blob("sha256:" + "0" * 64)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_an_upload_beyond_the_limits_is_refused(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = BACKENDS[backend](request, tmp_path, max_blob=10, max_blobs_total=25)
    with pytest.raises(BlobTooLarge, match="at most 10 bytes"):
        store.put_blob(b"x" * 11)
    store.put_blob(b"a" * 10)
    store.put_blob(b"b" * 10)
    store.put_blob(b"a" * 10)  # already there: costs nothing
    with pytest.raises(BlobTooLarge, match="25 bytes"):
        store.put_blob(b"c" * 10)
    store.close()
