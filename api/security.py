"""Authentication and permissions as FastAPI dependencies — the one module that decides who may call what.

A request is authenticated by a bearer API token (programs) or the signed session cookie
(web pages). Unsafe methods authenticated by cookie must carry the CSRF token (form field
`csrf_token` or header `X-CSRF-Token`); bearer requests need none, since a browser never
adds that header on its own. Record-level rules (whose customer, which notes) are the
service layer's (kbcrm.access.scope), not these dependencies'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from api.deps import SignedInUsers
from api.errors import ApiError
from kbcrm.access import sessions, users
from kbcrm.access.models import Principal, Role
from kbcrm.graph import GraphStore
from kbcrm.settings import Settings

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _secret(settings: Settings) -> str:
    return settings.auth_secret.get_secret_value()


async def _csrf_token_sent(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None for an anonymous visitor; a bad token or forged cookie is a 401.

    It reads the store, settings and kept users from the app's state itself rather than as
    three more dependencies: every signed-in request resolves this one, and FastAPI spends
    about 15-20 µs per dependency it solves (in-process profile; the gain per request is
    bench/request_cost.py's, README Benchmarks).
    """
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    state = request.app.state
    store: GraphStore = state.store
    settings: Settings = state.settings
    signed_in: SignedInUsers = state.signed_in
    principal: Principal | None = None
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            raise ApiError(401, "unauthenticated", "Authorization: use 'Bearer <token>'")
        principal = users.principal_for_token(store, secret.strip())
        if principal is None:
            raise ApiError(401, "unauthenticated", "API token unknown or revoked")
    else:
        cookie = request.cookies.get(sessions.SESSION_COOKIE)
        session = sessions.read(_secret(settings), cookie)
        if session is not None:
            user = signed_in.get(session.user_id)
            if user is None or user.session_version != session.version:  # a newer login: read the graph
                user = users.get_user(store, session.user_id)
                if user is not None:
                    signed_in.put(session.user_id, user)
            if user is not None and user.session_version == session.version:
                principal = user
        csrf_needed = principal is not None and request.method in UNSAFE
        if csrf_needed and not sessions.csrf_ok(_secret(settings), cookie, await _csrf_token_sent(request)):
            raise ApiError(403, "csrf", "CSRF token missing or wrong: reload the page and try again")
    request.state.principal = principal
    return principal


def require(*roles: Role) -> Callable[..., object]:
    """A dependency that lets through an authenticated user holding one of `roles` (any role when none given)."""
    allowed = frozenset(roles)

    async def dependency(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
        if principal is None:
            raise ApiError(401, "unauthenticated", "log in or send an API token")
        if allowed and principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ApiError(403, "forbidden", f"this needs one of the roles {names}; you are {principal.role.value}")
        return principal

    return dependency


MaybeUser = Annotated[Principal | None, Depends(optional_principal)]
AnyUser = Annotated[Principal, Depends(require())]
Staff = Annotated[Principal, Depends(require(Role.admin, Role.engineer, Role.analyst, Role.marketer))]
CaseWorker = Annotated[Principal, Depends(require(Role.admin, Role.engineer))]
Analyst = Annotated[Principal, Depends(require(Role.admin, Role.analyst))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
Customer = Annotated[Principal, Depends(require(Role.customer))]
