"""The rule engine: a collection's rules compiled to DuckDB SQL and run on a return.

The return (every value as text, with ``__row``) is first copied once into a
table holding each column twice: its text as sent (``__raw_<name>``, shown in
reports) and its typed value under its own name (NULL when blank or not of its
type), which is what conditions and comparisons see. Every row-level rule
becomes one ``SELECT`` of the rows it fails, with the message built in SQL from
the rule's template; all of them run as one ``INSERT ... UNION ALL`` into an
``issues`` table. Nothing is evaluated row by row in Python: only comparisons
with the previous submission (a handful of counts) are finished in Python.
"""

from __future__ import annotations

import re
import string
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from fivesafes.collections.spec_types import DATE_EXPR, CollectionSpec, Rule, SpecColumn, SpecError

ISSUES = "__issues"
TYPED = "__t"
OPEN_END = "9999-12-31"
#: The comparison summary of a submission: per comparison rule, a count (or, for an
#: aggregate return, a measure's value) per group ("" when the rule has no ``by``).
Summary = dict[str, dict[str, float]]


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def raw(name: str) -> str:
    return q(f"__raw_{name}")


@dataclass
class Context:
    """What a rule is checked against: the provider and the collection year."""

    spec: CollectionSpec
    provider: str
    year: int

    @property
    def period(self) -> tuple[date, date]:
        return self.spec.period(self.year)

    def tokens(self) -> dict[str, str]:
        start, end = self.period
        return {
            "collection_year": self.spec.period_label(self.year),
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
        }

    def sql_text(self, text: str) -> str:
        """A condition with ``{collection_year}``, ``{period_start}``, ``{period_end}``
        replaced by SQL literals."""
        start, end = self.period
        return (
            text.replace("{collection_year}", self.spec.period_label(self.year))
            .replace("{period_start}", f"DATE '{start.isoformat()}'")
            .replace("{period_end}", f"DATE '{end.isoformat()}'")
        )

    def date_value(self, expr: Any) -> date:
        """A date bound: a date, ``YYYY-MM-DD`` or ``{period_start} - 18 years``."""
        if isinstance(expr, date):
            return expr
        m = DATE_EXPR.match(str(expr))
        assert m is not None  # checked when the spec was loaded
        base_text, sign, amount, unit = m.groups()
        start, end = self.period
        base = {"{period_start}": start, "{period_end}": end}.get(base_text) or date.fromisoformat(
            base_text
        )
        if not sign:
            return base
        n = int(amount) * (1 if sign == "+" else -1)
        if unit.startswith("day"):
            return date.fromordinal(base.toordinal() + n)
        months = n * 12 if unit.startswith("year") else n
        y, m0 = divmod(base.year * 12 + base.month - 1 + months, 12)
        day = base.day
        while True:
            try:
                return date(y, m0 + 1, day)
            except ValueError:
                day -= 1  # 29 February minus a year is 28 February


@dataclass
class Validation:
    """What the rules found in one return."""

    rows: int
    counts: dict[str, int]  # issues per rule id (only rules with issues)
    errors: int
    warnings: int
    summary: Summary
    seconds: float
    comparison: dict[str, str] = field(default_factory=dict)  # rule id -> note

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "errors": self.errors,
            "warnings": self.warnings,
            "issues_by_rule": self.counts,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds else None,
        }


