"""The demo seed: the content's courses, and learners at the stages the demo site
needs (the seeded project's members and checkers have complete learning plans)."""

from __future__ import annotations

from people_helpers import make_user
from sqlalchemy.orm import Session

from fivesafes.demo.people import seed
from fivesafes.people import catalogue, learning
from fivesafes.people.plan import outstanding_courses, plan_for


def test_seed_fills_the_catalogue_and_places_the_learners(session: Session) -> None:
    roles = [
        "researcher",
        "researcher2",
        "output_checker",
        "output_checker2",
        "data_owner",
        "trainer",
    ]
    users = {r: make_user(session, r, role=r.rstrip("2")) for r in roles}
    seed(session, users)
    courses = {c.slug: c for c in catalogue.list_courses(session)}
    assert courses["justice-data"].owner_id == users["data_owner"].id
    assert courses["safe-researcher-induction"].owner_id == users["trainer"].id
    assert catalogue.find_course(session, "linkage-workshop") is not None
    assert len(catalogue.list_resources(session)) == 4
    assert [f.dataset.name for f in catalogue.featured_datasets(session)] == [
        "pupil_census",
        "justice_offences",
        "earnings_survey",
    ]
    both = ["justice_offences", "pupil_census"]
    for who in ("researcher", "researcher2"):
        assert outstanding_courses(session, users[who].id, both, "researcher") == []
    for who in ("output_checker", "output_checker2"):
        assert outstanding_courses(session, users[who].id, [], "output_checker") == []
    # researcher2 is renewing: part way through the induction, resuming at lesson 3
    induction = courses["safe-researcher-induction"]
    enrolment = learning.find_enrolment(session, induction.id, users["researcher2"].id)
    assert enrolment is not None and enrolment.completed_at is None
    assert learning.progress_of(enrolment).done == 2
    resume = learning.resume_lesson(enrolment)
    assert resume is not None and resume.position == 3
    # the data owner has not trained
    plan = plan_for(session, users["data_owner"], both, "researcher")
    assert [i.course.slug for i in plan.items if not i.done] == [
        "safe-researcher-induction",
        "justice-data",  # by title: "Working with justice data"
        "education-data",  # "Working with the school census"
    ]
    # seeding again adds nothing
    seed(session, users)
    assert len(catalogue.list_courses(session)) == len(courses)
