"""Editing the GitOps repo as a user would: a round-trip YAML edit of one App's ``spec.image``
(comments, order and quoting kept) committed with git. This is how ``aiedge build`` records a
pushed digest."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from aiedge.gitops.errors import AppNotFound, GitopsError
from aiedge.gitops.schema import API_VERSION, DIGEST_RE
from aiedge.gitops.source import YAML_SUFFIXES

_FALLBACK_IDENTITY = ("aiedge", "aiedge@localhost")


def round_trip_yaml(text: str) -> YAML:
    """ruamel in round-trip mode, set up to rewrite our files as people write them (comments,
    quotes, indentation, a leading ``---`` kept)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


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


def _find_app(repo_dir: Path, app: str) -> tuple[Path, str, list[Any], CommentedMap]:
    for path in sorted(repo_dir.rglob("*")):
        rel = path.relative_to(repo_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.name.endswith(YAML_SUFFIXES):
            continue
        text = path.read_text()
        if "App" not in text or app not in text:
            continue
        try:
            docs = list(round_trip_yaml(text).load_all(text))
        except Exception:  # noqa: S112 - a broken file elsewhere is validate's business
            continue
        for doc in docs:
            if (
                isinstance(doc, CommentedMap)
                and doc.get("apiVersion") == API_VERSION
                and doc.get("kind") == "App"
                and isinstance(doc.get("metadata"), dict)
                and doc["metadata"].get("name") == app
            ):
                return path, text, docs, doc
    raise AppNotFound(f"no App named {app!r} in the GitOps repo {repo_dir}")


def set_app_image(repo_dir: Path, app: str, repository: str, digest: str, message: str) -> str:
    """Point App ``app`` at ``repository@digest``, commit that file alone, return the commit sha
    (HEAD's sha when the App already had that image)."""
    if not re.match(DIGEST_RE, digest):
        raise GitopsError(f"digest {digest!r} is not sha256:<64 hex digits>")
    if not (repo_dir / ".git").exists():
        raise GitopsError(f"{repo_dir} is not a Git work tree (set_app_image commits its edit)")
    path, text, docs, doc = _find_app(repo_dir, app)
    spec = doc.get("spec")
    if not isinstance(spec, CommentedMap):
        raise GitopsError(f"App {app!r} in {path.relative_to(repo_dir)} has no spec mapping")
    image = spec.get("image")
    if not isinstance(image, CommentedMap):
        image = CommentedMap()
        spec["image"] = image
    if image.get("repository") == repository and image.get("digest") == digest:
        return _git(repo_dir, "rev-parse", "HEAD")
    image["repository"] = repository
    if "digest" in image:
        image["digest"] = digest
    else:
        image.insert(list(image).index("repository") + 1, "digest", digest)
    buf = io.StringIO()
    round_trip_yaml(text).dump_all(docs, buf)
    path.write_text(buf.getvalue())
    rel = path.relative_to(repo_dir).as_posix()
    _git(repo_dir, "add", "--", rel)
    _git(repo_dir, *_identity_args(repo_dir), "commit", "-q", "-m", message, "--", rel)
    return _git(repo_dir, "rev-parse", "HEAD")


KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _find_kustomization(repo_dir: Path, app: str) -> Path | None:
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
    path = _find_kustomization(repo_dir, app)
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
