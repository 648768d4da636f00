"""Precision training (which courses a person still needs for a project) and
accreditation that expires and is renewed."""

from __future__ import annotations

from datetime import timedelta

from people_helpers import make_course, make_user
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, as_utc, utcnow
from fivesafes.people import accreditation, learning
from fivesafes.people.plan import outstanding_courses, plan_for, required_courses


def _courses(session: Session) -> dict[str, object]:
    return {
        "induction": make_course(
            session,
            "induction",
            required_for_everyone=True,
            grants_accreditation="safe_researcher",
            accreditation_valid_days=1095,
        ),
        "refresher": make_course(
            session, "refresher", grants_accreditation="safe_researcher", quiz=False
        ),
        "justice": make_course(session, "justice", required_for_datasets=["justice_offences"]),
        "education": make_course(session, "education", required_for_datasets=["pupil_census"]),
        "checking": make_course(
            session,
            "checking",
            required_for_roles=["output_checker"],
            grants_accreditation="output_checker",
        ),
        "hidden": make_course(session, "hidden", required_for_everyone=True, published=False),
    }


def _slugs(courses: list) -> list[str]:  # type: ignore[type-arg]
    return [c.slug for c in courses]


def _finish(session: Session, course, user: User) -> None:  # type: ignore[no-untyped-def]
    enrolment = learning.enrol(session, course, user)
    learning.record_attendance(session, enrolment, actor="trainer")


def test_the_rules_pick_the_induction_the_datasets_courses_and_the_roles_course(
    session: Session, alice: User
) -> None:
    _courses(session)
    assert _slugs(required_courses(session, [], "researcher")) == ["induction"]
    assert _slugs(required_courses(session, ["justice_offences", "areas"], "researcher")) == [
        "induction",
        "justice",
    ]
    assert _slugs(
        required_courses(session, ["pupil_census", "justice_offences"], "output_checker")
    ) == ["induction", "checking", "education", "justice"]


def test_outstanding_courses_shrink_as_the_person_completes_them(
    session: Session, alice: User
) -> None:
    c = _courses(session)
    datasets = ["justice_offences", "pupil_census"]
    assert _slugs(outstanding_courses(session, alice.id, datasets, "researcher")) == [
        "induction",
        "education",
        "justice",
    ]
    _finish(session, c["induction"], alice)
    _finish(session, c["justice"], alice)
    assert _slugs(outstanding_courses(session, alice.id, datasets, "researcher")) == ["education"]
    _finish(session, c["education"], alice)
    assert outstanding_courses(session, alice.id, datasets, "researcher") == []
    # another person's progress is theirs alone
    bob = make_user(session, "bob")
    assert len(outstanding_courses(session, bob.id, datasets, "researcher")) == 3


def test_an_expired_accreditation_no_longer_counts_until_renewed(
    session: Session, alice: User
) -> None:
    c = _courses(session)
    _finish(session, c["induction"], alice)
    held = accreditation.valid_accreditation(session, alice.id, "safe_researcher")
    assert held is not None
    granted = as_utc(held.granted_at)
    assert as_utc(held.expires_at) - granted == timedelta(days=1095)
    just_before = granted + timedelta(days=1095) - timedelta(seconds=1)
    at_expiry = granted + timedelta(days=1095)
    assert outstanding_courses(session, alice.id, [], "researcher", now=just_before) == []
    assert _slugs(outstanding_courses(session, alice.id, [], "researcher", now=at_expiry)) == [
        "induction"
    ]
    plan = plan_for(session, alice, [], "researcher", now=at_expiry)
    (item,) = plan.items
    assert not item.done and item.expired and _slugs(list(item.renew_with)) == ["refresher"]
    assert not plan.complete
    statuses = accreditation.accreditations_of(session, alice.id, now=at_expiry)
    assert [h.status for h in statuses] == ["expired"]
    # renewal: the refresher grants the same accreditation afresh
    _finish(session, c["refresher"], alice)
    assert outstanding_courses(session, alice.id, [], "researcher", now=at_expiry) == []
    later = utcnow() + timedelta(days=1000)
    assert accreditation.valid_accreditation(session, alice.id, "safe_researcher", later)


def test_a_revoked_accreditation_does_not_count(session: Session, alice: User) -> None:
    c = _courses(session)
    _finish(session, c["induction"], alice)
    held = accreditation.valid_accreditation(session, alice.id, "safe_researcher")
    assert held is not None
    accreditation.revoke(session, held, actor="admin", reason="breach")
    session.commit()
    assert _slugs(outstanding_courses(session, alice.id, [], "researcher")) == ["induction"]
    assert accreditation.accreditations_of(session, alice.id)[0].status == "revoked"


def test_the_plan_says_why_each_course_is_needed(session: Session, alice: User) -> None:
    c = _courses(session)
    _finish(session, c["induction"], alice)
    plan = plan_for(session, alice, ["justice_offences"], "output_checker")
    assert [(i.course.slug, i.done, i.why) for i in plan.items] == [
        ("induction", True, "everyone"),
        ("checking", False, "the output checker role"),
        ("justice", False, "justice_offences"),
    ]
    assert _slugs(plan.outstanding) == ["checking", "justice"]
    assert plan.items[0].accreditation is not None


def test_an_accreditation_length_is_configurable_per_course(session: Session, alice: User) -> None:
    course = make_course(session, grants_accreditation="x_data", accreditation_valid_days=30)
    row = accreditation.grant(session, alice.id, "x_data", course=course)
    assert as_utc(row.expires_at) - as_utc(row.granted_at) == timedelta(days=30)
    default = accreditation.grant(session, alice.id, "y_data")
    assert as_utc(default.expires_at) - as_utc(default.granted_at) == timedelta(
        days=accreditation.DEFAULT_VALID_DAYS
    )
    assert accreditation.label("safe_researcher") == "Safe researcher"
    assert accreditation.label("x_data") == "X data"


def test_an_accreditation_close_to_expiry_is_due_for_renewal(session: Session, alice: User) -> None:
    row = accreditation.grant(session, alice.id, "safe_researcher", days=1095)
    session.commit()
    granted = as_utc(row.granted_at)
    (early,) = accreditation.accreditations_of(session, alice.id, now=granted)
    assert early.valid and not early.renew_soon and early.days_left == 1095
    late = granted + timedelta(days=1095 - 30)
    (due,) = accreditation.accreditations_of(session, alice.id, now=late)
    assert due.valid and due.renew_soon and due.days_left == 30
