"""A table of sums added to a release request in the browser as its microdata (the
add-output form's "Microdata" choice, with its amount and person columns): bad
microdata is refused naming the file, row and field with nothing stored; a good one
is kept as its safe table of sums, and the checker's page shows the check's notes
on negative amounts and what an attacker knows of each withheld cell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import ReleaseRequest

APPROVED = 1

#: Sales by region and product, one row per sale by firms f1..f8: North × tea holds
#: f1's refund of -900, which dominates it.
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


@pytest.fixture
def db(seeded_db: str) -> Iterator[Session]:
    with session_factory(seeded_db)() as session:
        yield session


def test_microdata_goes_in_as_its_safe_table_of_sums(client: Any, db: Session) -> None:
    me = client.login_as("researcher")
    started = me.post_form(f"/projects/{APPROVED}/airlock", {"title": "Sales"})
    page_path = started.headers["location"]
    request_id = int(page_path.rsplit("/", 1)[1])
    form = me.get(page_path)
    assert '<option value="microdata">' in form.text and 'name="person_column"' in form.text
    token = me.csrf_token(page_path)
    fields = {"csrf_token": token, "name": "sales.csv", "description": "Sales by region"}
    upload = {"upload": ("sales_rows.csv", MICRODATA.encode(), "text/csv")}

    def add(more: dict[str, str], text: str = MICRODATA) -> Any:
        files = {"upload": ("sales_rows.csv", text.encode(), "text/csv")}
        return me.post(f"{page_path}/outputs", data={**fields, **more}, files=files)

    no_amount = add({"table": "microdata"})
    assert no_amount.status_code == 422 and "Name the amount column" in no_amount.text
    bad = add(
        {"table": "microdata", "value_column": "sales"},
        MICRODATA.replace("South,cake,f3,151\n", "South,cake,f3,lots\n"),
    )
    assert bad.status_code == 422
    assert "sales_rows.csv, row 27 (line 28), field &#39;sales&#39;" in bad.text
    assert "the amount is not a number" in bad.text
    unknown = add({"table": "microdata", "value_column": "sales", "person_column": "company"})
    assert unknown.status_code == 422 and "has no column &#39;company&#39;" in unknown.text
    assert 'id="person_column-error"' in unknown.text
    db.expire_all()
    assert db.get(ReleaseRequest, request_id).outputs == []  # type: ignore[union-attr]

    good = me.post(
        f"{page_path}/outputs",
        data={**fields, "table": "microdata", "value_column": "sales", "person_column": "firm"},
        files=upload,
        follow_redirects=False,
    )
    assert good.status_code == 303, good.text
    db.expire_all()
    (out,) = db.get(ReleaseRequest, request_id).outputs  # type: ignore[union-attr]
    assert out.source_path is None and out.content is not None
    assert b"-900" not in out.content and b"f1" not in out.content
    assert out.check_report is not None and out.check_report["table"]["person"] == "firm"
    assert me.post_form(f"{page_path}/submit", token_from=page_path).status_code == 303

    checker = client.fresh().login_as("output_checker")
    page = checker.get(f"/airlock/requests/{request_id}")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "A table of sums of sales, checked from its microdata" in text
    assert "The contributions of each person, named in firm, are summed into one." in text
    assert "of the 33 contributions is negative" in text
    assert "What an attacker knows of the withheld cells" in text
    # f1's sale of 107 and refund of -900 are one contribution of -793
    assert "<td>North</td><td>tea</td> <td>-793</td>" in text
