"""The audit log page for administrators (GET /admin/audit): entries newest first,
paged, filtered by actor and action, the hash chain's verification at the top —
and an entry edited or deleted through SQL is reported, by the page and by
``fivesafes audit verify``, with its sequence number."""

from __future__ import annotations

import re

from fastapi import FastAPI
from typer.testing import CliRunner
from webclient import WebClient

from fivesafes import audit
from fivesafes.appdb.models import AuditEntry
from fivesafes.cli.main import app as cli
from fivesafes.errors import FivesafesError


def tamper(app: FastAPI, *statements: str) -> None:
    """What someone with write access to the database file could do: drop the
    append-only triggers, then edit the log."""
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


def seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r"<tr[^>]*>\s*<td>(\d+)", html)]


def test_the_page_lists_entries_newest_first_with_filters_and_pages(
    client: WebClient, app: FastAPI
) -> None:
    client.login_as("administrator")
    with app.state.db.session(write=True) as s:
        for i in range(60):
            audit.record(s, "researcher", "test.step", f"thing:{i}", {"i": i})
        s.commit()
        total = audit.count(s)
    page = client.get("/admin/audit")
    assert page.status_code == 200
    assert "The hash chain is intact" in page.text
    assert f"All {total} entries checked" in page.text
    shown = seqs(page.text)
    assert len(shown) == 50 and shown == sorted(shown, reverse=True) and shown[0] == total
    assert "Page 1 of" in page.text and "Older entries" in page.text
    older = client.get("/admin/audit?page=2")
    assert seqs(older.text)[0] == total - 50
    by_action = client.get("/admin/audit?action=test.")
    assert "60 entries match" in by_action.text
    assert set(re.findall(r'<td class="action">([^<]+)</td>', by_action.text)) == {"test.step"}
    by_actor = client.get("/admin/audit?actor=administrator")
    actors = set(re.findall(r'<td class="actor">([^<]+)</td>', by_actor.text))
    assert actors == {"administrator"}  # the administrator's own log-in
    none = client.get("/admin/audit?actor=nobody")
    assert "0 entries match" in none.text and "No entry." in none.text


def test_an_edited_entry_is_reported_by_the_page_and_the_cli(
    client: WebClient, app: FastAPI, seeded_db: str
) -> None:
    assert cli_verify(seeded_db)[0] == 0
    client.login_as("administrator")
    tamper(app, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    # Filtered to the forged actor: entry 3 is on the page however long the log is.
    page = client.get("/admin/audit?actor=mallory")
    assert page.status_code == 200
    assert "The audit log has been tampered with at entry 3" in page.text
    assert "entry 3 was changed after it was written" in page.text
    assert re.search(r'class="row-bad">\s*<td>3 <strong class="tag tag-red">tampered', page.text)
    code, message = cli_verify(seeded_db)
    assert code == 2 and "tampered with at entry 3" in message


def test_a_deleted_entry_is_reported_by_the_page_and_the_cli(
    client: WebClient, app: FastAPI, seeded_db: str
) -> None:
    client.login_as("administrator")
    with app.state.db.session() as s:
        assert s.get(AuditEntry, 5) is not None
    tamper(app, "DELETE FROM audit_log WHERE seq = 5")
    page = client.get("/admin/audit")
    assert "The audit log has been tampered with at entry 5" in page.text
    assert "entry 5 is missing" in page.text
    code, message = cli_verify(seeded_db)
    assert code == 2 and "entry 5 is missing" in message


def test_only_administrators_see_the_audit_log(client: WebClient) -> None:
    assert client.get("/admin/audit", follow_redirects=False).headers["location"] == (
        "/login?next=%2Fadmin%2Faudit"
    )
    client.login_as("output_checker")
    refused = client.get("/admin/audit")
    assert refused.status_code == 403 and "administrator" in refused.text
