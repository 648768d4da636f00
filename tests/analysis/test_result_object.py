"""The common result object of the analysis methods (fivesafes.analysis.result)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fivesafes.analysis.result import AnalysisResult
from fivesafes.outputs import FrequencyTable, GroupSummary, load_policy


def _result() -> tuple[AnalysisResult, list[int]]:
    drawn: list[int] = []

    def draw() -> Figure:
        drawn.append(1)
        fig = Figure(figsize=(2, 2))
        fig.subplots().bar(["a", "b"], [12, 30])
        return fig

    counts = FrequencyTable.from_long(
        pd.DataFrame({"group": ["a", "b"], "n": [12, 3]}), ["group"], "n", persons=True
    )
    r = AnalysisResult(method="demo", summary={"n": 15, "mean": np.float64(1.5)})
    r.add_table("sizes", pd.DataFrame({"group": ["a", "b"], "n": [12, 3]}), "sizes", counts)
    r.add_table("notes_table", pd.DataFrame({"x": [1]}), "not checkable")
    r.add_figure("bars", draw, "bars", GroupSummary(["a", "b"], np.array([12.0, 3.0])))
    return r, drawn


def test_outputs_unchecked_and_check() -> None:
    r, drawn = _result()
    assert set(r.outputs()) == {"sizes", "bars"}
    assert r.unchecked() == ["notes_table"]
    checks = r.check(load_policy("acro"))
    status = {v.label[0]: v.status for v in checks["sizes"].verdicts}
    assert status == {"a": "pass", "b": "suppress"}  # 3 people is under acro's threshold
    assert checks["bars"].status != "pass"  # a group of 3 cannot be described
    assert drawn == []  # checking does not draw the figure


def test_figure_is_drawn_once_when_needed(tmp_path: Path) -> None:
    r, drawn = _result()
    png = r.figures["bars"].png
    assert png.startswith(b"\x89PNG") and r.figures["bars"].png is png
    paths = r.write(tmp_path / "out")
    assert drawn == [1]
    assert sorted(p.name for p in paths) == [
        "bars.png",
        "demo-summary.json",
        "notes_table.csv",
        "sizes.csv",
    ]
    assert json.loads((tmp_path / "out" / "demo-summary.json").read_text())["mean"] == 1.5
    assert pd.read_csv(tmp_path / "out" / "sizes.csv")["n"].tolist() == [12, 3]


def test_to_dict_is_json_and_names_are_unique() -> None:
    r, _ = _result()
    doc = json.loads(json.dumps(r.to_dict(), default=str))
    assert doc["tables"]["sizes"] == [{"group": "a", "n": 12}, {"group": "b", "n": 3}]
    assert doc["figures"] == ["bars"]
    with pytest.raises(ValueError, match="already has an output called 'bars'"):
        r.add_table("bars", pd.DataFrame(), "again")
