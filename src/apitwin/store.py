"""The twins' state: TinyDB tables with string ids, one lock, and durable atomic writes.

Tables are named `<twin>/<collection>`. Every write replaces the store file atomically (temp file, fsync,
rename), so an answered write survives `kill -9` and the file is never left half-written. Reads are
served from memory. Snapshots are whole-store copies kept beside the store file (or in memory).
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

Doc = dict[str, Any]
_SEQUENCES = "__sequences__"
_SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # matched whole: `$` lets a newline end it
MAX_SNAPSHOTS = 64


class StoreError(Exception):
    """A store operation that cannot be done (duplicate id, unknown snapshot...)."""


class StoreCorrupt(StoreError):
    """The store file holds something other than a store (cut short by a full disk, edited by hand...)."""


class StoreBusy(StoreError):
    """Another process holds the store file (see `lock_store_file`)."""


class _AtomicJSONStorage(Storage):
    """TinyDB storage that reads from memory and persists every write with an atomic replace.

    TinyDB changes the tables it read in place, then asks for the write. So the last state that was written
    (serialised, and on disk for a file store) is kept as text: when a write fails (a value JSON cannot
    hold, a full disk), memory goes back to it, and memory and disk never disagree."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._data: dict[str, dict[str, Any]] = {}
        if path is not None:
            _remove_stale_temp_files(path)
            if path.exists():
                self._data = _read_store_file(path)
        self._written = _serialise(self._data)

    def read(self) -> dict[str, dict[str, Any]]:
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            text = _serialise(data)
            if self._path is not None:
                _write_atomically(self._path, text)
        except BaseException:
            self._data = json.loads(self._written)  # memory back to what was written last
            raise
        self._data, self._written = data, text

    def close(self) -> None:
        pass


def _serialise(data: Mapping[str, Any]) -> str:
    """The store as JSON that reads back the same: no NaN or Infinity, no text UTF-8 cannot encode."""
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # bytes, NaN, a lone surrogate (UnicodeEncodeError is a ValueError)
        raise StoreError(f"a value cannot be stored: {exc}") from None
    return text


def _remove_stale_temp_files(path: Path) -> None:
    """Temp files a killed writer left beside the store (its last complete write is the store itself)."""
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)


def _read_store_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreCorrupt(f"{path} is not an apitwin store: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(table, dict) for table in data.values()):
        raise StoreCorrupt(f"{path} is not an apitwin store: not an object of tables")
    return data


def lock_store_file(path: Path) -> IO[str]:
    """Claim a store file for this process, so no second server writes it behind the first one's back.

    The lock is an OS lock (flock) on `<store>.lock` beside the store, held while the returned file stays open;
    the OS drops it when the process ends, even on `kill -9`, so a crash never leaves a stale lock behind. The
    lock file holds the owner's pid, for the message the next claimant gets."""
    import fcntl

    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644), "r+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = handle.read().strip()
        handle.close()
        raise StoreBusy(f"{path} is in use by another apitwin serve{f' (pid {owner})' if owner else ''}") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it 0600; the store is an ordinary file
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must reach the disk
    finally:
        os.close(dir_fd)


class _StrTable(Table):
    """Documents keyed by their public string id: O(1) lookups, no automatic ids."""

    document_id_class = str  # type: ignore[assignment]

    def _get_next_id(self) -> str:
        raise StoreError("documents need an explicit id")


class _StrTinyDB(TinyDB):
    table_class = _StrTable


