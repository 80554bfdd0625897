"""The store in Redis, so several workers (or hosts) serve one state: `apitwin serve --store redis://HOST:PORT/DB`.

Every key lives under `apitwin:<namespace>:` (one Redis database may hold several namespaces):

    docs:<table>          hash: id -> the document's JSON
    order:<table>         sorted set: id -> its insertion number (a put of a known id keeps it)
    kids:<table>          sorted set, all scores 0: `<parent>/<16-digit insertion number>/<id>`, so one parent's
                          items, in insertion order, are a lexicographic range (a parent id holds no '/')
    tables                set: the tables holding documents (the private `__meta__` and `__sequences__` too)
    inserted              the insertion counter;  metaversion  moved by every commit that writes a meta value
    lock                  the write lock: a random token, with an expiry
    blob:<sha256:hex>     an upload's bytes;  blobbytes  their total
    snapshots             set of names;  snap:<name>:…  a copy of docs/order/kids/tables (`COPY`, Redis >= 6.2)

Transactions are serialisable across processes: the outermost one takes the lock (SET NX PX with a token) and
holds it until its commit; reads inside see Redis (which no other writer can change meanwhile) overlaid with the
transaction's own writes, buffered in this process as `Store` buffers them. The commit is one Lua script: it
checks the token is still there (a transaction that outlived its lock fails instead of overwriting another's
work), applies every write and deletes the lock; Redis runs a script whole and logs it to the AOF as one
MULTI/EXEC block, which a restart replays whole or (when kill -9 cut it short) not at all. With
`appendfsync always` a commit answers only once it is on disk. The lock expires (LOCK_MS, renewed while the
transaction keeps using the store), so a worker killed mid-transaction holds the others up for seconds, not for
ever. Serial ids come from the `__sequences__` table inside those transactions: unique across workers because
every write holds the lock. Reads outside a transaction are single commands or read-only scripts: never half a
commit. Not for Redis Cluster: the scripts build key names (every key of a namespace must be on one node).
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from apitwin import store as store_module
from apitwin.blobs import DEFAULT_MAX_BLOB, DEFAULT_MAX_TOTAL, BlobError, BlobTooLarge
from apitwin.store import _DROPPED, BufferedStore, Doc, StoreError, _check_snapshot_name, _Transaction
from apitwin.storefile import serialise

SOCKET_TIMEOUT = 10.0  # seconds for Redis to answer a command, or to accept a connection
LOCK_MS = 10_000  # how long a transaction's lock outlives its last use of the store
LOCK_WAIT_SECONDS = 30.0  # how long a transaction waits for another process's before giving up
_RENEW_AFTER = LOCK_MS / 3000  # seconds of a held lock after which a store call renews it

# Helpers every script starts with; ARGV[1] is always the namespace's key prefix.
_COMMON = """
local P = ARGV[1]
local function starts(s, p) return string.sub(s, 1, #p) == p end
local function kid(id, n)
  local slash = string.find(id, '/', 1, true)
  if not slash then return nil end
  return string.sub(id, 1, slash - 1) .. '/' .. string.format('%016d', n) .. '/' .. id
end
local function drop_table(base, t)
  redis.call('DEL', base .. 'docs:' .. t, base .. 'order:' .. t, base .. 'kids:' .. t)
  redis.call('SREM', base .. 'tables', t)
end
"""

# ARGV: prefix, token, number of dropped prefixes, the prefixes, then (op, table, id, document) per write.
_COMMIT = (
    _COMMON
    + """
if redis.call('GET', P .. 'lock') ~= ARGV[2] then
  return redis.error_reply('LOCKLOST the store lock expired before the transaction committed')
end
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  for _, t in ipairs(redis.call('SMEMBERS', P .. 'tables')) do
    if starts(t, ARGV[i]) and t ~= '__meta__' and t ~= '__sequences__' then drop_table(P, t) end
  end
  i = i + 1
end
local meta = false
while i <= #ARGV do
  local op, t, id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local docs, order, kids = P .. 'docs:' .. t, P .. 'order:' .. t, P .. 'kids:' .. t
  if op == 'put' then
    if redis.call('HSET', docs, id, ARGV[i + 3]) == 1 then
      local n = redis.call('INCR', P .. 'inserted')
      redis.call('ZADD', order, n, id)
      local member = kid(id, n)
      if member then redis.call('ZADD', kids, 0, member) end
      redis.call('SADD', P .. 'tables', t)
    end
  else
    local n = redis.call('ZSCORE', order, id)
    if n then
      redis.call('HDEL', docs, id)
      redis.call('ZREM', order, id)
      local member = kid(id, tonumber(n))
      if member then redis.call('ZREM', kids, member) end
      if redis.call('HLEN', docs) == 0 then redis.call('SREM', P .. 'tables', t) end
    end
  end
  if t == '__meta__' then meta = true end
  i = i + 4
end
if meta then redis.call('INCR', P .. 'metaversion') end
redis.call('DEL', P .. 'lock')
return 1
"""
)

# ARGV: prefix, table, parent ('' for every item), offset, count (-1: to the end). Id, document, in order.
_PAGE = (
    _COMMON
    + """
local t, parent, offset, count = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local ids = {}
if parent ~= '' then
  local members = redis.call('ZRANGEBYLEX', P .. 'kids:' .. t, '[' .. parent .. '/', '(' .. parent .. '0',
                             'LIMIT', offset, count)
  for k, member in ipairs(members) do ids[k] = string.sub(member, #parent + 19) end
else
  local stop = -1
  if count >= 0 then stop = offset + count - 1 end
  ids = redis.call('ZRANGE', P .. 'order:' .. t, offset, stop)
end
local items = {}
for _, id in ipairs(ids) do
  local doc = redis.call('HGET', P .. 'docs:' .. t, id)
  if doc then
    items[#items + 1] = id
    items[#items + 1] = doc
  end
end
return items
"""
)

# ARGV: prefix, token, lock milliseconds. Renews the lock when the token still holds it.
_RENEW = """
if redis.call('GET', ARGV[1] .. 'lock') == ARGV[2] then return redis.call('PEXPIRE', ARGV[1] .. 'lock', ARGV[3]) end
return 0
"""

# ARGV: prefix, token. Releases the lock when the token still holds it.
_RELEASE = """
if redis.call('GET', ARGV[1] .. 'lock') == ARGV[2] then return redis.call('DEL', ARGV[1] .. 'lock') end
return 0
"""

# ARGV: prefix, reference, bytes, the most all blobs may hold. 1 stored, 0 known already, -1 over the total.
_PUT_BLOB = """
local key = ARGV[1] .. 'blob:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then return 0 end
local total = tonumber(redis.call('GET', ARGV[1] .. 'blobbytes') or '0')
if total + #ARGV[3] > tonumber(ARGV[4]) then return -1 end
redis.call('SET', key, ARGV[3])
redis.call('INCRBY', ARGV[1] .. 'blobbytes', #ARGV[3])
return 1
"""

# ARGV: prefix, snapshot name, the most snapshots kept. Copies every table but the meta one.
_SAVE_SNAPSHOT = (
    _COMMON
    + """
local name = ARGV[2]
local S = P .. 'snap:' .. name .. ':'
if redis.call('SISMEMBER', P .. 'snapshots', name) == 0 and
   redis.call('SCARD', P .. 'snapshots') >= tonumber(ARGV[3]) then
  return redis.error_reply('FULL')
end
for _, t in ipairs(redis.call('SMEMBERS', S .. 'tables')) do drop_table(S, t) end
for _, t in ipairs(redis.call('SMEMBERS', P .. 'tables')) do
  if t ~= '__meta__' then
    for _, kind in ipairs({'docs:', 'order:', 'kids:'}) do
      redis.call('COPY', P .. kind .. t, S .. kind .. t, 'REPLACE')
    end
    redis.call('SADD', S .. 'tables', t)
  end
end
redis.call('SADD', P .. 'snapshots', name)
return 1
"""
)

# ARGV: prefix, snapshot name. Every table of the snapshot: table, number of documents, then id, document each.
_READ_SNAPSHOT = """
local S = ARGV[1] .. 'snap:' .. ARGV[2] .. ':'
if redis.call('SISMEMBER', ARGV[1] .. 'snapshots', ARGV[2]) == 0 then return false end
local out = {}
for _, t in ipairs(redis.call('SMEMBERS', S .. 'tables')) do
  local ids = redis.call('ZRANGE', S .. 'order:' .. t, 0, -1)
  out[#out + 1] = t
  out[#out + 1] = #ids
  for _, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', S .. 'docs:' .. t, id)
  end
end
return out
"""

# ARGV: prefix, snapshot name. 1 deleted, 0 unknown.
_DELETE_SNAPSHOT = (
    _COMMON
    + """
local S = P .. 'snap:' .. ARGV[2] .. ':'
if redis.call('SREM', P .. 'snapshots', ARGV[2]) == 0 then return 0 end
for _, t in ipairs(redis.call('SMEMBERS', S .. 'tables')) do drop_table(S, t) end
return 1
"""
)


class RedisStore(BufferedStore):
    """The `StoreBackend` over a Redis server, shared by every process that opens the same URL and namespace."""

    shared = True
    in_memory = False

    def __init__(
        self,
        url: str,
        namespace: str = "default",
        *,
        max_blob: int = DEFAULT_MAX_BLOB,
        max_blobs_total: int = DEFAULT_MAX_TOTAL,
    ) -> None:
        import redis

        super().__init__()
        self.url = url
        self.namespace = namespace
        self._prefix = f"apitwin:{namespace}:"
        self._max_blob = max_blob
        self._max_blobs_total = max_blobs_total
        # typed Any: redis-py types each answer as bytes | str (what decode_responses would make it); it is bytes
        # timeouts: a Redis that stops answering (a partition) fails the request instead of hanging the worker
        self._redis: Any = redis.Redis.from_url(
            url, health_check_interval=30, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )
        self._token: str | None = None  # the lock's token while this process's transaction holds it
        self._renewed = 0.0  # when the lock was last taken or renewed (monotonic)
        scripts = {
            "commit": _COMMIT, "page": _PAGE, "renew": _RENEW, "release": _RELEASE, "put_blob": _PUT_BLOB,
            "save_snapshot": _SAVE_SNAPSHOT, "read_snapshot": _READ_SNAPSHOT, "delete_snapshot": _DELETE_SNAPSHOT,
        }  # fmt: skip
        self._scripts = {name: self._redis.register_script(text) for name, text in scripts.items()}
        self._redis.ping()  # a wrong URL or a server that is down is an error now, not at the first request

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, namespace={self.namespace!r})"

    def _key(self, kind: str, table: str = "") -> str:
        return f"{self._prefix}{kind}{table}"

    def _run(self, script: str, *args: Any) -> Any:
        import redis

        try:
            return self._scripts[script](args=[self._prefix, *args])
        except redis.ResponseError as exc:
            if str(exc).startswith("LOCKLOST"):
                raise StoreError(str(exc).removeprefix("LOCKLOST ")) from None
            raise

    # the lock and the commit

    def _begin(self) -> None:
        token = secrets.token_hex(16)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        pause = 0.0005
        while not self._redis.set(self._key("lock"), token, nx=True, px=LOCK_MS):
            if time.monotonic() > deadline:
                raise StoreError(f"the store stayed locked by another process for {LOCK_WAIT_SECONDS:g} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.005)  # transactions last milliseconds: poll often, but not in a busy loop
        self._token, self._renewed = token, time.monotonic()

    def _end(self) -> None:
        token, self._token = self._token, None
        if token is not None:  # not committed (an exception, or nothing to write): let the next one in
            self._run("release", token)

    def _hold(self) -> None:
        """Renew the lock of a transaction that keeps working, so only a stalled or dead one loses it."""
        if self._token is not None and time.monotonic() - self._renewed > _RENEW_AFTER and self._mine() is not None:
            self._run("renew", self._token, LOCK_MS)
            self._renewed = time.monotonic()

    def _commit(self, tx: _Transaction) -> None:
        if not tx.ops or self._token is None:
            return
        args: list[str] = [self._token, str(len(tx.dropped)), *tx.dropped]
        for table, docs in tx.pending.items():
            for doc_id, doc in docs.items():
                args += ["del", table, doc_id, ""] if doc is _DROPPED else ["put", table, doc_id, serialise(doc)]
        self._run("commit", *args)
        self._token = None  # the commit deleted the lock

    def meta_version(self) -> int:
        return int(self._redis.get(self._key("metaversion")) or 0)

    # reading

    def _committed(self, table: str, doc_id: str) -> Doc | None:
        self._hold()
        text = self._redis.hget(self._key("docs:", table), doc_id)
        return None if text is None else _decoded(text)

    def _committed_ids(self, table: str) -> list[str]:
        self._hold()
        return [doc_id.decode() for doc_id in self._redis.zrange(self._key("order:", table), 0, -1)]

    def _committed_tables(self) -> set[str]:
        self._hold()
        return {name.decode() for name in self._redis.smembers(self._key("tables"))}

    def _committed_items(self, table: str, offset: int, limit: int | None, parent: str | None) -> dict[str, Doc]:
        """Committed documents by id, in insertion order: one read-only script, so never half a commit."""
        self._hold()
        if limit == 0:
            return {}
        flat = self._run("page", table, parent or "", offset, -1 if limit is None else limit)
        return {flat[i].decode(): _decoded(flat[i + 1]) for i in range(0, len(flat), 2)}

    def get(self, table: str, doc_id: str) -> Doc | None:
        if self._mine() is None:
            return self._committed(table, doc_id)  # decoded afresh: the caller's own copy already
        return super().get(table, doc_id)

    def all(self, table: str, parent: str | None = None) -> list[Doc]:
        if self._mine() is None:
            return list(self._committed_items(table, 0, None, parent).values())
        return super().all(table, parent)

    def scan(self, table: str, parent: str | None = None) -> list[Mapping[str, Any]]:
        """The documents in insertion order (read from Redis: each call's own copies)."""
        committed = self._committed_items(table, 0, None, parent)
        tx = self._mine()
        return list((committed if tx is None else tx.overlay(table, parent, committed)).values())

    def count(self, table: str, parent: str | None = None) -> int:
        if self._mine() is not None:
            return len(self.scan(table, parent))
        if parent is None:
            return int(self._redis.hlen(self._key("docs:", table)))
        return int(self._redis.zlexcount(self._key("kids:", table), f"[{parent}/", f"({parent}0"))

    def page(self, table: str, offset: int, limit: int | None, parent: str | None = None) -> list[Doc]:
        """`limit` documents from `offset`, in insertion order."""
        if self._mine() is None:
            return list(self._committed_items(table, offset, limit, parent).values())
        everything = self.scan(table, parent)
        return [copy.deepcopy(dict(doc)) for doc in everything[offset : None if limit is None else offset + limit]]

    # blobs

    def put_blob(self, data: bytes) -> str:
        import hashlib

        if len(data) > self._max_blob:
            raise BlobTooLarge(f"an upload holds at most {self._max_blob} bytes, this one {len(data)}")
        ref = f"sha256:{hashlib.sha256(data).hexdigest()}"
        if self._run("put_blob", ref, bytes(data), self._max_blobs_total) == -1:
            raise BlobTooLarge(f"the store's uploads would pass {self._max_blobs_total} bytes")
        return ref

    def get_blob(self, ref: str) -> bytes:
        data = self._redis.get(self._key("blob:", ref))
        if data is None:
            raise BlobError(f"no blob {ref}")
        return bytes(data)

    # snapshots

    def save_snapshot(self, name: str) -> None:
        import redis

        _check_snapshot_name(name)
        try:
            self._run("save_snapshot", name, store_module.MAX_SNAPSHOTS)
        except redis.ResponseError as exc:
            if str(exc) == "FULL":
                raise StoreError(f"at most {store_module.MAX_SNAPSHOTS} snapshots are kept: delete one first") from None
            raise

    def restore_snapshot(self, name: str) -> None:
        _check_snapshot_name(name)
        flat = self._run("read_snapshot", name)
        if flat is None:
            raise StoreError(f"no snapshot named {name!r}")
        tables: dict[str, dict[str, Any]] = {}
        position = 0
        while position < len(flat):
            table, count = flat[position].decode(), int(flat[position + 1])
            pairs = flat[position + 2 : position + 2 + 2 * count]
            tables[table] = {pairs[i].decode(): _decoded(pairs[i + 1]) for i in range(0, len(pairs), 2)}
            position += 2 + 2 * count
        self._replace_everything(tables)

    def snapshots(self) -> list[str]:
        return sorted(name.decode() for name in self._redis.smembers(self._key("snapshots")))

    def delete_snapshot(self, name: str) -> None:
        _check_snapshot_name(name)
        if not self._run("delete_snapshot", name):
            raise StoreError(f"no snapshot named {name!r}")

    def close(self) -> None:
        """Close the connections (the state stays in Redis)."""
        self._redis.close()

    def forget(self) -> None:
        """Delete the namespace and close: a deleted session's state, gone for every worker. Its change counter
        alone stays, moved, so a worker that still holds the session sees the change at its next request and
        seeds it again (`Runtime.refresh`)."""
        version = self._key("metaversion")
        self._redis.incr(version)
        self.drop_namespace(keep=version)
        self.close()

    def drop_namespace(self, keep: str | None = None) -> None:
        """Delete every key of this namespace (but `keep`): tests, and starting a namespace again from nothing."""
        kept = keep.encode() if keep else None
        names = (key for key in self._redis.scan_iter(match=f"{self._prefix}*", count=1000) if key != kept)
        for keys in _batched(names, 1000):
            self._redis.unlink(*keys)


def _decoded(text: bytes) -> Doc:
    doc: Doc = json.loads(text)
    return doc


def _batched(items: Any, size: int) -> Any:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
