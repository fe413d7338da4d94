"""Parsing one YAML file of the repo without trusting it: ruamel round-trip (positions kept), with
no anchors or aliases in aiedge documents (a 1.6 KB file of nested aliases expands to billions of
nodes), nesting and document count capped while composing, and files that hold no aiedge
document never parsed at all. Knows nothing of the kinds beyond their API group."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from aiedge.gitops.errors import Problem
from aiedge.gitops.limits import ReadLimits, size_text

API_GROUP = "aiedge.io"
_MARKER = re.compile(re.escape(API_GROUP.encode()), re.IGNORECASE)


@dataclass(frozen=True)
class Document:
    """One YAML document of a file; ``reference`` is its first anchor or alias as (line, col,
    ``&name`` or ``*name``), or None when it has none."""

    data: Any
    reference: tuple[int, int, str] | None = None


class YamlRefused(Exception):
    """The file cannot be read at all; ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


class _GuardedComposer(Composer):
    """ruamel's composer, counting documents and depth and noting each document's first anchor or
    alias. Depth and count are checked here, before the recursive composer or the constructor
    can run out of stack or memory."""

    limits = ReadLimits()

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.documents = 0
        self.nesting = 0
        self.references: dict[int, tuple[int, int, str]] = {}

    def compose_document(self: Any) -> Any:
        self.documents += 1
        if self.documents > self.limits.max_documents:
            mark = self.parser.peek_event().start_mark
            raise ComposerError(
                None, None, f"more than {self.limits.max_documents} YAML documents in one file", mark
            )
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            self._note(event, f"*{event.anchor}")
        elif getattr(event, "anchor", None) is not None:
            self._note(event, f"&{event.anchor}")
        self.nesting += 1
        try:
            if self.nesting > self.limits.max_depth:
                raise ComposerError(
                    None, None, f"nested deeper than {self.limits.max_depth} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self.nesting -= 1

    def _note(self, event: Any, name: str) -> None:
        mark = event.start_mark
        self.references.setdefault(self.documents - 1, (mark.line + 1, mark.column + 1, name))


def mentions_group(data: bytes) -> bool:
    """Whether the file could hold an aiedge document at all: the text ``aiedge.io`` appears in it
    in any case and any of the encodings YAML allows. Files without it are never parsed."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        for encoding in ("utf-32", "utf-16"):
            try:
                return API_GROUP in data.decode(encoding).lower()
            except UnicodeDecodeError:
                continue
        return False
    return _MARKER.search(data) is not None


def guard(yaml: YAML, limits: ReadLimits) -> YAML:
    """``yaml`` (round-trip) with the guarded composer: nesting and document count capped, anchors
    and aliases noted per document."""
    yaml.Composer = type("Composer", (_GuardedComposer,), {"limits": limits})  # type: ignore[assignment]
    return yaml


def read_documents(path: str, data: bytes, limits: ReadLimits) -> list[Document]:
    """Every document of the file, or :class:`YamlRefused` naming the spot that stops it."""
    if len(data) > limits.max_file_bytes:
        raise YamlRefused(
            Problem(
                path,
                1,
                1,
                f"the file is {size_text(len(data))}; a file with aiedge documents may be at most "
                f"{size_text(limits.max_file_bytes)}",
            )
        )
    yaml = guard(YAML(typ="rt"), limits)
    try:
        docs = list(yaml.load_all(data))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlRefused(Problem(path, line, col, f"invalid YAML: {e.problem or e.context}")) from e
    except YAMLError as e:
        raise YamlRefused(Problem(path, 1, 1, f"invalid YAML: {e}")) from e
    references: dict[int, tuple[int, int, str]] = yaml.composer.references
    return [Document(doc, references.get(i)) for i, doc in enumerate(docs)]


def api_version(doc: Any) -> str | None:
    """The document's apiVersion when it is a mapping with a string one."""
    if not isinstance(doc, CommentedMap):
        return None
    version = doc.get("apiVersion")
    return version if isinstance(version, str) else None


def in_group(version: str | None) -> bool:
    """Whether an apiVersion belongs to our API group (any version, any case)."""
    return version is not None and version.split("/", 1)[0].strip().lower() == API_GROUP


def reference_problem(path: str, reference: tuple[int, int, str]) -> Problem:
    line, col, name = reference
    return Problem(
        path,
        line,
        col,
        f"anchors and aliases ({name}) are not allowed in aiedge documents "
        "(a few bytes of them can expand into gigabytes)",
    )
