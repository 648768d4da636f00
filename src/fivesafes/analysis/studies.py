"""Studies: short scripts over a project workspace, run by name, every output checked.

A study is a Python file ``<name>.py`` in a studies folder (``studies/`` at the
repository root). Its docstring says what it asks and what the synthetic world
planted; it defines ``TITLE``, ``DATASETS`` (the datasets its workspace must
hold) and ``run(workspace: Path, out: Path, seed: int = 1, planted=None) ->
StudyResult``, which fits the methods of :mod:`fivesafes.analysis` and returns
their :class:`~fivesafes.analysis.result.AnalysisResult` objects, plain-language
findings and, when it is given the planted effects of a synthetic world
(``planted``, read from its ``truth/effects.json`` by
:mod:`fivesafes.analysis.truth`), the planted value beside each estimate
(:class:`Comparison`). On a real workspace ``planted`` is ``None``.

:func:`run_study` finds the study (:func:`find_studies`), runs it and writes
every table and figure through the disclosure engine (:func:`write_checked`):
each output object is checked under the TRE's policy, its check report is
written beside it (``<name>.check.json``), and what is written as releasable
has the unsafe cells blanked (a row of a table whose cell is suppressed) or is
withheld whole (a figure, or a table whose unsafe cell cannot be located). The
study report (:mod:`fivesafes.analysis.report`) is made from the releasable
versions only.

Where studies are found, first that exists: ``studies_dir`` (the ``--studies``
option), the ``FIVESAFES_STUDIES`` environment variable, a ``studies/`` folder
in the current directory or one of its parents (beside a ``pyproject.toml``),
the ``studies/`` folder of the source tree this package was installed from, and
the copy a wheel installs under ``share/fivesafes/studies`` in the environment.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import inspect
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError
from fivesafes.outputs import CheckResult, Policy

STUDIES_ENV = "FIVESAFES_STUDIES"
#: Where a wheel installs the repository's studies, under the environment's prefix
#: (``[tool.setuptools.data-files]`` in pyproject.toml).
INSTALLED_STUDIES = Path("share") / "fivesafes" / "studies"
NAME = re.compile(r"[a-z][a-z0-9_]*")
#: Docstring sections of a study, in the order the report shows them.
SECTIONS = ("Question", "Data", "Method", "Planted truth")
Progress = Callable[[str, float], None]


@dataclass
class Comparison:
    """A planted value beside its estimate. ``output`` and ``row`` name the
    checked table and row the estimate comes from (``analysis/table`` and the
    row's label): if that row is suppressed, the estimate is withheld too."""

    quantity: str
    planted: float
    estimate: float
    lower: float | None = None
    upper: float | None = None
    output: str | None = None
    row: str | None = None
    note: str = ""

    @property
    def covered(self) -> bool | None:
        """The planted value lies within the interval (None without an interval)."""
        if self.lower is None or self.upper is None:
            return None
        return bool(self.lower <= self.planted <= self.upper)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "planted": self.planted,
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "covered": self.covered,
            "note": self.note,
        }


@dataclass
class StudyResult:
    """What a study's ``run`` returns: its analyses, the truth beside the
    estimates, and what it found in plain words."""

    analyses: dict[str, AnalysisResult] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    cohort: dict[str, Any] = field(default_factory=dict)  # who was studied (counts)
    notes: list[str] = field(default_factory=list)


@dataclass
class Study:
    """A study script found in a studies folder."""

    name: str
    path: Path
    title: str
    datasets: tuple[str, ...]
    doc: str

    @property
    def sections(self) -> dict[str, str]:
        """The docstring's sections (``Question:``, ``Data:``, ...), by heading."""
        return doc_sections(self.doc)

    @property
    def summary(self) -> str:
        return self.doc.strip().split("\n\n", 1)[0].replace("\n", " ")

    def load(self) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"fivesafes_study_{self.name}", self.path)
        if spec is None or spec.loader is None:
            raise FivesafesError(f"{self.path}: cannot be loaded as a study")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        if not callable(getattr(module, "run", None)):
            raise FivesafesError(f"{self.path}: a study defines run(workspace, out, seed)")
        return module

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "datasets": list(self.datasets),
            "path": str(self.path),
            "summary": self.summary,
        }


