"""``--watch`` for the commands that show the fleet: on a terminal the view is redrawn in place
(and the cursor comes back however the watch ends: Ctrl-C, SIGTERM, a closed pipe); when stdout
is a pipe or a file, a new snapshot is written each time what it shows changes (the text view
after a ``# TIME`` line, or one JSON/YAML document), so ``| grep``, ``| tee`` and scripts see
every update. The hub going away does not end a watch: the error is shown and it goes on."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live
from rich.markup import escape

from aiedge.cli.output import Format, emit
from aiedge.errors import AiedgeError


class _Terminated(Exception):
    """SIGTERM, turned into an exception so that every ``with`` block (rich's Live among them)
    unwinds and puts the terminal back."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def watch(
    draw: Callable[[], RenderableType],
    data: Callable[[], Any],
    output: Format | None,
    interval: float,
    console: Console,
) -> None:
    """Show ``draw()`` (or ``data()`` as ``output``) every ``interval`` seconds until Ctrl-C or
    SIGTERM; returns normally then (the caller's exit status is 0)."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if console.is_terminal and output not in ("json", "yaml"):
            _live(draw, interval, console)
        else:
            _stream(draw, data, output, interval, console)
    except (KeyboardInterrupt, _Terminated):
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
        if console.is_terminal:
            console.show_cursor(True)


def _live(draw: Callable[[], RenderableType], interval: float, console: Console) -> None:
    with Live(_safely(draw), console=console, auto_refresh=False, screen=False) as live:
        while True:
            time.sleep(interval)
            live.update(_safely(draw), refresh=True)


def _safely(draw: Callable[[], RenderableType]) -> RenderableType:
    try:
        return draw()
    except AiedgeError as e:  # keep watching through a hub restart
        return f"[red]{escape(str(e))}[/red] (retrying)"


def _stream(
    draw: Callable[[], RenderableType],
    data: Callable[[], Any],
    output: Format | None,
    interval: float,
    console: Console,
) -> None:
    shown: Any = object()
    while True:
        try:
            current: Any = data() if output in ("json", "yaml") else _text(draw, console)
        except AiedgeError as e:
            print(f"error: {e} (retrying)", file=sys.stderr, flush=True)
            current = shown
        if current != shown:
            if output in ("json", "yaml"):
                emit(current, output)
            else:
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                sys.stdout.write(f"# {stamp}\n{current}")
                sys.stdout.flush()
            shown = current
        time.sleep(interval)


def _text(draw: Callable[[], RenderableType], console: Console) -> str:
    with console.capture() as capture:
        console.print(draw())
    return capture.get()
