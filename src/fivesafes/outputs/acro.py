"""Import and export ACRO's ``results.json`` so SACRO users can move over.

ACRO (https://github.com/AI-SDC/ACRO) writes, on ``acro.finalise(folder,
"json")``, a ``results.json`` (and ``config.json`` with its risk appetite, and
one CSV per table). In ACRO 1.0 each output is::

    "results": {"output_0": {"uid", "status": "pass|fail|review", "type": "table",
        "properties": {"method": "crosstab", ...},
        "files": [{"name": "output_0_0.csv",
                   "sdc": {"summary": {"MinimumThresholdCheck": 2, ...},
                           "cells": {"MinimumThresholdCheck": [[row, col], ...]}}}],
        "outcome": {column: {row: "ok" | "MinimumThresholdCheck; ..."}},
        "command", "summary", "timestamp", "comments", "exception", "fair"}}

Earlier ACRO versions (0.4) name the checks ``threshold``, ``p-ratio``,
``nk-rule``, ``all-values-are-same``, ``negative``, ``missing``; both are read.
Cells are ``[row, column]`` positions in the table without its margins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.errors import FivesafesError
from fivesafes.outputs.check import CheckResult
from fivesafes.outputs.objects import TOTAL
from fivesafes.outputs.policy import ACRO, Policy
from fivesafes.outputs.primary import Verdict

#: fivesafes rule name → ACRO 1.0 check name.
TO_ACRO = {
    "threshold": "MinimumThresholdCheck",
    "zero": "PresenceOfZeroCheck",
    "p%": "PPercentCheck",
    "n,k": "NKCheck",
    "dof": "MinimumDoFCheck",
}
#: ACRO check name (1.0 and 0.4) → fivesafes rule name.
FROM_ACRO = {
    **{v: k for k, v in TO_ACRO.items()},
    "threshold": "threshold",
    "p-ratio": "p%",
    "nk-rule": "n,k",
    "all-values-are-same": "class",
    "negative": "negative",
    "missing": "missing",
}
ACRO_VERSION = "1.0.2"


@dataclass
class AcroOutput:
    """One output of an ACRO session, as its results.json describes it."""

    uid: str
    status: str  # ACRO's: pass | fail | review
    type: str
    method: str
    files: list[str]
    flags: dict[str, list[tuple[int, int]]]  # fivesafes rule → [(row, col)] ; unknown kept as is
    outcome: pd.DataFrame
    command: str = ""
    summary: str = ""
    comments: list[str] = field(default_factory=list)
    exception: str = ""
    table: pd.DataFrame | None = None  # the output CSV, when found beside results.json


def read_acro_policy(folder: str | Path) -> Policy:
    """ACRO's risk appetite (``config.json``) as a fivesafes policy; ACRO's
    defaults when the file is absent."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return ACRO
    c = json.loads(path.read_text(encoding="utf-8"))
    return replace(
        ACRO,
        name="acro-session",
        version=str(c.get("version", ACRO_VERSION)),
        threshold=int(c.get("safe_threshold", ACRO.threshold)),
        min_dof=int(c.get("safe_dof_threshold", ACRO.min_dof)),
        n=int(c.get("safe_nk_n", ACRO.n)),
        k=100.0 * float(c.get("safe_nk_k", 0.9)),
        p=100.0 * float(c.get("safe_pratio_p", 0.1)),
        zeros=bool(c.get("zeros_are_disclosive", ACRO.zeros)),
        source=f"ACRO config.json in {folder}",
    )


