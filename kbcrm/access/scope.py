"""Record-level access: the one place that decides which customer's records a principal may reach.

Services call these before returning customer-owned records (orders, cases, notes,
installed base, personal data), so an HTTP handler cannot forget the check.
"""

from __future__ import annotations

from kbcrm.access.models import AccessDenied, Principal, Role

# Roles that may read any customer's records (a marketer sees segments and consent, not cases).
CUSTOMER_READERS = frozenset({Role.admin, Role.engineer, Role.analyst, Role.marketer})
CASE_WORKERS = frozenset({Role.admin, Role.engineer})
CASE_WRITERS = CASE_WORKERS | {Role.customer}
# Sales records (opportunities) are kept by marketing/sales and admins; accounts, contacts
# and touches by every staff role that talks to customers (analysts only read).
SALES_WRITERS = frozenset({Role.admin, Role.marketer})
ACCOUNT_WRITERS = frozenset({Role.admin, Role.engineer, Role.marketer})


def require_sales_writer(principal: Principal) -> None:
    """Raise AccessDenied unless the principal may create and move opportunities."""
    if principal.role not in SALES_WRITERS:
        raise AccessDenied("only marketers (sales) and admins change opportunities")


def require_account_writer(principal: Principal) -> None:
    """Raise AccessDenied unless the principal may change accounts, contacts and touches."""
    if principal.role not in ACCOUNT_WRITERS:
        raise AccessDenied("only engineers, marketers and admins change accounts, contacts and touches")


def require_staff(principal: Principal) -> None:
    """Raise AccessDenied unless the principal is staff (operations records are internal)."""
    if not principal.is_staff:
        raise AccessDenied("this is for staff")


def require_case_writer(principal: Principal) -> None:
    """Raise AccessDenied unless the principal may open cases and write notes (customers on their own)."""
    if principal.role not in CASE_WRITERS:
        raise AccessDenied("only customers, engineers and admins open cases and write case notes")


def require_case_worker(principal: Principal) -> None:
    """Raise AccessDenied unless the principal works cases (status changes, KCS actions)."""
    if principal.role not in CASE_WORKERS:
        raise AccessDenied("only engineers and admins work cases")


def require_customer(principal: Principal, customer_id: str) -> None:
    """Raise AccessDenied unless the principal may read this customer's records."""
    if principal.role in CUSTOMER_READERS:
        return
    if principal.role == Role.customer and principal.customer_id == customer_id:
        return
    raise AccessDenied(f"customer {customer_id!r} is not yours")


def customer_filter(principal: Principal) -> str | None:
    """The only customer a principal's listings may show (None: every customer, for staff)."""
    if principal.role == Role.customer:
        if not principal.customer_id:
            raise AccessDenied("this portal login is not linked to a customer")
        return principal.customer_id
    return None


def require_case_reader(principal: Principal, case_customer: str | None) -> None:
    """Raise AccessDenied unless the principal may read a case raised by `case_customer`."""
    if principal.role in CASE_WORKERS:
        return
    if principal.role == Role.customer and case_customer is not None and principal.customer_id == case_customer:
        return
    raise AccessDenied("this case is not yours")


def note_visibilities(principal: Principal) -> list[str]:
    """Which service notes a principal may read: internal notes never reach a customer."""
    return ["internal", "customer"] if principal.is_staff else ["customer"]


# Knowledge articles: who may read which (the portal, browsing, case pages and answers follow this).
CUSTOMER_AUDIENCES = ("customer", "public")
ARTICLE_AUDIENCES = ("internal", *CUSTOMER_AUDIENCES)
ARTICLE_STATES = ("work-in-progress", "not-validated", "validated", "archived")


def article_audiences(principal: Principal | None) -> list[str]:
    """Article audiences a reader may see: staff every audience, customers and visitors customer/public."""
    return [*ARTICLE_AUDIENCES] if principal is not None and principal.is_staff else [*CUSTOMER_AUDIENCES]


def article_states(principal: Principal | None) -> list[str]:
    """Confidence states a reader may see: staff every state, customers and visitors only validated articles."""
    return [*ARTICLE_STATES] if principal is not None and principal.is_staff else ["validated"]
