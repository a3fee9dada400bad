"""Progress for the CLI: a Rich bar on a terminal, quiet line-based progress otherwise."""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any


class RecentRate:
    """Results per second over the last ``window_s`` seconds (since the start while younger than that).

    A run's first results often wait for slow one-off work (a model loading, connections opening): a rate
    averaged since the start would keep the ETA too high long after the run has sped up.
    """

    def __init__(self, window_s: float = 30.0, clock: Any = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._count = 0

    def start(self) -> None:
        self._samples.clear()
        self._count = 0
        self._samples.append((self._clock(), 0))

    def add(self, n: int) -> None:
        self._count += n
        now = self._clock()
        samples = self._samples
        if not samples or now - samples[-1][0] >= 0.5:  # one sample per half second bounds the memory
            samples.append((now, self._count))
        # keep one sample at or before the window's start, so the whole window is covered
        while len(samples) > 2 and samples[1][0] <= now - self.window_s:
            samples.popleft()

    def per_s(self) -> float:
        """The rate from the oldest kept sample to now (0 before ``start``)."""
        if not self._samples:
            return 0.0
        t0, c0 = self._samples[0]
        return (self._count - c0) / max(self._clock() - t0, 1e-9)


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
        self._rate = RecentRate()

    def start(self, *, total: int, done: int) -> None:
        self._rate.start()
        self._progress.start()
        self._task = self._progress.add_task("run", total=total, completed=done, rate="", errors=0)

    def advance(self, n: int, *, errors: int) -> None:
        self._rate.add(n)
        self._progress.update(self._task, advance=n, errors=errors, rate=f"{self._rate.per_s():.1f}/s")

    def finish(self) -> None:
        self._progress.stop()


class LineProgress:
    """One line at most every ``every_s`` seconds (and at the end), for logs and CI."""

    def __init__(self, stream: Any = None, every_s: float = 5.0, clock: Any = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.total = 0
        self.done = 0
        self.errors = 0
        self._clock = clock
        self._rate = RecentRate(clock=clock)
        self._last = 0.0

    def start(self, *, total: int, done: int) -> None:
        self.total, self.done = total, done
        self._rate.start()
        self._last = self._clock()
        print(f"progress: {done}/{total} already done", file=self.stream, flush=True) if done else None

    def _line(self) -> str:
        rate = self._rate.per_s()
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return f"progress: {self.done}/{self.total} ({pct:.0f}%) {rate:.1f}/s eta {eta} errors {self.errors}"

    def advance(self, n: int, *, errors: int) -> None:
        self.done += n
        self._rate.add(n)
        self.errors = errors
        now = self._clock()
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
