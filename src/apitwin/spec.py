"""Loading the hand-written specs: YAML in; a root and the common files it refers to bundled into one
self-contained document, which every consumer reads; every $ref resolved for the engine."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

# The specs and fixtures are the project's top-level folders; an installed wheel carries copies inside the
# package (see pyproject's package-dir), which win when present.
_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    packaged = _PACKAGE / f"_{name}"
    return packaged if packaged.is_dir() else _PACKAGE.parents[1] / name


SPECS_DIR = _data_dir("specs")
FIXTURES_DIR = _data_dir("fixtures")
# An installed package's data lives in site-packages: nothing may write there.
INSTALLED = FIXTURES_DIR.parent == _PACKAGE


def spec_path(file_name: str) -> Path:
    return SPECS_DIR / file_name


def load_raw(path: Path) -> dict[str, Any]:
    """The spec as written (a fresh copy each call: callers may change it)."""
    return copy.deepcopy(_read(path))


def _read(path: Path) -> dict[str, Any]:
    """The parsed file itself, shared: not to be changed."""
    return _parsed(path, path.stat().st_mtime_ns)


@cache
def _parsed(path: Path, mtime_ns: int) -> dict[str, Any]:
    # libyaml's loader when PyYAML has it: the Dataiku spec takes 0.3 s to parse in pure Python
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=loader)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not an OpenAPI document")
    return data


def load_resolved(path: Path) -> dict[str, Any]:
    """The bundled spec with every $ref inlined, as the engine reads it. Shared, not copied: do not change it."""
    return _resolved(path, _stamp(bundle(path).files))


@cache
def _resolved(path: Path, stamp: tuple[tuple[int, int], ...]) -> dict[str, Any]:
    from connexion.json_schema import resolve_refs

    resolved: dict[str, Any] = resolve_refs(bundle(path).document)  # which it copies
    return resolved


class BundleError(ValueError):
    """A $ref to another file that cannot be followed, or two common components of the same name."""


@dataclass(frozen=True)
class Override:
    """A root component standing in for the common component of the same name."""

    kind: str  # schemas, parameters, responses, ...
    name: str
    source: str  # the common file whose component the root replaces, relative to the root's folder

    def __str__(self) -> str:
        return f"components.{self.kind}.{self.name} overrides {self.source}#/components/{self.kind}/{self.name}"


@dataclass(frozen=True)
class Bundle:
    """A root spec with the parts it takes from other files copied in: only local $refs remain."""

    document: dict[str, Any]
    files: tuple[Path, ...]  # the root first, then every file it took something from
    overrides: tuple[Override, ...]
    # where, in the document, a part taken from another file sits -> "common/x.yaml#/pointer" it came from
    origins: Mapping[Loc, str]


Loc = tuple[str, ...]


def load_bundled(path: Path) -> dict[str, Any]:
    """The spec as every consumer reads it: self-contained (a fresh copy each call: callers may change it)."""
    return copy.deepcopy(bundle(path).document)


def bundle(path: Path) -> Bundle:
    """`path` with what its relative $refs name copied in (see _Bundler); cached while no file used changes."""
    cached = _bundles.get(path)
    if cached is not None and cached[0] == _stamp(cached[1].files):
        return cached[1]
    made = _Bundler(path).run()
    _bundles[path] = (_stamp(made.files), made)
    return made


_bundles: dict[Path, tuple[tuple[tuple[int, int], ...], Bundle]] = {}


def _stamp(files: tuple[Path, ...]) -> tuple[tuple[int, int], ...]:
    stats = [file.stat() for file in files]
    return tuple((stat.st_mtime_ns, stat.st_size) for stat in stats)


def bundled_file(path: Path, folder: Path) -> Path:
    """A file of the bundled spec in `folder` for tools that read files (Schemathesis); `path` itself when
    it refers to no other file, so those tools read self-contained specs exactly as written."""
    made = bundle(path)
    if len(made.files) == 1:
        return path
    out = folder / path.name
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    out.write_text(yaml.dump(made.document, Dumper=dumper, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


class _Bundler:
    """Copies into the root what its $refs to other files name. A ref to `#/components/<kind>/<name>` of
    another file becomes a local ref to the same name in the root's components (the component is copied
    there once; a root component of that name wins); a ref to anything else (a path item, ...) is replaced
    by a copy of it. Refs inside copied parts are followed the same way, relative to the file they are in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.document = _read(root)  # never changed: _walk builds new containers throughout
        self.own = {  # a root component that only imports the common one of its name overrides nothing
            (kind, name)
            for kind, table in (self.document.get("components") or {}).items()
            if isinstance(table, dict)
            for name, value in table.items()
            if not _imports(value, kind, name)
        }
        self.files: dict[Path, dict[str, Any]] = {root.resolve(): self.document}
        self.taken: dict[tuple[str, str], str] = {}  # (kind, name) -> the file it was copied from
        self.overrides: dict[tuple[str, str], Override] = {}
        self.origins: dict[Loc, str] = {}
        self.copied: dict[str, dict[str, Any]] = {}  # kind -> name -> component, in the order first met
        self.inlining: list[str] = []  # refs being inlined, to stop a cycle

    def run(self) -> Bundle:
        self.document = self._walk(self.document, self.root.resolve(), ())
        if self.copied:
            components = self.document.setdefault("components", {})
            for kind, table in self.copied.items():
                components.setdefault(kind, {}).update(table)
        return Bundle(
            document=self.document,
            files=tuple(self.files),
            overrides=tuple(self.overrides.values()),
            origins=self.origins,
        )

    def _walk(self, node: Any, file: Path, loc: Loc) -> Any:
        """`node` (found in `file`) with its $refs made local to the root; `loc` is where it lands in the root."""
        if isinstance(node, list):
            return [self._walk(item, file, (*loc, str(index))) for index, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and (file != self.root.resolve() or not ref.startswith("#")):
            return self._follow(node, ref, file, loc)
        return {key: self._walk(value, file, (*loc, str(key))) for key, value in node.items()}

    def _follow(self, node: dict[str, Any], ref: str, file: Path, loc: Loc) -> Any:
        target_file, pointer = self._split(ref, file, loc)
        keys = [unquote(part).replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
        where = f"{self._name(target_file)}#{pointer}"
        if len(keys) == 3 and keys[0] == "components":
            self._take(keys[1], keys[2], target_file, where, loc)
            siblings = {key: self._walk(value, file, (*loc, key)) for key, value in node.items() if key != "$ref"}
            return {"$ref": f"#/components/{_escape(keys[1])}/{_escape(keys[2])}", **siblings}
        if where in self.inlining:
            raise BundleError(f"{self._at(file, loc)}: $ref {ref!r} refers to itself through {self.inlining}")
        self.inlining.append(where)
        target = self._walk(self._resolve(target_file, keys, ref, file, loc), target_file, loc)
        self.inlining.pop()
        self.origins.setdefault(loc, where)  # a chain of refs: the file the content is in was noted first
        if isinstance(target, dict):  # what the referring object writes beside $ref wins
            return {**target, **{key: self._walk(v, file, (*loc, key)) for key, v in node.items() if key != "$ref"}}
        return target

    def _take(self, kind: str, name: str, source: Path, where: str, loc: Loc) -> None:
        """Copy a common component into the root's components, unless the root has its own or it is there."""
        key = (kind, name)
        if key in self.own:
            self.overrides.setdefault(key, Override(kind, name, self._name(source)))
            return
        if key in self.taken:
            if self.taken[key] != self._name(source):
                raise BundleError(
                    f"{self.root.name}: components.{kind}.{name} is defined both in {self.taken[key]} and in "
                    f"{self._name(source)}; rename one, or define it in {self.root.name} to choose"
                )
            return
        self.taken[key] = self._name(source)  # before its content is walked: a component may refer to itself
        here: Loc = ("components", kind, name)
        self.origins[here] = where
        content = self._resolve(source, ["components", kind, name], where, source, loc)
        self.copied.setdefault(kind, {})[name] = self._walk(content, source, here)

    def _split(self, ref: str, file: Path, loc: Loc) -> tuple[Path, str]:
        """The file and JSON pointer a $ref names, relative to the file it is written in."""
        location, _, pointer = ref.partition("#")
        if "://" in location or location.startswith("/"):
            raise BundleError(f"{self._at(file, loc)}: $ref {ref!r}: only relative file names are followed")
        target = (file.parent / unquote(location)).resolve() if location else file
        if pointer and not pointer.startswith("/"):
            raise BundleError(f"{self._at(file, loc)}: $ref {ref!r}: the part after # must be a JSON pointer")
        if target not in self.files:
            if not target.is_file():
                raise BundleError(f"{self._at(file, loc)}: $ref {ref!r}: no file {self._name(target)}")
            try:
                self.files[target] = _read(target)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                raise BundleError(f"{self._at(file, loc)}: $ref {ref!r}: {self._name(target)}: {exc}") from exc
        return target, pointer

    def _resolve(self, file: Path, keys: list[str], ref: str, referrer: Path, loc: Loc) -> Any:
        node: Any = self.files[file]
        for depth, key in enumerate(keys):
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, dict) and key in node:
                node = node[key]
            else:
                missing = "/" + "/".join(_escape(part) for part in keys[: depth + 1])
                raise BundleError(
                    f"{self._at(referrer, loc)}: $ref {ref!r}: {self._name(file)} has nothing at #{missing}"
                )
        return node

    def _name(self, file: Path) -> str:
        """A file as the root's $refs would name it (relative to the root's folder when inside it)."""
        try:
            return file.relative_to(self.root.resolve().parent).as_posix()
        except ValueError:
            return str(file)

    def _at(self, file: Path, loc: Loc) -> str:
        return f"{self._name(file)} (bundled into {self.root.name} at {'.'.join(loc) or 'the root'})"


def _imports(component: Any, kind: str, name: str) -> bool:
    """Whether a component is only a $ref to the component of the same kind and name in another file."""
    ref = component.get("$ref") if isinstance(component, dict) and len(component) == 1 else None
    location, _, pointer = ref.partition("#") if isinstance(ref, str) else ("", "", "")
    return bool(location) and unquote(pointer) == f"/components/{_escape(kind)}/{_escape(name)}"


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def for_connexion(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with path-level parameters copied into each operation (the operation's own entry wins).

    connexion 3.3 appends path-level parameters to the operation's list once per middleware it builds, so a
    path parameter ends up validated six times per request; merged up front, it is validated once. A path that a
    template before it would also match (/users/export/ after /users/{username}/) moves before that template:
    connexion routes to the first path that matches.
    """
    merged = copy.deepcopy(spec)
    merged["paths"] = _literal_before_template(merged.get("paths", {}))
    for item in merged.get("paths", {}).values():
        shared = item.pop("parameters", None) if isinstance(item, dict) else None
        if not shared:
            continue
        for method, operation in item.items():
            if method.startswith("x-") or not isinstance(operation, dict):
                continue
            own = operation.get("parameters", [])
            names = {(p.get("name"), p.get("in")) for p in own if "$ref" not in p}
            refs = {p.get("$ref") for p in own if "$ref" in p}
            extra = [p for p in shared if (p.get("name"), p.get("in")) not in names and p.get("$ref") not in refs]
            operation["parameters"] = [*own, *extra]
    return merged


def _literal_before_template(paths: Mapping[str, Any]) -> dict[str, Any]:
    """The paths in their order, but each one a path earlier in the list would shadow moved just before it."""

    def shadows(template: str, path: str) -> bool:
        mine, theirs = template.strip("/").split("/"), path.strip("/").split("/")
        return (
            len(mine) == len(theirs)
            and mine != theirs
            and all(a == b or (a.startswith("{") and not b.startswith("{")) for a, b in zip(mine, theirs, strict=True))
        )

    ordered: list[str] = []
    for path in paths:
        first = next((index for index, earlier in enumerate(ordered) if shadows(earlier, path)), None)
        ordered.insert(len(ordered) if first is None else first, path)
    return {path: paths[path] for path in ordered}
