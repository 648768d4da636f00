"""Themed workgroups: joining and leaving, enrolling on live sessions (members only,
open enrolment only, before the start, within the capacity), and what trainers
type for workgroups, sessions and resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from people_helpers import make_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from workgroup_helpers import make_session, make_workgroup

from fivesafes.appdb.models import AuditEntry, User, utcnow
from fivesafes.people.workgroups import forms, groups, live
from fivesafes.people.workgroups.live import EnrolmentRefused
from fivesafes.people.workgroups.models import SessionEnrolment


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_joining_twice_is_one_membership_and_both_are_audited(
    session: Session, alice: User
) -> None:
    workgroup = make_workgroup(session)
    first = groups.join(session, workgroup, alice)
    assert groups.join(session, workgroup, alice).id == first.id
    assert groups.member_counts(session) == {workgroup.id: 1}
    assert [w.slug for w in groups.workgroups_of(session, alice.id)] == ["courts-justice"]
    assert _actions(session) == ["workgroup.join"]


def test_only_members_enrol(session: Session, alice: User) -> None:
    workgroup = make_workgroup(session)
    sess = make_session(session, workgroup)
    with pytest.raises(EnrolmentRefused) as refused:
        live.enrol(session, sess, alice)
    assert refused.value.state == "not_member"
    assert "join it first" in str(refused.value)
    assert session.scalar(select(func.count()).select_from(SessionEnrolment)) == 0
    groups.join(session, workgroup, alice)
    live.enrol(session, sess, alice)
    assert sess.enrolled_count == 1


def test_enrolling_twice_holds_one_place(session: Session, alice: User) -> None:
    workgroup = make_workgroup(session)
    sess = make_session(session, workgroup, capacity=2)
    groups.join(session, workgroup, alice)
    first = live.enrol(session, sess, alice)
    assert live.enrol(session, sess, alice).id == first.id
    session.refresh(sess)
    assert sess.enrolled_count == 1
    assert live.places_left(sess) == 1


def test_closed_enrolment_and_a_started_session_are_refused(session: Session, alice: User) -> None:
    workgroup = make_workgroup(session)
    closed = make_session(session, workgroup, enrolment_open=False)
    started = make_session(session, workgroup, starts_at=utcnow() - timedelta(minutes=5))
    groups.join(session, workgroup, alice)
    with pytest.raises(EnrolmentRefused) as refused:
        live.enrol(session, closed, alice)
    assert refused.value.state == "closed"
    with pytest.raises(EnrolmentRefused) as refused:
        live.enrol(session, started, alice)
    assert refused.value.state == "started"
    assert live.status(closed).state == "closed"
    assert live.status(started).state == "started"


def test_a_full_session_refuses_the_next_member(session: Session, alice: User) -> None:
    workgroup = make_workgroup(session)
    sess = make_session(session, workgroup, capacity=1)
    bob = make_user(session, "bob")
    for user in (alice, bob):
        groups.join(session, workgroup, user)
    live.enrol(session, sess, alice)
    assert live.status(sess).state == "full"
    with pytest.raises(EnrolmentRefused) as refused:
        live.enrol(session, sess, bob)
    assert refused.value.state == "full"
    assert "every place is taken" in str(refused.value)


def test_cancelling_gives_the_place_back_once(session: Session, alice: User) -> None:
    workgroup = make_workgroup(session)
    sess = make_session(session, workgroup, capacity=1)
    groups.join(session, workgroup, alice)
    live.enrol(session, sess, alice)
    assert live.cancel(session, sess, alice) is True
    assert live.cancel(session, sess, alice) is False  # nothing is freed twice
    assert sess.enrolled_count == 0
    assert live.status(sess).state == "open"


def test_leaving_gives_up_future_places_and_keeps_past_lists(session: Session, alice: User) -> None:
    workgroup = make_workgroup(session)
    soon = make_session(session, workgroup, capacity=2)
    later = make_session(session, workgroup, capacity=2, starts_at=utcnow() + timedelta(days=30))
    groups.join(session, workgroup, alice)
    live.enrol(session, soon, alice)
    live.enrol(session, later, alice)
    # a week on, the first session has happened: its list is kept
    a_week_on = utcnow() + timedelta(days=8)
    given_up = groups.leave(session, workgroup, alice, now=a_week_on)
    assert [s.id for s in given_up] == [later.id]
    assert live.find_enrolment(session, soon.id, alice.id) is not None
    assert live.find_enrolment(session, later.id, alice.id) is None
    assert (soon.enrolled_count, later.enrolled_count) == (1, 0)
    assert groups.membership(session, workgroup.id, alice.id) is None
    with pytest.raises(groups.NotAMember):
        groups.leave(session, workgroup, alice)
    assert _actions(session)[-1] == "workgroup.leave"


def test_a_closed_session_keeps_the_places_taken(session: Session, alice: User) -> None:
    workgroup = make_workgroup(session)
    sess = make_session(session, workgroup)
    groups.join(session, workgroup, alice)
    live.enrol(session, sess, alice)
    live.set_enrolment_open(session, sess, False, actor="trainer")
    assert live.find_enrolment(session, sess.id, alice.id) is not None
    assert live.status(sess).state == "closed"
    assert _actions(session)[-1] == "workgroup.session.close"


def test_the_workgroup_form_names_each_wrong_field(session: Session) -> None:
    make_workgroup(session)
    _, errors = forms.parse_workgroup_form(
        session, {"slug": "courts-justice", "theme": "", "description": ""}
    )
    assert set(errors) == {"slug", "theme", "description"}
    assert "Another workgroup" in errors["slug"]
    _, errors = forms.parse_workgroup_form(session, {"slug": "Bad slug!", "theme": "T"})
    assert "lower-case letters" in errors["slug"]
    _, errors = forms.parse_workgroup_form(session, {"slug": "manage", "theme": "T"})
    assert "taken by a page" in errors["slug"]
    values, errors = forms.parse_workgroup_form(
        session, {"slug": "care", "theme": "Social care", "description": "About care"}
    )
    assert errors == {}
    assert values == {"slug": "care", "theme": "Social care", "description": "About care"}


def test_a_session_form_reads_uk_time_pounds_and_the_format() -> None:
    values, errors = forms.parse_session_form(
        {
            "title": "Developing your application",
            "starts_at": "2027-07-01T10:00",  # British Summer Time: 09:00 UTC
            "duration_minutes": "90",
            "format": "in_person",
            "place": "Data Science Building, Swansea",
            "online_link": "https://ignored.example.org",
            "fee": "£1,250.50",
            "capacity": "20",
            "enrolment_open": "1",
        }
    )
    assert errors == {}
    assert values["starts_at"] == datetime(2027, 7, 1, 9, 0, tzinfo=UTC)
    assert values["fee_pence"] == 125050
    assert values["online_link"] == ""  # only a live online session has a link
    assert values["enrolment_open"] is True
    assert forms.local_input(values["starts_at"]) == "2027-07-01T10:00"
    winter, _ = forms.parse_session_form({"starts_at": "2027-01-10T10:00"})
    assert winter["starts_at"] == datetime(2027, 1, 10, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("starts_at", "next tuesday", "like 2027-03-04T14:00"),
        ("duration_minutes", "1.5", "whole minutes"),
        ("duration_minutes", "0", "whole minutes"),
        ("fee", "-3", "in pounds"),
        ("fee", "1.234", "in pounds"),
        ("capacity", "0", "1 or more"),
        ("format", "carrier pigeon", "in person or live online"),
        ("online_link", "javascript:alert(1)", "web address"),
    ],
)
def test_a_session_form_refuses_bad_values(field: str, value: str, message: str) -> None:
    good = {
        "title": "T",
        "starts_at": "2027-03-04T14:00",
        "duration_minutes": "90",
        "format": "live_online",
        "online_link": "https://meet.example.org/x",
        "fee": "0",
    }
    _, errors = forms.parse_session_form({**good, field: value})
    assert list(errors) == [field]
    assert message in errors[field]


def test_capacity_cannot_go_below_the_places_taken(session: Session, alice: User) -> None:
    workgroup = make_workgroup(session)
    sess = make_session(session, workgroup, capacity=3)
    groups.join(session, workgroup, alice)
    live.enrol(session, sess, alice)
    _, errors = forms.parse_session_form(
        {
            "title": "T",
            "starts_at": "2027-03-04T14:00",
            "duration_minutes": "90",
            "format": "live_online",
            "online_link": "https://x.example.org",
            "capacity": "0",
        },
        sess,
    )
    assert "1 or more" in errors["capacity"]
    sess.enrolled_count = 2
    _, errors = forms.parse_session_form(
        {"title": "T", "starts_at": "2027-03-04T14:00", "duration_minutes": "9", "capacity": "1"},
        sess,
    )
    assert "2 places are taken" in errors["capacity"]


def test_a_resource_is_a_link_or_a_file_not_both() -> None:
    assert forms.parse_resource_form({"title": "Slides"})[1] == {
        "url": "Give a link, or choose a file to upload"
    }
    both = forms.parse_resource_form(
        {"title": "Slides", "url": "https://x.org/s"}, ("s.pdf", b"%PDF", "application/pdf")
    )
    assert "not both" in both[1]["url"]
    values, errors = forms.parse_resource_form(
        {"title": "Slides"}, ("C:\\Users\\t\\slides.pdf", b"%PDF-1.4", "application/pdf")
    )
    assert errors == {}
    assert values["filename"] == "slides.pdf"
    empty = forms.parse_resource_form({"title": "Slides"}, ("e.txt", b"", "text/plain"))
    assert empty[1] == {"file": "The file 'e.txt' is empty"}


def test_resources_are_added_and_removed_with_an_audit_trail(session: Session) -> None:
    workgroup = make_workgroup(session)
    values, _ = forms.parse_resource_form({"title": "Guide"}, ("guide.txt", b"read me", ""))
    resource = groups.add_resource(session, workgroup, values, actor="trainer")
    assert resource.is_file and resource.media_type == "application/octet-stream"
    session.expire_all()
    assert workgroup.resources[0].content == b"read me"
    groups.remove_resource(session, workgroup.resources[0], actor="trainer")
    assert workgroup.resources == []
    assert _actions(session)[-2:] == ["workgroup.resource.add", "workgroup.resource.remove"]
