"""What only a file store does: its log, recovery after a crash, compaction, blobs on disk, failures of the disk.
(The interface every backend shares is tested in test_store_contract.py.)"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from tinydb import TinyDB
from tinydb.table import Table

import apitwin.blobs as blobs_module
from apitwin import storefile
from apitwin.store import Store, StoreCorrupt


class _StrTable(Table):
    document_id_class = str  # type: ignore[assignment]


class _StrTinyDB(TinyDB):
    table_class = _StrTable


def crash(store: Store) -> None:
    """Leave the store as kill -9 would: its log as written, no compaction at the end. A background compaction
    already running is let finish first: a killed process's thread writes nothing after the kill, and one left
    running would race the next Store on the path (which removes its temp file as stale)."""
    store.wait_for_compaction()
    log = store._log
    assert log is not None
    log.close()
    store._log = None


def logs(path: Path) -> list[str]:
    return [p.name for _, p in storefile.log_files(path)]


def test_a_commit_is_one_fsynced_log_line_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    store = Store(path)
    with store.transaction():
        store.insert("t/items", "a", {"id": "a"})
        store.insert("t/items", "b", {"id": "b"})
        store.next_serial("t/items")
    lines = (tmp_path / "db.json.log.1").read_bytes().splitlines()
    assert len(lines) == 1  # three writes, one transaction, one line
    assert json.loads(path.read_text()) == {"__meta__": {"log": {"value": {"generation": 0}}}}  # not rewritten
    store.close()
    reopened = Store(path)
    assert [d["id"] for d in reopened.scan("t/items")] == ["a", "b"]
    assert reopened.next_serial("t/items") == 2
    reopened.close()


def test_a_torn_last_line_is_dropped_whole_and_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    store = Store(path)
    store.put("t/items", "kept", {"v": 1})
    crash(store)
    log = tmp_path / "db.json.log.1"
    whole = log.read_bytes()
    torn = storefile.record('[["put","t/items","torn",{"v":2}],["del","t/items","kept"]]')[:-9]
    log.write_bytes(whole + torn)  # kill -9 in the middle of a transaction's write
    reopened = Store(path)
    assert reopened.get("t/items", "kept") == {"v": 1} and reopened.get("t/items", "torn") is None
    assert log.read_bytes() == whole  # the torn tail is gone, so later generations never follow it
    reopened.close()


def test_a_damaged_line_before_the_tail_is_reported_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    store = Store(path)
    store.put("t/items", "a", {"v": 1})
    store.put("t/items", "b", {"v": 2})
    crash(store)
    log = tmp_path / "db.json.log.1"
    first, second = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(first.replace(b'"v":1', b'"v":7') + second)
    with pytest.raises(StoreCorrupt, match="line 1 is damaged"):
        Store(path)


def test_compaction_writes_a_tinydb_file_and_removes_folded_generations(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    store = Store(path)
    store.put("t/items", "a", {"id": "a", "n": 1})
    store.put("t/items", "p/b", {"id": "b"})
    store.compact()
    store.put("t/items", "c", {"id": "c"})  # after the fold: in the new generation only
    assert logs(path) == ["db.json.log.2"]
    with _StrTinyDB(str(path), access_mode="r") as database:
        assert database.table("t/items").get(doc_id="a") == {"id": "a", "n": 1}
    store.close()
    reopened = Store(path)
    assert [d["id"] for d in reopened.scan("t/items")] == ["a", "b", "c"]
    assert reopened.scan("t/items", "p") == [{"id": "b"}]
    reopened.close()


def test_a_compaction_killed_before_its_cleanup_replays_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    store = Store(path)
    store.put("t/items", "a", {"n": 1})
    crash(store)
    folded = (tmp_path / "db.json.log.1").read_bytes()
    store = Store(path)
    store.compact()
    store.delete("t/items", "a")
    crash(store)
    (tmp_path / "db.json.log.1").write_bytes(folded)  # as if the old generation had not been removed yet
    reopened = Store(path)
    assert reopened.get("t/items", "a") is None
    assert not (tmp_path / "db.json.log.1").exists()
    reopened.close()


def test_a_growing_log_is_compacted_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    store = Store(path, compact_after=10_000)
    for n in range(200):
        store.put("t/items", str(n), {"n": n, "text": "x" * 100})
    store.wait_for_compaction()
    assert path.exists() and sum(p.stat().st_size for _, p in storefile.log_files(path)) < 30_000
    store.close()
    reopened = Store(path)
    assert reopened.count("t/items") == 200
    reopened.close()


def test_a_failed_disk_write_leaves_memory_as_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.json"
    store = Store(path)
    store.insert("t/items", "a", {"id": "a", "v": 1})
    real_fsync = os.fsync

    def disk_full(fd: int) -> None:  # the line reached the file, its sync failed
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        store.put("t/items", "a", {"id": "a", "v": 2})
    with pytest.raises(OSError):
        store.insert("t/items", "b", {"id": "b"})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert store.all("t/items") == [{"id": "a", "v": 1}]
    store.put("t/items", "c", {"id": "c"})  # the failed lines must not sit before this one
    store.close()
    reopened = Store(path)
    assert [d["id"] for d in reopened.scan("t/items")] == ["a", "c"]
    reopened.close()


def test_temp_files_a_killed_writer_left_are_removed_at_start(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.json")
    store.insert("t/items", "a", {"id": "a"})
    store.close()
    stale = tmp_path / ".db.json.abc123.tmp"
    stale.write_text('{"half": ')
    other = tmp_path / ".other.json.x.tmp"
    other.write_text("not ours")
    assert Store(tmp_path / "db.json").get("t/items", "a") == {"id": "a"}
    assert not stale.exists() and other.exists()


def test_a_store_file_of_the_earlier_format_opens(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_text(json.dumps({"t/items": {"a": {"id": "a"}}, "__sequences__": {"t/items": {"last": 4}}}))
    store = Store(path)
    assert store.get("t/items", "a") == {"id": "a"} and store.next_serial("t/items") == 5


def test_a_blob_is_on_disk_before_put_returns_and_read_back_intact(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.json")
    data = os.urandom(100_000)
    ref = store.put_blob(data)
    digest = ref.removeprefix("sha256:")
    on_disk = tmp_path / "db.json.blobs" / digest[:2] / digest
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == digest
    store.put("t/files", "f", {"content": ref})
    store.close()
    assert Store(tmp_path / "db.json").get_blob(ref) == data


@pytest.mark.parametrize("on_disk", [False, True])
def test_blobs_nothing_refers_to_are_collected_but_snapshots_keep_theirs(
    tmp_path: Path, on_disk: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs_module, "_GRACE_SECONDS", 0.0)
    store = Store(tmp_path / "db.json" if on_disk else None)
    kept, in_snapshot, orphan = (store.put_blob(data) for data in (b"kept", b"in snapshot", b"orphan"))
    store.put("t/files", "a", {"file": {"blob": kept}})
    store.put("t/files", "b", {"files": [in_snapshot]})
    store.save_snapshot("before")
    store.delete("t/files", "b")
    assert store.collect_blobs() == [orphan]
    assert store.get_blob(in_snapshot) == b"in snapshot"
    store.delete_snapshot("before")
    assert store.collect_blobs() == [in_snapshot]
    assert store.get_blob(kept) == b"kept"


def test_a_blob_written_moments_ago_is_spared_by_collection() -> None:
    store = Store()
    young = store.put_blob(b"its document is not committed yet")
    assert store.collect_blobs() == [] and store.get_blob(young)
