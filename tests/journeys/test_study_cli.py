"""``fivesafes study list`` and ``fivesafes study run NAME --workspace W [--json]``.

The run is the ASD clustering study on the demo-sized world (10,000 people, real
linkage: tests/shared/study_world.py). Planted (docs/synthetic-world.md,
"Schools"): ASD has 4 times the weight among special-needs types in a hotspot,
the 6% of areas nearest a random centre. In this small world most areas have
fewer than 10 pupils with a special need, so the disclosure rules (ACRO: at least
10 people) blank those areas' rows and withhold the Moran scatterplot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shared import study_world


def test_study_list_and_refusals(
    tmp_path: Path,
    fivesafes_at: Any,
    one_json: Callable[..., Any],
    refused: Callable[..., str],
    together: Callable[..., Any],
) -> None:
    fs = fivesafes_at(tmp_path / "state")
    ws = tmp_path / "nothing.duckdb"
    listed, no_workspace, no_study = together(
        [
            lambda: fs("study", "list", "--json"),
            lambda: fs("study", "run", "asd_clusters", "--workspace", ws),
            lambda: fs("study", "run", "no_such", "--workspace", ws),
        ]
    )
    names = {s["name"]: s for s in one_json(listed)["studies"]}
    assert set(names) >= {
        "attainment_convictions",
        "exclusions_justice",
        "immigrant_pay_gap",
        "asd_clusters",
    }
    assert names["immigrant_pay_gap"]["datasets"] == ["earnings_survey", "census_2021"]
    refused(no_workspace, "no workspace")
    refused(no_study, "no study 'no_such'")


def test_study_run_help_has_an_example() -> None:
    from typer.testing import CliRunner

    from fivesafes.cli.main import app

    result = CliRunner().invoke(app, ["study", "run", "--help"])
    assert result.exit_code == 0
    assert "--workspace" in result.output and "Example" in result.output


@pytest.mark.slow
def test_study_run_writes_checked_outputs_and_the_report(
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    fivesafes_at: Any,
    one_json: Callable[..., Any],
    refused: Callable[..., str],
) -> None:
    world = study_world.study_world(tmp_path_factory)
    ws = study_world.workspace_copy(world, study_world.PAY_PROJECT, tmp_path / "ws")
    fs = fivesafes_at(tmp_path / "state")
    out = tmp_path / "out"
    truth = world / "world" / "truth"
    r = one_json(
        fs(
            "study",
            "run",
            "asd_clusters",
            "--workspace",
            ws,
            "--out",
            out,
            "--truth",
            truth,
            "--json",
        )
    )
    assert r["command"] == "study run" and r["study"] == "asd_clusters"
    assert Path(r["paths"]["report"]) == out / "report.html"
    outputs = {o["name"]: o for o in r["outputs"]}
    local = outputs["moran/local"]
    assert local["status"] == "suppress" and local["suppressed_rows"]
    released = pd.read_csv(local["released"])
    blank = released[released["local_I"].isna()]["area_code"]
    assert set(blank) == set(local["suppressed_rows"])
    assert Path(local["check_report"]).exists()
    scatter = outputs["moran/moran_scatter"]
    assert scatter["released"] is None and Path(scatter["check_report"]).exists()
    assert not (out / "outputs" / "moran" / "moran_scatter.png").exists()
    # the significant high-high areas the study releases are the planted hotspot or
    # next to it
    people = pd.read_csv(world / "world" / "truth" / "people.csv", dtype=str)
    hotspot = set(people.loc[people["hotspot_area"] == "1", "area_code"])
    areas = pd.read_csv(world / "world" / "reference" / "areas.csv", dtype=str)
    near = hotspot | {
        n for a in areas.itertuples() if a.area_code in hotspot for n in a.neighbours.split(";")
    }
    hh = set(released[(released["quadrant"] == "HH") & (released["p_sim"] <= 0.05)]["area_code"])
    # At p <= 0.05 some areas away from the hotspot are significant by chance: at
    # least one significant high-high area lies at the planted hotspot, and those
    # elsewhere are no more than chance gives (the 99th percentile of a binomial
    # count over the areas away from it; the odds ratio below tests the effect).
    from scipy.stats import binom

    away = set(released["area_code"]) - near
    assert len(hh & near) >= 1
    assert len(hh - near) <= binom.ppf(0.99, len(away), 0.05), (hh, len(away))
    odds = {c["quantity"]: c for c in r["comparisons"]}[
        "odds ratio of ASD, HH cluster vs elsewhere"
    ]
    # The comparison is made and points the planted way. Whether its interval covers
    # the planted 4 depends on the world's draw: the "HH cluster" is every area
    # significant at p <= 0.05 with no correction for testing 64 areas, so areas
    # significant by chance dilute it (seen when the world's errors changed; see
    # docs/studies.md).
    assert odds["planted"] == 4.0 and odds["estimate"] > 1, odds
    html = (out / "report.html").read_text()
    assert "Withheld: this output did not pass disclosure control" in html
    # a workspace without the study's datasets is refused, naming them
    demo = study_world.workspace_copy(world, study_world.DEMO_PROJECT, tmp_path / "demo")
    refused(
        fs("study", "run", "immigrant_pay_gap", "--workspace", demo),
        "earnings_survey, census_2021",
    )
