"""The outputs stage of the demo: tables made on a project workspace, checked by
the disclosure rules, taken through the airlock by two checkers to release bundles.

:func:`run_outputs_demo` builds, with DuckDB on the demo project's workspace:

(a) people with a recorded offence by local authority × ethnicity (distinct
    persons): several cells fall below the threshold and are suppressed;
(b) pupils by local authority × SEN provision in a census year where one interior
    cell is small: it is suppressed, and secondary suppression withholds others so
    it cannot be worked out from the margins;
(c) pupils in the 2019/20 census born in 2008, by local authority × sex: released
    first (request 1, into the project's release ledger); then the same table with
    the age band widened by one month (January 2009 births, a few more pupils),
    whose differences with the released one are small: the ledger catches them.

Every table is checked under the TRE's policy (:func:`~fivesafes.outputs.policy.tre_policy`)
and against the release ledger; the researcher ``ana`` puts them in release
requests, the checkers ``bo`` and ``cy`` approve them, ``bo`` releases them into
bundles under ``out/released``. The application state is a demo database of its
own, ``out/state/fivesafes.db`` (never the user's state dir), its ledger beside
it. It uses the library throughout, not the CLI.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb import add_user, engine_for, migrate, session_factory
from fivesafes.outputs import airlock
from fivesafes.outputs.bundle import verify_bundle
from fivesafes.outputs.check import CheckResult, check
from fivesafes.outputs.differencing import Ledger, Population, ledger_rule
from fivesafes.outputs.objects import FrequencyTable
from fivesafes.outputs.policy import Policy, tre_policy

Progress = Callable[[str, float], None]
PROJECT = "attainment-and-offending"
RESEARCHER, CHECKERS = "ana", ("bo", "cy")
#: The airlock's verdict for each overall status of a disclosure check.
VERDICTS = {"pass": "pass", "round": "suppress", "suppress": "suppress", "review": "review"}
PUPILS = "pupils in the school census, distinct persons"
OFFENDERS = "people in the justice records, distinct persons"
COHORT_YEAR = 2019


@dataclass
class _Output:
    name: str
    description: str
    table: FrequencyTable
    population: Population
    result: CheckResult
    csv: Path
    report_path: Path
    report: dict[str, Any]


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def _offenders(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return _query(
        con,
        """
        SELECT DISTINCT j.person_pseudonym, a.la_name AS local_authority,
               coalesce(j.ethnicity_observed, 'not recorded') AS ethnicity_group
        FROM justice_offences j JOIN areas a USING (area_code)
        """,
    )


def _sen(con: duckdb.DuckDBPyConnection, policy: Policy) -> tuple[int, pd.DataFrame]:
    """The latest census year whose LA × SEN provision table has exactly one cell
    below the threshold (else the latest with any, else the latest year)."""
    df = _query(
        con,
        """
        SELECT DISTINCT p.academic_year, p.person_pseudonym, a.la_name AS local_authority,
               p.sen_provision
        FROM pupil_census p JOIN areas a USING (area_code)
        WHERE p.sen_provision IS NOT NULL
        """,
    )
    counts = df.groupby(["academic_year", "local_authority", "sen_provision"]).size()
    small = (counts < policy.minimum_count).groupby(level=0).sum()
    years = sorted(int(y) for y in small.index)
    one = [y for y in years if small[y] == 1]
    some = [y for y in years if small[y] >= 1]
    year = (one or some or years)[-1]
    return year, df[df["academic_year"] == year].drop(columns="academic_year")


def _cohort(con: duckdb.DuckDBPyConnection, months: list[str]) -> pd.DataFrame:
    wanted = ", ".join(f"'{m}'" for m in months)
    return _query(
        con,
        f"""
        SELECT DISTINCT p.person_pseudonym, a.la_name AS local_authority, p.sex
        FROM pupil_census p JOIN areas a USING (area_code)
        WHERE p.academic_year = {COHORT_YEAR} AND p.sex IS NOT NULL
          AND printf('%04d-%02d', p.birth_year, p.birth_month) IN ({wanted})
        """,
    )


def _months(year: int, first: int = 1, last: int = 12) -> list[str]:
    return [f"{year:04d}-{m:02d}" for m in range(first, last + 1)]


def _checked(
    name: str,
    description: str,
    df: pd.DataFrame,
    dims: list[str],
    population: Population,
    policy: Policy,
    ledger: Ledger,
    folder: Path,
) -> _Output:
    table = FrequencyTable.from_microdata(df, dims, person="person_pseudonym")
    rule = ledger_rule(PROJECT, population, policy, ledger)
    result = check(table, policy, differencing=rule)
    result.population = population.to_dict()
    csv = folder / f"{name}.csv"
    result.write_csv(csv)
    report = result.to_dict()
    report["verdict"] = VERDICTS.get(result.status, "review")
    report_path = folder / f"{name}.report.json"
    report_path.write_text(json.dumps(report, indent=2))
    return _Output(name, description, table, population, result, csv, report_path, report)


def _through_airlock(s: Session, title: str, outputs: list[_Output], released: Path) -> Path:
    req = airlock.create_request(s, RESEARCHER, PROJECT, title)
    for o in outputs:
        airlock.add_output(s, req.id, RESEARCHER, o.csv.name, o.csv, o.description, o.report)
    airlock.submit(s, req.id, RESEARCHER)
    airlock.record_automatic_check(s, req.id)
    airlock.start_review(s, req.id, CHECKERS[0])
    for o in outputs:
        withheld = sum(v.status == "suppress" for v in o.result.verdicts)
        comment = (
            f"{withheld} cell(s) withheld as the disclosure report says; safe to release"
            if withheld
            else "every cell passes the rules; safe to release"
        )
        for checker in CHECKERS:
            airlock.review(s, req.id, o.csv.name, checker, "approve", comment)
    return airlock.release(s, req.id, CHECKERS[0], released)


def _withheld(o: _Output) -> dict[str, Any]:
    cells = [v for v in o.result.verdicts if v.status == "suppress"]
    by_rule: dict[str, int] = {}
    for v in cells:
        main = next((r for r in v.rules if r != "rounding"), "suppress")
        by_rule[main] = by_rule.get(main, 0) + 1
    return {
        "output": o.csv.name,
        "status": o.result.status,
        "cells": len(o.result.verdicts),
        "withheld": len(cells),
        "by_rule": by_rule,
        "withheld_cells": [
            {"cell": " × ".join(v.label), "rules": v.rules, "reasons": v.reasons} for v in cells
        ],
        "secondary_suppression": o.result.secondary,
        "report": str(o.report_path),
    }


def _disclosure_report(outputs: list[_Output], policy: Policy) -> str:
    lines = [
        "# Disclosure reports",
        "",
        f"Policy: {policy.name} {policy.version} (threshold {policy.minimum_count}).",
        "",
    ]
    for o in outputs:
        lines += [
            f"## {o.csv.name}: {o.result.status}",
            "",
            o.description,
            "",
            f"Population: {o.population.label()}.",
            "",
        ]
        cells = [v for v in o.result.verdicts if v.status != "pass"]
        if not cells:
            lines += ["Every cell passes the rules.", ""]
            continue
        lines += ["| cell | status | rules | why |", "| --- | --- | --- | --- |"]
        for v in cells:
            why = "; ".join(v.reasons).replace("|", "/")
            lines.append(f"| {' × '.join(v.label)} | {v.status} | {', '.join(v.rules)} | {why} |")
        lines.append("")
    return "\n".join(lines)


def run_outputs_demo(
    workspace: Path, out: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Build, check and release the demo's outputs (see the module docstring);
    returns a summary, with ``lines`` for the demo's summary.md."""
    report = progress or (lambda stage, fraction: None)
    state, folder, released = out / "state", out / "outputs", out / "released"
    for old in (state, folder, released):  # the stage starts afresh
        if old.exists():
            shutil.rmtree(old)
    folder.mkdir(parents=True)
    url = f"sqlite:///{state / 'fivesafes.db'}"
    migrate(url)
    engine = engine_for(url)
    policy = tre_policy()
    report("querying the workspace", 0.05)
    con = duckdb.connect(str(workspace), read_only=True)
    try:
        offenders = _offenders(con)
        sen_year, sen = _sen(con, policy)
        cohort = _cohort(con, _months(2008))
        wider = _cohort(con, [*_months(2008), "2009-01"])
    finally:
        con.close()
    try:
        with session_factory(engine)() as s:
            add_user(s, RESEARCHER, "researcher")
            for checker in CHECKERS:
                add_user(s, checker, "output_checker")
            ledger = Ledger.for_session(s)
            born = Population.of(
                PUPILS,
                f"pupils in the {COHORT_YEAR}/{COHORT_YEAR % 100 + 1} census born in 2008",
                academic_year=COHORT_YEAR,
                birth_month=_months(2008),
            )
            report("checking and releasing the first table", 0.2)
            first = _checked(
                "pupils-born-2008",
                f"Pupils in the {COHORT_YEAR}/{COHORT_YEAR % 100 + 1} census born in 2008, "
                "by local authority and sex (distinct persons)",
                cohort,
                ["local_authority", "sex"],
                born,
                policy,
                ledger,
                folder,
            )
            bundle1 = _through_airlock(s, "Pupils born in 2008", [first], released)
            report("checking the new tables against the release ledger", 0.5)
            later = [
                _checked(
                    "offenders-by-la-ethnicity",
                    "People with a recorded offence, by local authority and ethnicity as "
                    "observed (distinct persons)",
                    offenders,
                    ["local_authority", "ethnicity_group"],
                    Population.of(OFFENDERS, "everyone in the justice records"),
                    policy,
                    ledger,
                    folder,
                ),
                _checked(
                    f"pupils-by-la-sen-{sen_year}",
                    f"Pupils in the {sen_year}/{sen_year % 100 + 1} census by local authority "
                    "and SEN provision (distinct persons)",
                    sen,
                    ["local_authority", "sen_provision"],
                    Population.of(PUPILS, f"the {sen_year} census", academic_year=sen_year),
                    policy,
                    ledger,
                    folder,
                ),
                _checked(
                    "pupils-born-2008-jan-2009",
                    f"Pupils in the {COHORT_YEAR}/{COHORT_YEAR % 100 + 1} census born in 2008 or "
                    "January 2009, by local authority and sex (distinct persons)",
                    wider,
                    ["local_authority", "sex"],
                    Population.of(
                        PUPILS,
                        f"pupils in the {COHORT_YEAR}/{COHORT_YEAR % 100 + 1} census born in "
                        "2008 or January 2009",
                        academic_year=COHORT_YEAR,
                        birth_month=[*_months(2008), "2009-01"],
                    ),
                    policy,
                    ledger,
                    folder,
                ),
            ]
            report("taking the tables through the airlock", 0.7)
            bundle2 = _through_airlock(s, "Offending, SEN and the 2008 cohort", later, released)
            verified = audit.verify(s)
            ledger_entries = ledger.entries(PROJECT)
            ledger_path = ledger.path(PROJECT)
    finally:
        engine.dispose()
    outputs = [first, *later]
    (folder / "disclosure-report.md").write_text(_disclosure_report(outputs, policy))
    bundles = [verify_bundle(b) for b in (bundle1, bundle2)]
    tables = {o.name: _withheld(o) for o in outputs}
    result: dict[str, Any] = {
        "policy": {
            "name": policy.name,
            "version": policy.version,
            "threshold": policy.minimum_count,
        },
        "tables": tables,
        "bundles": [b.to_dict() for b in bundles],
        "audit": verified.to_dict(),
        "ledger": {"path": str(ledger_path), "entries": len(ledger_entries)},
        "paths": {
            "database": str(state / "fivesafes.db"),
            "outputs": str(folder),
            "disclosure_report": str(folder / "disclosure-report.md"),
            "released": str(released),
        },
    }
    result["lines"] = _lines(result, outputs, sen_year)
    report("done", 1.0)
    return result


