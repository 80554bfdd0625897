"""The store on disk: a base file and a log of the transactions committed since.

    <store>          the base: a TinyDB database file ({table: {id: document}}) holding the state as of the log
                     generation named in its `__meta__` table; only compaction rewrites it (temp file, fsync,
                     rename), from a consistent view, a few documents at a time so no caller waits on it.
    <store>.log.<n>  generation n of the log: one line per committed transaction, `<crc32> <json ops>\\n`, written
                     and fsynced before the commit returns. kill -9 can only cut the last line short: recovery
                     drops that torn tail (an unreadable line before the tail means the file was damaged).

An op is ["put", table, id, document], ["del", table, id] or ["drop", table prefix]; a transaction's ops apply
all together or, when its line is torn, not at all.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import weakref
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from tinydb.storages import JSONStorage

Op = list[Any]
META = "__meta__"  # the store's own table: the log generation the base holds, the clock
_CHUNK = 256  # documents serialised between two chances for other threads to run


class StoreCorrupt(Exception):
    """The store files hold something other than a store (cut short by a full disk, edited by hand...)."""


def serialise(value: Any) -> str:
    """JSON that reads back the same: no NaN or Infinity, no text UTF-8 cannot encode (ValueError otherwise)."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # bytes, NaN, a lone surrogate (UnicodeEncodeError is a ValueError)
        raise ValueError(f"a value cannot be stored: {exc}") from None
    return text


def read_base(path: Path) -> dict[str, dict[str, Any]]:
    """The base file's tables, read as TinyDB reads its database ({} when there is none yet)."""
    if not path.exists():
        return {}
    storage = JSONStorage(str(path), access_mode="r", encoding="utf-8")
    try:
        data = storage.read()
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreCorrupt(f"{path} is not an apitwin store: {exc}") from None
    finally:
        storage.close()
    if data is None:  # an empty file
        return {}
    if not isinstance(data, dict) or not all(isinstance(table, dict) for table in data.values()):
        raise StoreCorrupt(f"{path} is not an apitwin store: not an object of tables")
    return data


def write_tables(path: Path, tables: Mapping[str, Mapping[str, Any]]) -> None:
    """Write tables as a TinyDB database file, atomically and durably, a few documents at a time."""

    def write(handle: IO[bytes]) -> None:
        handle.write(b"{")
        for t, (name, docs) in enumerate(tables.items()):
            handle.write(f"{',' if t else ''}{serialise(name)}:{{".encode())
            items = list(docs.items())
            for start in range(0, len(items), _CHUNK):
                chunk = items[start : start + _CHUNK]
                text = ",".join(f"{serialise(key)}:{serialise(doc)}" for key, doc in chunk)
                handle.write((("," if start else "") + text).encode())
            handle.write(b"}")
        handle.write(b"}")

    write_durably(path, write)


def write_durably(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file atomically and durably: a temp file beside it, fsynced, renamed over it, the folder fsynced
    (so the new name reaches the disk too). A failure leaves the former file, and no temp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it 0600; the store is an ordinary file
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temp_files(path: Path) -> None:
    """Temp files a killed writer left beside the store (its last complete write is the base itself)."""
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)


def log_files(path: Path) -> list[tuple[int, Path]]:
    """The log generations beside the store, oldest first."""
    pattern = re.compile(re.escape(path.name) + r"\.log\.(\d{1,18})")
    found = [(int(m[1]), p) for p in path.parent.glob(f"{path.name}.log.*") if (m := pattern.fullmatch(p.name))]
    return sorted(found)


def log_path(path: Path, generation: int) -> Path:
    return path.with_name(f"{path.name}.log.{generation}")


def record(ops_text: str) -> bytes:
    """One log line: the ops' JSON behind its CRC, so a torn or damaged line is known as such."""
    data = ops_text.encode("utf-8")
    return f"{zlib.crc32(data):08x} ".encode() + data + b"\n"


def replay(file: Path) -> Iterator[list[Op]]:
    """The transactions of one log file in order. A torn last line is cut off the file (it was never
    acknowledged); a bad line before it means damage: StoreCorrupt."""
    with open(file, "r+b") as handle:
        good = 0
        lines = handle.read().split(b"\n")
        tail = lines.pop()  # after the last newline: empty, or a line cut short
        for number, line in enumerate(lines, 1):
            ops = _ops(line)
            if ops is None:
                if number == len(lines) and not tail:  # the last complete line may be torn inside (a short write)
                    break
                raise StoreCorrupt(f"{file}: line {number} is damaged")
            yield ops
            good += len(line) + 1
        if good != handle.tell():
            handle.truncate(good)
            handle.flush()
            os.fsync(handle.fileno())


def _ops(line: bytes) -> list[Op] | None:
    crc, _, data = line.partition(b" ")
    try:
        if int(crc, 16) != zlib.crc32(data) or len(crc) != 8:
            return None
        ops = json.loads(data)
    except ValueError:
        return None
    return ops if isinstance(ops, list) else None


class Log:
    """The generation of the log that commits append to."""

    def __init__(self, path: Path, generation: int) -> None:
        self.generation = generation
        self.path = log_path(path, generation)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._closer = weakref.finalize(self, os.close, self._fd)  # a store dropped unclosed leaks no descriptor
        sync_dir(self.path.parent)
        self.size = os.fstat(self._fd).st_size

    def append(self, line: bytes) -> None:
        """Write and fsync one transaction; on failure the file is cut back, so no torn line stays behind."""
        try:
            written = 0
            while written < len(line):
                written += os.write(self._fd, line[written:])
            os.fsync(self._fd)
        except BaseException:
            try:
                os.ftruncate(self._fd, self.size)
            except OSError:
                pass  # the next start cuts the torn tail off
            raise
        self.size += len(line)

    def close(self) -> None:
        self._closer()
