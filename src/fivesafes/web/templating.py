"""Pages: the Jinja2 environment, :func:`render`, error pages and flash messages.

Templates live in ``templates/``: ``base.html`` (blocks ``title`` and ``content``;
skip link, header, a navigation that shows links by role, the flash message) and
``_forms.html`` (macros ``csrf_field``, ``field``, ``textarea``, ``select``,
``checkboxes``, ``error_summary``). Import the macros with
``{% import "_forms.html" as forms %}``.

Every visible text of a template goes through gettext (Jinja2's i18n extension,
newstyle: ``{{ _("Courses") }}``, ``{{ _("%(n)s places left", n=row.left) }}``),
in the language of the request being rendered (:mod:`fivesafes.web.i18n`).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import update
from sqlalchemy.orm import Session

from fivesafes.appdb.models import WebSession
from fivesafes.people.translations import in_language
from fivesafes.web import i18n
from fivesafes.web.i18n import N_, _
from fivesafes.web.labels import enrolment_label
from fivesafes.web.sessions import SAFE_METHODS, Auth, is_json_path, new_visitor

TEMPLATES = Path(__file__).parent / "templates"
SERVICE_NAME = "fivesafes"

_current: ContextVar[Request | None] = ContextVar("fivesafes_request", default=None)


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    #: None: everyone; "login": anyone logged in; a tuple: holders of one of the roles.
    need: str | tuple[str, ...] | None = None
    #: Shown to visitors only (log in, register).
    visitors_only: bool = False


#: The main navigation; an item shows only if its route exists in the app.
NAV: list[NavItem] = [
    NavItem(N_("Courses"), "/courses"),
    NavItem(N_("Workgroups"), "/workgroups"),
    NavItem(N_("My learning"), "/learning", "login"),
    NavItem(N_("Projects"), "/projects", "login"),
    NavItem(N_("Airlock"), "/airlock", ("researcher", "output_checker")),
    NavItem(N_("Public register"), "/projects/public"),
    NavItem(N_("Statistics"), "/statistics"),
    NavItem(N_("Collections"), "/collections", ("data_owner",)),
    NavItem(N_("Administration"), "/admin", ("administrator",)),
    NavItem(N_("Your profile"), "/profile", "login"),
    NavItem(N_("Log in"), "/login", visitors_only=True),
    NavItem(N_("Create an account"), "/register", visitors_only=True),
]


def auth_of(request: Request) -> Auth:
    auth = getattr(request.state, "auth", None)
    return auth if isinstance(auth, Auth) else Auth()


def _csrf_token() -> str:
    """The CSRF token of the current request's session (a visitor without one gets a
    visitor token now: forms need it)."""
    request = _current.get()
    if request is None:
        raise RuntimeError("csrf_token() is only available while rendering a page")
    auth = auth_of(request)
    if auth.csrf is None:
        auth.set_token, auth.csrf = new_visitor(request.app.state.secret)
    return auth.csrf


def _csrf_field() -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(_csrf_token())


def _field_error(errors: Any, name: str) -> str | None:
    """One field's message from ``errors`` (a mapping of field to message(s), a
    message, or a list of messages), in the reader's language: a domain module's
    error in fixed words is marked in :data:`fivesafes.web.labels.DOMAIN_FORM_ERRORS`;
    a message already translated, or not in the catalogue, is shown as it is."""
    if not errors:
        return None
    value = errors.get(name) if isinstance(errors, Mapping) else errors
    if not value:
        return None
    if isinstance(value, list | tuple):
        return ". ".join(i18n.gettext_plain(str(v)) for v in value)
    return i18n.gettext_plain(str(value))


def _options(options: Any) -> list[tuple[str, str]]:
    """Options as (value, label) pairs, from pairs, a mapping or plain strings."""
    if isinstance(options, Mapping):
        return [(str(k), str(v)) for k, v in options.items()]
    out = []
    for option in options:
        if isinstance(option, list | tuple):
            out.append((str(option[0]), str(option[1])))
        else:
            out.append((str(option), str(option)))
    return out


def _is_selected(value: str, selected: Any) -> bool:
    if selected is None:
        return False
    if isinstance(selected, str | int):
        return str(selected) == value
    return value in {str(s) for s in selected}


env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "xml"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
# The callables look the language up for each call, so one environment serves
# every request in its own language; Jinja2 (newstyle) fills the placeholders.
env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=lambda message: i18n.translations(i18n.current()).gettext(message),
    ngettext=lambda s, p, n: i18n.translations(i18n.current()).ngettext(s, p, n),
    pgettext=lambda c, message: i18n.translations(i18n.current()).pgettext(c, message),
    npgettext=lambda c, s, p, n: i18n.translations(i18n.current()).npgettext(c, s, p, n),
    newstyle=True,
)
env.globals.update(
    csrf_token=_csrf_token,
    csrf_field_html=_csrf_field,
    field_error=_field_error,
    as_options=_options,
    is_selected=_is_selected,
    service_name=SERVICE_NAME,
    current_language=i18n.current,
    languages=i18n.LANGUAGES,
)


long_date = i18n.long_date
env.filters["long_date"] = long_date
env.filters["long_datetime"] = i18n.long_datetime
env.filters["translate"] = i18n.gettext_plain
#: ``{{ (course | here).title }}``: a course, lesson or question in the reader's language.
env.filters["here"] = lambda row: in_language(row, i18n.current())


env.globals["enrolment_label"] = enrolment_label


def _route_paths(request: Request) -> set[str]:
    state = request.app.state
    paths: set[str] | None = getattr(state, "route_paths", None)
    if paths is None:
        from fivesafes.web.access import route_table

        paths = {info.path for info in route_table(request.app.routes)}
        state.route_paths = paths
    return paths


def nav_for(request: Request, auth: Auth) -> list[dict[str, Any]]:
    paths = _route_paths(request)
    here = request.url.path
    items = []
    for item in NAV:
        if item.href not in paths:
            continue
        if item.visitors_only and auth.logged_in:
            continue
        if item.need == "login" and not auth.logged_in:
            continue
        if isinstance(item.need, tuple) and not (
            "administrator" in auth.roles or any(r in auth.roles for r in item.need)
        ):
            continue
        current = here == item.href or (
            item.href != "/"
            and here.startswith(item.href + "/")
            and not any(
                other.href != item.href and here.startswith(other.href)
                for other in NAV
                if len(other.href) > len(item.href)
            )
        )
        items.append({"label": _(item.label), "href": item.href, "current": current})
    return items


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/<template>`` with ``context`` plus ``request``, ``auth``
    (the session: ``auth.logged_in``, ``auth.user_label``, ``auth.roles``),
    ``nav``, ``flash`` and ``has_role(role)``."""
    auth = auth_of(request)
    flash = None
    if auth.flash and request.method in SAFE_METHODS:
        flash = auth.flash
        auth.flash_shown = True  # the session middleware clears it after the response
    base = {
        "request": request,
        "auth": auth,
        "nav": nav_for(request, auth),
        "flash": flash,
        "has_role": lambda *roles: (
            "administrator" in auth.roles or any(r in auth.roles for r in roles)
        ),
    }
    token = _current.set(request)
    try:
        html = env.get_template(template).render({**base, **context})
    finally:
        _current.reset(token)
    return HTMLResponse(html, status_code=status_code)


