"""In a real browser: an administrator decides on a requested role, issues a
password-reset link, and reads the audit log, which reports an entry edited
behind the app's back. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import expect


@pytest.mark.slow
def test_an_administrator_grants_a_role_and_reads_the_audit_log(
    app: FastAPI, live_server: str, browser_page: Any, shot: Any, demo_users: dict[str, Any]
) -> None:
    page = browser_page
    page.goto(live_server + "/register")
    page.get_by_label("Full name").fill("Cleo Checker")
    page.get_by_label("E-mail address").fill("cleo@tre.example")
    page.get_by_label("Organisation").fill("fivesafes TRE")
    page.get_by_label("Role you need").select_option("output_checker")
    page.get_by_label("Password", exact=True).fill("seven quiet harbours")
    page.get_by_label("Confirm the password").fill("seven quiet harbours")
    page.get_by_role("button", name="Create the account").click()
    page.get_by_role("button", name="Log out").click()

    admin = demo_users["administrator"]
    page.goto(live_server + "/login?next=/admin")
    page.get_by_label("E-mail address").fill(admin["email"])
    page.get_by_label("Password").fill(admin["password"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server + "/admin")
    expect(page.get_by_text("1 waiting for a role decision")).to_be_visible()
    shot(page, "admin-index")
    page.get_by_role("link", name="Users and roles").click()
    page.get_by_label("Status").select_option("pending")
    page.get_by_role("button", name="Filter").click()
    shot(page, "pending-users")
    page.get_by_role("link", name="Cleo Checker").click()
    page.get_by_label("Output checker", exact=True).check()
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_text("granted output checker")).to_be_visible()
    page.get_by_role("button", name="Issue a password-reset link").click()
    expect(page.locator("#reset-link")).to_have_text(
        re.compile("^" + re.escape(live_server + "/password-reset/"))
    )
    shot(page, "user-with-reset-link")

    page.goto(live_server + "/admin/audit")
    expect(page.get_by_role("heading", name="The hash chain is intact")).to_be_visible()
    shot(page, "audit-intact")
    with app.state.db.engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
        c.exec_driver_sql(
            'UPDATE audit_log SET details = \'{"role":"administrator"}\' WHERE seq = 4'
        )
    page.reload()
    expect(
        page.get_by_role("heading", name="The audit log has been tampered with at entry 4")
    ).to_be_visible()
    page.get_by_label("Who (user name)").fill("system")
    page.get_by_role("button", name="Filter").click()
    shot(page, "audit-tampered")
