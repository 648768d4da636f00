"""A TestClient for the web app's tests that knows the demo users and the site's
forms (``from webclient import WebClient, csrf_from``)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = CSRF.search(html)
    if found is None:
        raise AssertionError("the page has no form with a CSRF token")
    return found.group(1)


class WebClient(TestClient):
    """A TestClient that remembers the demo users and knows the site's forms."""

    users: dict[str, dict[str, Any]]

    def csrf_token(self, path: str | None = None) -> str:
        """The CSRF token of this browser's session, read from a page's form (``path``;
        by default the front page, whose log-out form has it, else the log-in page,
        which starts a visitor's session)."""
        if path is not None:
            return csrf_from(self.get(path).text)
        for page in ("/", "/login"):
            found = CSRF.search(self.get(page).text)
            if found:
                return found.group(1)
        raise AssertionError("no page gave a CSRF token")

    def post_form(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        token_from: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """POST ``data`` with the session's CSRF token (read from ``token_from`` if
        given, else from the form's own page ``path`` when it has one)."""
        try:
            token = self.csrf_token(token_from or path)
        except AssertionError:
            token = self.csrf_token()
        kwargs.setdefault("follow_redirects", False)
        return self.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)

    def login(self, email: str, password: str) -> Any:
        response = self.post_form(
            "/login", {"email": email, "password": password}, token_from="/login"
        )
        assert response.status_code == 303, f"log-in as {email} failed: {response.status_code}"
        return response

    def login_as(self, key: str) -> WebClient:
        """Log in as a seeded demo user ("researcher", "administrator", ...)."""
        user = self.users[key]
        self.login(user["email"], user["password"])
        return self

    def fresh(self, address: str | None = None) -> WebClient:
        """Another browser on the same app (no cookies), from the network address
        ``address`` if given (else the test client's, ``testclient``)."""
        other = WebClient(self.app, client=(address or "testclient", 50000))
        other.users = self.users
        return other
