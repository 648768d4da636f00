"""ACRO results.json: read what ACRO writes; write what ACRO can read."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fivesafes.outputs import FrequencyTable, check, load_policy
from fivesafes.outputs.acro import (
    acro_verdicts,
    read_acro_policy,
    read_acro_results,
    write_acro_results,
)

acro = pytest.importorskip("acro")


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "region": rng.choice(list("ABCD"), 400, p=[0.4, 0.3, 0.28, 0.02]),
            "sex": rng.choice(["F", "M"], 400),
        }
    )


def test_import_acro_session(tmp_path: Path, df: pd.DataFrame) -> None:
    logging.getLogger("acro").setLevel(logging.ERROR)
    session = acro.ACRO(suppress=False)
    session.crosstab(df.region, df.sex)
    session.finalise(str(tmp_path / "out"), "json")
    outputs = read_acro_results(tmp_path / "out")
    table = next(o for o in outputs if o.uid == "output_0")
    assert table.status == "fail" and table.method == "crosstab"
    assert table.flags["threshold"] == [(3, 0), (3, 1)]
    verdicts = {v.label: v for v in acro_verdicts(table)}
    assert verdicts[("D", "F")].status == "suppress"
    assert verdicts[("D", "F")].reasons == ["flagged by ACRO's MinimumThresholdCheck"]
    assert verdicts[("A", "F")].status == "pass" and verdicts[("A", "F")].value > 0
    policy = read_acro_policy(tmp_path / "out")
    assert (policy.threshold, policy.n, policy.k, policy.p) == (10, 2, 90.0, 10.0)


def test_export_is_readable_by_acro(tmp_path: Path, df: pd.DataFrame) -> None:
    result = check(FrequencyTable.from_microdata(df, ["region", "sex"]), load_policy("acro"))
    path = write_acro_results({"output_0": result}, tmp_path / "res")
    doc = json.loads(path.read_text())
    rec = doc["results"]["output_0"]
    assert rec["status"] == "fail"
    assert [3, 0] in rec["files"][0]["sdc"]["cells"]["MinimumThresholdCheck"]
    records = acro.record.load_records(str(tmp_path / "res"))
    loaded = records.get("output_0")
    assert loaded.outcome.loc["D", "F"].startswith("MinimumThresholdCheck")
    # and back again
    back = read_acro_results(path)[0]
    assert (3, 0) in back.flags["threshold"]
