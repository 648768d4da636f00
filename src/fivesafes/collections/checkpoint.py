"""The Social Services Checkpoint dashboard: monthly capacity and demand per local
authority, never published, seen only by the people an administrator grants it.

A grant is for one authority (its own staff: they see that authority only) or
national (selected national stakeholders: every authority). Holding a role is not
enough, an administrator included: only a grant opens the dashboard. Every view
is written to the audit log, with the authorities shown; every grant and revoke
too. The figures come from the accepted checkpoint returns (the accepted
collections file); the dashboard shows each authority's latest month beside the
month before, and its months as a line per measure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.users import get_user
from fivesafes.collections.models import CheckpointGrant, Provider
from fivesafes.collections.spec import load_spec
from fivesafes.collections.submissions import _audit, _require_admin, accepted_path
from fivesafes.errors import FivesafesError, PolicyRefusal

COLLECTION = "ss_checkpoint"
NATIONAL = "national"


def grants(session: Session) -> list[CheckpointGrant]:
    """Every grant, by user and authority."""
    return list(
        session.scalars(
            select(CheckpointGrant).order_by(CheckpointGrant.user_id, CheckpointGrant.provider_code)
        )
    )


def grant(session: Session, actor: str, user: str, authority: str | None) -> CheckpointGrant:
    """Let ``user`` see the checkpoint of ``authority`` (a provider's code), or of
    every authority (``None``: a national stakeholder). Administrators only."""
    admin = get_user(session, actor)
    _require_admin(admin, "grant the checkpoint")
    who = get_user(session, user)
    if (
        authority is not None
        and session.scalar(select(Provider).where(Provider.code == authority)) is None
    ):
        raise FivesafesError(f"no provider has the code {authority!r}; add it first")
    existing = session.scalar(
        select(CheckpointGrant).where(
            CheckpointGrant.user_id == who.id,
            CheckpointGrant.provider_code.is_(None)
            if authority is None
            else CheckpointGrant.provider_code == authority,
        )
    )
    if existing is not None:
        return existing
    g = CheckpointGrant(user_id=who.id, provider_code=authority, granted_by_id=admin.id)
    session.add(g)
    session.flush()
    _audit(
        session,
        actor,
        "collections.checkpoint.grant",
        f"user:{who.name}",
        {"authority": authority or NATIONAL},
    )
    session.commit()
    return g


def revoke(session: Session, actor: str, grant_id: int) -> None:
    """Take a grant back. Administrators only."""
    _require_admin(get_user(session, actor), "revoke a checkpoint grant")
    g = session.get(CheckpointGrant, grant_id)
    if g is None:
        raise FivesafesError(f"there is no checkpoint grant {grant_id}")
    _audit(
        session,
        actor,
        "collections.checkpoint.revoke",
        f"user:{g.user.name}",
        {"authority": g.provider_code or NATIONAL},
    )
    session.delete(g)
    session.commit()


def scope(session: Session, user: str) -> set[str] | None:
    """What ``user`` may see: ``None`` nothing; an empty set every authority (a
    national grant); else the codes of the authorities granted."""
    who = get_user(session, user)
    codes = [
        g.provider_code
        for g in session.scalars(select(CheckpointGrant).where(CheckpointGrant.user_id == who.id))
    ]
    if not codes:
        return None
    if None in codes:
        return set()
    return {c for c in codes if c is not None}


def require_grant(session: Session, user: str) -> set[str]:
    """The user's scope, or a refusal saying how to get one."""
    found = scope(session, user)
    if found is None:
        raise PolicyRefusal(
            "the Social Services Checkpoint is not published; only the people an "
            "administrator grants it may see it (fivesafes collections checkpoint grant)"
        )
    return found


@dataclass
class AuthorityView:
    """One authority's checkpoint: its latest month beside the month before."""

    code: str
    name: str
    latest: str
    previous: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)  # measure, label, value, before
    series: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # measure -> months


@dataclass
class Dashboard:
    national: bool
    authorities: list[AuthorityView]
    months: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "national": self.national,
            "months": self.months,
            "authorities": [
                {
                    "code": a.code,
                    "name": a.name,
                    "latest": a.latest,
                    "previous": a.previous,
                    "measures": a.rows,
                }
                for a in self.authorities
            ],
        }


def dashboard(session: Session, actor: str, directory: Path | None = None) -> Dashboard:
    """The checkpoint as ``actor`` may see it (refused without a grant); the view is
    audited, naming the authorities shown."""
    allowed = require_grant(session, actor)
    labels = load_spec(COLLECTION).code_lists["measure"]
    path = accepted_path(directory)
    rows: list[tuple[Any, ...]] = []
    if path.exists():
        with duckdb.connect(str(path), read_only=True) as con:
            tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
            if COLLECTION in tables:
                where, params = "", []
                if allowed:
                    where = f"WHERE c.provider IN ({', '.join('?' for _ in allowed)})"
                    params = sorted(allowed)
                rows = con.execute(
                    "SELECT c.provider, coalesce(p.name, c.provider), c.collection_year, "
                    f"c.measure, c.value FROM {COLLECTION} c "
                    f"LEFT JOIN _providers p ON p.code = c.provider {where} "
                    "ORDER BY 1, 3, 4",
                    params,
                ).fetchall()
    spec = load_spec(COLLECTION)
    by_la: dict[str, AuthorityView] = {}
    values: dict[tuple[str, int, str], int] = {}
    periods: dict[str, set[int]] = {}
    for code, name, period, measure, value in rows:
        values[(code, period, measure)] = value
        periods.setdefault(code, set()).add(period)
        by_la.setdefault(code, AuthorityView(code, name, "", None))
    for code, view in by_la.items():
        months = sorted(periods[code])
        latest, before = months[-1], (months[-2] if len(months) > 1 else None)
        view.latest = spec.period_label(latest)
        view.previous = None if before is None else spec.period_label(before)
        for measure, label in labels.items():
            view.rows.append(
                {
                    "measure": measure,
                    "label": label,
                    "value": values.get((code, latest, measure)),
                    "before": None if before is None else values.get((code, before, measure)),
                }
            )
            view.series[measure] = [
                (spec.period_label(m), values[(code, m, measure)])
                for m in months
                if (code, m, measure) in values
            ]
    shown = sorted(by_la)
    _audit(
        session,
        actor,
        "collections.checkpoint.view",
        COLLECTION,
        {"scope": NATIONAL if not allowed else sorted(allowed), "authorities": shown},
    )
    session.commit()
    return Dashboard(
        national=not allowed,
        authorities=[by_la[c] for c in shown],
        months=len({p for ps in periods.values() for p in ps}),
    )
