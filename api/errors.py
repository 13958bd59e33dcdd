"""One error body for every failure: {"error": {"code", "message", "field"}}; HTML pages get an error page."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kbcrm.access.invitations import InvitationError, InvitationGone, InvitationNotFound
from kbcrm.access.models import AccessDenied
from kbcrm.access.users import UserError
from kbcrm.analyst.service import QueryRefused
from kbcrm.customers.privacy import PrivacyError
from kbcrm.graph import QueryError, QueryTimeout, StoreError, StoreUnavailable
from kbcrm.operations.accounts.service import AccountError, AccountNotFound, PossibleDuplicate
from kbcrm.operations.campaigns.service import CampaignError
from kbcrm.operations.cases.service import CaseError, CaseNotFound
from kbcrm.operations.opportunities.service import OpportunityError, OpportunityNotFound
from kbcrm.operations.touches.service import TouchError
from knowledge_transfer.answers.service import AccessDenied as AnswerAccessDenied
from knowledge_transfer.answers.service import AnswerError
from knowledge_transfer.browse import BrowseError, ShelfNotFound
from knowledge_transfer.kcs import KcsError


class ApiError(Exception):
    """Raised by handlers: becomes the standard error body with this status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def not_found(what: str) -> ApiError:
    """404 for a record that does not exist (or that this user may not know of)."""
    return ApiError(404, "not_found", f"{what} not found")


_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def _field(message: str) -> tuple[str | None, str]:
    """Service errors say 'field: reason'; split that into the body's field."""
    head, sep, _ = message.partition(": ")
    return (head, message) if sep and head.isidentifier() else (None, message)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/health", "/openapi", "/docs")) and "text/html" in (
        request.headers.get("accept", "")
    )


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The JSON error body (plus `extra` keys in `error`), or for a browser page a small HTML page saying the same."""
    if _wants_html(request):
        from api.pages.render import render_error

        return render_error(request, status, message, code)
    body: dict[str, Any] = {"error": {"code": code, "message": message, "field": field, **(extra or {})}}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into the standard error body."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = {"Retry-After": exc.field} if exc.code == "too_many_attempts" and exc.field else None
        return error_response(request, exc.status, exc.code, exc.message, exc.field, headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(request, exc.status_code, _CODES.get(exc.status_code, "error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        field = ".".join(location) or None
        return error_response(request, 422, "invalid", f"{field or 'request'}: {first.get('msg', 'invalid')}", field)

    @app.exception_handler(AccessDenied)
    async def access_denied(request: Request, exc: AccessDenied) -> Response:
        return error_response(request, 403, "forbidden", str(exc))

    @app.exception_handler(AnswerAccessDenied)
    async def answer_denied(request: Request, exc: AnswerAccessDenied) -> Response:
        return error_response(request, 403, "forbidden", str(exc))

    async def record_not_found(request: Request, exc: Exception) -> Response:
        return error_response(request, 404, "not_found", str(exc))

    for missing in (CaseNotFound, OpportunityNotFound, AccountNotFound, InvitationNotFound, ShelfNotFound):
        app.add_exception_handler(missing, record_not_found)

    @app.exception_handler(InvitationGone)
    async def invitation_gone(request: Request, exc: InvitationGone) -> Response:
        return error_response(request, 410, "gone", str(exc))

    @app.exception_handler(PossibleDuplicate)
    async def possible_duplicate(request: Request, exc: PossibleDuplicate) -> Response:
        return error_response(request, 409, "possible_duplicate", str(exc), extra={"candidates": exc.candidates})

    async def bad_request(request: Request, exc: Exception) -> Response:
        field, message = _field(str(exc))
        return error_response(request, 400, "bad_request", message, field)

    for kind in (
        CaseError,
        CampaignError,
        PrivacyError,
        UserError,
        InvitationError,
        AnswerError,
        KcsError,
        QueryRefused,
        OpportunityError,
        AccountError,
        TouchError,
        BrowseError,
    ):
        app.add_exception_handler(kind, bad_request)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        if isinstance(exc, StoreUnavailable):
            return error_response(request, 503, "store_unavailable", str(exc))
        if isinstance(exc, QueryTimeout):
            return error_response(request, 408, "query_timeout", str(exc))
        if isinstance(exc, QueryError):
            return error_response(request, 400, "query_error", str(exc))
        return error_response(request, 500, "store_error", str(exc))
