"""The web app in Cymraeg and English (issue 20): the catalogues are complete and
compiled, no template hard-codes text, the language comes from the reader's choice
or the browser, each request has its own, and a missing translation shows English.

The Accept-Language cases follow RFC 9110 §12.5.4 (weights, ``*``, ``q=0``)."""

from __future__ import annotations

import ast
import asyncio
import gettext
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

#: The pages of the web app in three groups (issue 20, item 2), by the templates and
#: the modules whose messages they show. Every message of the public pages and of the
#: researcher's journey must have Welsh; the management pages' share is reported. A
#: module that serves pages of two groups (``routes/learning.py`` serves the catalogue
#: and the trainer's pages) is listed in the first, so all its messages need Welsh.
#: Every template and module with a message belongs to a group (checked below).
PUBLIC = (
    "templates/base.html",
    "templates/home.html",
    "templates/accessibility.html",
    "templates/error.html",
    "templates/_forms.html",
    "templates/auth/login.html",
    "templates/auth/register.html",
    "templates/auth/password_reset.html",
    "templates/auth/password_reset_help.html",
    "templates/auth/password_reset_invalid.html",
    "templates/learning/catalogue.html",
    "templates/learning/course.html",
    "templates/learning/_status.html",
    "templates/learning/contents.html",
    "templates/learning/lesson.html",
    "templates/learning/verify.html",
    "templates/learning/verify_form.html",
    "templates/learning/resources.html",
    "templates/learning/resource.html",
    "templates/learning/datasets.html",
    "templates/learning/dataset.html",
    "templates/projects/register.html",
    "templates/statistics/index.html",
    "templates/statistics/indicators.html",
    "templates/statistics/table.html",
    "templates/workgroups/list.html",
    "templates/workgroups/workgroup.html",
    "templates/workgroups/_macros.html",
    "app.py",
    "deps.py",
    "forms.py",
    "labels.py",
    "security.py",
    "sessions.py",
    "templating.py",
    "routes/core.py",
    "routes/auth.py",
    "routes/statistics.py",
    "routes/workgroups.py",
    "routes/_common.py",
)
RESEARCHER = (
    "templates/learning/dashboard.html",
    "templates/learning/plan.html",
    "templates/learning/accreditations.html",
    "templates/projects/index.html",
    "templates/projects/show.html",
    "templates/projects/apply.html",
    "templates/projects/workspace.html",
    "templates/projects/_details.html",
    "templates/projects/_decisions.html",
    "templates/projects/plan_required.html",
    "templates/projects/invitation.html",
    "templates/jobs/index.html",
    "templates/jobs/job.html",
    "templates/airlock/index.html",
    "templates/airlock/project.html",
    "templates/airlock/request.html",
    "templates/airlock/_report.html",
    "templates/airlock/_comments.html",
    "templates/account/profile.html",
    "routes/learning.py",
    "routes/projects.py",
    "routes/jobs.py",
    "routes/airlock.py",
    "routes/account.py",
)
MANAGEMENT = (
    "templates/admin/audit.html",
    "templates/admin/index.html",
    "templates/admin/new_user.html",
    "templates/admin/user.html",
    "templates/admin/users.html",
    "templates/airlock/review.html",
    "templates/projects/review.html",
    "templates/projects/owners.html",
    "templates/learning/course_form.html",
    "templates/learning/lesson_form.html",
    "templates/learning/question_form.html",
    "templates/learning/resource_form.html",
    "templates/learning/manage.html",
    "templates/learning/manage_course.html",
    "templates/collections/index.html",
    "templates/collections/submission.html",
    "templates/collections/checkpoint.html",
    "templates/collections/checkpoint_grants.html",
    "templates/workgroups/manage_list.html",
    "templates/workgroups/manage_workgroup.html",
    "templates/workgroups/session_form.html",
    "templates/workgroups/workgroup_form.html",
    "routes/admin.py",
    "routes/collections.py",
    "routes/checkpoint.py",
    "uploads.py",
)
GROUPS = {
    "public pages": PUBLIC,
    "the researcher's journey": RESEARCHER,
    "management pages": MANAGEMENT,
}
#: The groups whose every message must have Welsh.
WELSH_REQUIRED = ("public pages", "the researcher's journey")


def _where(location: str) -> str:
    """A catalogue location (``src/fivesafes/web/routes/auth.py``) as listed above."""
    return location.split("fivesafes/web/", 1)[-1]


def _in_group(message, files: tuple[str, ...]) -> bool:  # type: ignore[no-untyped-def]
    return any(_where(loc) in files for loc, _line in message.locations)


def _untranslated(catalogue, files: tuple[str, ...]) -> list[str]:  # type: ignore[no-untyped-def]
    """The messages of these files without a translation, with where each is used."""
    return [
        f"{m.id!r} ({', '.join(sorted({_where(loc) for loc, _ in m.locations}))})"
        for m in catalogue
        if m.id and _in_group(m, files) and not _translated(m)
    ]


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
        '{{ forms.field("m", "Pass mark (%)") }}'
        '{{ d.strftime("%Y-%m-%d") }}{{ "%.3f" | format(x) }}'
    )
    texts = {f.text for f in findings(env, "t.html", source)}
    assert texts == {
        "Hello there",
        "title=Go home",
        "Save it",
        "Active",
        "value=Send",
        "Pass mark (%)",
    }


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


