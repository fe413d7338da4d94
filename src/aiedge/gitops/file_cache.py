"""What reading each file of a revision gave, kept for the next revision: a commit changes a few
files, and parsing YAML with positions costs about 1 ms per Site document, so a hub that re-read
50,000 unchanged Sites on every commit spent a minute of CPU before any site heard of it."""

from __future__ import annotations

import hashlib
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class FileCache(Generic[T]):
    """Results keyed by a file's path and the SHA-256 of its bytes. Only what the newest read used
    is kept, so it holds at most one revision's worth of files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # hubs read revisions in worker threads
        self._kept: dict[tuple[str, bytes], T] = {}
        self._used: dict[tuple[str, bytes], T] = {}

    @staticmethod
    def key(path: str, data: bytes) -> tuple[str, bytes]:
        return path, hashlib.sha256(data).digest()

    def get(self, key: tuple[str, bytes]) -> T | None:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._used[key] = found
            return found

    def put(self, key: tuple[str, bytes], value: T) -> None:
        with self._lock:
            self._used[key] = value

    def read_done(self) -> None:
        """One revision was read: keep what it used, forget the rest."""
        with self._lock:
            self._kept, self._used = self._used, {}
