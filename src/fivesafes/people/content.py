"""The demo courses, resources and featured datasets, as files under ``content/``.

Each course is a folder ``content/courses/<slug>/`` with ``course.yaml`` (the
catalogue entry, its precision-training rules, its lessons in order and the quiz
questions) and one Markdown file per reading lesson. Dates are relative to the day
of loading (``opens_in_days``, ``closes_in_days``, ``starts_in_days``), so the demo
site always has a course that opens later and one that is open now.
``content/resources.yaml`` lists the articles (Markdown files under
``content/resources/``), videos and podcasts, and the featured datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

CONTENT = Path(__file__).parent / "content"


@dataclass
class QuestionSpec:
    text: str
    options: list[str]
    answer: int  # 0-based
    explanation: str = ""


@dataclass
class LessonSpec:
    title: str
    kind: str
    body: str = ""
    pass_mark: int | None = None
    questions: list[QuestionSpec] = field(default_factory=list)


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
    return CourseSpec(values, entry.get("owner"), lessons)


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
