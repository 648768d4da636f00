"""The Social Services Checkpoint is never published and seen only with a grant.

Library: without a grant everyone is refused (an administrator too) and nothing is
written; a local authority's grant shows that authority only, a national grant
every one; every view is audited with the authorities shown. Web: every demo role
without a grant gets 403 on the dashboard and the audit log does not grow; the
grants pages are the administrators'; a granted user sees their authority and not
another's. Publication: the accepted checkpoint returns never reach a published
table, and reading them for one is refused."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from fivesafes import audit
from fivesafes.appdb import session_factory
from fivesafes.collections import checkpoint as cp
from fivesafes.collections import submissions as subs
from fivesafes.collections.publish_collections import _publishable, publish_accepted
from fivesafes.demo.collections import care_cycles
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.synth import care_returns as cr
from fivesafes.synth import returns as rt
from fivesafes.web.app import create_app

WEB_TESTS = Path(__file__).resolve().parents[1] / "web"
ROLES = [
    "researcher",
    "output_checker",
    "data_owner",
    "panel_member",
    "trainer",
    "administrator",
    "linkage_operator",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, Any]]:
    """A seeded demo site with three authorities, the demo data owner submitting for
    each, and an empty collections folder."""
    from fivesafes.demo.site import DEMO_USERS, seed_demo

    root = tmp_path_factory.mktemp("checkpoint")
    url = f"sqlite:///{root / 'web.db'}"
    listing = seed_demo(url, passwords={d.key: f"{d.key}-pass-2026" for d in DEMO_USERS})
    users = {u["key"]: u for u in listing}
    directory = root / "coll"
    cfg = rt.ReturnsConfig(children=60, authorities=3)
    with session_factory(url)() as s:
        admin = users["administrator"]["name"]
        for code, name in rt.authorities(cfg):
            if code not in {p.code for p in subs.list_providers(s)}:
                subs.add_provider(s, code, name, actor=admin)
            subs.add_member(s, code, users["data_owner"]["name"], actor=admin)
    return url, directory, users


def test_without_a_grant_everyone_is_refused_and_nothing_is_written(
    site: tuple[str, Path, dict[str, Any]],
) -> None:
    url, directory, users = site
    with session_factory(url)() as s:
        before = audit.count(s)
        for role in ROLES:
            with pytest.raises(PolicyRefusal, match="not published"):
                cp.dashboard(s, users[role]["name"], directory)
        assert audit.count(s) == before


def _accept_checkpoint(url: str, directory: Path, users: dict[str, Any], la: int) -> None:
    cfg = rt.ReturnsConfig(children=60, authorities=3)
    path = directory.parent / f"cp_{la}.csv"
    rt.write_csv(cr.checkpoint_return(cfg, la, 202312), path)
    owner = users["data_owner"]["name"]
    with session_factory(url)() as s:
        sub = subs.submit(
            s, owner, "ss_checkpoint", 202312, path, provider=rt.la_code(la), directory=directory
        ).submission
        assert sub.errors == 0
        subs.accept(s, owner, sub.id, directory=directory)


def test_a_grant_shows_its_authority_a_national_grant_all_and_each_view_is_audited(
    site: tuple[str, Path, dict[str, Any]],
) -> None:
    url, directory, users = site
    _accept_checkpoint(url, directory, users, 0)
    _accept_checkpoint(url, directory, users, 1)
    admin = users["administrator"]["name"]
    local, national = users["data_owner"]["name"], users["panel_member"]["name"]
    with session_factory(url)() as s:
        with pytest.raises(PolicyRefusal, match="only an administrator"):
            cp.grant(s, local, local, None)
        with pytest.raises(FivesafesError, match="no provider"):
            cp.grant(s, admin, local, "X06999999")
        cp.grant(s, admin, local, rt.la_code(1))
        cp.grant(s, admin, national, None)
        before = audit.count(s)
        mine = cp.dashboard(s, local, directory)
        assert [a.code for a in mine.authorities] == [rt.la_code(1)]
        assert not mine.national
        everyone = cp.dashboard(s, national, directory)
        assert [a.code for a in everyone.authorities] == [rt.la_code(0), rt.la_code(1)]
        assert audit.count(s) == before + 2
        last = audit.entries(s)[-1]
        assert last.action == "collections.checkpoint.view" and last.actor == national
        values = {r["measure"]: r["value"] for r in mine.authorities[0].rows}
        expected = cr.checkpoint_values(rt.ReturnsConfig(children=60, authorities=3), 1, 202312)
        assert values == expected
        json.dumps(mine.to_dict())


def test_the_checkpoint_is_never_published(site: tuple[str, Path, dict[str, Any]]) -> None:
    _accept_checkpoint(*site, 0)
    directory = site[1]
    with pytest.raises(FivesafesError, match="not a published collection"):
        _publishable("ss_checkpoint")
    # Accepted checkpoint returns and nothing else: nothing to publish at all.
    with pytest.raises(FivesafesError, match="no accepted returns of a published collection"):
        publish_accepted(directory, directory.parent / "published")
    assert not (directory.parent / "published").exists() or not any(
        "checkpoint" in p.name for p in (directory.parent / "published").rglob("*")
    )


@pytest.fixture
def web(site: tuple[str, Path, dict[str, Any]], tmp_path: Path, monkeypatch: Any) -> Iterator[Any]:
    sys.path.insert(0, str(WEB_TESTS))
    from webclient import WebClient  # tests/web/webclient.py

    url, directory, users = site
    copy = tmp_path / "web.db"
    # The backup API, not a file copy: recent commits may still be in the -wal file.
    with sqlite3.connect(url.removeprefix("sqlite:///")) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    monkeypatch.setenv(subs.COLLECTIONS_DIR_ENV, str(directory))
    app: FastAPI = create_app(f"sqlite:///{copy}")
    app.state.test_db_url = f"sqlite:///{copy}"
    try:
        with WebClient(app) as client:
            client.users = users
            yield client
    finally:
        app.state.db.dispose()


def _audit_count(web: Any) -> int:
    with session_factory(web.app.state.test_db_url)() as s:
        return audit.count(s)


def _no_grants(web: Any) -> None:
    """This copy of the site without the grants the library tests made."""
    with session_factory(web.app.state.test_db_url)() as s:
        for g in cp.grants(s):
            s.delete(g)
        s.commit()


@pytest.mark.parametrize("role", ROLES)
def test_every_role_without_a_grant_is_refused_on_the_web(web: Any, role: str) -> None:
    _no_grants(web)
    web.login_as(role)
    before = _audit_count(web)
    page = web.get("/collections/checkpoint", follow_redirects=False)
    assert page.status_code == 403, page.text[:200]
    assert "not published" in page.text
    grants = web.get("/collections/checkpoint/grants", follow_redirects=False)
    assert grants.status_code == (200 if role == "administrator" else 403)
    if role != "administrator":
        posted = web.post_form(
            "/collections/checkpoint/grants",
            {"user": web.users[role]["name"], "scope": "national"},
            token_from="/",
        )
        assert posted.status_code == 403
    assert _audit_count(web) == before


def test_a_visitor_is_sent_to_log_in(web: Any) -> None:
    page = web.get("/collections/checkpoint", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_an_administrator_grants_on_the_web_and_the_grantee_sees_their_authority(
    web: Any, site: tuple[str, Path, dict[str, Any]]
) -> None:
    # Accepted checkpoint returns of two authorities (whichever tests ran before).
    _accept_checkpoint(site[0], site[1], site[2], 0)
    _accept_checkpoint(site[0], site[1], site[2], 1)
    _no_grants(web)
    owner = web.users["data_owner"]["name"]
    admin = web.fresh().login_as("administrator")
    response = admin.post_form(
        "/collections/checkpoint/grants", {"user": owner, "scope": rt.la_code(0)}
    )
    assert response.status_code == 303
    listing = admin.get("/collections/checkpoint/grants").text
    assert owner in listing and rt.la_code(0) in listing
    web.login_as("data_owner")
    before = _audit_count(web)
    page = web.get("/collections/checkpoint")
    assert page.status_code == 200
    assert rt.la_code(0) in page.text and rt.la_code(1) not in page.text
    assert "CP01" in page.text
    assert _audit_count(web) == before + 1
    # The administrator, who granted it, still may not see it without a grant.
    assert admin.get("/collections/checkpoint", follow_redirects=False).status_code == 403


@pytest.mark.slow
def test_the_demo_cycles_of_the_new_collections(tmp_path: Path) -> None:
    from fivesafes.appdb import add_user, migrate

    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrate(url)
    cfg = rt.ReturnsConfig(children=300)
    directory = tmp_path / "coll"
    from fivesafes.demo.collections import ADMIN, owner_name

    with session_factory(url)() as s:
        add_user(s, ADMIN, "administrator")
        i = rt.JUMP_LA
        add_user(s, owner_name(i), "data_owner", actor=ADMIN)
        subs.add_provider(s, rt.la_code(i), rt.la_name(i), actor=ADMIN)
        subs.add_member(s, rt.la_code(i), owner_name(i), actor=ADMIN)
        result = care_cycles(s, tmp_path / "in", directory, cfg, 1, all_authorities=False)
    assert set(result) == {"adults_census", "carers_census", "pif_measures", "ss_checkpoint"}
    for name, r in result.items():
        assert r["rejected"]["errors"] >= len(r["planted_errors"]) - 1, name
        assert r["accepted"]["warnings_explained"], name  # the jump is a warning to explain
    pubs = publish_accepted(directory, tmp_path / "pub")
    slugs = {p.spec.slug for p in pubs}
    assert "performance-and-improvement-framework" in slugs
    assert not any("checkpoint" in s for s in slugs)
