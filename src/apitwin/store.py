"""The twins' state: tables of documents with string ids, transactions, snapshots and blobs.

Tables are named `<twin>/<collection>`; a nested item's id is `<parent id>/<own id>`, and each table keeps an
index of its items by parent, so one parent's items are found without a scan. Documents live in memory; a
file store also writes each committed transaction as one fsynced line of its log before the commit returns
(storefile.py), so a write costs what it changes, not what the store holds, and kill -9 leaves every
transaction whole or absent. Compaction folds the log into the base file in the background.

The interface the engine relies on is `StoreBackend`; tests/unit/test_store_contract.py is the suite any
backend must pass. `BufferedStore` holds what backends share (transactions buffered in the calling thread, the
document operations on them); `Store` keeps the committed state in memory, `storeredis.RedisStore` in Redis.

Concurrency: one writer at a time (a transaction holds the write lock, across its fsync); readers never wait
for a writer's disk, only for the moment a commit is applied in memory. A document in memory is never changed
in place (a write replaces it), so `scan` can hand out the stored documents themselves: read-only.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, Protocol

from apitwin import storefile
from apitwin.blobs import BlobError, Blobs, BlobTooLarge, refs_in
from apitwin.storefile import META, Log, StoreCorrupt, serialise

Doc = dict[str, Any]
_SEQUENCES = "__sequences__"
_PRIVATE = (_SEQUENCES, META)
_SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # matched whole: `$` lets a newline end it
MAX_SNAPSHOTS = 64
COMPACT_AFTER = 16 * 1024 * 1024  # log bytes that start a compaction (and at least the base file's size)

__all__ = [
    "MAX_SNAPSHOTS",
    "BlobError",
    "BlobTooLarge",
    "BufferedStore",
    "Doc",
    "Store",
    "StoreBackend",
    "StoreBusy",
    "StoreCorrupt",
    "StoreError",
    "lock_store_file",
]


class StoreError(Exception):
    """A store operation that cannot be done (duplicate id, unknown snapshot, a value JSON cannot hold...)."""


class StoreBusy(StoreError):
    """Another process holds the store file (see `lock_store_file`)."""


class StoreBackend(Protocol):
    """What the engine, behaviours and the control plane need of a store. Reads return copies, except `scan`."""

    def transaction(self) -> AbstractContextManager[None]:
        """A context: the writes inside apply together or (on an exception) not at all; nests."""

    def get(self, table: str, doc_id: str) -> Doc | None: ...
    def read(self, table: str, doc_id: str) -> Mapping[str, Any] | None:
        """The stored document itself (read-only): what `get` copies."""

    def scan(self, table: str, parent: str | None = None) -> list[Mapping[str, Any]]:
        """The stored documents (read-only), in insertion order; only one parent's with `parent`."""

    def all(self, table: str, parent: str | None = None) -> list[Doc]: ...
    def count(self, table: str, parent: str | None = None) -> int: ...
    def page(self, table: str, offset: int, limit: int | None, parent: str | None = None) -> list[Doc]: ...
    def insert(self, table: str, doc_id: str, doc: Mapping[str, Any]) -> None: ...
    def put(self, table: str, doc_id: str, doc: Mapping[str, Any]) -> None: ...
    def put_many(self, table: str, docs: Iterable[tuple[str, Mapping[str, Any]]]) -> None: ...
    def delete(self, table: str, doc_id: str) -> bool: ...
    def next_serial(self, table: str) -> int: ...
    def tables(self, prefix: str = "") -> list[str]: ...
    def load(self, prefix: str, tables: Mapping[str, Iterable[tuple[str, Mapping[str, Any]]]]) -> None: ...
    def is_empty(self, prefix: str) -> bool: ...
    def get_meta(self, name: str) -> Any: ...
    def set_meta(self, name: str, value: Any) -> None: ...
    def put_blob(self, data: bytes) -> str: ...
    def get_blob(self, ref: str) -> bytes: ...
    def save_snapshot(self, name: str) -> None: ...
    def restore_snapshot(self, name: str) -> None: ...
    def snapshots(self) -> list[str]: ...
    def delete_snapshot(self, name: str) -> None: ...
    def close(self) -> None: ...
    def forget(self) -> None:
        """Close the store with everything it holds gone: a deleted session's state."""

    @property
    def in_memory(self) -> bool:
        """Whether the state lives in this process only (gone when it ends)."""

    @property
    def shared(self) -> bool:
        """Whether other processes (workers, hosts) serve this same state: what a process keeps beside it (the
        clock, fault rules) must then be read back from the store when `meta_version` moves."""

    def meta_version(self) -> int:
        """A number that moves whenever a meta value changes, in any process sharing the store."""