def typed_sql(col: SpecColumn) -> str:
    """SQL for a column's typed value from its text (NULL if blank or not its type)."""
    r = raw(col.name)
    if col.type in ("string", "code"):
        return f"CASE WHEN trim({r}) = '' THEN NULL ELSE {r} END"
    if col.type == "integer":
        return (
            f"CASE WHEN regexp_full_match({r}, '\\s*[+-]?[0-9]{{1,18}}\\s*') "
            f"THEN CAST(trim({r}) AS BIGINT) END"
        )
    if col.type == "number":
        return (
            f"CASE WHEN regexp_full_match({r}, "
            f"'\\s*[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?\\s*') "
            f"THEN TRY_CAST(trim({r}) AS DOUBLE) END"
        )
    if col.type == "date":
        # YYYY-MM-DD only (the cast alone would also take 2021/06/01 or 2021-6-1).
        return (
            f"CASE WHEN length({r}) = 10 AND substr({r}, 5, 1) = '-' AND substr({r}, 8, 1) = '-' "
            f"AND substr({r}, 1, 1) BETWEEN '0' AND '9' THEN TRY_CAST({r} AS DATE) END"
        )
    if col.type == "flag":
        return f"CASE {r} WHEN '1' THEN TRUE WHEN '0' THEN FALSE END"
    raise AssertionError(col.type)


SQL_TYPE = {
    "string": "VARCHAR",
    "code": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "date": "DATE",
    "flag": "BOOLEAN",
}


def prepare(con: duckdb.DuckDBPyConnection, relation: str, spec: CollectionSpec) -> None:
    """Copy the return, typed, into the table the rules run on (one pass). A text
    column is stored once (blank as NULL), its ``__raw_`` name a virtual column."""
    defs, names, values = ["__row BIGINT"], ["__row"], ["__row"]
    for c in spec.columns:
        typed = typed_sql(c).replace(raw(c.name), q(c.name))
        if c.type in ("string", "code"):
            defs.append(f"{q(c.name)} VARCHAR")
            defs.append(f"{raw(c.name)} VARCHAR AS ({q(c.name)}) VIRTUAL")
            names.append(q(c.name))
            values.append(typed)
        else:
            defs.append(f"{raw(c.name)} VARCHAR")
            defs.append(f"{q(c.name)} {SQL_TYPE[c.type]}")
            names += [raw(c.name), q(c.name)]
            values += [q(c.name), typed]
    con.execute(f"DROP TABLE IF EXISTS {TYPED}")
    con.execute(f"CREATE TEMP TABLE {TYPED} ({', '.join(defs)})")
    con.execute(
        f"INSERT INTO {TYPED} ({', '.join(names)}) SELECT {', '.join(values)} FROM {relation}"
    )


def _blank(name: str) -> str:
    return f"coalesce(trim({raw(name)}), '') = ''"


def _message_sql(rule: Rule, ctx: Context, extra: dict[str, str], value_field: str) -> str:
    """The rule's message as a SQL expression: static text and placeholders."""
    static = dict(ctx.tokens())
    static["field"] = value_field
    static.update(_static_placeholders(rule, ctx))
    parts: list[str] = []
    for text, placeholder, _, _ in string.Formatter().parse(rule.message):
        if text:
            parts.append(lit(text))
        if placeholder is None:
            continue
        if placeholder in extra:
            parts.append(extra[placeholder])
        elif placeholder == "value":
            parts.append(raw(value_field))
        elif placeholder == "row":
            parts.append("CAST(__row AS VARCHAR)")
        elif placeholder in static:
            parts.append(lit(static[placeholder]))
        else:
            parts.append(raw(placeholder))
    if not parts:
        return "''"
    return "concat(" + ", ".join(parts) + ")"


def _codes(rule: Rule, ctx: Context) -> tuple[str, ...]:
    given = rule.params.get("codes")
    if given is not None:
        return tuple(str(v) for v in given)
    codes = ctx.spec.column(str(rule.params["field"])).codes
    assert codes is not None
    return codes


def _static_placeholders(rule: Rule, ctx: Context) -> dict[str, str]:
    p = rule.params
    out: dict[str, str] = {}
    if rule.check == "codes":
        codes = _codes(rule, ctx)
        out["codes"] = ", ".join(codes[:20]) + (", ..." if len(codes) > 20 else "")
    if rule.check == "range":
        col = ctx.spec.column(str(p["field"]))
        for key in ("min", "max"):
            if key in p:
                out[key] = (
                    ctx.date_value(p[key]).isoformat() if col.type == "date" else f"{p[key]:g}"
                )
            else:
                out[key] = "(none)"
    if rule.check == "age":
        out["min"] = str(p.get("min", "(none)"))
        out["max"] = str(p.get("max", "(none)"))
    if rule.check == "sum":
        out["total"] = str(p["total"])
        out["parts"] = " + ".join(map(str, p["parts"]))
    return out


