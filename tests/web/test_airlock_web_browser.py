"""Safe projects and the airlock in headless chromium, as their users do it: the
panel and the dataset owner approve an application (it appears in the public
register), two checkers approve a flagged output (one is not enough), and a
member downloads the released bundle. A screenshot of each step is saved under
test-artifacts/screenshots/."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from fivesafes.projects.demo import PENDING_TITLE
from fivesafes.projects.release import BUNDLES_ENV

pytestmark = pytest.mark.slow

PENDING = 2
SEEDED_REQUEST = 1


def _log_in(page: Any, base: str, user: dict[str, Any]) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.get_by_label("E-mail address").fill(user["email"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_panel_and_owner_approve_then_two_checkers_release_and_a_member_downloads(
    live_server: str,
    browser_page: Any,
    demo_users: dict[str, dict[str, Any]],
    shot: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BUNDLES_ENV, str(tmp_path / "bundles"))
    page, base = browser_page, live_server

    # the approval panel decides on the pending application
    _log_in(page, base, demo_users["panel_member"])
    page.goto(f"{base}/projects")
    page.get_by_role("link", name=PENDING_TITLE).click()
    shot(page, "panel-reviews-application")
    page.get_by_label("Decision", exact=True).select_option("approve")
    page.get_by_label("Comment").fill("A clear public benefit.")
    page.get_by_role("button", name="Record the decision").click()
    assert "Your decision is recorded" in page.content()

    # the owner of both datasets approves each
    _log_in(page, base, demo_users["data_owner"])
    for dataset in ("earnings_survey", "census_2021"):
        page.goto(f"{base}/projects/{PENDING}/review")
        page.get_by_label("Deciding").select_option(f"owner:{dataset}")
        page.get_by_label("Decision", exact=True).select_option("approve")
        page.get_by_role("button", name="Record the decision").click()
    shot(page, "owner-approved")
    assert "The application is approved" in page.content()
    page.goto(f"{base}/projects/public")
    assert PENDING_TITLE in page.content()
    shot(page, "public-register")

    # one checker is not enough for a flagged output
    _log_in(page, base, demo_users["output_checker"])
    page.goto(f"{base}/airlock")
    page.get_by_role("link", name="Offending by area and ethnic group").click()
    assert "fewer than the threshold of 10" in page.content()
    shot(page, "checker-sees-cells")
    page.get_by_role("radio", name="Approve", exact=True).check()
    page.get_by_role("button", name="Record the decision on offenders_by_area.csv").click()
    assert "1 of 2" in page.content()
    shot(page, "one-approval-of-two")

    # a second checker approves: released
    _log_in(page, base, demo_users["output_checker2"])
    page.goto(f"{base}/airlock/requests/{SEEDED_REQUEST}")
    page.get_by_role("radio", name="Approve", exact=True).check()
    page.get_by_role("button", name="Record the decision on offenders_by_area.csv").click()
    assert "the request is released" in page.content()
    shot(page, "released")

    # a member downloads the bundle
    _log_in(page, base, demo_users["researcher2"])
    page.goto(f"{base}/projects/1/airlock/{SEEDED_REQUEST}")
    shot(page, "member-sees-release")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the bundle (zip)").click()
    saved = tmp_path / "downloaded.zip"
    info.value.save_as(saved)
    names = zipfile.ZipFile(saved).namelist()
    assert f"request-{SEEDED_REQUEST}/outputs/offenders_by_area.csv" in names
    page.goto(f"{base}/projects/public")
    assert "offenders_by_area.csv" in page.content()
    shot(page, "register-lists-release")
