"""Render a page, or its data as JSON (`?format=json` or `Accept: application/json`): one endpoint, two forms."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape

from api.pages.i18n import LANG_COOKIE, STRINGS, language
from kbcrm.access import sessions
from kbcrm.access.models import Principal
from kbcrm.loyalty.phrases import in_chinese
from kbcrm.operations.accounts.service import CONTACT_ROLES
from kbcrm.operations.cases.service import STATUSES
from kbcrm.operations.opportunities.service import CURRENCIES
from knowledge_transfer.text import primary_language

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


def plain(text: str | None) -> str:
    """Markdown section markers out of a one-paragraph summary ("## Issue The unit…" → "Issue: The unit…")."""
    return re.sub(r"#{1,6}\s+(\w[\w ]*?)\s(?=[A-Z\u4e00-\u9fff])", r"\1: ", text or "").replace("#", "").strip()


def when(value: str | None) -> str:
    """An ISO time as people read it: "2026-12-07T15:02:36+00:00" → "2026-12-07 15:02 UTC" (a date stays a date)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if "T" not in value and " " not in value:
        return value
    offset, sign = moment.utcoffset(), moment.strftime("%z")  # "+0800"
    zone = "" if offset is None else " UTC" if not offset else f" UTC{sign[:3]}:{sign[3:]}"
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def shown(value: Any) -> str:
    """A stored property as a page shows it: times by `when`, numbers to a sensible precision."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"
    if isinstance(value, str) and len(value) >= 16 and value[10:11] == "T":
        return when(value)
    return str(value)


def money(value: Any) -> str:
    """An amount as people read one: thousands separated, two decimals (45020.1 → 45,020.10)."""
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):,.2f}"
    except (TypeError, ValueError):
        return str(value)


def percent(value: Any) -> str:
    """A share as a percentage (0.5349 → "53.5 %"); "–" when there is none."""
    if value is None or value == "":
        return "–"
    try:
        return f"{float(value) * 100:.1f} %"
    except (TypeError, ValueError):
        return str(value)


def term(t: dict[str, str], prefix: str, key: str, default: str | None = None) -> str:
    """The page language's word for a stored value (a role, a node label, a relationship), else `default` or it."""
    return t.get(prefix + key, key if default is None else default)


@pass_context
def local_name(context: Any, node_id: str, name: str) -> str:
    """A graph node's name in the page's language: its Chinese name on a Chinese page when it has one."""
    names: dict[str, str] = context.get("names") or {}
    return names.get(node_id) or name


@pass_context
def phrase(context: Any, text: Any) -> Any:
    """A sentence the loyalty job wrote (a reason, a 7P summary, a segment) in the page's language."""
    if context.get("lang") != "zh" or not isinstance(text, str):
        return text
    return in_chinese(text, context["t"])


def _cases(t: dict[str, str], n: int) -> str:
    return t["rec_cases_one"] if n == 1 else t["rec_cases"] % {"n": n}


@pass_context
def recommendation_words(context: Any, item: dict[str, Any], staff: bool = False) -> dict[str, str]:
    """A recommendation's title and reason in the page's language, from its `why` (the facts by name).

    `staff`: the reason speaks of "the customer" (the customer 360) rather than "you" (the portal).
    """
    t: dict[str, str] = context["t"]
    names: dict[str, str] = context.get("names") or {}
    why = item.get("why") or {}
    key = why.get("key")
    if key is None or f"rec_{key}" not in t:
        return {"title": item["title"], "reason": item["reason"]}
    facts: dict[str, Any] = {
        "product": names.get(why.get("product", ""), why.get("product_name", "")),
        "other": names.get(why.get("other", ""), why.get("other_name", "")),
        "issue": names.get(why.get("issue", ""), why.get("issue_name", "")),
        "cases": _cases(t, int(why.get("cases", 0))),
        "own": _cases(t, int(why.get("own_cases", 0))),
        "case": why.get("latest_case") or why.get("case", ""),
        "share": percent(why.get("share", 0)),
        **{k: why.get(k, "") for k in ("customer_name", "subject", "priority", "days", "peers", "owners", "as_of")},
    }
    reason = t.get(f"rec_{key}_staff", t[f"rec_{key}"]) if staff else t[f"rec_{key}"]
    title = item["title"]
    if f"rec_title_{key}" in t:
        title = t[f"rec_title_{key}"] % facts
    elif item.get("kind") == "product":
        title = facts["other"]
    case = facts["case"]
    if case and key in ("own_issue", "urgent_case"):  # the case the reason names, linked to the reader's page of it
        href = f"/{'staff' if staff else 'my'}/cases/{quote(str(case), safe='')}"
        facts["case"] = Markup('<a href="{}">{}</a>').format(href, case)
    return {"title": title, "reason": Markup(escape(reason)) % facts}


def path_vocabulary(t: dict[str, str]) -> dict[str, str]:
    """The words an evidence path is written in (relationship verbs, node labels): what deflect.js needs."""
    return {key: value for key, value in t.items() if key.startswith(("verb_", "label_"))}


TEMPLATES.env.filters["plain"] = plain
TEMPLATES.env.filters["primary_language"] = primary_language
TEMPLATES.env.globals["term"] = term
TEMPLATES.env.globals["path_vocabulary"] = path_vocabulary
TEMPLATES.env.globals["local_name"] = local_name
TEMPLATES.env.globals["recommendation_words"] = recommendation_words
TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["shown"] = shown
TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["percent"] = percent
TEMPLATES.env.filters["phrase"] = phrase
TEMPLATES.env.globals["statuses"] = ("active", *STATUSES)
TEMPLATES.env.globals["contact_roles"] = CONTACT_ROLES
TEMPLATES.env.globals["currencies"] = CURRENCIES


def wants_json(request: Request) -> bool:
    """True when the caller asked for the page's data rather than its HTML."""
    accept = request.headers.get("accept", "")
    return request.query_params.get("format") == "json" or accept.startswith("application/json")


def csrf_for(request: Request) -> str:
    """The CSRF token forms on this page must carry (empty for visitors)."""
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    return sessions.csrf_token(request.app.state.settings.auth_secret.get_secret_value(), cookie) if cookie else ""


def page(
    request: Request,
    template: str,
    data: dict[str, Any],
    *,
    principal: Principal | None,
    title: str = "",
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The page as HTML, or `data` as JSON."""
    if wants_json(request):
        return JSONResponse(jsonable_encoder(data), status_code=status)
    lang = language(request)
    context = {
        "data": data,
        "user": principal,
        "t": STRINGS[lang],
        "lang": lang,
        "csrf": csrf_for(request),
        "title": title,
        "path": request.url.path,
        "names": _names(request, lang),
        **(extra or {}),
    }
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    if request.query_params.get("lang") in STRINGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def _names(request: Request, lang: str) -> dict[str, str]:
    """Catalogue node id → name in the page's language where it differs from the stored name (local_name)."""
    kb = getattr(request.app.state, "kb", None)  # not built yet: the stored names
    return kb.names_zh if lang == "zh" and kb is not None else {}


def render_error(request: Request, status: int, message: str, code: str = "error") -> Response:
    """An error as a page: what it means in the page's language (by `code`), and the message itself."""
    principal = getattr(request.state, "principal", None)
    data = {"status": status, "code": code, "message": message}
    return page(request, "error.html", data, principal=principal, status=status)
