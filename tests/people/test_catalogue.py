"""The catalogue: enrolment status and labels, the trainers' forms (field-level
errors, cleaned values), Markdown without raw HTML, and the demo content."""

from __future__ import annotations

from datetime import date

from people_helpers import make_course, make_user
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.datasets import BY_NAME
from fivesafes.people import catalogue
from fivesafes.people.content import load_courses, load_resources
from fivesafes.people.render import markdown_to_html

GOOD_COURSE = {
    "slug": "new-course",
    "title": "A new course",
    "summary": "What it is",
    "format": "live_online",
    "duration": "2 hours",
    "fee": "120.50",
    "enrolment_opens_on": "2027-01-01",
    "enrolment_closes_on": "2027-02-01",
    "capacity": "12",
    "required_for_roles": ["output_checker"],
    "required_for_datasets": ["justice_offences"],
    "grants_accreditation": "output_checker",
    "published": "1",
}


def test_enrolment_status_open_opens_closed_full(session: Session) -> None:
    day = date(2027, 1, 15)
    course = make_course(session, capacity=2)
    assert catalogue.enrolment_status(course, day).label == "Open for enrolment"
    course.enrolment_closes_on = date(2027, 1, 31)
    assert catalogue.enrolment_status(course, day).label == (
        "Open for enrolment until 31 January 2027"
    )
    course.enrolment_opens_on = date(2027, 1, 20)
    status = catalogue.enrolment_status(course, day)
    assert (status.state, status.label) == ("opens", "Enrolment opens on 20 January 2027")
    assert catalogue.enrolment_status(course, date(2027, 2, 1)).state == "closed"
    course.enrolled_count = 2
    assert catalogue.enrolment_status(course, date(2027, 1, 25)).state == "full"
    assert catalogue.places_left(course) == 0
    course.published = False
    assert catalogue.enrolment_status(course, date(2027, 1, 25)).state == "closed"


def test_fee_and_format_labels(session: Session) -> None:
    course = make_course(session)
    assert (course.fee_label, course.format_label) == ("Free", "Self-paced online")
    course.fee_pence = 12050
    assert course.fee_label == "£120.50"
    course.fee_pence = 25000
    assert course.fee_label == "£250"


def test_a_good_course_form_is_cleaned_and_saved(session: Session) -> None:
    values, errors = catalogue.parse_course_form(session, GOOD_COURSE)
    assert errors == {}
    assert values["fee_pence"] == 12050
    assert values["enrolment_opens_on"] == date(2027, 1, 1)
    assert values["capacity"] == 12
    assert values["required_for_everyone"] is False
    course = catalogue.save_course(session, values, actor="trainer")
    session.commit()
    assert catalogue.find_course(session, "new-course") is course
    assert catalogue.prepares_for(course) == [
        "the output checker role",
        f"{BY_NAME['justice_offences'].title} data",
    ]


def test_a_bad_course_form_names_each_field(session: Session) -> None:
    make_course(session, "taken")
    form = {
        "slug": "taken",
        "title": "",
        "summary": "x",
        "format": "carrier pigeon",
        "duration": "",
        "fee": "-3",
        "enrolment_opens_on": "2027-02-01",
        "enrolment_closes_on": "2027-01-01",
        "starts_on": "31/01/2027",
        "capacity": "none",
        "required_for_roles": ["wizard"],
        "required_for_datasets": "justice_offences, nope",
        "grants_accreditation": "Safe Researcher!",
    }
    values, errors = catalogue.parse_course_form(session, form)
    assert set(errors) == {
        "slug",
        "title",
        "format",
        "duration",
        "fee",
        "enrolment_closes_on",
        "starts_on",
        "capacity",
        "required_for_roles",
        "required_for_datasets",
        "grants_accreditation",
    }
    assert "already uses 'taken'" in errors["slug"]
    assert errors["required_for_datasets"] == "Unknown dataset 'nope'; choose from the list"
    # the values keep what was typed so the form can be shown again
    assert values["summary"] == "x" and values["slug"] == "taken"


def test_capacity_cannot_drop_below_the_enrolled(session: Session) -> None:
    course = make_course(session, "busy", capacity=10)
    course.enrolled_count = 6
    _values, errors = catalogue.parse_course_form(
        session, {**GOOD_COURSE, "slug": "busy", "capacity": "5"}, course
    )
    assert errors == {
        "capacity": "6 people are already enrolled; the capacity cannot be lower than that"
    }


