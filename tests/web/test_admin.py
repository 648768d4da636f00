"""Administration through the pages: users, roles (grant, revoke, decide on a
requested role), deactivation, new staff accounts with a one-time link. Every
change is in the audit log under the administrator's name."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy import func, select
from webclient import WebClient

from fivesafes import audit
from fivesafes.appdb.models import User


def user_id(app: FastAPI, name: str) -> int:
    with app.state.db.session() as s:
        found = s.scalar(select(User.id).where(User.name == name))
        assert found is not None
        return found


def roles_of(app: FastAPI, name: str) -> tuple[set[str], str, str | None]:
    with app.state.db.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        assert user is not None
        return user.roles, user.role, user.role_requested


def test_the_users_page_lists_filters_and_shows_pending_requests(
    client: WebClient, app: FastAPI
) -> None:
    applicant = client.fresh()
    applicant.post_form(
        "/register",
        {
            "display_name": "Chen Checker",
            "email": "chen@example.net",
            "organisation": "TRE",
            "role_requested": "output_checker",
            "password": "a long enough secret",
            "password_confirm": "a long enough secret",
        },
    )
    client.login_as("administrator")
    index = client.get("/admin")
    assert index.status_code == 200 and "1 waiting for a role decision" in index.text
    everyone = client.get("/admin/users")
    for name in ("Rosa Researcher", "Olu Checker", "Chen Checker"):
        assert name in everyone.text
    pending = client.get("/admin/users?status=pending")
    assert "Chen Checker" in pending.text and "Rosa Researcher" not in pending.text
    assert "Asks for Output checker" in pending.text
    checkers = client.get("/admin/users?role=output_checker")
    assert "Olu Checker" in checkers.text and "Rosa Researcher" not in checkers.text
    search = client.get("/admin/users?q=northshire")
    assert "Rosa Researcher" in search.text and "Olu Checker" not in search.text
    assert client.get("/admin/users/999999").status_code == 404
    assert client.get("/admin/users/abc").status_code == 404


def test_granting_and_revoking_roles_keeps_the_primary_role_and_logs_each_change(
    client: WebClient, app: FastAPI
) -> None:
    client.login_as("administrator")
    target = user_id(app, "researcher2")
    page = f"/admin/users/{target}"
    response = client.post_form(
        f"{page}/roles", {"roles": ["researcher", "output_checker"]}, token_from=page
    )
    assert response.status_code == 303
    assert "granted output checker" in client.get(page).text
    assert roles_of(app, "researcher2") == ({"researcher", "output_checker"}, "researcher", None)
    # The user's own session sees the new role at once.
    theirs = client.fresh().login_as("researcher2")
    client.post_form(f"{page}/roles", {"roles": ["output_checker"]}, token_from=page)
    assert roles_of(app, "researcher2") == ({"output_checker"}, "output_checker", None)
    assert "Output checker" in theirs.get("/profile").text
    client.post_form(f"{page}/roles", {}, token_from=page)  # no role at all
    assert roles_of(app, "researcher2") == (set(), "", None)
    bad = client.post_form(f"{page}/roles", {"roles": ["emperor"]}, token_from=page)
    assert bad.status_code == 422 and "Choose roles from the list" in bad.text
    with app.state.db.session() as s:
        changes = [
            (e.actor, e.action, audit.details_of(e)["role"])
            for e in audit.entries(s, subject="user:researcher2")
            if e.action.startswith("user.grant") or e.action.startswith("user.revoke")
        ]
    assert changes == [
        ("administrator", "user.grant_role", "output_checker"),
        ("administrator", "user.revoke_role", "researcher"),
        ("administrator", "user.revoke_role", "output_checker"),
    ]


def test_a_requested_role_is_granted_or_declined(client: WebClient, app: FastAPI) -> None:
    for email, name in (("dee@example.net", "dee"), ("eve@example.net", "eve")):
        client.fresh().post_form(
            "/register",
            {
                "display_name": name.title(),
                "email": email,
                "organisation": "TRE",
                "role_requested": "data_owner",
                "password": "a long enough secret",
                "password_confirm": "a long enough secret",
            },
        )
    client.login_as("administrator")
    dee, eve = user_id(app, "dee"), user_id(app, "eve")
    assert "Asks for the role" in client.get(f"/admin/users/{dee}").text
    client.post_form(f"/admin/users/{dee}/roles", {"roles": ["data_owner"]}, token_from="/admin")
    assert roles_of(app, "dee") == ({"data_owner"}, "data_owner", None)
    client.post_form(f"/admin/users/{eve}/roles", {"decline_request": "yes"}, token_from="/admin")
    assert roles_of(app, "eve") == (set(), "", None)
    with app.state.db.session() as s:
        assert [e.action for e in audit.entries(s, subject="user:eve")][-1] == "user.decline_role"


def test_an_administrator_cannot_lock_themselves_out(client: WebClient, app: FastAPI) -> None:
    client.login_as("administrator")
    me = user_id(app, "administrator")
    response = client.post_form(
        f"/admin/users/{me}/roles", {"roles": ["researcher"]}, token_from="/admin"
    )
    assert response.status_code == 422
    assert "cannot remove your own administrator role" in response.text
    assert "administrator" in roles_of(app, "administrator")[0]
    refused = client.post_form(
        f"/admin/users/{me}/active", {"action": "deactivate"}, token_from="/admin"
    )
    assert refused.status_code == 403
    assert client.get("/admin").status_code == 200


def test_deactivating_and_reactivating_an_account(client: WebClient, app: FastAPI) -> None:
    client.login_as("administrator")
    target = user_id(app, "trainer")
    off = client.post_form(
        f"/admin/users/{target}/active", {"action": "deactivate"}, token_from="/admin"
    )
    assert off.status_code == 303
    assert "Deactivated" in client.get("/admin/users?status=inactive").text
    assert (
        client.fresh()
        .post_form(
            "/login",
            {
                "email": client.users["trainer"]["email"],
                "password": client.users["trainer"]["password"],
            },
        )
        .status_code
        == 422
    )
    client.post_form(f"/admin/users/{target}/active", {"action": "reactivate"}, token_from="/admin")
    client.fresh().login_as("trainer")
    bad = client.post_form(
        f"/admin/users/{target}/active", {"action": "explode"}, token_from="/admin"
    )
    assert bad.status_code == 422


def test_a_new_staff_account_gets_its_password_through_a_one_time_link(
    client: WebClient, app: FastAPI
) -> None:
    client.login_as("administrator")
    with app.state.db.session() as s:
        before = s.scalar(select(func.count()).select_from(User))
    bad = client.post_form(
        "/admin/users/new",
        {
            "display_name": "Kim Checker",
            "email": client.users["researcher"]["email"],
            "organisation": "",
            "roles": [],
        },
    )
    assert bad.status_code == 422
    for message in ("already exists", "Enter your organisation", "Choose at least one role"):
        assert message in bad.text
    assert 'value="Kim Checker"' in bad.text
    with app.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == before
    made = client.post_form(
        "/admin/users/new",
        {
            "display_name": "Kim Checker",
            "email": "kim@tre.example",
            "organisation": "TRE",
            "roles": ["output_checker", "panel_member"],
        },
    )
    assert made.status_code == 200 and "Account created." in made.text
    assert roles_of(app, "kim") == ({"output_checker", "panel_member"}, "output_checker", None)
    link = re.search(r'<code id="reset-link">http://testserver([^<]+)</code>', made.text)
    assert link is not None
    kim = client.fresh()
    kim.post_form(
        link.group(1), {"password": "kims own secret", "password_confirm": "kims own secret"}
    )
    kim.login("kim@tre.example", "kims own secret")
    assert "Kim Checker" in kim.get("/profile").text


def test_a_user_made_on_the_command_line_gets_an_email_and_a_password_link(
    client: WebClient, app: FastAPI
) -> None:
    from fivesafes.appdb import add_user

    with app.state.db.session(write=True) as s:
        add_user(s, "cli-carol", "output_checker", actor="administrator")
    client.login_as("administrator")
    carol = user_id(app, "cli-carol")
    page = f"/admin/users/{carol}"
    assert "made on the command line; cannot log in" in client.get(page).text
    bad = client.post_form(
        f"{page}/details",
        {
            "display_name": "Carol",
            "email": client.users["researcher"]["email"],
            "organisation": "TRE",
        },
        token_from=page,
    )
    assert bad.status_code == 422 and "Another account uses this e-mail address" in bad.text
    assert 'value="Carol"' in bad.text
    ok = client.post_form(
        f"{page}/details",
        {"display_name": "Carol Checker", "email": "Carol@TRE.example", "organisation": "TRE"},
        token_from=page,
    )
    assert ok.status_code == 303
    link = re.search(
        r'<code id="reset-link">http://testserver([^<]+)</code>',
        client.post_form(f"{page}/reset", token_from=page).text,
    )
    assert link is not None
    browser = client.fresh()
    browser.post_form(
        link.group(1), {"password": "blue harbour 77", "password_confirm": "blue harbour 77"}
    )
    browser.login("carol@tre.example", "blue harbour 77")
    assert "Output checker" in browser.get("/profile").text
    with app.state.db.session() as s:
        entry = audit.entries(s, action="user.details")[-1]
        assert (entry.actor, audit.details_of(entry)) == (
            "administrator",
            {"changed": ["display_name", "email", "organisation"]},
        )
