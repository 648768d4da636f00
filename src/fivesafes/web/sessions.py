"""Server-side sessions and CSRF protection (one pure ASGI middleware).

A logged-in browser holds a random token in the cookie ``fivesafes_session``
(HttpOnly, SameSite=Lax, Secure when the app is served over HTTPS); the database
holds only its SHA-256, the CSRF token tied to it, the user, a message for the next
page, and when it expires (after 8 hours without use, and 24 hours after log-in
however active). A visitor who is shown a
form gets a visitor token instead (``v.<random>`` in the same cookie, nothing in
the database), whose CSRF token is an HMAC of it under the app's secret; logging
in replaces it with a real session.

Every POST, PUT, PATCH or DELETE must carry the session's CSRF token, in the form
field ``csrf_token`` or the header ``X-CSRF-Token``; otherwise the middleware
answers 403 before any route runs.

The body of such a request is read here (the token may be in it), so this is where
its size is limited: a logged-in user may send up to :func:`max_upload_bytes`
(``$FIVESAFES_MAX_UPLOAD_MB``, default 64 MB), a visitor (log-in, registration and
reset forms) up to :data:`VISITOR_MAX_BODY`. A larger body is refused with 413 as
soon as its declared length or what has arrived passes the limit, and a request
with no session at all is refused before anything is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import parse_qs

import anyio.to_thread
from sqlalchemy import delete, select, update
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from fivesafes.appdb.models import User, WebSession, as_utc
from fivesafes.web.db import Database
from fivesafes.web.i18n import N_, _
from fivesafes.web.security import new_token, token_hash

COOKIE = "fivesafes_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
VISITOR_PREFIX = "v."
IDLE = timedelta(hours=8)
#: However active, a session ends this long after log-in.
ABSOLUTE = timedelta(hours=24)
#: How stale ``last_seen_at`` may get before a request refreshes it.
TOUCH_EVERY = timedelta(minutes=5)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
MB = 1024 * 1024
#: The setting of the largest body (an upload with its form) a logged-in user may send.
MAX_UPLOAD_ENV = "FIVESAFES_MAX_UPLOAD_MB"
#: A request's body is held in memory up to this size, spooled to disk beyond it.
SPOOL_IN_MEMORY = 1 << 20
#: And given to the app in chunks of this size.
REPLAY_CHUNK = 1 << 20
DEFAULT_MAX_UPLOAD_MB = 64
#: The largest body a visitor (not logged in) may send: their forms are small.
VISITOR_MAX_BODY = 1 * MB

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def now() -> datetime:
    return datetime.now(UTC)


def max_upload_bytes() -> int:
    """The largest body a logged-in user may send: ``$FIVESAFES_MAX_UPLOAD_MB``
    megabytes (a whole number), default :data:`DEFAULT_MAX_UPLOAD_MB`."""
    given = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    if not given:
        return DEFAULT_MAX_UPLOAD_MB * MB
    if not given.isascii() or not given.isdigit() or int(given) < 1:
        raise ValueError(
            f"{MAX_UPLOAD_ENV}={given!r}: give the largest upload as a whole number of "
            "megabytes, at least 1 (for example 64)"
        )
    return int(given) * MB


def too_large(limit: int, path: str, logged_in: bool) -> str:
    """The message of a 413: the limit, and where a larger return can go."""
    if not logged_in:
        return _("What was sent is larger than any form of this site takes. Nothing was saved.")
    if path.startswith("/collections"):
        return _(
            "What was sent is larger than %(mb)s MB, the most this site takes in "
            "one form. Nothing was saved. Submit a larger return on the command line: "
            "fivesafes collections submit (see the collections guide).",
            mb=limit // MB,
        )
    return _(
        "What was sent is larger than %(mb)s MB, the most this site takes in "
        "one form. Nothing was saved.",
        mb=limit // MB,
    )


@dataclass
class Auth:
    """What a request knows about its browser session (``request.state.auth``)."""

    session_id: int | None = None
    csrf: str | None = None
    user_id: int | None = None
    user_name: str | None = None
    user_label: str | None = None
    roles: frozenset[str] = frozenset()
    flash: str | None = None
    #: The flash message was shown on this response's page (clear it afterwards).
    flash_shown: bool = False
    #: A new session token to send as the cookie with this response.
    set_token: str | None = field(default=None, repr=False)
    #: Remove the cookie with this response.
    clear: bool = False

    @property
    def logged_in(self) -> bool:
        return self.user_id is not None


def is_json_path(path: str) -> bool:
    """Whether a path is an API/JSON route (401 and JSON errors rather than pages)."""
    return path.endswith(".json") or path.startswith("/api/")


def visitor_csrf(secret: bytes, visitor: str) -> str:
    """The CSRF token of a visitor token (an HMAC under the app's secret)."""
    return hmac.new(secret, f"csrf:{visitor}".encode(), hashlib.sha256).hexdigest()


def new_visitor(secret: bytes) -> tuple[str, str]:
    """A new visitor cookie value and its CSRF token."""
    visitor = VISITOR_PREFIX + secrets.token_urlsafe(24)
    return visitor, visitor_csrf(secret, visitor)


def start_session(db_session: Any, user: User | None) -> tuple[WebSession, str]:
    """Add a new session row (in the caller's transaction); returns it and its token."""
    token = new_token()
    moment = now()
    row = WebSession(
        token_hash=token_hash(token),
        csrf_token=new_token(),
        user_id=user.id if user is not None else None,
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + IDLE,
    )
    db_session.add(row)
    db_session.flush()
    return row, token


def auth_for(row: WebSession, user: User | None) -> Auth:
    return Auth(
        session_id=row.id,
        csrf=row.csrf_token,
        user_id=user.id if user is not None else None,
        user_name=user.name if user is not None else None,
        user_label=user.label if user is not None else None,
        roles=frozenset(user.roles) if user is not None else frozenset(),
        flash=row.flash,
    )


class SessionMiddleware:
    """Loads the session of every request and enforces CSRF on unsafe methods."""

    def __init__(
        self,
        app: ASGIApp,
        database: Database,
        secret: bytes,
        secure_cookies: bool = False,
        max_body: int | None = None,
        refusal_page: Callable[[Request, int, str], Response] | None = None,
    ) -> None:
        self.app = app
        #: The page a refused request gets (the app passes its templated error
        #: page; the middleware does not know the templates).
        self.refusal_page = refusal_page or _plain_refusal
        self.database = database
        self.secret = secret
        self.secure = secure_cookies
        self.max_body = max_body if max_body is not None else max_upload_bytes()

    # -- database work ----------------------------------------------------------------
    def _load(self, token: str | None) -> tuple[Auth, Callable[[Any], None] | None]:
        """The request's session (read in a worker thread), and a write to make in its
        turn (drop an expired session, or push a live one's expiry on)."""
        if not token:
            return Auth(), None
        if token.startswith(VISITOR_PREFIX):
            return Auth(csrf=visitor_csrf(self.secret, token)), None
        with self.database.session() as s:
            row = s.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
            if row is None:
                return Auth(clear=True), None
            moment = now()
            user = s.get(User, row.user_id) if row.user_id is not None else None
            session_id = row.id
            if (
                as_utc(row.expires_at) <= moment
                or as_utc(row.created_at) + ABSOLUTE <= moment
                or (user is not None and not user.is_active)
            ):

                def drop(w: Any) -> None:
                    w.execute(delete(WebSession).where(WebSession.id == session_id))

                return Auth(clear=True), drop
            auth = auth_for(row, user)
            stale = moment - as_utc(row.last_seen_at) > TOUCH_EVERY

        def touch(w: Any) -> None:
            w.execute(
                update(WebSession)
                .where(WebSession.id == session_id)
                .values(last_seen_at=moment, expires_at=moment + IDLE)
            )

        return auth, touch if stale else None

    # -- ASGI ----------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        auth, pending = await anyio.to_thread.run_sync(self._load, request.cookies.get(COOKIE))
        if pending is not None:
            await self.database.run_write(pending)
        scope.setdefault("state", {})["auth"] = auth

        with contextlib.ExitStack() as stack:
            await self._guarded(scope, receive, send, request, auth, stack)

    async def _guarded(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: Request,
        auth: Auth,
        stack: contextlib.ExitStack,
    ) -> None:
        """The request with its CSRF token checked (unsafe methods), its body
        spooled in ``stack``, then its flash message cleared once shown."""
        if scope["method"] not in SAFE_METHODS:
            if auth.csrf is None:  # no session: no token can be right; read nothing
                await self._refuse(scope, receive, send, 403, _(_NOT_THIS_SESSION))
                return
            limit = self.max_body if auth.logged_in else min(self.max_body, VISITOR_MAX_BODY)
            refusal = too_large(limit, scope.get("path", ""), auth.logged_in)
            try:
                declared = int(request.headers.get("content-length", "0"))
            except ValueError:
                declared = 0
            if declared > limit:
                await self._refuse(scope, receive, send, 413, refusal)
                return
            # Kept in memory up to a megabyte, on disk beyond: a large upload is
            # never held whole (it is read three times: here, for the token, and
            # by the route's form parser, which spools its files to disk too).
            body = stack.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))  # noqa: SIM115
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self._refuse(scope, receive, send, 413, refusal)
                    return
                body.write(chunk)
                more = message.get("more_body", False)
            supplied = request.headers.get(CSRF_HEADER) or await _form_token(scope, body)
            if not (
                auth.csrf
                and supplied
                and hmac.compare_digest(auth.csrf.encode(), supplied.encode())
            ):
                await self._refuse(scope, receive, send, 403, _(_NOT_THIS_SESSION))
                return
            receive = _replay(body, then=receive)

        await self.app(scope, receive, self._sender(auth, send))
        if auth.flash_shown and auth.session_id is not None:
            session_id = auth.session_id

            def clear_flash(w: Any) -> None:
                w.execute(update(WebSession).where(WebSession.id == session_id).values(flash=None))

            await self.database.run_write(clear_flash)

    def _sender(self, auth: Auth, send: Send) -> Send:
        secure = "; Secure" if self.secure else ""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if auth.set_token:
                    headers.append(
                        "set-cookie",
                        f"{COOKIE}={auth.set_token}; Path=/; HttpOnly; SameSite=Lax{secure}",
                    )
                elif auth.clear:
                    headers.append(
                        "set-cookie",
                        f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
                    )
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("referrer-policy", "same-origin")
                headers.setdefault(
                    "content-security-policy",
                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                    "form-action 'self'; base-uri 'none'",
                )
                if auth.logged_in or auth.set_token:
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        return wrapped

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        request = Request(scope, receive)
        response = self.refusal_page(request, status, message)
        await response(scope, receive, send)