def _lines(r: dict[str, Any], outputs: list[_Output], sen_year: int) -> list[str]:
    t = r["tables"]
    p = r["policy"]

    def rules(name: str) -> str:
        by = t[name]["by_rule"]
        return ", ".join(f"{n} by {rule}" for rule, n in sorted(by.items())) or "none"

    first, offenders, sen, wider = (o.name for o in outputs)
    caught = [c for c in t[wider]["withheld_cells"] if "differencing" in c["rules"]]
    example = next(
        (reason for c in caught for reason in c["reasons"] if "differencing" in reason), ""
    )
    b1, b2 = r["bundles"]
    a = r["audit"]
    lines = [
        f"Checked {len(outputs)} tables under policy {p['name']} {p['version']} "
        f"(threshold {p['threshold']}), each against the project's release ledger:",
        f"(a) {t[offenders]['output']}: {t[offenders]['withheld']} of "
        f"{t[offenders]['cells']} cells withheld ({rules(offenders)}).",
        f"(b) {t[sen]['output']} ({sen_year} census): {t[sen]['withheld']} of "
        f"{t[sen]['cells']} cells withheld ({rules(sen)}); secondary suppression "
        f"{t[sen]['secondary_suppression']}.",
        f"(c) {t[first]['output']} was released first (request 1, {t[first]['withheld']} cells "
        f"withheld); the same table with January 2009 births added, {t[wider]['output']}: "
        f"{t[wider]['withheld']} of {t[wider]['cells']} cells withheld ({rules(wider)}).",
    ]
    if example:
        lines.append(f"For example: {example}.")
    lines += [
        f"Both requests were approved by {' and '.join(CHECKERS)} and released: "
        f"{b1['path']} and {b2['path']} (bundles verified: "
        f"{'yes' if b1['ok'] and b2['ok'] else 'NO'}, {b1['files_checked'] + b2['files_checked']} "
        "files against their SHA-256).",
        f"Audit log: {a['entries']} entries, hash chain "
        f"{'verified' if a['ok'] else 'BROKEN: ' + str(a['problem'])}. Release ledger: "
        f"{r['ledger']['entries']} tables in {r['ledger']['path']}.",
        f"Disclosure reports: {r['paths']['disclosure_report']}.",
    ]
    return lines
