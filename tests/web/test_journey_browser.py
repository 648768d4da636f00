"""The whole journey of issue 7 in a real browser (headless Debian chromium), as
its users do it, through the pages only and with keyboard-accessible selectors
(labels and roles, so every step also checks that its controls are named):

a new researcher registers and logs in, completes the safe researcher induction
and the justice data course, downloads a statement of participation and a
visitor checks its code; the researcher applies for a project asking for the
justice data, the approval panel and the dataset's owner approve it; the
researcher (whose learning plan is now complete) asks to release a table with
small cells, one output checker's approval is not enough for it, a second one
releases it, the researcher downloads the bundle, and the project and its
release appear in the public register (HTML and JSON).

The site is the seeded demo site (``fivesafes web seed-demo``) served by uvicorn
on loopback. Each step's screenshot is saved as
test-artifacts/screenshots/journey-NN-<step>.png.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from fivesafes.projects.release import BUNDLES_ENV

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

#: The right option of each quiz question (src/fivesafes/people/content/courses).
INDUCTION_ANSWERS = [
    "Safe passwords",
    "It is suppressed because it is below the minimum cell count of 10",
    "Only the trusted third party that links the records",
    "From the row and column totals, or from another released table (differencing)",
    "Submit a release request in the airlock and describe the output",
]
JUSTICE_ANSWERS = [
    "One proven offence (a caution or a conviction) with its disposal",
    "observed and recorded by an officer, so it can differ from self-reported ethnicity",
    "Only after disclosure checks; small counts by court can identify people",
]

NEW_USER = {
    "name": "Jo Journey",
    "email": "jo.journey@example.ac.uk",
    "password": "quiet harbour 17 lantern",
}
PROJECT_TITLE = "Care leavers' first convictions and the support they received"
REQUEST_TITLE = "Convictions of care leavers by region"
OUTPUT = "convictions_by_region.csv"
#: Counts by region and sex: three cells below the minimum of 10, so the rules
#: flag the table and two output checkers must approve it.
SMALL_CELLS = (
    "region,sex,persons\nNorth,F,132\nNorth,M,257\nSouth,F,4\nSouth,M,61\nEast,F,7\nEast,M,3\n"
)


class Journey:
    """The browser page, the site's address and the numbered screenshots."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.step = 0

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str, page: Any = None) -> None:
        self.step += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = page or self.page
        target.screenshot(
            path=str(SCREENSHOTS / f"journey-{self.step:02d}-{name}.png"), full_page=True
        )

    def see_heading(self, name: str | re.Pattern[str], level: int | None = None) -> None:
        """Wait (Playwright's default timeout) for the heading to show."""
        expect(self.page.get_by_role("heading", name=name, level=level).first).to_be_visible()

    def log_in(self, email: str, password: str) -> None:
        """Log out whoever is logged in (the button in the header), then log in."""
        logout = self.page.get_by_role("button", name="Log out")
        if logout.count():
            logout.click()
            self.page.wait_for_url("**/login?out=1")
        else:
            self.goto("/login")
        self.page.get_by_label("E-mail address").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_load_state()
        expect(self.page.get_by_text("Logged in as")).to_be_visible()

    def take_course(self, slug: str, title: str, answers: list[str], name: str) -> None:
        """Enrol from the public catalogue, read each lesson, pass the quiz."""
        page = self.page
        self.goto("/courses")
        page.get_by_role("link", name=title, exact=True).first.click()
        self.see_heading(title, level=1)
        page.get_by_role("button", name="Enrol on this course").click()
        page.wait_for_url(f"{self.base}/learning/courses/{slug}")
        page.get_by_role("link", name=re.compile(r"^Start: ")).click()
        while page.get_by_role("button", name=re.compile(r"^Mark as done")).count():
            with page.expect_navigation():
                page.get_by_role("button", name=re.compile(r"^Mark as done")).click()
        for answer in answers:
            page.get_by_label(answer, exact=True).check()
        self.shot(f"{name}-quiz")
        page.get_by_role("button", name="Submit your answers").click()
        passed = f"You passed: {len(answers)} of {len(answers)}"
        self.see_heading(re.compile(passed))
        page.get_by_role("link", name="Get your statement of participation").click()
        self.see_heading("You have completed this course")
        self.shot(f"{name}-completed")


