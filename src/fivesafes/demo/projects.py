"""The demo site's projects: one approved project with the demo researchers as
members (the second invited in the application, who accepts) and a release
request awaiting review (a table with small cells, so the rules flag it and two
checkers must approve it), and one application awaiting the approval panel.
Called by ``fivesafes web seed-demo`` (see :data:`fivesafes.demo.site.SEEDERS`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.datasets import DATASETS
from fivesafes.outputs import airlock
from fivesafes.projects import applications as apps
from fivesafes.projects.release import checked_table

APPROVED_TITLE = "School attainment trajectories and later contact with the justice system"
PENDING_TITLE = "The pay gap of immigrant employees and years of residence"

#: A table of counts by area and ethnic group: several cells are below the
#: threshold, so the automatic check suppresses them and flags the output.
FLAGGED_TABLE = """local_authority,ethnicity,persons
E06000001,White,412
E06000001,Asian,37
E06000001,Black,4
E06000001,Mixed,2
E06000002,White,388
E06000002,Asian,51
E06000002,Black,26
E06000002,Mixed,7
"""


def seed(session: Session, users: dict[str, User]) -> None:
    """Seed the demo projects (users maps role names to the demo users)."""
    admin = users["administrator"]
    owner = users["data_owner"]
    panel = users["panel_member"]
    lead = users["researcher"]
    other = users.get("researcher2")
    for d in DATASETS:
        apps.assign_owner(session, admin, d.name, owner.name)

    approved = apps.save_draft(
        session,
        lead,
        apps.ApplicationInput(
            title=APPROVED_TITLE,
            lay_summary=(
                "We follow pupils' attainment through school and ask whether those whose "
                "results fall year after year are more often convicted as young adults, so "
                "that schools and services can offer help earlier."
            ),
            public_benefit=(
                "Earlier, better targeted support for pupils at risk, and evidence for "
                "local authorities planning youth services."
            ),
            organisation="University of Northbridge",
            # The datasets of the example study attainment_convictions, which the
            # demo runs on this project's workspace as a job.
            datasets=["pupil_census", "justice_offences", "cla_episodes", "areas"],
            members="" if other is None else f"{other.name}, researcher",
        ),
    )
    if other is not None:  # listed in the application: invited; a member once they accept
        invitation = apps.open_invitation(session, approved.id, other.id)
        assert invitation is not None
        apps.answer_invitation(session, invitation.id, other, accept=True)
    apps.submit(session, approved.id, lead)
    apps.review(session, approved.id, panel, "panel", "approve", "A clear public benefit.")
    for name in apps.dataset_names(approved):
        apps.review(session, approved.id, owner, "owner", "approve", "", dataset=name)

    assert approved.slug is not None
    req = airlock.create_request(
        session,
        lead.name,
        approved.slug,
        "Offending by area and ethnic group",
        co_authors=[] if other is None else [other.name],
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "offenders_by_area.csv"
        source.write_text(FLAGGED_TABLE)
        (Path(tmp) / "safe").mkdir()
        safe, report = checked_table(source, "persons", Path(tmp) / "safe")
        airlock.add_output(
            session,
            req.id,
            lead.name,
            "offenders_by_area.csv",
            safe,
            "Distinct persons with a recorded offence by local authority and ethnic group, "
            "2015-2020; small cells suppressed by the rules.",
            check_report=report,
        )
    airlock.submit(session, req.id, lead.name)
    airlock.record_automatic_check(session, req.id)

    applicant = other or lead
    pending = apps.save_draft(
        session,
        applicant,
        apps.ApplicationInput(
            title=PENDING_TITLE,
            lay_summary=(
                "How the pay of employees born abroad compares with that of others, and how "
                "the gap changes with years of residence and English proficiency."
            ),
            public_benefit="Evidence for policies on language training and recognition "
            "of qualifications.",
            organisation="Institute for Labour Studies",
            datasets=["earnings_survey", "census_2021"],
        ),
    )
    apps.submit(session, pending.id, applicant)