def doc_sections(doc: str) -> dict[str, str]:
    """Split a study's docstring at lines ``Question:``, ``Data:``, ``Method:``,
    ``Planted truth:`` (text may follow on the same line); paragraphs joined."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in doc.splitlines():
        head = line.split(":", 1)
        if len(head) == 2 and head[0].strip() in SECTIONS and not line.startswith(" "):
            current = head[0].strip()
            found[current] = [head[1].strip()]
        elif current is not None:
            found[current].append(line.strip())
    out = {}
    for k, lines in found.items():
        paras = "\n".join(lines).strip().split("\n\n")
        out[k] = "\n\n".join(" ".join(p.split()) for p in paras)
    return out


def studies_folder(studies_dir: Path | None = None) -> Path:
    """The studies folder (see the module docstring for the order searched)."""
    if studies_dir is not None:
        if not studies_dir.is_dir():
            raise FivesafesError(f"no studies folder {studies_dir}")
        return studies_dir
    env = os.environ.get(STUDIES_ENV)
    if env:
        if not Path(env).is_dir():
            raise FivesafesError(f"{STUDIES_ENV}={env} is not a folder")
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "studies").is_dir() and (folder / "pyproject.toml").is_file():
            return folder / "studies"
    source = Path(__file__).resolve().parents[3] / "studies"  # src/fivesafes/analysis/...
    if source.is_dir():
        return source
    installed = Path(sys.prefix) / INSTALLED_STUDIES  # a wheel's data files
    if installed.is_dir():
        return installed
    raise FivesafesError(
        "no studies folder found: run from the fivesafes repository, give --studies DIR, "
        f"or set {STUDIES_ENV}"
    )


def _read_study(path: Path) -> Study:
    """A study's name, title, datasets and docstring, read without running it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    doc = ast.get_docstring(tree) or ""
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("TITLE", "DATASETS"):
                with contextlib.suppress(ValueError):
                    values[target.id] = ast.literal_eval(node.value)
    title = str(values.get("TITLE") or doc.split("\n", 1)[0] or path.stem)
    return Study(path.stem, path, title, tuple(values.get("DATASETS", ())), doc)


def find_studies(studies_dir: Path | None = None) -> dict[str, Study]:
    """Every study in the folder, by name (files starting with ``_`` are helpers)."""
    folder = studies_folder(studies_dir)
    return {
        p.stem: _read_study(p)
        for p in sorted(folder.glob("*.py"))
        if not p.name.startswith("_") and NAME.fullmatch(p.stem)
    }


def find_study(name: str, studies_dir: Path | None = None) -> Study:
    studies = find_studies(studies_dir)
    if name not in studies:
        known = ", ".join(studies) or "none"
        raise FivesafesError(f"no study {name!r} in {studies_folder(studies_dir)}; known: {known}")
    return studies[name]


def workspace_tables(workspace: Path) -> set[str]:
    if not workspace.is_file():
        raise FivesafesError(
            f"no workspace {workspace}: provision one first, e.g. fivesafes provision --store "
            "store --project p001 --datasets pupil_census,justice_offences"
        )
    with duckdb.connect(str(workspace), read_only=True) as con:
        return {str(r[0]) for r in con.execute("SHOW TABLES").fetchall()}


def check_workspace(study: Study, workspace: Path) -> None:
    """The workspace exists and holds every dataset the study reads."""
    missing = [d for d in study.datasets if d not in workspace_tables(workspace)]
    if missing:
        raise FivesafesError(
            f"study {study.name!r} needs the dataset(s) {', '.join(missing)}, not in the "
            f"workspace {workspace}; provision them: fivesafes provision --store STORE "
            f"--project PROJECT --datasets {','.join(study.datasets)}"
        )


# --- writing through the disclosure engine --------------------------------------------


@dataclass
class CheckedOutput:
    """One table or figure of a study, as checked and as written."""

    name: str  # "<analysis>/<table or figure>"
    kind: str  # "table" or "figure"
    description: str
    status: str  # pass, round, review, suppress, or "unchecked"
    released: Path | None  # the releasable file, None if withheld
    report: Path | None  # the check report beside it
    suppressed_rows: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = None  # the releasable table
    png: bytes | None = None  # the releasable figure

    @property
    def withheld(self) -> bool:
        return self.released is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "status": self.status,
            "released": str(self.released) if self.released else None,
            "check_report": str(self.report) if self.report else None,
            "suppressed_rows": self.suppressed_rows,
            "reasons": self.reasons,
        }


def _row_keys(frame: pd.DataFrame, dims: list[str]) -> pd.Series | None:
    """Each row's label in the check's dimensions (None if the table lacks them).
    A column may carry the labels under another name (``group`` 1 for ``group 1``)."""
    cols = []
    for d in dims:
        if d not in frame.columns:
            return None
        if d == "group" and pd.api.types.is_integer_dtype(frame[d]):
            cols.append("group " + frame[d].astype(str))  # as trajectory groups are labelled
        else:
            cols.append(frame[d].astype(str))
    return pd.Series(["\x1f".join(parts) for parts in zip(*cols, strict=True)], index=frame.index)


