"""The same primary flags as ACRO (a test-only dependency) under the same
parameters, and where fivesafes differs on purpose.

ACRO (https://github.com/AI-SDC/ACRO) is run on the same microdata with its
default risk appetite (default.yaml of 1.0.2: threshold 10, n,k = 2, 0.9,
p = 0.1, zeros disclosive); fivesafes uses the ``acro`` preset.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from fivesafes.outputs import FrequencyTable, MagnitudeTable, check
from fivesafes.outputs.objects import TOTAL
from fivesafes.outputs.policy import ACRO
from fivesafes.outputs.primary import primary

acro_mod = pytest.importorskip("acro")
pytestmark = pytest.mark.filterwarnings(
    "ignore::FutureWarning", "ignore::pandas.errors.SettingWithCopyWarning"
)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 3000
    df = pd.DataFrame(
        {
            "region": rng.choice(list("ABCDEF"), n, p=[0.3, 0.3, 0.2, 0.15, 0.04, 0.01]),
            "band": rng.choice(["16-34", "35-64", "65+"], n, p=[0.4, 0.5, 0.1]),
            "income": rng.gamma(2.0, 1000.0, n),
        }
    )
    # a dominated cell: one huge contribution in C × 65+
    i = df.index[(df.region == "C") & (df.band == "65+")][0]
    df.loc[i, "income"] = 5_000_000.0
    # a cell where two contributions dominate but a third-party residue remains
    j = df.index[(df.region == "D") & (df.band == "65+")][:2]
    df.loc[j, "income"] = [400_000.0, 390_000.0]
    return df


def acro_session():  # type: ignore[no-untyped-def]
    logging.getLogger("acro").setLevel(logging.ERROR)
    return acro_mod.ACRO(suppress=False)


def acro_flags(output, rows, cols) -> dict[str, set[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    out: dict[str, set[tuple[str, str]]] = {}
    for check_name, cells in output.sdc["cells"].items():
        out[check_name] = {(str(rows[r]), str(cols[c])) for r, c in cells}
    return out


def ours(result_verdicts, rule: str) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {v.label for v in result_verdicts if rule in v.rules and TOTAL not in v.label}


def last_output(session):  # type: ignore[no-untyped-def]
    key = session.results.get_keys()[-1]
    return session.results.get(key)


def test_frequency_flags_match_acro(data: pd.DataFrame) -> None:
    session = acro_session()
    table = session.crosstab(data.region, data.band)
    out = last_output(session)
    flags = acro_flags(out, list(table.index), list(table.columns))
    verdicts = primary(FrequencyTable.from_microdata(data, ["region", "band"]).cells(), ACRO)
    # ACRO's threshold test is count < 10, zeros included
    ours_low = ours(verdicts, "threshold") | ours(verdicts, "zero")
    assert ours_low == flags["MinimumThresholdCheck"]
    assert ours(verdicts, "zero") == flags["PresenceOfZeroCheck"]
    assert ours_low  # the table does have small cells


def test_magnitude_flags_match_acro(data: pd.DataFrame) -> None:
    session = acro_session()
    table = session.crosstab(data.region, data.band, values=data.income, aggfunc="sum")
    out = last_output(session)
    flags = acro_flags(out, list(table.index), list(table.columns))
    t = MagnitudeTable.from_microdata(data, ["region", "band"], "income", statistic="sum")
    verdicts = primary(t.cells(), ACRO)
    assert ours(verdicts, "p%") == flags["PPercentCheck"]
    assert ours(verdicts, "n,k") == flags["NKCheck"]
    assert ours(verdicts, "threshold") | ours(verdicts, "zero") == flags["MinimumThresholdCheck"]
    assert flags["NKCheck"] and flags["PPercentCheck"]  # the data exercise both rules
    # p% and n,k are reported separately: D × 65+ has two large contributions
    d65 = next(v for v in verdicts if v.label == ("D", "65+"))
    assert "n,k" in d65.rules


def test_acro_recomputes_margins_fivesafes_keeps_true_ones(data: pd.DataFrame) -> None:
    """Where fivesafes differs on purpose: with suppression on, ACRO re-queries
    the microdata without the suppressed cells, so its margins are recomputed
    (they no longer equal the true totals and a reader cannot tell by how much).
    fivesafes keeps every margin at its true value and instead protects the
    suppressed cells with secondary suppression; it also never re-queries the
    microdata per flagged cell, so it is vectorised."""
    session = acro_mod.ACRO(suppress=True)
    logging.getLogger("acro").setLevel(logging.ERROR)
    acro_table = session.crosstab(data.region, data.band, margins=True)
    true = pd.crosstab(data.region, data.band, margins=True)
    assert acro_table.loc["All", "All"] < true.loc["All", "All"]  # recomputed
    result = check(FrequencyTable.from_microdata(data, ["region", "band"]), ACRO)
    grand = next(v for v in result.verdicts if v.label == (TOTAL, TOTAL))
    assert grand.safe_value == true.loc["All", "All"] == len(data)


def test_fivesafes_counts_people_acro_counts_rows() -> None:
    """Where fivesafes differs on purpose: with the person key known, a cell
    counts distinct people. Twelve rows of three people pass ACRO's threshold
    (rows) but not fivesafes' (people)."""
    df = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 30, "pid": [1, 2, 3] * 4 + list(range(10, 40))})
    rows = primary(FrequencyTable.from_microdata(df, ["g"]).cells(), ACRO)
    people = primary(FrequencyTable.from_microdata(df, ["g"], person="pid").cells(), ACRO)
    assert rows[0].status == "pass"
    assert people[0].status == "suppress"
    assert people[0].reasons == ["3 people: fewer than the threshold of 10"]
