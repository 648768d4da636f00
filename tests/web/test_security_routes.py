"""Every route of the app, read from its route table, against who may reach it.

A route is either public (listed in ``fivesafes.web.access.PUBLIC``) or carries an
access dependency (``require_login``, ``require_role(...)``, project membership,
being a reviewer of the project, being the person invited); a new route with
none fails ``test_every_route_is_public_or_protected``. For each protected route
and method: a visitor is sent to /login (303; JSON routes 401), a logged-in user
without the role gets 403, a user with the role who is not a member of the
project in the path gets 403, a data owner who owns none of the project's
datasets gets 403 on its review pages (membership changes and rules included), a
user who was not invited gets 403 on an invitation's pages, and every POST
without a valid CSRF token gets 403 — and none of these refusals changes anything
(the audit log does not grow). A member of the project who no longer meets the
membership rule (their accreditation expired, or their researcher role revoked)
gets 403 with the reason on every route to the project's data and outputs, and
only the refusal is written (one ``project.refused`` line). Path parameters come
from the seeded demo site.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from joining import join
from sqlalchemy import inspect, text
from webclient import WebClient

from fivesafes import audit
from fivesafes.appdb.models import Role, User, UserRole, utcnow
from fivesafes.appdb.users import set_roles
from fivesafes.people import accreditation
from fivesafes.web.access import PUBLIC, RouteInfo, route_table, unprotected
from fivesafes.web.app import ROUTER_MODULES, create_app
from fivesafes.web.security import hash_password
from fivesafes.web.sessions import is_json_path

OUTSIDER_PASSWORD = "outsider-pass-2026"
#: How a member stops meeting the membership rule.
LAPSES = ("expired", "role")
NON_ADMIN_ROLES = [r.value for r in Role if r != Role.ADMINISTRATOR]


def app_routes() -> list[tuple[str, str]]:
    """(method, path) of every API route of the app, read from its routers."""
    app = FastAPI()
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(f"fivesafes.web.routes.{name}").router)
    return sorted(
        (method, info.path)
        for info in route_table(app.routes)
        if info.is_api
        for method in info.methods
        if method != "HEAD"
    )


ROUTES = app_routes()
PROTECTED = [(m, p) for m, p in ROUTES if p not in PUBLIC]
POSTS = [(m, p) for m, p in ROUTES if m in ("POST", "PUT", "PATCH", "DELETE")]


@dataclass
class Site:
    app: FastAPI
    anonymous: WebClient
    admin: WebClient
    #: role -> a client logged in as a user holding only that role and member of nothing.
    outsiders: dict[str, WebClient]
    params: dict[str, str]
    #: how -> a client logged in as a member of the project of the path parameters who
    #: no longer meets the membership rule (``expired``: their accreditation; ``role``:
    #: their researcher role revoked).
    lapsed: dict[str, WebClient]

    def route(self, method: str, path: str) -> RouteInfo:
        for info in route_table(self.app.routes):
            if info.is_api and info.path == path and method in info.methods:
                return info
        raise KeyError((method, path))

    def url(self, path: str) -> str:
        return path.format(**{k: self.params.get(k, "1") for k in _placeholders(path)})

    def audit_count(self) -> int:
        with self.app.state.db.session() as s:
            return audit.count(s)

    def rows(self) -> dict[str, int]:
        """The number of rows of every table but the audit log's and the sessions'
        (which a refusal may write: its line, a session's last use)."""
        skip = {"audit_log", "audit_checkpoint", "web_sessions", "login_throttle"}
        engine = self.app.state.db.engine
        names = sorted(set(inspect(engine).get_table_names()) - skip)
        with engine.connect() as c:
            return {n: c.execute(text(f'SELECT count(*) FROM "{n}"')).scalar() or 0 for n in names}


def _placeholders(path: str) -> list[str]:
    import re

    return re.findall(r"{([^}:]+)(?::[^}]*)?}", path)


def _param_values(app: FastAPI) -> dict[str, str]:
    """Real values for path parameters, from the seeded site."""
    values: dict[str, str] = {"token": "not-a-real-token"}
    engine = app.state.db.engine
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as c:

        def first(sql: str) -> Any:
            return c.execute(text(sql)).scalar()

        values["user_id"] = str(first("SELECT id FROM users WHERE name = 'researcher'"))
        if "projects" in tables:
            with_request = first(
                "SELECT p.id FROM projects p JOIN release_requests r ON r.project = p.slug "
                "ORDER BY p.id LIMIT 1"
            )
            project = with_request or first("SELECT min(id) FROM projects")
            if project is not None:
                values["project_id"] = str(project)
                request = first(
                    "SELECT min(r.id) FROM release_requests r JOIN projects p "
                    f"ON r.project = p.slug WHERE p.id = {int(project)}"
                )
                if request is not None:
                    values["request_id"] = str(request)
        if "request_id" not in values:
            values["request_id"] = str(first("SELECT min(id) FROM release_requests") or 1)
        if "courses" in tables:
            values["slug"] = str(first("SELECT min(slug) FROM courses") or "x")
        if "statements" in tables:
            columns = {col["name"] for col in inspect(engine).get_columns("statements")}
            if "code" in columns:
                values["code"] = str(first("SELECT min(code) FROM statements") or "x")
        for table in sorted(tables):  # generic: {thing_id} -> min(id) of table things
            key = (table[:-1] if table.endswith("s") else table) + "_id"
            if key not in values:
                found = (
                    first(f"SELECT min(id) FROM {table}")
                    if "id" in {col["name"] for col in inspect(engine).get_columns(table)}
                    else None
                )
                if found is not None:
                    values[key] = str(found)
    return values


def _lapsed_member(app: FastAPI, project_id: str, how: str) -> tuple[str, str]:
    """A researcher who joined the project as the rules require, and then no longer
    meets them: their accreditation expired (``expired``) or their researcher role
    was revoked (``role``)."""
    email = f"lapsed.{how}@example.org"
    with app.state.db.session(write=True) as s:
        user = User(
            name=f"lapsed-{how}",
            role=Role.RESEARCHER.value,
            email=email,
            password_hash=hash_password(OUTSIDER_PASSWORD),
            display_name=f"Lapsed {how}",
            organisation="Elsewhere",
            is_active=True,
        )
        user.role_rows.append(UserRole(role=Role.RESEARCHER.value, granted_by="test"))
        s.add(user)
        s.commit()
        join(s, int(project_id), user.name)
        if how == "role":
            set_roles(s, user, {Role.TRAINER.value}, "test")
        else:
            for held in accreditation.accreditations_of(s, user.id):
                held.row.expires_at = utcnow() - timedelta(days=1)
        s.commit()
    return email, OUTSIDER_PASSWORD


def _outsider(app: FastAPI, role: str) -> tuple[str, str]:
    email = f"outsider.{role}@example.org"
    with app.state.db.session(write=True) as s:
        user = User(
            name=f"outsider-{role}",
            role=role,
            email=email,
            password_hash=hash_password(OUTSIDER_PASSWORD),
            display_name=f"Outsider {role}",
            organisation="Elsewhere",
            is_active=True,
        )
        user.role_rows.append(UserRole(role=role, granted_by="test"))
        s.add(user)
        s.commit()
    return email, OUTSIDER_PASSWORD


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    _seeded_template: tuple[Path, list[dict[str, Any]]],
) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("security") / "fivesafes.db"
    shutil.copyfile(_seeded_template[0], path)
    app = create_app(f"sqlite:///{path}")
    users = {u["key"]: u for u in _seeded_template[1]}
    clients: list[WebClient] = []

    def client() -> WebClient:
        c = WebClient(app)
        c.users = users
        clients.append(c)
        return c

    outsiders = {}
    for role in NON_ADMIN_ROLES:
        outsiders[role] = client()
        outsiders[role].login(*_outsider(app, role))
    anonymous = client()
    anonymous.csrf_token("/login")  # a visitor's session, so that CSRF is not what stops it
    params = _param_values(app)
    lapsed = {}
    for how in LAPSES:
        lapsed[how] = client()
        lapsed[how].login(*_lapsed_member(app, params["project_id"], how))
    admin = client().login_as("administrator")
    yield Site(app, anonymous, admin, outsiders, params, lapsed)
    for c in clients:
        c.close()
    app.state.db.dispose()