def _bound_sql(rule: Rule, ctx: Context, key: str) -> str:
    col = ctx.spec.column(str(rule.params["field"]))
    value = rule.params[key]
    if col.type == "date":
        return f"DATE '{ctx.date_value(value).isoformat()}'"
    return repr(float(value)) if col.type == "number" else str(int(value))


def _date_sql(expr: str, ctx: Context) -> str:
    if expr in ctx.spec.column_names:
        return q(expr)
    return f"DATE '{ctx.date_value(expr).isoformat()}'"


def rule_queries(rule: Rule, no: int, ctx: Context) -> list[str]:
    """The SELECT(s) of the rows a row-level rule fails: (rule_no, row, field, value, message)."""
    p = rule.params
    when = f" AND coalesce(({ctx.sql_text(str(p['when']))}), FALSE)" if "when" in p else ""

    def select(fail: str, source: str = TYPED, extra: dict[str, str] | None = None) -> str:
        f = str(rule.field)
        msg = _message_sql(rule, ctx, extra or {}, f)
        return (
            f"SELECT {no} AS rule_no, __row AS row, {lit(f)} AS field, "
            f"{raw(f)} AS value, {msg} AS message FROM {source} WHERE ({fail}){when}"
        )

    f = q(str(p["field"])) if "field" in p else ""
    if rule.check == "required":
        col = ctx.spec.column(str(p["field"]))
        if col.type in ("string", "code"):  # the typed value is NULL exactly when blank
            return [select(f"{f} IS NULL")]
        return [select(_blank(str(p["field"])))]
    if rule.check == "type":
        return [select(f"NOT {_blank(str(p['field']))} AND {f} IS NULL")]
    if rule.check == "codes":
        listed = ", ".join(lit(c) for c in _codes(rule, ctx))
        return [select(f"{f} IS NOT NULL AND {f} NOT IN ({listed})")]
    if rule.check == "pattern":
        return [select(f"{f} IS NOT NULL AND NOT regexp_full_match({f}, {lit(str(p['pattern']))})")]
    if rule.check == "range":
        tests = []
        if "min" in p:
            tests.append(f"{f} < {_bound_sql(rule, ctx, 'min')}")
        if "max" in p:
            tests.append(f"{f} > {_bound_sql(rule, ctx, 'max')}")
        return [select(f"{f} IS NOT NULL AND ({' OR '.join(tests)})")]
    if rule.check == "provider":
        return [select(f"{f} IS NOT NULL AND {f} <> {lit(ctx.provider)}")]
    if rule.check == "compare":
        other = q(str(p["other"]))
        return [select(f"{f} IS NOT NULL AND {other} IS NOT NULL AND NOT ({f} {p['op']} {other})")]
    if rule.check == "age":
        on = _date_sql(str(p["at"]), ctx)
        tests = []
        if "min" in p:
            tests.append(f"__age < {int(p['min'])}")
        if "max" in p:
            tests.append(f"__age > {int(p['max'])}")
        source = (
            f"(SELECT *, date_sub('year', {f}, {on}) AS __age FROM {TYPED} "
            f"WHERE {f} IS NOT NULL AND {on} IS NOT NULL)"
        )
        return [
            select(
                " OR ".join(tests) or "FALSE",
                source,
                {"age": "CAST(__age AS VARCHAR)"},
            )
        ]
    if rule.check == "condition":
        cond = ctx.sql_text(str(p["condition"]))
        return [select(f"NOT coalesce(({cond}), TRUE)")]
    if rule.check == "unique":
        keys = [q(str(k)) for k in p["fields"]]
        key_list = ", ".join(keys)
        # Only the (rare) groups with more than one row go through the window.
        source = (
            f"(SELECT *, first_value(__row) OVER w AS __first_row, row_number() OVER w AS __rn "
            f"FROM {TYPED} WHERE ({key_list}) IN (SELECT ({key_list}) FROM {TYPED} "
            f"WHERE {' AND '.join(k + ' IS NOT NULL' for k in keys)} "
            f"GROUP BY ALL HAVING count(*) > 1) "
            f"WINDOW w AS (PARTITION BY {key_list} ORDER BY __row))"
        )
        return [select("__rn > 1", source, {"first_row": "CAST(__first_row AS VARCHAR)"})]
    if rule.check == "no_overlap":
        g, s, e = q(str(p["group"])), q(str(p["start"])), q(str(p["end"]))
        end_key = f"coalesce({e}, DATE '{OPEN_END}')"
        source = (
            f"(SELECT *, max({end_key}) OVER w AS __other_end, "
            f"arg_max(__row, {end_key}) OVER w AS __other_row FROM {TYPED} "
            f"WHERE {s} IS NOT NULL AND {g} IN (SELECT {g} FROM {TYPED} WHERE {s} IS NOT NULL "
            f"AND {g} IS NOT NULL GROUP BY 1 HAVING count(*) > 1) "
            f"WINDOW w AS (PARTITION BY {g} ORDER BY {s}, __row "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))"
        )
        other_end = (
            f"CASE WHEN __other_end = DATE '{OPEN_END}' THEN 'still open' "
            f"ELSE CAST(__other_end AS VARCHAR) END"
        )
        return [
            select(
                f"__other_end > {s}",
                source,
                {"other_row": "CAST(__other_row AS VARCHAR)", "other_end": other_end},
            )
        ]
    if rule.check == "consistent":
        g = q(str(p["group"]))
        out = []
        for name in p["fields"]:
            v = f"coalesce(trim({raw(str(name))}), '')"
            # Only the (rare) groups holding two values go through the window.
            source = (
                f"(SELECT *, first_value({v}) OVER w AS __first_value, "
                f"first_value(__row) OVER w AS __first_row FROM {TYPED} WHERE {g} IN "
                f"(SELECT {g} FROM {TYPED} WHERE {g} IS NOT NULL GROUP BY 1 "
                f"HAVING min({v}) <> max({v})) "
                f"WINDOW w AS (PARTITION BY {g} ORDER BY __row))"
            )
            msg = _message_sql(
                rule,
                ctx,
                {"first_row": "CAST(__first_row AS VARCHAR)", "first_value": "__first_value"},
                str(name),
            )
            out.append(
                f"SELECT {no} AS rule_no, __row AS row, {lit(str(name))} AS field, "
                f"{raw(str(name))} AS value, {msg} AS message FROM {source} "
                f"WHERE {v} <> __first_value"
            )
        return out
    if rule.check == "complete":
        return [_complete_query(rule, no, ctx)]
    if rule.check == "sum":
        return [_sum_query(rule, no, ctx)]
    raise AssertionError(rule.check)


