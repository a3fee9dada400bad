"""The ``python`` target: call a function of yours, e.g. a RAG app that reports what it retrieved.

Suite file::

    target:
      type: python
      ref: support_bot.app:answer     # "package.module:function", imported relative to the suite's folder
      timeout_s: 60                   # per attempt
      max_attempts: 1

What the function receives: the ``Case`` itself when its first parameter is named ``case`` or annotated
with ``Case``; otherwise the input text (``case.input_text``: the string input, or the last user
message of a chat input). What it may return:

* a ``str`` — the answer text;
* an ``Output`` — e.g. ``Output(text=..., contexts=(Doc(...), ...))`` so RAG scorers see the retrieval;
* a ``dict`` of ``Output`` fields — ``{"text": ..., "contexts": [...], "usage": {...}, "latency_s": ...}``.

``latency_s`` is measured around the call unless the function reports its own. The function may be sync
(run in a worker thread via ``asyncio.to_thread`` so it does not block the event loop; at most the
default executor's ``min(32, cpus + 4)`` calls run at once, ``max_threads: N`` gives the target a pool of
its own) or ``async``. An exception becomes ``Output(error=TargetError("target_exception", ...))``
(raise a ``TargetError`` yourself to choose the kind); a wrong return type becomes ``invalid_response``.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import difflib
import functools
import hashlib
import importlib
import inspect
import logging
import re
import sys
import time
import typing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import Field, field_validator

from assay.target._common import FieldProblem, StrictOptions, output_from_mapping, parse_options
from assay.target.base import register_target
from assay.types import Case, ConfigError, Output, TargetError

__all__ = ["PythonTarget", "load_ref"]

log = logging.getLogger(__name__)
_REF = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class PythonOptions(StrictOptions):
    """Options of the ``python`` target."""

    ref: str
    """``package.module:function`` (a dotted attribute path after the colon is allowed)."""
    timeout_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(1, ge=1)
    max_threads: int | None = Field(None, ge=1)
    """Size of a dedicated thread pool for a sync function (default: asyncio's default executor)."""

    @field_validator("ref")
    @classmethod
    def _check_ref(cls, v: str) -> str:
        if not _REF.match(v.strip()):
            raise ValueError("ref must look like 'package.module:function'")
        return v.strip()


def load_ref(ref: str, base_dir: Path | None = None) -> tuple[Callable[..., Any], ModuleType]:
    """Import ``module:attr`` with ``base_dir`` first on ``sys.path``; ``ConfigError`` naming the ref if not.

    >>> fn, module = load_ref("json:dumps")
    >>> fn({"a": 1})
    '{"a": 1}'
    """
    module_name, _, attr_path = ref.partition(":")
    if base_dir is not None:
        folder = str(Path(base_dir).resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)
        importlib.invalidate_caches()
    where = f" (searched {base_dir} and sys.path)" if base_dir is not None else ""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            msg = f"cannot import '{ref}': no module named '{exc.name}'{where}"
        else:
            msg = f"cannot import '{ref}': module '{module_name}' needs '{exc.name}', which is not installed"
        raise ConfigError(msg, field="target.ref") from exc
    except Exception as exc:  # the user's module failed while importing: say so, with its error
        raise ConfigError(
            f"cannot import '{ref}': importing '{module_name}' raised {type(exc).__name__}: {exc}",
            field="target.ref",
        ) from exc
    if base_dir is not None:
        _check_not_shadowed(ref, module, Path(base_dir))
    obj: Any = module
    for i, part in enumerate(attr_path.split(".")):
        if not hasattr(obj, part):
            owner = module_name if i == 0 else f"{module_name}:{'.'.join(attr_path.split('.')[:i])}"
            names = [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None))]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"cannot import '{ref}': '{owner}' has no attribute '{part}'.{hint}", field="target.ref"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"'{ref}' is not callable (it is a {type(obj).__name__})", field="target.ref")
    return obj, module


def _check_not_shadowed(ref: str, module: ModuleType, base_dir: Path) -> None:
    """Refuse a module already imported from elsewhere when the suite's folder holds one of that name.

    Two suites with their own ``app.py`` would otherwise silently share whichever was imported first.
    """
    rel = Path(*module.__name__.split("."))
    candidates = [base_dir / rel.with_suffix(".py"), base_dir / rel / "__init__.py"]
    local = next((c.resolve() for c in candidates if c.is_file()), None)
    loaded = getattr(module, "__file__", None)
    if local is not None and loaded is not None and Path(loaded).resolve() != local:
        raise ConfigError(
            f"cannot import '{ref}': module '{module.__name__}' was already imported from {loaded}, "
            f"not from {local}; give the suite's module a distinct name",
            field="target.ref",
        )


