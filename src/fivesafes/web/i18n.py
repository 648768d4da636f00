"""Languages of the web app: Cymraeg (``cy``) and English (``en``), with gettext.

The messages live in gettext catalogues under ``locale/<code>/LC_MESSAGES/``
(``messages.po``, compiled to ``messages.mo``; ``locale/messages.pot`` is the
template Babel extracts from the templates and the route code, see ``babel.cfg``
and ``docs/languages.md``). English is the source language: a message without a
Welsh translation shows in English.

Each request gets its own language (:class:`LanguageMiddleware` sets it in a
context variable, so concurrent requests in different languages never share
one): the cookie :data:`COOKIE` if the reader chose, else the best match of the
browser's ``Accept-Language``, else English. Route code calls :func:`_` (or
:func:`ngettext`) while handling the request; messages defined at import time are
marked with :func:`N_` and translated where they are shown. Templates call the
same functions through Jinja2's i18n extension (``{{ _("...") }}``,
``{% trans %}``).
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from http.cookies import SimpleCookie
from pathlib import Path
from string import Formatter
from typing import Any

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)
_PERCENT = re.compile(r"%\((\w+)\)")

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
#: The languages the service speaks, by code, each named in itself.
LANGUAGES: dict[str, str] = {"cy": "Cymraeg", "en": "English"}
DEFAULT = "en"
#: The cookie that remembers the reader's choice (a year).
COOKIE = "fivesafes_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

_language: ContextVar[str] = ContextVar("fivesafes_language", default=DEFAULT)


@cache
def translations(code: str) -> _gettext.NullTranslations:
    """The catalogue of ``code``: its compiled ``messages.mo``, or, where that is
    missing or older than the ``messages.po`` beside it (a checkout where nobody ran
    ``make translations``), the ``.po`` compiled in memory. English and unknown
    codes: no catalogue (the messages are English already)."""
    folder = LOCALE_DIR / code / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if code == DEFAULT or not po.exists():
        return _gettext.NullTranslations()
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as f:
            loaded = _gettext.GNUTranslations(f)
    else:
        loaded = _gettext.GNUTranslations(io.BytesIO(compile_po(po)))
    for message in drop_broken(loaded):
        log.warning("%s: %r: the translation's placeholders differ; English shown", code, message)
    return loaded


def placeholders(text: str) -> set[str]:
    """The ``%(name)s`` and ``{name}`` placeholders of a message."""
    found = set(_PERCENT.findall(text.replace("%%", "")))
    with suppress(ValueError):  # not a brace format: a lone "{" or "}"
        found |= {field for _lit, field, _spec, _conv in Formatter().parse(text) if field}
    return found


def drop_broken(catalogue: _gettext.GNUTranslations) -> list[str]:
    """Take out of ``catalogue`` each translation that would fail when its
    placeholders are filled (one its English does not have, or a ``%`` that is not
    a placeholder where the English has none), so that the page shows the English
    rather than failing; the messages taken out, in English."""
    entries: dict[Any, str] = catalogue._catalog  # type: ignore[attr-defined]
    broken = []
    for key, text in list(entries.items()):
        english, plural = (key[0], True) if isinstance(key, tuple) else (key, False)
        if not english or not isinstance(english, str):
            continue  # the header
        allowed = placeholders(english) | ({"num"} if plural else set())
        if not placeholders(text) <= allowed or not _fills(text, english, allowed):
            del entries[key]
            broken.append(english)
    return sorted(set(broken))


def _fills(text: str, english: str, names: set[str]) -> bool:
    """Whether ``text`` takes the values ``english`` takes (%-format)."""
    values = dict.fromkeys(names, 1)
    try:
        english % values
    except (KeyError, ValueError, TypeError):
        return True  # not a %-format (e.g. "50%" shown as written): nothing to check
    try:
        text % values
    except (KeyError, ValueError, TypeError):
        return False
    return True


def compile_po(po: Path) -> bytes:
    """The ``.mo`` bytes of the catalogue ``po`` (fuzzy entries left out, as msgfmt
    does: an unchecked translation is not shown)."""
    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def current() -> str:
    """The language of the request being handled (English outside one)."""
    return _language.get()


@contextmanager
def language(code: str) -> Iterator[None]:
    """Handle what runs inside in the language ``code``."""
    token = _language.set(code if code in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str, **variables: Any) -> str:
    """``message`` in the current language (English if it has no translation), with
    ``%(name)s`` placeholders filled from ``variables`` (as Jinja2's newstyle
    gettext does, so a message reads the same in a template and in Python)."""
    text = translations(current()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The form of a message for ``n`` in the current language; ``%(num)s`` is ``n``."""
    text = translations(current()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def pgettext(context: str, message: str, **variables: Any) -> str:
    text = translations(current()).pgettext(context, message)
    return text % variables if variables else text


def npgettext(context: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(current()).npgettext(context, singular, plural, n)
    return text % {"num": n, **variables}


_ = gettext


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now (for messages
    defined at import time: translate them with :func:`_` where they are shown)."""
    return message


def parse_accept_language(header: str) -> list[tuple[str, float]]:
    """The languages of an ``Accept-Language`` header with their weights, best
    first (RFC 9110 §12.5.4; ties keep the header's order; bad weights count 0)."""
    found: list[tuple[str, float, int]] = []
    for position, part in enumerate(header.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        tag = pieces[0].lower()
        if not tag:
            continue
        weight = 1.0
        for param in pieces[1:]:
            if param.lower().startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
                weight = min(max(weight, 0.0), 1.0)
        found.append((tag, weight, position))
    found.sort(key=lambda item: (-item[1], item[2]))
    return [(tag, weight) for tag, weight, _position in found]


def negotiate(header: str | None) -> str | None:
    """The service's language that best matches ``Accept-Language``: ``cy-GB``
    matches ``cy``, ``*`` matches English, weight 0 refuses. None: no match."""
    if not header:
        return None
    refused = set()
    for tag, weight in parse_accept_language(header):
        primary = tag.split("-")[0]
        if weight <= 0:
            refused.add(primary)
            continue
        if primary in LANGUAGES and primary not in refused:
            return primary
        if primary == "*":
            rest = [code for code in (DEFAULT, *LANGUAGES) if code not in refused]
            return rest[0] if rest else None
    return None


def choose(cookie_header: str | None, accept_language: str | None) -> str:
    """The language of a request: the reader's choice in the cookie, else the
    browser's preference, else English."""
    if cookie_header:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie_header)
        except Exception:  # a malformed Cookie header: as if there were no choice
            jar = SimpleCookie()
        chosen = jar.get(COOKIE)
        if chosen is not None and chosen.value in LANGUAGES:
            return chosen.value
    return negotiate(accept_language) or DEFAULT


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LanguageMiddleware:
    """Sets the language of each HTTP request (in ``scope["state"]["language"]`` and
    the context variable :func:`current` reads) and says it in the response's
    ``Content-Language``, with ``Vary: Accept-Language, Cookie`` for caches."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        code = choose(headers.get("cookie"), headers.get("accept-language"))
        scope.setdefault("state", {})["language"] = code

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-language", code.encode()),
                    (b"vary", b"Accept-Language, Cookie"),
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        with language(code):
            await self.app(scope, receive, send_with_language)


class Labels(dict[str, str]):
    """Labels (e.g. of states or roles) kept in English, marked with :func:`N_`, and
    translated each time one is looked up, in the language of the request then."""

    def __getitem__(self, key: str) -> str:
        return gettext_plain(super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        value = super().get(key)
        return gettext_plain(value) if value is not None else default

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(k, gettext_plain(v)) for k, v in super().items()]

    def values(self) -> list[str]:  # type: ignore[override]
        return [gettext_plain(v) for v in super().values()]


def gettext_plain(message: str) -> str:
    """``message`` in the current language, with no placeholders filled (for labels
    and data that may hold a ``%``)."""
    return translations(current()).gettext(message) if message else message


def options(pairs: Any) -> list[tuple[str, str]]:
    """(value, label) pairs with the labels translated now."""
    return [(value, gettext_plain(label)) for value, label in pairs]


#: The locales of Babel's date formats for each language.
BABEL_LOCALES = {"cy": "cy_GB", "en": "en_GB"}


def long_date(value: date | datetime | None) -> str:
    """A date as "5 March 2025" / "5 Mawrth 2025", in the current language."""
    if value is None:
        return ""
    return format_date(value, format="d MMMM y", locale=BABEL_LOCALES[current()])


def long_datetime(value: datetime | None) -> str:
    """A moment as "Monday 21 December 2026, 10:00" / "Dydd Llun 21 Rhagfyr 2026,
    10:00", in the current language (on the value's own clock: give it local time)."""
    if value is None:
        return ""
    return format_datetime(value, format="EEEE d MMMM y, HH:mm", locale=BABEL_LOCALES[current()])
