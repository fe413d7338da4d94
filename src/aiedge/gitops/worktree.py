"""The repo's work tree as the commands that edit it see it (``build --gitops``, ``secret
encrypt``): every document of our apiVersion with its file, loaded round-trip so that a rewrite
keeps comments, order and quoting. Scanned leniently (a broken file elsewhere is ``aiedge
validate``'s business), but never through a link and never beyond the read limits."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from aiedge.gitops.limits import DEFAULT_LIMITS, ReadLimits
from aiedge.gitops.parse import guard
from aiedge.gitops.schema import API_VERSION
from aiedge.gitops.source import YAML_SUFFIXES


def round_trip_yaml(text: str, limits: ReadLimits = DEFAULT_LIMITS) -> YAML:
    """ruamel in round-trip mode, set up to rewrite our files as people write them (comments,
    quotes, indentation, a leading ``---`` kept)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.explicit_start = text.lstrip().startswith("---")
    guard(yaml, limits)
    return yaml


@dataclass
class WorkDoc:
    """One document of ours, the file it is in, and all of that file's documents (to write back)."""

    path: Path
    text: str
    docs: list[Any]
    doc: CommentedMap

    def rel(self, repo_dir: Path) -> str:
        return self.path.relative_to(repo_dir).as_posix()

    def write(self) -> None:
        """Write the file back with this document (and its neighbours) as they are now."""
        buf = io.StringIO()
        round_trip_yaml(self.text).dump_all(self.docs, buf)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(buf.getvalue())


def work_tree_documents(repo_dir: Path, kind: str | None = None) -> list[WorkDoc]:
    """Every document of our apiVersion (of ``kind`` when given) under ``repo_dir``, by file."""
    found: list[WorkDoc] = []
    root = repo_dir.resolve()
    for path in sorted(repo_dir.rglob("*")):
        rel = path.relative_to(repo_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.name.endswith(YAML_SUFFIXES):
            continue
        if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(root):
            continue  # an edit written through a link would land outside the repo
        if path.stat().st_size > DEFAULT_LIMITS.max_file_bytes:
            continue
        text = path.read_text(errors="replace")
        if API_VERSION not in text:
            continue
        try:
            docs = list(round_trip_yaml(text).load_all(text))
        except YAMLError:
            continue
        for doc in docs:
            if (
                isinstance(doc, CommentedMap)
                and doc.get("apiVersion") == API_VERSION
                and (kind is None or doc.get("kind") == kind)
            ):
                found.append(WorkDoc(path, text, docs, doc))
    return found


def named(doc: CommentedMap, kind: str, name: str) -> bool:
    meta = doc.get("metadata")
    return doc.get("kind") == kind and isinstance(meta, dict) and meta.get("name") == name
