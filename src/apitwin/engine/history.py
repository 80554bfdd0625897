"""An item's history and its copies: what Opendatasoft's dataset versions and dataset copy need, declared in x-twin.

Versions (`versions: {collection, sections, keep}` on the versioned collection): every client write to the item
or to the items that live under it (create, update, replace, a part, a delete) records a version when it changed
a section of the item's configuration. A section is some of the item's own fields or a child collection; the
version holds the sections as they stand after the write (kept in a private field), which sections that write
changed, who wrote and when. Restoring a version puts its sections back, in one transaction, and records a new
version. Only the latest `keep` versions are kept, when given.

Copy: the item and everything under it duplicated in one transaction, each with a new id (ids given by the client
are kept: they are scoped by the new parent), server fields as for a new item, files shared (blobs are content).
A versioned item's copy takes what its versions hold (its configuration), not the rest (its history, feedback).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apitwin.engine.collections import Collection

SNAPSHOT = "snapshot"  # the private field of a version that holds its sections


@dataclass(frozen=True)
class VersionsDef:
    collection: str  # a collection under the versioned one
    sections: Mapping[str, tuple[str, ...] | str]  # name -> the item's own fields, or a child collection
    keep: int | None = None
    changed: str = "sections"  # the version's field listing the sections a write changed
    restorable: str | None = "can_restore"
    author: str | None = "created_by"

    def child_sections(self) -> dict[str, str]:
        return {name: source for name, source in self.sections.items() if isinstance(source, str)}


_quiet = threading.local()  # set while a cascade, a restore or a copy writes: they record their own version


@contextmanager
def unrecorded() -> Iterator[None]:
    before = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = before


def _recording() -> bool:
    return not getattr(_quiet, "on", False)


def versioned_root(collection: Collection) -> tuple[Collection, VersionsDef] | None:
    """The collection whose items are versioned, when `collection` is one or lives under one as a section."""
    definition = collection.definition
    if definition.versions is not None:
        return collection, definition.versions
    parent = definition.parent
    if parent is None or collection.parent_id is None:
        return None
    root_def = collection.state.definitions[parent.collection]
    versions = root_def.versions
    if versions is None or definition.name not in versions.child_sections().values():
        return None
    from apitwin.engine.collections import Collection

    return Collection(collection.state, root_def, None, collection.caller), versions


def configuration(root: Collection, versions: VersionsDef, root_id: Any) -> dict[str, Any]:
    """The item's sections as they stand (stored documents, private fields included)."""
    from apitwin.engine.collections import Collection

    item = root.find(root_id)
    if item is None:
        return {}
    sections: dict[str, Any] = {}
    for name, source in versions.sections.items():
        if isinstance(source, str):
            children = Collection(root.state, root.state.definitions[source], root_id)
            sections[name] = [copy.deepcopy(dict(doc)) for doc in children.views()]
        else:
            sections[name] = {key: copy.deepcopy(item.get(key)) for key in source}
    return sections


@contextmanager
def recorded(collection: Collection, item_id: Any) -> Iterator[None]:
    """Record a version of the versioned item this write touches, when it changed a section. `item_id` is the
    written item's id (for a write under the versioned item, the id of that item's child is not needed)."""
    found = versioned_root(collection) if _recording() else None
    if found is None:
        yield
        return
    root, versions = found
    root_id = item_id if root.definition is collection.definition else collection.parent_id
    before = configuration(root, versions, root_id)
    yield
    after = configuration(root, versions, root_id)
    changed = [name for name in versions.sections if before.get(name) != after.get(name)]
    if changed and after:
        record(root, versions, root_id, changed, after)


