"""The core under failure and concurrency: a route that fails half-way saves
nothing and does not hold up the next writer; concurrent registrations and
profile saves through a real server are each stored exactly once and the audit
log stays one unbroken chain."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import func, select
from webclient import WebClient

from fivesafes import audit
from fivesafes.appdb.models import User
from fivesafes.web.deps import DB, LoggedIn, WriteDB, require_role

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_a_failing_route_saves_nothing_and_frees_the_turn_to_write(app: FastAPI) -> None:
    router = APIRouter()

    @router.post("/test-boom")
    def boom(db: DB) -> None:
        db.add(User(name="half-saved", role=""))
        db.flush()
        raise RuntimeError("boom")

    @router.get("/test-write-on-get")
    def write_on_get(db: WriteDB) -> dict[str, int]:
        audit.record(db, "system", "test.view", "thing:1")
        db.commit()
        return {"entries": audit.count(db)}

    app.include_router(router)
    client = WebClient(app, raise_server_exceptions=False)
    token = client.csrf_token("/login")
    for _ in range(2):  # the second would hang if the first had kept the write lock
        failed = client.post("/test-boom", data={"csrf_token": token})
        assert failed.status_code == 500
        assert "Nothing was saved" in failed.text
    with app.state.db.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(User).where(User.name == "half-saved")) == 0
        )
    before = client.get("/test-write-on-get").json()["entries"]
    assert client.get("/test-write-on-get").json()["entries"] == before + 1


def _register(base: str, n: int) -> tuple[int, int]:
    with httpx.Client(base_url=base, timeout=60) as c:
        token = CSRF.search(c.get("/register").text)
        assert token is not None
        email = f"crowd{n}@example.org"
        form: dict[str, Any] = {
            "csrf_token": token.group(1),
            "display_name": f"Crowd {n}",
            "email": email,
            "organisation": "Crowd University",
            "role_requested": "researcher",
            "password": "crowded tram 1234",
            "password_confirm": "crowded tram 1234",
        }
        first = c.post("/register", data=form).status_code
        profile = CSRF.search(c.get("/profile").text)
        assert profile is not None
        saved = c.post(
            "/profile",
            data={
                "csrf_token": profile.group(1),
                "display_name": f"Crowd {n}",
                "email": email,
                "organisation": f"Crowd University {n}",
            },
        ).status_code
        return first, saved


def test_concurrent_writers_through_a_real_server_are_each_stored_once(
    app: FastAPI, live_server: str
) -> None:
    with app.state.db.session() as s:
        users_before = s.scalar(select(func.count()).select_from(User)) or 0
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda n: _register(live_server, n), range(24)))
    assert answers == [(303, 303)] * 24
    with app.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == users_before + 24
        organisations = set(
            s.scalars(select(User.organisation).where(User.email.like("crowd%@example.org")))
        )
        assert organisations == {f"Crowd University {n}" for n in range(24)}
        result = audit.verify(s)
        assert result.ok, result.problem
        assert len(audit.entries(s, action="user.register")) >= 24


def test_json_routes_answer_401_and_403_as_json(
    app: FastAPI, demo_users: dict[str, dict[str, Any]]
) -> None:
    router = APIRouter()

    @router.get("/api/test-me")
    def me(user: LoggedIn) -> dict[str, str]:
        return {"name": user.name}

    @router.get("/test-admins.json")
    def admins(user: Annotated[User, Depends(require_role("administrator"))]) -> dict[str, str]:
        return {"name": user.name}

    app.include_router(router)
    client = WebClient(app)
    client.users = demo_users
    anonymous = client.get("/api/test-me", follow_redirects=False)
    assert anonymous.status_code == 401 and anonymous.json() == {"detail": "Log in first."}
    assert client.get("/test-admins.json", follow_redirects=False).status_code == 401
    client.login_as("researcher")
    assert client.get("/api/test-me").json() == {"name": "researcher"}
    refused = client.get("/test-admins.json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This page is for users with the role administrator."}


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="nav" aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav is not None
    return re.findall(r">([^<]+)</a>", nav.group(1))


def test_the_navigation_shows_what_each_role_may_open(client: WebClient) -> None:
    visitor = nav_links(client.get("/").text)
    assert "Log in" in visitor and "Create an account" in visitor
    assert "Administration" not in visitor and "Your profile" not in visitor
    client.login_as("researcher")
    researcher = nav_links(client.get("/").text)
    assert "Your profile" in researcher and "Log in" not in researcher
    assert "Administration" not in researcher
    admin = nav_links(client.fresh().login_as("administrator").get("/profile").text)
    assert "Administration" in admin
    page = client.get("/profile").text
    assert re.search(r'href="/profile" aria-current="page">Your profile', page)
    assert page.index('class="skip-link" href="#main"') < page.index("<header")
