"""Themed workgroups in the browser's place (TestClient on the seeded demo site,
whose "Courts & Justice" workgroup has three live online sessions: enrolment closed
on the first two, open on the third, where the demo researcher holds a place).

Tried as an attacker would: a visitor or a non-member looking for the online link
(pages and JSON), a non-member enrolling, posts without the CSRF token, enrolling
twice, a closed and a full session; then joining, leaving (which gives up the
places on sessions not yet started) and the trainers' pages.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from webclient import WebClient

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import User
from fivesafes.people.workgroups.models import (
    LiveSession,
    SessionEnrolment,
    Workgroup,
    WorkgroupMember,
)

PAGE = "/workgroups/courts-justice"
LINK = "zoom.example.org"


def _db(client: WebClient) -> Any:
    return session_factory(client.app.state.db.engine)()  # type: ignore[attr-defined]


def _sessions(client: WebClient) -> list[LiveSession]:
    with _db(client) as s:
        workgroup = s.scalar(select(Workgroup).where(Workgroup.slug == "courts-justice"))
        return [
            LiveSession(
                id=x.id, title=x.title, enrolled_count=x.enrolled_count, capacity=x.capacity
            )
            for x in workgroup.sessions
        ]


def _places_of(client: WebClient, name: str) -> set[int]:
    with _db(client) as s:
        user = s.scalar(select(User).where(User.name == name))
        held = select(SessionEnrolment.session_id).where(SessionEnrolment.user_id == user.id)
        return set(s.scalars(held))


def _is_member(client: WebClient, name: str) -> bool:
    with _db(client) as s:
        user = s.scalar(select(User).where(User.name == name))
        return (
            s.scalar(
                select(func.count())
                .select_from(WorkgroupMember)
                .where(WorkgroupMember.user_id == user.id)
            )
            > 0
        )


def _flash(page: str) -> str:
    found = re.search(r'<div class="notification" role="status">\s*<p>(.*?)</p>', page, re.S)
    assert found, "the page shows no message"
    return found.group(1)


def test_the_list_is_public_and_shows_each_sessions_facts(client: WebClient) -> None:
    page = client.get("/workgroups")
    assert page.status_code == 200
    text = page.text
    assert "Courts &amp; Justice" in text
    for title in (
        "How to access Ministry of Justice (MoJ) datasets via SAIL Databank",
        "Developing your application for linked Ministry of Justice (MoJ) datasets",
        "Understanding linked Ministry of Justice (MoJ) datasets",
    ):
        assert title in text
    assert text.count("1 hour 30 minutes") == 3
    assert text.count(">Free<") == 3
    assert text.count("Live online") == 3
    assert text.count("Enrolment closed") == 2 and text.count("Open for enrolment") == 1
    assert "29 of 30 left" in text  # the demo researcher holds a place
    assert LINK not in text
    assert '<a href="/workgroups"' in client.get("/").text  # in the site's navigation
    assert 'href="/workgroups"' in client.get("/courses").text  # and the learning pages'


def test_the_json_is_public_and_never_has_the_online_link(client: WebClient) -> None:
    me = client.login_as("researcher")  # enrolled: the link is on the page, not in JSON
    listing = me.get("/workgroups.json")
    assert listing.status_code == 200
    assert LINK not in listing.text and "online_link" not in listing.text
    (group,) = listing.json()["workgroups"]
    assert group["slug"] == "courts-justice" and group["theme"] == "Courts & Justice"
    assert group["members"] == 1 and group["url"] == PAGE
    sessions = group["sessions"]
    assert [s["enrolment"] for s in sessions] == ["closed", "closed", "open"]
    facts = {(s["duration_minutes"], s["format"], s["fee_pence"], s["currency"]) for s in sessions}
    assert facts == {(90, "live_online", 0, "GBP")}
    assert [s["places_left"] for s in sessions] == [30, 30, 29]
    assert all(s["place"] is None for s in sessions)
    assert sessions[0]["starts_at"] < sessions[1]["starts_at"] < sessions[2]["starts_at"]
    one = me.get(PAGE + ".json")
    assert one.status_code == 200 and LINK not in one.text
    assert one.json()["past_sessions"] == []
    assert client.fresh().get("/workgroups/nowhere.json").status_code == 404


def test_only_enrolled_members_see_the_online_link(client: WebClient) -> None:
    third = _sessions(client)[2]
    visitor = client.fresh().get(PAGE)
    assert visitor.status_code == 200 and LINK not in visitor.text
    assert "Log in to join" in visitor.text
    outsider = client.fresh().login_as("researcher2").get(PAGE).text
    assert LINK not in outsider and "Join this workgroup" in outsider
    member = client.login_as("researcher").get(PAGE).text
    assert f"https://{LINK}/j/courts-justice-3" in member  # the session they enrolled on
    assert "courts-justice-1" not in member and "courts-justice-2" not in member
    assert f'id="session-{third.id}"' in member


def test_a_non_member_or_a_visitor_cannot_enrol(client: WebClient) -> None:
    third = _sessions(client)[2]
    path = f"{PAGE}/sessions/{third.id}/enrol"
    outsider = client.fresh().login_as("researcher2")
    refused = outsider.post_form(path, token_from=PAGE)
    assert refused.status_code == 403
    assert "join the workgroup first" in refused.text
    assert _places_of(client, "researcher2") == set()
    visitor = client.fresh()
    sent = visitor.post_form(path, token_from=PAGE)
    assert sent.status_code == 303 and sent.headers["location"].startswith("/login?next=")
    # a session of another workgroup's address, or none at all
    assert outsider.post_form(f"{PAGE}/sessions/999999/enrol", token_from=PAGE).status_code == 404
    assert _sessions(client)[2].enrolled_count == 1


def test_posts_without_the_csrf_token_change_nothing(client: WebClient) -> None:
    third = _sessions(client)[2]
    me = client.login_as("researcher")
    for path in (f"{PAGE}/leave", f"{PAGE}/sessions/{third.id}/cancel"):
        refused = me.post(path, data={}, follow_redirects=False)
        assert refused.status_code == 403
        forged = me.post(path, data={"csrf_token": "forged"}, follow_redirects=False)
        assert forged.status_code == 403
    assert _is_member(client, "researcher")
    assert _places_of(client, "researcher") == {third.id}
    other = client.fresh().login_as("researcher2")
    assert other.post(f"{PAGE}/join", data={}, follow_redirects=False).status_code == 403
    assert not _is_member(client, "researcher2")


def test_joining_enrolling_twice_and_leaving(client: WebClient) -> None:
    first, _second, third = _sessions(client)
    me = client.login_as("researcher2")
    joined = me.post_form(f"{PAGE}/join", token_from=PAGE)
    assert joined.status_code == 303
    page = me.get(PAGE).text
    assert "You are a member of Courts &amp; Justice" in _flash(page)
    assert "Enrol on this session" in page  # on the open one only
    assert page.count("You cannot enrol now: enrolment is closed.") == 2
    for attempt in ("You are enrolled on", "You are already enrolled on"):
        sent = me.post_form(f"{PAGE}/sessions/{third.id}/enrol", token_from=PAGE)
        assert sent.status_code == 303
        assert attempt in _flash(me.get(PAGE).text)
    assert _sessions(client)[2].enrolled_count == 2  # one place for two submits
    closed = me.post_form(f"{PAGE}/sessions/{first.id}/enrol", token_from=PAGE)
    assert closed.status_code == 303
    assert "You could not enrol: enrolment on" in _flash(me.get(PAGE).text)
    assert _places_of(client, "researcher2") == {third.id}
    assert f"{LINK}/j/courts-justice-3" in me.get(PAGE).text
    left = me.post_form(f"{PAGE}/leave", token_from=PAGE)
    assert left.status_code == 303
    message = _flash(me.get(PAGE).text)
    assert "You have left Courts &amp; Justice" in message
    assert "Understanding linked Ministry of Justice (MoJ) datasets" in message
    assert _places_of(client, "researcher2") == set()
    assert not _is_member(client, "researcher2")
    assert _sessions(client)[2].enrolled_count == 1
    assert LINK not in me.get(PAGE).text


def test_a_full_session_refuses_the_next_member_with_a_message(client: WebClient) -> None:
    third = _sessions(client)[2]
    with _db(client) as s:
        row = s.get(LiveSession, third.id)
        row.capacity = row.enrolled_count
        s.commit()
    me = client.login_as("researcher2")
    me.post_form(f"{PAGE}/join", token_from=PAGE)
    page = me.get(PAGE).text
    assert "Full: every place is taken" in page
    assert "You cannot enrol now: every place is taken." in page
    sent = me.post_form(f"{PAGE}/sessions/{third.id}/enrol", token_from=PAGE)
    assert sent.status_code == 303
    assert "is full: every place is taken" in _flash(me.get(PAGE).text)
    assert _places_of(client, "researcher2") == set()


def test_only_trainers_reach_the_management_pages(client: WebClient) -> None:
    visitor = client.fresh().get("/learning/manage/workgroups", follow_redirects=False)
    assert visitor.status_code == 303 and visitor.headers["location"].startswith("/login")
    me = client.login_as("researcher")
    assert me.get("/learning/manage/workgroups").status_code == 403
    third = _sessions(client)[2]
    closing = me.post_form(
        f"/learning/manage/workgroups/courts-justice/sessions/{third.id}/enrolment",
        {"open": "0"},
        token_from=PAGE,
    )
    assert closing.status_code == 403
    assert _sessions(client)[2].enrolled_count == 1


def test_a_trainer_runs_a_workgroup_through_the_pages(client: WebClient) -> None:
    trainer = client.login_as("trainer")
    manage = "/learning/manage/workgroups"
    assert "Courts &amp; Justice" in trainer.get(manage).text
    bad = trainer.post_form(manage + "/new", {"slug": "Care!", "theme": "", "description": ""})
    assert bad.status_code == 422
    for message in ("lower-case letters", "Enter the workgroup&#39;s theme", "Enter a description"):
        assert message in bad.text
    made = trainer.post_form(
        manage + "/new",
        {"slug": "social-care", "theme": "Social Care", "description": "Children's services data"},
    )
    assert made.status_code == 303 and made.headers["location"] == manage + "/social-care"
    base = manage + "/social-care"
    wrong = trainer.post_form(
        base + "/sessions/new",
        {"title": "Looked-after children", "starts_at": "soon", "format": "in_person"},
    )
    assert wrong.status_code == 422
    assert "like 2027-03-04T14:00" in wrong.text and "Enter where the session meets" in wrong.text
    added = trainer.post_form(
        base + "/sessions/new",
        {
            "title": "Looked-after children",
            "starts_at": "2099-05-04T14:00",
            "duration_minutes": "120",
            "format": "in_person",
            "place": "Data Science Building, Swansea",
            "fee": "12.50",
            "capacity": "12",
            "enrolment_open": "1",
        },
    )
    assert added.status_code == 303
    public = client.fresh().get("/workgroups/social-care").text
    assert "£12.50" in public and "2 hours" in public
    assert "In person: Data Science Building, Swansea" in public
    assert "Monday 4 May 2099, 14:00" in public  # typed in UK time, shown in UK time
    with _db(client) as s:
        session_id = s.scalar(select(LiveSession.id).where(LiveSession.title.like("Looked%")))
    closed = trainer.post_form(f"{base}/sessions/{session_id}/enrolment", {"open": "0"})
    assert closed.status_code == 303
    assert "Enrolment closed" in client.fresh().get("/workgroups/social-care").text
    link = trainer.post_form(base + "/resources", {"title": "Guide", "url": "https://x.example"})
    assert link.status_code == 303
    token = trainer.csrf_token(base)
    upload = trainer.post(
        base + "/resources",
        data={"csrf_token": token, "title": "Slides"},
        files={"file": ("slides.txt", b"slide one", "text/plain")},
        follow_redirects=False,
    )
    assert upload.status_code == 303
    both = trainer.post(
        base + "/resources",
        data={"csrf_token": token, "title": "Both", "url": "https://x.example"},
        files={"file": ("b.txt", b"b", "text/plain")},
        follow_redirects=False,
    )
    assert both.status_code == 422 and "not both" in both.text
    page = trainer.get(base).text
    file_path = re.search(r'href="(/workgroups/social-care/resources/\d+)"', page)
    assert file_path is not None
    # the file is for members (and trainers): a visitor is sent to log in, a
    # non-member is refused, a member gets it
    assert client.fresh().get(file_path.group(1), follow_redirects=False).status_code == 303
    outsider = client.fresh().login_as("researcher2")
    assert outsider.get(file_path.group(1)).status_code == 403
    outsider.post_form("/workgroups/social-care/join", token_from="/workgroups/social-care")
    got = outsider.get(file_path.group(1))
    assert got.status_code == 200 and got.content == b"slide one"
    assert "attachment" in got.headers["content-disposition"]
    assert "Slides" in outsider.get("/workgroups/social-care").text
    resource_id = file_path.group(1).rsplit("/", 1)[1]
    removed = trainer.post_form(f"{base}/resources/{resource_id}/delete", token_from=base)
    assert removed.status_code == 303
    assert outsider.get(file_path.group(1)).status_code == 404
