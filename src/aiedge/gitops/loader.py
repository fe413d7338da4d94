"""Loading a :class:`Snapshot` into a :class:`GitopsRepo`: parse every YAML document with
ruamel.yaml (keeping positions, refusing aliases; see :mod:`aiedge.gitops.parse`), validate our
kinds with the pydantic models, check references, and report every error as
``file:line:col: message``. Documents of other API groups are ignored (the files holding only
such documents are listed in ``GitopsRepo.ignored``); an unknown version of ours is an error, and
so is a revision without a single document of ours."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from aiedge.gitops.errors import Problem, RepoInvalid
from aiedge.gitops.file_cache import FileCache
from aiedge.gitops.limits import DEFAULT_LIMITS, ReadLimits, size_text
from aiedge.gitops.parse import (
    Document,
    YamlRefused,
    api_version,
    in_group,
    mentions_group,
    read_documents,
    reference_problem,
)
from aiedge.gitops.schema import API_VERSION, KINDS, App, Kind, Placement, Site, SiteSecret
from aiedge.gitops.source import Snapshot

# fields whose position is kept after loading, for warnings and checks made later
ORIGIN_FIELDS: dict[str, tuple[str, ...]] = {
    "App": ("metadata.name", "spec.model", "spec.image.digest"),
    "Placement": ("metadata.name", "spec.siteSelector"),
    "Site": ("metadata.name",),
    "SiteSecret": ("metadata.name",),
}


@dataclass(frozen=True)
class Origin:
    """Where an object was defined: its file, and the 1-based (line, col) of some of its fields."""

    file: str
    fields: dict[str, tuple[int, int]] = field(default_factory=dict)

    def problem(self, dotted: str, message: str) -> Problem:
        """A problem at field ``dotted`` (at metadata.name, or the file's start, when not kept)."""
        line, col = self.fields.get(dotted) or self.fields.get("metadata.name") or (1, 1)
        return Problem(self.file, line, col, message)


@dataclass(frozen=True)
class GitopsRepo:
    """The valid desired state of the whole fleet at one revision."""

    revision: str
    apps: dict[str, App] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    placements: dict[str, Placement] = field(default_factory=dict)
    secrets: dict[tuple[str, str], SiteSecret] = field(default_factory=dict)
    """SiteSecrets by (site, app): at most one per pair."""
    origins: dict[str, Origin] = field(default_factory=dict, compare=False)
    """where each object (``Kind/name``) is defined"""
    ignored: dict[str, str] = field(default_factory=dict, compare=False)
    """YAML files that gave no object of ours, and why (no aiedge documents, a link...)"""

    def summary(self) -> str:
        def n(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"

        text = (
            f"{n(len(self.apps), 'app')}, {n(len(self.sites), 'site')}, "
            f"{n(len(self.placements), 'placement')}"
        )
        return text + (f", {n(len(self.secrets), 'site secret')}" if self.secrets else "")

    @cached_property
    def secret_sites(self) -> frozenset[str]:
        """The sites that have a SiteSecret of any app."""
        return frozenset(site for site, _ in self.secrets)

    def secret_data(self, site: str, app: str) -> dict[str, str]:
        """The ciphertexts (env name -> armored age file) of ``app`` at ``site``; empty when none."""
        found = self.secrets.get((site, app))
        return dict(found.spec.data) if found is not None else {}


def plain(node: Any) -> Any:
    """ruamel's commented containers and scalar subclasses as plain JSON-able Python values."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return str(node)


def position(root: Any, loc: Sequence[int | str], key_of_last: bool = False) -> tuple[int, int]:
    """1-based line and column of ``loc`` inside a ruamel node (the deepest part that exists)."""
    node = root
    line, col = _start(root)
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, CommentedMap) and part in node:
            k_line, k_col = node.lc.key(part)
            v_line, v_col = node.lc.value(part)
            line, col = (k_line, k_col) if (last and key_of_last) else (v_line, v_col)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = node.lc.item(part)
            node = node[part]
        else:
            break
    return line + 1, col + 1


def _start(node: Any) -> tuple[int, int]:
    if isinstance(node, CommentedMap | CommentedSeq):
        return node.lc.line, node.lc.col
    return 0, 0


def _message(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"] if p != "[key]")
    msg = str(err["msg"])
    if err["loc"] and err["loc"][-1] == "[key]":
        msg = f"the name: {msg}"  # a mapping's key, e.g. an env name in SiteSecret spec.data
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return f"{loc}: {msg}" if loc else msg


@dataclass
class _Loaded:
    obj: Kind
    file: str
    node: Any
    """the ruamel document; None for a Site without overrides, whose positions are all in
    ``name_at`` and ``origin``"""
    name_at: tuple[int, int]
    origin: Origin


@dataclass
class FilePart:
    """What one file gave: the same for the same path and bytes, whatever revision holds it."""

    problems: list[Problem] = field(default_factory=list)
    loaded: list[_Loaded] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    ignored: str | None = None
    ours: int = 0


ParseCache = FileCache[FilePart]


@dataclass
class _Reading:
    """What the files of one snapshot gave so far."""

    limits: ReadLimits
    problems: list[Problem] = field(default_factory=list)
    loaded: list[_Loaded] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    ignored: dict[str, str] = field(default_factory=dict)
    parsed_bytes: int = 0
    ours: int = 0  # documents in our API group, valid or not


def _parse_file(path: str, data: bytes, r: _Reading, cache: ParseCache | None) -> None:
    if not mentions_group(data):
        r.ignored[path] = "no aiedge.io documents"
        return
    r.parsed_bytes += len(data)
    if r.parsed_bytes > r.limits.max_parsed_bytes:
        message = (
            f"the revision's aiedge documents exceed {size_text(r.limits.max_parsed_bytes)} "
            "(this file and the ones after it were not read)"
        )
        raise YamlRefused(Problem(path, 1, 1, message))
    key = FileCache.key(path, data)
    part = cache.get(key) if cache is not None else None
    if part is None:
        part = _read_file(path, data, r.limits)
        if cache is not None:
            cache.put(key, part)
    r.problems.extend(part.problems)
    r.loaded.extend(part.loaded)
    r.broken.update(part.broken)
    r.ours += part.ours
    if part.ignored is not None:
        r.ignored[path] = part.ignored


def _read_file(path: str, data: bytes, limits: ReadLimits) -> FilePart:
    part = FilePart()
    try:
        docs = read_documents(path, data, limits)
    except YamlRefused as e:
        part.problems.append(e.problem)
        part.ours = 1  # it may well hold some: never call such a tree empty
        return part
    for doc in docs:
        _check_document(path, doc, part)
    if part.ours == 0:
        part.ignored = "no aiedge.io documents"
    return part


def _check_document(path: str, document: Document, r: FilePart) -> None:
    doc = document.data
    version = api_version(doc)
    if not in_group(version):
        return
    r.ours += 1
    if document.reference is not None:
        r.problems.append(reference_problem(path, document.reference))
        _mark_broken(doc, r)
        return
    if version != API_VERSION:
        line, col = position(doc, ["apiVersion"])
        r.problems.append(
            Problem(path, line, col, f"apiVersion: unknown version {version!r}, expected {API_VERSION!r}")
        )
        _mark_broken(doc, r)
        return
    kind = doc.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        line, col = position(doc, ["kind"])
        r.problems.append(
            Problem(path, line, col, f"kind: unknown kind {kind!r}, expected one of {sorted(KINDS)}")
        )
        return
    try:
        obj = model.model_validate(plain(doc))
    except ValidationError as e:
        _mark_broken(doc, r)
        for err in e.errors():
            is_key = bool(err["loc"]) and err["loc"][-1] == "[key]"
            loc = err["loc"][:-1] if is_key else err["loc"]
            line, col = position(doc, loc, key_of_last=is_key or err["type"] == "extra_forbidden")
            r.problems.append(Problem(path, line, col, f"{kind}: {_message(err)}"))
        return
    origin = _origin(obj.kind, path, doc)
    # a fleet's Sites are most of a repo, and a cache keeps their reading for the next revision:
    # a Site without overrides is never pointed into again, so its ruamel node is let go
    node = None if isinstance(obj, Site) and not obj.spec.overrides else doc
    r.loaded.append(_Loaded(obj, path, node, position(doc, ["metadata", "name"]), origin))


def _mark_broken(doc: Any, r: FilePart) -> None:
    """Note a refused object's kind/name, so that references to it don't pile on."""
    meta, kind = doc.get("metadata"), doc.get("kind")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str) and isinstance(kind, str):
        r.broken.add(f"{kind}/{meta['name']}")


def _origin(kind: str, file: str, node: Any) -> Origin:
    fields = {}
    for dotted in ORIGIN_FIELDS.get(kind, ()):
        loc = dotted.split(".")
        if _has(node, loc):
            fields[dotted] = position(node, loc)
    return Origin(file, fields)


def _has(node: Any, loc: list[str]) -> bool:
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def load_repo(
    snapshot: Snapshot, limits: ReadLimits = DEFAULT_LIMITS, cache: ParseCache | None = None
) -> GitopsRepo:
    """Validate every file of the snapshot; raise :class:`RepoInvalid` with all problems found.
    With a ``cache`` (reading one revision after another), a file read before with the same bytes
    is not parsed again."""
    r = _Reading(limits, ignored=dict(snapshot.skipped))
    try:
        for path in sorted(snapshot.files):
            _parse_file(path, snapshot.files[path], r, cache)
    except YamlRefused as e:
        r.problems.append(e.problem)
    finally:
        if cache is not None:
            cache.read_done()
    if r.ours == 0 and not r.problems:
        count = len(snapshot.files) + len(snapshot.skipped)
        message = (
            f"no {API_VERSION} documents (App, Site, Placement, SiteSecret) in the "
            f"{count} YAML file{'' if count == 1 else 's'} read"
        )
        raise RepoInvalid([Problem("", 0, 0, message)], snapshot.revision)
    problems, loaded, broken = r.problems, r.loaded, r.broken

    tables: dict[str, dict[str, _Loaded]] = {kind: {} for kind in KINDS}
    for item in loaded:
        table = tables[item.obj.kind]
        name = item.obj.metadata.name
        if name in table:
            first = table[name]
            fl, fc = first.name_at
            line, col = item.name_at
            problems.append(
                Problem(
                    item.file,
                    line,
                    col,
                    f"{item.obj.kind} {name!r} is already defined at {first.file}:{fl}:{fc}",
                )
            )
            continue
        table[name] = item

    for item in tables["Placement"].values():
        assert isinstance(item.obj, Placement)
        for i, app in enumerate(item.obj.spec.apps):
            if app not in tables["App"] and f"App/{app}" not in broken:
                line, col = position(item.node, ["spec", "apps", i])
                problems.append(
                    Problem(item.file, line, col, f"Placement: spec.apps.{i}: no App named {app!r}")
                )

    for item in tables["Site"].values():
        assert isinstance(item.obj, Site)
        for app in item.obj.spec.overrides:
            if app not in tables["App"] and f"App/{app}" not in broken:
                line, col = position(item.node, ["spec", "overrides", app], key_of_last=True)
                problems.append(
                    Problem(item.file, line, col, f"Site: spec.overrides.{app}: no App named {app!r}")
                )

    secrets = _check_secrets(tables, broken, problems)

    if problems:
        raise RepoInvalid(problems, snapshot.revision)
    return GitopsRepo(
        revision=snapshot.revision,
        apps={n: i.obj for n, i in sorted(tables["App"].items()) if isinstance(i.obj, App)},
        sites={n: i.obj for n, i in sorted(tables["Site"].items()) if isinstance(i.obj, Site)},
        placements={n: i.obj for n, i in sorted(tables["Placement"].items()) if isinstance(i.obj, Placement)},
        secrets=secrets,
        origins={
            f"{kind}/{name}": item.origin for kind, table in tables.items() for name, item in table.items()
        },
        ignored=dict(sorted(r.ignored.items())),
    )


def _check_secrets(
    tables: dict[str, dict[str, _Loaded]], broken: set[str], problems: list[Problem]
) -> dict[tuple[str, str], SiteSecret]:
    """SiteSecrets by (site, app), after checking that their Site and App exist, that they were
    encrypted to the Site's ageRecipient (when both say), and that no pair has two of them."""
    out: dict[tuple[str, str], SiteSecret] = {}
    first: dict[tuple[str, str], _Loaded] = {}
    for item in tables["SiteSecret"].values():
        assert isinstance(item.obj, SiteSecret)
        spec = item.obj.spec

        def problem(loc: list[str | int], message: str, item: _Loaded = item) -> None:
            line, col = position(item.node, loc)
            problems.append(Problem(item.file, line, col, f"SiteSecret: {message}"))

        site = tables["Site"].get(spec.site)
        if site is None:
            if f"Site/{spec.site}" not in broken:
                problem(["spec", "site"], f"spec.site: no Site named {spec.site!r}")
        elif isinstance(site.obj, Site):
            declared = site.obj.spec.age_recipient
            if declared is None:
                problem(
                    ["spec", "site"],
                    f"spec.site: Site {spec.site!r} has no spec.ageRecipient to encrypt to "
                    "(print it at the site with `aiedge agent recipient`)",
                )
            elif spec.recipient is not None and spec.recipient != declared:
                problem(
                    ["spec", "recipient"],
                    f"spec.recipient: encrypted to {spec.recipient}, but Site {spec.site!r} has "
                    f"ageRecipient {declared}; encrypt the values again with `aiedge secret encrypt`",
                )
        if spec.app not in tables["App"] and f"App/{spec.app}" not in broken:
            problem(["spec", "app"], f"spec.app: no App named {spec.app!r}")
        key = (spec.site, spec.app)
        if key in first:
            other = first[key]
            fl, fc = other.name_at
            problem(
                ["metadata", "name"],
                f"site {spec.site!r} and app {spec.app!r} already have a SiteSecret at "
                f"{other.file}:{fl}:{fc} (one per site and app)",
            )
            continue
        first[key] = item
        out[key] = item.obj
    return dict(sorted(out.items()))