def safe_frame(frame: pd.DataFrame, result: CheckResult) -> tuple[pd.DataFrame | None, list[str]]:
    """The table as it may be released: every row whose cell the check withholds
    blanked (label columns kept), and every count the check rounds replaced by
    its rounded value (in the columns of that row holding the count). ``None`` if
    such a cell cannot be found in the table: then it is withheld whole. Also the
    labels of the blanked rows."""
    bad = [v for v in result.verdicts if v.status == "suppress"]
    rounded = [
        v
        for v in result.verdicts
        if v.status == "round" and v.safe_value is not None and v.safe_value != v.value
    ]
    if not bad and not rounded:
        return frame, []
    wanted = {"\x1f".join(v.label) for v in bad}
    keys = _row_keys(frame, result.dims)
    if keys is None:
        return None, sorted(wanted)
    hit = keys.isin(wanted)
    found = set(keys[hit])
    if any(not v.margin and "\x1f".join(v.label) not in found for v in bad):
        return None, sorted(wanted)
    out = frame.copy()
    values = [c for c in out.columns if c not in result.dims and c != "term"]
    out[values] = out[values].astype(object)
    out.loc[hit, values] = None
    numeric = [c for c in values if pd.api.types.is_numeric_dtype(frame[c])]
    for v in rounded:
        row = (keys == "\x1f".join(v.label)).to_numpy()
        if not row.any() and v.margin:
            continue
        cells = [(c, row & (frame[c] == v.value).to_numpy()) for c in numeric]
        cells = [(c, m) for c, m in cells if m.any()]
        if not cells:  # the count is not in the table as such: withhold it
            return None, sorted(wanted)
        for c, m in cells:
            out.loc[m, c] = v.safe_value
    return out, sorted(found)


def write_checked(
    analyses: dict[str, AnalysisResult], folder: Path, policy: Policy
) -> list[CheckedOutput]:
    """Check and write every table (CSV) and figure (PNG) of the analyses into
    ``folder/<analysis>/``, each with ``<name>.check.json`` beside it."""
    written: list[CheckedOutput] = []
    for aname, analysis in analyses.items():
        sub = folder / aname
        sub.mkdir(parents=True, exist_ok=True)
        checks = analysis.check(policy)
        items = [("table", t.name, t.description) for t in analysis.tables.values()] + [
            ("figure", f.name, f.description) for f in analysis.figures.values()
        ]
        for kind, name, description in items:
            check = checks.get(name)
            report = sub / f"{name}.check.json"
            if check is None:
                status = "unchecked"
                report.write_text(
                    json.dumps(
                        {
                            "status": "review",
                            "reason": "no output object the rules can read: a checker "
                            "reviews it by eye",
                        },
                        indent=2,
                    )
                    + "\n"
                )
                reasons = ["no output object the rules can read: for a checker to review"]
            else:
                status = check.status
                report.write_text(check.to_json() + "\n")
                reasons = sorted(
                    {r for v in check.verdicts if v.status != "pass" for r in v.reasons}
                )
            out = CheckedOutput(f"{aname}/{name}", kind, description, status, None, report)
            out.reasons = reasons[:6]
            if kind == "table":
                frame = analysis.tables[name].frame
                safe, rows = (frame, []) if check is None else safe_frame(frame, check)
                out.suppressed_rows = rows
                if safe is not None:
                    path = sub / f"{name}.csv"
                    safe.to_csv(path, index=False, na_rep="")
                    out.released, out.frame = path, safe
            elif check is None or check.status in ("pass", "review"):
                # a figure cannot be blanked or rounded: with a cell to suppress or a
                # count to round, it is withheld (draw it again from the safe table)
                path = sub / f"{name}.png"
                png = analysis.figures[name].png
                path.write_bytes(png)
                out.released, out.png = path, png
            written.append(out)
    return written


def cohort_result(cohort: dict[str, Any]) -> AnalysisResult:
    """Who was studied (people counted by description), as a checked table."""
    from fivesafes.outputs import FrequencyTable

    frame = pd.DataFrame(
        {"quantity": [k.replace("_", " ") for k in cohort], "persons": list(cohort.values())}
    )
    result = AnalysisResult(method="cohort")
    result.add_table(
        "cohort",
        frame,
        "Who was studied: people (or rows) counted",
        FrequencyTable.from_long(frame, ["quantity"], "persons", persons=True),
    )
    return result


