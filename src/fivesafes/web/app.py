"""The app factory: ``create_app(db_url)`` migrates the database and mounts the
routers of every module in :data:`ROUTER_MODULES` (each under
``fivesafes.web.routes`` and exposing ``router``)."""

from __future__ import annotations

import importlib
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from fivesafes.appdb.db import insert_if_absent, migrate
from fivesafes.appdb.models import SiteSecret
from fivesafes.web import throttle
from fivesafes.web.db import Database
from fivesafes.web.deps import Forbidden, LoginRequired, ids_in_range
from fivesafes.web.i18n import LanguageMiddleware, _
from fivesafes.web.sessions import SessionMiddleware, is_json_path, max_upload_bytes
from fivesafes.web.templating import REFUSAL_EXPLANATIONS, error_response
from fivesafes.web.uploads import CheckWorkers

log = logging.getLogger(__name__)

#: Route modules under fivesafes.web.routes, mounted in this order.
ROUTER_MODULES: list[str] = [
    "core",
    "auth",
    "account",
    "admin",
    "projects",
    "airlock",
    "jobs",
    "learning",
    "workgroups",
    "statistics",
    "collections",
    "checkpoint",
]

STATIC = Path(__file__).parent / "static"
SECRET_ENV = "FIVESAFES_SECRET_KEY"
PUBLIC_URL_ENV = "FIVESAFES_PUBLIC_URL"


def app_secret(database: Database | None = None) -> bytes:
    """The key of visitors' CSRF tokens: ``$FIVESAFES_SECRET_KEY`` if set, else the
    one kept in the application database (made by the first process that starts:
    every process serving the site finds the same one, with nothing to set), else
    (no database given) a random key for this process."""
    given = os.environ.get(SECRET_ENV)
    if given:
        return given.encode()
    if database is None:
        return secrets.token_bytes(32)
    return stored_secret(database, "csrf")


def stored_secret(database: Database, name: str) -> bytes:
    """The secret ``name`` of ``site_secrets``, made the first time it is asked for.
    Insert-if-absent, then read: processes starting together all read the one row
    the first of them inserted."""
    with database.session(write=True) as s:
        insert_if_absent(
            s,
            SiteSecret,
            [{"name": name, "value": secrets.token_bytes(32), "created_at": datetime.now(UTC)}],
        )
        s.commit()
    with database.session() as s:
        value = s.scalar(select(SiteSecret.value).where(SiteSecret.name == name))
    if not value:  # pragma: no cover - the row was just inserted
        raise RuntimeError(f"the site secret {name!r} could not be stored")
    return bytes(value)


def public_url() -> str | None:
    """The site's address as the public reaches it (``$FIVESAFES_PUBLIC_URL``, e.g.
    ``https://tre.example.ac.uk``), for links that leave the site: reset links and
    the verification address printed on statements. Unset: the address of the
    request (then a proxy in front must pass the real Host header)."""
    given = os.environ.get(PUBLIC_URL_ENV, "").strip()
    if not given:
        return None
    parts = urlsplit(given)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"{PUBLIC_URL_ENV}={given!r}: give the site's address as http(s)://host[:port][/path]"
        )
    return given.rstrip("/")


def create_app(db_url: str | None = None, *, secure_cookies: bool = False) -> FastAPI:
    """The web app on the database at ``db_url`` (default: the settings default),
    migrated to the newest schema first. ``secure_cookies`` when served over HTTPS.
    The largest upload is ``$FIVESAFES_MAX_UPLOAD_MB``, the public address
    ``$FIVESAFES_PUBLIC_URL``, and the log-in limits ``$FIVESAFES_LOGIN_*``
    (:func:`fivesafes.web.throttle.limits_from_env`); a bad value of any is refused
    here."""
    max_upload = max_upload_bytes()
    site = public_url()
    login_limits = throttle.limits_from_env()
    database = Database(db_url)
    migrate(database.url)
    app = FastAPI(
        title="fivesafes",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(ids_in_range)],
    )
    app.state.db = database
    app.state.secure_cookies = secure_cookies
    app.state.secret = app_secret(database)
    app.state.max_upload = max_upload
    app.state.check_workers = CheckWorkers()
    app.state.public_url = site
    app.state.login_limits = login_limits
    app.add_middleware(
        SessionMiddleware,
        database=database,
        secret=app.state.secret,
        secure_cookies=secure_cookies,
        max_body=max_upload,
        refusal_page=error_response,
    )
    # Outermost: the language is set before the session middleware may refuse.
    app.add_middleware(LanguageMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for name in ROUTER_MODULES:
        module = importlib.import_module(f"fivesafes.web.routes.{name}")
        app.include_router(module.router)
    _install_error_pages(app)
    return app


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if is_json_path(request.url.path):
            return error_response(request, 401, _("Log in first."))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if exc.reason is not None:
            message = exc.message or _(REFUSAL_EXPLANATIONS[403])
            return error_response(request, 403, message, reason=exc.reason)
        return error_response(request, 403, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = _("Check the address; the page may have moved.")
        response = error_response(request, exc.status_code, detail)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # A bad path or query parameter (e.g. /admin/users/abc): not a page here.
        if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
            return error_response(request, 404, _("Check the address; the page may have moved."))
        return error_response(request, 422, _("Some of what was sent could not be read."))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(
            request, 500, _("Nothing was saved. Try again later; if it keeps happening, tell us.")
        )
