"""Course content in both languages (issue 20, item 4): the catalogue and its JSON
list each course's languages; a Welsh reader gets the Welsh title, summary, lessons
and quiz where the course has them (English otherwise); marking a quiz is the same in
either language (answers are option indexes keyed by question id)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from webclient import WebClient

from fivesafes.appdb import session_factory
from fivesafes.people.content import CONTENT, ContentError, load_course, load_courses
from fivesafes.people.models import Course, Lesson

INDUCTION = "safe-researcher-induction"
WELSH = {"Accept-Language": "cy"}
ENGLISH = {"Accept-Language": "en"}


def _db(client: WebClient) -> Any:
    return session_factory(client.app.state.db.engine)()  # type: ignore[attr-defined]


def _lessons(client: WebClient) -> list[tuple[int, str]]:
    with _db(client) as s:
        course = s.scalar(select(Course).where(Course.slug == INDUCTION))
        return [(lesson.id, lesson.kind) for lesson in course.lessons]


def _answers(client: WebClient, lesson_id: int) -> dict[str, str]:
    with _db(client) as s:
        return {f"q{q.id}": str(q.answer) for q in s.get(Lesson, lesson_id).questions}


def test_the_induction_comes_in_welsh_lesson_by_lesson() -> None:
    spec = next(c for c in load_courses() if c.values["slug"] == INDUCTION)
    welsh = spec.values["translations"]["cy"]
    assert welsh["title"] == "Cyflwyniad i fod yn ymchwilydd diogel"
    assert all("cy" in lesson.translations for lesson in spec.lessons)
    assert "ffugenwi" in spec.lessons[0].translations["cy"]["body"]
    quiz = spec.lessons[-1]
    for question in quiz.questions:
        cy = question.translations["cy"]
        assert len(cy["options"]) == len(question.options) and cy["text"] != question.text
    # a course without a translation has none
    others = [c for c in load_courses() if c.values["slug"] == "justice-data"]
    assert others[0].values["translations"] == {}


def _copy_course(tmp_path: Path) -> Path:
    folder = tmp_path / INDUCTION
    folder.mkdir()
    for path in (CONTENT / "courses" / INDUCTION).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace("  - title: Y Pum Diogel\n    file: 01-five-safes.cy.md\n", ""),
            "lessons",
        ),
        (lambda t: t.replace("            - Cyfrineiriau diogel\n", ""), "options"),
        (
            lambda t: t.replace("      questions:\n", "      pass_mark: 50\n      questions:\n"),
            "pass mark",
        ),
    ],
)
def test_a_translation_that_does_not_fit_the_english_is_refused(
    tmp_path: Path, change: Any, message: str
) -> None:
    folder = _copy_course(tmp_path)
    welsh = folder / "course.cy.yaml"
    welsh.write_text(change(welsh.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ContentError, match=message):
        load_course(folder)


def test_the_catalogue_and_its_json_list_the_languages(client: WebClient) -> None:
    page = client.get("/courses", headers=ENGLISH).text
    card = page[page.index(f'href="/courses/{INDUCTION}"') :]
    languages = re.search(r'class="course-languages">(.*?)</dd>', card)
    assert languages is not None
    assert languages.group(1) == '<span lang="en">English</span>, <span lang="cy">Cymraeg</span>'
    listing = client.get("/courses.json", headers=ENGLISH).json()
    by_slug = {c["slug"]: c for c in listing["courses"]}
    assert by_slug[INDUCTION]["languages"] == ["en", "cy"]
    assert by_slug["justice-data"]["languages"] == ["en"]
    assert by_slug[INDUCTION]["title"] == "Safe researcher induction"
    one = client.get(f"/courses/{INDUCTION}.json", headers=WELSH).json()
    assert one["languages"] == ["en", "cy"] and one["language"] == "cy"
    assert one["title"] == "Cyflwyniad i fod yn ymchwilydd diogel"
    assert one["lessons"][0] == {"title": "Y Pum Diogel", "kind": "reading", "language": "cy"}
    assert "Cwrs hunan-gyflym" in one["description"]
    assert "Languages" in client.get(f"/courses/{INDUCTION}", headers=ENGLISH).text


def test_a_welsh_reader_sees_the_welsh_course_and_english_where_there_is_none(
    client: WebClient,
) -> None:
    welsh = client.get("/courses", headers=WELSH).text
    assert "Cyflwyniad i fod yn ymchwilydd diogel" in welsh
    assert "Safe researcher induction" not in welsh
    # a course with no Welsh stays English, marked as English for screen readers
    assert re.search(r'<li class="card" lang="en">\s*<h2><a href="/courses/justice-data"', welsh)
    page = client.get(f"/courses/{INDUCTION}", headers=WELSH).text
    assert "<h1>Cyflwyniad i fod yn ymchwilydd diogel</h1>" in page
    assert "Ieithoedd" in page
    english = client.get(f"/courses/{INDUCTION}", headers=ENGLISH).text
    assert "<h1>Safe researcher induction</h1>" in english


def test_the_lesson_is_in_the_readers_language(client: WebClient) -> None:
    client.login_as("researcher")  # completed the induction: may open its lessons
    first, _kind = _lessons(client)[0]
    url = f"/learning/courses/{INDUCTION}/lessons/{first}"
    welsh = client.get(url, headers=WELSH).text
    assert "<h1>Y Pum Diogel</h1>" in welsh and "Amgylchedd Ymchwil Dibynadwy" in welsh
    assert "<table>" in welsh and "The Five Safes" not in welsh
    english = client.get(url, headers=ENGLISH).text
    assert "<h1>The Five Safes</h1>" in english and "Y Pum Diogel" not in english
    contents = client.get(f"/learning/courses/{INDUCTION}", headers=WELSH).text
    assert "Gwiriwch eich dealltwriaeth" in contents


def test_passing_the_quiz_in_welsh_counts_the_same(client: WebClient) -> None:
    client.login_as("researcher2")  # part way through the induction again
    client.get("/language/cy")
    lessons = _lessons(client)
    quiz_id = next(lid for lid, kind in lessons if kind == "quiz")
    for lesson_id, kind in lessons:
        if kind == "reading":
            client.post_form(
                f"/learning/courses/{INDUCTION}/lessons/{lesson_id}/complete",
                token_from=f"/learning/courses/{INDUCTION}",
            )
    quiz_url = f"/learning/courses/{INDUCTION}/lessons/{quiz_id}"
    page = client.get(quiz_url).text
    assert "Pa un o&#39;r rhain NAD yw&#39;n un o&#39;r Pum Diogel?" in page
    assert "Cyfrineiriau diogel" in page and "Safe passwords" not in page
    answers = _answers(client, quiz_id)
    passed = client.post_form(f"{quiz_url}/quiz", answers, token_from=quiz_url)
    assert passed.status_code == 200
    assert 'id="result"' in passed.text and "5" in passed.text
    with _db(client) as s:
        from fivesafes.people.models import Enrolment, QuizAttempt

        attempt = s.scalars(select(QuizAttempt).where(QuizAttempt.lesson_id == quiz_id)).all()[-1]
        assert attempt.passed and attempt.score == attempt.total == 5
        enrolment = s.get(Enrolment, attempt.enrolment_id)
        assert enrolment.completed_at is not None  # the course is complete, in Welsh
    # the same answers in English score the same: marking does not read the text
    english = client.fresh().login_as("researcher")
    english.get("/language/en")
    again = english.post_form(f"{quiz_url}/quiz", answers, token_from=quiz_url)
    assert "You passed: 5 of 5 (100%)" in again.text
