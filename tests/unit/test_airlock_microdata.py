"""A table of sums checked from its microdata as an airlock output
(:class:`fivesafes.outputs.airlock.MicrodataTable`): the output is the safe table of
sums, its report says what it was made from, the microdata is stored nowhere and
released never, and bad microdata is refused naming the file, row and field with
nothing stored."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.appdb.models import RequestOutput
from fivesafes.errors import FivesafesError
from fivesafes.outputs import airlock
from fivesafes.outputs.airlock import MicrodataTable
from fivesafes.outputs.policy import tre_policy

USERS = {"ann": "researcher", "carol": "output_checker", "dave": "output_checker"}

#: Sales by region and product, one row per sale, firm f1..f8: North × tea is one
#: firm's refund of -900 against small sales, which dominates it.
MICRODATA = (
    "region,product,firm,sales\n"
    + "".join(
        f"{region},{product},f{i},{100 + 7 * i + (30 if region == 'South' else 0)}\n"
        for region in ("North", "South")
        for product in ("tea", "cake")
        for i in range(1, 9)
    )
    + "North,tea,f1,-900\n"
)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("airlock-microdata") / "fivesafes.db"
    migrate(f"sqlite:///{path}")
    with session_factory(f"sqlite:///{path}")() as s:
        for name, role in USERS.items():
            add_user(s, name, role)
    return path


@pytest.fixture
def session(template_db: Path, tmp_path: Path) -> Iterator[Session]:
    path = tmp_path / "fivesafes.db"
    shutil.copy(template_db, path)
    with session_factory(f"sqlite:///{path}")() as s:
        yield s


def _microdata(tmp_path: Path, text: str = MICRODATA) -> Path:
    path = tmp_path / "sales_rows.csv"
    path.write_text(text)
    return path


def test_the_output_is_the_safe_table_of_sums_and_records_its_columns(
    session: Session, tmp_path: Path
) -> None:
    req = airlock.create_request(session, "ann", "p-001", "Sales")
    out = airlock.add_output(
        session,
        req.id,
        "ann",
        "sales.csv",
        _microdata(tmp_path),
        "Sales by region and product",
        microdata=MicrodataTable("sales", person="firm"),
    )
    report = out.check_report
    assert report is not None and report["object"] == "magnitude"
    assert report["table"]["from"] == "microdata"
    assert (report["table"]["value"], report["table"]["person"]) == ("sales", "firm")
    assert out.source_path is None  # nothing points at the microdata
    assert out.content is not None
    stored = out.content.decode()
    assert stored.splitlines()[0] == "region,product,sales,status"
    assert "f1" not in stored and "-900" not in stored  # no person, no contribution
    cells = {(c["labels"]["region"], c["labels"]["product"]): c for c in report["cells"]}
    # f1's sale of 107 and refund of -900 are one contribution of -793
    assert cells["North", "tea"]["value"] == sum(100 + 7 * i for i in range(1, 9)) - 900
    assert cells["North", "tea"]["status"] == "suppress" and out.verdict == "suppress"
    (bounds,) = [
        b for b in report["attacker_bounds"] if b["labels"] == {"region": "North", "product": "tea"}
    ]
    assert bounds["lower_bound"] == 107 - 900
    summary = airlock.summary(airlock.get_request(session, req.id, "ann"))["outputs"][0]
    assert summary["table"]["person"] == "firm"
    assert summary["attacker_bounds"] == report["attacker_bounds"]
    assert any("negative" in n for n in summary["notes"])
    details = audit.details_of(audit.entries(session, action="airlock.add_output")[-1])
    assert (details["kind"], details["value"], details["person"]) == (
        "microdata_table",
        "sales",
        "firm",
    )
    # the policy given is the one applied
    assert report["policy"]["name"] == tre_policy().name


def test_the_bundle_holds_no_microdata(session: Session, tmp_path: Path) -> None:
    req = airlock.create_request(session, "ann", "p-001", "Sales")
    airlock.add_output(
        session,
        req.id,
        "ann",
        "sales.csv",
        _microdata(tmp_path),
        "Sales by region and product",
        microdata=MicrodataTable("sales", person="firm"),
    )
    airlock.submit(session, req.id, "ann")
    # an injected engine sees only the safe table: the microdata's own check stands
    airlock.record_automatic_check(session, req.id, check=lambda name, data: {"verdict": "pass"})
    (out,) = airlock.get_request(session, req.id, "carol").outputs
    assert out.verdict == "suppress" and out.check_report is not None
    assert out.check_report["table"]["from"] == "microdata"
    airlock.start_review(session, req.id, "carol")
    for checker in ("carol", "dave"):
        airlock.review(session, req.id, "sales.csv", checker, "approve")
    bundle = airlock.release(session, req.id, "carol", tmp_path / "bundles")
    everything = b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    for needle in (b"-900", b"f1,", b"sales_rows", b"attacker_bounds"):
        assert needle not in everything, needle


@pytest.mark.parametrize(
    ("text", "table", "says"),
    [
        (
            MICRODATA.replace("South,cake,f3,151\n", "South,cake,f3,lots\n"),
            MicrodataTable("sales", "firm"),
            r"sales_rows\.csv, row 27 \(line 28\), field 'sales': the amount is not a number",
        ),
        (MICRODATA, MicrodataTable("turnover"), r"sales_rows\.csv, field 'turnover'.*no column"),
        (MICRODATA, MicrodataTable("sales", "company"), r"field 'company'.*no column 'company'"),
    ],
)
def test_bad_microdata_is_refused_naming_file_row_and_field_and_nothing_stored(
    session: Session, tmp_path: Path, text: str, table: MicrodataTable, says: str
) -> None:
    req = airlock.create_request(session, "ann", "p-001", "Sales")
    with pytest.raises(FivesafesError, match=says) as refusal:
        airlock.add_output(
            session, req.id, "ann", "sales.csv", _microdata(tmp_path, text), "d", microdata=table
        )
    assert "Nothing was added to request" in str(refusal.value)
    assert session.scalars(select(RequestOutput)).all() == []
    refused = audit.details_of(audit.entries(session, action="airlock.refused")[-1])
    assert refused["attempted"] == "add_output"


def test_replacing_with_new_microdata_checks_it_again(session: Session, tmp_path: Path) -> None:
    req = airlock.create_request(session, "ann", "p-001", "Sales")
    first = airlock.add_output(
        session,
        req.id,
        "ann",
        "sales.csv",
        _microdata(tmp_path),
        "d",
        microdata=MicrodataTable("sales", "firm"),
    )
    assert first.verdict == "suppress"
    no_refund = MICRODATA.replace("North,tea,f1,-900\n", "")
    out = airlock.update_output(
        session,
        req.id,
        "ann",
        "sales.csv",
        path=_microdata(tmp_path, no_refund),
        microdata=MicrodataTable("sales", "firm"),
    )
    assert out.version == 2 and out.source_path is None
    report = out.check_report
    assert report is not None and "negative" not in " ".join(report["notes"])
    (north_tea,) = [
        c for c in report["cells"] if c["labels"] == {"region": "North", "product": "tea"}
    ]
    assert north_tea["value"] == sum(100 + 7 * i for i in range(1, 9))
    assert all(b["lower_bound"] == 0 for b in report["attacker_bounds"])
