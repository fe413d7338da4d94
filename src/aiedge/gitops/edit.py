"""Editing an App as a user would: a round-trip YAML edit (comments, order and quoting kept) of its
``spec.image`` and, when a build brings them, its ``spec.test`` and ``spec.model``, committed with
git as one commit. This is how ``aiedge build --gitops`` records a pushed digest, so that the App
in Git always describes the image it points at."""

from __future__ import annotations

import copy
import io
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from aiedge.contracts import SmokeTest
from aiedge.gitops.errors import AppNotFound, GitopsError
from aiedge.gitops.loader import plain, position
from aiedge.gitops.schema import DEFAULT_TEST_PATHS, DIGEST_RE, App
from aiedge.gitops.worktree import WorkDoc, named, round_trip_yaml, work_tree_documents

__all__ = [
    "AppUpdate",
    "FoundApp",
    "find_app",
    "find_kustomization",
    "round_trip_yaml",
    "set_app_image",
    "set_kustomization_image",
    "update_app",
]

_FALLBACK_IDENTITY = ("aiedge", "aiedge@localhost")
_DEFAULT_TOLERANCES = {k: SmokeTest.model_fields[k].default for k in ("rtol", "atol")}


@dataclass(frozen=True)
class AppUpdate:
    """What a build writes into an App: always the image; the smoke test it passed and the model
    name it serves when given."""

    repository: str
    digest: str
    test: SmokeTest | None = None
    model: str | None = None