def record(
    root: Collection, versions: VersionsDef, root_id: Any, changed: list[str], sections: Any, **given: Any
) -> None:
    """Record a version; `given` server fields (a fixture's uid and time) win over the generated ones."""
    from apitwin.engine.collections import Collection

    history = Collection(root.state, root.state.definitions[versions.collection], root_id, root.caller)
    fields: dict[str, Any] = {versions.changed: changed, SNAPSHOT: sections, **given}
    if versions.restorable:
        fields[versions.restorable] = True
    if versions.author:
        fields[versions.author] = _author(root.caller)
    with unrecorded():
        history.create(None, **fields)
        if versions.keep is not None:
            for old in history.views()[: -versions.keep]:
                history.delete(history.definition.id_of(old))


def _author(caller: str | None) -> dict[str, Any] | None:
    """Who wrote, as the Automation API shows a user: {username}."""
    return None if caller is None else {"username": caller}


def restore(root: Collection, versions: VersionsDef, root_id: Any, version_id: Any) -> None:
    """Put a version's sections back, then record that as a new version (all in the caller's transaction)."""
    from apitwin.engine.collections import Collection

    history = Collection(root.state, root.state.definitions[versions.collection], root_id, root.caller)
    version = history.get(version_id)
    sections = version.get(SNAPSHOT) or {}
    store = root.state.store
    with unrecorded():
        item = root.get(root_id)
        for name, source in versions.sections.items():
            if name not in sections:
                continue
            if isinstance(source, str):
                children = Collection(root.state, root.state.definitions[source], root_id, root.caller)
                for doc in children.views():
                    children.delete(children.definition.id_of(doc))
                for doc in sections[name]:
                    store.put(children.table, children.definition.store_key(doc), doc)
            else:
                item.update(copy.deepcopy(sections[name]))
        root._save(root_id, item)
    record(root, versions, root_id, list(sections), configuration(root, versions, root_id))


def duplicate(collection: Collection, item_id: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an item and of everything under it, new ids throughout, `changes` applied to the copy."""
    from apitwin.engine.collections import Collection

    source = collection.get(item_id)
    with unrecorded():
        new = collection.create_as_is({**_copied_fields(collection, source), **changes})
        new_id = collection.definition.id_of(new)
        versions = collection.definition.versions
        for child in collection.state.children_of(collection.definition.name):
            if versions is not None and child.name not in versions.child_sections().values():
                continue  # a versioned item's copy takes its configuration (its sections), and starts its own history
            originals = Collection(collection.state, child, item_id, collection.caller)
            copies = Collection(collection.state, child, new_id, collection.caller)
            for doc in originals.views():
                duplicate_under(originals, copies, doc)
    found = versioned_root(collection)
    if found is not None:
        root, versions = found
        record(root, versions, new_id, list(versions.sections), configuration(root, versions, new_id))
    return collection.get(new_id)


def duplicate_under(originals: Collection, copies: Collection, doc: Mapping[str, Any]) -> None:
    definition = originals.definition
    new = copies.create_as_is(_copied_fields(originals, doc))
    for child in originals.state.children_of(definition.name):
        from apitwin.engine.collections import Collection

        old_id, new_id = definition.id_of(doc), definition.id_of(new)
        below = Collection(originals.state, child, old_id, originals.caller)
        for grandchild in below.views():
            duplicate_under(below, Collection(originals.state, child, new_id, originals.caller), grandchild)


def _copied_fields(collection: Collection, doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a copy takes from its original: not what the server sets on a new item, nor a generated id (a given
    one is kept: the copy's new parent scopes it)."""
    given = {k: v for k, v in doc.items() if k not in _server_fields(collection)}
    if collection.definition.id_style != "given":
        given.pop(collection.definition.id_field, None)
    return given


def _server_fields(collection: Collection) -> set[str]:
    """What a copy does not take from its original: what the server sets on a new item, and the state its
    machine's runs set (a copy of a published dataset is not published: it starts in the machine's first state)."""
    definition = collection.definition
    fields = {definition.created, definition.updated, definition.created_by, definition.updated_by}
    if definition.machine is not None:
        fields.add(definition.machine.field)
        for action in definition.machine.actions.values():
            fields.update(action.sets)
    if definition.parent is not None:
        fields.add(definition.parent.field)
    return {name for name in fields if name}
