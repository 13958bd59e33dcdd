"""Who may do what: users, sessions and API tokens, roles, record-level scope, audit log."""

from kbcrm.access.models import STAFF_ROLES, AccessDenied, Principal, Role

__all__ = ["STAFF_ROLES", "AccessDenied", "Principal", "Role"]
