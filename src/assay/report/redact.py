"""Remove secrets from anything a page or a card shows (target specs, configs, provenance).

Targets already keep API keys out of their specs (``api_key_env`` names a variable, never holds a key),
but plugins and hand-written specs may not: every report and dashboard page passes provenance through
``redact`` first. Keys that name a secret have their value replaced; values that look like a credential
(``sk-...``, ``Bearer ...``, a URL with a password) are replaced wherever they appear.

Example:
    >>> redact({"model": "m", "api_key": "sk-123", "api_key_env": "OPENAI_API_KEY", "max_tokens": 5})
    {'model': 'm', 'api_key': '[redacted]', 'api_key_env': 'OPENAI_API_KEY', 'max_tokens': 5}
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["REDACTED", "redact"]

REDACTED: Final = "[redacted]"
_SECRET_KEY = re.compile(
    r"(secret|passw|api[_-]?key|access[_-]?key|private[_-]?key|authorization|auth[_-]?token|bearer|cookie|"
    r"credential|^token$|[_-]token$|^x-api-key$)",
    re.IGNORECASE,
)
_SAFE_KEY = re.compile(r"(_env|_var|_name|_file_env)$", re.IGNORECASE)
_SECRET_VALUE = re.compile(
    r"^\s*(sk-[A-Za-z0-9_-]{6,}|Bearer\s+\S+|gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-\S+)"
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not _SAFE_KEY.search(key)


def redact(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, scalars) with secret-looking keys and values replaced."""
    if isinstance(obj, dict):
        return {
            k: REDACTED if isinstance(k, str) and _is_secret_key(k) and v else redact(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        if _SECRET_VALUE.match(obj):
            return REDACTED
        return _URL_PASSWORD.sub(r"\1***\3", obj)
    return obj