def _request(site: Site, client: WebClient, method: str, path: str, token: bool = True) -> Any:
    data = {"csrf_token": client.csrf_token()} if token and method != "GET" else {}
    return client.request(method, site.url(path), data=data or None, follow_redirects=False)


def test_every_route_is_public_or_protected(site: Site) -> None:
    assert unprotected(list(site.app.routes)) == []
    assert ("GET", "/healthz") in ROUTES and ("GET", "/admin/audit") in ROUTES
    assert ("GET", "/login") in ROUTES


#: The routes of membership changes and of review, and what each requires.
GOVERNANCE_ROUTES = {
    ("POST", "/projects/{project_id}/members"): "project_member",
    ("POST", "/projects/{project_id}/members/{user_id}/remove"): "project_member",
    ("POST", "/projects/{project_id}/invitations/{invitation_id}/withdraw"): "project_member",
    ("GET", "/invitations/{invitation_id}"): "invitee",
    ("POST", "/invitations/{invitation_id}/accept"): "invitee",
    ("POST", "/invitations/{invitation_id}/decline"): "invitee",
    ("GET", "/projects/{project_id}/review"): "project_reviewer",
    ("POST", "/projects/{project_id}/review"): "project_reviewer",
    ("POST", "/projects/{project_id}/review/invitations/{invitation_id}"): "project_reviewer",
    ("POST", "/projects/{project_id}/review/rules"): "project_reviewer",
}


