"""Quarterly and yearly indicators: change on the previous period and rolling averages.

The input is long format, one row per area, indicator and period (``2024Q1`` for a
quarter, ``2024`` for a year) with a count; ``N/A`` or a blank value is a missing
period, and so is a period with no row at all between an indicator's first and
latest period. For each area and indicator :func:`summarise` gives:

- the **latest period**: the latest period of *that indicator* in the input, across
  all areas (the reporting period). An area that did not report it gets that period
  with a blank value and a note, never its own last value passed off as current;
- the **previous period**: the period immediately before the latest (the quarter
  before for quarterly series, the year before for yearly ones), never the previous
  *available* one — a change over two quarters is not a quarterly change;
- the **change in percent**, ``(latest − previous) / previous × 100``, to one
  decimal, blank with a note when either value is missing or withheld, or the
  previous value is zero;
- the **average** of the last ``window`` available values up to the latest period
  (all available when ``window`` is ``None``), and how many it averages.

Rounding is half away from zero (12.25 → 12.3, −12.25 → −12.3, 2.5 → 3), the
rule published statistics use ("round half up"), not banker's rounding; it is
computed exactly (fractions), so a float's binary error never decides a half.

With a disclosure policy (:mod:`fivesafes.outputs.policy`), each value is first
checked by :func:`fivesafes.outputs.check` as a cell of a series table: values the
policy suppresses (below the threshold; zeros when the policy says zeros are
disclosive) are withheld, and values are rounded when the policy rounds. The change
and the average are then computed from the *published* values only: a change or an
average that would need a withheld value is itself withheld, with a note, since it
would give the withheld value away.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.errors import InputError
from fivesafes.outputs.policy import Policy
from fivesafes.spreadsheet import inert_frame

COLUMNS = ("area", "indicator", "period", "value")
#: The columns of the summary, one row per area and indicator.
OUTPUT_COLUMNS = (
    "area",
    "indicator",
    "latest_period",
    "latest_value",
    "previous_period",
    "previous_value",
    "change_percent",
    "average",
    "periods_averaged",
    "note",
)
MISSING_TEXT = frozenset({"", "N/A", "NA", "n/a", "na", ".."})

_QUARTER = re.compile(r"^(\d{4})\s*-?\s*[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_NOTE_DETAIL = re.compile(r" \(.*\)$| of \d{4}(Q[1-4])?(, \d{4}(Q[1-4])?)*$")

# statuses of one period of one series
AVAILABLE, MISSING, SUPPRESSED = "available", "missing", "suppressed"


@dataclass(frozen=True, order=True)
class Period:
    """A quarter (``quarter`` 1-4) or a year (``quarter`` 0)."""

    year: int
    quarter: int = 0

    @property
    def yearly(self) -> bool:
        return self.quarter == 0

    @property
    def unit(self) -> str:
        return "year" if self.yearly else "quarter"

    @property
    def ordinal(self) -> int:
        """Consecutive periods have consecutive ordinals."""
        return self.year if self.yearly else self.year * 4 + self.quarter - 1

    @classmethod
    def from_ordinal(cls, ordinal: int, yearly: bool) -> Period:
        return cls(ordinal) if yearly else cls(ordinal // 4, ordinal % 4 + 1)

    def previous(self) -> Period:
        """The immediately preceding period (2024Q1 → 2023Q4; 2024 → 2023)."""
        return Period.from_ordinal(self.ordinal - 1, self.yearly)

    def __str__(self) -> str:
        return str(self.year) if self.yearly else f"{self.year}Q{self.quarter}"


def parse_period(text: str) -> Period | None:
    """``2024Q1`` (also ``2024 Q1``, ``2024-q1``) or ``2024``; None if malformed."""
    t = text.strip()
    if m := _QUARTER.match(t):
        return Period(int(m.group(1)), int(m.group(2)))
    if m := _YEAR.match(t):
        return Period(int(m.group(1)))
    return None


def round_half_away(x: Fraction, places: int = 0) -> Fraction:
    """``x`` rounded to ``places`` decimals, halves away from zero, exactly."""
    scale = Fraction(10) ** places
    magnitude = math.floor(abs(x) * scale + Fraction(1, 2))
    return Fraction(magnitude if x >= 0 else -magnitude) / scale


def percent_change(latest: Fraction, previous: Fraction) -> Fraction:
    """``(latest − previous) / previous × 100`` to one decimal, half away from zero."""
    return round_half_away((latest - previous) / previous * 100, 1)


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def _exact(x: float) -> Fraction:
    """A published value as an exact fraction (via its shortest decimal form)."""
    return Fraction(Decimal(repr(float(x))))


# ---------------------------------------------------------------------------
# reading


def read_indicators_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate a long-format indicator table (see :func:`validate`); a
    row with more or fewer fields than the header is refused, naming the row."""
    name = str(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise _error(name, f"is not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise _error(name, f"cannot be read as CSV: {exc}") from exc
    if not rows:
        raise _error(name, "is empty; the first line must name the columns")
    header, body = rows[0], rows[1:]
    while body and not body[-1]:
        body.pop()  # blank lines at the end
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise _error(
                name,
                f"cannot be read as CSV: {len(r)} fields where the header has {len(header)}",
                row=i + 1,
            )
    return validate(pd.DataFrame(body, columns=header, dtype=str), name)


def _error(file: str, message: str, **where: Any) -> InputError:
    return InputError(file, message, consequence="Nothing was written.", **where)


def validate(df: pd.DataFrame, file: str = "table") -> pd.DataFrame:
    """Check a long table of text cells and return it typed: ``area``, ``indicator``,
    ``period`` (:class:`Period`), ``value`` (float, NaN where missing).

    Raises :class:`InputError` naming the file, the data row (1 = first row after
    the header) and the field of the first problem, with how many more there are."""
    df = df.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise _error(
            file,
            f"has no column {', '.join(repr(c) for c in missing)}; the columns must be "
            f"{', '.join(COLUMNS)} (its columns are {', '.join(df.columns) or 'none'})",
            field=missing[0],
        )
    if df.empty:
        raise _error(file, "has no rows")
    text = {c: df[c].astype(str).str.strip() for c in COLUMNS}
    for c in ("area", "indicator"):
        bad = np.flatnonzero((text[c] == "").to_numpy())
        if len(bad):
            raise _error(file, f"the {c} is blank", row=int(bad[0]) + 1, field=c, more=len(bad) - 1)
    parsed = {t: parse_period(t) for t in text["period"].unique()}
    periods = [parsed[p] for p in text["period"]]
    bad_periods = [i for i, p in enumerate(periods) if p is None]
    if bad_periods:
        raise _error(
            file,
            "the period is not a quarter like 2024Q1 or a year like 2024",
            row=bad_periods[0] + 1,
            field="period",
            value=df["period"].iloc[bad_periods[0]],
            more=len(bad_periods) - 1,
        )
    raw = text["value"]
    is_missing = raw.isin(MISSING_TEXT)
    numbers = pd.to_numeric(raw.where(~is_missing), errors="coerce")
    bad = np.flatnonzero((numbers.isna() & ~is_missing).to_numpy())
    if len(bad):
        raise _error(
            file,
            "the value is not a number (write N/A or leave it blank for a missing period)",
            row=int(bad[0]) + 1,
            field="value",
            value=df["value"].iloc[bad[0]],
            more=len(bad) - 1,
        )
    bad = np.flatnonzero((numbers < 0).to_numpy() | np.isinf(numbers.to_numpy(dtype=float)))
    if len(bad):
        raise _error(
            file,
            "the value must be a count (zero or more)",
            row=int(bad[0]) + 1,
            field="value",
            value=df["value"].iloc[bad[0]],
            more=len(bad) - 1,
        )
    out = pd.DataFrame(
        {
            "area": text["area"],
            "indicator": text["indicator"],
            "period": pd.Series(periods, dtype=object),
            "value": numbers.astype(float),
        }
    )
    # one frequency per indicator
    yearly = pd.Series([p.yearly for p in periods if p is not None])
    for ind, rows in out.groupby("indicator", sort=False).groups.items():
        kinds = yearly.iloc[list(rows)]
        if kinds.nunique() > 1:
            first = int(rows[0])
            other = next(int(r) for r in rows if yearly.iloc[r] != yearly.iloc[first])
            raise _error(
                file,
                f"indicator {ind!r} mixes quarters and years (row {first + 1} has "
                f"{out['period'].iloc[first]}); one indicator has one frequency",
                row=other + 1,
                field="period",
                value=df["period"].iloc[other],
            )
    key = pd.DataFrame(
        {"a": out["area"], "i": out["indicator"], "p": [str(p) for p in out["period"]]}
    )
    dup = key.duplicated(keep="first").to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((key == key.iloc[row]).all(axis=1).to_numpy())[0])
        raise _error(
            file,
            f"the same area, indicator and period appear twice (also row {first + 1})",
            row=row + 1,
            field="period",
            value=", ".join(key.iloc[row]),
            more=int(dup.sum()) - 1,
        )
    return out


# ---------------------------------------------------------------------------
# calculation


@dataclass
class IndicatorResult:
    """The summary (one row per area and indicator) and the full published series."""

    summary: pd.DataFrame  # OUTPUT_COLUMNS
    series: pd.DataFrame  # area, indicator, period, value (published), status
    window: int | None
    policy: Policy | None
    latest: dict[str, str] = field(default_factory=dict)  # indicator -> latest period
    check_notes: list[str] = field(default_factory=list)
    #: The available values before disclosure control (the rules' input); never published.
    counts_checked: pd.DataFrame | None = None

    def output_object(self) -> Any:
        """The series as the disclosure engine reads it: a series table of every
        available value (true values, before protection), one cell per area,
        indicator and period."""
        from fivesafes.outputs import FrequencyTable

        raw = self.counts_checked
        if raw is None:
            raise ValueError("no values to check")
        return FrequencyTable(
            labels=pd.DataFrame(
                {
                    "area": raw["area"].to_numpy(),
                    "indicator": raw["indicator"].to_numpy(),
                    "period": [str(p) for p in raw["period"]],
                }
            ),
            values=raw["value"].to_numpy(dtype=float),
            kind="series",
        )

    def as_analysis_result(self) -> Any:
        """The indicators as an :class:`~fivesafes.analysis.result.AnalysisResult`
        (method ``indicators``): the summary and the published series as tables,
        both checkable through the series' output object."""
        from fivesafes.analysis.result import AnalysisResult

        result = AnalysisResult(method="indicators", summary=self.to_dict())
        obj = self.output_object()
        result.add_table(
            "indicators",
            self.summary,
            "One row per area and indicator: latest value, previous value, change "
            "in percent, average of the last available periods, and why any is blank.",
            obj,
        )
        result.add_table(
            "indicator-series",
            self.series.drop(columns="ordinal").assign(
                period=lambda d: [str(p) for p in d["period"]]
            ),
            "Every area, indicator and period, as published (blank when missing or "
            "withheld), with its status.",
            obj,
        )
        result.notes.extend(self.check_notes)
        return result

    def counts(self) -> dict[str, int]:
        status = self.series["status"]
        return {
            "series": len(self.summary),
            "periods_available": int((status == AVAILABLE).sum()),
            "periods_missing": int((status == MISSING).sum()),
            "periods_suppressed": int((status == SUPPRESSED).sum()),
            "changes_blank": int(self.summary["change_percent"].isna().sum()),
            "averages_blank": int(self.summary["average"].isna().sum()),
        }

    def note_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for note in self.summary["note"]:
            for part in filter(None, str(note).split("; ")):
                kind = _NOTE_DETAIL.sub("", part)  # without the details
                out[kind] = out.get(kind, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def write_csv(self, path: str | Path) -> None:
        inert_frame(self.summary).to_csv(path, index=False, na_rep="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "policy": None if self.policy is None else self.policy.label,
            "latest_period": self.latest,
            "areas": int(self.summary["area"].nunique()),
            "indicators": list(dict.fromkeys(self.summary["indicator"])),
            **self.counts(),
            "notes": self.note_counts(),
            "disclosure_notes": self.check_notes,
        }


def complete(df: pd.DataFrame) -> pd.DataFrame:
    """Every area × indicator × period from the indicator's first to its latest
    period (across all areas); a period without a row is missing, like ``N/A``.
    Columns: area, indicator, period, value, status (available or missing), and
    ``ordinal`` (consecutive periods, consecutive integers). Series come in the
    order of their first row, periods in time order."""
    work = df.assign(
        ordinal=np.array([p.ordinal for p in df["period"]], dtype=np.int64),
        yearly=np.array([p.yearly for p in df["period"]], dtype=bool),
    )
    bounds = work.groupby("indicator", sort=False).agg(
        lo=("ordinal", "min"), hi=("ordinal", "max"), yearly=("yearly", "first")
    )
    pairs = work[["indicator", "area"]].drop_duplicates().join(bounds, on="indicator")
    lengths = (pairs["hi"] - pairs["lo"] + 1).to_numpy()
    starts = np.repeat(pairs["lo"].to_numpy(), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    full = pd.DataFrame(
        {
            "area": np.repeat(pairs["area"].to_numpy(), lengths),
            "indicator": np.repeat(pairs["indicator"].to_numpy(), lengths),
            "ordinal": starts + offsets,
            "yearly": np.repeat(pairs["yearly"].to_numpy(), lengths),
        }
    )
    full = full.merge(
        work[["area", "indicator", "ordinal", "value"]],
        on=["area", "indicator", "ordinal"],
        how="left",
    )
    cache: dict[tuple[int, bool], Period] = {}
    full["period"] = [
        cache.setdefault((o, y), Period.from_ordinal(o, y))
        for o, y in zip(full["ordinal"].tolist(), full["yearly"].tolist(), strict=True)
    ]
    full["status"] = np.where(full["value"].isna(), MISSING, AVAILABLE)
    return full[["area", "indicator", "period", "value", "status", "ordinal"]]


def protect(full: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, list[str]]:
    """Apply the disclosure policy to every available value (a series table without
    margins, checked by :func:`fivesafes.outputs.check`): withheld values become
    blank with status ``suppressed``, rounded ones take their rounded value."""
    from fivesafes.outputs import FrequencyTable, check

    out = full.copy()
    avail = np.flatnonzero((out["status"] == AVAILABLE).to_numpy())
    if not len(avail):
        return out, []
    sub = out.iloc[avail]
    table = FrequencyTable(
        labels=pd.DataFrame(
            {
                "area": sub["area"].to_numpy(),
                "indicator": sub["indicator"].to_numpy(),
                "period": [str(p) for p in sub["period"]],
            }
        ),
        values=sub["value"].to_numpy(dtype=float),
        kind="series",
    )
    result = check(table, policy)
    values = out["value"].to_numpy(dtype=float).copy()
    status = out["status"].to_numpy(dtype=object).copy()
    for v in result.verdicts:
        i = avail[v.cell]
        if v.status == "suppress" or v.safe_value is None:
            values[i] = np.nan
            status[i] = SUPPRESSED
        else:
            values[i] = v.safe_value
    out["value"] = values
    out["status"] = status
    return out, list(result.notes)


def _withheld_why(policy: Policy | None) -> str:
    if policy is None:
        return "withheld"
    small = f"fewer than {policy.minimum_count}" if policy.minimum_count else "small"
    zeros = " or zero" if policy.zeros else ""
    return f"suppressed ({small}{zeros}, policy {policy.name})"


def summarise(
    full: pd.DataFrame, window: int | None = None, policy: Policy | None = None
) -> pd.DataFrame:
    """One row per area and indicator (see the module docstring), from a completed
    (and, for publication, protected) series: ``area, indicator, period, value, status``."""
    if window is not None and window < 1:
        raise ValueError("window must be at least 1")
    withheld = _withheld_why(policy)
    rows = []
    # plain arrays and one slice per series (pandas per group is slow on many series)
    codes, _ = pd.factorize(pd.Series(list(zip(full["area"], full["indicator"], strict=True))))
    order = np.argsort(codes, kind="stable")  # series by first row, time order kept
    areas = full["area"].to_numpy()[order]
    inds = full["indicator"].to_numpy()[order]
    periods = full["period"].to_numpy()[order]
    ordinals = full["ordinal"].to_numpy()[order]
    values = full["value"].to_numpy(dtype=float)[order]
    statuses = full["status"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        area, ind = areas[a], inds[a]
        latest_p: Period = periods[b - 1]  # complete() keeps time order
        unit = latest_p.unit
        prev_p = latest_p.previous()
        latest_v, latest_st = values[b - 1], statuses[b - 1]
        prev_v, prev_st = np.nan, MISSING
        if b - a > 1 and ordinals[b - 2] == prev_p.ordinal:
            prev_v, prev_st = values[b - 2], statuses[b - 2]
        notes: list[str] = []
        if latest_st == MISSING:
            notes.append(f"latest {unit} not available")
        elif latest_st == SUPPRESSED:
            notes.append(f"latest value {withheld}")
        if prev_st == MISSING:
            notes.append(f"previous {unit} not available")
        elif prev_st == SUPPRESSED:
            notes.append(f"previous value {withheld}")
        change: float | None = None
        if latest_st == AVAILABLE and prev_st == AVAILABLE:
            if prev_v == 0:
                notes.append("previous value is zero")
            else:
                change = float(percent_change(_exact(latest_v), _exact(prev_v)))
        # the average: the last `window` available (or withheld) values up to the latest
        known = a + np.flatnonzero(statuses[a:b] != MISSING)
        taken = known if window is None else known[-window:]
        average: int | None = None
        if not len(taken):
            notes.append(f"no {unit} available for the average")
        elif (statuses[taken] == SUPPRESSED).any():
            hidden = [str(periods[i]) for i in taken if statuses[i] == SUPPRESSED]
            notes.append(
                "average withheld: it would include the suppressed "
                f"value{'s' if len(hidden) > 1 else ''} of {', '.join(hidden)}"
            )
        else:
            total = sum((_exact(v) for v in values[taken].tolist()), Fraction(0))
            average = int(round_half_away(total / len(taken)))
            if window is not None and len(taken) < window:
                n = len(taken)
                notes.append(
                    f"average of {n} {unit}{'s' if n > 1 else ''}, "
                    f"fewer than the window of {window}"
                )
        rows.append(
            {
                "area": area,
                "indicator": ind,
                "latest_period": str(latest_p),
                "latest_value": _cell(latest_v),
                "previous_period": str(prev_p),
                "previous_value": _cell(prev_v),
                "change_percent": change,
                "average": average,
                "periods_averaged": len(taken) if average is not None else None,
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS), dtype=object)


def _cell(x: float) -> int | float | None:
    if x is None or np.isnan(x):
        return None
    return int(x) if float(x).is_integer() else float(x)


def calculate(
    data: pd.DataFrame | str | Path,
    window: int | None = None,
    policy: Policy | None = None,
    file: str = "table",
) -> IndicatorResult:
    """Indicators from a long table (a path, or a DataFrame of text or typed cells):
    complete the series, protect them under ``policy`` (if given), summarise."""
    if isinstance(data, str | Path):
        df = read_indicators_csv(data)
    elif not data.empty and isinstance(data["period"].iloc[0], Period):
        df = data
    else:
        df = validate(data.astype(object).where(data.notna(), "").astype(str), file)
    full = complete(df)
    raw = full[full["status"] == AVAILABLE].reset_index(drop=True)
    notes: list[str] = []
    if policy is not None:
        full, notes = protect(full, policy)
    summary = summarise(full, window=window, policy=policy)
    last = full.loc[full.groupby("indicator", sort=False)["ordinal"].idxmax()]
    latest = {str(i): str(p) for i, p in zip(last["indicator"], last["period"], strict=True)}
    return IndicatorResult(summary, full, window, policy, latest, notes, raw)


def series_table(result: IndicatorResult) -> pd.DataFrame:
    """The published series as text: area, indicator, period, value (blank when
    missing or withheld), status."""
    s = result.series.drop(columns="ordinal")
    s["period"] = [str(p) for p in s["period"]]
    s["value"] = pd.Series([_cell(v) for v in s["value"]], index=s.index, dtype=object)
    return s


def to_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (None for blanks)."""
    return [
        {k: (None if _blank(v) else v) for k, v in row.items()}
        for row in df.to_dict(orient="records")
    ]


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def quarters(first: str, last: str) -> list[str]:
    """The periods from ``first`` to ``last`` inclusive, as text."""
    a, b = parse_period(first), parse_period(last)
    if a is None or b is None or a.yearly != b.yearly:
        raise ValueError(f"bad period range {first}..{last}")
    return [str(Period.from_ordinal(o, a.yearly)) for o in range(a.ordinal, b.ordinal + 1)]


def long_table(rows: Iterable[Sequence[Any]]) -> pd.DataFrame:
    """A text DataFrame in the input format from ``(area, indicator, period, value)``
    tuples (``None`` for a missing value), for tests and for building inputs."""
    return pd.DataFrame(
        [[str(a), str(i), str(p), "N/A" if v is None else str(v)] for a, i, p, v in rows],
        columns=list(COLUMNS),
    )
