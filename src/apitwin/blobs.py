"""Uploaded file bytes, stored once by content beside the store and referenced from documents.

A blob is named by its content, `sha256:<hex>`; documents (and snapshots) hold that reference, never the bytes,
so a snapshot shares a blob instead of copying it. A file store keeps blobs in `<store>.blobs/<2 hex>/<hex>`,
each written durably (temp file, fsync, rename, fsync of the folder) before `put` returns, so a document that
points at one is only ever committed after its bytes are on disk. Garbage collection removes the blobs nothing
refers to any more, sparing those written moments ago (their document may not be committed yet).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from apitwin import storefile

REF = re.compile(r"sha256:[0-9a-f]{64}")
DEFAULT_MAX_BLOB = 64 * 1024 * 1024  # one upload
DEFAULT_MAX_TOTAL = 2 * 1024 * 1024 * 1024  # every blob of the store together
_GRACE_SECONDS = 60.0  # a blob this young may belong to a transaction still running: collection spares it


class BlobError(Exception):
    """A blob that cannot be stored (too large, the store full) or found."""


class BlobTooLarge(BlobError):
    """Beyond the size limit of one upload, or of the store's blobs together."""


class Blobs:
    """Content-addressed bytes: in a folder for a file store, in memory otherwise."""

    def __init__(
        self, folder: Path | None, max_blob: int = DEFAULT_MAX_BLOB, max_total: int = DEFAULT_MAX_TOTAL
    ) -> None:
        self.folder = folder
        self.max_blob = max_blob
        self.max_total = max_total
        self._lock = threading.Lock()
        self._memory: dict[str, bytes] = {}
        self._born: dict[str, float] = {}  # written by this process: monotonic time, for the grace period
        self._sizes: dict[str, int] = {}
        if folder is not None and folder.is_dir():
            for file in folder.glob("*/*"):
                if REF.fullmatch(f"sha256:{file.name}"):
                    self._sizes[f"sha256:{file.name}"] = file.stat().st_size
                elif file.name.endswith(".tmp"):
                    file.unlink(missing_ok=True)  # a write kill -9 interrupted: never referenced

    @property
    def total(self) -> int:
        return sum(self._sizes.values())

    def put(self, data: bytes) -> str:
        """Store bytes (durably, for a file store) and return their reference."""
        if len(data) > self.max_blob:
            raise BlobTooLarge(f"an upload holds at most {self.max_blob} bytes, this one {len(data)}")
        ref = f"sha256:{hashlib.sha256(data).hexdigest()}"
        with self._lock:
            if ref not in self._sizes and self.total + len(data) > self.max_total:
                raise BlobTooLarge(f"the store's uploads would pass {self.max_total} bytes")
            self._born[ref] = time.monotonic()
            if ref in self._sizes:
                return ref
            if self.folder is None:
                self._memory[ref] = bytes(data)
            else:
                _write_durably(self._path(ref), data)
            self._sizes[ref] = len(data)
        return ref

    def get(self, ref: str) -> bytes:
        if ref not in self._sizes:
            raise BlobError(f"no blob {ref}")
        if self.folder is None:
            return self._memory[ref]
        return self._path(ref).read_bytes()

    def collect(self, referenced: Iterable[str]) -> list[str]:
        """Remove every blob not in `referenced` (and not written in the last minute); returns the removed."""
        keep = set(referenced)
        now = time.monotonic()
        removed = []
        with self._lock:
            for ref in list(self._sizes):
                if ref in keep or now - self._born.get(ref, -_GRACE_SECONDS) < _GRACE_SECONDS:
                    continue
                if self.folder is None:
                    self._memory.pop(ref, None)
                else:
                    self._path(ref).unlink(missing_ok=True)
                del self._sizes[ref]
                self._born.pop(ref, None)
                removed.append(ref)
        return removed

    def _path(self, ref: str) -> Path:
        assert self.folder is not None
        digest = ref.removeprefix("sha256:")
        return self.folder / digest[:2] / digest


def _write_durably(path: Path, data: bytes) -> None:
    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    storefile.write_durably(path, write)
    storefile.sync_dir(path.parent.parent)  # a new subfolder's name reaches the disk too


def refs_in(value: object) -> Iterable[str]:
    """Every blob reference inside a document (any string that is one, at any depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) == 71 and REF.fullmatch(item):
                yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