def _complete_query(rule: Rule, no: int, ctx: Context) -> str:
    """The measures (codes) of the list that no row of the return holds (per ``by``
    group): one issue each, with no row (the row is what is missing)."""
    p = rule.params
    f = q(str(p["field"]))
    codes = ", ".join(f"({lit(str(c))})" for c in p["codes"])
    if "by" in p:
        g = q(str(p["by"]))
        groups = f"(SELECT DISTINCT {g} AS __g FROM {TYPED} WHERE {g} IS NOT NULL)"
        cond = f"t.{f} = c.__code AND t.{g} = gr.__g"
        source = f"(VALUES {codes}) c(__code) CROSS JOIN {groups} gr"
        group = "gr.__g"
    else:
        cond = f"t.{f} = c.__code"
        source = f"(VALUES {codes}) c(__code)"
        group = "'(all)'"
    msg = _message_sql(rule, ctx, {"value": "c.__code", "group": group}, str(p["field"]))
    return (
        f"SELECT {no} AS rule_no, CAST(NULL AS BIGINT) AS row, {lit(str(p['field']))} AS field, "
        f"c.__code AS value, {msg} AS message FROM {source} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {TYPED} t WHERE {cond})"
    )


def _sum_query(rule: Rule, no: int, ctx: Context) -> str:
    """The rows holding a total that differs from the sum of its parts (the parts
    sent; a part that is missing is the ``complete`` rule's to report)."""
    p = rule.params
    f, k = q(str(p["field"])), q(str(p["key"]))
    parts = ", ".join(lit(str(c)) for c in p["parts"])
    same = f" AND s.{q(str(p['by']))} = t.{q(str(p['by']))}" if "by" in p else ""
    tolerance = float(p.get("tolerance", 0))
    source = (
        f"(SELECT t.*, (SELECT sum(s.{f}) FROM {TYPED} s WHERE s.{k} IN ({parts}){same}) "
        f"AS __sum FROM {TYPED} t WHERE t.{k} = {lit(str(p['total']))})"
    )
    msg = _message_sql(rule, ctx, {"sum": "CAST(__sum AS VARCHAR)"}, str(p["field"]))
    return (
        f"SELECT {no} AS rule_no, __row AS row, {lit(str(p['field']))} AS field, "
        f"{raw(str(p['field']))} AS value, {msg} AS message FROM {source} "
        f"WHERE {f} IS NOT NULL AND __sum IS NOT NULL AND abs({f} - __sum) > {tolerance!r}"
    )


