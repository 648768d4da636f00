"""Accounts through the pages: registration with a profile, log in and out,
sessions, CSRF, the profile page, password reset by an administrator's link.
Every form with a mistake answers 422, says what is wrong next to the field and
in a summary at the top, keeps what was typed, and saves nothing."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from webclient import WebClient, csrf_from

from fivesafes import audit
from fivesafes.appdb.models import User, WebSession
from fivesafes.web.app import create_app
from fivesafes.web.sessions import COOKIE

GOOD = {
    "display_name": "Ann Example",
    "email": "Ann.Example@Uni.example",
    "organisation": "University of Example",
    "role_requested": "researcher",
    "research_interests": "School absence and later earnings",
    "password": "kettle orbit lantern 7",
    "password_confirm": "kettle orbit lantern 7",
}


def count_users(app: FastAPI) -> int:
    with app.state.db.session() as s:
        return s.scalar(select(func.count()).select_from(User)) or 0


def test_registration_creates_the_account_logs_in_and_shows_the_profile(
    client: WebClient, app: FastAPI
) -> None:
    before = count_users(app)
    page = client.get("/register")
    assert page.status_code == 200
    for label in ("Full name", "E-mail address", "Organisation", "Role you need"):
        assert label in page.text
    response = client.post_form("/register", GOOD)
    assert response.status_code == 303 and response.headers["location"] == "/profile"
    profile = client.get("/profile")
    assert profile.status_code == 200
    assert "Your account has been created." in profile.text
    assert "ann.example@uni.example" in profile.text  # e-mails are kept in lower case
    assert "University of Example" in profile.text
    assert count_users(app) == before + 1
    with app.state.db.session() as s:
        ann = s.scalar(select(User).where(User.email == "ann.example@uni.example"))
        assert ann is not None
        assert ann.name == "ann.example" and ann.roles == {"researcher"}
        assert ann.password_hash is not None and ann.password_hash.startswith("$argon2id$")
        assert "kettle" not in ann.password_hash
        last = audit.entries(s, actor="ann.example")
        assert [e.action for e in last] == ["user.register"]


def test_a_role_other_than_researcher_waits_for_an_administrator(
    client: WebClient, app: FastAPI
) -> None:
    response = client.post_form("/register", GOOD | {"role_requested": "output_checker"})
    assert response.status_code == 303
    page = client.get("/profile")
    assert "An administrator will look at the role you asked for." in page.text
    assert "waiting for an administrator" in page.text
    with app.state.db.session() as s:
        ann = s.scalar(select(User).where(User.email == "ann.example@uni.example"))
        assert ann is not None and ann.roles == set() and ann.role_requested == "output_checker"
    assert client.get("/admin/users").status_code == 403


def test_registration_errors_are_shown_by_field_keep_the_input_and_save_nothing(
    client: WebClient, app: FastAPI
) -> None:
    before = count_users(app)
    bad = GOOD | {
        "display_name": "",
        "email": "not-an-email",
        "role_requested": "administrator",
        "password": "short",
        "password_confirm": "short",
    }
    response = client.post_form("/register", bad)
    assert response.status_code == 422
    html = response.text
    assert "There is a problem" in html
    for field, message in (
        ("display_name", "Enter your full name"),
        ("email", "Enter an e-mail address in the correct format"),
        ("role_requested", "Choose the role you need"),
        ("password", "at least 10 characters"),
    ):
        assert f'href="#{field}"' in html  # the summary links to the field
        assert message in html
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', html, re.S), field
        assert f'aria-describedby="{field}-hint {field}-error"' in html or (
            f'aria-describedby="{field}-error"' in html
        )
    # What was typed is kept (but never a password).
    assert 'value="University of Example"' in html
    assert "School absence and later earnings</textarea>" in html
    assert 'value="not-an-email"' in html
    assert "short" not in re.sub(r"<p class=\"error-message\".*?</p>", "", html, flags=re.S)
    assert response.text.count("<title>Error: ") == 1
    assert count_users(app) == before
    # A mismatched confirmation and an e-mail already registered.
    mismatch = client.post_form("/register", GOOD | {"password_confirm": "kettle orbit lantern 8"})
    assert mismatch.status_code == 422 and "Enter the same password twice" in mismatch.text
    taken = client.post_form("/register", GOOD | {"email": client.users["researcher"]["email"]})
    assert taken.status_code == 422 and "already exists; log in instead" in taken.text
    assert count_users(app) == before


def test_log_in_rotates_the_session_and_goes_where_the_visitor_was_going(
    client: WebClient, app: FastAPI
) -> None:
    page = client.get("/login?next=/profile")
    assert (
        page.status_code == 200 and 'name="email"' in page.text and 'name="password"' in page.text
    )
    anonymous = client.cookies.get(COOKIE)
    assert anonymous  # the form needed a session for its CSRF token
    wrong = client.post_form(
        "/login",
        {"email": client.users["researcher"]["email"], "password": "nope", "next": "/profile"},
    )
    assert wrong.status_code == 422
    assert "The e-mail address or the password is not right" in wrong.text
    assert f'value="{client.users["researcher"]["email"]}"' in wrong.text
    unknown = client.post_form("/login", {"email": "who@example.org", "password": "whatever1234"})
    assert unknown.status_code == 422
    ok = client.post_form(
        "/login",
        {
            "email": client.users["researcher"]["email"].upper(),
            "password": client.users["researcher"]["password"],
            "next": "/profile",
        },
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/profile"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.cookies.get(COOKIE) != anonymous  # a planted session id is worth nothing
    assert "Rosa Researcher" in client.get("/profile").text
    with app.state.db.session() as s:
        hashes = set(s.scalars(select(WebSession.token_hash)))
    assert client.cookies.get(COOKIE) not in hashes  # only the SHA-256 is stored


def test_next_never_leads_to_another_site(client: WebClient) -> None:
    user = client.users["researcher"]
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        other = client.fresh()
        response = other.post_form(
            "/login", {"email": user["email"], "password": user["password"], "next": target}
        )
        assert response.headers["location"] == "/"


def test_log_out_ends_the_session_on_the_server(client: WebClient, app: FastAPI) -> None:
    client.login_as("researcher")
    cookie = client.cookies.get(COOKIE)
    assert client.get("/profile").status_code == 200
    response = client.post_form("/logout", token_from="/profile")
    assert response.status_code == 303 and response.headers["location"] == "/login?out=1"
    assert "You have logged out." in client.get("/login?out=1").text
    replay = client.fresh()
    replay.cookies.set(COOKIE, cookie or "")
    assert replay.get("/profile", follow_redirects=False).status_code == 303


def test_csrf_tokens_are_required_and_tied_to_the_session(client: WebClient) -> None:
    client.login_as("researcher")
    data = GOOD | {"display_name": "Changed Name"}
    assert client.post("/profile", data=data, follow_redirects=False).status_code == 403
    assert client.post("/profile", data=data | {"csrf_token": "forged"}).status_code == 403
    other = client.fresh()
    foreign = other.csrf_token("/login")  # a valid token of another browser's session
    refused = client.post("/profile", data=data | {"csrf_token": foreign}, follow_redirects=False)
    assert refused.status_code == 403
    assert "not sent from a page of this site" in refused.text
    token = client.csrf_token("/profile")
    by_header = client.post(
        "/profile",
        data=data | {"email": client.users["researcher"]["email"]},
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert by_header.status_code == 303
    assert "Changed Name" in client.get("/profile").text
    # A visitor without any session cannot post either (no log-in CSRF).
    assert client.fresh().post("/login", data={"email": "a@b.example"}).status_code == 403


def test_profile_changes_are_checked_saved_and_logged(client: WebClient, app: FastAPI) -> None:
    client.login_as("researcher")
    me = client.users["researcher"]
    bad = client.post_form(
        "/profile",
        {
            "display_name": "Rosa R.",
            "email": client.users["data_owner"]["email"],
            "organisation": "",
            "research_interests": "x" * 2001,
        },
    )
    assert bad.status_code == 422
    assert "Another account uses this e-mail address" in bad.text
    assert "Enter your organisation" in bad.text
    assert "2000 characters or fewer" in bad.text
    assert 'value="Rosa R."' in bad.text  # kept
    with app.state.db.session() as s:
        assert (
            s.scalar(select(User.display_name).where(User.name == "researcher"))
            == "Rosa Researcher"
        )
    ok = client.post_form(
        "/profile",
        {
            "display_name": "Rosa R.",
            "email": me["email"],
            "organisation": "Northshire",
            "research_interests": "Trajectories",
        },
    )
    assert ok.status_code == 303
    page = client.get("/profile")
    assert "Your profile has been saved." in page.text and 'value="Northshire"' in page.text
    assert "Logged in as" in page.text and "Rosa R." in page.text
    with app.state.db.session() as s:
        entry = audit.entries(s, action="user.profile")[-1]
        assert audit.details_of(entry) == {
            "changed": ["display_name", "organisation", "research_interests"]
        }


def test_changing_the_password_needs_the_current_one_and_logs_out_other_browsers(
    client: WebClient,
) -> None:
    me = client.users["researcher"]
    client.login_as("researcher")
    elsewhere = client.fresh().login_as("researcher")
    wrong = client.post_form(
        "/profile/password",
        {
            "current_password": "wrong",
            "new_password": "a new long secret",
            "new_password_confirm": "a new long secret",
        },
    )
    assert wrong.status_code == 422 and "Enter your current password" in wrong.text
    ok = client.post_form(
        "/profile/password",
        {
            "current_password": me["password"],
            "new_password": "a new long secret",
            "new_password_confirm": "a new long secret",
        },
    )
    assert ok.status_code == 303
    assert client.get("/profile").status_code == 200  # this browser stays in
    assert elsewhere.get("/profile", follow_redirects=False).status_code == 303
    again = client.fresh()
    assert (
        again.post_form("/login", {"email": me["email"], "password": me["password"]}).status_code
        == 422
    )
    again.login(me["email"], "a new long secret")


def test_password_reset_by_an_administrators_one_time_link(client: WebClient, app: FastAPI) -> None:
    me = client.users["researcher"]
    victim_browser = client.fresh().login_as("researcher")
    admin = client.fresh().login_as("administrator")
    with app.state.db.session() as s:
        user_id = s.scalar(select(User.id).where(User.name == "researcher"))
    page = admin.post_form(f"/admin/users/{user_id}/reset", token_from=f"/admin/users/{user_id}")
    assert page.status_code == 200 and "One-time password link" in page.text
    link = re.search(r'<code id="reset-link">([^<]+)</code>', page.text)
    assert link is not None
    path = link.group(1).replace("http://testserver", "")
    assert path.startswith("/password-reset/")
    visitor = client.fresh()
    form = visitor.get(path)
    assert form.status_code == 200 and "Choose a new password" in form.text
    token = csrf_from(form.text)
    short = visitor.post(
        path, data={"password": "short", "password_confirm": "short", "csrf_token": token}
    )
    assert short.status_code == 422 and "at least 10 characters" in short.text
    done = visitor.post(
        path,
        data={
            "password": "brand new secret 9",
            "password_confirm": "brand new secret 9",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?reset=1"
    assert victim_browser.get("/profile", follow_redirects=False).status_code == 303  # logged out
    assert visitor.get(path).status_code == 404  # used once
    assert (
        visitor.post_form("/login", {"email": me["email"], "password": me["password"]}).status_code
        == 422
    )
    visitor.login(me["email"], "brand new secret 9")
    assert client.fresh().get("/password-reset/made-up-token").status_code == 404
    with app.state.db.session() as s:
        actions = [e.action for e in audit.entries(s, subject="user:researcher")]
    assert actions[-4:] == [
        "user.reset_issued",
        "user.password_reset",
        "user.login_failed",  # the old password, tried after the reset
        "user.login",
    ]


def test_a_deactivated_user_is_logged_out_and_cannot_log_in(
    client: WebClient, app: FastAPI
) -> None:
    me = client.users["researcher2"]
    theirs = client.fresh().login_as("researcher2")
    admin = client.fresh().login_as("administrator")
    with app.state.db.session() as s:
        user_id = s.scalar(select(User.id).where(User.name == "researcher2"))
    response = admin.post_form(
        f"/admin/users/{user_id}/active",
        {"action": "deactivate"},
        token_from=f"/admin/users/{user_id}",
    )
    assert response.status_code == 303
    assert theirs.get("/profile", follow_redirects=False).status_code == 303
    refused = client.fresh().post_form("/login", {"email": me["email"], "password": me["password"]})
    assert refused.status_code == 422 and "This account has been closed" in refused.text


def test_secure_cookies_when_served_over_https(seeded_db: str, demo_users: dict) -> None:
    app = create_app(seeded_db, secure_cookies=True)
    try:
        with WebClient(app, base_url="https://testserver") as c:
            c.users = demo_users
            response = c.login_as("researcher")
            page = c.get("/profile")
            assert page.status_code == 200
            assert "Secure" in c.get("/login").headers.get("set-cookie", "Secure")
            assert page.headers["cache-control"] == "no-store"
            assert page.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert response is c
    finally:
        app.state.db.dispose()


def test_healthz(client: WebClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_an_expired_session_is_a_visitor_again_and_is_cleared_out(
    client: WebClient, app: FastAPI
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    client.login_as("researcher")
    with app.state.db.session(write=True) as s:
        s.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
        s.commit()
    response = client.get("/profile", follow_redirects=False)
    assert response.status_code == 303
    assert "Max-Age=0" in response.headers["set-cookie"]  # the stale cookie is dropped
    other = client.fresh().login_as("researcher2")
    with app.state.db.session() as s:
        left = list(s.scalars(select(WebSession)))
    assert all(row.expires_at is not None for row in left)
    assert len([row for row in left if row.user_id is not None]) == 1
    assert other.get("/profile").status_code == 200


def test_repeated_wrong_passwords_lock_the_account_for_a_while(
    client: WebClient, app: FastAPI
) -> None:
    me = client.users["researcher"]
    for _ in range(5):
        wrong = client.post_form("/login", {"email": me["email"], "password": "guess-123456"})
        assert "The e-mail address or the password is not right" in wrong.text
    right = client.post_form("/login", {"email": me["email"], "password": me["password"]})
    assert right.status_code == 422
    assert "Too many wrong passwords for this e-mail address: try again after" in right.text
    with app.state.db.session() as s:
        failed = audit.entries(s, subject="user:researcher", action="user.login_failed")
        assert [(e.actor, e.action) for e in failed] == [("system", "user.login_failed")] * 5
    # Another account is not affected; a reset link from an administrator lifts the lock.
    admin = client.fresh().login_as("administrator")
    with app.state.db.session() as s:
        target = s.scalar(select(User.id).where(User.name == "researcher"))
    page = admin.post_form(f"/admin/users/{target}/reset", token_from="/admin")
    link = re.search(r'<code id="reset-link">http://testserver([^<]+)</code>', page.text)
    assert link is not None
    client.post_form(
        link.group(1), {"password": "fresh start 2026!", "password_confirm": "fresh start 2026!"}
    )
    client.login(me["email"], "fresh start 2026!")


def test_the_lock_out_does_not_tell_an_attacker_which_addresses_have_accounts(
    client: WebClient, app: FastAPI
) -> None:
    """An attacker guessing six times at a real and at a made-up address sees the same
    pages: unknown addresses lock too, and the audit log keeps only a digest of them."""
    real = client.users["researcher2"]["email"]
    made_up = "nobody-here@example.org"
    pages: dict[str, list[tuple[int, str]]] = {}
    for email in (real, made_up):
        attacker = client.fresh()
        seen = []
        for _ in range(6):
            r = attacker.post_form("/login", {"email": email, "password": "guess-123456"})
            message = re.search(r'class="error-summary".*?</div>', r.text, re.S)
            seen.append(
                (
                    r.status_code,
                    re.sub(r"\d\d:\d\d", "HH:MM", message.group(0) if message else r.text),
                )
            )
        pages[email] = seen
    assert pages[real] == pages[made_up]
    assert "Too many wrong passwords" in pages[made_up][-1][1]
    with app.state.db.session() as s:
        logged = [e.subject for e in audit.entries(s, action="user.login_failed")]
    assert made_up not in " ".join(logged)
    assert sum(subject.startswith("login:") for subject in logged) == 5


def test_a_closed_account_is_only_named_to_whoever_knows_its_password(
    client: WebClient, app: FastAPI
) -> None:
    me = client.users["trainer"]
    with app.state.db.session(write=True) as s:
        s.execute(update(User).where(User.name == "trainer").values(is_active=False))
        s.commit()
    wrong = client.post_form("/login", {"email": me["email"], "password": "not the password"})
    assert "The e-mail address or the password is not right" in wrong.text
    right = client.post_form("/login", {"email": me["email"], "password": me["password"]})
    assert "This account has been closed" in right.text


def test_a_session_ends_a_day_after_log_in_however_active(client: WebClient, app: FastAPI) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    client.login_as("researcher")
    with app.state.db.session(write=True) as s:
        s.execute(update(WebSession).values(created_at=datetime.now(UTC) - timedelta(hours=25)))
        s.commit()
    assert client.get("/profile", follow_redirects=False).status_code == 303


def test_the_icon_is_served_to_pages_and_to_browsers_asking_for_favicon_ico(
    client: WebClient,
) -> None:
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/login").text
    moved = client.get("/favicon.ico", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "/static/favicon.svg"
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.text.startswith("<svg")


def test_links_that_leave_the_site_use_the_configured_address_not_the_host_header(
    seeded_db: str, demo_users: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged Host header must not end up in a reset link an administrator hands
    over: with FIVESAFES_PUBLIC_URL set, links are built from it."""
    monkeypatch.setenv("FIVESAFES_PUBLIC_URL", "https://tre.example.ac.uk/")
    app = create_app(seeded_db)
    try:
        with WebClient(app, base_url="http://attacker.example") as admin:
            admin.users = demo_users
            admin.login_as("administrator")
            with app.state.db.session() as s:
                target = s.scalar(select(User.id).where(User.name == "researcher"))
            page = admin.post_form(f"/admin/users/{target}/reset", token_from="/admin")
            link = re.search(r'<code id="reset-link">([^<]+)</code>', page.text)
            assert link is not None
            assert link.group(1).startswith("https://tre.example.ac.uk/password-reset/")
            assert "attacker" not in link.group(1)
    finally:
        app.state.db.dispose()
    for bad in ("tre.example.ac.uk", "ftp://tre.example.ac.uk", "https://x.org/?a=1"):
        monkeypatch.setenv("FIVESAFES_PUBLIC_URL", bad)
        with pytest.raises(ValueError, match="FIVESAFES_PUBLIC_URL"):
            create_app(seeded_db)
