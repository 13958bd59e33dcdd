"""Signed session cookies and CSRF tokens (HMAC-SHA256 with the AUTH_SECRET setting).

A cookie holds the user id, the user's session version and an expiry; logout bumps the
version, so every cookie issued before stops working. The CSRF token is derived from the
cookie, so a form posted from another site cannot carry it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

SESSION_COOKIE = "kbcrm_session"
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Session:
    """What a valid cookie says."""

    user_id: str
    version: int
    expires: int


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def issue(secret: str, *, user_id: str, version: int, now: float | None = None) -> str:
    """A cookie value for the user, valid SESSION_SECONDS."""
    expires = int((now or time.time()) + SESSION_SECONDS)
    payload = base64.urlsafe_b64encode(json.dumps([user_id, version, expires]).encode())
    return payload.decode() + "." + _sign(secret, payload)


def read(secret: str, value: str | None, *, now: float | None = None) -> Session | None:
    """The session a cookie value carries, or None when it is missing, forged or expired."""
    if not value or "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(_sign(secret, payload.encode()), signature):
        return None
    try:
        user_id, version, expires = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, TypeError):
        return None
    if expires < (now or time.time()):
        return None
    return Session(str(user_id), int(version), int(expires))


def csrf_token(secret: str, cookie_value: str) -> str:
    """The CSRF token that goes with a session cookie (forms carry it in a hidden field)."""
    return _sign(secret, b"csrf:" + cookie_value.encode())


def csrf_ok(secret: str, cookie_value: str | None, token: str | None) -> bool:
    """True when the token matches the session cookie."""
    return bool(cookie_value and token) and hmac.compare_digest(csrf_token(secret, cookie_value or ""), token or "")
