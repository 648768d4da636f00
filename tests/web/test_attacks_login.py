"""Attacks on logging in and on the audit log behind it (issue 14, findings 6 and 7):

- a stranger's five wrong guesses at the administrator's address locked the
  administrator out for 15 minutes (the lock was per address only);
- password spraying (one password tried on many accounts from one client) was
  never slowed down;
- every failed attempt grew the audit log, which ``/admin/audit`` re-verified in
  full on every view;
- two server processes without ``FIVESAFES_SECRET_KEY`` each made their own key,
  so behind a load balancer a visitor's form posted to the other was refused.

Each test performs the attack against the app and shows it refused cleanly."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner
from webclient import WebClient, csrf_from

from fivesafes import audit
from fivesafes.appdb.models import AuditCheckpoint, AuditEntry, LoginThrottle, SiteSecret
from fivesafes.audit import incremental as audit_incremental
from fivesafes.cli.main import app as cli
from fivesafes.errors import FivesafesError
from fivesafes.web import throttle
from fivesafes.web.app import SECRET_ENV, create_app, stored_secret
from fivesafes.web.db import Database

STRANGER, OWNER = "203.0.113.9", "198.51.100.7"
WRONG = "guess-123456"
LOCKED_ADDRESS = "Too many wrong passwords for this e-mail address"
LOCKED_CLIENT = "Too many wrong passwords from your network address"


def entries(app: FastAPI) -> int:
    with app.state.db.session() as s:
        return audit.count(s)


def attempt(browser: WebClient, token: str, email: str, password: str) -> Any:
    """One log-in attempt with the visitor's CSRF token (read once per browser)."""
    return browser.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def visitor(client: WebClient, address: str) -> tuple[WebClient, str]:
    browser = client.fresh(address)
    return browser, csrf_from(browser.get("/login").text)


# --- a stranger cannot lock the owner out ---------------------------------------------


def test_a_strangers_wrong_guesses_do_not_stop_the_owner_logging_in_elsewhere(
    client: WebClient, app: FastAPI
) -> None:
    admin = client.users["administrator"]
    stranger, token = visitor(client, STRANGER)
    for _ in range(throttle.LOCK_AFTER):
        wrong = attempt(stranger, token, admin["email"], WRONG)
        assert wrong.status_code == 422 and "is not right" in wrong.text
    # The stranger is now refused, even with the right password ...
    refused = attempt(stranger, token, admin["email"], admin["password"])
    assert refused.status_code == 422 and LOCKED_ADDRESS in refused.text
    # ... but the administrator, from their own computer, logs in.
    owner = client.fresh(OWNER)
    owner.login(admin["email"], admin["password"])
    assert owner.get("/admin").status_code == 200
    with app.state.db.session() as s:
        failed = audit.entries(s, subject="user:administrator", action="user.login_failed")
        assert [audit.details_of(e) for e in failed] == [{"client": STRANGER}] * 5
        (locked,) = audit.entries(s, action="user.login_throttled")
        assert locked.subject == "user:administrator"
        assert audit.details_of(locked)["scope"] == "pair"
        assert audit.details_of(locked)["client"] == STRANGER
        row = s.get(LoginThrottle, ("pair", "user:administrator", STRANGER))
        assert row is not None and row.refused == 1


def test_a_successful_log_in_does_not_reset_its_clients_count(
    client: WebClient, app: FastAPI
) -> None:
    """An attacker holding an account of their own cannot log into it between
    sprays to start the client's count again."""
    mine = client.users["researcher"]
    attacker, token = visitor(client, STRANGER)
    for n in range(throttle.CLIENT_LOCK_AFTER - 1):
        assert "is not right" in attempt(attacker, token, f"user{n}@example.org", WRONG).text
    assert attempt(attacker, token, mine["email"], mine["password"]).status_code == 303
    again, token = visitor(client, STRANGER)
    assert "is not right" in attempt(again, token, "one-more@example.org", WRONG).text
    last = attempt(again, token, "and-another@example.org", WRONG)
    assert LOCKED_CLIENT in last.text


# --- password spraying ------------------------------------------------------------------


