"""What long CLI work shows while it runs: steps as lines on stderr, and for work counted in
bytes (packing, pushing, downloading a model) a rich progress bar on a terminal or, when stderr
is a pipe or a file, a plain line at each quarter. Sizes in IEC units (KiB, MiB, GiB) everywhere."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def iec(n: float) -> str:
    """``n`` bytes in IEC units: ``512 B``, ``1.5 KiB``, ``33.5 MiB``."""
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class _Bytes(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = f" / {iec(task.total)}" if task.total else ""
        return Text(f"{iec(task.completed)}{total}", style="progress.download")


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{iec(speed)}/s", style="progress.data.speed")


class ConsoleReporter:
    """Steps and progress on stderr (the ``Reporter`` of ``aiedge build`` and its sources)."""

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._quiet = quiet
        self._lock = threading.Lock()  # packing reports from a worker thread
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._what, self._total, self._done, self._quarter = "", 0, 0, 1

    def step(self, text: str) -> None:
        if not self._quiet:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)

    def transfer_started(self, total: int, what: str = "pushing") -> None:
        if self._quiet:
            return
        with self._lock:
            self._what, self._total, self._done, self._quarter = what, total, 0, 1
            if not self._console.is_terminal:
                return
            self._progress = Progress(
                TextColumn(what), BarColumn(), _Bytes(), _Rate(), TimeRemainingColumn(), console=self._console
            )
            self._progress.start()
            self._task = self._progress.add_task(what, total=total or None)

    def transferred(self, n: int) -> None:
        if self._quiet:
            return
        with self._lock:
            self._done += n
            if self._progress is not None and self._task is not None:
                self._progress.advance(self._task, n)
                return
            if self._total and self._done * 4 >= self._quarter * self._total:
                self._quarter = min(4, self._done * 4 // self._total) + 1
                share = min(100, 100 * self._done // self._total)
                self.step(f"{self._what}: {iec(self._done)} of {iec(self._total)} ({share}%)")

    def transfer_done(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