def test_membership_changes_and_review_pages_carry_their_rules(site: Site) -> None:
    """Every route that changes who is a member, or shows or takes a review, is in
    the route table with the requirement the tests above then exercise."""
    for (method, path), flag in GOVERNANCE_ROUTES.items():
        assert (method, path) in PROTECTED, (method, path)
        assert _needs(site, method, path, flag), (method, path, flag)


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_a_visitor_is_sent_to_log_in(site: Site, method: str, path: str) -> None:
    before = site.audit_count()
    response = _request(site, site.anonymous, method, path)
    if is_json_path(path):
        assert response.status_code == 401, response.text[:300]
        assert response.json()["detail"]
    else:
        assert response.status_code == 303, response.text[:300]
        assert response.headers["location"].startswith("/login?next=")
    assert site.audit_count() == before


def _roles_of(site: Site, method: str, path: str) -> tuple[set[str], bool]:
    needs = site.route(method, path).access
    roles: set[str] = set()
    member = False
    for need in needs:
        roles |= set(need.get("roles", []))
        member = member or bool(need.get("project_member"))
    return roles, member


def _needs(site: Site, method: str, path: str, flag: str) -> bool:
    return any(need.get(flag) for need in site.route(method, path).access)


ROLE_ROUTES = [(m, p) for m, p in PROTECTED]


@pytest.mark.parametrize(("method", "path"), ROLE_ROUTES, ids=[f"{m} {p}" for m, p in ROLE_ROUTES])
def test_a_user_without_the_role_or_membership_is_refused(
    site: Site, method: str, path: str
) -> None:
    roles, member = _roles_of(site, method, path)
    reviewer = _needs(site, method, path, "project_reviewer")
    invitee = _needs(site, method, path, "invitee")
    if not roles and not member and not invitee:
        pytest.skip("any logged-in user may use it")
    if reviewer:
        # holding the role is not enough: a data owner of none of its datasets, who
        # never decided on it, does not review the project (nor read its review)
        before = site.audit_count()
        response = _request(site, site.outsiders[Role.DATA_OWNER.value], method, path)
        assert response.status_code == 403, (response.status_code, response.text[:300])
        assert site.audit_count() == before
    if invitee:
        before = site.audit_count()
        response = _request(site, site.outsiders[Role.RESEARCHER.value], method, path)
        assert response.status_code == 403, (response.status_code, response.text[:300])
        assert site.audit_count() == before
    if roles:
        wrong = next(r for r in NON_ADMIN_ROLES if r not in roles)
        before = site.audit_count()
        response = _request(site, site.outsiders[wrong], method, path)
        assert response.status_code == 403, (wrong, response.status_code, response.text[:300])
        assert site.audit_count() == before
    if member:
        right = sorted(roles)[0] if roles else Role.RESEARCHER.value
        if right == Role.ADMINISTRATOR.value:
            pytest.skip("only administrators, who may see every project")
        before = site.audit_count()
        response = _request(site, site.outsiders[right], method, path)
        assert response.status_code == 403, (right, response.status_code, response.text[:300])
        assert site.audit_count() == before


