"""The synthetic twin of a real (synthetic-world) workspace, as an attacker and as
a researcher: the demo-sized world of tests/shared/study_world.py (10,000 people, linked
and provisioned), its twin searched for every real pseudonym and every value
held by fewer than 10 persons, and the four example studies run on the twin.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from fivesafes.analysis.studies import run_study
from fivesafes.data.twin import make_twin
from fivesafes.outputs.policy import ACRO
from shared.study_world import DEMO_PROJECT, PAY_PROJECT, study_world

pytestmark = pytest.mark.slow
PSEUDONYM = "person_pseudonym"
STUDIES = Path(__file__).resolve().parents[2] / "studies"


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    base = study_world(tmp_path_factory)
    out = tmp_path_factory.mktemp("twins")
    pairs = {}
    for project in (DEMO_PROJECT, PAY_PROJECT):
        ws = base / "store" / "workspaces" / project / "workspace.duckdb"
        twin = out / f"{project}.duckdb"
        make_twin(ws, twin, policy=ACRO, seed=5)
        pairs[project] = (ws, twin)
    return pairs


@pytest.mark.parametrize("project", [DEMO_PROJECT, PAY_PROJECT])
def test_no_real_pseudonym_or_rare_value_is_in_the_twin(
    twins: dict[str, tuple[Path, Path]], project: str
) -> None:
    ws, twin = twins[project]
    real = duckdb.connect(str(ws), read_only=True)
    fake = duckdb.connect(str(twin), read_only=True)
    try:
        tables = [r[0] for r in real.execute("SELECT dataset FROM _manifest").fetchall()]
        pseudonyms: set[str] = set()
        for t in tables:
            cols = [
                c for (c,) in real.execute(f"SELECT name FROM pragma_table_info('{t}')").fetchall()
            ]
            if PSEUDONYM in cols:
                pseudonyms |= {
                    r[0] for r in real.execute(f"SELECT DISTINCT {PSEUDONYM} FROM {t}").fetchall()
                }
        assert len(pseudonyms) > 1000
        checked = 0
        for (t,) in fake.execute("SHOW TABLES").fetchall():
            frame = fake.table(t).df()
            for col in frame.columns:  # every column of every table, as text
                found = set(frame[col].dropna().astype(str)) & pseudonyms
                assert not found, (t, col, sorted(found)[:3])
        for t in tables:
            info = real.execute(f"SELECT name, type FROM pragma_table_info('{t}')").fetchall()
            if PSEUDONYM not in {c for c, _ in info}:
                continue
            for col, ty in info:
                if col == PSEUDONYM or ty not in ("VARCHAR", "BOOLEAN"):
                    continue
                rare = {
                    r[0]
                    for r in real.execute(
                        f'SELECT "{col}" FROM {t} WHERE "{col}" IS NOT NULL GROUP BY 1 '
                        f"HAVING count(DISTINCT {PSEUDONYM}) < 10"
                    ).fetchall()
                }
                held = {r[0] for r in fake.execute(f'SELECT DISTINCT "{col}" FROM {t}').fetchall()}
                assert not rare & held, (t, col, sorted(rare & held)[:3])
                checked += len(rare)
        assert checked > 10  # the world has rare values (schools, employers) to drop
        # no twin person's rows are a real person's rows: whole rows never repeat
        t = "pupil_census" if project == DEMO_PROJECT else "earnings_survey"
        ((same,),) = fake.execute(
            f"ATTACH '{ws}' AS r (READ_ONLY); "
            f"SELECT count(*) FROM (SELECT * EXCLUDE ({PSEUDONYM}) FROM {t} "
            f"INTERSECT SELECT * EXCLUDE ({PSEUDONYM}) FROM r.{t})"
        ).fetchall()
        assert same == 0
    finally:
        real.close()
        fake.close()


def test_twin_joins_across_tables_like_the_workspace(twins: dict[str, tuple[Path, Path]]) -> None:
    sql = (
        "SELECT count(DISTINCT j.person_pseudonym) * 1.0 / (SELECT count(DISTINCT "
        "person_pseudonym) FROM justice_offences) FROM justice_offences j "
        "JOIN pupil_census p USING (person_pseudonym)"
    )
    shares = []
    for path in twins[DEMO_PROJECT]:
        with duckdb.connect(str(path), read_only=True) as con:
            ((share,),) = con.execute(sql).fetchall()
            shares.append(float(share))
    assert shares[0] > 0.3
    assert shares[1] == pytest.approx(shares[0], abs=0.1)


@pytest.mark.parametrize(
    ("study", "project"),
    [
        ("attainment_convictions", DEMO_PROJECT),
        ("exclusions_justice", DEMO_PROJECT),
        ("immigrant_pay_gap", PAY_PROJECT),
        ("asd_clusters", PAY_PROJECT),
    ],
)
def test_the_example_studies_run_on_the_twin(
    twins: dict[str, tuple[Path, Path]], study: str, project: str, tmp_path: Path
) -> None:
    ws = tmp_path / "workspace.duckdb"
    shutil.copy(twins[project][1], ws)
    summary = run_study(study, ws, tmp_path / "out", studies_dir=STUDIES)
    assert summary["outputs"], summary
    assert (tmp_path / "out" / "report.html").is_file()
