"""The web app attacked as a malicious user would (HTTP, no browser): other
people's things by changing ids in URLs, files outside the workspace, open
redirects, script in what users write, sessions and CSRF tokens reused, roles
granted to oneself, the airlock's rules bypassed by posting directly, and private
data in the public register. Each test names the hole it closes or the attack
that must keep failing."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import ReleaseRequest, User
from fivesafes.appdb.users import get_user
from fivesafes.demo.projects import FLAGGED_TABLE, PENDING_TITLE
from fivesafes.outputs import airlock
from fivesafes.projects import applications as apps
from fivesafes.projects.release import BUNDLES_ENV

APPROVED, PENDING = 1, 2
SEEDED_REQUEST = 1


@pytest.fixture
def db(seeded_db: str) -> Iterator[Session]:
    with session_factory(seeded_db)() as session:
        yield session


@pytest.fixture(autouse=True)
def bundles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bundles"
    monkeypatch.setenv(BUNDLES_ENV, str(folder))
    return folder


def _workspace(db: Session, tmp_path: Path, project_id: int = APPROVED) -> Path:
    """Give the project a workspace; returns its outputs folder."""
    workspace = tmp_path / "store" / "workspaces" / f"project-{project_id}" / "workspace.duckdb"
    outputs = workspace.parent / "outputs"
    outputs.mkdir(parents=True)
    project = apps.get_project(db, project_id)
    project.workspace, project.provisioning = str(workspace), "provisioned"
    db.commit()
    return outputs


def _start(client: Any, project_id: int = APPROVED, title: str = "Attack") -> str:
    started = client.post_form(f"/projects/{project_id}/airlock", {"title": title})
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


# --- files outside the workspace ---------------------------------------------------------


def test_a_symlink_in_the_workspace_outputs_folder_does_not_reach_outside(
    client: Any, db: Session, tmp_path: Path
) -> None:
    secret = tmp_path / "identifiers" / "persons.csv"
    secret.parent.mkdir()
    secret.write_text("nhs_number,name\n9434765919,Jane Doe\n")
    outputs = _workspace(db, tmp_path)
    (outputs / "by_area.csv").write_text(FLAGGED_TABLE)
    os.symlink(secret, outputs / "innocent.csv")
    os.symlink(secret.parent, outputs / "folder")

    me = client.login_as("researcher2")
    page = me.get(f"/projects/{APPROVED}/workspace")
    assert "by_area.csv" in page.text
    assert "innocent.csv" not in page.text
    request_path = _start(me)
    assert '<option value="innocent.csv">' not in me.get(request_path).text
    token = me.csrf_token(request_path)
    for chosen in ("innocent.csv", "folder/persons.csv", str(secret), "../../../identifiers"):
        refused = me.post(
            f"{request_path}/outputs",
            data={"csrf_token": token, "workspace_file": chosen, "description": "x"},
        )
        assert refused.status_code == 422 and "not among the workspace" in refused.text
    db.expire_all()
    req = db.get(ReleaseRequest, int(request_path.rsplit("/", 1)[1]))
    assert req is not None and req.outputs == []
    # the output folder itself swapped for a link to the identifiers
    for p in outputs.iterdir():
        p.unlink()
    outputs.rmdir()
    os.symlink(secret.parent, outputs)
    assert "persons.csv" not in me.get(f"/projects/{APPROVED}/workspace").text
    refused = me.post(
        f"{request_path}/outputs",
        data={"csrf_token": token, "workspace_file": "persons.csv", "description": "x"},
    )
    assert refused.status_code == 422 and "not among the workspace" in refused.text


def test_an_uploaded_file_name_cannot_climb_out_of_the_request(client: Any, db: Session) -> None:
    me = client.login_as("researcher")
    request_path = _start(me)
    token = me.csrf_token(request_path)
    for name in ("../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini"):
        response = me.post(
            f"{request_path}/outputs",
            data={"csrf_token": token, "description": "A table", "name": ""},
            files={"upload": (name, b"a,b\n1,2\n", "text/csv")},
            follow_redirects=False,
        )
        # either a clear refusal of the name or an output under a plain name
        assert response.status_code in (303, 422)
    db.expire_all()
    req = db.get(ReleaseRequest, int(request_path.rsplit("/", 1)[1]))
    assert req is not None
    for out in req.outputs:
        assert "/" not in out.name and "\\" not in out.name and not out.name.startswith(".")


# --- other people's things by changing ids -----------------------------------------------


def _approve_pending_with_a_request(db: Session) -> int:
    """Approve the pending project (researcher2's alone) and start a request in it."""
    panel, owner = get_user(db, "panel_member"), get_user(db, "data_owner")
    apps.review(db, PENDING, panel, "panel", "approve", "ok")
    for name in apps.dataset_names(apps.get_project(db, PENDING)):
        apps.review(db, PENDING, owner, "owner", "approve", "", dataset=name)
    slug = apps.get_project(db, PENDING).slug
    assert slug is not None
    req = airlock.create_request(db, "researcher2", slug, "Pay gaps")
    return req.id


def test_another_projects_request_is_not_reached_through_ones_own_project(
    client: Any, db: Session
) -> None:
    other = _approve_pending_with_a_request(db)
    me = client.login_as("researcher")  # a member of project 1 only
    for path in (
        f"/projects/{APPROVED}/airlock/{other}",
        f"/projects/{APPROVED}/airlock/{other}/bundle",
    ):
        assert me.get(path).status_code == 404, path
    assert me.get(f"/projects/{PENDING}/airlock/{other}").status_code == 403
    token = me.csrf_token(f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}")
    for step, data in (
        ("outputs/remove", {"output": "x"}),
        ("submit", {}),
        ("comment", {"body": "hello"}),
    ):
        response = me.post(
            f"/projects/{APPROVED}/airlock/{other}/{step}",
            data={**data, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 404, step
    upload = me.post(
        f"/projects/{APPROVED}/airlock/{other}/outputs",
        data={"csrf_token": token, "description": "x", "name": "x"},
        files={"upload": ("x.csv", b"a\n1\n", "text/csv")},
        follow_redirects=False,
    )
    assert upload.status_code == 404
    db.expire_all()
    req = db.get(ReleaseRequest, other)
    assert req is not None and req.outputs == [] and req.comments == []


def test_someone_elses_draft_application_is_not_shown_or_changed(client: Any, db: Session) -> None:
    me = client.login_as("researcher2")
    made = me.post_form(
        "/projects/new",
        {
            "title": "A secret draft",
            "lay_summary": "x",
            "public_benefit": "y",
            "organisation": "z",
            "datasets": "pupil_census",
        },
    )
    assert made.status_code == 303
    draft = int(made.headers["location"].rsplit("/", 1)[1])
    other = client.fresh().login_as("researcher")
    assert other.get(f"/projects/{draft}").status_code == 403
    assert other.get(f"/projects/{draft}/edit").status_code == 403
    token = other.csrf_token("/projects/new")
    for path, data in (
        (f"/projects/{draft}/edit", {"title": "Hijacked", "lay_summary": "x"}),
        (f"/projects/{draft}/submit", {}),
        (f"/projects/{draft}/members", {"who": "researcher", "role": "lead_researcher"}),
    ):
        response = other.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
    assert "A secret draft" not in other.get("/projects").text
    db.expire_all()
    project = apps.get_project(db, draft)
    assert project.title == "A secret draft" and project.state == "draft"
    assert not apps.is_member(db, draft, get_user(db, "researcher").id)
    # a panel member sees no draft either
    panel = client.fresh().login_as("panel_member")
    assert panel.get(f"/projects/{draft}/review").status_code == 404


def test_a_plain_member_cannot_make_themselves_lead_or_remove_the_lead(
    client: Any, db: Session
) -> None:
    me = client.login_as("researcher2")  # a researcher (not lead) in project 1
    lead_id = get_user(db, "researcher").id
    token = me.csrf_token(f"/projects/{APPROVED}")
    for path, data in (
        (f"/projects/{APPROVED}/members", {"who": "trainer", "role": "lead_researcher"}),
        (f"/projects/{APPROVED}/members/{lead_id}/remove", {}),
    ):
        response = me.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
    assert apps.membership(db, APPROVED, lead_id) is not None


def test_another_learners_statement_is_not_downloaded(client: Any, db: Session) -> None:
    from fivesafes.people.models import Statement

    researcher_id = get_user(db, "researcher").id
    code = db.scalar(select(Statement.code).where(Statement.user_id == researcher_id).limit(1))
    assert code is not None  # the demo's researcher has passed the induction
    path = f"/learning/statements/{code}.pdf"
    assert client.fresh().login_as("researcher").get(path).status_code == 200
    for stranger in ("researcher2", "output_checker", "trainer", "data_owner"):
        assert client.fresh().login_as(stranger).get(path).status_code == 403, stranger
    assert client.fresh().get(path, follow_redirects=False).status_code == 303


# --- the public register ---------------------------------------------------------------


def test_the_public_register_leaks_nothing_private(client: Any, db: Session) -> None:
    text = client.get("/projects/public.json").text + client.get("/projects/public").text
    assert PENDING_TITLE not in text
    for user in db.scalars(select(User)):
        assert user.email is None or user.email not in text, user.email
        assert f'"{user.name}"' not in text
    assert "workspace" not in client.get("/projects/public.json").text


# --- log-in, sessions, CSRF --------------------------------------------------------------


def _browser_target(location: str) -> str:
    """Where a browser would go for a Location header (it drops tabs and newlines and
    reads a backslash as a slash)."""
    return location.replace("\t", "").replace("\r", "").replace("\n", "").replace("\\", "/")


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "/%2F/evil.example",
        "/login\r\nSet-Cookie: fivesafes_session=planted",
    ],
)
def test_next_after_log_in_never_leads_off_the_site(client: Any, target: str) -> None:
    me = client.users["researcher"]
    response = client.post_form(
        "/login", {"email": me["email"], "password": me["password"], "next": target}
    )
    assert response.status_code == 303
    location = _browser_target(response.headers["location"])
    assert location.startswith("/") and not location.startswith("//"), location
    assert "planted" not in response.headers.get("set-cookie", "").split(";")[0]
    # and the log-in page's own redirect for a logged-in user
    again = client.get("/login", params={"next": target}, follow_redirects=False)
    location = _browser_target(again.headers["location"])
    assert location.startswith("/") and not location.startswith("//"), location


def test_a_planted_session_cookie_is_worth_nothing_after_log_in(client: Any) -> None:
    planted = "attacker-chosen-session-token"
    client.cookies.set("fivesafes_session", planted, domain="testserver.local")
    client.login_as("researcher")
    assert client.cookies.get("fivesafes_session") != planted
    victim_cookie = client.cookies.get("fivesafes_session")
    # the attacker's browser with the planted value is still a visitor
    attacker = client.fresh()
    attacker.cookies.set("fivesafes_session", planted, domain="testserver.local")
    assert attacker.get("/profile", follow_redirects=False).status_code == 303
    # after log-out the victim's old cookie opens nothing
    client.post_form("/logout", token_from="/profile")
    replay = client.fresh()
    replay.cookies.set("fivesafes_session", victim_cookie, domain="testserver.local")
    assert replay.get("/profile", follow_redirects=False).status_code == 303


def test_a_csrf_token_works_only_in_its_own_session(client: Any) -> None:
    victim = client.login_as("researcher")
    victim_token = victim.csrf_token("/profile")
    attacker = client.fresh().login_as("researcher2")
    attacker_token = attacker.csrf_token("/profile")
    assert attacker_token != victim_token
    # the attacker's own (valid) token in a forged form to the victim's browser
    forged = victim.post(
        f"/projects/{APPROVED}/airlock",
        data={"title": "forged", "csrf_token": attacker_token},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    # a visitor's token, and a logged-out session's token, are no good either
    visitor = client.fresh()
    visitor_token = visitor.csrf_token("/login")
    assert (
        victim.post("/profile", data={"display_name": "x", "csrf_token": visitor_token}).status_code
        == 403
    )
    victim.post_form("/logout", token_from="/profile")
    victim.login_as("researcher")
    stale = victim.post(
        f"/projects/{APPROVED}/airlock",
        data={"title": "stale", "csrf_token": victim_token},
        follow_redirects=False,
    )
    assert stale.status_code == 403
    # no method override, and a GET never logs out
    override = victim.post("/logout?_method=GET", data={"_method": "GET"}, follow_redirects=False)
    assert override.status_code == 403
    assert victim.get("/logout", follow_redirects=False).status_code in (404, 405)
    assert victim.get("/profile", follow_redirects=False).status_code == 200


def test_an_expired_or_used_reset_link_does_not_work(client: Any, app: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from fivesafes.appdb.models import PasswordResetToken
    from fivesafes.web.security import new_token, token_hash

    with app.state.db.session(write=True) as s:
        user = s.scalar(select(User).where(User.name == "researcher"))
        assert user is not None
        expired, used = new_token(), new_token()
        now = datetime.now(UTC)
        for token, expires, used_at in (
            (expired, now - timedelta(minutes=1), None),
            (used, now + timedelta(hours=1), now),
        ):
            s.add(
                PasswordResetToken(
                    token_hash=token_hash(token),
                    user_id=user.id,
                    issued_by="administrator",
                    expires_at=expires,
                    used_at=used_at,
                )
            )
        s.commit()
    for token in (expired, used):
        visitor = client.fresh()
        assert visitor.get(f"/password-reset/{token}").status_code == 404
        post = visitor.post_form(
            f"/password-reset/{token}",
            {"password": "hijacked password 1", "password_confirm": "hijacked password 1"},
            token_from="/login",
        )
        assert post.status_code == 404
    client.login_as("researcher")  # the old password still works


def test_a_weak_hash_is_upgraded_at_log_in(
    client: Any, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    from fivesafes.web.security import HASHING_ENV

    monkeypatch.delenv(HASHING_ENV)
    with app.state.db.session() as s:
        before = s.scalar(select(User.password_hash).where(User.name == "researcher"))
    assert before is not None
    assert PasswordHasher().check_needs_rehash(before)  # a test-speed hash
    client.login_as("researcher")
    with app.state.db.session() as s:
        after = s.scalar(select(User.password_hash).where(User.name == "researcher"))
    assert after is not None and after != before
    assert not PasswordHasher().check_needs_rehash(after)


# --- roles granted to oneself ------------------------------------------------------------


def test_no_role_is_self_granted_by_extra_form_fields(client: Any, app: Any) -> None:
    visitor = client.fresh()
    made = visitor.post_form(
        "/register",
        {
            "display_name": "Mallory Attacker",
            "email": "mallory@example.net",
            "organisation": "Nowhere",
            "role_requested": "administrator",
            "roles": "administrator",
            "role": "administrator",
            "is_active": "1",
            "password": "a long enough secret 7",
            "password_confirm": "a long enough secret 7",
        },
        token_from="/register",
    )
    assert made.status_code == 422  # administrator is not a role one may ask for
    made = visitor.post_form(
        "/register",
        {
            "display_name": "Mallory Attacker",
            "email": "mallory@example.net",
            "organisation": "Nowhere",
            "role_requested": "researcher",
            "roles": "administrator",
            "role": "administrator",
            "name": "administrator",
            "password": "a long enough secret 7",
            "password_confirm": "a long enough secret 7",
        },
        token_from="/register",
    )
    assert made.status_code == 303
    changed = visitor.post_form(
        "/profile",
        {
            "display_name": "Mallory Attacker",
            "email": "mallory@example.net",
            "organisation": "Nowhere",
            "roles": "administrator",
            "role": "output_checker",
            "name": "administrator",
            "is_active": "1",
        },
    )
    assert changed.status_code == 303
    with app.state.db.session() as s:
        user = s.scalar(select(User).where(User.email == "mallory@example.net"))
        assert user is not None
        assert user.name == "mallory" and set(user.roles) == {"researcher"}
    assert visitor.get("/admin/users").status_code == 403
    assert visitor.get("/airlock/requests/1").status_code == 403


# --- the learning plan -------------------------------------------------------------------


def _newcomer(client: Any, db: Session) -> Any:
    """A newly registered researcher who joined project 1 (invited, approved,
    accredited, accepting), whose accreditation was then revoked: a member with
    the induction to take again, and nothing else learned."""
    browser = client.fresh()
    made = browser.post_form(
        "/register",
        {
            "display_name": "Nina Newcomer",
            "email": "nina@example.net",
            "organisation": "Somewhere",
            "role_requested": "researcher",
            "password": "a long enough secret 7",
            "password_confirm": "a long enough secret 7",
        },
        token_from="/register",
    )
    assert made.status_code == 303
    from joining import join

    from fivesafes.appdb.models import utcnow
    from fivesafes.people.models import Accreditation

    nina = join(db, APPROVED, "nina")
    for row in db.scalars(select(Accreditation).where(Accreditation.user_id == nina.id)):
        row.revoked_at = utcnow()
    db.commit()
    return browser


def test_a_data_owner_cannot_mint_the_safe_researcher_accreditation(
    client: Any, db: Session
) -> None:
    newcomer = _newcomer(client, db)
    assert newcomer.get(f"/projects/{APPROVED}/workspace").status_code == 403
    owner = client.fresh().login_as("data_owner")
    made = owner.post_form(
        "/learning/manage/courses/new",
        {
            "slug": "quick-pass",
            "title": "Quick pass",
            "summary": "One page",
            "format": "self_paced",
            "duration": "1 minute",
            "fee": "0",
            "grants_accreditation": "safe_researcher",
            "required_for_everyone": "1",
            "required_for_roles": "output_checker",
            "required_for_datasets": "census_2021",
            "published": "1",
        },
    )
    if made.status_code == 303:
        owner.post_form(
            "/learning/manage/courses/quick-pass/lessons/new",
            {"title": "Read me", "kind": "reading", "body": "Done."},
        )
        newcomer.post_form("/courses/quick-pass/enrol", token_from="/courses/quick-pass")
        from fivesafes.people.models import Course

        course = db.scalar(select(Course).where(Course.slug == "quick-pass"))
        assert course is not None
        for lesson in course.lessons:
            newcomer.post_form(
                f"/learning/courses/quick-pass/lessons/{lesson.id}/complete",
                token_from=f"/learning/courses/quick-pass/lessons/{lesson.id}",
            )
    else:
        assert made.status_code == 422
        assert 'href="#grants_accreditation"' in made.text
    db.expire_all()
    nina = get_user(db, "nina")
    outstanding = apps.outstanding_courses(db, apps.get_project(db, APPROVED), nina)
    assert "safe-researcher-induction" in [c.slug for c in outstanding]
    assert newcomer.get(f"/projects/{APPROVED}/workspace").status_code == 403
    # nor require their course for a dataset someone else owns
    from fivesafes.appdb import add_user
    from fivesafes.web.security import hash_password

    other = add_user(db, "owner2", "data_owner")
    other.email, other.password_hash = "owner2@example.net", hash_password("owner2-pass-2026")
    db.commit()
    stranger = client.fresh()
    stranger.login("owner2@example.net", "owner2-pass-2026")
    course = {
        "slug": "my-rules",
        "title": "My rules",
        "summary": "x",
        "format": "self_paced",
        "duration": "1 hour",
        "fee": "0",
        "required_for_datasets": "pupil_census",
        "published": "1",
    }
    refused = stranger.post_form("/learning/manage/courses/new", course)
    assert refused.status_code == 422 and 'href="#required_for_datasets"' in refused.text
    # and other people's learning plans are not changed by a data owner's course
    others = apps.outstanding_courses(
        db, apps.get_project(db, APPROVED), get_user(db, "researcher")
    )
    assert others == []


def test_the_learning_plan_is_not_bypassed_by_posting_to_the_airlock(
    client: Any, db: Session
) -> None:
    newcomer = _newcomer(client, db)
    newcomer_token = newcomer.csrf_token("/profile")
    started = newcomer.post(
        f"/projects/{APPROVED}/airlock",
        data={"title": "Sneaky", "csrf_token": newcomer_token},
        follow_redirects=False,
    )
    assert started.status_code == 403
    assert db.scalar(select(ReleaseRequest).where(ReleaseRequest.title == "Sneaky")) is None
    # a draft a colleague started (the newcomer is a co-author) cannot be submitted by them
    req = airlock.create_request(db, "researcher", "project-1", "Colleague's", co_authors=["nina"])
    airlock.add_output(
        db,
        req.id,
        "researcher",
        "table.csv",
        _tmp_file(FLAGGED_TABLE),
        "A table",
    )
    submitted = newcomer.post(
        f"/projects/{APPROVED}/airlock/{req.id}/submit",
        data={"csrf_token": newcomer_token},
        follow_redirects=False,
    )
    assert submitted.status_code == 403
    db.expire_all()
    assert db.get(ReleaseRequest, req.id).state == "draft"  # type: ignore[union-attr]


def _tmp_file(text: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    path = folder / "table.csv"
    path.write_text(text)
    return path


# --- collections: another provider's submissions ------------------------------------------

SCRIPT = "<script>alert(1)</script>"


def test_a_provider_never_reaches_another_providers_submission(
    client: Any, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv

    from fivesafes.appdb import add_user
    from fivesafes.collections import submissions as subs
    from fivesafes.synth import returns as rt
    from fivesafes.web.security import hash_password

    monkeypatch.setenv(subs.COLLECTIONS_DIR_ENV, str(tmp_path / "collections"))
    other = add_user(db, "owner2", "data_owner")
    other.email, other.password_hash = "owner2@example.net", hash_password("owner2-pass-2026")
    db.commit()
    a, b = rt.la_code(0), rt.la_code(1)
    subs.add_provider(db, a, rt.la_name(0))
    subs.add_provider(db, b, rt.la_name(1))
    subs.add_member(db, a, "data_owner")
    subs.add_member(db, b, "owner2")
    table = rt.cla_return(rt.make_authority(rt.ReturnsConfig(children=30), 0), 2021)
    path = tmp_path / "return.csv"
    rt.write_csv(table, path)
    rows = list(csv.reader(path.open()))
    rows[1][rows[0].index("sex")] = SCRIPT  # a bad value, shown in the report
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)

    owner = client.login_as("data_owner")
    sent = owner.post(
        "/collections",
        data={
            "collection": "cla_episodes",
            "year": "2021",
            "provider": a,
            "csrf_token": owner.csrf_token("/collections"),
        },
        files={"file": ("return.csv", path.read_bytes(), "text/csv")},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    page_path = sent.headers["location"]
    page = owner.get(page_path)
    assert page.status_code == 200 and SCRIPT not in page.text
    html = owner.get(f"{page_path}/report.html")
    assert html.status_code == 200 and SCRIPT not in html.text
    assert "&lt;script&gt;" in html.text

    stranger = client.fresh()
    stranger.login("owner2@example.net", "owner2-pass-2026")
    assert page_path not in stranger.get("/collections").text
    for suffix in ("", "/report.csv", "/report.html", "/report.txt"):
        assert stranger.get(page_path + suffix).status_code == 404, suffix
    token = stranger.csrf_token("/collections")
    for step, data in (("explain", {"rule": "x", "text": "because"}), ("accept", {})):
        response = stranger.post(
            f"{page_path}/{step}", data={**data, "csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 404, step
    # nor submits a return in another provider's name
    from fivesafes.collections.models import Submission

    count = len(list(db.scalars(select(Submission))))
    forged = stranger.post(
        "/collections",
        data={"collection": "cla_episodes", "year": "2021", "provider": a, "csrf_token": token},
        files={"file": ("return.csv", path.read_bytes(), "text/csv")},
        follow_redirects=False,
    )
    assert forged.status_code == 422
    db.expire_all()
    assert len(list(db.scalars(select(Submission)))) == count
    # a researcher does not reach the collections at all
    assert client.fresh().login_as("researcher").get(page_path).status_code == 403


# --- script in what users write -----------------------------------------------------------


def test_what_users_write_is_shown_as_text(client: Any, db: Session) -> None:
    me = client.login_as("researcher")
    request_path = _start(me, title=SCRIPT)
    token = me.csrf_token(request_path)
    table = FLAGGED_TABLE.replace("Asian", '"><img src=x onerror=alert(1)>')
    added = me.post(
        f"{request_path}/outputs",
        data={
            "csrf_token": token,
            "name": "by area",
            "description": SCRIPT,
            "value_column": "persons",
        },
        files={"upload": ("by_area.csv", table.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert added.status_code == 303
    me.post_form(f"{request_path}/comment", {"body": SCRIPT}, token_from=request_path)
    assert me.post_form(f"{request_path}/submit", token_from=request_path).status_code == 303
    request_id = int(request_path.rsplit("/", 1)[1])
    checker = client.fresh().login_as("output_checker")
    for page in (
        me.get(request_path).text,
        checker.get(f"/airlock/requests/{request_id}").text,
        checker.get("/airlock").text,
    ):
        assert SCRIPT not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in checker.get(f"/airlock/requests/{request_id}").text
    # a display name, in the administrators' list of users
    me.post_form(
        "/profile",
        {"display_name": SCRIPT, "email": client.users["researcher"]["email"], "organisation": "x"},
    )
    admin = client.fresh().login_as("administrator")
    assert SCRIPT not in admin.get("/admin/users").text
    assert SCRIPT not in admin.get("/admin/audit").text


@pytest.mark.parametrize(
    "markdown",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](java\tscript:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[click](vbscript:msgbox(1))",
        "<script>alert(1)</script>",
        "<a href='javascript:alert(1)'>x</a>",
        '<img src=x onerror="alert(1)">',
        "[x](<javascript:alert(1)>)",
        "[x]: javascript:alert(1)\n\n[y][x]",
    ],
)
def test_lesson_markdown_cannot_carry_script(client: Any, db: Session, markdown: str) -> None:
    from fivesafes.people.models import Course

    course = db.scalar(select(Course).where(Course.slug == "justice-data"))
    assert course is not None
    course.description = markdown
    db.commit()
    page = client.get("/courses/justice-data").text.lower()
    tags = re.findall(r"<[a-z][^>]*>", page)
    for tag in tags:
        assert not re.search(r"(href|src)=[\"']?\s*(javascript|vbscript|data):", tag), tag
        assert not re.search(r"\son[a-z]+=", tag), tag
    assert "<script>alert" not in page


# --- the airlock's rules, posted to directly ----------------------------------------------


def _post(client: Any, path: str, data: dict[str, str], token_from: str) -> Any:
    return client.post(
        path,
        data={**data, "csrf_token": client.csrf_token(token_from)},
        follow_redirects=False,
    )


def test_nothing_changes_in_a_request_once_submitted(client: Any, db: Session) -> None:
    me = client.login_as("researcher")
    base = f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}"
    checker = client.fresh().login_as("output_checker")
    first = _post(
        checker,
        f"/airlock/requests/{SEEDED_REQUEST}/review",
        {"output": "offenders_by_area.csv", "decision": "approve"},
        f"/airlock/requests/{SEEDED_REQUEST}",
    )
    assert first.status_code == 303
    db.expire_all()
    req = db.get(ReleaseRequest, SEEDED_REQUEST)
    assert req is not None and req.state == "in_review"
    before = [(o.name, o.sha256, o.version) for o in req.outputs]
    added = me.post(
        f"{base}/outputs",
        data={"csrf_token": me.csrf_token(base), "name": "extra", "description": "more"},
        files={"upload": ("extra.csv", b"a,b\n1,2\n", "text/csv")},
        follow_redirects=False,
    )
    assert added.status_code in (403, 422)
    removed = _post(me, f"{base}/outputs/remove", {"output": "offenders_by_area.csv"}, base)
    assert removed.status_code == 403
    # a researcher cannot release, approve or review it either
    for step, data in (
        ("release", {}),
        ("review", {"output": "offenders_by_area.csv", "decision": "approve"}),
        ("return", {"close_comment": "x"}),
    ):
        response = _post(me, f"/airlock/requests/{SEEDED_REQUEST}/{step}", data, base)
        assert response.status_code == 403, step
    # nor a checker release what is not approved
    early = _post(
        checker,
        f"/airlock/requests/{SEEDED_REQUEST}/release",
        {},
        f"/airlock/requests/{SEEDED_REQUEST}",
    )
    assert early.status_code == 403
    db.expire_all()
    req = db.get(ReleaseRequest, SEEDED_REQUEST)
    assert req is not None and req.state == "in_review"
    assert [(o.name, o.sha256, o.version) for o in req.outputs] == before
    assert me.get(f"{base}/bundle").status_code == 404


def test_an_administrator_is_not_a_second_checker(client: Any, db: Session) -> None:
    checker = client.login_as("output_checker")
    page = f"/airlock/requests/{SEEDED_REQUEST}"
    review = {"output": "offenders_by_area.csv", "decision": "approve"}
    assert _post(checker, f"{page}/review", review, page).status_code == 303
    admin = client.fresh().login_as("administrator")
    assert _post(admin, f"{page}/review", review, page).status_code == 403
    assert _post(admin, f"{page}/release", {}, page).status_code == 403
    db.expire_all()
    req = db.get(ReleaseRequest, SEEDED_REQUEST)
    assert req is not None and req.state == "in_review"


def test_an_applicant_or_a_stranger_cannot_decide_on_an_application(
    client: Any, db: Session
) -> None:
    from fivesafes.appdb.users import set_roles

    # researcher2 applied for the pending project and is given the panel role too
    applicant = get_user(db, "researcher2")
    set_roles(db, applicant, {"researcher", "panel_member"}, "administrator")
    db.commit()
    me = client.login_as("researcher2")
    page = f"/projects/{PENDING}/review"
    assert _post(me, page, {"as": "panel", "decision": "approve"}, "/profile").status_code == 403
    # a panel member cannot decide as a dataset's owner
    panel = client.fresh().login_as("panel_member")
    dataset = apps.dataset_names(apps.get_project(db, PENDING))[0]
    as_owner = _post(panel, page, {"as": f"owner:{dataset}", "decision": "approve"}, page)
    assert as_owner.status_code in (403, 422)
    # a researcher without either role does not reach the page at all
    other = client.fresh().login_as("researcher")
    assert other.get(page).status_code == 403
    assert _post(other, page, {"as": "panel", "decision": "approve"}, "/profile").status_code == 403
    db.expire_all()
    project = apps.get_project(db, PENDING)
    assert project.state == "submitted"
    assert [r.reviewer.name for r in project.reviews] == []


def test_a_linkage_operator_never_joins_a_project(client: Any, db: Session) -> None:
    lead = client.login_as("researcher")
    added = _post(
        lead,
        f"/projects/{APPROVED}/members",
        {"who": client.users["linkage_operator"]["email"], "role": "researcher"},
        f"/projects/{APPROVED}",
    )
    assert added.status_code == 422
    assert "linkage operator" in added.text
    made = lead.post_form(
        "/projects/new",
        {
            "title": "With the operator",
            "lay_summary": "x",
            "public_benefit": "y",
            "organisation": "z",
            "datasets": "pupil_census",
            "members": "linkage_operator, researcher",
        },
    )
    assert made.status_code == 422 and "linkage operator" in made.text
    operator = get_user(db, "linkage_operator")
    assert apps.projects_of(db, operator) == []


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fsettings/models.py",
        "/statistics/files/..%2f..%2fsettings.db",
        "/statistics/files/%2e%2e",
        "/statistics/..%2fpublished",
        "/indicators/files/..%2findicators.json",
        "/indicators/files/%2fetc%2fpasswd",
        "/learning/statements/..%2f..%2fx.pdf",
    ],
)
def test_no_file_route_climbs_out_of_its_folder(client: Any, path: str) -> None:
    client.login_as("administrator")
    response = client.get(path, follow_redirects=False)
    assert response.status_code in (303, 400, 404, 405), (path, response.status_code)
    assert "SQLite format" not in response.text and "root:" not in response.text
    assert "def create_app" not in response.text and "class User" not in response.text


def test_a_member_without_their_learning_plan_cannot_read_the_workspace_through_a_request(
    client: Any, db: Session, tmp_path: Path
) -> None:
    outputs = _workspace(db, tmp_path)
    (outputs / "by_area.csv").write_text(FLAGGED_TABLE)
    newcomer = _newcomer(client, db)
    assert newcomer.get(f"/projects/{APPROVED}/workspace").status_code == 403
    # a colleague's draft, of which the newcomer is a co-author
    req = airlock.create_request(db, "researcher", "project-1", "Colleague's", co_authors=["nina"])
    page_path = f"/projects/{APPROVED}/airlock/{req.id}"
    page = newcomer.get(page_path)
    assert page.status_code == 403 and "by_area.csv" not in page.text
    added = newcomer.post(
        f"{page_path}/outputs",
        data={
            "csrf_token": newcomer.csrf_token("/profile"),
            "workspace_file": "by_area.csv",
            "description": "Persons",
            "value_column": "persons",
        },
        follow_redirects=False,
    )
    assert added.status_code == 403
    db.expire_all()
    assert db.get(ReleaseRequest, req.id).outputs == []  # type: ignore[union-attr]
    # the seeded request's report, cell by cell, is not for them either
    seeded = newcomer.get(f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}")
    assert seeded.status_code == 403 and "E06000001" not in seeded.text


def test_a_pending_reset_link_dies_when_the_user_changes_their_password(
    client: Any, app: Any
) -> None:
    me = client.users["researcher"]
    with app.state.db.session() as s:
        user_id = s.scalar(select(User.id).where(User.name == "researcher"))
    admin = client.fresh().login_as("administrator")
    page = admin.post_form(f"/admin/users/{user_id}/reset", token_from=f"/admin/users/{user_id}")
    link = re.search(r'<code id="reset-link">([^<]+)</code>', page.text)
    assert link is not None
    path = link.group(1).replace("http://testserver", "")
    # the user remembers their password after all and changes it themselves
    user = client.login_as("researcher")
    changed = user.post_form(
        "/profile/password",
        {
            "current_password": me["password"],
            "new_password": "my own new secret 5",
            "new_password_confirm": "my own new secret 5",
        },
        token_from="/profile",
    )
    assert changed.status_code == 303
    # whoever still has the link cannot take the account over with it
    holder = client.fresh()
    assert holder.get(path).status_code == 404
    taken = holder.post_form(
        path,
        {"password": "attacker secret 99", "password_confirm": "attacker secret 99"},
        token_from="/login",
    )
    assert taken.status_code == 404
    client.fresh().login(me["email"], "my own new secret 5")


# --- identifiers never reach the research zone through the web --------------------------

IDENTIFIER_COLUMNS = ("forename", "surname", "date_of_birth", "postcode", "upn", "pnc_id")


@pytest.mark.slow
def test_no_identifier_or_person_id_reaches_a_workspace_page(
    client: Any, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    from fivesafes.data import ingest
    from fivesafes.data.link import link
    from fivesafes.projects.applications import STORE_ENV
    from fivesafes.synth import WorldConfig, make_world

    store = tmp_path / "store"
    make_world(WorldConfig(people=200, seed=5), tmp_path / "world")
    ingest([tmp_path / "world"], store)
    link(store)
    monkeypatch.setenv(STORE_ENV, str(store))
    con = duckdb.connect(str(store / "identifiers.duckdb"), read_only=True)
    try:
        secrets = {
            str(v)
            for sql in (
                "SELECT upn FROM pupil_census WHERE upn IS NOT NULL LIMIT 50",
                "SELECT pnc_id FROM justice_offences WHERE pnc_id IS NOT NULL LIMIT 50",
                "SELECT CAST(record_id AS VARCHAR) FROM pupil_census LIMIT 50",
            )
            for (v,) in con.execute(sql).fetchall()
        }
    finally:
        con.close()
    assert len(secrets) >= 100

    me = client.login_as("researcher")
    created = me.post_form(
        "/projects/new",
        {
            "title": "Attainment and offending",
            "lay_summary": "x",
            "public_benefit": "y",
            "organisation": "z",
            "datasets": ["pupil_census", "justice_offences"],
        },
    )
    path = created.headers["location"]
    assert me.post_form(f"{path}/submit", token_from=path).status_code == 303
    panel = client.fresh().login_as("panel_member")
    panel.post_form(f"{path}/review", {"as": "panel:", "decision": "approve"})
    owner = client.fresh().login_as("data_owner")
    for dataset in ("pupil_census", "justice_offences"):
        owner.post_form(f"{path}/review", {"as": f"owner:{dataset}", "decision": "approve"})
    project = apps.get_project(db, int(path.rsplit("/", 1)[1]))
    assert project.provisioning == "provisioned", project.provisioning_note
    pages = [
        me.get(f"{path}/workspace").text,
        me.get(path).text,
        me.get(f"{path}/airlock").text,
        client.fresh().get("/projects/public.json").text,
        client.fresh().get("/projects/public").text,
    ]
    assert "Submit a job" in pages[0]  # the provisioned workspace page
    for text in pages:
        for column in (*IDENTIFIER_COLUMNS, "person_id", "identifiers.duckdb"):
            assert column not in text, column
        for value in secrets:
            assert value not in text


def test_a_workspace_file_changed_after_it_was_added_is_not_what_is_released(
    client: Any, db: Session, tmp_path: Path, bundles: Path
) -> None:
    import io
    import zipfile

    outputs = _workspace(db, tmp_path)
    (outputs / "by_area.csv").write_text(FLAGGED_TABLE)
    me = client.login_as("researcher")
    request_path = _start(me)
    added = me.post(
        f"{request_path}/outputs",
        data={
            "csrf_token": me.csrf_token(request_path),
            "workspace_file": "by_area.csv",
            "description": "Persons by area, as is",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert me.post_form(f"{request_path}/submit", token_from=request_path).status_code == 303
    request_id = int(request_path.rsplit("/", 1)[1])
    page = f"/airlock/requests/{request_id}"
    review = {"output": "by_area.csv", "decision": "approve"}
    first = client.fresh().login_as("output_checker")
    assert _post(first, f"{page}/review", review, page).status_code == 303
    # the file in the workspace is swapped for identifiable detail between the reviews
    (outputs / "by_area.csv").write_text("nhs_number,name\n9434765919,Jane Doe\n")
    second = client.fresh().login_as("output_checker2")
    assert _post(second, f"{page}/review", review, page).status_code == 303
    db.expire_all()
    assert db.get(ReleaseRequest, request_id).state == "released"  # type: ignore[union-attr]
    bundle = me.get(f"{request_path}/bundle")
    assert bundle.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    released = archive.read(f"request-{request_id}/outputs/by_area.csv").decode()
    assert released == FLAGGED_TABLE and "Jane Doe" not in released


def test_a_member_made_linkage_operator_loses_the_research_zone(client: Any, db: Session) -> None:
    from fivesafes.appdb.users import set_roles

    set_roles(db, get_user(db, "researcher2"), {"researcher", "linkage_operator"}, "administrator")
    db.commit()
    me = client.login_as("researcher2")
    for path in (
        f"/projects/{APPROVED}/workspace",
        f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}",
        f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}/bundle",
    ):
        assert me.get(path).status_code == 403, path
    applied = me.post_form(
        "/projects/new",
        {
            "title": "Mine",
            "lay_summary": "x",
            "public_benefit": "y",
            "organisation": "z",
            "datasets": "pupil_census",
        },
    )
    assert applied.status_code in (403, 422) and "linkage operator" in applied.text
    db.expire_all()
    mine = {p.id for p in apps.projects_of(db, get_user(db, "researcher2"))}
    assert mine == {APPROVED, PENDING}  # no new application saved


def test_a_deactivated_checkers_approval_no_longer_counts(client: Any, db: Session) -> None:
    page = f"/airlock/requests/{SEEDED_REQUEST}"
    review = {"output": "offenders_by_area.csv", "decision": "approve"}
    first = client.login_as("output_checker")
    assert _post(first, f"{page}/review", review, page).status_code == 303
    # the account is found to be compromised and closed by an administrator
    admin = client.fresh().login_as("administrator")
    checker_id = get_user(db, "output_checker").id
    closed = _post(
        admin,
        f"/admin/users/{checker_id}/active",
        {"action": "deactivate"},
        f"/admin/users/{checker_id}",
    )
    assert closed.status_code == 303
    second = client.fresh().login_as("output_checker2")
    assert _post(second, f"{page}/review", review, page).status_code == 303
    db.expire_all()
    req = db.get(ReleaseRequest, SEEDED_REQUEST)
    assert req is not None and req.state == "in_review"
    assert airlock.output_status(req, req.outputs[0]).approvals == ("output_checker2",)
