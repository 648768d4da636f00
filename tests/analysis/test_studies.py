"""Studies: discovery, the disclosure-checked writing of outputs and the report,
on a toy study over a tiny workspace (fast; the real studies are in
test_studies_world.py)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fivesafes.analysis import studies as st
from fivesafes.errors import FivesafesError

TOY = '''"""A toy study.

Question: How many pupils per area?

Data: toy (area per pupil).

Method: Counting.

Planted truth: area A has 40 pupils,
B has 5.
"""

from pathlib import Path

import duckdb

from fivesafes.analysis.result import AnalysisResult
from fivesafes.analysis.studies import Comparison, StudyResult
from fivesafes.outputs import FrequencyTable

TITLE = "Toy counts"
DATASETS = ("toy",)


def run(workspace: Path, out: Path, seed: int = 1) -> StudyResult:
    with duckdb.connect(str(workspace), read_only=True) as con:
        t = con.execute("SELECT area, count(*) AS pupils FROM toy GROUP BY 1 ORDER BY 1").df()
    res = AnalysisResult(method="counts")
    res.add_table("by_area", t, "Pupils per area",
                  FrequencyTable.from_long(t, ["area"], "pupils", persons=True))
    res.add_table("free_text", t.assign(note="x"), "A table no rule can read")
    a = float(t.set_index("area").loc["A", "pupils"])
    b = float(t.set_index("area").loc["B", "pupils"])
    return StudyResult(
        analyses={"counts": res},
        comparisons=[Comparison("pupils in A", 40, a, 39, 41, "counts/by_area", "A"),
                     Comparison("pupils in B", 5, b, 4, 6, "counts/by_area", "B")],
        findings=["Area A has the most pupils."],
        cohort={"pupils": int(t["pupils"].sum())},
    )
'''


@pytest.fixture
def toy(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "toy_counts.py").write_text(TOY)
    (folder / "_helper.py").write_text("X = 1\n")  # not a study
    ws = tmp_path / "ws" / "workspace.duckdb"
    ws.parent.mkdir()
    with duckdb.connect(str(ws)) as con:
        con.execute("CREATE TABLE toy (area VARCHAR)")
        con.execute("INSERT INTO toy SELECT 'A' FROM range(40) UNION ALL SELECT 'B' FROM range(3)")
    return folder, ws


def test_the_repository_studies_are_found_with_their_docstrings() -> None:
    found = st.find_studies()
    assert set(found) >= {
        "attainment_convictions",
        "exclusions_justice",
        "immigrant_pay_gap",
        "asd_clusters",
    }
    for s in found.values():
        assert set(s.sections) == set(st.SECTIONS), s.name
        assert s.datasets and s.title
    assert st.DEMO_STUDY in found


def test_studies_folder_from_the_option_then_the_environment(
    toy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = toy
    assert list(st.find_studies(folder)) == ["toy_counts"]
    monkeypatch.setenv(st.STUDIES_ENV, str(folder))
    assert list(st.find_studies()) == ["toy_counts"]
    monkeypatch.setenv(st.STUDIES_ENV, str(folder / "nope"))
    with pytest.raises(FivesafesError, match="is not a folder"):
        st.find_studies()


def test_doc_sections_join_lines_of_a_paragraph() -> None:
    doc = "Title.\n\nQuestion: Why?\n\nPlanted truth: a\nb.\n"
    assert st.doc_sections(doc) == {"Question": "Why?", "Planted truth": "a b."}


def test_unknown_study_and_missing_datasets_are_user_errors(toy: tuple[Path, Path]) -> None:
    folder, ws = toy
    with pytest.raises(FivesafesError, match=r"no study 'nope'.*known: toy_counts"):
        st.run_study("nope", ws, studies_dir=folder)
    with pytest.raises(FivesafesError, match="no workspace"):
        st.run_study("toy_counts", ws.parent / "missing.duckdb", studies_dir=folder)
    with duckdb.connect(str(ws)) as con:
        con.execute("ALTER TABLE toy RENAME TO other")
    with pytest.raises(FivesafesError, match=r"needs the dataset\(s\) toy.*fivesafes provision"):
        st.run_study("toy_counts", ws, studies_dir=folder)


def test_outputs_are_checked_and_unsafe_cells_blanked(toy: tuple[Path, Path]) -> None:
    """Under ACRO's threshold of 10 people, area B (3 pupils) is suppressed: its row
    is blank in the releasable CSV, the check report lies beside it, the estimate
    that came from it is withheld, and the report shows only released numbers."""
    folder, ws = toy
    out = ws.parent / "out"
    r = st.run_study("toy_counts", ws, out, studies_dir=folder)
    outputs = {o["name"]: o for o in r["outputs"]}
    by_area = outputs["counts/by_area"]
    assert by_area["status"] == "suppress" and by_area["suppressed_rows"] == ["B"]
    released = pd.read_csv(by_area["released"], keep_default_na=False)
    assert released.set_index("area")["pupils"].to_dict() == {"A": "40", "B": ""}
    report = json.loads(Path(by_area["check_report"]).read_text())
    assert Path(by_area["check_report"]).parent == Path(by_area["released"]).parent
    assert report["status"] == "suppress"
    assert outputs["counts/free_text"]["status"] == "unchecked"
    assert outputs["cohort/cohort"]["status"] == "pass"
    comps = {c["quantity"]: c for c in r["comparisons"]}
    assert comps["pupils in A"]["estimate"] == 40 and comps["pupils in A"]["covered"]
    assert comps["pupils in B"]["estimate"] is None
    assert "withheld" in comps["pupils in B"]["note"]
    html = Path(r["paths"]["report"]).read_text()
    assert "Toy counts" in html and "Area A has the most pupils." in html
    assert "How many pupils per area?" in html and "area A has 40 pupils, B has 5." in html
    assert ">3<" not in html  # the suppressed count appears nowhere
    assert "waits for a checker" in html  # the unchecked table is not shown
    assert json.loads(Path(r["paths"]["summary"]).read_text())["study"] == "toy_counts"


def test_safe_frame_withholds_a_table_whose_unsafe_cell_it_cannot_find() -> None:
    from fivesafes.outputs import FrequencyTable, check, load_policy

    counts = pd.DataFrame({"area": ["A", "B"], "pupils": [40, 3]})
    result = check(
        FrequencyTable.from_long(counts, ["area"], "pupils", persons=True), load_policy("acro")
    )
    frame, rows = st.safe_frame(pd.DataFrame({"x": [1, 2]}), result)
    assert frame is None and rows == ["B"]
    frame, rows = st.safe_frame(counts.assign(share=[0.9, 0.1]), result)
    assert frame is not None and rows == ["B"]
    assert frame["share"].isna().tolist() == [False, True]


def test_a_rounding_policy_rounds_the_released_counts(toy: tuple[Path, Path]) -> None:
    """OpenSAFELY's midpoint-6 rounding: 40 → ceil(40/6)·6 − 3 = 39, 3 → 3."""
    from fivesafes.outputs import load_policy

    folder, ws = toy
    policy = load_policy("opensafely-midpoint6")
    r = st.run_study("toy_counts", ws, ws.parent / "out", studies_dir=folder, policy=policy)
    by_area = {o["name"]: o for o in r["outputs"]}["counts/by_area"]
    assert by_area["status"] == "round"
    released = pd.read_csv(by_area["released"]).set_index("area")["pupils"].to_dict()
    assert released == {"A": 39, "B": 3}
    comps = {c["quantity"]: c for c in r["comparisons"]}
    assert comps["pupils in A"]["estimate"] is None  # 40 would undo the rounding
    assert "rounded" in comps["pupils in A"]["note"]


def test_a_small_trajectory_group_is_blanked_in_the_groups_table() -> None:
    """GroupSummary labels groups 'group 1', ...; the trajectory table numbers them."""
    import numpy as np

    from fivesafes.outputs import GroupSummary, check, load_policy

    summary = GroupSummary(
        groups=["group 1", "group 2"],
        sizes=np.array([3.0, 50.0]),
        statistics=pd.DataFrame({"proportion": [0.06, 0.94]}),
        persons=True,
    )
    result = check(summary, load_policy("acro"))
    table = pd.DataFrame({"group": [1, 2], "persons": [3, 50], "proportion": [0.06, 0.94]})
    frame, rows = st.safe_frame(table, result)
    assert rows == ["group 1"] and frame is not None
    assert frame["persons"].tolist() == [None, 50]
    assert frame["group"].tolist() == [1, 2]
