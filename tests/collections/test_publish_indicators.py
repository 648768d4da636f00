"""The indicator dashboard: a table and a chart per indicator, CSV exports, the
disclosure policy applied before anything is written; and ``fivesafes publish``."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fivesafes.analysis.indicators import OUTPUT_COLUMNS, long_table
from fivesafes.cli.main import app
from fivesafes.collections.publish_indicators import publish_indicators
from fivesafes.outputs.policy import PRESETS
from fivesafes.synth.indicators import make_indicators

ROWS = [
    ("Northshire", "Suspects charged", "2024Q1", 125),
    ("Northshire", "Suspects charged", "2024Q2", 100),
    ("Eastmoor", "Suspects charged", "2024Q1", 6),  # below acro's threshold
    ("Eastmoor", "Suspects charged", "2024Q2", 50),
    ("Westdale", "Suspects charged", "2024Q1", 40),
    ("Westdale", "Suspects charged", "2024Q2", None),
    ("Northshire", "Cases received", "2024Q2", 77),
]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("dash")
    return out, publish_indicators(
        long_table(ROWS), out, policy=PRESETS["acro"], release_date=date(2026, 2, 1)
    )


def test_exports(dashboard) -> None:
    out, _ = dashboard
    with (out / "summary.csv").open() as fh:
        summary = list(csv.DictReader(fh))
    assert tuple(summary[0]) == OUTPUT_COLUMNS
    east = next(r for r in summary if r["area"] == "Eastmoor")
    assert (east["previous_value"], east["change_percent"], east["average"]) == ("", "", "")
    with (out / "series.csv").open() as fh:
        series = {(r["area"], r["indicator"], r["period"]): r for r in csv.DictReader(fh)}
    assert series[("Eastmoor", "Suspects charged", "2024Q1")]["value"] == ""
    assert series[("Eastmoor", "Suspects charged", "2024Q1")]["status"] == "suppressed"
    assert series[("Westdale", "Suspects charged", "2024Q2")]["status"] == "missing"
    assert series[("Northshire", "Cases received", "2024Q2")]["value"] == "77"
    for slug in ("suspects-charged", "cases-received"):
        assert (out / f"{slug}.csv").is_file()
        assert (out / f"{slug}.png").read_bytes()[:4] == b"\x89PNG"
    with (out / "suspects-charged.csv").open() as fh:
        assert {r["indicator"] for r in csv.DictReader(fh)} == {"Suspects charged"}


def test_the_withheld_value_is_nowhere(dashboard) -> None:
    out, _ = dashboard
    doc = json.loads((out / "indicators.json").read_text())
    cell = next(s for s in doc["series"] if s["area"] == "Eastmoor" and s["period"] == "2024Q1")
    assert cell["value"] is None and cell["status"] == "suppressed"
    # Eastmoor's average of 6 and 50 (28) would give 6 away: withheld
    east = next(s for s in doc["summary"] if s["area"] == "Eastmoor")
    assert east["average"] is None
    assert "average withheld" in east["note"]


def test_metadata_and_page(dashboard) -> None:
    out, dash = dashboard
    meta = json.loads((out / "indicators.json").read_text())["metadata"]
    assert meta["release_date"] == "2026-02-01"
    assert meta["coverage"] == "3 areas, 2 indicators, 2024Q1 to 2024Q2"
    assert meta["policy"] == "acro 1.0.2"
    html = (out / "index.html").read_text()
    assert html.count("<section") == 2
    assert 'alt="Bar chart of Suspects charged in 2024Q2 for 3 areas' in html
    # withheld [c] and not available [x] are told apart; the change is signed
    assert '<td class="n">[c]</td>' in html and '<td class="n">[x]</td>' in html
    assert "-20.0" in html
    assert 'href="summary.csv"' in html and 'href="suspects-charged.csv"' in html
    entry = dash.entry(prefix="indicators/")
    assert entry["href"] == "indicators/index.html"


def test_synthetic_indicators_are_reproducible_and_realistic() -> None:
    a, b = make_indicators(seed=5), make_indicators(seed=5)
    assert a.equals(b)
    assert a["area"].nunique() == 42
    assert sorted(a["period"].unique())[0] == "2019Q1"
    assert sorted(a["period"].unique())[-1] == "2025Q4"
    values = a["value"]
    assert (values == "N/A").mean() > 0.01  # missing quarters
    numbers = values[values != "N/A"].astype(int)
    assert (numbers < 10).sum() > 0  # small numbers to protect
    # some rows are absent altogether
    assert len(a) < 42 * 4 * 28


runner = CliRunner()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's state folder (the audit log's database), never the real home."""
    monkeypatch.setenv("FIVESAFES_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FIVESAFES_DATABASE_URL", raising=False)
    monkeypatch.setenv("FIVESAFES_POLICY", "acro")
    return tmp_path / "state"


def test_publish_cli_indicators_and_table(tmp_path: Path, state: Path) -> None:
    table = tmp_path / "cjs.csv"
    long_table(ROWS).to_csv(table, index=False)
    res = runner.invoke(
        app,
        ["publish", "indicators", str(table), "--out", str(tmp_path / "ind"), "--json"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["command"] == "publish indicators"
    assert doc["audit_entry"] == 1
    assert doc["indicators"]["periods_suppressed"] == 1
    assert all(Path(p).is_file() for p in doc["paths"])
    records = tmp_path / "records.csv"
    records.write_text("year,la,kind\n" + "2024,A,x\n" * 30 + "2024,B,x\n" * 3 + "2024,B,y\n" * 20)
    res = runner.invoke(
        app,
        [
            "publish",
            "table",
            str(records),
            "--dims",
            "la,kind",
            "--by",
            "year",
            "--title",
            "Test counts",
            "--source",
            "made up",
            "--out",
            str(tmp_path / "site"),
            "--release-date",
            "2026-01-15",
            "--as",
            "ana",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    [t] = doc["tables"]
    assert t["slug"] == "test-counts" and t["counts"]["suppress"] >= 1
    data = json.loads((tmp_path / "site" / "test-counts.json").read_text())["data"]
    b_x = next(d for d in data if d["la"] == "B" and d["kind"] == "x")
    assert b_x["value"] is None  # 3 children
    # both publications are in the audit log, with the hash of every file
    from fivesafes import audit
    from fivesafes.appdb import session_factory

    with session_factory(f"sqlite:///{state / 'fivesafes.db'}")() as session:
        assert audit.verify(session).ok
        got = [(e.actor, e.action, e.subject) for e in audit.entries(session)]
        assert [a for _, a, _ in got] == ["publication.publish"] * 2
        assert got[1] == ("ana", "publication.publish", "publication:table:test-counts")
        files = audit.details_of(audit.entries(session)[1])["files"]
    csv_file = str(tmp_path / "site" / "test-counts.csv")
    assert len(files[csv_file]) == 64


def test_publish_cli_bad_release_date(tmp_path: Path, state: Path) -> None:
    table = tmp_path / "cjs.csv"
    long_table(ROWS).to_csv(table, index=False)
    res = runner.invoke(
        app,
        ["publish", "indicators", str(table), "--out", str(tmp_path), "--release-date", "15/01"],
    )
    assert res.exit_code != 0
    assert "is not a date like 2026-01-15" in str(res.exception)