def test_spraying_one_password_over_many_accounts_from_one_client_is_throttled(
    client: WebClient, app: FastAPI
) -> None:
    sprayer, token = visitor(client, STRANGER)
    targets = [u["email"] for u in client.users.values()]
    targets += [f"person{n}@example.org" for n in range(40)]
    answers = [attempt(sprayer, token, email, "Summer2026!").text for email in targets]
    not_right = [n for n, text in enumerate(answers) if "is not right" in text]
    assert len(not_right) == throttle.CLIENT_LOCK_AFTER
    assert all(LOCKED_CLIENT in text for text in answers[throttle.CLIENT_LOCK_AFTER :])
    # The client stays locked for every account, whatever the password ...
    me = client.users["researcher"]
    refused = attempt(sprayer, token, me["email"], me["password"])
    assert refused.status_code == 422 and LOCKED_CLIENT in refused.text
    # ... while the accounts themselves are not locked anywhere else.
    client.fresh(OWNER).login(me["email"], me["password"])
    with app.state.db.session() as s:
        (locked,) = audit.entries(s, action="user.login_throttled", subject=f"client:{STRANGER}")
        assert audit.details_of(locked)["scope"] == "client"
        row = s.get(LoginThrottle, ("client", "", STRANGER))
        assert row is not None and row.refused == len(targets) - throttle.CLIENT_LOCK_AFTER + 1


def test_many_clients_guessing_at_one_account_lock_it_everywhere(
    client: WebClient, app: FastAPI
) -> None:
    """A guess from each of many clients (each far under its own limits) adds up:
    the account locks from every client after ACCOUNT_LOCK_AFTER of them, and the
    audit log grows by those and one line."""
    admin = client.users["administrator"]
    before = entries(app)
    browser = client.fresh()
    token = csrf_from(browser.get("/login").text)
    transport: Any = browser._transport  # one browser, its address changed per guess
    for n in range(throttle.ACCOUNT_LOCK_AFTER + 20):
        transport.client = (f"10.{n // 250}.{n % 250}.1", 50000)
        answer = attempt(browser, token, admin["email"], WRONG)
        expected = "is not right" if n < throttle.ACCOUNT_LOCK_AFTER else LOCKED_ADDRESS
        assert expected in answer.text, n
    assert entries(app) - before == throttle.ACCOUNT_LOCK_AFTER + 1
    with app.state.db.session() as s:
        row = s.get(LoginThrottle, ("account", "user:administrator", ""))
        assert row is not None and row.refused == 20


# --- the audit log stays bounded --------------------------------------------------------


def test_a_thousand_failed_attempts_add_a_bounded_number_of_audit_lines(
    client: WebClient, app: FastAPI
) -> None:
    admin = client.users["administrator"]
    before = entries(app)
    attacker, token = visitor(client, STRANGER)
    for n in range(1000):
        email = admin["email"] if n % 2 else f"guess{n}@example.org"
        assert attempt(attacker, token, email, f"{WRONG}-{n}").status_code == 422
    added = entries(app) - before
    # At most CLIENT_LOCK_AFTER failures, and one line for each lock they started
    # (the administrator's pair after LOCK_AFTER of them, then the client).
    assert added <= throttle.CLIENT_LOCK_AFTER + throttle.CLIENT_LOCK_AFTER // throttle.LOCK_AFTER
    with app.state.db.session() as s:
        failed = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.seq > before, AuditEntry.action == "user.login_failed")
        )
        throttled = audit.entries(s, action="user.login_throttled")
        refused = s.scalar(select(func.sum(LoginThrottle.refused))) or 0
        rows = s.scalar(select(func.count()).select_from(LoginThrottle)) or 0
    assert failed == throttle.CLIENT_LOCK_AFTER
    assert {audit.details_of(e)["scope"] for e in throttled} == {"pair", "client"}
    assert refused >= 1000 - throttle.CLIENT_LOCK_AFTER  # counted, not logged
    assert rows <= 2 * throttle.CLIENT_LOCK_AFTER + 2  # the table stays small too
    # The administrator still logs in from their own computer.
    client.fresh(OWNER).login(admin["email"], admin["password"])


# --- the audit page verifies from a checkpoint ----------------------------------------


def tamper(app: FastAPI, *statements: str) -> None:
    with app.state.db.engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
        c.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
        for sql in statements:
            c.exec_driver_sql(sql)


