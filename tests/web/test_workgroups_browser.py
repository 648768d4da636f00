"""A workgroup session fills up, in a real browser (headless Debian chromium): the
trainer adds a one-place live online session to "Courts & Justice"; two
researchers join the workgroup and open the session's page while the place is
free; the first to enrol takes it (and is given the link), the second's click is
refused with a message and the session shows as full. Screenshots of each step go
to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

TITLE = "Questions and answers with the Data First team"
PAGE = "/workgroups/courts-justice"


def _log_in(page: Any, base: str, user: dict[str, Any], next_path: str) -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.get_by_label("E-mail address").fill(user["email"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(base + next_path)


def _session_card(page: Any) -> Any:
    return page.locator("section.session", has=page.get_by_role("heading", name=TITLE))


@pytest.mark.slow
def test_a_session_fills_to_capacity_and_refuses_the_next_enrolment(
    live_server: str, browser_page: Any, shot: Any, demo_users: dict[str, Any]
) -> None:
    trainer = browser_page
    manage = "/learning/manage/workgroups/courts-justice"
    _log_in(trainer, live_server, demo_users["trainer"], manage)
    trainer.get_by_role("link", name="Add a session").click()
    trainer.get_by_label("Title").fill(TITLE)
    trainer.get_by_label("Starts at").fill("2099-06-01T14:00")
    trainer.get_by_label("Duration in minutes").fill("60")
    trainer.get_by_label("Format").select_option("live_online")
    trainer.get_by_label("Link to join").fill("https://zoom.example.org/j/data-first-qa")
    trainer.get_by_label("Places").fill("1")
    shot(trainer, "trainer-adds-a-session")
    trainer.get_by_role("button", name="Save the session").click()
    expect(trainer.get_by_text(f"The session {TITLE} was added.")).to_be_visible()
    shot(trainer, "trainer-manages")

    browser = trainer.context.browser
    pages = []
    for key in ("researcher2", "output_checker"):
        page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
        page.set_default_timeout(10_000)
        _log_in(page, live_server, demo_users[key], PAGE)
        page.get_by_role("button", name="Join this workgroup").click()
        expect(page.get_by_text("You are a member of Courts & Justice")).to_be_visible()
        card = _session_card(page)
        expect(card.get_by_text("1 of 1 left")).to_be_visible()
        expect(card.get_by_text("zoom.example.org")).to_have_count(0)
        pages.append(page)
    late, early = pages
    shot(late, "member-sees-one-place-left")

    # the second member to open the page is the first to enrol
    _session_card(early).get_by_role("button", name=re.compile("Enrol on this session")).click()
    expect(early.get_by_text(f"You are enrolled on {TITLE}.")).to_be_visible()
    card = _session_card(early)
    expect(
        card.get_by_role("link", name="https://zoom.example.org/j/data-first-qa")
    ).to_be_visible()
    expect(card.get_by_text("0 of 1 left")).to_be_visible()
    shot(early, "first-member-enrolled-with-the-link")

    # the other clicks the button on the page they opened while the place was free
    _session_card(late).get_by_role("button", name=re.compile("Enrol on this session")).click()
    expect(
        late.get_by_text(f"You could not enrol: {TITLE} is full: every place is taken.")
    ).to_be_visible()
    card = _session_card(late)
    expect(card.get_by_text("Full: every place is taken")).to_be_visible()
    expect(card.get_by_text("You cannot enrol now: every place is taken.")).to_be_visible()
    expect(card.get_by_role("button", name=re.compile("Enrol on this session"))).to_have_count(0)
    expect(late.get_by_text("zoom.example.org/j/data-first-qa")).to_have_count(0)
    shot(late, "next-member-refused")

    # the public list says so too
    trainer.goto(live_server + "/workgroups")
    row = trainer.get_by_role("row", name=re.compile(TITLE))
    expect(row.get_by_text("Full: every place is taken")).to_be_visible()
    shot(trainer, "public-list")
    for page in pages:
        page.context.close()
