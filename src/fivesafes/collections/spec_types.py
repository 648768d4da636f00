"""What a collection's specification is made of: its columns, rules and the
kinds of check, as types and constants. Read by the loader (:mod:`.spec`, which
fills them from a rule file) and by the rules engine (:mod:`.rules`), so that
neither imports the other's work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fivesafes.datasets import Column, Dataset
from fivesafes.errors import FivesafesError

ColumnType = Literal["string", "code", "integer", "number", "date", "flag"]
COLUMN_TYPES: tuple[str, ...] = ("string", "code", "integer", "number", "date", "flag")
ZONES = ("identifier", "content", "both")
SEVERITIES = ("error", "warning")

#: Every kind of check, the kind of rule it is, its required and optional keys.
CHECKS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "required": ("field", frozenset({"field"}), frozenset({"when"})),
    "type": ("field", frozenset({"field"}), frozenset()),
    "codes": ("field", frozenset({"field"}), frozenset({"codes", "when"})),
    "pattern": ("field", frozenset({"field", "pattern"}), frozenset({"when"})),
    "range": ("field", frozenset({"field"}), frozenset({"min", "max", "when"})),
    "provider": ("field", frozenset({"field"}), frozenset()),
    "compare": ("cross_field", frozenset({"field", "op", "other"}), frozenset({"when"})),
    "age": ("cross_field", frozenset({"field", "at"}), frozenset({"min", "max", "when"})),
    "condition": ("cross_field", frozenset({"field", "condition"}), frozenset({"when"})),
    "unique": ("cross_record", frozenset({"fields"}), frozenset({"field"})),
    "no_overlap": ("cross_record", frozenset({"group", "start", "end"}), frozenset()),
    "consistent": ("cross_record", frozenset({"group", "fields"}), frozenset()),
    "count_change": (
        "comparison",
        frozenset({"count", "max_change_percent"}),
        frozenset({"by", "min_previous"}),
    ),
    # Aggregate returns (one row per measure): every measure sent, totals equal
    # the sum of their parts, each measure's value against the previous period.
    "complete": ("cross_record", frozenset({"field", "codes"}), frozenset({"by"})),
    "sum": (
        "cross_record",
        frozenset({"field", "key", "total", "parts"}),
        frozenset({"by", "tolerance"}),
    ),
    "value_change": (
        "comparison",
        frozenset({"field", "key", "max_change_percent"}),
        frozenset({"min_previous"}),
    ),
}
KINDS = ("individual", "aggregate")
FREQUENCIES = ("annual", "monthly")
COMMON_KEYS = frozenset({"id", "check", "severity", "message"})
COMPARE_OPS = ("<", "<=", ">", ">=", "=", "!=")

#: Placeholders every message may use, and those particular checks add.
COMMON_PLACEHOLDERS = frozenset(
    {"value", "row", "field", "collection_year", "period_start", "period_end"}
)
CHECK_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "codes": frozenset({"codes"}),
    "range": frozenset({"min", "max"}),
    "age": frozenset({"age", "min", "max"}),
    "unique": frozenset({"first_row"}),
    "consistent": frozenset({"first_row", "first_value"}),
    "no_overlap": frozenset({"other_row", "other_end"}),
    "count_change": frozenset({"current", "previous", "change", "group"}),
    "complete": frozenset({"group"}),
    "sum": frozenset({"total", "parts", "sum"}),
    "value_change": frozenset({"current", "previous", "change", "group"}),
}
DATE_EXPR = re.compile(
    r"^\s*(\{period_start\}|\{period_end\}|\d{4}-\d{2}-\d{2})\s*"
    r"(?:([+-])\s*(\d+)\s*(years?|months?|days?))?\s*$"
)
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(FivesafesError):
    """A rule file that cannot be used: names the file and, where it can, the rule."""

    def __init__(self, file: Path | str, message: str, rule: str | None = None) -> None:
        self.file = str(file)
        self.rule = rule
        where = Path(file).name + (f", rule {rule}" if rule else "")
        super().__init__(f"{where}: {message}. Fix the rule file; nothing was checked.")


@dataclass(frozen=True)
class SpecColumn:
    name: str
    type: ColumnType
    zone: str
    description: str
    codes: tuple[str, ...] | None = None
    code_list: str | None = None
    birth: bool = False  # a date of birth: birth year and month go to the content side
    provider: bool = False  # holds the provider's own code


@dataclass(frozen=True)
class Rule:
    id: str
    check: str
    severity: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return CHECKS[self.check][0]

    @property
    def field(self) -> str | None:
        """The field an issue of this rule is reported against."""
        p = self.params
        if "field" in p:
            return str(p["field"])
        if self.check == "unique":
            return str(p["fields"][0])
        if self.check == "no_overlap":
            return str(p["start"])
        if self.check == "count_change":
            count = str(p["count"])
            return count.split()[1] if count.startswith("distinct ") else None
        return None


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    title: str
    version: int
    path: Path
    sha256: str
    provider_kind: str
    period_start_month: int
    period_start_day: int
    code_lists: dict[str, dict[str, str]]
    columns: tuple[SpecColumn, ...]
    rules: tuple[Rule, ...]
    #: ``individual`` (a row per person or episode) or ``aggregate`` (a row per measure).
    kind: str = "individual"
    #: ``annual`` (periods are years: 2022 for 2022-23) or ``monthly`` (periods are
    #: months, held as YYYYMM: 202504 for April 2025).
    frequency: str = "annual"
    #: Whether the collection's tables may be published (a restricted collection's
    #: figures are seen only by the roles granted them).
    published: bool = True
    #: The collection's title in Welsh (``title_cy`` in the rule file; "" if none).
    title_cy: str = ""
    #: The code lists' words in Welsh (``code_lists_cy``: list → code → words), for
    #: the Welsh published tables; a code without Welsh words shows its English ones.
    code_lists_cy: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def monthly(self) -> bool:
        return self.frequency == "monthly"

    def check_period(self, period: int) -> None:
        """Refuse a period that is not one of this collection's (a year, or YYYYMM)."""
        if self.monthly:
            year, month = divmod(period, 100)
            if not (1990 <= year <= 2100 and 1 <= month <= 12):
                raise FivesafesError(
                    f"{period} is not a month of {self.name}; give it as YYYY-MM (e.g. 2025-04)"
                )
        elif not 1990 <= period <= 2100:
            raise FivesafesError(f"{period} is not a collection year (1990 to 2100)")

    def period_label(self, period: int) -> str:
        """How people write a period: ``2022`` (the year 2022-23) or ``2025-04``."""
        if self.monthly:
            year, month = divmod(period, 100)
            return f"{year:04d}-{month:02d}"
        return str(period)

    @property
    def example_period(self) -> int:
        return 200004 if self.monthly else 2000

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> SpecColumn:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise FivesafesError(
            f"{self.name} has no rule {rule_id!r}; its rules are "
            f"{', '.join(r.id for r in self.rules)}"
        )

    def period(self, year: int) -> tuple[date, date]:
        """First and last day of collection year ``year`` (of the month YYYYMM for a
        monthly collection)."""
        if self.monthly:
            y, m = divmod(year, 100)
            first = date(y, m, 1)
            following = date(y + (m == 12), m % 12 + 1, 1)
            return first, date.fromordinal(following.toordinal() - 1)
        start = date(year, self.period_start_month, self.period_start_day)
        nxt = date(year + 1, self.period_start_month, self.period_start_day)
        return start, date.fromordinal(nxt.toordinal() - 1)

    @property
    def content_columns(self) -> tuple[SpecColumn, ...]:
        return tuple(c for c in self.columns if c.zone in ("content", "both"))

    def dataset(self) -> Dataset:
        """The collection as a :class:`~fivesafes.datasets.Dataset`, for the file
        reader and the split-file store."""
        kinds = {"string": "string", "code": "string", "integer": "integer"}
        return Dataset(
            name=self.name,
            title=self.title,
            provider=self.provider_kind,
            description=self.title,
            yearly=True,
            columns=tuple(
                Column(
                    c.name,
                    kinds.get(c.type, c.type),  # type: ignore[arg-type]
                    c.zone,  # type: ignore[arg-type]
                    c.description,
                    derive_birth=c.birth,
                )
                for c in self.columns
            ),
        )
