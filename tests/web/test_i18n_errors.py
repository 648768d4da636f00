"""The web app's refusals, "not found" pages and form errors in the reader's
language (issue 20): a Welsh reader (cookie or ``Accept-Language: cy``) gets them in
Welsh, an English one in English. A refusal the library gives (a
:class:`~fivesafes.errors.PolicyRefusal`) keeps the library's English sentence, marked
``lang="en"``, inside a page whose heading and explanation are translated.

And a translation whose placeholders differ from its English fails the catalogue
test, and would show the English (never a broken page) if it were shipped."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po, write_po
from fastapi import APIRouter, FastAPI
from webclient import WebClient

from fivesafes.web import i18n
from fivesafes.web.deps import Forbidden

LOCALE = i18n.LOCALE_DIR
APPROVED = 1  # the seeded approved project: researcher leads it, researcher2 a member
WELSH = {"Accept-Language": "cy"}
ENGLISH = {"Accept-Language": "en-GB"}


def _text(page: Any) -> str:
    """The page's HTML with the entities (``&#39;``) read, to match sentences."""
    return html.unescape(page.text)


def _welsh(client: WebClient) -> WebClient:
    """The reader chose Cymraeg in the switch (the cookie)."""
    client.get("/language/cy")
    return client


# --- a refusal (403) ---------------------------------------------------------------


def _invite_as_member(client: WebClient) -> Any:
    """researcher2, a member but not a lead, tries to invite someone: the library
    refuses (``PolicyRefusal``: "... is not a lead researcher of project 1")."""
    return client.post_form(
        f"/projects/{APPROVED}/members",
        {"who": "trainer", "role": "researcher"},
        token_from=f"/projects/{APPROVED}",
    )


def test_a_refusal_by_the_rules_is_in_welsh_around_the_librarys_reason(
    client: WebClient,
) -> None:
    member = _welsh(client).login_as("researcher2")
    page = _invite_as_member(member)
    assert page.status_code == 403
    text = _text(page)
    assert '<html lang="cy">' in text
    assert "<h1>Ni allwch wneud hynny</h1>" in text
    assert "Nid yw rheolau'r gwasanaeth yn caniatáu hyn, felly ni wnaed dim." in text
    assert "Y rheswm a rydd y gwasanaeth:" in text
    assert "sydd wedi'u hysgrifennu yn Saesneg yn unig" in text
    # the library's own sentence, as written, marked as English for screen readers
    reason = re.search(r'<p class="lead" lang="en">([^<]*)</p>', text)
    assert reason is not None, text
    assert f"is not a lead researcher of project {APPROVED}" in reason.group(1)
    assert "You cannot do that" not in text
    assert "The reason the service gives" not in text


def test_the_same_refusal_in_english(client: WebClient) -> None:
    page = _invite_as_member(client.login_as("researcher2"))
    assert page.status_code == 403
    text = _text(page)
    assert '<html lang="en">' in text
    assert "<h1>You cannot do that</h1>" in text
    assert "The service's rules do not allow this, so nothing was done." in text
    assert "The reason the service gives:" in text
    assert f"is not a lead researcher of project {APPROVED}" in text
    assert 'lang="en">' not in text.split("<main", 1)[1]  # the whole page is English
    assert "written in English only" not in text
    assert "Ni allwch wneud hynny" not in text


def test_a_role_refusal_is_in_welsh_with_the_roles_name_in_welsh(client: WebClient) -> None:
    client.login_as("researcher")
    welsh = client.get("/admin", headers=WELSH)
    assert welsh.status_code == 403
    text = _text(welsh)
    assert "Mae'r dudalen hon ar gyfer defnyddwyr sydd â'r rôl gweinyddwr." in text
    english = client.get("/admin", headers=ENGLISH)
    assert "This page is for users with the role administrator." in _text(english)


def test_a_json_refusal_keeps_the_librarys_reason(app: FastAPI, client: WebClient) -> None:
    """A JSON route's refusal answers with the library's reason itself."""
    router = APIRouter()

    @router.get("/test-refused.json")
    def refused_json() -> None:
        raise Forbidden(reason="the rules say no")

    app.include_router(router)
    client.login_as("researcher")
    for headers in (WELSH, ENGLISH):
        refused = client.get("/test-refused.json", headers=headers)
        assert refused.status_code == 403
        assert refused.json() == {"detail": "the rules say no"}


