"""Token authentication for the dashboard: a header for programs, a login form and cookie for people.

With a token configured every request needs it, except the login and logout forms. Programs send
``Authorization: Bearer TOKEN`` (or ``X-Assay-Token``); people sign in once through ``/login`` and get an
HttpOnly, SameSite=Strict session cookie. The cookie never carries the token: it is
``ISSUED.NONCE.MAC``, signed with a key derived from the token and a secret drawn when the server starts,
so a session expires after ``SESSION_MAX_AGE_S``, ends when the server restarts, and ends for good when
``POST /logout`` revokes it (a copied cookie does not outlive the logout).

Both forms are CSRF-safe: the login form with a random double-submit token (cookie + hidden field), the
logout form with a token bound to the session (``Sessions.csrf_for``); both also check ``Origin``.
Comparisons are constant-time.

Example:
    >>> sessions = Sessions("s3cret")
    >>> cookie = sessions.issue()
    >>> sessions.is_valid(cookie), "s3cret" in cookie
    (True, False)
    >>> sessions.revoke(cookie); sessions.is_valid(cookie)
    False
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE_S",
    "Sessions",
    "is_authorized",
    "safe_next",
    "same_origin",
    "token_matches",
]

SESSION_COOKIE: Final = "assay_session"
CSRF_COOKIE: Final = "assay_csrf"
PUBLIC_PATHS: Final = frozenset({"/login", "/logout"})
SESSION_MAX_AGE_S: Final = 7 * 86400
"""How long a sign-in lasts (seconds), whatever the browser does with the cookie."""


class Sessions:
    """Signed, expiring, revocable session cookies for one dashboard token.

    Stateless but for the revoked sessions, which are kept until they would have expired anyway. The
    signing key mixes the token with a per-process secret: restarting the server ends every session, so a
    revocation can never be forgotten while its cookie is still valid.
    """

    def __init__(
        self, token: str, *, max_age_s: int = SESSION_MAX_AGE_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = hmac.new(token.encode("utf-8"), secrets.token_bytes(32), hashlib.sha256).digest()
        self._max_age_s = max_age_s
        self._clock = clock
        self._revoked: dict[str, float] = {}  # nonce -> when its session expires
        self._lock = threading.Lock()

    def _mac(self, purpose: str, *parts: str) -> str:
        message = "|".join(("assay-dashboard", purpose, *parts)).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def issue(self) -> str:
        """A new session cookie value."""
        issued, nonce = str(int(self._clock())), secrets.token_urlsafe(18)
        return f"{issued}.{nonce}.{self._mac('session-v2', issued, nonce)}"

    def _nonce(self, value: str | None) -> str | None:
        """The session's nonce when ``value`` is a valid, unexpired, unrevoked session cookie."""
        if not value or value.count(".") != 2:
            return None
        issued, nonce, mac = value.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session-v2", issued, nonce).encode()):
            return None
        try:
            age = self._clock() - int(issued)
        except ValueError:
            return None
        if not 0 <= age < self._max_age_s:
            return None
        with self._lock:
            return None if nonce in self._revoked else nonce

    def is_valid(self, value: str | None) -> bool:
        return self._nonce(value) is not None

    def csrf_for(self, value: str | None) -> str | None:
        """The logout form's CSRF token for this session (None without a valid session)."""
        nonce = self._nonce(value)
        return None if nonce is None else self._mac("logout-v1", nonce)

    def revoke(self, value: str | None) -> None:
        """End the session ``value`` (if valid) for good; forget revocations of sessions now expired."""
        nonce = self._nonce(value)
        if nonce is None or value is None:
            return
        now = self._clock()
        with self._lock:
            self._revoked[nonce] = int(value.split(".", 1)[0]) + self._max_age_s
            for k in [k for k, until in self._revoked.items() if until <= now]:
                del self._revoked[k]


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def is_authorized(headers: Any, cookies: dict[str, str], token: str, sessions: Sessions) -> bool:
    """Whether a request carries the token (header) or a valid session cookie."""
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer ") and token_matches(auth[7:].strip(), token):
        return True
    if token_matches(headers.get("x-assay-token"), token):
        return True
    return sessions.is_valid(cookies.get(SESSION_COOKIE))


def same_origin(headers: Any, scheme: str, netloc: str) -> bool:
    """Whether a form post comes from this site (no ``Origin`` header: an old browser or a program)."""
    origin = headers.get("origin")
    return origin is None or origin == f"{scheme}://{netloc}"


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
