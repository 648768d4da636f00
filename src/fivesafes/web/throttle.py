"""Throttling of failed log-ins, per account *and* per client.

A failed log-in counts in three scopes at once (rows of ``login_throttle``):

- ``pair``: this account from this client. After :data:`LOCK_AFTER` wrong
  passwords within :data:`LOCK_FOR`, log-ins to the account *from that client* are
  refused for :data:`LOCK_FOR`. A stranger guessing at the administrator's address
  locks only themselves out: the administrator, logging in from their own
  computer, is not stopped.
- ``client``: this client across every account. After :data:`CLIENT_LOCK_AFTER`
  wrong passwords within :data:`LOCK_FOR`, every log-in from the client is refused
  for :data:`LOCK_FOR` (password spraying: one password tried on many accounts).
- ``account``: this account from every client. After :data:`ACCOUNT_LOCK_AFTER`
  wrong passwords within :data:`LOCK_FOR` (many clients, each under its own limit),
  log-ins to the account are refused from everywhere for :data:`LOCK_FOR`.

A client is its network address as the server sees it (behind a proxy, the one
the proxy passes on: uvicorn reads ``X-Forwarded-For`` from the addresses in
``$FORWARDED_ALLOW_IPS``, by default only 127.0.0.1); an IPv6 client is its /64
network (one household or one server is given a whole /64).

The audit log's growth stays bounded under attack: a failed log-in is written
there (``user.login_failed``) only while no lock refuses it; the attempt that
starts a lock writes one ``user.login_throttled`` line (one per episode), and the
attempts refused while it lasts are only counted, in the row (``refused``).
Within one :data:`LOCK_FOR`, one client adds at most :data:`CLIENT_LOCK_AFTER`
failures and a line for each lock they start.

The limits are site settings, read when the app starts (:func:`limits_from_env`;
a bad value stops it with a sentence naming the setting): each a whole number, at
least 1, defaulting to the constants below.

=====================================  ==========================  =======
setting                                limit                       default
=====================================  ==========================  =======
``FIVESAFES_LOGIN_LOCK_AFTER``         :data:`LOCK_AFTER`          5
``FIVESAFES_LOGIN_CLIENT_LOCK_AFTER``  :data:`CLIENT_LOCK_AFTER`   20
``FIVESAFES_LOGIN_ACCOUNT_LOCK_AFTER`` :data:`ACCOUNT_LOCK_AFTER`  100
``FIVESAFES_LOGIN_LOCK_MINUTES``       :data:`LOCK_FOR` (minutes)  15
=====================================  ==========================  =======

A successful log-in clears its pair's count (not the client's: an attacker holding
one account of their own could otherwise reset it between guesses); a password
reset clears the account's and every pair's. Rows are deleted a day after their
window or lock ended.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from fivesafes.appdb.db import insert_if_absent
from fivesafes.appdb.models import LoginThrottle, as_utc

PAIR, CLIENT, ACCOUNT = "pair", "client", "account"
#: Wrong passwords for one account from one client (within LOCK_FOR) that lock the pair.
LOCK_AFTER = 5
#: Wrong passwords from one client across all accounts that lock the client.
CLIENT_LOCK_AFTER = 20
#: Wrong passwords for one account from all clients together that lock the account.
ACCOUNT_LOCK_AFTER = 100
#: The window the failures are counted in, and how long a lock lasts.
LOCK_FOR = timedelta(minutes=15)
#: How long a row is kept after its window or lock ended (for the administrators).
KEEP_FOR = timedelta(days=1)
LIMITS = {PAIR: LOCK_AFTER, CLIENT: CLIENT_LOCK_AFTER, ACCOUNT: ACCOUNT_LOCK_AFTER}
#: The settings of the limits (environment variables), as (name, default).
LOCK_AFTER_ENV = "FIVESAFES_LOGIN_LOCK_AFTER"
CLIENT_LOCK_AFTER_ENV = "FIVESAFES_LOGIN_CLIENT_LOCK_AFTER"
ACCOUNT_LOCK_AFTER_ENV = "FIVESAFES_LOGIN_ACCOUNT_LOCK_AFTER"
LOCK_MINUTES_ENV = "FIVESAFES_LOGIN_LOCK_MINUTES"


@dataclass(frozen=True)
class Limits:
    """The throttle's limits: wrong passwords that lock each scope, and how long a
    window (and a lock) lasts."""

    pair: int = LOCK_AFTER
    client: int = CLIENT_LOCK_AFTER
    account: int = ACCOUNT_LOCK_AFTER
    lock_for: timedelta = LOCK_FOR

    def after(self, scope: str) -> int:
        """The failures that lock ``scope`` (``pair``, ``client`` or ``account``)."""
        return {PAIR: self.pair, CLIENT: self.client, ACCOUNT: self.account}[scope]


#: The limits when nothing is set.
DEFAULT_LIMITS = Limits()


def _setting(environ: Mapping[str, str], name: str, default: int, what: str) -> int:
    given = environ.get(name, "").strip()
    if not given:
        return default
    if not given.isascii() or not given.isdigit() or int(given) < 1:
        raise ValueError(
            f"{name}={given!r}: give {what} as a whole number, at least 1 (the default "
            f"is {default})"
        )
    return int(given)


def limits_from_env(environ: Mapping[str, str] | None = None) -> Limits:
    """The limits the site's settings give (``environ``, default the process's
    environment); unset ones keep their defaults, and a value that is not a whole
    number of at least 1 is refused with :class:`ValueError` naming the setting."""
    env = os.environ if environ is None else environ
    minutes = _setting(
        env,
        LOCK_MINUTES_ENV,
        int(LOCK_FOR.total_seconds() // 60),
        "how many minutes failures are counted in and a lock lasts",
    )
    return Limits(
        pair=_setting(
            env, LOCK_AFTER_ENV, LOCK_AFTER, "the wrong passwords for one account from one client"
        ),
        client=_setting(
            env, CLIENT_LOCK_AFTER_ENV, CLIENT_LOCK_AFTER, "the wrong passwords from one client"
        ),
        account=_setting(
            env,
            ACCOUNT_LOCK_AFTER_ENV,
            ACCOUNT_LOCK_AFTER,
            "the wrong passwords for one account from every client",
        ),
        lock_for=timedelta(minutes=minutes),
    )


@dataclass(frozen=True)
class Lock:
    """A lock in force: its scope (``pair``, ``client`` or ``account``) and its end."""

    scope: str
    until: datetime


def now() -> datetime:
    return datetime.now(UTC)


def client_address(host: str | None) -> str:
    """The client a request counts against: its IPv4 address, its IPv6 /64 network,
    or (not an address: a test client, a Unix socket) the text given, cut to 64."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _keys(subject: str, client: str) -> list[tuple[str, str, str]]:
    return [(PAIR, subject, client), (ACCOUNT, subject, ""), (CLIENT, "", client)]