def test_the_learning_plan_refusal_names_the_step_in_welsh(
    seeded_db: str, client: WebClient
) -> None:
    """A new member who has not passed their courses: the workspace and a release
    request are refused with one whole Welsh sentence per step (no English verb
    spliced into it)."""
    from joining import join

    from fivesafes.appdb import add_user, session_factory
    from fivesafes.web.security import hash_password

    with session_factory(seeded_db)() as db:
        newcomer = add_user(db, "newcomer", "researcher")
        newcomer.email = "newcomer@example.org"
        newcomer.password_hash = hash_password("newcomer-pass-2026")
        db.commit()
        join(db, APPROVED, "newcomer")
    _welsh(client).login("newcomer@example.org", "newcomer-pass-2026")
    workspace = client.get(f"/projects/{APPROVED}/workspace")
    assert workspace.status_code == 403
    assert "Cyn y gallwch ddefnyddio gofod gwaith" in _text(workspace)
    started = client.post_form(
        f"/projects/{APPROVED}/airlock",
        {"title": "Rhy gynnar"},
        token_from=f"/projects/{APPROVED}/airlock",
    )
    assert started.status_code == 403
    text = _text(started)
    assert "Cyn y gallwch ddechrau cais i ryddhau yn" in text
    assert "request a release" not in text and "use the workspace" not in text
    client.get("/language/en")
    english = client.get(f"/projects/{APPROVED}/workspace")
    assert english.status_code == 403
    assert "Before you can use the workspace of" in _text(english)


# --- a form error on the researcher's journey ---------------------------------------


def _bad_profile(client: WebClient, headers: dict[str, str] | None = None) -> Any:
    email = client.users["researcher"]["email"]
    return client.post_form(
        "/profile",
        {"display_name": "", "email": email, "organisation": "x" * 201},
        headers=headers,
    )


def test_a_profile_form_error_is_in_welsh(client: WebClient) -> None:
    _welsh(client).login_as("researcher")
    page = _bad_profile(client)
    assert page.status_code == 422
    text = _text(page)
    assert "Rhowch eich enw llawn" in text
    assert "Rhaid i'ch sefydliad fod yn 200 nod neu lai" in text
    assert "Enter your full name" not in text
    assert "must be 200 characters or fewer" not in text


def test_the_same_form_errors_in_english(client: WebClient) -> None:
    client.login_as("researcher")
    page = _bad_profile(client)
    assert page.status_code == 422
    text = _text(page)
    assert "Enter your full name" in text
    assert "Your organisation must be 200 characters or fewer" in text
    assert "Rhowch eich enw llawn" not in text


def test_the_form_error_follows_the_browser_when_no_language_was_chosen(
    client: WebClient,
) -> None:
    client.login_as("researcher")
    page = _bad_profile(client, headers={"Accept-Language": "cy-GB,cy;q=0.9,en;q=0.5"})
    assert page.status_code == 422
    assert "Rhowch eich enw llawn" in _text(page)


# --- not found (404) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "welsh", "english"),
    [
        (
            "/courses/no-such-course",
            "Nid oes cwrs yn y cyfeiriad hwn.",
            "There is no course at this address.",
        ),
        (
            "/workgroups/no-such-workgroup",
            "Nid oes gweithgor yn y cyfeiriad hwn.",
            "There is no workgroup at this address.",
        ),
        (
            "/no/such/page",
            "Gwiriwch y cyfeiriad",
            "Check the address; the page may have moved.",
        ),
    ],
)
def test_not_found_is_in_the_readers_language(
    client: WebClient, path: str, welsh: str, english: str
) -> None:
    cy = client.get(path, headers=WELSH)
    assert cy.status_code == 404
    text = _text(cy)
    assert "Heb ddod o hyd i'r dudalen" in text  # the title
    assert welsh in text
    assert english not in text
    en = client.get(path, headers=ENGLISH)
    assert en.status_code == 404
    assert "Page not found" in _text(en) and english in _text(en)
    assert welsh not in _text(en)


def test_a_project_not_found_on_the_journey_is_in_welsh(client: WebClient) -> None:
    _welsh(client).login_as("researcher")
    page = client.get("/projects/999999/workspace")
    assert page.status_code == 404
    assert "Nid oes prosiect o'r fath." in _text(page)


# --- placeholders ---------------------------------------------------------------------


def _catalogue(folder: Path = LOCALE) -> Any:
    with (folder / "cy" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale="cy")


def _placeholder_mistakes(catalogue: Any) -> list[str]:
    """Each translation whose ``%(name)s`` / ``{name}`` placeholders are not those
    of its English (a plural form may leave out ``%(num)s``, as "un" says it)."""
    found = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        if isinstance(message.id, tuple | list):
            allowed = i18n.placeholders(message.id[0]) | i18n.placeholders(message.id[1])
            for form in message.string:
                if not i18n.placeholders(form) <= allowed or not allowed - {"num"} <= (
                    i18n.placeholders(form)
                ):
                    found.append(f"{message.id[0]!r} -> {form!r}")
        elif i18n.placeholders(message.string) != i18n.placeholders(message.id):
            found.append(f"{message.id!r} -> {message.string!r}")
    return found