def _withheld_estimates(comparisons: list[Comparison], outputs: list[CheckedOutput]) -> None:
    """Blank an estimate whose row (or whole table) was withheld, or whose table
    was released rounded (the unrounded estimate would undo the rounding)."""
    by_name = {o.name: o for o in outputs}
    for c in comparisons:
        if c.output is None or c.output not in by_name:
            continue
        o = by_name[c.output]
        why = None
        if o.withheld or (c.row is not None and c.row in o.suppressed_rows):
            why = "withheld by disclosure control"
        elif o.status == "round":
            why = "rounded by disclosure control: see the released table"
        if why:
            c.estimate, c.lower, c.upper = float("nan"), None, None
            c.note = (c.note + "; " if c.note else "") + why


def run_study(
    name: str,
    workspace: Path,
    out: Path | None = None,
    *,
    studies_dir: Path | None = None,
    policy: Policy | None = None,
    seed: int = 1,
    progress: Progress | None = None,
    truth: Path | None = None,
) -> dict[str, Any]:
    """Run the study ``name`` on ``workspace``; write its checked outputs and its
    report into ``out`` (default ``<workspace folder>/studies/<name>``). With
    ``truth`` (a synthetic world's truth folder, or its ``effects.json``) the study
    sets the planted values beside its estimates; without, it says there is no
    truth to compare with."""
    from fivesafes.analysis.report import write_report
    from fivesafes.analysis.truth import load_planted
    from fivesafes.outputs.policy import tre_policy

    report = progress or (lambda stage, fraction: None)
    t0 = time.perf_counter()
    if workspace.is_dir():
        workspace = workspace / "workspace.duckdb"
    study = find_study(name, studies_dir)
    check_workspace(study, workspace)
    out = out or workspace.parent / "studies" / name
    out.mkdir(parents=True, exist_ok=True)
    policy = policy or tre_policy()
    report(f"{name}: running", 0.05)
    planted = load_planted(truth)
    module = study.load()
    if "planted" in inspect.signature(module.run).parameters:
        result = module.run(workspace, out, seed=seed, planted=planted)
    else:  # a study that compares with nothing
        result = module.run(workspace, out, seed=seed)
    if not isinstance(result, StudyResult):
        raise FivesafesError(f"{study.path}: run() must return a StudyResult")
    report(f"{name}: checking outputs", 0.8)
    if result.cohort:  # counts of people are outputs too: checked like the rest
        result.analyses = {"cohort": cohort_result(result.cohort), **result.analyses}
    outputs = write_checked(result.analyses, out / "outputs", policy)
    _withheld_estimates(result.comparisons, outputs)
    seconds = time.perf_counter() - t0
    summary: dict[str, Any] = {
        "study": name,
        "title": study.title,
        "workspace": str(workspace),
        "out": str(out),
        "policy": policy.name,
        "truth": str(truth) if planted is not None else None,
        "summaries": {k: _jsonable(a.summary) for k, a in result.analyses.items()},
        "comparisons": [c.to_dict() for c in result.comparisons],
        "findings": result.findings,
        "notes": result.notes + [n for a in result.analyses.values() for n in a.notes],
        "outputs": [o.to_dict() for o in outputs],
        "statuses": {
            s: sum(o.status == s for o in outputs)
            for s in ("pass", "round", "review", "suppress", "unchecked")
        },
        "seconds": round(seconds, 3),
    }
    report(f"{name}: report", 0.9)
    html = write_report(study, result, outputs, summary, out / "report.html")
    summary_path = out / "study.json"
    summary["paths"] = {
        "report": str(html),
        "summary": str(summary_path),
        "outputs": str(out / "outputs"),
    }
    summary_path.write_text(json.dumps(_jsonable(summary), indent=2) + "\n")
    report("done", 1.0)
    return _jsonable(summary)  # type: ignore[no-any-return]


def _jsonable(x: Any) -> Any:
    """Plain JSON values (NaN as None, numpy scalars as Python)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    return str(x)


DEMO_STUDY = "attainment_convictions"


def run_demo_study(workspace: Path, out: Path, truth: Path | None = None) -> dict[str, Any]:
    """The demo's study: attainment trajectories and later convictions on the demo
    workspace (project ``attainment-and-offending``: pupil_census,
    justice_offences, cla_episodes, areas), written into ``out``, compared with
    ``truth`` when given. Returns the study summary; ``paths["report"]`` is the HTML
    report."""
    return run_study(DEMO_STUDY, workspace, out, truth=truth)


__all__ = [
    "DEMO_STUDY",
    "STUDIES_ENV",
    "CheckedOutput",
    "Comparison",
    "Study",
    "StudyResult",
    "find_studies",
    "find_study",
    "run_demo_study",
    "run_study",
    "studies_folder",
    "write_checked",
]
