"""The web app in Cymraeg and English (issue 20): the catalogues are complete and
compiled, no template hard-codes text, the language comes from the reader's choice
or the browser, each request has its own, and a missing translation shows English.

The Accept-Language cases follow RFC 9110 §12.5.4 (weights, ``*``, ``q=0``)."""

from __future__ import annotations

import asyncio
import gettext
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from babel.messages.checkers import python_format
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po
from fastapi import FastAPI
from template_text import findings
from webclient import WebClient

from fivesafes.web import i18n
from fivesafes.web.templating import TEMPLATES, env

WEB = Path(i18n.__file__).parent
LOCALE = i18n.LOCALE_DIR

#: The public pages and the researcher's journey (issue 20, item 2): the Welsh
#: catalogue must translate nearly all of their messages.
LISTED = re.compile(
    r"templates/(base|home|accessibility|error|_forms)\.html"
    r"|templates/auth/(login|register)\.html"
    r"|templates/learning/(catalogue|course|_status|contents|lesson|dashboard|plan"
    r"|accreditations|verify|verify_form|resources|resource|datasets|dataset)\.html"
    r"|templates/projects/(register|index|show|apply|workspace|_details|_decisions"
    r"|plan_required|invitation)\.html"
    r"|templates/statistics/|templates/jobs/"
    r"|templates/airlock/(index|project|request|_report|_comments)\.html"
    r"|web/(forms|templating|app|labels)\.py"
)
WELSH_FLOOR = 0.90


def _catalogue(code: str):  # type: ignore[no-untyped-def]
    with (LOCALE / code / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=code)


def _extracted() -> set[str]:
    """What Babel extracts now from the code and the templates, with babel.cfg."""
    with (WEB / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options_map, keywords={**_keywords()}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _keywords() -> dict[str, object]:
    from babel.messages.extract import DEFAULT_KEYWORDS

    return dict(DEFAULT_KEYWORDS)


# --- the templates and the catalogues -------------------------------------------------


def test_no_template_hard_codes_text() -> None:
    found = [
        str(f)
        for name in sorted(env.list_templates())
        for f in findings(env, name, (TEMPLATES / name).read_text(encoding="utf-8"))
    ]
    assert not found, "text outside gettext:\n" + "\n".join(found)


def test_the_checker_finds_hard_coded_text() -> None:
    """The checker itself: text nodes, visible attributes and prose given to a macro
    or printed are found; wrapped text, values compared and class names are not."""
    source = (
        '{% import "_forms.html" as forms %}<p>Hello there</p>'
        '<a href="/" title="Go home">{{ _("Home") }}</a>'
        '{{ forms.button("Save it") }}{{ "Active" if x else _("Deactivated") }}'
        '<p class="tag tag-green">{{ _("Done") }}</p>{% if s == "Not yet" %}{% endif %}'
        "<code>fivesafes audit verify</code><p>fivesafes</p>"
        '<input type="submit" value="Send">'
    )
    texts = {f.text for f in findings(env, "t.html", source)}
    assert texts == {"Hello there", "title=Go home", "Save it", "Active", "value=Send"}


def test_every_extracted_message_is_in_the_template_and_the_catalogues() -> None:
    extracted = _extracted()
    with (LOCALE / "messages.pot").open("rb") as f:
        pot = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    missing = sorted(extracted - pot)
    assert not missing, f"run `make translations`: not in messages.pot: {missing[:10]}"
    for code in i18n.LANGUAGES:
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue(code) if m.id}
        assert not sorted(extracted - ids), f"run `make translations`: {code} lacks messages"


def test_the_compiled_catalogues_are_those_of_the_po_files() -> None:
    """The committed .mo files are the .po files compiled (else `make translations`)."""
    for code in i18n.LANGUAGES:
        folder = LOCALE / code / "LC_MESSAGES"
        with (folder / "messages.mo").open("rb") as f:
            committed = gettext.GNUTranslations(f)
        fresh = gettext.GNUTranslations(
            __import__("io").BytesIO(i18n.compile_po(folder / "messages.po"))
        )
        assert committed._catalog == fresh._catalog, f"{code}: the .mo is stale"  # type: ignore[attr-defined]


def test_translations_keep_the_placeholders() -> None:
    """Babel's own python-format checker: a translation has the msgid's %(name)s."""
    catalogue = _catalogue("cy")
    for message in catalogue:
        if message.id and message.string and message.python_format:
            python_format(catalogue, message)  # raises TranslationError


def test_share_of_messages_translated(capsys: pytest.CaptureFixture[str]) -> None:
    """Reports the share translated per catalogue; Welsh covers the listed pages."""
    lines = []
    listed_share = 0.0
    for code in i18n.LANGUAGES:
        catalogue = _catalogue(code)
        messages = [m for m in catalogue if m.id]
        done = [m for m in messages if _translated(m)]
        listed = [m for m in messages if any(LISTED.search(loc) for loc, _ in m.locations)]
        listed_done = [m for m in listed if _translated(m)]
        share = len(done) / len(messages)
        if code == i18n.DEFAULT:
            lines.append(f"{code}: the source language, {len(messages)} messages shown as written")
            continue
        lines.append(
            f"{code}: {len(done)}/{len(messages)} messages translated ({share:.0%}); "
            f"public pages and the researcher's journey {len(listed_done)}/{len(listed)}"
        )
        if code == "cy":
            listed_share = len(listed_done) / len(listed)
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert listed_share >= WELSH_FLOOR, lines


