"""Token authentication for the dashboard: a header for programs, a login form and cookie for people.

With a token configured every request needs it, except the login form itself. Programs send
``Authorization: Bearer TOKEN`` (or ``X-Assay-Token``); people sign in once through ``/login`` and get an
HttpOnly, SameSite=Strict session cookie holding an HMAC of the token (never the token itself). The login
form is CSRF-safe: a random double-submit token (cookie + hidden field) and an Origin check. Comparisons
are constant-time.

Example:
    >>> session_value("s3cret") == session_value("s3cret")
    True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "is_authorized", "safe_next", "session_value", "token_matches"]

SESSION_COOKIE: Final = "assay_session"
CSRF_COOKIE: Final = "assay_csrf"
PUBLIC_PATHS: Final = frozenset({"/login"})


def session_value(token: str) -> str:
    """The session cookie's value: an HMAC of the token, so the cookie never carries the token."""
    return hmac.new(token.encode("utf-8"), b"assay-dashboard-session-v1", hashlib.sha256).hexdigest()


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def is_authorized(headers: Any, cookies: dict[str, str], token: str) -> bool:
    """Whether a request carries the token (header) or a valid session cookie."""
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer ") and token_matches(auth[7:].strip(), token):
        return True
    if token_matches(headers.get("x-assay-token"), token):
        return True
    cookie = cookies.get(SESSION_COOKIE)
    return cookie is not None and hmac.compare_digest(cookie.encode(), session_value(token).encode())


def safe_next(value: str | None) -> str:
    """A local path to go to after login (never another host: no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def parse_form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (first value of each field)."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in fields.items() if v}


def login_url(next_path: str) -> str:
    return "/login?" + urlencode({"next": safe_next(next_path)})
