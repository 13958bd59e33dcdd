"""Log in and out, who am I, API tokens."""

from __future__ import annotations

from functools import partial
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.deps import AppSettings, SignedIn, SignedInUsers, Store, login_limiter
from api.errors import ApiError, not_found
from api.security import AnyUser
from kbcrm.access import audit, sessions, throttle, users
from kbcrm.access.models import Principal
from kbcrm.settings import Settings

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Login(BaseModel):
    """User name and password."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenRequest(BaseModel):
    """A name for the new token (what program uses it)."""

    name: str = Field(min_length=1, max_length=100)


def me_body(principal: Principal, csrf: str | None = None) -> dict[str, Any]:
    """The caller as JSON."""
    return {
        "id": principal.user_id,
        "username": principal.username,
        "name": principal.name,
        "role": principal.role.value,
        "customer_id": principal.customer_id,
        "csrf_token": csrf,
    }


def start_session(response: Response, settings: Settings, principal: Principal) -> str:
    """Set the session cookie for the principal; returns its value."""
    cookie = sessions.issue(
        settings.auth_secret.get_secret_value(), user_id=principal.user_id, version=principal.session_version
    )
    response.set_cookie(
        sessions.SESSION_COOKIE,
        cookie,
        max_age=sessions.SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return cookie


def log_in(
    request: Request, response: Response, store: Store, settings: Settings, login: Login
) -> tuple[Principal, str]:
    """Check the password (throttled per user name and client), set the session cookie; returns user and cookie."""
    client = request.client.host if request.client else "-"
    wait = throttle.retry_after(store, login.username, client)
    if wait:
        raise ApiError(429, "too_many_attempts", f"too many failed logins; try again in {wait} s", str(wait))
    principal = users.authenticate(store, username=login.username, password=login.password)
    if principal is None:
        throttle.failed(store, login.username, client)
        audit.record(store, actor=users.user_id(login.username), action="login_failed", detail={"client": client})
        raise ApiError(401, "unauthenticated", "wrong user name or password", "password")
    throttle.succeeded(store, login.username, client)
    cookie = start_session(response, settings, principal)
    audit.record(store, actor=principal.user_id, action="login", detail={"client": client})
    return principal, cookie


async def checked_log_in(
    request: Request, response: Response, store: Store, settings: Settings, login: Login
) -> tuple[Principal, str]:
    """log_in on a worker thread under the login limiter (see deps.login_limiter)."""
    call = partial(log_in, request, response, store, settings, login)
    return await to_thread.run_sync(call, limiter=login_limiter(settings))


@router.post("/login", summary="Log in: sets the session cookie, returns the user and the CSRF token")
async def login(
    request: Request, response: Response, store: Store, settings: AppSettings, body: Login
) -> dict[str, Any]:
    """Password login for the web pages (programs use API tokens)."""
    principal, cookie = await checked_log_in(request, response, store, settings, body)
    return me_body(principal, sessions.csrf_token(settings.auth_secret.get_secret_value(), cookie))


def log_out(store: Store, signed_in: SignedInUsers, response: Response, principal: Principal | None) -> None:
    """End every session of the user (their session version goes up) and drop the cookie; audited."""
    if principal is not None:
        users.end_sessions(store, principal.user_id)
        signed_in.drop(principal.user_id)  # this process at once; the others within KBCRM_SESSION_CACHE_SECONDS
        audit.record(store, actor=principal.user_id, action="logout")
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")


@router.post("/logout", summary="Log out: ends every session of this user")
def logout(response: Response, store: Store, signed_in: SignedIn, principal: AnyUser) -> dict[str, str]:
    """Bumps the user's session version, so every cookie issued before stops working."""
    log_out(store, signed_in, response, principal)
    return {"status": "logged out"}


@router.get("/me", summary="Who is calling")
def me(request: Request, settings: AppSettings, principal: AnyUser) -> dict[str, Any]:
    """The authenticated user (and the CSRF token for cookie sessions)."""
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    csrf = sessions.csrf_token(settings.auth_secret.get_secret_value(), cookie) if cookie else None
    return me_body(principal, csrf)


@router.get("/tokens", summary="My API tokens (never their secrets)")
def tokens(store: Store, principal: AnyUser) -> list[dict[str, Any]]:
    """Tokens with when they were made, last used and revoked."""
    return users.list_tokens(store, principal.user_id)


@router.post("/tokens", status_code=201, summary="Create an API token: the secret is shown once")
def create_token(store: Store, principal: AnyUser, body: TokenRequest) -> dict[str, str]:
    """Send it as `Authorization: Bearer <secret>`; only its SHA-256 hash is stored."""
    token = users.create_token(store, principal.user_id, name=body.name)
    audit.record(store, actor=principal.user_id, action="token_created", target=token.id)
    return {"id": token.id, "name": token.name, "secret": token.secret}


@router.delete("/tokens/{token_id}", summary="Revoke one of my API tokens")
def revoke_token(token_id: str, store: Store, principal: AnyUser) -> dict[str, str]:
    """The token stops working at once."""
    if not users.revoke_token(store, principal.user_id, token_id):
        raise not_found(f"token {token_id!r}")
    audit.record(store, actor=principal.user_id, action="token_revoked", target=token_id)
    return {"status": "revoked", "id": token_id}