def read_acro_results(path: str | Path) -> list[AcroOutput]:
    """The outputs of an ACRO results.json (give the file or its folder)."""
    p = Path(path)
    file = p / "results.json" if p.is_dir() else p
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        results = data["results"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FivesafesError(f"{file}: not an ACRO results.json ({exc})") from exc
    out = []
    for uid, rec in results.items():
        files = rec.get("files", [])
        flags: dict[str, list[tuple[int, int]]] = {}
        for f in files[:1]:
            for check, cells in (f.get("sdc", {}).get("cells") or {}).items():
                if cells:
                    rule = FROM_ACRO.get(check, check)
                    flags.setdefault(rule, []).extend((int(r), int(c)) for r, c in cells)
        outcome = pd.DataFrame(rec.get("outcome") or {})
        table = None
        names = [f.get("name", "") for f in files]
        csvs = [n for n in names if n.endswith(".csv") and (file.parent / n).is_file()]
        if csvs:
            table = pd.read_csv(file.parent / csvs[0], index_col=0)
        out.append(
            AcroOutput(
                uid=str(rec.get("uid", uid)),
                status=str(rec.get("status", "")),
                type=str(rec.get("type", "")),
                method=str((rec.get("properties") or {}).get("method", "")),
                files=names,
                flags=flags,
                outcome=outcome,
                command=str(rec.get("command", "")),
                summary=str(rec.get("summary", "")),
                comments=list(rec.get("comments") or []),
                exception=str(rec.get("exception", "")),
                table=table,
            )
        )
    return out


def acro_verdicts(output: AcroOutput) -> list[Verdict]:
    """Per-cell verdicts from an ACRO table output (interior cells only): a cell
    ACRO flagged is ``suppress`` with the check named; the value comes from the
    output's CSV when it was found."""
    verdicts: list[Verdict] = []
    flagged: dict[tuple[int, int], list[str]] = {}
    for rule, cells in output.flags.items():
        for rc in cells:
            flagged.setdefault(rc, []).append(rule)
    rows, cols = list(output.outcome.index), list(output.outcome.columns)
    for r, row in enumerate(rows):
        for c, col in enumerate(cols):
            rules = flagged.get((r, c), [])
            value = np.nan
            if output.table is not None:
                try:
                    value = float(output.table.loc[row, col])
                except (KeyError, ValueError, TypeError):
                    value = np.nan
            verdicts.append(
                Verdict(
                    cell=len(verdicts),
                    label=(str(row), str(col)),
                    value=value,
                    status="suppress" if rules else "pass",
                    reasons=[f"flagged by ACRO's {TO_ACRO.get(x, x)}" for x in rules],
                    rules=rules,
                    safe_value=None if rules else value,
                )
            )
    return verdicts


def _interior_grid(result: CheckResult) -> tuple[list[str], list[str], dict[int, tuple[int, int]]]:
    """Rows and columns of the interior table (last dimension across) and each
    interior cell's (row, column) position."""
    inner = [v for v in result.verdicts if TOTAL not in v.label]
    if not result.dims:
        rows = [str(v.cell) for v in inner]
        return rows, ["value"], {v.cell: (i, 0) for i, v in enumerate(inner)}
    if len(result.dims) == 1:
        rows = [v.label[0] for v in inner]
        return rows, [result.value_column], {v.cell: (i, 0) for i, v in enumerate(inner)}
    row_keys: dict[str, int] = {}
    col_keys: dict[str, int] = {}
    pos = {}
    for v in inner:
        rk, ck = " / ".join(v.label[:-1]), v.label[-1]
        pos[v.cell] = (
            row_keys.setdefault(rk, len(row_keys)),
            col_keys.setdefault(ck, len(col_keys)),
        )
    return list(row_keys), list(col_keys), pos


def to_acro_record(
    result: CheckResult, uid: str, command: str = ""
) -> tuple[dict[str, Any], pd.DataFrame]:
    """One ACRO 1.0 results.json entry for a check, and its safe table (interior
    cells, last dimension across, suppressed cells empty)."""
    rows, cols, pos = _interior_grid(result)
    cells: dict[str, list[list[int]]] = {name: [] for name in TO_ACRO.values()}
    outcome = pd.DataFrame("ok", index=rows, columns=cols)
    table = pd.DataFrame(np.nan, index=rows, columns=cols)
    for v in result.verdicts:
        if v.cell not in pos:
            continue
        r, c = pos[v.cell]
        table.iat[r, c] = np.nan if v.safe_value is None else v.safe_value
        names = [TO_ACRO[x] for x in v.rules if x in TO_ACRO]
        for name in names:
            cells[name].append([r, c])
        if names:
            outcome.iat[r, c] = "".join(f"{n}; " for n in names)
        elif v.status == "suppress":
            outcome.iat[r, c] = "; ".join(v.rules) + "; "
    status = {"pass": "pass", "round": "pass", "review": "review", "suppress": "fail"}[
        result.status
    ]
    sdc = {"summary": {k: len(v) for k, v in cells.items()}, "cells": cells}
    record = {
        "uid": uid,
        "status": status,
        "type": "regression" if result.kind == "regression" else "table",
        "properties": {"method": f"fivesafes {result.kind}", "mitigation": "fivesafes"},
        "files": [{"name": f"{uid}_0.csv", "sdc": sdc}],
        "outcome": json.loads(outcome.to_json()),
        "command": command,
        "summary": f"fivesafes check under {result.policy.label}: {result.status}; "
        + "; ".join(result.notes),
        "timestamp": datetime.now().isoformat(),
        "comments": [],
        "exception": "",
        "fair": {},
    }
    return record, table


def write_acro_results(results: dict[str, CheckResult], folder: str | Path) -> Path:
    """Write checks as an ACRO 1.0 ``results.json`` (and one CSV per output)
    that ACRO's ``load_records`` and SACRO's viewer can read."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    outputs = {}
    for uid, result in results.items():
        record, table = to_acro_record(result, uid)
        table.to_csv(folder / f"{uid}_0.csv")
        outputs[uid] = record
    doc = {
        "version": ACRO_VERSION,
        "tool": {"@type": "SoftwareApplication", "name": "fivesafes", "version": ACRO_VERSION},
        "results": outputs,
    }
    path = folder / "results.json"
    path.write_text(json.dumps(doc, indent=4), encoding="utf-8")
    return path
