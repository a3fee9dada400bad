"""The ``replay`` target: score outputs recorded elsewhere (production logs, another harness, a notebook).

Suite file::

    target:
      type: replay
      path: outputs.jsonl        # relative to the suite file's folder

One JSON object per line: ``{"case_id": "q1", "output": "text"}`` plus any optional ``Output`` fields —
``contexts`` (strings or ``{text, id, score}``), ``latency_s``, ``ttft_s``, ``usage``
(``{input_tokens, output_tokens}``), ``cost_usd``, ``confidence``, ``logprobs``, ``error``
(``{kind, message}``; ``output`` may then be null). ``input``, ``expected`` and ``metadata`` are
allowed and ignored, so a log that carries them replays as is.

The whole file is validated when the target is built (bad JSON, missing or mistyped fields and duplicate
ids are ``DatasetError``s naming file, line and field). Only an index ``case_id → (offset, length)`` is
kept in memory; each call reads its line back from the file, so 100,000 recorded outputs cost a few MB.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from assay.target._common import FieldProblem, StrictOptions, output_kwargs, parse_options
from assay.target.base import register_target
from assay.types import Case, ConfigError, DatasetError, Output, TargetError

__all__ = ["ReplayTarget"]

_IGNORED = ("case_id", "input", "expected", "metadata")
_BITS = 40  # a packed index entry: offset << 80 | length << 40 | line number


class ReplayOptions(StrictOptions):
    """Options of the ``replay`` target."""

    path: str
    """JSONL file of recorded outputs, relative to the suite file's folder."""


def _record_kwargs(record: dict[str, Any]) -> dict[str, Any]:
    """Validate one parsed line into ``Output(**kwargs)`` arguments (raises ``FieldProblem``)."""
    if "output" not in record:
        raise FieldProblem("output", "missing (the recorded output text)")
    return output_kwargs(record, text_key="output", ignore=_IGNORED)


def _case_id(record: dict[str, Any]) -> str:
    if "case_id" not in record:
        raise FieldProblem("case_id", "missing (the id of the case this output answers)")
    cid = record["case_id"]
    if isinstance(cid, bool) or not isinstance(cid, str | int) or cid == "":
        raise FieldProblem("case_id", f"must be a non-empty string (or an integer), got {cid!r:.60}")
    return str(cid)


def _parse_line(raw: bytes, file: str, line: int) -> dict[str, Any]:
    try:
        record = json.loads(raw.decode("utf-8-sig" if line == 1 else "utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"not valid UTF-8 ({exc.reason} at byte {exc.start})", file=file, line=line
        ) from None
    except ValueError as exc:
        raise DatasetError(f"invalid JSON: {exc}", file=file, line=line) from None
    if not isinstance(record, dict):
        raise DatasetError(
            f"each line must be a JSON object, got {type(record).__name__}", file=file, line=line
        )
    return record


@register_target("replay")
class ReplayTarget:
    """Returns the recorded output for each case id; see the module docstring for the file format.

    Example:
        >>> t = ReplayTarget(path="outputs.jsonl", base_dir=Path("suites"))  # doctest: +SKIP
        >>> asyncio.run(t(Case(id="q1", input="..."))).text  # doctest: +SKIP
        'the recorded answer'
    """

    timeout_s = 60.0
    max_attempts = 1

    def __init__(self, *, base_dir: Path | None = None, **options: Any) -> None:
        opts = parse_options(ReplayOptions, options, target="replay")
        self.path = opts.path
        file = Path(opts.path).expanduser()
        if not file.is_absolute() and base_dir is not None:
            file = Path(base_dir) / file
        if not file.is_file():
            raise ConfigError(f"replay file not found: {file}", field="target.path")
        self.file = file
        self._index, self.sha256 = self._build_index(file)
        self._fh = open(file, "rb")  # noqa: SIM115 (kept open for the run; closed by aclose)
        stat = os.fstat(self._fh.fileno())
        self._stamp = (stat.st_size, stat.st_mtime_ns)

    @staticmethod
    def _build_index(file: Path) -> tuple[dict[str, int], str]:
        """One pass: validate every line, hash the file, index case_id → packed (offset, length, line)."""
        name = str(file)
        digest = hashlib.sha256()
        index: dict[str, int] = {}
        offset = 0
        with open(file, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                digest.update(raw)
                length = len(raw)
                if raw.strip():
                    record = _parse_line(raw, name, lineno)
                    try:
                        cid = _case_id(record)
                        _record_kwargs(record)
                    except FieldProblem as exc:
                        raise DatasetError(exc.message, file=name, line=lineno, field=exc.field) from None
                    previous = index.get(cid)
                    if previous is not None:
                        first = previous & ((1 << _BITS) - 1)
                        raise DatasetError(
                            f"duplicate case_id '{cid}' (first recorded on line {first})",
                            file=name,
                            line=lineno,
                            field="case_id",
                        )
                    index[cid] = (offset << (2 * _BITS)) | (length << _BITS) | lineno
                offset += length
        if not index:
            raise DatasetError("no recorded outputs: the file is empty", file=name)
        return index, digest.hexdigest()

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._index

    def spec(self) -> dict[str, Any]:
        """The path as configured and the file's SHA-256: new recordings mean new results."""
        return {"type": "replay", "path": self.path, "sha256": self.sha256}

    def __repr__(self) -> str:
        return f"ReplayTarget(path={self.path!r}, n={len(self._index)})"

    async def __call__(self, case: Case) -> Output:
        """The recorded output for ``case.id``, or a ``target_exception`` if none was recorded."""
        packed = self._index.get(case.id)
        if packed is None:
            msg = f"no recorded output for case '{case.id}' in {self.file}"
            return Output(error=TargetError("target_exception", msg))
        if self._fh.closed:
            return Output(error=TargetError("target_exception", f"replay target for {self.file} is closed"))
        stat = os.fstat(self._fh.fileno())
        if (stat.st_size, stat.st_mtime_ns) != self._stamp:
            msg = f"{self.file} changed after it was loaded; rebuild the target to replay the new recordings"
            return Output(error=TargetError("target_exception", msg))
        mask = (1 << _BITS) - 1
        offset, length = packed >> (2 * _BITS), (packed >> _BITS) & mask
        if hasattr(os, "pread"):
            raw = os.pread(self._fh.fileno(), length, offset)
        else:  # pragma: no cover - platforms without pread
            self._fh.seek(offset)
            raw = self._fh.read(length)
        return Output(**_record_kwargs(json.loads(raw)))

    async def aclose(self) -> None:
        """Close the file (idempotent)."""
        self._fh.close()

    def __del__(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fh", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fh = open(self.file, "rb")  # noqa: SIM115