def _matching(subject: str, client: str) -> ColumnElement[bool]:
    return or_(
        *(
            and_(
                LoginThrottle.scope == scope,
                LoginThrottle.subject == s,
                LoginThrottle.client == c,
            )
            for scope, s, c in _keys(subject, client)
        )
    )


def lock_in_force(db: Session, subject: str, client: str) -> Lock | None:
    """The lock that refuses a log-in counted against ``subject`` (see
    :func:`fivesafes.web.routes.auth.login_subject`) from ``client``, or None; of
    several, the one that lasts longest."""
    moment = now()
    rows = db.execute(
        select(LoginThrottle.scope, LoginThrottle.locked_until).where(
            _matching(subject, client), LoginThrottle.locked_until.is_not(None)
        )
    ).all()
    locks = [Lock(scope, as_utc(until)) for scope, until in rows if until is not None]
    locks = [lock for lock in locks if lock.until > moment]
    return max(locks, key=lambda lock: lock.until) if locks else None


def count_refused(db: Session, subject: str, client: str) -> None:
    """Count an attempt a lock refused, in the locked rows (not in the audit log)."""
    db.execute(
        update(LoginThrottle)
        .where(_matching(subject, client), LoginThrottle.locked_until > now())
        .values(refused=LoginThrottle.refused + 1)
    )


def record_failure(
    db: Session, subject: str, client: str, limits: Limits = DEFAULT_LIMITS
) -> list[Lock]:
    """Count a wrong password in its three scopes under ``limits`` (the caller
    commits); returns the locks it started, each a new episode to write to the
    audit log once."""
    moment = now()
    lock_for = limits.lock_for
    db.execute(delete(LoginThrottle).where(LoginThrottle.expires_at < moment))
    keys = _keys(subject, client)
    insert_if_absent(
        db,
        LoginThrottle,
        [
            {
                "scope": scope,
                "subject": s,
                "client": c,
                "failures": 0,
                "window_start": moment,
                "locked_until": None,
                "refused": 0,
                "expires_at": moment + lock_for + KEEP_FOR,
            }
            for scope, s, c in keys
        ],
    )
    started: list[Lock] = []
    for scope, s, c in keys:
        row = db.scalars(
            select(LoginThrottle)
            .where(
                LoginThrottle.scope == scope,
                LoginThrottle.subject == s,
                LoginThrottle.client == c,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        locked_until = as_utc(row.locked_until) if row.locked_until is not None else None
        if locked_until is not None and locked_until > moment:
            row.refused += 1  # locked by another attempt meanwhile
            continue
        if locked_until is not None or as_utc(row.window_start) + lock_for <= moment:
            row.failures, row.window_start, row.locked_until = 0, moment, None
            locked_until = None
        row.failures += 1
        if row.failures >= limits.after(scope):
            locked_until = moment + lock_for
            row.locked_until, row.refused = locked_until, 0
            started.append(Lock(scope, locked_until))
        ends = max(as_utc(row.window_start) + lock_for, locked_until or moment)
        row.expires_at = ends + KEEP_FOR
    db.flush()
    return started


def clear_pair(db: Session, subject: str, client: str) -> None:
    """After a successful log-in: the pair's count starts again."""
    db.execute(
        delete(LoginThrottle).where(
            LoginThrottle.scope == PAIR,
            LoginThrottle.subject == subject,
            LoginThrottle.client == client,
        )
    )


def clear_account(db: Session, subject: str) -> None:
    """After a password reset: the account's locks and counts, from every client, end."""
    db.execute(
        delete(LoginThrottle).where(
            LoginThrottle.scope.in_((PAIR, ACCOUNT)), LoginThrottle.subject == subject
        )
    )


def recent(db: Session, limit: int = 50) -> list[LoginThrottle]:
    """Locks in force or ended within :data:`KEEP_FOR`, newest first (for the
    administrators: what was refused without a line each in the audit log)."""
    return list(
        db.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.locked_until.is_not(None))
            .order_by(LoginThrottle.locked_until.desc())
            .limit(limit)
        )
    )