def cli_verify(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify", "--db", url])
    if isinstance(result.exception, FivesafesError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def add_entries(app: FastAPI, n: int) -> None:
    with app.state.db.session(write=True) as s:
        for i in range(n):
            audit.record(s, "researcher", "test.step", f"thing:{i}", {"i": i})
        s.commit()


@pytest.fixture
def quick_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's quick check from any checkpoint (on a real site only once the log
    has FULL_BELOW entries: before that it reads the whole chain every time)."""
    monkeypatch.setattr(audit_incremental, "FULL_BELOW", 0)


def stored_checkpoint(app: FastAPI) -> tuple[int, str] | None:
    with app.state.db.session() as s:
        row = s.get(AuditCheckpoint, 1)
        return (row.seq, row.hash) if row is not None else None


def test_the_audit_page_verifies_only_the_entries_since_its_last_check(
    client: WebClient, app: FastAPI, seeded_db: str, quick_check: None
) -> None:
    client.login_as("administrator")
    add_entries(app, 500)
    first = client.get("/admin/audit")
    total = entries(app)
    assert f"All {total} entries checked" in first.text
    with app.state.db.session() as s:
        assert stored_checkpoint(app) == audit.head(s)
    add_entries(app, 3)
    second = client.get("/admin/audit")
    assert "The hash chain is intact" in second.text
    assert f"The 3 entries since the last check (entry {total}," in second.text
    assert 'href="/admin/audit?full=1"' in second.text
    with app.state.db.session() as s:
        result, mark = audit.verify_from_checkpoint(s)
        assert result.ok and result.entries == 0 and mark is not None
        assert result.from_seq == total + 3 == result.head_seq

    # An entry edited before the checkpoint is not read by the quick check; every
    # full verification finds it: the page's "whole chain", the CLI, the library.
    tamper(app, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 7")
    assert "The hash chain is intact" in client.get("/admin/audit").text
    full = client.get("/admin/audit?full=1")
    assert "The audit log has been tampered with at entry 7" in full.text
    assert "entry 7 was changed after it was written" in full.text
    code, message = cli_verify(seeded_db)
    assert code == 2 and "tampered with at entry 7" in message
    with app.state.db.session() as s:
        assert audit.verify(s).first_bad_seq == 7
        assert audit.verify_from_checkpoint(s, full=True)[0].first_bad_seq == 7
    # A bad verdict never moves the checkpoint on.
    before = stored_checkpoint(app)
    add_entries(app, 1)
    client.get("/admin/audit?full=1")
    assert stored_checkpoint(app) == before


def test_the_quick_check_still_finds_an_entry_deleted_before_the_checkpoint(
    client: WebClient, app: FastAPI, quick_check: None
) -> None:
    client.login_as("administrator")
    add_entries(app, 20)
    assert "All" in client.get("/admin/audit").text
    mark = stored_checkpoint(app)
    assert mark is not None and mark[0] > 5
    tamper(app, "DELETE FROM audit_log WHERE seq = 5")
    page = client.get("/admin/audit")
    assert "The audit log has been tampered with at entry 5" in page.text
    assert "entry 5 is missing" in page.text
    assert stored_checkpoint(app) == mark


def test_the_checkpoint_alone_cannot_hide_a_rewritten_entry(
    client: WebClient, app: FastAPI, quick_check: None
) -> None:
    """The checkpoint's entry rewritten, hash and all, with nothing after it: the
    quick check sees the hash differ, and the full one reports the anchor gone."""
    client.login_as("administrator")
    add_entries(app, 5)
    client.get("/admin/audit")
    mark = stored_checkpoint(app)
    assert mark is not None
    with app.state.db.session() as s:
        row = s.get(AuditEntry, mark[0])
        assert row is not None
        fake = audit.entry_hash(
            row.seq, row.at, "mallory", row.action, row.subject, row.details, row.prev_hash
        )
    tamper(app, f"UPDATE audit_log SET actor = 'mallory', hash = '{fake}' WHERE seq = {mark[0]}")
    page = client.get("/admin/audit")
    assert "The audit log has been tampered with" in page.text
    assert "entries were cut off or the chain was rewritten" in page.text


def test_a_short_log_is_verified_whole_on_every_view(client: WebClient, app: FastAPI) -> None:
    """Below FULL_BELOW entries the page re-reads the whole chain: an entry edited
    before the checkpoint is found at once."""
    client.login_as("administrator")
    add_entries(app, 10)
    assert "The hash chain is intact" in client.get("/admin/audit").text
    assert stored_checkpoint(app) is not None
    tamper(app, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4")
    assert "tampered with at entry 4" in client.get("/admin/audit").text


# --- several processes, one secret -----------------------------------------------------


def test_two_app_processes_without_a_secret_key_accept_each_others_forms(
    seeded_db: str, demo_users: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    one, two = create_app(seeded_db), create_app(seeded_db)
    try:
        assert one.state.secret == two.state.secret
        me = demo_users["researcher"]
        with WebClient(one) as a, WebClient(two) as b:
            # The log-in form from one process, posted to the other (a load balancer).
            token = csrf_from(a.get("/login").text)
            b.cookies = a.cookies
            posted = b.post(
                "/login",
                data={"email": me["email"], "password": me["password"], "csrf_token": token},
                follow_redirects=False,
            )
            assert posted.status_code == 303
            # Logged in: the session's form token is good on both as well.
            a.cookies = b.cookies
            token = csrf_from(a.get("/profile").text)
            assert b.post("/logout", data={"csrf_token": token}).status_code == 200
    finally:
        one.state.db.dispose()
        two.state.db.dispose()
    with Database(seeded_db).session() as s:
        assert s.scalar(select(func.count()).select_from(SiteSecret)) == 1


def test_processes_starting_together_make_one_secret(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fivesafes.appdb import migrate

    migrate(app_db)
    found: list[bytes] = []
    start = threading.Barrier(6)

    def boot() -> None:
        database = Database(app_db)
        start.wait()
        found.append(stored_secret(database, "csrf"))
        database.dispose()

    threads = [threading.Thread(target=boot) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 6 and len(set(found)) == 1 and len(found[0]) == 32
    # The setting, when given, is used instead (and every process must share it).
    monkeypatch.setenv(SECRET_ENV, "a shared key")
    application = create_app(app_db)
    try:
        assert application.state.secret == b"a shared key"
    finally:
        application.state.db.dispose()


def test_a_locked_page_says_when_to_come_back(client: WebClient) -> None:
    stranger, token = visitor(client, STRANGER)
    email = client.users["trainer"]["email"]
    for _ in range(throttle.LOCK_AFTER):
        attempt(stranger, token, email, WRONG)
    text = attempt(stranger, token, email, WRONG).text
    assert re.search(r"try again after \d\d:\d\d UTC, or ask an administrator", text)


# --- the limits are site settings -------------------------------------------------------


def test_lower_limits_from_the_settings_take_effect(
    seeded_db: str, demo_users: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(throttle.LOCK_AFTER_ENV, "2")
    monkeypatch.setenv(throttle.CLIENT_LOCK_AFTER_ENV, "3")
    monkeypatch.setenv(throttle.LOCK_MINUTES_ENV, "1")
    site = create_app(seeded_db)
    try:
        assert site.state.login_limits == throttle.Limits(
            pair=2, client=3, account=throttle.ACCOUNT_LOCK_AFTER, lock_for=timedelta(minutes=1)
        )
        with WebClient(site) as client:
            client.users = demo_users
            admin, trainer = demo_users["administrator"], demo_users["trainer"]
            stranger, token = visitor(client, STRANGER)
            answers = [attempt(stranger, token, admin["email"], WRONG).text for _ in range(3)]
            # the pair locks after 2 (not the default 5), for a minute (not 15)
            assert "is not right" in answers[1] and LOCKED_ADDRESS in answers[2]
            # the client locks after 3 failures across accounts (not the default 20)
            assert "is not right" in attempt(stranger, token, trainer["email"], WRONG).text
            assert LOCKED_CLIENT in attempt(stranger, token, trainer["email"], WRONG).text
            with site.state.db.session() as s:
                locks = {
                    row.scope: row
                    for row in s.scalars(select(LoginThrottle)).all()
                    if row.locked_until is not None
                }
                throttled = audit.entries(s, action="user.login_throttled")
            assert set(locks) == {throttle.PAIR, throttle.CLIENT}
            for row in locks.values():  # a minute's lock (the default's would be 15)
                assert row.locked_until - row.window_start < timedelta(minutes=5)  # type: ignore[operator]
            assert sorted(audit.details_of(e)["failures"] for e in throttled) == [2, 3]
            # the owner, from their own address, still logs in
            owner, owner_token = visitor(client, OWNER)
            assert attempt(owner, owner_token, admin["email"], admin["password"]).status_code == 303
    finally:
        site.state.db.dispose()


@pytest.mark.parametrize("value", ["0", "-3", "five", "2.5", "1e3"])
@pytest.mark.parametrize(
    "name",
    [
        throttle.LOCK_AFTER_ENV,
        throttle.CLIENT_LOCK_AFTER_ENV,
        throttle.ACCOUNT_LOCK_AFTER_ENV,
        throttle.LOCK_MINUTES_ENV,
    ],
)
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=rf"{name}={value!r}: give .* whole number, at least 1"):
        throttle.limits_from_env({name: value})


def test_unset_limits_are_the_defaults_and_the_app_refuses_a_bad_one(
    seeded_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert throttle.limits_from_env({}) == throttle.DEFAULT_LIMITS
    assert throttle.limits_from_env({throttle.LOCK_AFTER_ENV: " 7 "}).pair == 7
    assert throttle.Limits(5, 20, 100, timedelta(minutes=15)) == throttle.DEFAULT_LIMITS
    monkeypatch.setenv(throttle.ACCOUNT_LOCK_AFTER_ENV, "0")
    with pytest.raises(ValueError, match=throttle.ACCOUNT_LOCK_AFTER_ENV):
        create_app(seeded_db)
