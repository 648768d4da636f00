"""In a real browser (headless Debian chromium): the language switch on a public
page changes the page and the choice survives navigation; a browser set to Welsh
gets Welsh on its first visit. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect


@pytest.mark.slow
def test_switching_language_changes_the_page_and_survives_navigation(
    live_server: str, browser_page: Any, shot: Any
) -> None:
    page = browser_page  # an en-GB browser
    page.goto(live_server + "/courses")
    assert page.get_attribute("html", "lang") == "en"
    expect(page.get_by_role("heading", name="Courses", exact=True)).to_be_visible()
    switch = page.get_by_role("navigation", name="Language")
    switch.get_by_role("link", name="Cymraeg").click()
    page.wait_for_url(live_server + "/courses")  # back on the same page
    assert page.get_attribute("html", "lang") == "cy"
    expect(page.get_by_role("heading", name="Cyrsiau", exact=True)).to_be_visible()
    shot(page, "courses-cy")
    # Navigation keeps the choice: the main menu and the next page are Welsh.
    page.get_by_role("navigation", name="Prif ddewislen").get_by_role(
        "link", name="Ystadegau"
    ).click()
    page.wait_for_url(live_server + "/statistics")
    assert page.get_attribute("html", "lang") == "cy"
    expect(page.get_by_role("heading", name="Ystadegau cyhoeddedig")).to_be_visible()
    page.goto(live_server + "/login")
    expect(page.get_by_role("heading", name="Mewngofnodi")).to_be_visible()
    expect(page.get_by_label("Cyfeiriad e-bost")).to_be_visible()
    shot(page, "login-cy")
    # And back to English.
    page.get_by_role("navigation", name="Iaith").get_by_role("link", name="English").click()
    page.wait_for_url(live_server + "/login")
    assert page.get_attribute("html", "lang") == "en"
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


@pytest.mark.slow
def test_a_welsh_browser_gets_welsh_on_its_first_visit(
    live_server: str, _browser: Any, shot: Any
) -> None:
    context = _browser.new_context(viewport={"width": 1100, "height": 900}, locale="cy-GB")
    try:
        page = context.new_page()
        page.goto(live_server + "/")
        assert page.get_attribute("html", "lang") == "cy"
        expect(page.get_by_role("link", name="Creu cyfrif").first).to_be_visible()
        expect(page.get_by_text("Ar agor i bawb")).to_be_visible()
        shot(page, "home-cy-first-visit")
        # The reader can still choose English; the choice outweighs the browser's.
        page.get_by_role("link", name="English").click()
        page.wait_for_url(live_server + "/")
        page.goto(live_server + "/projects/public")
        assert page.get_attribute("html", "lang") == "en"
    finally:
        context.close()