def flash(request: Request, db: Session, message: str) -> None:
    """Show ``message`` on the next page this browser sees (saved with ``db``'s
    transaction: commit it)."""
    auth = auth_of(request)
    if auth.session_id is not None:
        db.execute(update(WebSession).where(WebSession.id == auth.session_id).values(flash=message))


TITLES = {
    400: N_("The request could not be understood"),
    401: N_("You need to log in"),
    403: N_("You do not have permission to see this page"),
    404: N_("Page not found"),
    405: N_("That cannot be done here"),
    409: N_("That was changed by someone else"),
    413: N_("The upload is too large"),
    422: N_("There is a problem with what was sent"),
    500: N_("Sorry, there is a problem with the service"),
}
UNKNOWN_TITLE = N_("Something went wrong")


def error_response(
    request: Request, status: int, message: str | None = None, *, reason: str | None = None
) -> Response:
    """An error as a page (or as JSON ``{"detail": ...}`` for JSON routes).
    ``message`` is the web app's own (translated) sentence; ``reason`` a sentence
    from the library (a :class:`~fivesafes.errors.PolicyRefusal`'s), which stays
    English: the page shows it under a translated heading, marked ``lang="en"``."""
    title = _(TITLES.get(status, UNKNOWN_TITLE))
    if is_json_path(request.url.path):
        return JSONResponse({"detail": reason or message or title}, status_code=status)
    return render(
        request, "error.html", status_code=status, title=title, message=message, reason=reason
    )


#: What a page refusing a step says around the library's reason, by status.
REFUSAL_EXPLANATIONS = {
    403: N_("The service's rules do not allow this, so nothing was done."),
    404: N_("What this step needs could not be found, so nothing was done."),
}
OTHER_REFUSAL = N_("This step could not be taken, so nothing was done.")


def refusal_title(status: int) -> str:
    return _("You cannot do that") if status == 403 else _("That cannot be done")


def refusal_page(
    request: Request,
    status: int,
    *,
    message: str | None = None,
    reason: str | None = None,
    back: tuple[str, str] | None = None,
) -> HTMLResponse:
    """The page refusing a step: a translated heading and ``message`` (by default
    what the status means), then the library's ``reason`` if any, as written (in
    English). ``back`` is (address, link text) of the page the step was taken from
    (the start page is always linked)."""
    if message is None:
        message = _(REFUSAL_EXPLANATIONS.get(status, OTHER_REFUSAL))
    return render(
        request,
        "error.html",
        status_code=status,
        title=refusal_title(status),
        message=message,
        reason=reason,
        back_url=back[0] if back else None,
        back_label=back[1] if back else None,
    )


def as_sentence(text: str) -> str:
    """A library's reason ("not a member of the project") as a sentence."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def site_url(request: Request) -> str:
    """The site's public address for links that leave it (``$FIVESAFES_PUBLIC_URL``
    when set, else the request's own), without a trailing slash."""
    configured: str | None = getattr(request.app.state, "public_url", None)
    return configured or str(request.base_url).rstrip("/")
