"""The python target: import by ref relative to the suite folder, calling conventions, return types, errors."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from assay.target import PythonTarget, create_target
from assay.types import Case, ConfigError, Doc, Message, Output

_ids = itertools.count()


def write_app(folder: Path, source: str) -> str:
    """Write a uniquely named package ``pkgN/app.py`` under ``folder``; return its module path."""
    name = f"assay_test_pkg{next(_ids)}_{abs(hash(str(folder))) % 10**6}"
    pkg = folder / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "app.py").write_text(textwrap.dedent(source))
    return f"{name}.app"


def target(tmp_path: Path, source: str, fn: str = "answer", **options: Any) -> PythonTarget:
    module = write_app(tmp_path, source)
    t = create_target("python", ref=f"{module}:{fn}", base_dir=tmp_path, **options)
    assert isinstance(t, PythonTarget)
    return t


def run(t: PythonTarget, case: Case) -> Output:
    async def go() -> Output:
        try:
            return await t(case)
        finally:
            await t.aclose()

    return asyncio.run(go())


CASE = Case(id="q1", input="What is 2+2?", expected="4", context=(Doc("ctx"),))


def test_sync_function_gets_the_input_text_and_runs_off_the_loop(tmp_path: Path) -> None:
    t = target(
        tmp_path,
        """
        import threading
        def answer(question):
            return f"{question} -> {threading.current_thread() is threading.main_thread()}"
        """,
    )
    out = run(t, CASE)
    assert out.error is None and out.text == "What is 2+2? -> False"
    assert out.latency_s is not None and out.latency_s >= 0
    assert (t.timeout_s, t.max_attempts) == (60.0, 1)


def test_async_function(tmp_path: Path) -> None:
    t = target(
        tmp_path,
        """
        import asyncio
        async def answer(text: str) -> str:
            await asyncio.sleep(0)
            return text.upper()
        """,
    )
    assert run(t, CASE).text == "WHAT IS 2+2?"


def test_case_parameter_by_name_and_by_annotation(tmp_path: Path) -> None:
    by_name = target(tmp_path, "def answer(case):\n    return case.id + ':' + case.expected\n")
    assert run(by_name, CASE).text == "q1:4"
    by_annotation = target(
        tmp_path,
        """
        from __future__ import annotations
        from assay.types import Case
        def answer(c: Case) -> str:
            return str(len(c.context))
        """,
    )
    assert run(by_annotation, CASE).text == "1"


def test_chat_input_passes_the_last_user_message(tmp_path: Path) -> None:
    t = target(tmp_path, "def answer(text):\n    return text\n")
    chat = Case(
        id="c", input=(Message("user", "first"), Message("assistant", "ok"), Message("user", "second"))
    )
    assert run(t, chat).text == "second"


def test_returns_output_with_contexts_and_keeps_its_latency(tmp_path: Path) -> None:
    t = target(
        tmp_path,
        """
        from assay.types import Output, Doc, Usage
        def answer(case):
            return Output(text="4", contexts=(Doc("2+2=4", id="kb1", score=0.9),), usage=Usage(5, 1), latency_s=1.5)
        """,
    )
    out = run(t, CASE)
    assert (
        out.text == "4"
        and out.contexts[0].id == "kb1"
        and out.latency_s == 1.5
        and out.usage.total_tokens == 6
    )


def test_returns_dict_of_output_fields(tmp_path: Path) -> None:
    t = target(
        tmp_path,
        """
        def answer(text):
            return {"text": "4", "contexts": ["a", {"text": "b", "id": "d2", "score": 0.5}],
                    "usage": {"input_tokens": 3, "output_tokens": 1}, "confidence": 0.75}
        """,
    )
    out = run(t, CASE)
    assert out.error is None and out.text == "4" and out.confidence == 0.75
    assert [d.text for d in out.contexts] == ["a", "b"] and out.contexts[1].score == 0.5
    assert out.usage.input_tokens == 3 and out.latency_s is not None  # measured when not reported


def test_exception_becomes_target_exception(tmp_path: Path) -> None:
    t = target(tmp_path, "def answer(text):\n    raise KeyError('missing doc')\n")
    out = run(t, CASE)
    assert out.error is not None and out.error.kind == "target_exception" and not out.error.retryable
    assert out.error.message == "KeyError: 'missing doc'"


def test_function_may_raise_a_typed_target_error(tmp_path: Path) -> None:
    t = target(
        tmp_path,
        """
        from assay.types import TargetError
        def answer(text):
            raise TargetError("rate_limited", "upstream 429", retryable=True, retry_after=2.0)
        """,
    )
    out = run(t, CASE)
    assert (out.error.kind, out.error.retryable, out.error.retry_after) == ("rate_limited", True, 2.0)


def test_own_timeout_error_is_an_exception_not_a_target_timeout(tmp_path: Path) -> None:
    t = target(tmp_path, "def answer(text):\n    raise TimeoutError('db timed out')\n")
    assert run(t, CASE).error.kind == "target_exception"


def test_timeout(tmp_path: Path) -> None:
    t = target(
        tmp_path, "import asyncio\nasync def answer(text):\n    await asyncio.sleep(5)\n", timeout_s=0.05
    )
    out = run(t, CASE)
    assert out.error.kind == "timeout" and out.error.retryable and "0.05 s" in out.error.message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("return None", "returned NoneType"),
        ("return 42", "returned int"),
        ("return {'txt': 'x'}", "unknown field 'txt'; did you mean 'text'?"),
        ("return {'text': 'x', 'latency_s': -1}", "latency_s"),
        ("return {'text': 'x', 'usage': {'input_tokens': 1.5}}", "usage.input_tokens"),
        ("return {'text': 'x', 'confidence': 2}", "confidence"),
        ("return {'text': 'x', 'contexts': [3]}", "contexts[0]"),
    ],
)
def test_wrong_return_is_invalid_response(tmp_path: Path, body: str, needle: str) -> None:
    t = target(tmp_path, f"def answer(text):\n    {body}\n")
    out = run(t, CASE)
    assert out.error is not None and out.error.kind == "invalid_response", out
    assert needle in out.error.message


def test_spec_hashes_the_source_so_edits_change_it(tmp_path: Path) -> None:
    module = write_app(tmp_path, "def answer(text):\n    return 'a'\n")
    t = create_target("python", ref=f"{module}:answer", base_dir=tmp_path)
    source = tmp_path / module.split(".")[0] / "app.py"
    assert t.spec() == {
        "type": "python",
        "ref": f"{module}:answer",
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
    }


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("no_such_module_xyz:answer", "no module named 'no_such_module_xyz'"),
        ("not a ref", "package.module:function"),
        ("{module}:answr", "Did you mean 'answer'?"),
        ("{module}:CONSTANT", "is not callable (it is a int)"),
    ],
)
def test_bad_ref_is_a_config_error_naming_it(tmp_path: Path, ref: str, needle: str) -> None:
    module = write_app(tmp_path, "CONSTANT = 1\ndef answer(text):\n    return text\n")
    with pytest.raises(ConfigError) as info:
        create_target("python", ref=ref.format(module=module), base_dir=tmp_path)
    assert info.value.field == "target.ref" and needle in str(info.value)


def test_module_that_fails_to_import_is_reported(tmp_path: Path) -> None:
    module = write_app(tmp_path, "import definitely_not_installed_pkg\ndef answer(t):\n    return t\n")
    with pytest.raises(ConfigError, match="needs 'definitely_not_installed_pkg'"):
        create_target("python", ref=f"{module}:answer", base_dir=tmp_path)
    broken = write_app(tmp_path, "def answer(t)\n    return t\n")
    with pytest.raises(ConfigError, match="SyntaxError"):
        create_target("python", ref=f"{broken}:answer", base_dir=tmp_path)


def test_function_with_extra_required_arguments_is_rejected(tmp_path: Path) -> None:
    module = write_app(tmp_path, "def answer(text, k):\n    return text\n")
    with pytest.raises(ConfigError, match="requires k"):
        create_target("python", ref=f"{module}:answer", base_dir=tmp_path)


def test_unknown_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'timeout_s'") as info:
        create_target("python", ref="json:dumps", timeout=3)
    assert info.value.field == "target.timeout"


def test_dedicated_thread_pool_runs_calls_concurrently(tmp_path: Path) -> None:
    t = target(
        tmp_path,
        """
        import threading
        barrier = threading.Barrier(8, timeout=10)
        def answer(text):
            barrier.wait()  # returns only once 8 calls are inside the function at the same time
            return text
        """,
        max_threads=8,
    )

    async def go() -> list[Output]:
        try:
            return await asyncio.gather(*(t(Case(id=str(i), input=str(i))) for i in range(8)))
        finally:
            await t.aclose()

    outs = asyncio.run(go())
    assert [o.text for o in outs] == [str(i) for i in range(8)] and all(o.error is None for o in outs)
    assert threading.active_count() < 50


def test_same_module_name_in_two_suite_folders_is_refused(tmp_path: Path) -> None:
    name = f"assay_test_shadow_{next(_ids)}"
    one, two = tmp_path / "one", tmp_path / "two"
    for folder, word in ((one, "one"), (two, "two")):
        folder.mkdir()
        (folder / f"{name}.py").write_text(f"def answer(text):\n    return '{word}'\n")
    assert run(create_target("python", ref=f"{name}:answer", base_dir=one), CASE).text == "one"
    with pytest.raises(ConfigError, match="already imported from"):
        create_target("python", ref=f"{name}:answer", base_dir=two)
