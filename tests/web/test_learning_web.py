"""The learning platform in the browser's place (TestClient on the seeded demo
site): the public catalogue, enrolment, lessons and quizzes with field-level
errors, the statement and its public check, the learning plan, and the trainers'
pages."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from webclient import WebClient

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import User
from fivesafes.people.models import Course, Enrolment, Lesson, Statement

INDUCTION = "safe-researcher-induction"


def _db(client: WebClient) -> Any:
    return session_factory(client.app.state.db.engine)()  # type: ignore[attr-defined]


def _register(client: WebClient, email: str = "new.learner@example.org") -> None:
    response = client.post_form(
        "/register",
        {
            "display_name": "Nia Newcomer",
            "email": email,
            "organisation": "University of Southshire",
            "role_requested": "researcher",
            "research_interests": "",
            "password": "correct horse battery",
            "password_confirm": "correct horse battery",
        },
    )
    assert response.status_code == 303, response.text


def _lessons(client: WebClient, slug: str) -> list[Lesson]:
    with _db(client) as s:
        course = s.scalar(select(Course).where(Course.slug == slug))
        return [
            Lesson(id=lesson.id, kind=lesson.kind, title=lesson.title) for lesson in course.lessons
        ]


def _right_answers(client: WebClient, lesson_id: int, right: int | None = None) -> dict[str, str]:
    with _db(client) as s:
        lesson = s.get(Lesson, lesson_id)
        out = {}
        for i, q in enumerate(lesson.questions):
            good = right is None or i < right
            out[f"q{q.id}"] = str(q.answer if good else (q.answer + 1) % len(q.options))
        return out


def test_the_catalogue_is_public_and_shows_what_a_learner_needs(client: WebClient) -> None:
    page = client.get("/courses")
    assert page.status_code == 200
    text = page.text
    assert "Safe researcher induction" in text and "Working with justice data" in text
    for needed in (
        "Self-paced online",
        "Live online",
        "In person",
        "Free",
        "£250",
        "Enrolment opens on",
        "places left",
    ):
        assert needed in text, needed
    detail = client.get(f"/courses/{INDUCTION}")
    assert detail.status_code == 200
    assert "Log in to enrol" in detail.text and "Safe researcher, valid for 3 years" in detail.text
    assert client.get("/courses/no-such-course").status_code == 404
    for path in (
        "/resources",
        "/resources/small-counts",
        "/featured-datasets",
        "/featured-datasets/pupil_census",
        "/verify",
    ):
        assert client.get(path).status_code == 200, path
    doc = client.get("/featured-datasets/justice_offences").text
    assert "offence_group" in doc and "Trusted third party only" in doc


def test_a_new_learner_enrols_learns_passes_and_gets_a_statement_anyone_can_check(
    client: WebClient,
) -> None:
    _register(client)
    # enrolling needs a log-in and a CSRF token
    anon = client.fresh()
    assert anon.post(f"/courses/{INDUCTION}/enrol", data={}).status_code == 403
    response = client.post(f"/courses/{INDUCTION}/enrol", data={})
    assert response.status_code == 403  # no token
    response = client.post_form(f"/courses/{INDUCTION}/enrol", token_from=f"/courses/{INDUCTION}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/learning/courses/{INDUCTION}"
    lessons = _lessons(client, INDUCTION)
    readings, quiz = lessons[:-1], lessons[-1]
    first = client.get(f"/learning/courses/{INDUCTION}/lessons/{readings[0].id}")
    assert first.status_code == 200 and "<h1>The Five Safes</h1>" in first.text
    assert "<table>" in first.text  # Markdown rendered
    step = client.post_form(
        f"/learning/courses/{INDUCTION}/lessons/{readings[0].id}/complete",
        token_from=f"/learning/courses/{INDUCTION}",
    )
    assert step.headers["location"].endswith(f"/lessons/{readings[1].id}")
    # the learner leaves and comes back: the course page resumes at lesson two
    contents = client.get(f"/learning/courses/{INDUCTION}").text
    assert f'/lessons/{readings[1].id}">Continue: ' in contents
    # opening a later lesson (without finishing it) moves the bookmark there
    assert client.get(f"/learning/courses/{INDUCTION}/lessons/{readings[2].id}").status_code == 200
    contents = client.get(f"/learning/courses/{INDUCTION}").text
    assert f'/lessons/{readings[2].id}">Continue: ' in contents
    for lesson in readings[1:]:
        client.post_form(
            f"/learning/courses/{INDUCTION}/lessons/{lesson.id}/complete",
            token_from=f"/learning/courses/{INDUCTION}",
        )
    quiz_url = f"/learning/courses/{INDUCTION}/lessons/{quiz.id}/quiz"
    # an unanswered question: field-level errors, the other answers kept, nothing stored
    answers = _right_answers(client, quiz.id)
    missing = next(iter(answers))
    partial = {k: v for k, v in answers.items() if k != missing}
    bad = client.post_form(quiz_url, partial, token_from=f"/learning/courses/{INDUCTION}")
    assert bad.status_code == 422
    assert "There is a problem" in bad.text and f'href="#{missing}"' in bad.text
    assert f'aria-describedby="{missing}-error" aria-invalid="true"' in bad.text
    kept = next(iter(partial))
    assert re.search(rf'name="{kept}" value="{partial[kept]}" checked', bad.text)
    # a failed attempt, then a pass
    failed = client.post_form(
        quiz_url,
        _right_answers(client, quiz.id, right=3),
        token_from=f"/learning/courses/{INDUCTION}",
    )
    assert failed.status_code == 200 and "Not passed yet: 3 of 5 (60%)" in failed.text
    passed = client.post_form(quiz_url, answers, token_from=f"/learning/courses/{INDUCTION}")
    assert "You passed: 5 of 5 (100%)" in passed.text
    done = client.get(f"/learning/courses/{INDUCTION}").text
    assert "You have completed this course" in done
    code = re.search(r"/learning/statements/([A-Z2-7]{16})\.pdf", done)
    assert code is not None
    pdf = client.get(f"/learning/statements/{code.group(1)}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    # anyone can check the code, typed with dashes and in small letters
    shown = "-".join(code.group(1)[i : i + 4] for i in range(0, 16, 4)).lower()
    check = anon.get(f"/verify/{shown}")
    assert check.status_code == 200
    assert "This statement of participation is valid" in check.text
    assert "Nia Newcomer" in check.text and "Safe researcher induction" in check.text
    form = anon.get(f"/verify?code={shown}", follow_redirects=True)
    assert "is valid" in form.text
    # someone else cannot download it
    other = client.fresh().login_as("researcher2")
    assert other.get(f"/learning/statements/{code.group(1)}.pdf").status_code == 403
    # the dashboard shows the accreditation and a complete general plan
    dash = client.get("/learning").text
    assert "Safe researcher" in dash and "Valid" in dash


def test_an_invalid_or_revoked_code_says_so(client: WebClient) -> None:
    assert client.get("/verify/AAAA-AAAA-AAAA-AAAA").status_code == 404
    page = client.get("/verify/not-a-code")
    assert page.status_code == 404
    assert "This is not a valid statement of participation" in page.text
    with _db(client) as s:
        statement = s.scalars(select(Statement)).first()
        code, statement_id = statement.code, statement.id
        course = s.get(Course, statement.course_id)
        slug = course.slug
    admin = client.login_as("administrator")
    manage = admin.get(f"/learning/manage/courses/{slug}").text
    assert f'action="/learning/manage/statements/{code}/revoke"' in manage
    response = admin.post_form(
        f"/learning/manage/statements/{code}/revoke",
        {f"reason-{statement_id}": "issued in error"},
        token_from=f"/learning/manage/courses/{slug}",
    )
    assert response.status_code == 303
    page = client.fresh().get(f"/verify/{code}")
    assert page.status_code == 404
    assert "revoked" in page.text and "issued in error" in page.text


def test_a_closed_or_full_course_refuses_enrolment(client: WebClient) -> None:
    with _db(client) as s:
        course = s.scalar(select(Course).where(Course.slug == "output-checking"))
        course.capacity = course.enrolled_count
        s.commit()
    client.login_as("researcher")
    page = client.get("/courses/output-checking").text
    assert "Full: every place is taken" in page and "Enrol on this course" not in page
    response = client.post_form("/courses/output-checking/enrol", token_from="/courses")
    assert response.status_code == 303
    assert response.headers["location"] == "/courses/output-checking"
    assert "You could not enrol" in client.get("/courses/output-checking").text
    later = client.post_form("/courses/linkage-workshop/enrol", token_from="/courses")
    assert later.headers["location"] == "/courses/linkage-workshop"
    with _db(client) as s:
        researcher = s.scalar(select(User).where(User.name == "researcher"))
        slugs = {
            e.course.slug
            for e in s.scalars(select(Enrolment).where(Enrolment.user_id == researcher.id))
        }
    assert "output-checking" not in slugs and "linkage-workshop" not in slugs


def test_the_learning_plan_for_a_project_and_for_checkers(client: WebClient) -> None:
    from fivesafes.projects.models import ProjectMember

    with _db(client) as s:
        member = s.scalars(select(ProjectMember)).first()
        project_id, user_id = member.project_id, member.user_id
        who = s.get(User, user_id).name
        stranger = s.scalar(select(User).where(User.name == "data_owner"))
        assert stranger.id != user_id
    key = next(k for k, u in client.users.items() if u["name"] == who)
    client.login_as(key)
    plan = client.get(f"/learning/plan?project={project_id}")
    assert plan.status_code == 200
    assert "Your learning plan is complete" in plan.text
    assert "Safe researcher induction" in plan.text
    outsider = client.fresh().login_as("data_owner")
    assert outsider.get(f"/learning/plan?project={project_id}").status_code == 403
    own = outsider.get("/learning/plan")
    assert "You still need 1 course" in own.text
    checker = client.fresh().login_as("output_checker")
    page = checker.get("/learning/plan?role=output_checker").text
    assert "Output checking in practice" in page and "Your learning plan is complete" in page
    assert client.get("/learning/plan?role=wizard").status_code == 404


def test_learning_pages_need_a_log_in_and_enrolment(client: WebClient) -> None:
    anon = client.fresh()
    response = anon.get("/learning", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    client.login_as("data_owner")
    lessons = _lessons(client, INDUCTION)
    page = client.get(f"/learning/courses/{INDUCTION}/lessons/{lessons[0].id}")
    assert page.status_code == 403 and "Enrol on Safe researcher induction first" in page.text


def test_a_trainer_writes_a_course_with_a_quiz_through_the_pages(client: WebClient) -> None:
    client.login_as("trainer")
    form = "/learning/manage/courses/new"
    blank = client.get(form).text
    for name in ("title", "slug", "summary", "format", "fee"):  # every field is on the form
        assert f'name="{name}"' in blank, name
    assert "the course will be at /courses/ followed by this name." in blank
    assert "%(" not in blank and "{{" not in blank
    bad = client.post_form(
        form,
        {
            "title": "",
            "slug": "Bad Slug",
            "format": "x",
            "fee": "abc",
            "summary": "Kept summary",
            "required_for_datasets": "nope",
        },
    )
    assert bad.status_code == 422
    assert "Enter a title" in bad.text and 'href="#slug"' in bad.text
    assert "Kept summary" in bad.text  # what was typed is kept
    good = client.post_form(
        form,
        {
            "title": "Health data",
            "slug": "health-data",
            "summary": "Hospital admissions",
            "format": "self_paced",
            "duration": "1 hour",
            "fee": "0",
            "required_for_datasets": "hospital_admissions",
            "published": "1",
        },
    )
    assert good.status_code == 303
    assert good.headers["location"] == "/learning/manage/courses/health-data"
    new_lesson = "/learning/manage/courses/health-data/lessons/new"
    bad = client.post_form(new_lesson, {"title": "Quiz", "kind": "quiz", "pass_mark": "150"})
    assert bad.status_code == 422 and "Enter a percentage from 0 to 100" in bad.text
    made = client.post_form(
        new_lesson,
        {"title": "Reading", "kind": "reading", "body": "# Hi\n\n<script>x</script> text"},
    )
    assert made.status_code == 303
    quiz = client.post_form(new_lesson, {"title": "Quiz", "kind": "quiz", "pass_mark": "100"})
    edit_url = quiz.headers["location"]
    question_url = edit_url.replace("/edit", "/questions/new")
    bad = client.post_form(question_url, {"text": "Q?", "options": "only one", "answer": "1"})
    assert bad.status_code == 422 and "at least two options" in bad.text
    ok = client.post_form(question_url, {"text": "Q?", "options": "a\nb", "answer": "2"})
    assert ok.status_code == 303
    # it is in the catalogue and required for projects using hospital admissions
    assert "Health data" in client.fresh().get("/courses").text
    with _db(client) as s:
        from fivesafes.people.plan import required_courses

        assert "health-data" in [
            c.slug for c in required_courses(s, ["hospital_admissions"], "researcher")
        ]
    # a learner sees the lesson with the HTML escaped
    learner = client.fresh().login_as("researcher")
    learner.post_form("/courses/health-data/enrol", token_from="/courses/health-data")
    lessons = _lessons(client, "health-data")
    page = learner.get(f"/learning/courses/health-data/lessons/{lessons[0].id}").text
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    # a researcher cannot reach the trainers' pages; a data owner sees only their courses
    assert learner.get("/learning/manage").status_code == 403
    owner = client.fresh().login_as("data_owner")
    assert "Working with justice data" in owner.get("/learning/manage").text
    assert owner.get("/learning/manage/courses/health-data/edit").status_code == 403
    assert owner.get("/learning/manage/courses/justice-data/edit").status_code == 200


def test_a_trainer_records_attendance_of_a_live_course(client: WebClient) -> None:
    learner = client.login_as("researcher")
    learner.post_form("/courses/output-checking/enrol", token_from="/courses/output-checking")
    with _db(client) as s:
        course = s.scalar(select(Course).where(Course.slug == "output-checking"))
        researcher = s.scalar(select(User).where(User.name == "researcher"))
        enrolment = s.scalar(
            select(Enrolment).where(
                Enrolment.course_id == course.id, Enrolment.user_id == researcher.id
            )
        )
        enrolment_id = enrolment.id
    trainer = client.fresh().login_as("trainer")
    url = f"/learning/manage/courses/output-checking/enrolments/{enrolment_id}/attendance"
    response = trainer.post_form(url, token_from="/learning/manage/courses/output-checking")
    assert response.status_code == 303
    assert "Output checker" in learner.get("/learning").text


def test_an_administrator_grants_and_revokes_accreditations(client: WebClient) -> None:
    admin = client.login_as("administrator")
    url = "/learning/manage/accreditations"
    bad = admin.post_form(url, {"user": "nobody@example.org", "kind": "Safe!", "days": "0"})
    assert bad.status_code == 422
    assert "No user has the e-mail address or user name" in bad.text
    assert 'href="#kind"' in bad.text and 'href="#days"' in bad.text
    assert 'value="nobody@example.org"' in bad.text
    owner_email = client.users["data_owner"]["email"]
    assert admin.post_form(url, {"user": owner_email, "kind": "safe_researcher"}).status_code == 303
    owner = client.fresh().login_as("data_owner")
    assert "You still need" not in owner.get("/learning/plan").text
    with _db(client) as s:
        from fivesafes.people.models import Accreditation

        owner_id = s.scalar(select(User.id).where(User.name == "data_owner"))
        row_id = s.scalar(select(Accreditation.id).where(Accreditation.user_id == owner_id))
    assert (
        admin.post_form(f"{url}/{row_id}/revoke", {"reason": "test"}, token_from=url).status_code
        == 303
    )
    assert "You still need 1 course" in owner.get("/learning/plan").text
    assert owner.get(url).status_code == 403


def test_a_trainer_deletes_a_question_and_an_unused_lesson_but_not_a_used_one(
    client: WebClient,
) -> None:
    trainer = client.login_as("trainer")
    lessons = _lessons(client, "justice-data")  # researcher has finished all of them
    quiz = lessons[-1]
    with _db(client) as s:
        question_ids = [q.id for q in s.get(Lesson, quiz.id).questions]
    base = f"/learning/manage/courses/justice-data/lessons/{quiz.id}"
    page = trainer.get(f"{base}/questions/{question_ids[0]}/edit").text
    assert "Delete this question" in page
    gone = trainer.post_form(
        f"{base}/questions/{question_ids[0]}/delete", token_from=base + "/edit"
    )
    assert gone.status_code == 303
    with _db(client) as s:
        remaining = s.get(Lesson, quiz.id).questions
        assert [q.id for q in remaining] == question_ids[1:]
        assert [q.position for q in remaining] == [1, 2]
    refused = trainer.post_form(f"{base}/delete", token_from=base + "/edit")
    assert refused.headers["location"] == f"{base}/edit"
    assert "learners have already worked on" in trainer.get(f"{base}/edit").text
    new = trainer.post_form(
        "/learning/manage/courses/justice-data/lessons/new",
        {"title": "Extra", "kind": "reading", "body": "More"},
    )
    extra = new.headers["location"].removesuffix("/edit")
    assert trainer.post_form(f"{extra}/delete", token_from=f"{extra}/edit").status_code == 303
    assert [lesson.title for lesson in _lessons(client, "justice-data")] == [
        lesson.title for lesson in lessons
    ]
