"""A writer for tests to kill -9 mid-flight: transaction after transaction of a parent, its 50 children and an
uploaded blob, each printed (`n ref`) once acknowledged. Run from the project's root:

    python -m tests.support.killable_writer file STORE_PATH
    python -m tests.support.killable_writer redis URL NAMESPACE FIRST_N
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from apitwin import storeredis
from apitwin.store import Store, StoreBackend


def open_store(argv: list[str]) -> tuple[StoreBackend, int]:
    """The store named on the command line, and the first n to write."""
    if argv[0] == "file":
        return Store(Path(argv[1]), compact_after=200_000), 0  # small: compactions happen while it is killed, too
    storeredis.LOCK_MS = 500  # the lock of the transaction the kill cut short is in the AOF too: let it go soon
    return storeredis.RedisStore(argv[1], argv[2]), int(argv[3])


def main(argv: list[str]) -> None:
    store, first = open_store(argv)
    for n in range(first, 100_000):
        blob = store.put_blob(os.urandom(2_000) + str(n).encode())
        with store.transaction():  # a parent and its 50 children, all or nothing
            store.put("t/parents", f"p{n}", {"n": n, "file": blob})
            for child in range(50):
                store.put("t/children", f"p{n}/c{child}", {"n": n, "child": child})
        print(n, blob, flush=True)  # noqa: T201  (acknowledged: the test reads it)


if __name__ == "__main__":
    main(sys.argv[1:])
