"""Collections: a twin's resources as the spec describes them, stored in the shared Store.

A Collection applies what the resource schema says: read-only fields are ignored on input, write-only
fields never leave the store, unset properties take their schema default or null, ids and timestamps are
set by the server (with who created and last changed it, when the caller is given), declared references must
point at existing documents, and a client's write may not give a declared unique field a value that another item
(under the same parent) holds.
"""

from __future__ import annotations

import contextlib
import copy
import random
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apitwin.clock import Clock
from apitwin.engine import history, machines, query, schemas
from apitwin.engine.routes import CollectionDef, Conventions
from apitwin.errors import ErrorKind, TwinError
from apitwin.store import BlobTooLarge, Doc, StoreBackend


@dataclass(frozen=True)
class UploadedFile:
    """A file of a multipart request, read whole."""

    filename: str | None
    media_type: str | None
    data: bytes


Effect = Callable[["Collection", Mapping[str, Any]], Any]  # a machine action's outcome, or a computed field

_ABSENT = object()  # a part's key that names nothing
_ID_ATTEMPTS = 100  # draws of a random id before giving up: only a nearly full id space needs more than one


class TwinState:
    """One twin's view of the store: its collections, its clock, its conventions."""

    def __init__(
        self,
        name: str,
        store: StoreBackend,
        clock: Clock,
        conventions: Conventions,
        collections: Mapping[str, CollectionDef],
        effects: Mapping[str, Effect] | None = None,
        ids: random.Random | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.clock = clock
        self.conventions = conventions
        self.definitions = collections
        self.effects = dict(effects or {})  # what machine actions compute, by name (the twin's behaviours)
        self.ids = ids  # where new ids are drawn from when given (reproducible fixtures), else the OS's randomness

    def collection(self, name: str) -> Collection:
        """A collection, unscoped: for one that lives under a parent, use `.under(parent_id)`."""
        if name not in self.definitions:
            raise KeyError(f"{self.name} has no collection {name!r}")
        return Collection(self, self.definitions[name])

    def children_of(self, name: str) -> list[CollectionDef]:
        return [d for d in self.definitions.values() if d.parent is not None and d.parent.collection == name]

    def transaction(self) -> AbstractContextManager[None]:
        """Hold the store lock across several collection calls, so they act as one."""
        return self.store.transaction()

    def timestamp(self, moment: datetime | float | None = None) -> str | int:
        """A server-set time (now, or the given moment or epoch seconds), written the way this API writes dates."""
        if isinstance(moment, int | float):
            moment = datetime.fromtimestamp(moment, UTC)
        moment = moment or self.clock.now()
        if self.conventions.date_format == "epoch_ms":
            return int(moment.timestamp() * 1000)
        if self.conventions.date_format == "iso":
            return moment.isoformat().replace("+00:00", "Z")
        return moment.strftime(self.conventions.date_format)


class Collection:
    def __init__(
        self, state: TwinState, definition: CollectionDef, parent_id: Any = None, caller: str | None = None
    ) -> None:
        self.state = state
        self.definition = definition
        self.parent_id = parent_id
        self.caller = caller  # who writes: recorded in the created_by/updated_by fields
        self.table = f"{state.name}/{definition.name}"
        self._store = state.store

    def under(self, parent_id: Any) -> Collection:
        """The items that live under one parent item; 404 when that parent does not exist."""
        parent = self.definition.parent
        if parent is None:
            raise ValueError(f"{self.definition.name} has no parent collection")
        self.state.collection(parent.collection).get(parent_id)
        return Collection(self.state, self.definition, parent_id, self.caller)

    def by(self, caller: str | None) -> Collection:
        """The same items, written on behalf of `caller` (a username)."""
        return Collection(self.state, self.definition, self.parent_id, caller)

    def _key(self, doc_id: Any) -> str:
        return f"{self.parent_id}/{doc_id}" if self.parent_id is not None else str(doc_id)

    # reading

    def find(self, doc_id: Any) -> Doc | None:
        doc = self._store.get(self.table, self._key(doc_id))
        return doc if doc is None else self._settled(doc)

    def _settled(self, doc: Doc) -> Doc:
        """The item as it stands now: its machine's automatic transitions taken (not yet stored: the next
        write of the item stores them)."""
        machine = self.definition.machine
        if machine is None:
            return doc
        if not isinstance(doc.get(machine.field), Mapping):  # stored before the machine was declared: at rest
            doc = {**doc, machine.field: machine.new_record(None)}
        moved = machines.settle(machine, doc, self.state.clock.timestamp())
        return doc if moved is None else moved

    def get(self, doc_id: Any) -> Doc:
        doc = self.find(doc_id)
        if doc is None:
            raise TwinError(ErrorKind.NOT_FOUND, f"{self._noun} {doc_id} not found")
        return doc

    def view(self, doc_id: Any) -> Mapping[str, Any]:
        """The item as it stands now, for reading only (showing it): `get` without the copy."""
        stored = self._store.read(self.table, self._key(doc_id))
        if stored is None:
            raise TwinError(ErrorKind.NOT_FOUND, f"{self._noun} {doc_id} not found")
        machine = self.definition.machine
        if machine is None or not machines.moving(machine, stored, self.state.clock.timestamp()):
            return stored
        return self._settled(dict(stored))

    def all(self) -> list[Doc]:
        """Copies of the items (under this collection's parent, when it has one)."""
        return [copy.deepcopy(dict(doc)) for doc in self.views()]

    def views(self, where: Callable[[Mapping[str, Any]], bool] | None = None) -> list[Mapping[str, Any]]:
        """The stored items themselves (those `where` accepts, as they stand now), without copies, for reading
        only (filters, sorting, paging): in creation order, by number for serial ids."""
        parent = None if self.parent_id is None else str(self.parent_id)
        docs = self._store.scan(self.table, parent)
        machine = self.definition.machine
        if machine is not None:  # only an item whose machine moved is copied
            now = self.state.clock.timestamp()
            docs = [self._settled(dict(doc)) if machines.moving(machine, doc, now) else doc for doc in docs]
        if where is not None:  # before the sort: a stable sort orders the survivors the same either way
            docs = [doc for doc in docs if where(doc)]
        if self.definition.id_style == "serial":
            id_of = self.definition.id_of
            docs.sort(key=lambda doc: int(id_of(doc) or 0))
        return docs

    def public(self, doc: Mapping[str, Any]) -> Doc:
        """The document as the API shows it: write-only fields removed (or null) at every depth, and a parent
        link the API does not show left out; a new document, sharing nothing with `doc`."""
        shown: Doc = schemas.public(doc, self.definition.schema, self.definition.write_only)
        for private in self.definition.private_fields:
            shown.pop(private, None)
        shown.update(self.derived(doc))
        return shown

    def shown(self, doc: Mapping[str, Any], fields: Sequence[str] | None) -> Doc:
        """`project(public(doc), fields)`: the document as the API shows it, only the fields asked for (all for
        None). Where public() is a plain copy (no write-only field in the schema, no private, derived or
        computed field), only the fields asked for are copied."""
        if fields is not None and self.definition.shown_as_stored:
            return {name: schemas.detached(doc[name]) for name in fields if name in doc}
        shown = self.public(doc)
        return shown if fields is None else query.project(shown, fields)

    def derived(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The item's derived fields, computed now from the items that refer to it, and its computed ones (from the
        item itself): never stale."""
        if not self.definition.derived and not self.definition.computes:
            return {}
        own_id = self.definition.id_of(doc)
        values: dict[str, Any] = {}
        for name, rule in self.definition.derived.items():
            referring = [
                other
                for other in self._store.scan(f"{self.state.name}/{rule.collection}")
                if schemas.dig(other, rule.field) == own_id
            ]
            if rule.take is None:
                values[name] = len(referring)
            elif isinstance(rule.take, Mapping):
                fields = rule.take.items()
                values[name] = [
                    {key: value for key, dotted in fields if (value := schemas.dig(other, dotted)) is not None}
                    for other in referring
                ]
            else:
                taken = [schemas.dig(other, rule.take) for other in referring]
                values[name] = [{rule.wrap: value} for value in taken] if rule.wrap else taken
        for name, function in self.definition.computes.items():
            values[name] = self.state.effects[function](self, doc)
        return values

    # writing

    def create(self, body: Mapping[str, Any] | None, **server_fields: Any) -> Doc:
        """Create from client input (read-only fields dropped) plus fields the server sets."""
        with self._store.transaction(), history.recorded(self, None):
            given = self._writable(body)
            self._check_references(given)
            self._check_keyed(given)
            doc = self._insert(given, server_fields)
            versions = self.definition.versions
            if versions is not None:  # a new versioned item starts its history with everything it holds
                new_id = self.definition.id_of(doc)
                history.record(
                    self, versions, new_id, list(versions.sections), history.configuration(self, versions, new_id)
                )
            return doc

    def create_as_is(self, given: Mapping[str, Any]) -> Doc:
        """Create from server-side data (a copy): every field kept, private ones too; ids, stamps and the parent
        set as for any new item."""
        with self._store.transaction():
            return self._insert(dict(given), {})

    def _insert(self, given: Mapping[str, Any], server_fields: Mapping[str, Any]) -> Doc:
        with self._store.transaction():
            doc = self.definition.with_defaults(given)
            machine = self.definition.machine
            if machine is not None:
                doc[machine.field] = machine.new_record(self.state.clock.timestamp())
                if machine.status_field is not None:
                    doc[machine.status_field] = machine.initial
            doc.update(server_fields)
            parent = self.definition.parent
            if parent is not None:
                doc[parent.field] = self.parent_id
                if parent.most is not None and self._store.count(self.table, str(self.parent_id)) >= parent.most:
                    raise TwinError(ErrorKind.INVALID, parent.error_message, code=parent.error_code)
            doc_id = self.definition.id_of(doc)
            if self.definition.id_style == "serial":
                doc_id = self._store.next_serial(self.table)
            elif self.definition.id_style == "uuid" and not doc_id:
                ids = self.state.ids
                doc_id = str(uuid.uuid4() if ids is None else uuid.UUID(int=ids.getrandbits(128), version=4))
            elif self.definition.id_style in ("token", "prefixed") and not doc_id:
                doc_id = self._new_token()
            if doc_id is None or doc_id == "":
                raise TwinError(ErrorKind.INVALID, f"{self.definition.id_field} is required")
            if self.find(doc_id) is not None:
                raise TwinError(ErrorKind.CONFLICT, f"{self._noun} {doc_id} already exists")
            schemas.plant(doc, self.definition.id_field, doc_id)
            self._check_unique(doc)
            now = self.state.timestamp()
            for stamp in (self.definition.created, self.definition.updated):
                if stamp and stamp not in server_fields:  # a time the server gives (a fixture's) wins
                    doc[stamp] = now
            for author in (self.definition.created_by, self.definition.updated_by):
                if author and author.split(".")[0] not in server_fields:  # an author the server gives wins
                    schemas.plant(doc, author, self.caller)
            self._store.insert(self.table, self._key(doc_id), doc)
            return doc

    def copy(self, doc_id: Any, changes: Mapping[str, Any] | None = None) -> Doc:
        """A copy of an item and of everything under it, in one transaction (engine/history.py)."""
        with self._store.transaction():
            return history.duplicate(self, doc_id, changes or {})

    def restore(self, version_id: Any) -> Doc:
        """Put the versioned item (this collection's parent) back as a version of this collection holds it."""
        versioned = self.definition.versions_of
        if versioned is None or self.parent_id is None:
            raise ValueError(f"{self.definition.name} holds no versions")
        root = Collection(self.state, self.state.definitions[versioned], None, self.caller)
        versions = root.definition.versions
        assert versions is not None
        with self._store.transaction():
            history.restore(root, versions, self.parent_id, version_id)
            return root.get(self.parent_id)

    def update(self, doc_id: Any, body: Mapping[str, Any] | None) -> Doc:
        """Partial update from client input; fields the client may not write are ignored."""
        with self._store.transaction(), history.recorded(self, doc_id):
            doc = self.get(doc_id)
            changes = self._write_only_kept(self._writable(body, doc), doc)
            self._check_references(changes)
            self._check_keyed(changes)
            doc.update(changes)
            self._check_unique(doc)
            return self._save(doc_id, doc)

    def replace(self, doc_id: Any, body: Mapping[str, Any] | None) -> Doc:
        """Whole-document replace: writable fields not given fall back to their defaults."""
        with self._store.transaction(), history.recorded(self, doc_id):
            doc = self.get(doc_id)
            given = self._write_only_kept(self._writable(body, doc), doc)
            self._check_references(given)
            self._check_keyed(given)
            doc = schemas.replacement(doc, given, self.definition.schema)
            # the id (and the parent) name the document: a body cannot rename it
            schemas.plant(doc, self.definition.id_field, doc_id)
            if self.definition.parent is not None:
                doc[self.definition.parent.field] = self.parent_id
            self._check_unique(doc)
            return self._save(doc_id, doc)

    def create_with_file(self, body: Mapping[str, Any] | None, upload: UploadedFile, **server_fields: Any) -> Doc:
        """Create an item that holds an uploaded file: its bytes stored first (durably, as a blob), then the
        item that refers to them, with the file's name, media type and size where the collection wants them."""
        return self.create(body, **self._stored_file(upload), **server_fields)

    def replace_file(self, doc_id: Any, upload: UploadedFile) -> Doc:
        """Give an item that holds a file new content (a file uploaded again under its name): its id and the rest
        kept, the file's name, media type and size those of the upload."""
        with self._store.transaction(), history.recorded(self, doc_id):
            doc = self.get(doc_id)
            doc.update(self._stored_file(upload))
            return self._save(doc_id, doc)

    def _stored_file(self, upload: UploadedFile) -> dict[str, Any]:
        """The upload's bytes stored as a blob: the item fields that refer to it and describe the file."""
        file = self.definition.file
        if file is None:
            raise ValueError(f"{self.definition.name} holds no files")
        try:
            ref = self._store.put_blob(upload.data)
        except BlobTooLarge as exc:
            raise TwinError(ErrorKind.TOO_LARGE, str(exc)) from None
        known = {file.filename: upload.filename, file.mimetype: upload.media_type, file.size: len(upload.data)}
        return {file.blob: ref, **{name: value for name, value in known.items() if name}}

    def file_of(self, doc_id: Any) -> tuple[Doc, bytes]:
        """An item that holds a file, and the file's bytes."""
        file = self.definition.file
        if file is None:
            raise ValueError(f"{self.definition.name} holds no files")
        doc = self.get(doc_id)
        return doc, self._store.get_blob(str(doc[file.blob]))

    def transition(self, doc_id: Any, action: str) -> Doc:
        """Take a machine action on an item (400 in the API's words when its state does not allow it); what the
        action's effect computes from the item now becomes the run's outcome."""
        machine = self.definition.machine
        if machine is None:
            raise ValueError(f"{self.definition.name} has no machine")
        with self._store.transaction():
            doc = self.get(doc_id)
            effect_name = machine.actions[action].effect
            try:  # an effect runs only for an action the item's state allows (it may write other items)
                machines.check(machine, doc, action)
                effect = self.state.effects[effect_name](self, doc) if effect_name else None
                moved = machines.start(machine, doc, action, self.state.clock.timestamp(), effect)
            except machines.Refused as refused:
                raise TwinError(ErrorKind.INVALID, refused.message, code=refused.code) from None
            self._store.put(self.table, self._key(doc_id), moved)  # a state change, not an edit: no updated_at
            return moved

    def state_of(self, doc_id: Any) -> dict[str, Any]:
        """An item's machine state, as the API shows it."""
        machine = self.definition.machine
        if machine is None:
            raise ValueError(f"{self.definition.name} has no machine")
        doc = self.get(doc_id)
        since_ever = doc.get(self.definition.updated or "") or doc.get(self.definition.created or "")
        return machines.view(machine, doc, self.state.timestamp, since_ever)

    def get_part(self, doc_id: Any, keys: Sequence[str], list_key: str | None = None) -> Any:
        """The public form of a part of a document: a property, or deeper along `keys` (404 where one is
        absent); a key that meets a list picks the element whose `list_key` field it is."""
        return self._part(self.public(self.get(doc_id)), keys, doc_id, list_key)

    def set_part(self, doc_id: Any, keys: Sequence[str], value: Any) -> Any:
        """Replace a part of a document (metadata, permissions, one metadata field) from client input: the
        objects that hold it must exist, the last key may be new. Returns the part's public form."""
        with self._store.transaction(), history.recorded(self, doc_id):
            doc = self.get(doc_id)
            self._check_keyed_path(keys, doc_id)
            if len(keys) == 1:
                self._check_keyed({keys[0]: value})
            holder = self._part(doc, keys[:-1], doc_id)
            # a key the holder's schema cannot have (additionalProperties: false) names nothing that could exist
            if not isinstance(holder, dict) or (
                keys[-1] not in holder
                and not schemas.allows(schemas.at(self.definition.schema, doc, keys[:-1]), holder, keys[-1])
            ):
                raise TwinError(ErrorKind.NOT_FOUND, f"{self._noun} {doc_id} has no {'/'.join(keys)}")
            schema = schemas.at(self.definition.schema, doc, keys)
            given = schemas.part_replacement(
                holder.get(keys[-1]), schemas.writable(value, schema, f"{'.'.join(keys)}."), schema
            )
            holder[keys[-1]] = schemas.keep_write_only(given, holder.get(keys[-1]), schema, self.definition.write_only)
            return self._part(self.public(self._save(doc_id, doc)), keys, doc_id)

    def update_part(self, doc_id: Any, keys: Sequence[str], changes: Mapping[str, Any] | None) -> Any:
        """Merge client input into an object part of a document."""
        with self._store.transaction():
            current = self._part(self.get(doc_id), keys, doc_id) or {}
            if not isinstance(current, Mapping) or not isinstance(changes or {}, Mapping):
                raise TwinError(ErrorKind.INVALID, f"{'/'.join(keys)}: only an object merges with an object")
            return self.set_part(doc_id, keys, {**current, **(changes or {})})

    def delete_part(self, doc_id: Any, keys: Sequence[str]) -> None:
        """Remove a part of a document (404 when absent); a property itself goes back to its default."""
        with self._store.transaction(), history.recorded(self, doc_id):
            doc = self.get(doc_id)
            holder = self._part(doc, keys[:-1], doc_id)
            if not isinstance(holder, dict) or keys[-1] not in holder:
                raise TwinError(ErrorKind.NOT_FOUND, f"{self._noun} {doc_id} has no {'/'.join(keys)}")
            if len(keys) == 1:
                default = schemas.flatten(schemas.at(self.definition.schema, doc, keys)).get("default")
                holder[keys[0]] = copy.deepcopy(default)
            else:
                del holder[keys[-1]]
            self._save(doc_id, doc)

    def set(self, doc_id: Any, fields: Mapping[str, Any]) -> Doc:
        """Server-side change of any fields, read-only ones included (refresh, state transitions)."""
        with self._store.transaction():
            doc = self.get(doc_id)
            doc.update(fields)
            return self._save(doc_id, doc)

    def upsert_many(self, docs: list[Mapping[str, Any]]) -> tuple[int, int]:
        """Store server-built documents in one write; returns (added, modified). Known documents keep their
        creation time; every one gets a new update time."""
        with self._store.transaction():
            now = self.state.timestamp()
            added = 0
            stored: list[tuple[str, Doc]] = []
            for given in docs:
                doc = dict(given)
                doc_id = self._key(self.definition.id_of(doc))
                existing = self.find(doc_id)
                if existing is None:
                    added += 1
                    if self.definition.created:
                        doc[self.definition.created] = now
                elif self.definition.created:
                    doc[self.definition.created] = existing.get(self.definition.created)
                if self.definition.updated:
                    doc[self.definition.updated] = now
                stored.append((doc_id, doc))
            self._store.put_many(self.table, stored)
            return added, len(stored) - added

    def delete(self, doc_id: Any) -> None:
        """Delete an item and, first, everything that lives under it (a versioned item's history with it)."""
        quiet = history.unrecorded() if self.definition.versions is not None else contextlib.nullcontext()
        with self._store.transaction(), quiet, history.recorded(self, doc_id):
            self.get(doc_id)
            for child in self.state.children_of(self.definition.name):
                children = Collection(self.state, child, doc_id)
                for doc in children.views():
                    children.delete(child.id_of(doc))
            self._store.delete(self.table, self._key(doc_id))

    # helpers

    @property
    def _noun(self) -> str:
        return self.definition.name.rstrip("s").replace("_", " ").capitalize()

    def _writable(self, body: Mapping[str, Any] | None, stored: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if not body:
            return {}
        if not isinstance(body, Mapping):
            raise TwinError(ErrorKind.INVALID, "the request body must be a JSON object")
        given: dict[str, Any] = schemas.writable(body, self.definition.schema, stored=stored)
        for private in self.definition.private_fields:
            given.pop(private, None)
        return given

    def _write_only_kept(self, given: Mapping[str, Any], stored: Mapping[str, Any]) -> Doc:
        kept: Doc = schemas.keep_write_only(given, stored, self.definition.schema, self.definition.write_only)
        return kept

    def _part(self, doc: Any, keys: Sequence[str], doc_id: Any, list_key: str | None = None) -> Any:
        for depth, key in enumerate(keys):
            if list_key is not None and isinstance(doc, list):
                doc = next((e for e in doc if isinstance(e, Mapping) and str(e.get(list_key)) == key), _ABSENT)
            else:
                doc = doc.get(key, _ABSENT) if isinstance(doc, Mapping) else _ABSENT
            if doc is _ABSENT:
                raise TwinError(ErrorKind.NOT_FOUND, f"{self._noun} {doc_id} has no {'/'.join(keys[: depth + 1])}")
        return doc

    def _check_keyed(self, fields: Mapping[str, Any]) -> None:
        """A 400 naming the key when an object property keyed by a collection names an item it does not have."""
        for name, target in self.definition.keyed.items():
            value = fields.get(name)
            if not isinstance(value, Mapping):
                continue
            targets = self.state.collection(target)
            for key in value:
                if targets.find(key) is None:
                    message = f"{key}: no {target.rstrip('s').replace('_', ' ')} with id {key}"
                    raise TwinError(ErrorKind.INVALID, f"{name}.{message}", field_errors={name: [message]})

    def _check_keyed_path(self, keys: Sequence[str], doc_id: Any) -> None:
        """A 404 when a part's path steps into a keyed property by a key its collection has no item of."""
        target = self.definition.keyed.get(keys[0]) if len(keys) > 1 else None
        if target is not None and self.state.collection(target).find(keys[1]) is None:
            raise TwinError(ErrorKind.NOT_FOUND, f"{self._noun} {doc_id} has no {'/'.join(keys[:2])}")

    def _check_references(self, fields: Mapping[str, Any]) -> None:
        for name, target in self.definition.references.items():
            value = schemas.dig(fields, name)
            if value is None:
                continue
            targets = self.state.collection(target)
            if targets.definition.parent is not None:  # a sibling: it lives under this item's own parent
                targets = Collection(self.state, targets.definition, self.parent_id)
            if targets.find(value) is None:
                message = f"no {target.rstrip('s').replace('_', ' ')} with id {value}"
                raise TwinError(ErrorKind.INVALID, f"{name}: {message}", field_errors={name: [message]})

    def _new_token(self) -> str:
        """A random id of the declared prefix, alphabet and length that no item of the collection has, under
        any parent."""
        definition = self.definition
        # a top-level item's id is its store key; items under parents are keyed by both, so they are listed
        nested = definition.parent is not None
        taken = {str(definition.id_of(doc)) for doc in self._store.scan(self.table)} if nested else set()
        choice = secrets.choice if self.state.ids is None else self.state.ids.choice
        for _ in range(_ID_ATTEMPTS):
            token = definition.id_prefix + "".join(choice(definition.id_alphabet) for _ in range(definition.id_length))
            if token not in taken and (nested or self._store.get(self.table, token) is None):
                return token
        raise TwinError(ErrorKind.SERVER, f"no free {definition.name} id left of length {definition.id_length}")

    def _check_unique(self, doc: Mapping[str, Any]) -> None:
        """A 400 naming the field when another item (under the same parent) already holds a unique value."""
        if not self.definition.unique:
            return
        own_id = self.definition.id_of(doc)
        others = [other for other in self.views() if self.definition.id_of(other) != own_id]
        for name in self.definition.unique:
            value = schemas.dig(doc, name)
            if value is not None and any(schemas.dig(other, name) == value for other in others):
                message = f"{self._noun} with this {name} already exists."
                raise TwinError(ErrorKind.INVALID, f"{name}: {message}", field_errors={name: [message]})

    def _save(self, doc_id: Any, doc: Doc) -> Doc:
        if self.definition.updated:
            doc[self.definition.updated] = self.state.timestamp()
        if self.definition.updated_by and self.caller is not None:  # a change by no caller keeps the last author
            schemas.plant(doc, self.definition.updated_by, self.caller)
        self._store.put(self.table, self._key(doc_id), doc)
        return doc
