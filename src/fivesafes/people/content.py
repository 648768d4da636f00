"""The demo courses, resources and featured datasets, as files under ``content/``.

Each course is a folder ``content/courses/<slug>/`` with ``course.yaml`` (the
catalogue entry, its precision-training rules, its lessons in order and the quiz
questions) and one Markdown file per reading lesson. Dates are relative to the day
of loading (``opens_in_days``, ``closes_in_days``, ``starts_in_days``), so the demo
site always has a course that opens later and one that is open now.

A course may also come in other languages: ``course.<code>.yaml`` beside
``course.yaml`` (``course.cy.yaml`` for Welsh) holds the translated title, summary,
description and duration and a ``lessons`` list in the same order as the English
one, each with its translated title and either a ``file`` (the translated Markdown,
by convention ``01-five-safes.cy.md``) or a ``quiz`` with the translated intro and
questions (text, options in the English order, explanation; the right answer is
the English file's, so marking never depends on the language). Any field left out
shows in English. See docs/learning.md.

``content/resources.yaml`` lists the articles (Markdown files under
``content/resources/``), videos and podcasts, and the featured datasets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

CONTENT = Path(__file__).parent / "content"
#: A translation's file name: ``course.cy.yaml``.
TRANSLATION = re.compile(r"^course\.([a-z]{2,3})\.yaml$")
#: The course fields a translation may give.
COURSE_TEXT = ("title", "summary", "description", "duration")


class ContentError(ValueError):
    """A course's files do not fit together (e.g. a translation with another number
    of lessons or options than the English)."""


@dataclass
class QuestionSpec:
    text: str
    options: list[str]
    answer: int  # 0-based
    explanation: str = ""
    #: ``{"cy": {"text": ..., "options": [...], "explanation": ...}}``
    translations: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class LessonSpec:
    title: str
    kind: str
    body: str = ""
    pass_mark: int | None = None
    questions: list[QuestionSpec] = field(default_factory=list)
    #: ``{"cy": {"title": ..., "body": ...}}``
    translations: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class CourseSpec:
    values: dict[str, Any]
    owner: str | None
    lessons: list[LessonSpec]


def _relative(entry: dict[str, Any], key: str, today: date) -> date | None:
    days = entry.get(key)
    return None if days is None else today + timedelta(days=int(days))


def load_course(folder: Path, today: date | None = None) -> CourseSpec:
    day = today or date.today()
    entry = yaml.safe_load((folder / "course.yaml").read_text(encoding="utf-8"))
    values = {
        "slug": entry["slug"],
        "title": entry["title"],
        "summary": " ".join(entry["summary"].split()),
        "description": entry.get("description", ""),
        "format": entry["format"],
        "duration": entry["duration"],
        "fee_pence": round(float(entry.get("fee", 0)) * 100),
        "enrolment_opens_on": _relative(entry, "opens_in_days", day),
        "enrolment_closes_on": _relative(entry, "closes_in_days", day),
        "starts_on": _relative(entry, "starts_in_days", day),
        "location": entry.get("location", ""),
        "capacity": entry.get("capacity"),
        "required_for_everyone": bool(entry.get("required_for_everyone", False)),
        "required_for_roles": list(entry.get("required_for_roles", [])),
        "required_for_datasets": list(entry.get("required_for_datasets", [])),
        "required_for_outputs": list(entry.get("required_for_outputs", [])),
        "grants_accreditation": entry.get("grants_accreditation"),
        "accreditation_valid_days": entry.get("accreditation_valid_days"),
        "published": bool(entry.get("published", True)),
    }
    lessons = []
    for item in entry.get("lessons", []):
        if "quiz" in item:
            quiz = item["quiz"]
            questions = [
                QuestionSpec(
                    q["text"], list(q["options"]), int(q["answer"]) - 1, q.get("explanation", "")
                )
                for q in quiz["questions"]
            ]
            lessons.append(
                LessonSpec(
                    item["title"], "quiz", quiz.get("intro", ""), int(quiz["pass_mark"]), questions
                )
            )
        else:
            body = (folder / item["file"]).read_text(encoding="utf-8")
            lessons.append(LessonSpec(item["title"], "reading", body))
    values["translations"] = {}
    for path in sorted(folder.glob("course.*.yaml")):
        match = TRANSLATION.match(path.name)
        if match is None or match.group(1) == "en":
            continue
        code = match.group(1)
        values["translations"][code] = _translate(folder, path, code, lessons)
    return CourseSpec(values, entry.get("owner"), lessons)


def _clean(text: Any) -> str:
    return str(text).strip() if text is not None else ""


def _translate(folder: Path, path: Path, code: str, lessons: list[LessonSpec]) -> dict[str, Any]:
    """Read the translation ``path`` into the lessons' and questions' ``translations``
    and return the course's translated fields."""
    entry = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    where = f"{folder.name}/{path.name}"
    course: dict[str, Any] = {}
    for key in COURSE_TEXT:
        if entry.get(key):
            value = _clean(entry[key])
            course[key] = " ".join(value.split()) if key == "summary" else value
    items = entry.get("lessons") or []
    if items and len(items) != len(lessons):
        raise ContentError(
            f"{where}: {len(items)} lessons, but course.yaml has {len(lessons)} "
            "(a translation lists every lesson, in the same order)"
        )
    for number, (item, lesson) in enumerate(zip(items, lessons, strict=False), start=1):
        text: dict[str, Any] = {}
        if item.get("title"):
            text["title"] = _clean(item["title"])
        if ("quiz" in item) != (lesson.kind == "quiz"):
            raise ContentError(f"{where}: lesson {number} is a {lesson.kind} in course.yaml")
        if "file" in item:
            text["body"] = (folder / item["file"]).read_text(encoding="utf-8")
        if "quiz" in item:
            quiz = item["quiz"] or {}
            if quiz.get("intro"):
                text["body"] = _clean(quiz["intro"])
            if "pass_mark" in quiz or any("answer" in q for q in quiz.get("questions") or []):
                raise ContentError(
                    f"{where}: lesson {number}: the pass mark and the answers are the "
                    "English file's (marking is the same in every language)"
                )
            questions = quiz.get("questions") or []
            if questions and len(questions) != len(lesson.questions):
                raise ContentError(
                    f"{where}: lesson {number} has {len(questions)} questions, "
                    f"course.yaml {len(lesson.questions)}"
                )
            for qnum, (q, spec) in enumerate(zip(questions, lesson.questions, strict=False), 1):
                options = [_clean(o) for o in q.get("options") or []]
                if options and len(options) != len(spec.options):
                    raise ContentError(
                        f"{where}: lesson {number}, question {qnum}: {len(options)} options, "
                        f"course.yaml {len(spec.options)} (same options, same order)"
                    )
                words = {"text": _clean(q.get("text")), "explanation": _clean(q.get("explanation"))}
                qtext: dict[str, Any] = {k: v for k, v in words.items() if v}
                if options:
                    qtext["options"] = options
                if qtext:
                    spec.translations[code] = qtext
        if text:
            lesson.translations[code] = text
    return course


def load_courses(today: date | None = None) -> list[CourseSpec]:
    folders = sorted(p for p in (CONTENT / "courses").iterdir() if (p / "course.yaml").is_file())
    return [load_course(p, today) for p in folders]


def load_resources() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The resources (with an article's Markdown read in) and featured datasets."""
    entry = yaml.safe_load((CONTENT / "resources.yaml").read_text(encoding="utf-8"))
    resources = []
    for item in entry.get("resources", []):
        values = {
            "slug": item["slug"],
            "kind": item["kind"],
            "title": item["title"],
            "summary": " ".join(item["summary"].split()),
            "url": item.get("url", ""),
            "duration": item.get("duration", ""),
            "body": "",
        }
        if "file" in item:
            values["body"] = (CONTENT / "resources" / item["file"]).read_text(encoding="utf-8")
        resources.append(values)
    return resources, list(entry.get("featured_datasets", []))