def _plain_refusal(request: Request, status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)


_NOT_THIS_SESSION = N_(
    "This form could not be accepted: it was not sent from a page of this "
    "site in your current session (it may have expired). Go back, reload "
    "the page and try again."
)


async def _form_token(scope: Scope, body: IO[bytes]) -> str | None:
    """The ``csrf_token`` field of a form body (URL-encoded or multipart)."""
    content_type = Request(scope).headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        request = Request(scope, _replay(body))
        try:
            form = await request.form()
        except Exception:  # a malformed body carries no token
            return None
        try:
            value = form.get(CSRF_FIELD)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    body.seek(0)
    text = body.read()
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(text.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD)
        return values[0] if values else None
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text or b"{}")
        except ValueError:
            return None
        value = data.get(CSRF_FIELD) if isinstance(data, dict) else None
        return value if isinstance(value, str) else None
    return None


def _replay(body: IO[bytes], then: Receive | None = None) -> Receive:
    """A ``receive`` that gives ``body`` again from its start, a chunk at a time,
    then waits on ``then`` (the client's own channel, for its disconnect)."""
    end = body.seek(0, os.SEEK_END)
    body.seek(0)
    done = False

    async def receive() -> Message:
        nonlocal done
        if not done:
            chunk = body.read(REPLAY_CHUNK)
            done = body.tell() >= end
            return {"type": "http.request", "body": chunk, "more_body": not done}
        if then is not None:
            return await then()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    return receive
