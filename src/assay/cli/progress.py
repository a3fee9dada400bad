"""Progress for the CLI: a Rich bar on a terminal, quiet line-based progress otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any


class RichProgress:
    """done/total, rate, ETA and errors, drawn by Rich."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]running"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("errors {task.fields[errors]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: Any = None
        self._start = 0.0
        self._done_here = 0

    def start(self, *, total: int, done: int) -> None:
        self._start = time.monotonic()
        self._progress.start()
        self._task = self._progress.add_task("run", total=total, completed=done, rate="", errors=0)

    def advance(self, n: int, *, errors: int) -> None:
        self._done_here += n
        elapsed = max(time.monotonic() - self._start, 1e-9)
        self._progress.update(self._task, advance=n, errors=errors, rate=f"{self._done_here / elapsed:.1f}/s")

    def finish(self) -> None:
        self._progress.stop()


class LineProgress:
    """One line at most every ``every_s`` seconds (and at the end), for logs and CI."""

    def __init__(self, stream: Any = None, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.total = 0
        self.done = 0
        self.errors = 0
        self._done_here = 0
        self._start = 0.0
        self._last = 0.0

    def start(self, *, total: int, done: int) -> None:
        self.total, self.done = total, done
        self._start = self._last = time.monotonic()
        print(f"progress: {done}/{total} already done", file=self.stream, flush=True) if done else None

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self._done_here / elapsed
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return f"progress: {self.done}/{self.total} ({pct:.0f}%) {rate:.1f}/s eta {eta} errors {self.errors}"

    def advance(self, n: int, *, errors: int) -> None:
        self.done += n
        self._done_here += n
        self.errors = errors
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            print(self._line(), file=self.stream, flush=True)

    def finish(self) -> None:
        print(self._line(), file=self.stream, flush=True)


def make_progress(quiet: bool = False) -> Any:
    if quiet:
        return None
    from rich.console import Console

    err = Console(stderr=True)
    return RichProgress(err) if err.is_terminal else LineProgress()
