"""Helpers for the web tests: an app on the portal graph and logged-in in-process HTTP clients."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kbcrm.access.demo import CUSTOMER_PASSWORD, STAFF_LOGINS

PASSWORDS = {name: password for name, password, _, _ in STAFF_LOGINS} | {
    f"customer{i}": CUSTOMER_PASSWORD for i in (1, 2, 3)
}


class Client:
    """A TestClient (real ASGI HTTP, in process) that remembers its session's CSRF token."""

    def __init__(self, app: FastAPI, username: str | None = None, password: str | None = None) -> None:
        self.http = TestClient(app, base_url="http://kbcrm.test", follow_redirects=False)
        self.csrf = ""
        self.me: dict[str, Any] = {}
        if username:
            response = self.http.post(
                "/api/v1/auth/login", json={"username": username, "password": password or PASSWORDS[username]}
            )
            assert response.status_code == 200, response.text
            self.me = response.json()
            self.csrf = self.me["csrf_token"]

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET."""
        return self.http.get(path, **kwargs)

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        """An unsafe request carrying the CSRF token."""
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)
