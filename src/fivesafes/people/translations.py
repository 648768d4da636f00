"""Courses, lessons and quiz questions seen in a language.

A row's ``translations`` column holds its text in other languages than English
(``{"cy": {"title": ..., "summary": ...}}``, read from ``course.cy.yaml`` and the
``.cy.md`` lessons, see :mod:`fivesafes.people.content`). :func:`in_language` wraps a
row so that its text fields read in the language asked for where the row has them,
in English otherwise, and every other attribute (ids, dates, the right answer, the
pass mark) is the row's own: marking a quiz never depends on the language.
"""

from __future__ import annotations

from typing import Any

#: The fields a translation may replace, per table.
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "courses": ("title", "summary", "description", "duration"),
    "lessons": ("title", "body"),
    "quiz_questions": ("text", "options", "explanation"),
}
#: The source language of course content.
SOURCE = "en"


class InLanguage:
    """A course, lesson or question (``row``) read in the language ``code``."""

    __slots__ = ("_code", "_row")

    def __init__(self, row: Any, code: str) -> None:
        self._row = row
        self._code = code

    @property
    def row(self) -> Any:
        """The row itself (in English)."""
        return self._row

    def _text(self) -> dict[str, Any]:
        return dict((getattr(self._row, "translations", None) or {}).get(self._code) or {})

    @property
    def text_language(self) -> str:
        """The language its title is shown in: ``code`` where it has a translation
        of its title (or, for a question, its text), else English."""
        text = self._text()
        return self._code if (text.get("title") or text.get("text")) else SOURCE

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._row, name)
        if name in ("lessons", "questions"):
            return [InLanguage(item, self._code) for item in value]
        fields = TEXT_FIELDS.get(getattr(self._row, "__tablename__", ""), ())
        if name in fields and self._code != SOURCE:
            translated = self._text().get(name)
            if translated:
                if name == "options" and len(translated) != len(value):
                    return value  # never a different list of choices than the English
                return translated
        return value

    def __eq__(self, other: object) -> bool:
        other_row = other._row if isinstance(other, InLanguage) else other
        return bool(self._row == other_row)

    def __hash__(self) -> int:
        return hash(self._row)

    def __repr__(self) -> str:
        return f"InLanguage({self._row!r}, {self._code!r})"


def in_language(row: Any, code: str) -> Any:
    """``row`` (a course, lesson or question, or None) read in the language ``code``."""
    if row is None or isinstance(row, InLanguage):
        return row
    return InLanguage(row, code)