def summarise(con: duckdb.DuckDBPyConnection, spec: CollectionSpec) -> Summary:
    """The counts the comparison rules compare, for the return in the typed table."""
    out: Summary = {}
    for rule in spec.rules:
        if rule.check == "value_change":
            f, k = q(str(rule.params["field"])), q(str(rule.params["key"]))
            values = con.execute(
                f"SELECT CAST({k} AS VARCHAR), sum({f}) FROM {TYPED} "
                f"WHERE {k} IS NOT NULL AND {f} IS NOT NULL GROUP BY 1"
            ).fetchall()
            out[rule.id] = {str(key): _number(v) for key, v in values}
            continue
        if rule.check != "count_change":
            continue
        count = str(rule.params["count"])
        agg = "count(*)" if count == "rows" else f"count(DISTINCT {q(count.split()[1])})"
        by = rule.params.get("by")
        if by is None:
            row = con.execute(f"SELECT {agg} FROM {TYPED}").fetchone()
            out[rule.id] = {"": int(row[0]) if row else 0}
        else:
            rows = con.execute(
                f"SELECT coalesce(CAST({q(str(by))} AS VARCHAR), '(blank)'), {agg} "
                f"FROM {TYPED} GROUP BY 1"
            ).fetchall()
            out[rule.id] = {str(k): int(n) for k, n in rows}
    return out


def _number(value: Any) -> float:
    """A summary value: whole numbers stay whole (they are shown as counts)."""
    v = float(value)
    return int(v) if v.is_integer() else v


def compare_counts(
    rule: Rule, ctx: Context, current: dict[str, float], previous: dict[str, float]
) -> list[tuple[str | None, str, str]]:
    """Issues of a comparison rule: (field, value, message) per group (or measure)
    that changed by more than the rule allows, among groups with at least
    ``min_previous`` before."""
    limit = float(rule.params["max_change_percent"])
    floor = int(rule.params.get("min_previous", 0))
    out = []
    for group in sorted(set(current) | set(previous)):
        prev, cur = previous.get(group, 0), current.get(group, 0)
        if prev == 0 or prev < floor:
            continue
        change = (cur - prev) / prev * 100
        if abs(change) <= limit:
            continue
        words = {
            **ctx.tokens(),
            "current": f"{cur:,}",
            "previous": f"{prev:,}",
            "change": f"{change:+.1f}",
            "group": group or "(all)",
            "field": rule.field or "",
        }
        value = f"{prev} -> {cur}"
        where = rule.params.get("key") or rule.params.get("by") or rule.field
        out.append((where, value, rule.message.format(**words)))
    return out