@dataclass(frozen=True)
class FoundApp:
    """An App of the work tree: its document and file, and ``where`` (``file:line:col`` of a field)."""

    work: WorkDoc
    app: App
    rel: str

    def where(self, *loc: str) -> str:
        line, col = position(self.work.doc, list(loc))
        return f"{self.rel}:{line}:{col}"


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )
    if proc.returncode != 0:
        raise GitopsError(f"git {args[0]} in {repo}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def _identity_args(repo: Path) -> list[str]:
    args: list[str] = []
    for key, fallback in zip(("user.name", "user.email"), _FALLBACK_IDENTITY, strict=True):
        probe = subprocess.run(
            ["git", "-C", str(repo), "config", key], capture_output=True, text=True, check=False
        )
        env_key = "GIT_AUTHOR_NAME" if key == "user.name" else "GIT_AUTHOR_EMAIL"
        if probe.returncode != 0 and not os.environ.get(env_key):
            args += ["-c", f"{key}={fallback}"]
    return args


def find_app(repo_dir: Path, app: str) -> FoundApp:
    """The App named ``app`` in the work tree, validated; :class:`AppNotFound` or a GitopsError
    naming what is wrong with it."""
    if not (repo_dir / ".git").exists():
        raise GitopsError(f"{repo_dir} is not a Git work tree: the App's new image is committed there")
    for work in work_tree_documents(repo_dir, "App"):
        if named(work.doc, "App", app):
            return FoundApp(work, _validated(work, app, repo_dir), work.rel(repo_dir))
    raise AppNotFound(f"no App named {app!r} in the GitOps repo {repo_dir}")


def _validated(work: WorkDoc, app: str, repo_dir: Path) -> App:
    try:
        return App.model_validate(plain(work.doc))
    except ValidationError as e:
        err = e.errors()[0]
        line, col = position(work.doc, list(err["loc"]))
        where = f"{work.rel(repo_dir)}:{line}:{col}"
        field = ".".join(str(p) for p in err["loc"])
        raise GitopsError(f"{where}: App {app!r} is invalid: {field}: {err['msg']}") from None


def update_app(repo_dir: Path, app: str, update: AppUpdate, message: str) -> str:
    """Write ``update`` into App ``app``, commit that file alone, return the commit sha (HEAD's
    sha when the App already said all of it)."""
    if not re.match(DIGEST_RE, update.digest):
        raise GitopsError(f"digest {update.digest!r} is not sha256:<64 hex digits>")
    found = find_app(repo_dir, app)
    doc = found.work.doc
    spec = doc["spec"]
    if not isinstance(spec, CommentedMap):
        raise GitopsError(f"{found.where('spec')}: App {app!r} has no spec mapping")
    before = plain(doc)
    _set_image(spec, update.repository, update.digest)
    if update.model is not None:
        spec["model"] = update.model
    if update.test is not None:
        edited = App.model_validate(plain(doc))  # the model name and protocol as now written
        _set_test(spec, update.test, edited)
    if plain(doc) == before:
        return _git(repo_dir, "rev-parse", "HEAD")
    _validated(found.work, app, repo_dir)  # never commit an App that validate would refuse
    found.work.write()
    _git(repo_dir, "add", "--", found.rel)
    _git(repo_dir, *_identity_args(repo_dir), "commit", "-q", "-m", message, "--", found.rel)
    return _git(repo_dir, "rev-parse", "HEAD")


def set_app_image(repo_dir: Path, app: str, repository: str, digest: str, message: str) -> str:
    """Point App ``app`` at ``repository@digest`` and commit (see :func:`update_app`)."""
    return update_app(repo_dir, app, AppUpdate(repository, digest), message)


def _set_image(spec: CommentedMap, repository: str, digest: str) -> None:
    image = spec.get("image")
    if not isinstance(image, CommentedMap):
        image = CommentedMap()
        spec["image"] = image
    image["repository"] = repository
    if "digest" in image:
        image["digest"] = digest
    else:
        image.insert(list(image).index("repository") + 1, "digest", digest)
        _move_trailing_lines(image, "repository", "digest")


def _move_trailing_lines(mapping: CommentedMap, src: str, dst: str) -> None:
    """ruamel keeps the comment lines that follow ``src`` with it; a key inserted after ``src``
    would then land below comments that introduce what comes next. Hand those lines to ``dst``
    (an inline comment stays on ``src``'s line)."""
    entry = mapping.ca.items.get(src)
    token = entry[2] if entry and len(entry) > 2 else None
    if token is None:
        return
    inline, _, rest = token.value.partition("\n")
    if not rest:
        return
    moved = copy.copy(token)
    moved.value = "\n" + rest
    if inline.strip():
        token.value = inline + "\n"
    else:
        entry[2] = None
    mapping.ca.items[dst] = [None, None, moved, None]


def _set_test(spec: CommentedMap, test: SmokeTest, app: App) -> None:
    """The App's ``test`` made to say what the build checked: its request and expected response;
    its path only when it differs from the protocol's default; tolerances the test data gave
    (the App's own are kept otherwise)."""
    section = spec.get("test")
    if not isinstance(section, CommentedMap):
        section = CommentedMap()
        spec["test"] = section
    default_path = DEFAULT_TEST_PATHS[app.spec.protocol].format(model=app.spec.model)
    if test.path != default_path:
        if "path" in section:
            section["path"] = test.path
        else:
            section.insert(0, "path", test.path)
    elif "path" in section:
        del section["path"]
    section["request"] = _flow(test.request)
    section["response"] = _flow(test.response)
    for key, default in _DEFAULT_TOLERANCES.items():
        value = getattr(test, key)
        if value != default:
            section[key] = value


def _flow(value: Any) -> Any:
    """A JSON value as one flow-style YAML node (``{"instances": [[1.0, ...]]}``), the way test
    requests are written by hand, rather than one line per number."""
    if isinstance(value, dict):
        out: Any = CommentedMap((str(k), _flow(v)) for k, v in value.items())
    elif isinstance(value, list):
        out = CommentedSeq(_flow(v) for v in value)
    else:
        return value
    out.fa.set_flow_style()
    return out


KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def find_kustomization(repo_dir: Path, app: str) -> Path | None:
    """The kustomization of the seed-style app folder ``.../APP/`` that pins an image (``images:``)."""
    found = [
        p
        for name in KUSTOMIZATIONS
        for p in sorted(repo_dir.rglob(name))
        if p.parent.name == app
        and not any(part.startswith(".") for part in p.relative_to(repo_dir).parts)
        and p.is_file()
        and not p.is_symlink()
    ]
    with_images = [p for p in found if re.search(r"^images:", p.read_text(), re.M)]
    if len(with_images) > 1:
        listed = ", ".join(str(p.relative_to(repo_dir)) for p in with_images)
        raise GitopsError(f"more than one kustomization for {app!r} pins images: {listed}")
    return with_images[0] if with_images else None


def set_kustomization_image(repo_dir: Path, app: str, repository: str, digest: str, message: str) -> str:
    """The seed pipeline's last step: in the kustomization of the Argo CD app folder ``APP/``
    (e.g. ``acm/odh-edge/apps/APP/kustomization.yaml``) point its ``images:`` entry at
    ``repository@digest`` (``newName`` and ``digest``; a ``newTag`` is dropped, the digest pins
    it), keep comments and layout, commit that file alone and return the commit sha."""
    if not re.match(DIGEST_RE, digest):
        raise GitopsError(f"digest {digest!r} is not sha256:<64 hex digits>")
    if not (repo_dir / ".git").exists():
        raise GitopsError(f"{repo_dir} is not a Git work tree: the new digest is recorded as a commit")
    path = find_kustomization(repo_dir, app)
    if path is None:
        raise AppNotFound(
            f"no App named {app!r} and no kustomization.yaml with images: in a folder named {app!r} "
            f"in the GitOps repo {repo_dir}"
        )
    rel = path.relative_to(repo_dir).as_posix()
    text = path.read_text()
    yaml = round_trip_yaml(text)
    doc = yaml.load(text)
    images = doc.get("images") if isinstance(doc, CommentedMap) else None
    entries = [e for e in images if isinstance(e, CommentedMap)] if isinstance(images, list) else []
    if not entries:
        raise GitopsError(f"{rel}: images: has no entry to point at the new image")
    entry = entries[0]
    if len(entries) > 1:
        last = repository.rsplit("/", 1)[-1]
        matching = [e for e in entries if str(e.get("newName", e.get("name", ""))).rsplit("/", 1)[-1] == last]
        if len(matching) != 1:
            names = ", ".join(str(e.get("name")) for e in entries)
            raise GitopsError(f"{rel}: images: has {len(entries)} entries ({names}); none is {last!r} alone")
        entry = matching[0]
    if entry.get("newName") == repository and entry.get("digest") == digest and "newTag" not in entry:
        return _git(repo_dir, "rev-parse", "HEAD")
    entry.pop("newTag", None)
    if "newName" in entry:
        entry["newName"] = repository
    else:
        entry.insert(list(entry).index("name") + 1 if "name" in entry else 0, "newName", repository)
    entry["digest"] = digest
    buf = io.StringIO()
    yaml.dump(doc, buf)
    path.write_text(buf.getvalue())
    _git(repo_dir, "add", "--", rel)
    _git(repo_dir, *_identity_args(repo_dir), "commit", "-q", "-m", message, "--", rel)
    return _git(repo_dir, "rev-parse", "HEAD")