def test_lesson_and_question_forms(session: Session, alice: User) -> None:
    values, errors = catalogue.parse_lesson_form({"title": "Quiz", "kind": "quiz"})
    assert errors == {"pass_mark": "Enter the pass mark as a percentage, like 80"}
    values, errors = catalogue.parse_lesson_form(
        {"title": "Quiz", "kind": "quiz", "pass_mark": "101"}
    )
    assert errors == {"pass_mark": "Enter a percentage from 0 to 100"}
    values, errors = catalogue.parse_lesson_form({"title": "Read", "kind": "reading"})
    assert errors == {"body": "Write the lesson (Markdown)"}
    course = make_course(session, quiz=False)
    values, errors = catalogue.parse_lesson_form(
        {"title": "Quiz", "kind": "quiz", "pass_mark": "75"}
    )
    lesson = catalogue.save_lesson(session, course, values, actor="trainer")
    assert lesson.position == 3 and lesson.pass_mark == 75
    values, errors = catalogue.parse_question_form(
        {"text": "Which?", "options": "one\n\ntwo\nthree\n", "answer": "4"}
    )
    assert errors == {"answer": "There are only 3 options"}
    values, errors = catalogue.parse_question_form(
        {"text": "Which?", "options": "one\ntwo", "answer": "2"}
    )
    assert errors == {} and values["answer"] == 1 and values["options"] == ["one", "two"]
    question = catalogue.save_question(session, lesson, values, actor="trainer")
    session.commit()
    assert lesson.questions == [question]


def test_resource_form(session: Session) -> None:
    _v, errors = catalogue.parse_resource_form(
        session, {"slug": "v", "kind": "video", "title": "T", "summary": "S"}
    )
    assert errors == {"url": "Enter the web address of the recording"}
    _v, errors = catalogue.parse_resource_form(
        session,
        {"slug": "v", "kind": "video", "title": "T", "summary": "S", "url": "javascript:x"},
    )
    assert errors == {"url": "Enter a web address starting with https://"}
    values, errors = catalogue.parse_resource_form(
        session, {"slug": "a", "kind": "article", "title": "T", "summary": "S", "body": "# Hi"}
    )
    assert errors == {}
    catalogue.save_resource(session, values, actor="trainer")
    session.commit()
    assert [r.slug for r in catalogue.list_resources(session)] == ["a"]


def test_markdown_never_renders_raw_html_or_script_links() -> None:
    html = markdown_to_html(
        "# Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) [ok](https://example.org)\n\n"
        "| a | b |\n| --- | --- |\n| 1 | 2 |\n"
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert '<a href="https://example.org">ok</a>' in html
    assert "<h1>Title</h1>" in html and "<table>" in html


def test_the_demo_content_is_complete_and_consistent() -> None:
    specs = load_courses(date(2027, 1, 1))
    slugs = {s.values["slug"] for s in specs}
    assert {
        "safe-researcher-induction",
        "justice-data",
        "education-data",
        "output-checking",
    } <= slugs
    for spec in specs:
        for name in spec.values["required_for_datasets"]:
            assert name in BY_NAME
        for lesson in spec.lessons:
            if lesson.kind == "quiz":
                assert lesson.questions and lesson.pass_mark is not None
                for q in lesson.questions:
                    assert 0 <= q.answer < len(q.options), q.text
            else:
                assert lesson.body.startswith("# ")
    everyone = [s for s in specs if s.values["required_for_everyone"]]
    assert [s.values["slug"] for s in everyone] == ["safe-researcher-induction"]
    resources, featured = load_resources()
    assert {r["kind"] for r in resources} == {"article", "video", "podcast"}
    assert all(f["dataset"] in BY_NAME for f in featured)


def test_unpublished_courses_are_not_listed(session: Session) -> None:
    make_course(session, "shown")
    make_course(session, "draft", published=False)
    assert [c.slug for c in catalogue.list_courses(session)] == ["shown"]
    assert len(catalogue.list_courses(session, include_unpublished=True)) == 2
    assert make_user(session, "x").name == "x"


def test_a_leading_title_is_left_to_the_page() -> None:
    from fivesafes.people.render import without_title

    assert without_title("# Title\n\nBody") == "\nBody"
    assert without_title("Body\n# Not first") == "Body\n# Not first"
    assert without_title("# Only") == ""
