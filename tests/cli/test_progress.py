"""Line progress (logs and CI): its rate and ETA follow the run's recent pace, not its slow start."""

from __future__ import annotations

import io

import pytest

from assay.cli.progress import LineProgress, RecentRate


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_rate_follows_the_recent_pace_after_a_slow_start() -> None:
    clock = Clock()
    rate = RecentRate(window_s=30.0, clock=clock)
    rate.start()
    clock.t += 12.0  # a model loads: 5 results in the first 12 s
    rate.add(5)
    for _ in range(400):  # then 10 results/s for 40 s
        clock.t += 0.1
        rate.add(1)
    assert rate.per_s() == pytest.approx(10.0, rel=0.03)
    # averaged since the start it would be 405 / 52 s = 7.8/s
    clock.t += 10.0  # nothing for 10 s: the rate falls
    assert rate.per_s() < 8.0


def test_rate_before_the_window_fills_is_the_average_since_the_start() -> None:
    clock = Clock()
    rate = RecentRate(window_s=30.0, clock=clock)
    rate.start()
    for _ in range(50):
        clock.t += 0.2
        rate.add(2)
    assert rate.per_s() == pytest.approx(10.0)


def test_samples_stay_bounded_on_a_long_fast_run() -> None:
    clock = Clock()
    rate = RecentRate(window_s=30.0, clock=clock)
    rate.start()
    for _ in range(200_000):  # 2,000 results/s for 100 s
        clock.t += 0.0005
        rate.add(1)
    assert len(rate._samples) <= 63
    assert rate.per_s() == pytest.approx(2000.0, rel=0.02)


def test_line_progress_prints_done_rate_eta_and_errors() -> None:
    clock = Clock()
    out = io.StringIO()
    progress = LineProgress(stream=out, every_s=5.0, clock=clock)
    progress.start(total=100, done=0)
    clock.t += 10.0
    progress.advance(10, errors=0)  # slow start: 10 in 10 s
    for _ in range(40):  # then 4/s
        clock.t += 0.25
        progress.advance(1, errors=1)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "progress: 10/100 (10%) 1.0/s eta 90s errors 0"
    assert lines[-1].startswith("progress: 50/100 (50%) ")
    assert lines[-1].endswith(" errors 1")
    rate = float(lines[-1].split()[3].removesuffix("/s"))
    assert rate == 2.5  # 50 results over the 20 s since the start: the window is not full yet
    assert lines[-1].split()[5] == f"{50 / rate:.0f}s"


def test_resumed_run_says_how_much_was_done() -> None:
    out = io.StringIO()
    progress = LineProgress(stream=out)
    progress.start(total=100, done=40)
    assert out.getvalue() == "progress: 40/100 already done\n"


def test_rich_progress_draws_done_rate_and_errors() -> None:
    from rich.console import Console

    from assay.cli.progress import RichProgress

    buf = io.StringIO()
    progress = RichProgress(Console(file=buf, force_terminal=True, width=120, color_system=None))
    progress.start(total=10, done=0)
    for _ in range(10):
        progress.advance(1, errors=2)
    progress.finish()
    final = buf.getvalue().rsplit("\r", 1)[-1]
    assert "10/10" in final and "/s" in final and "errors 2" in final