def test_every_welsh_translation_keeps_the_placeholders_of_its_english() -> None:
    mistakes = _placeholder_mistakes(_catalogue())
    assert not mistakes, "placeholders differ:\n" + "\n".join(mistakes)


def test_the_placeholder_check_finds_a_mistake() -> None:
    catalogue = _catalogue()
    catalogue["Welcome back, %(user_label)s."].string = "Croeso'n ôl, %(enw)s."
    catalogue["Your decision on %(output)s is recorded."].string = "Cofnodwyd."
    assert sorted(_placeholder_mistakes(catalogue)) == [
        "'Welcome back, %(user_label)s.' -> \"Croeso'n ôl, %(enw)s.\"",
        "'Your decision on %(output)s is recorded.' -> 'Cofnodwyd.'",
    ]


@pytest.fixture
def broken_welsh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, str]], None]]:
    """Installs a copy of the catalogues with the given (broken) Welsh translations."""

    def install(broken: dict[str, str]) -> None:
        copy = tmp_path / "locale"
        shutil.copytree(LOCALE, copy)
        catalogue = _catalogue(copy)
        for english, welsh in broken.items():
            assert catalogue[english].string, english
            catalogue[english].string = welsh
        with (copy / "cy" / "LC_MESSAGES" / "messages.po").open("wb") as f:
            write_po(f, catalogue)
        (copy / "cy" / "LC_MESSAGES" / "messages.mo").unlink()  # compiled when loaded
        monkeypatch.setattr(i18n, "LOCALE_DIR", copy)
        i18n.translations.cache_clear()

    yield install
    i18n.translations.cache_clear()


@pytest.mark.parametrize(
    "mistake",
    [
        "Croeso'n ôl, %(enw)s.",  # a placeholder the English does not give
        "Croeso'n ôl, %(user_label)s, 100%.",  # a bare % in a template's message
        "Croeso'n ôl, %(user_label).",  # a placeholder without its type
    ],
)
def test_a_template_message_with_a_placeholder_mistake_shows_english(
    client: WebClient, broken_welsh: Callable[[dict[str, str]], None], mistake: str
) -> None:
    broken_welsh({"Welcome back, %(user_label)s.": mistake})
    client.login_as("researcher")
    page = client.get("/", headers=WELSH)
    assert page.status_code == 200
    text = _text(page)
    assert "Welcome back, " in text  # the English, filled in
    assert "Croeso'n ôl" not in text
    assert "Neidio i'r prif gynnwys" in text  # the rest of the page still Welsh


def test_a_python_message_with_a_placeholder_mistake_shows_english(
    client: WebClient, broken_welsh: Callable[[dict[str, str]], None]
) -> None:
    broken_welsh({"This page is for users with the role %(name)s.": "Ar gyfer %(rol)s yn unig."})
    client.login_as("researcher")
    page = client.get("/admin", headers=WELSH)
    assert page.status_code == 403  # not 500
    text = _text(page)
    assert "This page is for users with the role gweinyddwr." in text
    assert "Ar gyfer" not in text


def test_the_loader_reports_what_it_left_out(
    broken_welsh: Callable[[dict[str, str]], None], caplog: pytest.LogCaptureFixture
) -> None:
    broken_welsh({"Welcome back, %(user_label)s.": "Croeso'n ôl, %(enw)s."})
    with caplog.at_level("WARNING", logger="fivesafes.web.i18n"):
        translations = i18n.translations("cy")
    assert translations.gettext("Welcome back, %(user_label)s.") == "Welcome back, %(user_label)s."
    assert translations.gettext("Skip to main content") == "Neidio i'r prif gynnwys"
    assert "Welcome back, %(user_label)s." in caplog.text


def test_every_message_the_python_code_marks_is_in_the_catalogue() -> None:
    """Each string literal given to ``_()``, ``N_()`` or ``ngettext()`` in the web
    app's Python is in ``messages.pot``: Babel silently skips some shapes (a message
    in parentheses, ``_(("..."), name=...)``), which then show in English."""
    import ast

    with (LOCALE / "messages.pot").open("rb") as f:
        pot = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    web = Path(i18n.__file__).parent
    missing = []
    for path in sorted(web.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in ("_", "N_", "ngettext") or not node.args:
                continue
            first = node.args[0]
            text = first.value if isinstance(first, ast.Constant) else None
            if isinstance(text, str) and text not in pot:
                missing.append(f"{path.relative_to(web)}:{node.lineno} {text!r}")
    assert not missing, "not extracted (unwrap the parentheses?):\n" + "\n".join(missing)
