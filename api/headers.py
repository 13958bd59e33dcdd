"""Security headers on every response the app sends (a plain ASGI middleware: no per-request task).

- `Content-Security-Policy`: the web pages load only this origin's script and style (one
  script file, `static/deflect.js`; no inline script, style or event handler, which
  `tests/test_portal_api.py` checks in every template), cannot be framed (clickjacking on
  the login and the staff console) and post forms only here. FastAPI's `/docs` and
  `/redoc` pages are the exception: they are built from inline script.
- `Referrer-Policy: same-origin`: a link followed from a page to another site does not
  carry the page's address, so an invitation link's token (`/invite/…`) never leaves.
- `X-Content-Type-Options: nosniff`, and `X-Frame-Options: DENY` for browsers without
  `frame-ancestors`.
- `Strict-Transport-Security` when the session cookie is HTTPS-only (KBCRM_COOKIE_SECURE).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive documentation pages run inline script (and load Swagger UI / ReDoc).
UNPOLICED = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class SecurityHeaders:
    """Adds the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
        ]
        if https:
            common.append((b"strict-transport-security", b"max-age=31536000"))
        self.common = common
        self.policed = [*common, (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.common if scope["path"] in UNPOLICED else self.policed

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
