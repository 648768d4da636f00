"""A collection's specification, read from its rule file (YAML) and checked.

A data manager edits the rule file, not code: the columns of the return (type,
zone, code list), the code lists with their labels, and the rules, each with an
id, a ``check`` (what kind of rule), a severity (``error`` blocks acceptance,
``warning`` needs the provider's explanation) and a message in plain words with
``{placeholders}``. :func:`load_spec` reads a file and refuses a bad one with a
:class:`SpecError` naming the file and the rule.
"""

from __future__ import annotations

import hashlib
import re
import string
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from fivesafes.collections.rules import compile_check
from fivesafes.collections.spec_types import (
    CHECK_PLACEHOLDERS,
    CHECKS,
    COLUMN_TYPES,
    COMMON_KEYS,
    COMMON_PLACEHOLDERS,
    COMPARE_OPS,
    DATE_EXPR,
    FREQUENCIES,
    KINDS,
    NAME,
    SEVERITIES,
    ZONES,
    CollectionSpec,
    ColumnType,
    Rule,
    SpecColumn,
    SpecError,
)
from fivesafes.errors import FivesafesError

SPECS_DIR = Path(__file__).parent / "specs"

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Rule files already read and checked, by path and content hash.
_CACHE: dict[tuple[str, str], CollectionSpec] = {}


def parse_period(text: str | int) -> int:
    """A period as people write it: a collection year (``2022`` for 2022-23) or a
    month (``2025-04``, held as 202504)."""
    value = str(text).strip()
    if re.fullmatch(r"[0-9]{4}", value):
        return int(value)
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", value)
    if m and 1 <= int(m.group(2)) <= 12:
        return int(m.group(1)) * 100 + int(m.group(2))
    raise FivesafesError(
        f"{value!r} is not a period: give a collection year (e.g. 2022 for 2022-23) "
        "or, for a monthly collection, a month as YYYY-MM (e.g. 2025-04)"
    )


def spec_path(name: str) -> Path:
    return SPECS_DIR / f"{name}.yaml"