class Store:
    """Durable, locked document storage shared by every twin."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = _StrTinyDB(storage=_AtomicJSONStorage, path=path)
        self._storage = cast(_AtomicJSONStorage, self._db.storage)
        self._memory_snapshots: dict[str, dict[str, Any]] = {}

    def _table(self, name: str) -> Any:
        # Typed loosely: TinyDB declares int document ids, these tables use strings (see _StrTable).
        return self._db.table(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the store lock across several operations (read-modify-write)."""
        with self._lock:
            yield

    # documents

    def get(self, table: str, doc_id: str) -> Doc | None:
        with self._lock:
            found = self._table(table).get(doc_id=doc_id)
            return copy.deepcopy(dict(found)) if found is not None else None

    def all(self, table: str) -> list[Doc]:
        with self._lock:
            return [copy.deepcopy(dict(doc)) for doc in self._table(table).all()]

    def count(self, table: str) -> int:
        with self._lock:
            return len(self._table(table))

    def insert(self, table: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        with self._lock:
            tbl = self._table(table)
            if tbl.contains(doc_id=doc_id):
                raise StoreError(f"{table} already holds {doc_id!r}")
            tbl.insert(Document(copy.deepcopy(dict(doc)), doc_id=cast(int, doc_id)))

    def put(self, table: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        """Insert or replace the whole document."""
        with self._lock:
            tbl = self._table(table)
            new = copy.deepcopy(dict(doc))
            if tbl.contains(doc_id=doc_id):
                tbl.update(lambda stored: (stored.clear(), stored.update(new)), doc_ids=[doc_id])
            else:
                tbl.insert(Document(new, doc_id=cast(int, doc_id)))

    def put_many(self, table: str, docs: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Insert or replace several documents in one durable write: all of them or none."""
        with self._lock:
            data = dict(self._storage.read())
            merged = dict(data.get(table, {}))
            merged.update({doc_id: copy.deepcopy(dict(doc)) for doc_id, doc in docs})
            data[table] = merged
            self._replace_all(data)

    def delete(self, table: str, doc_id: str) -> bool:
        with self._lock:
            tbl = self._table(table)
            if not tbl.contains(doc_id=doc_id):
                return False
            tbl.remove(doc_ids=[doc_id])
            return True

    def next_serial(self, table: str) -> int:
        """The next integer id of a table; ids are never reused, even after a delete."""
        with self._lock:
            sequences = self._table(_SEQUENCES)
            current = sequences.get(doc_id=table)
            value = int(current["last"]) + 1 if current else 1
            self.put(_SEQUENCES, table, {"last": value})
            return value

    # whole tables and namespaces

    def tables(self, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(name for name in self._db.tables() if name.startswith(prefix) and name != _SEQUENCES)

    def load(self, prefix: str, tables: Mapping[str, Iterable[tuple[str, Mapping[str, Any]]]]) -> None:
        """Replace every table under `prefix` (and its sequences) by the given documents, in one write."""
        with self._lock:
            data = {name: docs for name, docs in self._storage.read().items() if not name.startswith(prefix)}
            sequences = {k: v for k, v in data.get(_SEQUENCES, {}).items() if not k.startswith(prefix)}
            for name, docs in tables.items():
                data[name] = {doc_id: copy.deepcopy(dict(doc)) for doc_id, doc in docs}
                serials = [int(i) for i in data[name] if i.isdigit()]
                if serials:
                    sequences[name] = {"last": max(serials)}
            data[_SEQUENCES] = sequences
            self._replace_all(data)

    def is_empty(self, prefix: str) -> bool:
        return not any(self.count(name) for name in self.tables(prefix))

    def _replace_all(self, data: dict[str, dict[str, Any]]) -> None:
        self._storage.write(data)
        self._db.clear_cache()
        for table in self._db._tables.values():  # TinyDB caches table objects with their query caches
            table.clear_cache()

    # snapshots

    def save_snapshot(self, name: str) -> None:
        _check_snapshot_name(name)
        with self._lock:
            if name not in self.snapshots() and len(self.snapshots()) >= MAX_SNAPSHOTS:
                raise StoreError(f"at most {MAX_SNAPSHOTS} snapshots are kept: delete one first")
            data = copy.deepcopy(self._storage.read())
            if self.path is None:
                self._memory_snapshots[name] = data
            else:
                _write_atomically(self._snapshot_path(name), _serialise(data))

    def restore_snapshot(self, name: str) -> None:
        _check_snapshot_name(name)
        with self._lock:
            if self.path is None:
                if name not in self._memory_snapshots:
                    raise StoreError(f"no snapshot named {name!r}")
                data = copy.deepcopy(self._memory_snapshots[name])
            else:
                path = self._snapshot_path(name)
                if not path.exists():
                    raise StoreError(f"no snapshot named {name!r}")
                data = json.loads(path.read_text(encoding="utf-8"))
            self._replace_all(data)

    def snapshots(self) -> list[str]:
        if self.path is None:
            return sorted(self._memory_snapshots)
        folder = self._snapshot_dir()
        return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []

    def delete_snapshot(self, name: str) -> None:
        _check_snapshot_name(name)
        if self.path is None:
            if self._memory_snapshots.pop(name, None) is None:
                raise StoreError(f"no snapshot named {name!r}")
            return
        path = self._snapshot_path(name)
        if not path.exists():
            raise StoreError(f"no snapshot named {name!r}")
        path.unlink()

    def _snapshot_dir(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".snapshots")

    def _snapshot_path(self, name: str) -> Path:
        return self._snapshot_dir() / f"{name}.json"


def _check_snapshot_name(name: str) -> None:
    if not _SNAPSHOT_NAME.fullmatch(name):
        raise StoreError("snapshot names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