def _translated(message) -> bool:  # type: ignore[no-untyped-def]
    if message.fuzzy:
        return False
    if isinstance(message.string, tuple | list):
        return all(message.string)
    return bool(message.string)


# --- choosing the language ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("cy", "cy"),
        ("cy-GB,cy;q=0.9,en;q=0.8", "cy"),
        ("en-GB,en;q=0.9,cy;q=0.8", "en"),
        ("en;q=0.5,cy;q=0.9", "cy"),  # the weights, not the order
        ("fr-FR,fr;q=0.9", None),
        ("fr,*;q=0.1", "en"),
        ("cy;q=0,*", "en"),  # q=0: not acceptable
        ("en;q=0,cy;q=0", None),
        ("de, CY;q=0.5", "cy"),
        ("cy;q=abc,en;q=0.2", "en"),  # a bad weight counts as 0
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert i18n.negotiate(header) == expected


def test_the_cookie_wins_over_the_browser() -> None:
    assert i18n.choose("fivesafes_lang=en", "cy") == "en"
    assert i18n.choose("other=1; fivesafes_lang=cy", "en-GB") == "cy"
    assert i18n.choose("fivesafes_lang=fr", "cy") == "cy"  # not a language of ours
    assert i18n.choose('bad"cookie', None) == "en"


def test_the_page_says_its_language(client: WebClient) -> None:
    page = client.get("/", headers={"Accept-Language": "cy-GB,cy;q=0.9,en;q=0.5"})
    assert '<html lang="cy">' in page.text
    assert page.headers["content-language"] == "cy"
    assert "Accept-Language" in page.headers["vary"]
    english = client.get("/", headers={"Accept-Language": "en-GB"})
    assert '<html lang="en">' in english.text
    assert "Skip to main content" in english.text


def test_the_switch_remembers_the_choice_and_goes_back(client: WebClient) -> None:
    back = client.get("/language/cy?next=/courses%3Fx%3D1", follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/courses?x=1"
    assert "fivesafes_lang=cy" in back.headers["set-cookie"]
    page = client.get("/courses", headers={"Accept-Language": "en"})
    assert '<html lang="cy">' in page.text
    assert "Cyrsiau" in page.text
    client.get("/language/en?next=/")
    assert '<html lang="en">' in client.get("/courses").text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil", "x"])
def test_the_switch_never_leaves_the_site(client: WebClient, target: str) -> None:
    back = client.get("/language/cy", params={"next": target}, follow_redirects=False)
    assert back.headers["location"] == "/"


def test_an_unknown_language_is_not_found(client: WebClient) -> None:
    assert client.get("/language/fr").status_code == 404


def test_form_errors_are_in_the_readers_language(client: WebClient) -> None:
    client.get("/language/cy")
    token = client.csrf_token("/login")
    page = client.post("/login", data={"csrf_token": token, "email": "", "password": ""})
    assert "Mae problem" in page.text  # the error summary's title


def test_concurrent_requests_each_get_their_own_language(app: FastAPI) -> None:
    """Many requests in flight at once, half Welsh and half English: each page is in
    the language its request asked for (no state shared between requests)."""

    async def run() -> list[tuple[str, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:

            async def one(code: str) -> tuple[str, str]:
                page = await c.get("/courses", headers={"Accept-Language": code})
                return code, page.text

            return await asyncio.gather(*(one("cy" if i % 2 else "en") for i in range(40)))

    # In a thread of its own: another test's browser may hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        pages = pool.submit(asyncio.run, run()).result()
    for code, html in pages:
        assert f'<html lang="{code}">' in html
        assert ("Cyrsiau" in html) == (code == "cy")
        assert ("Skip to main content" in html) == (code == "en")


# --- a message without a translation ----------------------------------------------------


@pytest.fixture
def trimmed_welsh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A copy of the catalogues whose Welsh lacks one translation (the skip link's);
    yields that message."""
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE, copy)
    folder = copy / "cy" / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as f:
        catalogue = read_po(f, locale="cy")
    message = "Skip to main content"
    assert catalogue[message].string, "the Welsh catalogue should translate it"
    catalogue[message].string = ""
    with (folder / "messages.po").open("wb") as f:
        write_po(f, catalogue)
    (folder / "messages.mo").unlink()  # compiled from the .po when loaded
    monkeypatch.setattr(i18n, "LOCALE_DIR", copy)
    i18n.translations.cache_clear()
    yield message
    i18n.translations.cache_clear()


def test_a_missing_translation_shows_in_english(client: WebClient, trimmed_welsh: str) -> None:
    page = client.get("/", headers={"Accept-Language": "cy"})
    assert page.status_code == 200
    assert '<html lang="cy">' in page.text
    assert f">{trimmed_welsh}</a>" in page.text  # English, not empty
    assert "Cyrsiau" in page.text  # the rest still Welsh
