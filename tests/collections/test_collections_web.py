"""Collections in the browser (HTTP, no browser): a provider's data owner uploads
a return, reads its report, explains its warnings and accepts it; a file that is
not CSV gets a clear message on the form; another provider's submission is not
found; the pages need the data_owner role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fivesafes.appdb import session_factory
from fivesafes.collections import submissions as subs
from fivesafes.synth import returns as rt

WEB_TESTS = Path(__file__).resolve().parents[1] / "web"


@pytest.mark.slow
def test_a_data_owner_submits_explains_and_accepts_in_the_browser(
    web: Any, seeded: tuple[str, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    url_db, users = seeded
    with session_factory(url_db)() as s:
        subs.add_provider(s, rt.la_code(0), rt.la_name(0))
        subs.add_member(s, rt.la_code(0), users["data_owner"]["name"])
    web.login_as("data_owner")
    page = web.get("/collections")
    assert page.status_code == 200 and "Submit a return" in page.text

    a = rt.make_authority(rt.ReturnsConfig(children=120), 0)
    table = rt.cla_return(a, 2021)
    col = table.column("ethnicity").to_pylist()
    col[1] = ""
    table = table.set_column(table.schema.get_field_index("ethnicity"), "ethnicity", [col])
    rt.write_csv(table, tmp_path / "r.csv")
    token = web.csrf_token("/collections")
    form = {"collection": "cla_episodes", "year": "2021", "csrf_token": token}
    upload = {"file": ("X06000001_2021.csv", (tmp_path / "r.csv").read_bytes(), "text/csv")}
    # The demo data owner submits for two providers: the form asks which.
    unsaid = web.post("/collections", data=form, files=upload, follow_redirects=False)
    assert unsaid.status_code == 422
    assert "Choose the provider you are submitting the return for." in unsaid.text
    form["provider"] = rt.la_code(0)
    sent = web.post("/collections", data=form, files=upload, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    url = sent.headers["location"]
    report = web.get(url)
    assert "Waiting for explanations" in report.text
    assert "Ethnicity is missing; record NOBT if it has not yet been obtained." in report.text
    assert web.get(url + "/report.csv").text.startswith(
        "row,field,value,rule,severity,message,explanation"
    )

    refused = web.post_form(url + "/accept", {}, token_from=url)
    assert refused.status_code == 422 and "not yet explained" in refused.text
    blank = web.post_form(url + "/explain", {"rule": "CLA108", "text": ""}, token_from=url)
    assert blank.status_code == 422 and 'aria-invalid="true"' in blank.text
    explained = web.post_form(
        url + "/explain", {"rule": "CLA108", "rows": "2", "text": "Not yet asked"}, token_from=url
    )
    assert explained.status_code == 303
    accepted = web.post_form(url + "/accept", {}, token_from=url)
    assert accepted.status_code == 303
    assert "Accepted." in web.get(url).text

    # A spreadsheet saved as CSV: the form says so, nothing is stored.
    sheet = web.post(
        "/collections",
        data={**form, "year": "2022"},
        files={"file": ("book.csv", b"PK\x03\x04" + b"\x00" * 50, "text/csv")},
        follow_redirects=False,
    )
    assert sheet.status_code == 422
    assert "is a spreadsheet, not a CSV file" in sheet.text

    # Another browser: a researcher is refused; a visitor sent to log in.
    other = web.fresh()
    assert other.get("/collections", follow_redirects=False).status_code == 303
    other.login_as("researcher")
    assert other.get("/collections").status_code == 403
    assert other.get(url).status_code == 403


def test_the_web_seeder_makes_the_demo_data_owner_a_provider_member(
    seeded: tuple[str, dict[str, dict[str, Any]]],
) -> None:
    from fivesafes.appdb.users import get_user
    from fivesafes.demo.collections import seed

    with session_factory(seeded[0])() as s:
        owner = get_user(s, seeded[1]["data_owner"]["name"])
        seed(s, {"data_owner": owner})
        seed(s, {"data_owner": owner})  # twice: nothing more
        assert [p.code for p in subs.providers_of(s, owner)] == [rt.la_code(rt.JUMP_LA)]
