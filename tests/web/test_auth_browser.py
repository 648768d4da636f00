"""In a real browser (headless Debian chromium): register with a mistake, fix it,
land on the profile, log out and log in again, using the keyboard where a user
would. Screenshots of each step go to test-artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect


@pytest.mark.slow
def test_register_log_in_and_see_the_profile(
    live_server: str, browser_page: Any, shot: Any
) -> None:
    page = browser_page
    page.goto(live_server + "/")
    shot(page, "home")
    # The skip link is the first thing a keyboard reaches.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.get_by_role("link", name="Create an account").first.click()
    page.get_by_label("Full name").fill("Bea Browser")
    page.get_by_label("E-mail address").fill("bea@example")  # a mistake
    page.get_by_label("Organisation").fill("University of Example")
    page.get_by_label("Role you need").select_option("researcher")
    page.get_by_label("Research interests").fill("Care leavers' education")
    page.get_by_label("Password", exact=True).fill("bright meadow 42 river")
    page.get_by_label("Confirm the password").fill("bright meadow 42 river")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    # The summary takes the focus, so a screen reader reads it out first.
    assert page.evaluate("document.activeElement.className") == "error-summary"
    shot(page, "register-error")
    email = page.get_by_label("E-mail address")
    assert email.get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Organisation").input_value() == "University of Example"
    page.get_by_role("link", name="Enter an e-mail address in the correct format").click()
    assert page.evaluate("document.activeElement.id") == "email"
    email.fill("bea@example.org")
    page.get_by_label("Password", exact=True).fill("bright meadow 42 river")
    page.get_by_label("Confirm the password").fill("bright meadow 42 river")
    page.get_by_role("button", name="Create the account").click()
    page.wait_for_url(live_server + "/profile")
    expect(page.get_by_text("Your account has been created.")).to_be_visible()
    assert page.get_by_label("Research interests").input_value() == "Care leavers' education"
    shot(page, "profile")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login?out=1")
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    page.get_by_label("E-mail address").fill("bea@example.org")
    page.get_by_label("Password").fill("bright meadow 42 river")
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(live_server + "/")
    expect(page.get_by_text("Logged in as")).to_be_visible()
    page.get_by_role("link", name="Bea Browser").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    shot(page, "logged-in-again")