_DROPPED = object()  # a pending delete, in a transaction's view


@dataclass
class _Transaction:
    """Ops not yet committed, and the view of them the transaction's own reads see."""

    ops: list[str] = field(default_factory=list)  # serialised ops, in order
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # table -> id -> document or _DROPPED
    dropped: list[str] = field(default_factory=list)  # table prefixes dropped before the pending writes
    metas: dict[str, str] = field(default_factory=dict)  # meta values (serialised) written in this transaction

    def mark(self) -> tuple[int, dict[str, dict[str, Any]], list[str], dict[str, str]]:
        return len(self.ops), {t: dict(d) for t, d in self.pending.items()}, list(self.dropped), dict(self.metas)

    def rewind(self, mark: tuple[int, dict[str, dict[str, Any]], list[str], dict[str, str]]) -> None:
        length, self.pending, self.dropped, self.metas = mark
        del self.ops[length:]

    def hides(self, table: str) -> bool:
        """Whether this transaction dropped the table's committed documents."""
        return any(table.startswith(prefix) for prefix in self.dropped)

    def lookup(self, table: str, doc_id: str) -> tuple[bool, Doc | None]:
        """(True, the document or None when deleted) when this transaction decides what `doc_id` reads as;
        (False, None) when the committed document shows through."""
        pending = self.pending.get(table, {}).get(doc_id)
        if pending is _DROPPED:
            return True, None
        if pending is not None:
            return True, pending
        return self.hides(table), None

    def overlay(self, table: str, parent: str | None, committed: dict[str, Doc]) -> dict[str, Doc]:
        """The committed documents of a table (one parent's, with `parent`) as this transaction sees them."""
        found = {} if self.hides(table) else committed
        for doc_id, doc in self.pending.get(table, {}).items():
            if parent is not None and _parent_of(doc_id) != parent:
                continue
            if doc is _DROPPED:
                found.pop(doc_id, None)
            else:
                found[doc_id] = doc
        return found


