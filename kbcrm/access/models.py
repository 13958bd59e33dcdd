"""Roles and the authenticated principal every service call is made for."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Application roles; who may call what is the matrix in tests/test_authorization.py."""

    admin = "admin"
    engineer = "engineer"
    analyst = "analyst"
    marketer = "marketer"
    customer = "customer"


STAFF_ROLES = frozenset({Role.admin, Role.engineer, Role.analyst, Role.marketer})


class AccessDenied(PermissionError):
    """The principal may not reach this record (raised by the record-level scope checks)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated user: staff, or a portal customer acting for one Customer node."""

    user_id: str
    name: str
    role: Role
    customer_id: str | None = None
    employee_id: str | None = None
    session_version: int = 0

    @property
    def username(self) -> str:
        """The login name (the user id without its `user:` prefix)."""
        return self.user_id.removeprefix("user:")

    @property
    def is_staff(self) -> bool:
        """True for every role but customer."""
        return self.role in STAFF_ROLES

    @property
    def audience(self) -> str:
        """Knowledge audience: staff see internal knowledge, customers only customer/public."""
        return "staff" if self.is_staff else "customer"