def test_every_template_and_module_with_messages_is_in_a_group() -> None:
    """A new page must be put in a group above, so that its Welsh is checked."""
    listed = [f for files in GROUPS.values() for f in files]
    assert len(listed) == len(set(listed)), "a file is in two groups"
    with (LOCALE / "messages.pot").open("rb") as f:
        used = {_where(loc) for m in read_po(f) if m.id for loc, _line in m.locations}
    assert not sorted(used - set(listed)), "put these in PUBLIC, RESEARCHER or MANAGEMENT"
    gone = sorted(f for f in set(listed) - used if not (WEB / f).exists())
    assert not gone, f"listed but not in the web app: {gone}"


@pytest.mark.parametrize("group", WELSH_REQUIRED)
def test_welsh_for_every_message_of_the_public_pages_and_the_researchers_journey(
    group: str,
) -> None:
    missing = _untranslated(_catalogue("cy"), GROUPS[group])
    assert not missing, f"{group}: {len(missing)} without Welsh:\n" + "\n".join(missing)


def test_the_check_finds_a_message_without_welsh() -> None:
    """The check above itself: a message of a log-in page left blank is found, and
    one used only by the management pages does not count for the public pages."""
    catalogue = _catalogue("cy")
    catalogue["Forgotten your password"].string = ""
    catalogue["Save the course"].string = ""
    missing = _untranslated(catalogue, PUBLIC)
    assert missing == ["'Forgotten your password' (templates/auth/password_reset_help.html)"]
    assert len(_untranslated(catalogue, MANAGEMENT)) == 1


def test_the_labels_from_outside_the_web_are_in_the_catalogue() -> None:
    """``web/labels.py`` marks copies of words defined in the domain modules; a copy
    that no longer matches its original would silently show English."""
    from typing import get_args

    from fivesafes.collections.report import STATUS_WORDS
    from fivesafes.datasets import Kind
    from fivesafes.outputs.primary import STATUSES
    from fivesafes.people.catalogue import OUTPUT_KINDS, PLAN_ROLES
    from fivesafes.people.models import ResourceKind
    from fivesafes.projects import applications as apps

    originals = [
        *apps.RULES.values(),
        *apps.MEMBER_ROLE_LABELS.values(),
        apps.NO_STORE_NOTE,
        *STATUS_WORDS.values(),
        *STATUSES,
        *get_args(Kind),
        *(r.replace("_", " ").capitalize() for r in PLAN_ROLES),
        *(text.capitalize() for text in OUTPUT_KINDS.values()),
        *(k.value.capitalize() for k in ResourceKind),
    ]
    catalogue = _catalogue("cy")
    missing = [text for text in originals if not (catalogue.get(text) and catalogue[text].string)]
    assert not missing, f"mark these in web/labels.py and translate them: {missing}"


#: The domain modules whose form errors the web's forms show.
FORM_ERROR_MODULES = (
    "jobs/queue.py",
    "people/accreditation.py",
    "people/catalogue.py",
    "people/learning.py",
    "people/workgroups/forms.py",
    "projects/applications.py",
    "projects/release.py",
)


def _fixed_form_errors(path: Path) -> list[str]:
    """The errors a module gives in fixed words: ``errors[field] = "..."``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript)):
            continue
        target = node.targets[0].value
        name = getattr(target, "id", None) or getattr(target, "attr", None)
        if name == "errors" and isinstance(node.value, ast.Constant):
            found.append(str(node.value.value))
    return found


def test_the_domain_modules_form_errors_are_in_welsh() -> None:
    """A form error from a domain module shows in Welsh: each one in fixed words is
    marked in ``web/labels.py`` (DOMAIN_FORM_ERRORS) and translated."""
    src = WEB.parent
    errors = {e for module in FORM_ERROR_MODULES for e in _fixed_form_errors(src / module)}
    assert len(errors) > 30, "the errors were not found: has the code changed shape?"
    catalogue = _catalogue("cy")
    missing = sorted(e for e in errors if not (catalogue.get(e) and catalogue[e].string))
    assert not missing, f"mark in DOMAIN_FORM_ERRORS and translate: {missing}"


def test_a_domain_form_error_shows_in_welsh(client: WebClient) -> None:
    client.login_as("researcher")
    client.get("/language/cy")
    page = client.post_form("/projects/new", {"title": "Astudiaeth"})
    assert page.status_code == 422
    assert "Dewiswch o leiaf un set ddata." in page.text  # projects.applications' words
    assert "Choose at least one dataset." not in page.text


def test_share_of_messages_translated(capsys: pytest.CaptureFixture[str]) -> None:
    """Reports the share translated per catalogue and, for Welsh, per group of pages."""
    lines = []
    for code in i18n.LANGUAGES:
        catalogue = _catalogue(code)
        messages = [m for m in catalogue if m.id]
        done = [m for m in messages if _translated(m)]
        if code == i18n.DEFAULT:
            lines.append(f"{code}: the source language, {len(messages)} messages shown as written")
            continue
        groups = []
        for name, files in GROUPS.items():
            in_group = [m for m in messages if _in_group(m, files)]
            assert in_group, f"no message is used by the {name}"
            group_done = [m for m in in_group if _translated(m)]
            groups.append(f"{name} {len(group_done)}/{len(in_group)}")
        lines.append(
            f"{code}: {len(done)}/{len(messages)} messages translated "
            f"({len(done) / len(messages):.0%}); " + ", ".join(groups)
        )
    with capsys.disabled():
        print("\n" + "\n".join(lines))


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