def _wants_case(fn: Callable[..., Any], ref: str) -> bool:
    """True if the function's first parameter is named ``case`` or annotated with ``Case``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: give them the text
        return False
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values())
    if not positional:
        if variadic:
            return False
        raise ConfigError(
            f"'{ref}' must accept one argument (the case or its input text)", field="target.ref"
        )
    extra = [p.name for p in positional[1:] if p.default is inspect.Parameter.empty]
    extra += [
        p.name
        for p in sig.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    if extra:
        raise ConfigError(
            f"'{ref}' must take exactly one required argument; it also requires {', '.join(extra)}",
            field="target.ref",
        )
    first = positional[0]
    if first.name == "case":
        return True
    annotation: Any = first.annotation
    if isinstance(annotation, str):
        try:
            annotation = typing.get_type_hints(fn).get(first.name, annotation)
        except Exception:  # unresolvable forward references: fall back to the annotation's text
            return annotation.rsplit(".", 1)[-1] == "Case"
    return annotation is Case


def _is_async(fn: Callable[..., Any]) -> bool:
    call = getattr(fn, "__call__", None)  # noqa: B004 (an instance with an async __call__ counts too)
    return inspect.iscoroutinefunction(fn) or (call is not None and inspect.iscoroutinefunction(call))


def _source_sha256(*modules: ModuleType | None) -> str | None:
    digest = hashlib.sha256()
    files = set()
    for module in modules:
        path = getattr(module, "__file__", None) if module is not None else None
        if path and Path(path).suffix == ".py" and Path(path).is_file():
            files.add(Path(path).resolve())
    if not files:
        return None
    for path in sorted(files):
        digest.update(path.read_bytes())
    return digest.hexdigest()


@register_target("python")
class PythonTarget:
    """Runs ``ref`` once per case; see the module docstring for the calling convention.

    Example:
        >>> t = PythonTarget(ref="textwrap:dedent")  # receives the input text, returns a str
        >>> asyncio.run(t(Case(id="1", input="  hi"))).text
        'hi'
    """

    #: each attempt is bounded by ``timeout_s`` here, so the runner adds no guard of its own
    enforces_timeout = True

    def __init__(self, *, base_dir: Path | None = None, **options: Any) -> None:
        opts = parse_options(PythonOptions, options, target="python")
        self.ref = opts.ref
        self.timeout_s = float(opts.timeout_s)
        self.max_attempts = int(opts.max_attempts)
        self._max_threads = opts.max_threads
        self._fn, module = load_ref(opts.ref, base_dir)
        self._pass_case = _wants_case(self._fn, opts.ref)
        self._async = _is_async(self._fn)
        defining = sys.modules.get(getattr(self._fn, "__module__", "") or "")
        self._source_sha256 = _source_sha256(module, defining)
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_function(
        cls, fn: Any, *, timeout_s: float = 60.0, max_attempts: int = 1, max_threads: int | None = None
    ) -> PythonTarget:
        """Wrap a function object directly (``assay.evaluate(cases, my_fn, ...)``), same calling convention.

        Example:
            >>> t = PythonTarget.from_function(str.upper)
            >>> asyncio.run(t(Case(id="1", input="hi"))).text
            'HI'
        """
        if not callable(fn):
            raise ConfigError(f"target must be callable, got {type(fn).__name__}", field="target")
        self = cls.__new__(cls)
        module = sys.modules.get(getattr(fn, "__module__", "") or "")
        self.ref = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        self.timeout_s = float(timeout_s)
        self.max_attempts = int(max_attempts)
        self._max_threads = max_threads
        self._fn = fn
        self._pass_case = _wants_case(fn, self.ref)
        self._async = _is_async(fn)
        self._source_sha256 = _source_sha256(module)
        self._executor = None
        return self

    def spec(self) -> dict[str, Any]:
        """The ref and a hash of its source, so editing the app invalidates cached responses."""
        return {"type": "python", "ref": self.ref, "source_sha256": self._source_sha256}

    def __repr__(self) -> str:
        return f"PythonTarget(ref={self.ref!r})"

    async def __call__(self, case: Case) -> Output:
        """One call of the function. Never raises for a per-case failure."""
        arg: Any = case if self._pass_case else case.input_text
        t0 = time.perf_counter()
        deadline = asyncio.timeout(self.timeout_s)
        try:
            async with deadline:
                if self._async:
                    result = await self._fn(arg)
                else:
                    result = await self._run_sync(arg)
                    if inspect.isawaitable(result):
                        result = await result
        except TargetError as exc:
            return Output(error=exc, latency_s=time.perf_counter() - t0)
        except TimeoutError as exc:
            latency = time.perf_counter() - t0
            if deadline.expired():
                err = TargetError(
                    "timeout", f"'{self.ref}' did not return within {self.timeout_s:g} s", retryable=True
                )
                return Output(error=err, latency_s=latency)
            return self._exception(exc, latency)
        except Exception as exc:
            return self._exception(exc, time.perf_counter() - t0)
        return self._to_output(result, time.perf_counter() - t0)

    async def aclose(self) -> None:
        """Shut down the dedicated thread pool, if one was made."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # ----------------------------------------------------------------------------------- internals
    async def _run_sync(self, arg: Any) -> Any:
        if self._max_threads is None:
            return await asyncio.to_thread(self._fn, arg)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_threads, thread_name_prefix="assay-python-target")
        call = functools.partial(contextvars.copy_context().run, self._fn, arg)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _exception(self, exc: BaseException, latency: float) -> Output:
        log.debug("target %s raised", self.ref, exc_info=exc)
        err = TargetError("target_exception", f"{type(exc).__name__}: {exc}", retryable=False)
        return Output(error=err, latency_s=latency)

    def _to_output(self, result: Any, latency: float) -> Output:
        if isinstance(result, str):
            return Output(text=result, latency_s=latency)
        if isinstance(result, Output):
            return result if result.latency_s is not None else dataclasses.replace(result, latency_s=latency)
        if isinstance(result, dict):
            try:
                out = output_from_mapping(result)
            except FieldProblem as exc:
                return self._bad_return(f"'{self.ref}' returned a dict with a bad {exc}", latency)
            return out if out.latency_s is not None else dataclasses.replace(out, latency_s=latency)
        return self._bad_return(
            f"'{self.ref}' returned {type(result).__name__}; expected str, Output or a dict of Output fields",
            latency,
        )

    @staticmethod
    def _bad_return(message: str, latency: float) -> Output:
        return Output(error=TargetError("invalid_response", message, retryable=False), latency_s=latency)
