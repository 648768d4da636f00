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
from playwright.sync_api import expect

from fivesafes.demo.projects import PENDING_TITLE
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
    expect(page.get_by_text("Logged in as")).to_be_visible()


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
    expect(page.locator("body")).to_contain_text("Your decision is recorded")

    # the owner of both datasets approves each
    _log_in(page, base, demo_users["data_owner"])
    for dataset in ("earnings_survey", "census_2021"):
        page.goto(f"{base}/projects/{PENDING}/review")
        page.get_by_label("Deciding").select_option(f"owner:{dataset}")
        page.get_by_label("Decision", exact=True).select_option("approve")
        page.get_by_role("button", name="Record the decision").click()
        expect(page.locator("main")).to_contain_text("Your decision is recorded")
    shot(page, "owner-approved")
    expect(page.locator("body")).to_contain_text("The application is approved")
    page.goto(f"{base}/projects/public")
    expect(page.locator("body")).to_contain_text(PENDING_TITLE)
    shot(page, "public-register")

    # one checker is not enough for a flagged output
    _log_in(page, base, demo_users["output_checker"])
    page.goto(f"{base}/airlock")
    page.get_by_role("link", name="Offending by area and ethnic group").click()
    expect(page.locator("body")).to_contain_text("fewer than the threshold of 10")
    shot(page, "checker-sees-cells")
    page.get_by_role("radio", name="Approve", exact=True).check()
    page.get_by_role("button", name="Record the decision on offenders_by_area.csv").click()
    expect(page.locator("body")).to_contain_text("1 of 2")
    shot(page, "one-approval-of-two")

    # a second checker approves: released
    _log_in(page, base, demo_users["output_checker2"])
    page.goto(f"{base}/airlock/requests/{SEEDED_REQUEST}")
    page.get_by_role("radio", name="Approve", exact=True).check()
    page.get_by_role("button", name="Record the decision on offenders_by_area.csv").click()
    expect(page.locator("body")).to_contain_text("the request is released")
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
    expect(page.locator("body")).to_contain_text("offenders_by_area.csv")
    shot(page, "register-lists-release")
