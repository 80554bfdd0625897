"""The store: string ids, sequences, namespaces, snapshots, durability and concurrency."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from apitwin.store import Store, StoreError


def test_documents_round_trip_by_string_id() -> None:
    store = Store()
    store.insert("t/items", "a1", {"id": "a1", "tags": ["x"]})
    doc = store.get("t/items", "a1")
    assert doc == {"id": "a1", "tags": ["x"]}
    assert doc is not None
    doc["tags"].append("mutated")
    assert store.get("t/items", "a1") == {"id": "a1", "tags": ["x"]}  # callers get copies


def test_duplicate_insert_is_refused() -> None:
    store = Store()
    store.insert("t/items", "a", {"id": "a"})
    with pytest.raises(StoreError):
        store.insert("t/items", "a", {"id": "a"})


def test_put_replaces_the_whole_document() -> None:
    store = Store()
    store.put("t/items", "a", {"id": "a", "old": 1})
    store.put("t/items", "a", {"id": "a", "new": 2})
    assert store.get("t/items", "a") == {"id": "a", "new": 2}


def test_serials_are_never_reused() -> None:
    store = Store()
    assert [store.next_serial("t/items") for _ in range(3)] == [1, 2, 3]
    store.delete("t/items", "3")
    assert store.next_serial("t/items") == 4


def test_load_replaces_one_namespace_and_continues_serials_after_fixtures() -> None:
    store = Store()
    store.insert("a/x", "1", {"id": 1})
    store.insert("b/x", "1", {"id": 1})
    store.load("a/", {"a/x": [("7", {"id": 7}), ("9", {"id": 9})]})
    assert [d["id"] for d in store.all("a/x")] == [7, 9]
    assert store.all("b/x") == [{"id": 1}]
    assert store.next_serial("a/x") == 10


def test_writes_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    store = Store(path)
    store.insert("t/items", "a", {"id": "a"})
    store.next_serial("t/items")
    reopened = Store(path)
    assert reopened.get("t/items", "a") == {"id": "a"}
    assert reopened.next_serial("t/items") == 2
    assert not list(tmp_path.glob(".db.json.*.tmp"))  # no temp file left behind


@pytest.mark.parametrize("on_disk", [False, True])
def test_snapshots_restore_everything(tmp_path: Path, on_disk: bool) -> None:
    store = Store(tmp_path / "db.json" if on_disk else None)
    store.insert("t/items", "a", {"id": "a", "v": 1})
    store.save_snapshot("s1")
    store.put("t/items", "a", {"id": "a", "v": 2})
    store.insert("t/items", "b", {"id": "b"})
    store.restore_snapshot("s1")
    assert store.all("t/items") == [{"id": "a", "v": 1}]
    assert store.snapshots() == ["s1"]
    store.delete_snapshot("s1")
    with pytest.raises(StoreError):
        store.restore_snapshot("s1")


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "name\n", "a\nb"])
def test_snapshot_names_cannot_escape(name: str) -> None:
    with pytest.raises(StoreError):
        Store().save_snapshot(name)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    store = Store(path)

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
    on_disk = json.loads(path.read_text())
    assert len(on_disk["t/items"]) == 400


def test_a_write_reaches_the_disk_before_the_rename_and_the_rename_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order that makes an acknowledged write survive a crash: the data is synced, then renamed over the
    store file, then the folder is synced so the rename itself is durable."""
    import os
    import stat

    import apitwin.store as store_module

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str, dst: str | Path) -> None:
        events.append("rename")
        real_replace(src, dst)

    store = Store(tmp_path / "db.json")
    monkeypatch.setattr(store_module.os, "fsync", fsync)
    monkeypatch.setattr(store_module.os, "replace", replace)
    store.insert("t/items", "a", {"id": "a"})
    assert events == ["fsync file", "rename", "fsync folder"]
    assert json.loads((tmp_path / "db.json").read_text())["t/items"]["a"] == {"id": "a"}


@pytest.mark.parametrize("value", [b"bytes", float("nan"), float("inf"), "lone \ud800 surrogate"])
def test_a_value_that_cannot_be_stored_changes_nothing(tmp_path: Path, value: object) -> None:
    store = Store(tmp_path / "db.json")
    store.insert("t/items", "a", {"id": "a", "v": 1})
    with pytest.raises(StoreError, match="cannot be stored"):
        store.put("t/items", "a", {"id": "a", "v": value})
    assert store.get("t/items", "a") == {"id": "a", "v": 1}  # memory as before...
    assert json.loads((tmp_path / "db.json").read_text())["t/items"]["a"]["v"] == 1  # ...as on disk
    store.put("t/items", "a", {"id": "a", "v": 2})  # and the store goes on working
    assert Store(tmp_path / "db.json").get("t/items", "a") == {"id": "a", "v": 2}


def test_a_failed_disk_write_leaves_memory_as_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import apitwin.store as store_module

    store = Store(tmp_path / "db.json")
    store.insert("t/items", "a", {"id": "a", "v": 1})

    def disk_full(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "_write_atomically", disk_full)
    with pytest.raises(OSError):
        store.put("t/items", "a", {"id": "a", "v": 2})
    with pytest.raises(OSError):
        store.insert("t/items", "b", {"id": "b"})
    assert store.all("t/items") == [{"id": "a", "v": 1}]


def test_temp_files_a_killed_writer_left_are_removed_at_start(tmp_path: Path) -> None:
    Store(tmp_path / "db.json").insert("t/items", "a", {"id": "a"})
    stale = tmp_path / ".db.json.abc123.tmp"
    stale.write_text('{"half": ')
    other = tmp_path / ".other.json.x.tmp"
    other.write_text("not ours")
    assert Store(tmp_path / "db.json").get("t/items", "a") == {"id": "a"}
    assert not stale.exists() and other.exists()


@pytest.mark.parametrize("on_disk", [True, False])
def test_snapshots_are_bounded_in_number(tmp_path: Path, on_disk: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import apitwin.store as store_module

    monkeypatch.setattr(store_module, "MAX_SNAPSHOTS", 3)
    store = Store(tmp_path / "db.json" if on_disk else None)
    for name in ("a", "b", "c"):
        store.save_snapshot(name)
    with pytest.raises(StoreError, match="at most 3"):
        store.save_snapshot("d")
    store.save_snapshot("c")  # replacing one is fine
    store.delete_snapshot("a")
    store.save_snapshot("d")