def run_rules(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    ctx: Context,
    previous: Summary | None,
) -> Validation:
    """Run every rule of ``ctx.spec`` on ``relation`` (text columns and ``__row``);
    the issues are left in the table ``__issues`` (rule_no, row, field, value,
    message, in rule order), the counts returned."""
    t0 = time.perf_counter()
    spec = ctx.spec
    prepare(con, relation, spec)
    n = con.execute(f"SELECT count(*) FROM {TYPED}").fetchone()
    rows = int(n[0]) if n else 0
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {ISSUES} (rule_no INTEGER, row BIGINT, field VARCHAR, "
        "value VARCHAR, message VARCHAR)"
    )
    queries = [
        sql
        for no, rule in enumerate(spec.rules)
        if rule.kind != "comparison"
        for sql in rule_queries(rule, no, ctx)
    ]
    if queries:
        con.execute(f"INSERT INTO {ISSUES} " + " UNION ALL ".join(queries))
    summary = summarise(con, spec)
    notes: dict[str, str] = {}
    for no, rule in enumerate(spec.rules):
        if rule.kind != "comparison":
            continue
        before = None if previous is None else previous.get(rule.id)
        if before is None:
            notes[rule.id] = "no previous accepted submission to compare with"
            continue
        for fld, value, message in compare_counts(rule, ctx, summary[rule.id], before):
            con.execute(
                f"INSERT INTO {ISSUES} VALUES (?, NULL, ?, ?, ?)", [no, fld, value, message]
            )
    counts_by_no = dict(
        con.execute(f"SELECT rule_no, count(*) FROM {ISSUES} GROUP BY 1").fetchall()
    )
    counts = {spec.rules[int(k)].id: int(v) for k, v in sorted(counts_by_no.items())}
    errors = sum(v for k, v in counts.items() if spec.rule(k).severity == "error")
    warnings = sum(v for k, v in counts.items() if spec.rule(k).severity == "warning")
    return Validation(
        rows=rows,
        counts=counts,
        errors=errors,
        warnings=warnings,
        summary=summary,
        seconds=time.perf_counter() - t0,
        comparison=notes,
    )


def issues_relation(spec: CollectionSpec) -> str:
    """SQL of the issues with each rule's id, kind and severity, in report order
    (by row, comparisons first; then by rule)."""
    values = ", ".join(
        f"({no}, {lit(r.id)}, {lit(r.kind)}, {lit(r.severity)})" for no, r in enumerate(spec.rules)
    )
    return (
        f"SELECT i.row, i.field, i.value, r.rule, r.severity, r.kind, i.message "
        f"FROM {ISSUES} i JOIN (VALUES {values}) r(rule_no, rule, kind, severity) "
        f"USING (rule_no) ORDER BY i.row NULLS FIRST, i.rule_no, i.field"
    )


def compile_check(spec: CollectionSpec) -> None:
    """Compile every rule against an empty return, so that a condition naming an
    unknown column or with bad SQL is refused when the rule file is loaded (with no
    access to files: a condition reading one fails here)."""
    con = duckdb.connect(config={"enable_external_access": False})
    try:
        cols = ", ".join(f"{q(c)} VARCHAR" for c in spec.column_names)
        con.execute(f"CREATE TEMP TABLE __empty (__row BIGINT, {cols})")
        ctx = Context(spec, provider="X", year=spec.example_period)
        prepare(con, "__empty", spec)
        for no, rule in enumerate(spec.rules):
            if rule.kind == "comparison":
                continue
            for sql in rule_queries(rule, no, ctx):
                try:
                    con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
                except duckdb.Error as exc:
                    first = re.sub(r"\s+", " ", str(exc).splitlines()[0])[:200]
                    raise SpecError(
                        spec.path, f"the rule cannot be compiled to SQL ({first})", rule.id
                    ) from None
    finally:
        con.close()