class BufferedStore:
    """What every backend does alike: transactions buffered in the calling thread (one writer at a time; a nested
    transaction is a savepoint) and the document operations built on them. A backend supplies the committed
    state (`_committed`, `_committed_ids`, `_committed_tables`, `scan`) and `_commit`; `_begin` and `_end` bracket
    an outermost transaction (a lock other processes honour, for a shared store)."""

    def __init__(self) -> None:
        self._write_lock = threading.RLock()  # one transaction at a time in this process
        self._tx: _Transaction | None = None
        self._owner: int | None = None  # the thread whose transaction is open

    # transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Writes inside apply together when the outermost transaction ends, or not at all when an exception
        leaves it; an inner transaction that fails takes back only its own writes. Reads inside see them."""
        with self._write_lock:
            if self._tx is not None:
                mark = self._tx.mark()
                try:
                    yield
                except BaseException:
                    self._tx.rewind(mark)
                    raise
                return
            self._begin()
            try:
                self._tx, self._owner = _Transaction(), threading.get_ident()
                try:
                    yield
                    tx = self._tx
                finally:
                    self._tx, self._owner = None, None
                self._commit(tx)
            finally:
                self._end()

    def _begin(self) -> None:
        """An outermost transaction starts (this process's write lock is held)."""

    def _end(self) -> None:
        """An outermost transaction ended, committed or not."""

    def _commit(self, tx: _Transaction) -> None:
        raise NotImplementedError

    def _mine(self) -> _Transaction | None:
        """The open transaction, when the calling thread is the one that opened it."""
        return self._tx if self._owner == threading.get_ident() else None

    def _write(self, table: str, doc_id: str, doc: Mapping[str, Any] | None) -> None:
        """One put (or, with None, delete) in the caller's transaction."""
        tx = self._mine()
        assert tx is not None, "writes happen inside a transaction"
        if doc is None:
            tx.ops.append(serialise(["del", table, doc_id]))
            tx.pending.setdefault(table, {})[doc_id] = _DROPPED
            return
        try:
            text = serialise(doc)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        tx.ops.append(f"{serialise(['put', table, doc_id])[:-1]},{text}]")
        tx.pending.setdefault(table, {})[doc_id] = json.loads(text)  # the store's own copy, JSON exactly

    # reading

    def _committed(self, table: str, doc_id: str) -> Doc | None:
        raise NotImplementedError

    def _committed_ids(self, table: str) -> list[str]:
        raise NotImplementedError

    def _committed_tables(self) -> set[str]:
        """The tables holding documents, private ones too."""
        raise NotImplementedError

    def scan(self, table: str, parent: str | None = None) -> list[Mapping[str, Any]]:
        raise NotImplementedError

    def get(self, table: str, doc_id: str) -> Doc | None:
        found = self._find(table, doc_id)
        return copy.deepcopy(found) if found is not None else None

    def read(self, table: str, doc_id: str) -> Mapping[str, Any] | None:
        """The stored document itself: read it, never change it (`get` gives a copy to change)."""
        return self._find(table, doc_id)

    def _find(self, table: str, doc_id: str) -> Doc | None:
        tx = self._mine()
        if tx is not None:
            decided, doc = tx.lookup(table, doc_id)
            if decided:
                return doc
        return self._committed(table, doc_id)

    def all(self, table: str, parent: str | None = None) -> list[Doc]:
        return [copy.deepcopy(dict(doc)) for doc in self.scan(table, parent)]

    # writing

    def insert(self, table: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        with self.transaction():
            if self._find(table, doc_id) is not None:
                raise StoreError(f"{table} already holds {doc_id!r}")
            self._write(table, doc_id, doc)

    def put(self, table: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        """Insert or replace the whole document."""
        with self.transaction():
            self._write(table, doc_id, doc)

    def put_many(self, table: str, docs: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Insert or replace several documents: all of them or none."""
        with self.transaction():
            for doc_id, doc in docs:
                self._write(table, doc_id, doc)

    def delete(self, table: str, doc_id: str) -> bool:
        with self.transaction():
            if self._find(table, doc_id) is None:
                return False
            self._write(table, doc_id, None)
            return True

    def next_serial(self, table: str) -> int:
        """The next integer id of a table; ids are never reused, even after a delete."""
        with self.transaction():
            current = self._find(_SEQUENCES, table)
            value = int(current["last"]) + 1 if current else 1
            self._write(_SEQUENCES, table, {"last": value})
            return value

    def get_meta(self, name: str) -> Any:
        """A value the store keeps for the server itself (the clock), not part of any twin's state."""
        found = self._find(META, name)
        return copy.deepcopy(found.get("value")) if found is not None else None

    def set_meta(self, name: str, value: Any) -> None:
        with self.transaction():
            self._write(META, name, {"value": value})

    # whole tables and namespaces

    def tables(self, prefix: str = "") -> list[str]:
        names = self._committed_tables()
        tx = self._mine()
        if tx is not None:
            names = {n for n in names if not tx.hides(n)}
            names |= {name for name in tx.pending if self.scan(name)}
        return sorted(name for name in names if name.startswith(prefix) and name not in _PRIVATE)

    def load(self, prefix: str, tables: Mapping[str, Iterable[tuple[str, Mapping[str, Any]]]]) -> None:
        """Replace every table under `prefix` (and its sequences) by the given documents, in one transaction."""
        with self.transaction():
            self._drop_in_transaction(prefix)
            for name, docs in tables.items():
                serials = []
                for doc_id, doc in docs:
                    self._write(name, doc_id, doc)
                    if doc_id.isdigit():
                        serials.append(int(doc_id))
                if serials:
                    self._write(_SEQUENCES, name, {"last": max(serials)})

    def is_empty(self, prefix: str) -> bool:
        return not self.tables(prefix)

    def _drop_in_transaction(self, prefix: str) -> None:
        """Drop the twin tables under `prefix` and their sequences (never the store's meta table)."""
        tx = self._mine()
        assert tx is not None
        for sequence in [doc_id for doc_id in self._ids(_SEQUENCES) if doc_id.startswith(prefix)]:
            self._write(_SEQUENCES, sequence, None)
        tx.ops.append(serialise(["drop", prefix]))
        tx.dropped.append(prefix)
        for table in [t for t in tx.pending if t.startswith(prefix) and t not in _PRIVATE]:
            del tx.pending[table]

    def _ids(self, table: str) -> list[str]:
        ids = self._committed_ids(table)
        tx = self._mine()
        pending = tx.pending.get(table, {}) if tx is not None else {}
        return [i for i in dict.fromkeys([*ids, *pending]) if self._find(table, i) is not None]

    def _replace_everything(self, tables: Mapping[str, Mapping[str, Any]]) -> None:
        """Every twin table (and sequence) replaced by the given ones, in one transaction: a snapshot restored."""
        with self.transaction():
            self._drop_in_transaction("")
            for table, docs in tables.items():
                if table != META:
                    for doc_id, doc in docs.items():
                        self._write(table, doc_id, doc)


class Store(BufferedStore):
    """Durable document storage shared by every twin (in memory only, without a path)."""

    shared = False  # one process: `apitwin serve` holds an OS lock on the file (lock_store_file)

    def __init__(
        self,
        path: Path | None = None,
        *,
        max_blob: int | None = None,
        max_blobs_total: int | None = None,
        compact_after: int = COMPACT_AFTER,
    ) -> None:
        super().__init__()  # its write lock is held across a commit's fsync
        self.path = path
        self._memory_lock = threading.Lock()  # held only while a commit changes the tables, or a scan lists them
        self._tables: dict[str, dict[str, Doc]] = {}
        self._children: dict[str, dict[str, dict[str, None]]] = {}  # table -> parent id -> ids, ordered
        self._memory_snapshots: dict[str, dict[str, dict[str, Doc]]] = {}
        self._compact_after = compact_after
        self._compactor: threading.Thread | None = None
        self._log: Log | None = None
        self._base_size = 0
        self._meta_version = 0
        limits = {k: v for k, v in (("max_blob", max_blob), ("max_total", max_blobs_total)) if v is not None}
        self.blobs = Blobs(path.with_name(path.name + ".blobs") if path else None, **limits)
        if path is not None:
            self._recover(path)

    @property
    def in_memory(self) -> bool:
        return self.path is None

    def meta_version(self) -> int:
        return self._meta_version

    def _commit(self, tx: _Transaction) -> None:
        if not tx.ops:
            return
        if self.path is not None and self._log is None:
            raise StoreError(f"{self.path} is closed: a write now would live in memory only")
        if self._log is not None:
            self._log.append(storefile.record("[" + ",".join(tx.ops) + "]"))
        with self._memory_lock:
            for prefix in tx.dropped:
                self._drop(prefix)
            for table, docs in tx.pending.items():
                for doc_id, doc in docs.items():
                    if doc is _DROPPED:
                        self._remove(table, doc_id)
                    else:
                        self._place(table, doc_id, doc)
        if META in tx.pending:
            self._meta_version += 1
        if self._log is not None and self._log.size > max(self._compact_after, self._base_size):
            self._start_compaction()

    # reading

    def _committed(self, table: str, doc_id: str) -> Doc | None:
        return self._tables.get(table, {}).get(doc_id)

    def _committed_ids(self, table: str) -> list[str]:
        with self._memory_lock:
            return list(self._tables.get(table, {}))

    def _committed_tables(self) -> set[str]:
        with self._memory_lock:
            return {name for name, docs in self._tables.items() if docs}

    def scan(self, table: str, parent: str | None = None) -> list[Mapping[str, Any]]:
        """The stored documents themselves, in insertion order: read them, never change them."""
        tx = self._mine()
        with self._memory_lock:
            docs = self._tables.get(table, {})
            if parent is None:
                if tx is None:  # nothing of the caller's own to lay over them
                    return list(docs.values())
                found: dict[str, Doc] = dict(docs)
            else:
                found = {doc_id: docs[doc_id] for doc_id in self._children.get(table, {}).get(parent, ())}
        if tx is not None:
            found = tx.overlay(table, parent, found)
        return list(found.values())

    def count(self, table: str, parent: str | None = None) -> int:
        if self._mine() is None:
            with self._memory_lock:
                if parent is None:
                    return len(self._tables.get(table, {}))
                return len(self._children.get(table, {}).get(parent, ()))
        return len(self.scan(table, parent))

    def page(self, table: str, offset: int, limit: int | None, parent: str | None = None) -> list[Doc]:
        """Copies of `limit` documents from `offset`, in insertion order."""
        if self._mine() is None and parent is None:
            with self._memory_lock:
                docs = self._tables.get(table, {})
                chosen = list(islice(docs.values(), offset, None if limit is None else offset + limit))
        else:
            everything = self.scan(table, parent)
            chosen = everything[offset : None if limit is None else offset + limit]  # type: ignore[assignment]
        return [copy.deepcopy(dict(doc)) for doc in chosen]

    # memory (under the memory lock)

    def _place(self, table: str, doc_id: str, doc: Doc) -> None:
        self._tables.setdefault(table, {})[doc_id] = doc
        parent = _parent_of(doc_id)
        if parent is not None:
            self._children.setdefault(table, {}).setdefault(parent, {})[doc_id] = None

    def _remove(self, table: str, doc_id: str) -> None:
        self._tables.get(table, {}).pop(doc_id, None)
        parent = _parent_of(doc_id)
        siblings = self._children.get(table, {}).get(parent or "")
        if siblings is not None:
            siblings.pop(doc_id, None)
            if not siblings:
                del self._children[table][parent or ""]

    def _drop(self, prefix: str) -> None:
        for table in [t for t in self._tables if t.startswith(prefix) and t not in _PRIVATE]:
            del self._tables[table]
            self._children.pop(table, None)

    def _apply(self, ops: list[storefile.Op]) -> None:
        """Replay one logged transaction (recovery)."""
        for op in ops:
            if op[0] == "put":
                self._place(op[1], op[2], op[3])
            elif op[0] == "del":
                self._remove(op[1], op[2])
            elif op[0] == "drop":
                self._drop(op[1])
            else:
                raise StoreCorrupt(f"unknown op {op[0]!r} in the store log")

    # durability

    def _recover(self, path: Path) -> None:
        storefile.remove_stale_temp_files(path)
        base = storefile.read_base(path)
        through = int(base.get(META, {}).get("log", {}).get("value", {}).get("generation", 0))
        with self._memory_lock:
            for table, docs in base.items():
                for doc_id, doc in docs.items():
                    self._place(table, doc_id, doc)
            generation = through
            for generation, file in storefile.log_files(path):
                if generation <= through:
                    file.unlink(missing_ok=True)  # folded into the base by a compaction killed before cleanup
                    continue
                for ops in storefile.replay(file):
                    self._apply(ops)
        if not path.exists():  # the store file exists from the start: a TinyDB database, empty until compacted
            storefile.write_tables(path, {META: {"log": {"value": {"generation": generation}}}})
        self._base_size = path.stat().st_size
        self._log = Log(path, max(generation, through) + 1)
        if self._log.generation > through + 1:
            self._start_compaction()  # fold what was replayed now, in the background

    def _start_compaction(self) -> None:
        if self._compactor is not None and self._compactor.is_alive():
            return
        self._compactor = threading.Thread(target=self.compact, name="apitwin-compaction", daemon=True)
        self._compactor.start()

    def compact(self) -> None:
        """Fold the log into a new base file: a consistent view is taken under the write lock (a new log
        generation starts there), then written while commits go on; old generations go last."""
        if self.path is None or self._log is None:
            return
        with self._write_lock:
            with self._memory_lock:
                view = {table: dict(docs) for table, docs in self._tables.items() if docs}
            folded = self._log.generation
            self._log.close()
            self._log = Log(self.path, folded + 1)
        view[META] = {**view.get(META, {}), "log": {"value": {"generation": folded}}}
        storefile.write_tables(self.path, view)
        self._base_size = self.path.stat().st_size
        for generation, file in storefile.log_files(self.path):
            if generation <= folded:
                file.unlink(missing_ok=True)
        self._collect_blobs()  # from the tables as they are now: blobs written since the view are referenced

    def wait_for_compaction(self) -> None:
        compactor = self._compactor
        if compactor is not None:
            compactor.join()

    def forget(self) -> None:
        if self.path is not None:  # a session's store is in memory; a file is the server's own state
            raise ValueError("a store file is never forgotten: delete the file")
        self.close()

    def close(self) -> None:
        """Fold the log into the base file, so a server stopped cleanly leaves one TinyDB database file, and
        close the log. The store stays readable; writes after this are an error."""
        self.wait_for_compaction()
        if self._log is not None:
            if self._log.size:
                self.compact()
            assert self._log is not None
            self._log.close()
            if not self._log.size:
                self._log.path.unlink(missing_ok=True)
            self._log = None

    @staticmethod
    def discard(path: Path) -> None:
        """Remove a store's files (base, log, blobs stay for collection): to start again from fixtures."""
        path.unlink(missing_ok=True)
        for _, file in storefile.log_files(path):
            file.unlink(missing_ok=True)

    # blobs

    def put_blob(self, data: bytes) -> str:
        """Store uploaded bytes (durably, before returning) and return their reference, `sha256:<hex>`, for a
        document to hold. BlobTooLarge beyond the per-upload or per-store limit."""
        return self.blobs.put(data)

    def get_blob(self, ref: str) -> bytes:
        return self.blobs.get(ref)

    def _collect_blobs(self) -> list[str]:
        """Remove blobs that no document, of the store or of a snapshot, refers to."""
        with self._memory_lock:
            view = {table: dict(docs) for table, docs in self._tables.items()}
        referenced = {ref for docs in view.values() for doc in docs.values() for ref in refs_in(doc)}
        for snapshot in self._memory_snapshots.values():
            referenced |= {ref for docs in snapshot.values() for doc in docs.values() for ref in refs_in(doc)}
        if self.path is not None:
            for file in self._snapshot_dir().glob("*.json"):
                referenced |= set(refs_in(storefile.read_base(file)))
        return self.blobs.collect(referenced)

    def collect_blobs(self) -> list[str]:
        """Remove the blobs nothing refers to any more (also done after each compaction); returns them."""
        return self._collect_blobs()

    # snapshots

    def save_snapshot(self, name: str) -> None:
        _check_snapshot_name(name)
        with self._write_lock:
            if name not in self.snapshots() and len(self.snapshots()) >= MAX_SNAPSHOTS:
                raise StoreError(f"at most {MAX_SNAPSHOTS} snapshots are kept: delete one first")
            with self._memory_lock:  # documents are never changed in place: sharing them is a copy
                view = {t: dict(docs) for t, docs in self._tables.items() if docs and t != META}
            if self.path is None:
                self._memory_snapshots[name] = view
            else:
                storefile.write_tables(self._snapshot_path(name), view)

    def restore_snapshot(self, name: str) -> None:
        _check_snapshot_name(name)
        with self._write_lock:
            if self.path is None:
                if name not in self._memory_snapshots:
                    raise StoreError(f"no snapshot named {name!r}")
                data: Mapping[str, Mapping[str, Any]] = self._memory_snapshots[name]
            else:
                path = self._snapshot_path(name)
                if not path.exists():
                    raise StoreError(f"no snapshot named {name!r}")
                data = storefile.read_base(path)
            self._replace_everything(data)

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


def _parent_of(doc_id: str) -> str | None:
    parent, slash, _ = doc_id.partition("/")
    return parent if slash else None


def _check_snapshot_name(name: str) -> None:
    if not _SNAPSHOT_NAME.fullmatch(name):
        raise StoreError("snapshot names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")


def lock_store_file(path: Path) -> IO[str]:
    """Claim a store file for this process, so no second server writes it behind the first one's back.

    The lock is an OS lock (flock) on `<store>.lock` beside the store, held while the returned file stays open;
    the OS drops it when the process ends, even on `kill -9`, so a crash never leaves a stale lock behind. The
    lock file holds the owner's pid, for the message the next claimant gets."""
    import fcntl
    import os

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
