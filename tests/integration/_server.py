"""Start the loopback OpenAI-compatible server in its own process (so a killed client cannot take it down)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def server_process(log: Path, *args: str) -> Iterator[str]:
    """Yield the base URL of a fake server process writing its call log to ``log``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay.testing.fake_openai", "--port", "0", "--log", str(log), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"fake server did not start: {proc.stderr.read() if proc.stderr else ''}")
        port = int(line.split()[-1].rsplit(":", 1)[-1].rstrip("/"))
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def write_suite(
    folder: Path,
    base_url: str,
    n: int,
    *,
    extra: str = "",
    scorers: Sequence[str] = ("exact_match",),
    concurrency: int = 4,
) -> Path:
    """A suite with ``n`` cases whose expected answer is what the fake server answers."""
    import json

    cases = folder / "cases.jsonl"
    with cases.open("w") as f:
        for i in range(n):
            f.write(
                json.dumps({"id": f"c{i:04d}", "input": f"question {i}", "expected": f"answer: question {i}"})
                + "\n"
            )
    suite = folder / "suite.yaml"
    suite.write_text(
        "name: it\n"
        "dataset: cases.jsonl\n"
        "target:\n"
        "  type: openai\n"
        f"  base_url: {base_url}\n"
        "  model: fake\n"
        "  timeout_s: 5\n"
        "  max_attempts: 3\n"
        f"scorers: [{', '.join(scorers)}]\n"
        f"concurrency: {concurrency}\n" + extra
    )
    return suite