#: Where a project's data and outputs are reached through membership.
DATA_PREFIXES = (
    "/projects/{project_id}/workspace",
    "/projects/{project_id}/jobs",
    "/projects/{project_id}/airlock",
)
DATA_ROUTES = [(m, p) for m, p in PROTECTED if p.startswith(DATA_PREFIXES)]


def test_every_route_to_a_projects_data_needs_a_member_who_meets_the_rule(site: Site) -> None:
    assert len(DATA_ROUTES) >= 15, DATA_ROUTES
    for method, path in DATA_ROUTES:
        assert _needs(site, method, path, "member_access"), (method, path)


@pytest.mark.parametrize(("method", "path"), DATA_ROUTES, ids=[f"{m} {p}" for m, p in DATA_ROUTES])
def test_a_member_who_no_longer_meets_the_rule_is_refused(
    site: Site, method: str, path: str
) -> None:
    for how, client in site.lapsed.items():
        rows, before = site.rows(), site.audit_count()
        response = _request(site, client, method, path)
        assert response.status_code == 403, (how, response.status_code, response.text[:300])
        text = response.json()["detail"] if is_json_path(path) else response.text
        assert "stays a member" in text, (how, text[:300])
        assert site.rows() == rows
        assert site.audit_count() == before + 1
        with site.app.state.db.session() as s:
            last = audit.entries(s, subject=f"project:{site.params['project_id']}")[-1]
        assert (last.actor, last.action) == (f"lapsed-{how}", "project.refused")


def test_a_member_who_no_longer_meets_the_rule_still_sees_the_project_and_their_plan(
    site: Site,
) -> None:
    """Their membership and its history stay: the project's page lists them, and
    their learning plan says what to renew."""
    project = site.params["project_id"]
    for how, client in site.lapsed.items():
        page = client.get(f"/projects/{project}")
        assert page.status_code == 200 and f"lapsed-{how}" in page.text, how
        assert client.get(f"/learning/plan?project={project}").status_code == 200


@pytest.mark.parametrize(("method", "path"), POSTS, ids=[f"{m} {p}" for m, p in POSTS])
def test_a_post_without_a_valid_csrf_token_is_refused(site: Site, method: str, path: str) -> None:
    before = site.audit_count()
    for client in (site.admin, site.anonymous):
        missing = _request(site, client, method, path, token=False)
        assert missing.status_code == 403, missing.text[:300]
        forged = client.request(
            method, site.url(path), data={"csrf_token": "forged"}, follow_redirects=False
        )
        assert forged.status_code == 403
    other_session = site.outsiders[Role.RESEARCHER.value].csrf_token()
    stolen = site.admin.request(
        method, site.url(path), data={"csrf_token": other_session}, follow_redirects=False
    )
    assert stolen.status_code == 403
    assert site.audit_count() == before


PUBLIC_GETS = [(m, p) for m, p in ROUTES if p in PUBLIC and m == "GET"]


@pytest.mark.parametrize(("method", "path"), PUBLIC_GETS, ids=[f"{m} {p}" for m, p in PUBLIC_GETS])
def test_public_pages_answer_a_visitor(site: Site, method: str, path: str) -> None:
    response = site.anonymous.fresh().get(site.url(path), follow_redirects=False)
    assert response.status_code in (200, 301, 303, 404), response.status_code
    if response.status_code == 301:  # moved for good (the icon), never to the log-in page
        assert not response.headers["location"].startswith("/login")
    if path in ("/healthz",):
        assert response.json() == {"status": "ok"}


def test_the_admin_passes_every_role_check(site: Site) -> None:
    for method, path in PROTECTED:
        roles, member = _roles_of(site, method, path)
        if method == "GET" and roles and not member and "{" not in path:
            response = site.admin.get(path, follow_redirects=False)
            assert response.status_code == 200, (path, response.status_code)


if os.environ.get("FIVESAFES_DEBUG_ROUTES"):  # pragma: no cover - a developer's aid
    print(*ROUTES, sep="\n")
