"""One submission cycle on the synthetic returns, for ``make demo``.

:func:`run_cycle` sets up the collecting body (an administrator), the 22 local
authorities as providers, and one data owner per authority; then, for the
authority whose numbers jump (:data:`fivesafes.synth.returns.JUMP_LA`):

1. its return for the year before is submitted and accepted (the baseline the
   year-on-year comparisons use);
2. its return for the demo year, with mistakes planted, is submitted and
   rejected (errors block acceptance), with the report saying where each is;
3. the corrected file is submitted: no errors, but the numbers changed more
   than the rules allow, so it waits for explanations; the data owner explains
   each warning and the submission is accepted, superseding nothing (the
   rejected one stays rejected).

The other authorities' clean returns for both years are submitted and
accepted too, so that the accepted-collections table holds every authority
(the publication reads it).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.collections import submissions as subs
from fivesafes.collections.models import Submission
from fivesafes.collections.publish import Publication, write_index
from fivesafes.collections.publish_collections import publish_accepted, publish_world
from fivesafes.collections.publish_indicators import publish_indicators
from fivesafes.collections.spec import load_spec
from fivesafes.outputs.policy import Policy, tre_policy
from fivesafes.synth import care_returns as cr
from fivesafes.synth import returns as rt
from fivesafes.synth.indicators import make_indicators

ADMIN = "collections-admin"
DEMO_YEAR = rt.JUMP_YEAR


def owner_name(index: int) -> str:
    return f"data-{rt.la_name(index).lower().replace(' ', '-')}"


def _submit_accept(
    session: Session,
    index: int,
    collection: str,
    year: int,
    inbox: Path,
    directory: Path,
    cfg: rt.ReturnsConfig,
    authority: rt.Authority,
) -> Submission:
    """Submit a clean return; explain any warning (a demo explanation) and accept it."""
    table = (rt.cla_return if collection == "cla_episodes" else rt.cin_return)(authority, year)
    path = inbox / collection / f"{rt.la_code(index)}_{year}.csv"
    rt.write_csv(table, path)
    owner = owner_name(index)
    result = subs.submit(session, owner, collection, year, path, directory=directory)
    sub = result.submission
    for rule_id in sorted(sub.issue_counts):
        subs.explain(
            session,
            owner,
            sub.id,
            rule_id,
            "Checked against our case management system: the change is real.",
            directory=directory,
        )
    return subs.accept(session, owner, sub.id, directory=directory)


def run_cycle(
    out_dir: Path,
    *,
    seed: int = 1,
    db_url: str | None = None,
    collections: tuple[str, ...] = ("cla_episodes",),
    all_authorities: bool = True,
) -> dict[str, Any]:
    """Run the cycle in ``out_dir`` (its own state database ``collections.db`` unless
    ``db_url`` is given; collections folder ``out_dir/collections``); returns what
    happened and the paths of the reports."""
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    directory = out_dir / "collections"
    inbox = out_dir / "returns"
    url = db_url or f"sqlite:///{out_dir / 'collections.db'}"
    migrate(url)
    cfg = rt.ReturnsConfig(seed=seed)
    session = session_factory(url)()
    try:
        subs.reconcile(session, directory)
        known = {p.code for p in subs.list_providers(session)}
        from fivesafes.appdb.users import find_user

        if find_user(session, ADMIN) is None:
            add_user(session, ADMIN, "administrator")
        for i, (code, name) in enumerate(rt.authorities(cfg)):
            if find_user(session, owner_name(i)) is None:
                add_user(session, owner_name(i), "data_owner", actor=ADMIN)
            if code not in known:
                subs.add_provider(session, code, name, actor=ADMIN)
                subs.add_member(session, code, owner_name(i), actor=ADMIN)

        i = rt.JUMP_LA
        owner = owner_name(i)
        authority = rt.make_authority(cfg, i)
        collection = "cla_episodes"
        baseline = _submit_accept(
            session, i, collection, DEMO_YEAR - 1, inbox, directory, cfg, authority
        )

        clean = rt.cla_return(authority, DEMO_YEAR)
        bad, planted = rt.with_errors(clean, collection, np.random.default_rng([seed, 7]))
        bad_path = inbox / "with-errors" / f"{rt.la_code(i)}_{DEMO_YEAR}.csv"
        rt.write_csv(bad, bad_path)
        rejected = subs.submit(session, owner, collection, DEMO_YEAR, bad_path, directory=directory)

        good_path = inbox / "corrected" / f"{rt.la_code(i)}_{DEMO_YEAR}.csv"
        rt.write_csv(clean, good_path)
        corrected = subs.submit(
            session, owner, collection, DEMO_YEAR, good_path, directory=directory
        )
        waiting = corrected.submission.status
        explained = []
        for rule_id in sorted(corrected.submission.issue_counts):
            text = (
                f"{rt.la_name(i)} opened two new children's homes in {DEMO_YEAR} and took in "
                "children placed out of area before; the rise is real."
            )
            subs.explain(
                session, owner, corrected.submission.id, rule_id, text, directory=directory
            )
            explained.append(rule_id)
        accepted = subs.accept(session, owner, corrected.submission.id, directory=directory)

        others = 0
        if all_authorities:
            for j in range(cfg.authorities):
                a = authority if j == i else rt.make_authority(cfg, j)
                for coll in collections:
                    for year in (DEMO_YEAR - 1, DEMO_YEAR):
                        if j == i and coll == collection:
                            continue
                        _submit_accept(session, j, coll, year, inbox, directory, cfg, a)
                        others += 1
        summary = {
            "provider": rt.la_code(i),
            "provider_name": rt.la_name(i),
            "collection": collection,
            "year": DEMO_YEAR,
            "baseline": subs.submission_dict(baseline, directory),
            "rejected": subs.submission_dict(rejected.submission, directory),
            "planted_errors": [p.to_dict() for p in planted],
            "corrected": {
                **subs.submission_dict(accepted, directory),
                "status_before_explanations": waiting,
                "warnings_explained": explained,
            },
            "other_submissions_accepted": others,
            "reports": {
                "rejected_html": str(rejected.report_html),
                "rejected_csv": str(rejected.report_csv),
                "accepted_html": str(subs.submission_dir(directory, accepted.id) / "report.html"),
                "accepted_csv": str(subs.submission_dir(directory, accepted.id) / "report.csv"),
            },
            "accepted_db": str(subs.accepted_path(directory)),
            "care_cycles": care_cycles(
                session, inbox, directory, cfg, seed, all_authorities=all_authorities
            ),
            "database": url,
            "seconds": round(time.perf_counter() - t0, 2),
        }
    finally:
        session.close()
    return summary


def _care_return(collection: str, cfg: rt.ReturnsConfig, index: int, period: int) -> Any:
    if collection == "adults_census":
        return cr.adults_return(cr.make_adults(cfg, index), period)
    if collection == "carers_census":
        return cr.carers_return(cr.make_carers(cfg, index), period)
    if collection == "pif_measures":
        return cr.pif_return(cfg, index, period)
    return cr.checkpoint_return(cfg, index, period)


#: The two periods of each cycle: the baseline, and the period returned with
#: mistakes, then corrected.
CARE_PERIODS = {
    "adults_census": (cr.FIRST_YEARS["adults_census"], cr.FIRST_YEARS["adults_census"] + 1),
    "carers_census": (cr.FIRST_YEARS["carers_census"], cr.FIRST_YEARS["carers_census"] + 1),
    "pif_measures": (rt.LAST_YEAR - 2, rt.LAST_YEAR - 1),
    "ss_checkpoint": (rt.LAST_YEAR * 100 + 12, (rt.LAST_YEAR + 1) * 100 + 1),
}


def care_cycles(
    session: Session,
    inbox: Path,
    directory: Path,
    cfg: rt.ReturnsConfig,
    seed: int,
    *,
    all_authorities: bool = True,
) -> dict[str, Any]:
    """One cycle of each of the adults', carers' and aggregate collections for the
    jump authority (baseline accepted; the next period rejected for its mistakes,
    corrected, its warnings explained, accepted), and the other authorities' clean
    returns of both periods accepted (of the checkpoint, only the jump authority's:
    it is never published, so nothing needs them all)."""
    out: dict[str, Any] = {}
    i = rt.JUMP_LA
    owner = owner_name(i)
    for collection, (first, second) in CARE_PERIODS.items():
        label = load_spec(collection).period_label
        folders = {"baseline": first, "with-errors": second, "corrected": second}
        paths = {
            k: inbox / k / collection / f"{rt.la_code(i)}_{label(v)}.csv"
            for k, v in folders.items()
        }
        rt.write_csv(_care_return(collection, cfg, i, first), paths["baseline"])
        base = subs.submit(
            session, owner, collection, first, paths["baseline"], directory=directory
        )
        for rule_id in sorted(base.submission.issue_counts):
            subs.explain(
                session, owner, base.submission.id, rule_id, "Checked.", directory=directory
            )
        subs.accept(session, owner, base.submission.id, directory=directory)
        clean = _care_return(collection, cfg, i, second)
        bad, planted = cr.with_errors(clean, collection, np.random.default_rng([seed, 8]))
        rt.write_csv(bad, paths["with-errors"])
        rejected = subs.submit(
            session, owner, collection, second, paths["with-errors"], directory=directory
        )
        rt.write_csv(clean, paths["corrected"])
        corrected = subs.submit(
            session, owner, collection, second, paths["corrected"], directory=directory
        ).submission
        explained = sorted(corrected.issue_counts)
        for rule_id in explained:
            text = f"{rt.la_name(i)} changed how it records this in {label(second)}; it is real."
            subs.explain(session, owner, corrected.id, rule_id, text, directory=directory)
        accepted = subs.accept(session, owner, corrected.id, directory=directory)
        others = 0
        if all_authorities and collection != "ss_checkpoint":
            for j in range(cfg.authorities):
                if j == i:
                    continue
                for period in (first, second):
                    path = inbox / collection / f"{rt.la_code(j)}_{label(period)}.csv"
                    rt.write_csv(_care_return(collection, cfg, j, period), path)
                    sub = subs.submit(
                        session, owner_name(j), collection, period, path, directory=directory
                    ).submission
                    for rule_id in sorted(sub.issue_counts):
                        subs.explain(
                            session, owner_name(j), sub.id, rule_id, "Checked.", directory=directory
                        )
                    subs.accept(session, owner_name(j), sub.id, directory=directory)
                    others += 1
        out[collection] = {
            "period": label(second),
            "rejected": {
                "id": rejected.submission.id,
                "errors": rejected.submission.errors,
                "report_html": str(rejected.report_html),
            },
            "planted_errors": [p.to_dict() for p in planted],
            "accepted": {"id": accepted.id, "warnings_explained": explained},
            "other_submissions_accepted": others,
        }
    return out


def seed(session: Session, users: dict[str, Any]) -> None:
    """Web demo seeder (``fivesafes.demo.site.SEEDERS`` may list
    ``"fivesafes.demo.collections:seed"``): the jump authority as a provider, with
    the demo data owner as its member, so the Collections pages can be tried."""
    code, name = rt.la_code(rt.JUMP_LA), rt.la_name(rt.JUMP_LA)
    owner = users.get("data_owner")
    if owner is None or code in {p.code for p in subs.list_providers(session)}:
        return
    subs.add_provider(session, code, name)
    subs.add_member(session, code, owner.name)


def publish_demo(
    out_dir: str | Path,
    accepted: str | Path | None = None,
    world: str | Path | None = None,
    indicators_csv: str | Path | None = None,
    seed: int = 1,
    policy: Policy | None = None,
    release_date: date | None = None,
) -> dict[str, Any]:
    """The demo's publication, written under ``out_dir``; returns what it wrote.

    Tables come from the accepted collections (``accepted``: a collections folder
    or its ``accepted.duckdb``) or, without one, from a synthetic world's provider
    files (``world``: its folder) as if every return had been accepted. The
    indicator dashboard reads ``indicators_csv`` or makes synthetic board-area
    indicators (:mod:`fivesafes.synth.indicators`) with ``seed``."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    policy = policy or tre_policy()
    pubs: list[Publication] = []
    if accepted is not None:
        pubs = publish_accepted(accepted, out, policy=policy, release_date=release_date)
    elif world is not None:
        pubs = publish_world(world, out, policy=policy, release_date=release_date)
    # the synthetic input stays in memory: only safe outputs go into the folder
    table = make_indicators(seed=seed) if indicators_csv is None else indicators_csv
    dash = publish_indicators(table, out / "indicators", policy=policy, release_date=release_date)
    index = write_index(out, pubs, [dash.entry(prefix="indicators/")])
    return {
        "index": str(index),
        "tables": [p.to_dict() for p in pubs],
        "indicators": dash.to_dict(),
        "paths": [str(index)]
        + [str(p) for pub in pubs for p in pub.paths.values()]
        + [str(p) for p in dash.paths.values()],
    }
