"""The store at real sizes: what a write, a cascade delete, a page and a compaction cost when the store holds
50 MB of documents and blobs. Prints one line per measure with its target; exit status 1 if a target is missed.

    .venv/bin/python benchmarks/store.py [--mb 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from apitwin import storefile
from apitwin.clock import Clock
from apitwin.engine import TwinState, build_model
from apitwin.spec import load_resolved
from apitwin.store import Store
from apitwin.twins import TWINS

DOC_BYTES = 2_000


def document(n: int) -> dict[str, Any]:
    return {"uid": f"da_{n:06d}", "n": n, "metadata": {"default": {"title": f"Dataset {n}", "text": "x" * DOC_BYTES}}}


def milliseconds(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


@contextmanager
def counted_log_appends() -> Iterator[list[int]]:
    """How many durable writes (log lines, each fsynced) happen inside the block."""
    count = [0]
    append = storefile.Log.append

    def counting(log: storefile.Log, line: bytes) -> None:
        count[0] += 1
        append(log, line)

    storefile.Log.append = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        storefile.Log.append = append  # type: ignore[method-assign]


@contextmanager
def longest_stall() -> Iterator[list[float]]:
    """The longest a thread asking to run every millisecond waited meanwhile: what another caller (the event
    loop) would wait."""
    result = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            time.sleep(0.001)
            result[0] = max(result[0], time.perf_counter() - started - 0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield result
    finally:
        stop.set()
        watcher.join()


def fill(store: Store, megabytes: int) -> int:
    """Documents (about 2 KB each) and blobs (100 KB each), half and half, to `megabytes`: the count of docs."""
    docs = megabytes * 1024 * 1024 // 2 // (DOC_BYTES + 100)
    for start in range(0, docs, 1000):
        store.put_many("bench/datasets", ((f"da_{n:06d}", document(n)) for n in range(start, min(docs, start + 1000))))
    for n in range(megabytes * 1024 * 1024 // 2 // 100_000):
        ref = store.put_blob(os.urandom(100_000))
        store.put("bench/files", f"f{n}", {"blob": ref})
    store.compact()
    return docs


def measure(folder: Path, megabytes: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    def report(name: str, value: float, target: float | None, unit: str = "ms", note: str = "") -> None:
        results.append({"measure": name, "value": round(value, 3), "target": target, "unit": unit, "note": note})
        mark = "" if target is None else ("  ok" if value < target else "  MISSED")
        shown_target = "" if target is None else f"(target < {target} {unit})"
        print(f"{name:58} {value:10.2f} {unit:3} {shown_target:22}{mark}  {note}")

    path = folder / "db.json"
    store = Store(path)
    started = time.perf_counter()
    docs = fill(store, megabytes)
    size = (path.stat().st_size + store.blobs.total) / 1024 / 1024
    print(f"filled in {time.perf_counter() - started:.1f} s: {docs} documents and blobs, {size:.1f} MB on disk")

    writes = []
    for n in range(300):
        started = time.perf_counter()
        store.put("bench/datasets", f"da_{n:06d}", document(n + 1))
        writes.append(time.perf_counter() - started)
    p50, p99 = milliseconds(writes)
    report("one-document write, p50", p50, 15.0, note=f"p99 {p99:.2f} ms")

    # the engine's cascade: an Opendatasoft dataset with 50 processors, deleted through its collection
    model = build_model(load_resolved(TWINS["opendatasoft"].spec_path))
    state = TwinState("opendatasoft", store, Clock(), model.conventions, model.collections)
    datasets = state.collection("datasets")
    dataset = datasets.create({"dataset_id": "cascade", "metadata": {"default": {"title": {"value": "c"}}}})
    processors = state.collection("processors").under(dataset["uid"])
    for n in range(50):
        processors.create({"type": "string_replace", "label": f"p{n}", "field": "f", "old": "a", "new": "b"})
    with counted_log_appends() as appends:
        started = time.perf_counter()
        datasets.delete(dataset["uid"])
        cascade = time.perf_counter() - started
    report("delete a dataset with 50 processors: durable writes", appends[0], 1.5, unit="")
    report("delete a dataset with 50 processors", cascade * 1000, None)

    # 10,000 children: 50 parents of 200, and one parent of all of them
    for parent in range(50):
        store.put_many("bench/children", ((f"p{parent}/c{n}", {"n": n}) for n in range(200)))
    store.put_many("bench/only", ((f"solo/c{n}", {"n": n}) for n in range(10_000)))
    cases = (("of 200 under a parent", "bench/children", "p7"), ("all under one", "bench/only", "solo"))
    for name, table, parent in cases:
        pages = []
        for offset in range(0, 200, 20):
            started = time.perf_counter()
            page = store.page(table, offset, 20, parent)
            pages.append(time.perf_counter() - started)
            assert len(page) == 20
        p50, p99 = milliseconds(pages * 3)
        report(f"a page of 20 among 10,000, {name}, p50", p50, 5.0, note=f"p99 {p99:.2f} ms")

    with longest_stall() as stall:
        started = time.perf_counter()
        store.compact()
        took = time.perf_counter() - started
    report("compaction of the whole store", took * 1000, None)
    report("longest wait of another thread during it", stall[0] * 1000, 100.0)

    started = time.perf_counter()
    store.save_snapshot("bench")
    report("a snapshot", (time.perf_counter() - started) * 1000, None)
    store.close()

    started = time.perf_counter()
    reopened = Store(path)
    report("start: the store read back", (time.perf_counter() - started) * 1000, None)
    reopened.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=50, help="documents and blobs to fill the store with")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        results = measure(Path(folder), options.mb)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    missed = [r["measure"] for r in results if r["target"] is not None and not r["value"] < r["target"]]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