def available() -> list[str]:
    """The collections with a rule file in the package."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def load_spec(name_or_path: str | Path) -> CollectionSpec:
    """Read and check a collection's rule file: a collection name (a file in the
    package's ``specs`` folder) or a path to a YAML file."""
    path = Path(name_or_path)
    if not (isinstance(name_or_path, Path) or path.suffix in (".yaml", ".yml")):
        path = spec_path(str(name_or_path))
        if not path.exists():
            raise FivesafesError(
                f"unknown collection {name_or_path!r}; choose one of {', '.join(available())}"
            )
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise SpecError(path, f"cannot be read ({exc.strerror})") from None
    digest = hashlib.sha256(raw_bytes).hexdigest()
    cached = _CACHE.get((str(path), digest))
    if cached is not None:
        return cached
    try:
        doc = yaml.load(raw_bytes.decode("utf-8"), Loader=_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError(path, f"is not valid YAML{where}") from None
    if not isinstance(doc, dict):
        raise SpecError(path, "must be a mapping with collection, columns and rules")
    spec = _build(path, doc, digest)
    _CACHE[(str(path), digest)] = spec
    return spec


def _build(path: Path, doc: dict[str, Any], digest: str) -> CollectionSpec:
    for key in ("collection", "title", "columns", "rules"):
        if key not in doc:
            raise SpecError(path, f"lacks the key {key!r}")
    unknown = set(doc) - {
        "collection",
        "title",
        "version",
        "provider_kind",
        "period",
        "code_lists",
        "columns",
        "rules",
        "kind",
        "frequency",
        "published",
        "title_cy",
        "code_lists_cy",
    }
    if unknown:
        raise SpecError(path, f"has unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    name = str(doc["collection"])
    if not NAME.match(name):
        raise SpecError(path, f"collection name {name!r} must be lower-case letters, digits, _")
    code_lists: dict[str, dict[str, str]] = {}
    for list_name, codes in (doc.get("code_lists") or {}).items():
        if not isinstance(codes, dict) or not codes:
            raise SpecError(path, f"code list {list_name!r} must map codes to labels")
        code_lists[str(list_name)] = {str(k): str(v) for k, v in codes.items()}
    code_lists_cy: dict[str, dict[str, str]] = {}
    for list_name, codes in (doc.get("code_lists_cy") or {}).items():
        english = code_lists.get(str(list_name))
        if english is None or not isinstance(codes, dict):
            raise SpecError(path, f"code_lists_cy names {list_name!r}, not a code list here")
        extra = sorted(set(map(str, codes)) - set(english))
        if extra:
            raise SpecError(
                path, f"code_lists_cy {list_name!r} has code(s) {', '.join(extra)} not in the list"
            )
        code_lists_cy[str(list_name)] = {str(k): str(v) for k, v in codes.items()}
    columns = _columns(path, doc["columns"], code_lists)
    period = doc.get("period") or {}
    try:
        month, day = int(period.get("start_month", 1)), int(period.get("start_day", 1))
        date(2001, month, day)
    except (TypeError, ValueError):
        raise SpecError(path, "period start_month/start_day is not a day of the year") from None
    kind = str(doc.get("kind", "individual"))
    if kind not in KINDS:
        raise SpecError(path, f"kind {kind!r} is not one of {', '.join(KINDS)}")
    frequency = str(doc.get("frequency", "annual"))
    if frequency not in FREQUENCIES:
        raise SpecError(path, f"frequency {frequency!r} is not one of {', '.join(FREQUENCIES)}")
    published = doc.get("published", True)
    if not isinstance(published, bool):
        raise SpecError(path, "published must be true or false")
    spec = CollectionSpec(
        name=name,
        title=str(doc["title"]),
        version=int(doc.get("version", 1)),
        path=path,
        sha256=digest,
        provider_kind=str(doc.get("provider_kind", "provider")),
        period_start_month=month,
        period_start_day=day,
        code_lists=code_lists,
        columns=columns,
        rules=(),
        kind=kind,
        frequency=frequency,
        published=published,
        title_cy=str(doc.get("title_cy") or ""),
        code_lists_cy=code_lists_cy,
    )
    rules = _rules(path, doc["rules"], spec)
    spec = CollectionSpec(**{**spec.__dict__, "rules": rules})
    # Compile once, so that a bad condition is refused when the file is loaded.
    compile_check(spec)
    return spec


def _columns(path: Path, raw: Any, code_lists: dict[str, dict[str, str]]) -> tuple[SpecColumn, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError(path, "columns must be a list of columns")
    out: list[SpecColumn] = []
    for i, c in enumerate(raw, start=1):
        if not isinstance(c, dict) or "name" not in c or "type" not in c:
            raise SpecError(path, f"column {i} needs a name and a type")
        cname = str(c["name"])
        if not NAME.match(cname):
            raise SpecError(path, f"column name {cname!r} must be lower-case letters, digits, _")
        ctype = str(c["type"])
        if ctype not in COLUMN_TYPES:
            raise SpecError(
                path, f"column {cname}: type {ctype!r} is not one of {', '.join(COLUMN_TYPES)}"
            )
        zone = str(c.get("zone", "content"))
        if zone not in ZONES:
            raise SpecError(path, f"column {cname}: zone {zone!r} is not one of {', '.join(ZONES)}")
        codes: tuple[str, ...] | None = None
        list_name = c.get("codes")
        if ctype == "code":
            if list_name is None:
                raise SpecError(path, f"column {cname} is a code but names no code list (codes:)")
            if isinstance(list_name, list):
                codes, list_name = tuple(str(v) for v in list_name), None
            elif str(list_name) in code_lists:
                codes = tuple(code_lists[str(list_name)])
            else:
                raise SpecError(path, f"column {cname}: no code list called {list_name!r}")
        if any(o.name == cname for o in out):
            raise SpecError(path, f"column {cname} is declared twice")
        birth = bool(c.get("birth", False))
        if birth and ctype != "date":
            raise SpecError(path, f"column {cname}: only a date can be a date of birth")
        out.append(
            SpecColumn(
                name=cname,
                type=ctype,  # type: ignore[arg-type]
                zone=zone,
                description=str(c.get("description", cname)),
                codes=codes,
                code_list=None if list_name is None else str(list_name),
                birth=birth,
                provider=bool(c.get("provider", False)),
            )
        )
    return tuple(out)


def _rules(path: Path, raw: Any, spec: CollectionSpec) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        raise SpecError(path, "rules must be a list of rules")
    seen: set[str] = set()
    out: list[Rule] = []
    for i, r in enumerate(raw, start=1):
        if not isinstance(r, dict):
            raise SpecError(path, f"rule {i} is not a mapping")
        rid = str(r.get("id", "")).strip()
        if not rid:
            raise SpecError(path, f"rule {i} has no id")
        if rid in seen:
            raise SpecError(path, "the id is used twice", rid)
        seen.add(rid)
        out.append(_rule(path, rid, r, spec))
    have_type = {r.params["field"] for r in out if r.check == "type"}
    for c in spec.columns:
        if c.type in ("integer", "number", "date", "flag") and c.name not in have_type:
            raise SpecError(
                path,
                f"column {c.name} is a {c.type} but no rule checks that its values are; "
                f"add a rule with check: type, field: {c.name}",
            )
    return tuple(out)


def _rule(path: Path, rid: str, r: dict[str, Any], spec: CollectionSpec) -> Rule:
    def bad(message: str) -> SpecError:
        return SpecError(path, message, rid)

    check = str(r.get("check", ""))
    if check not in CHECKS:
        raise bad(f"check {check!r} is not one of {', '.join(CHECKS)}")
    _, needed, optional = CHECKS[check]
    missing = sorted(needed - set(r))
    if missing:
        raise bad(f"a rule with check: {check} needs {', '.join(missing)}")
    extra = sorted(set(r) - needed - optional - COMMON_KEYS)
    if extra:
        raise bad(f"a rule with check: {check} does not take {', '.join(extra)}")
    severity = str(r.get("severity", ""))
    if severity not in SEVERITIES:
        raise bad(f"severity must be error or warning, not {severity!r}")
    message = r.get("message")
    if not isinstance(message, str) or not message.strip():
        raise bad("has no message")
    params = {k: v for k, v in r.items() if k not in COMMON_KEYS}
    names = set(spec.column_names)

    def column(key: str, value: Any = None) -> SpecColumn:
        cname = str(params[key] if value is None else value)
        if cname not in names:
            raise bad(f"{key} {cname!r} is not a column of {spec.name}")
        return spec.column(cname)

    for key in ("field", "other", "group", "start", "end"):
        if key in params:
            column(key)
    for key in ("fields",):
        if key in params:
            if not isinstance(params[key], list) or not params[key]:
                raise bad(f"{key} must be a list of columns")
            for v in params[key]:
                column(key, v)
    if check == "type" and column("field").type == "string":
        raise bad(f"{params['field']} is text: a type rule has nothing to check")
    if check == "codes":
        col = column("field")
        given = params.get("codes")
        if given is None and col.codes is None:
            raise bad(f"{col.name} has no code list; give codes: in the rule")
        if isinstance(given, str):
            if given not in spec.code_lists:
                raise bad(f"no code list called {given!r}")
            params["codes"] = list(spec.code_lists[given])
        elif given is not None and not isinstance(given, list):
            raise bad("codes must be a list or the name of a code list")
    if check == "pattern":
        try:
            re.compile(str(params["pattern"]))
        except re.error as exc:
            raise bad(f"the pattern is not a regular expression ({exc})") from None
    if check == "range":
        if "min" not in params and "max" not in params:
            raise bad("a range rule needs min, max or both")
        col = column("field")
        for key in ("min", "max"):
            if key in params:
                _bound(params[key], col, bad, key)
    if check == "provider" and not column("field").provider:
        raise bad(f"{params['field']} is not the provider column (provider: true)")
    if check == "compare":
        if params["op"] not in COMPARE_OPS:
            raise bad(f"op must be one of {' '.join(COMPARE_OPS)}")
        a, b = column("field"), column("other")
        if _family(a.type) != _family(b.type):
            raise bad(f"{a.name} ({a.type}) cannot be compared with {b.name} ({b.type})")
    if check == "age":
        if column("field").type != "date":
            raise bad(f"{params['field']} is not a date")
        at = str(params["at"])
        if at in names:
            if spec.column(at).type != "date":
                raise bad(f"at: {at} is not a date column")
        elif not DATE_EXPR.match(at):
            raise bad(f"at: {at!r} is neither a date column nor a date")
        for key in ("min", "max"):
            if key in params and not isinstance(params[key], int):
                raise bad(f"{key} must be a whole number of years")
    if check == "no_overlap":
        for key in ("start", "end"):
            if column(key).type != "date":
                raise bad(f"{key} {params[key]} is not a date column")
    if check == "count_change":
        count = str(params["count"])
        if count != "rows":
            m = re.fullmatch(r"distinct\s+(\w+)", count)
            if m is None:
                raise bad("count must be 'rows' or 'distinct <column>'")
            column("count", m.group(1))
            params["count"] = f"distinct {m.group(1)}"
        if "by" in params:
            column("by")
        try:
            pct = float(params["max_change_percent"])
        except (TypeError, ValueError):
            raise bad("max_change_percent must be a number") from None
        if pct < 0:
            raise bad("max_change_percent must not be negative")
        if not isinstance(params.get("min_previous", 0), int):
            raise bad("min_previous must be a whole number")
    if check in ("complete", "sum", "value_change"):
        _aggregate_rule(check, params, spec, column, bad)
    for key in ("when", "condition"):
        if key in params:
            text = str(params[key])
            if ";" in text or "--" in text or "/*" in text:
                raise bad(f"{key} must be one condition (no ';' or comments)")
    _check_message(message, check, names, bad)
    return Rule(id=rid, check=check, severity=severity, message=message, params=params)


def _aggregate_rule(
    check: str, params: dict[str, Any], spec: CollectionSpec, column: Any, bad: Any
) -> None:
    """Check the keys of the rules for aggregate returns (a row per measure)."""
    if check == "complete":
        col = column("field")
        given = params["codes"]
        if isinstance(given, str):
            if given not in spec.code_lists:
                raise bad(f"no code list called {given!r}")
            params["codes"] = list(spec.code_lists[given])
        elif not isinstance(given, list) or not given:
            raise bad("codes must be a list or the name of a code list")
        if "by" in params:
            column("by")
        if col.codes is not None:
            unknown = sorted(set(map(str, params["codes"])) - set(col.codes))
            if unknown:
                raise bad(f"{', '.join(unknown)} not in the code list of {col.name}")
        return
    if column("field").type not in ("integer", "number"):
        raise bad(f"{params['field']} holds the values and must be a number column")
    key = column("key")
    if check == "sum":
        if not isinstance(params["parts"], list) or not params["parts"]:
            raise bad("parts must be a list of the measures that add up to the total")
        listed = [str(params["total"]), *map(str, params["parts"])]
        if key.codes is not None:
            unknown = sorted(set(listed) - set(key.codes))
            if unknown:
                raise bad(f"{', '.join(unknown)} not in the code list of {key.name}")
        if str(params["total"]) in map(str, params["parts"]):
            raise bad("the total cannot be one of its own parts")
        if "by" in params:
            column("by")
        tol = params.get("tolerance", 0)
        if isinstance(tol, bool) or not isinstance(tol, int | float) or tol < 0:
            raise bad("tolerance must be a number, 0 or more")
        return
    try:
        pct = float(params["max_change_percent"])
    except (TypeError, ValueError):
        raise bad("max_change_percent must be a number") from None
    if pct < 0:
        raise bad("max_change_percent must not be negative")
    if not isinstance(params.get("min_previous", 0), int):
        raise bad("min_previous must be a whole number")


def _family(kind: str) -> str:
    return {"integer": "number", "number": "number", "code": "string"}.get(kind, kind)


def _bound(value: Any, col: SpecColumn, bad: Any, key: str) -> None:
    if col.type == "date":
        if not isinstance(value, str | date) or (
            isinstance(value, str) and not DATE_EXPR.match(value)
        ):
            raise bad(
                f"{key} {value!r} is not a date (YYYY-MM-DD, {{period_start}}, "
                "{period_end}, optionally - N years/months/days)"
            )
    elif col.type in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"{key} {value!r} is not a number")
    else:
        raise bad(f"{col.name} is {col.type}: a range needs a number or date column")


def _check_message(message: str, check: str, names: set[str], bad: Any) -> None:
    allowed = COMMON_PLACEHOLDERS | CHECK_PLACEHOLDERS.get(check, frozenset()) | names
    if check in ("count_change", "value_change"):  # about the whole return, not one row
        allowed = (COMMON_PLACEHOLDERS - {"value", "row"}) | CHECK_PLACEHOLDERS[check]
    if check == "complete":  # about a measure that is not there: no row, no other columns
        allowed = (COMMON_PLACEHOLDERS - {"row"}) | CHECK_PLACEHOLDERS[check]
    try:
        parsed = list(string.Formatter().parse(message))
    except ValueError as exc:
        raise bad(f"the message has unbalanced braces ({exc})") from None
    for _, placeholder, spec_, conv in parsed:
        if placeholder is None:
            continue
        if placeholder not in allowed or spec_ or conv:
            raise bad(
                f"the message uses {{{placeholder}}}, which a rule with check: {check} "
                "does not know; "
                f"use one of {', '.join('{' + a + '}' for a in sorted(allowed))}"
            )


__all__ = [
    "CHECKS",
    "CHECK_PLACEHOLDERS",
    "COLUMN_TYPES",
    "COMMON_KEYS",
    "COMMON_PLACEHOLDERS",
    "COMPARE_OPS",
    "DATE_EXPR",
    "NAME",
    "SEVERITIES",
    "ZONES",
    "CollectionSpec",
    "ColumnType",
    "Rule",
    "SpecColumn",
    "SpecError",
    "available",
    "load_spec",
    "spec_path",
]