def test_the_whole_journey_from_registration_to_the_public_register(
    live_server: str,
    browser_page: Any,
    demo_users: dict[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BUNDLES_ENV, str(tmp_path / "bundles"))
    j = Journey(browser_page, live_server)
    page = j.page

    # --- a new researcher registers, then logs in -----------------------------------
    j.goto("/")
    page.get_by_role("link", name="Create an account").first.click()
    page.get_by_label("Full name").fill(NEW_USER["name"])
    page.get_by_label("E-mail address").fill(NEW_USER["email"])
    page.get_by_label("Organisation").fill("University of Westmarch")
    page.get_by_label("Role you need").select_option("researcher")
    page.get_by_label("Research interests").fill("Young people leaving care and the courts")
    page.get_by_label("Password", exact=True).fill(NEW_USER["password"])
    page.get_by_label("Confirm the password").fill(NEW_USER["password"])
    j.shot("register")
    page.get_by_role("button", name="Create the account").click()
    page.wait_for_url(live_server + "/profile")
    expect(page.get_by_text("Your account has been created.")).to_be_visible()
    j.shot("registered")
    j.log_in(NEW_USER["email"], NEW_USER["password"])
    j.shot("logged-in")

    # --- the induction and a dataset course, with a statement of participation -------
    j.take_course(
        "safe-researcher-induction", "Safe researcher induction", INDUCTION_ANSWERS, "induction"
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download your statement (PDF)").click()
    pdf = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename.endswith(".pdf")
    assert pdf.startswith(b"%PDF-")
    code = page.locator("main code").first.inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4}-){3}[A-Z2-7]{4}", code)
    j.take_course("justice-data", "Working with justice data", JUSTICE_ANSWERS, "justice-course")

    # a visitor (another browser, not logged in) checks the statement's code
    visitor = page.context.browser.new_context(locale="en-GB").new_page()
    visitor.goto(f"{live_server}/verify/{code}")
    expect(
        visitor.get_by_role("heading", name="This statement of participation is valid")
    ).to_be_visible()
    expect(visitor.get_by_text(NEW_USER["name"]).first).to_be_visible()
    expect(visitor.get_by_text("Safe researcher induction").first).to_be_visible()
    j.shot("statement-verified", visitor)
    visitor.context.close()

    # --- the researcher applies for a project asking for the justice data ------------
    j.goto("/projects")
    page.get_by_role("link", name="Apply for a new project").click()
    page.get_by_label("Title").fill(PROJECT_TITLE)
    page.get_by_label("Lay summary").fill(
        "Whether young people who leave care are convicted sooner than their peers, "
        "and how that changes with the support they had."
    )
    page.get_by_label("Public benefit").fill("Better support for care leavers.")
    page.get_by_label(re.compile(r"\(justice_offences\)")).check()
    j.shot("application")
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    project_id = int(page.url.rsplit("/", 1)[1])
    page.get_by_role("button", name="Submit the application").click()
    expect(page.get_by_text("Submitted: the approval panel")).to_be_visible()
    j.shot("application-submitted")

    # --- the approval panel and the dataset's owner approve ---------------------------
    for key, deciding in (("panel_member", "panel:"), ("data_owner", "owner:justice_offences")):
        j.log_in(demo_users[key]["email"], demo_users[key]["password"])
        j.goto("/projects")
        page.get_by_role("link", name=PROJECT_TITLE).first.click()
        page.wait_for_url(f"{live_server}/projects/{project_id}/review")
        page.get_by_label("Deciding").select_option(deciding)
        page.get_by_label("Decision", exact=True).select_option("approve")
        page.get_by_label("Comment").fill("Approved: proportionate and of clear benefit.")
        j.shot(f"{key.replace('_', '-')}-decides")
        page.get_by_role("button", name="Record the decision").click()
        expect(page.get_by_text("Your decision is recorded")).to_be_visible()
    expect(page.get_by_text("The application is approved")).to_be_visible()
    j.shot("approved")

    # --- the researcher asks to release a table with small cells ----------------------
    j.log_in(NEW_USER["email"], NEW_USER["password"])
    j.goto(f"/learning/plan?project={project_id}")
    j.shot("learning-plan-complete")
    j.goto(f"/projects/{project_id}")
    page.get_by_role("link", name="Release requests (the airlock)").click()
    page.get_by_label("Title").fill(REQUEST_TITLE)
    page.get_by_role("button", name="Start the request").click()
    page.wait_for_url(re.compile(rf"/projects/{project_id}/airlock/\d+$"))
    request_id = int(page.url.rsplit("/", 1)[1])
    page.get_by_label(re.compile(r"^(The file|Or upload a file)$")).set_input_files(
        files=[{"name": OUTPUT, "mimeType": "text/csv", "buffer": SMALL_CELLS.encode()}]
    )
    page.get_by_label("Description", exact=True).fill(
        "Care leavers convicted by age 21, by region and sex, 2015-2020."
    )
    page.get_by_label("Count or amount column").fill("persons")
    page.get_by_role("button", name="Add the output").click()
    expect(page.get_by_role("heading", name=OUTPUT)).to_be_visible()
    expect(page.get_by_text("Cells suppressed by the rules")).to_be_visible()
    j.shot("request-with-flagged-output")
    page.get_by_role("button", name="Submit the request").click()
    expect(page.get_by_text("Submitted: the rules checked every output")).to_be_visible()
    j.shot("request-submitted")

    # --- one checker is not enough for a flagged output ------------------------------
    decide = f"Record the decision on {OUTPUT}"
    j.log_in(demo_users["output_checker"]["email"], demo_users["output_checker"]["password"])
    j.goto("/airlock")
    page.get_by_role("link", name=REQUEST_TITLE).first.click()
    page.wait_for_url(f"{live_server}/airlock/requests/{request_id}")
    expect(page.get_by_text("fewer than the threshold of 10").first).to_be_visible()
    j.shot("checker-sees-cells")
    page.get_by_role("radio", name="Approve", exact=True).check()
    page.get_by_role("button", name=decide).click()
    expect(page.get_by_role("status")).to_have_text(f"Your decision on {OUTPUT} is recorded.")
    approvals = page.get_by_role("definition").filter(has_text="1 of 2")
    expect(approvals).to_have_text(
        "1 of 2 (output_checker); a second output checker must approve it"
    )
    expect(page.get_by_text("In review", exact=True)).to_be_visible()
    j.shot("one-checker-is-not-enough")
    # approving again does not make two: the server refuses it
    page.get_by_role("radio", name="Approve", exact=True).check()
    page.get_by_role("button", name=decide).click()
    expect(page.get_by_text("a checker counts once per output")).to_be_visible()
    j.shot("same-checker-again-refused")

    # --- a second checker approves: released ------------------------------------------
    j.log_in(demo_users["output_checker2"]["email"], demo_users["output_checker2"]["password"])
    j.goto(f"/airlock/requests/{request_id}")
    page.get_by_role("radio", name="Approve", exact=True).check()
    page.get_by_role("button", name=decide).click()
    expect(page.get_by_text("the request is released")).to_be_visible()
    expect(page.locator("main")).to_contain_text("2 of 2")
    j.shot("second-checker-releases")

    # --- the researcher downloads the bundle ------------------------------------------
    j.log_in(NEW_USER["email"], NEW_USER["password"])
    j.goto(f"/projects/{project_id}/airlock/{request_id}")
    j.shot("released-request")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the bundle (zip)").click()
    bundle = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    names = bundle.namelist()
    assert any(n.endswith("/manifest.json") for n in names), names
    assert f"request-{request_id}/outputs/{OUTPUT}" in names
    released = bundle.read(f"request-{request_id}/outputs/{OUTPUT}").decode()
    assert "South,F,4" not in released and "East,M,3" not in released

    # --- the project and its release are on the public register -----------------------
    page.context.clear_cookies()
    j.goto("/projects/public")
    register = page.get_by_role("region", name=PROJECT_TITLE)
    expect(register.get_by_role("cell", name=OUTPUT)).to_be_visible()
    register.scroll_into_view_if_needed()
    j.shot("public-register")
    response = page.request.get(live_server + "/projects/public.json")
    assert response.ok
    listed = {p["title"]: p for p in json.loads(response.text())["projects"]}
    assert PROJECT_TITLE in listed
    entry = listed[PROJECT_TITLE]
    assert [d["name"] for d in entry["datasets"]] == ["justice_offences"]
    assert OUTPUT in [o["name"] for o in entry["released_outputs"]]
