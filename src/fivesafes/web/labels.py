"""Labels the web app shows that are defined outside it (course formats and fees,
accreditations, project roles, membership rules), marked here for the message
catalogue: the pages translate them with the ``translate`` filter
(``{{ course.format_label | translate }}``) or :class:`fivesafes.web.i18n.Labels`.
Extraction (``babel.cfg``) reads this module, not the domain modules, which stay free
of the web's languages."""

from __future__ import annotations

from typing import Any

from fivesafes.datasets import BY_NAME
from fivesafes.web.i18n import N_, _, gettext_plain, long_date

MARKED = (
    # fivesafes.people.models.CourseFormat.label, Course.fee_label
    N_("Self-paced online"),
    N_("Live online"),
    N_("In person"),
    N_("Free"),
    # fivesafes.people.accreditation.LABELS
    N_("Safe researcher"),
    N_("Output checker"),
    # fivesafes.projects.applications.MEMBER_ROLE_LABELS
    N_("Lead researcher"),
    N_("Researcher"),
    # fivesafes.people.catalogue.PLAN_ROLES and OUTPUT_KINDS, capitalised (the course
    # form's choices)
    N_("Principal investigator"),
    N_("Data owner"),
    N_("Linkage operator"),
    N_("Releasing trained models"),
    # fivesafes.people.models.ResourceKind, capitalised
    N_("Article"),
    N_("Video"),
    N_("Podcast"),
    # fivesafes.datasets.Kind (a column's type, in the featured datasets' dictionary)
    N_("string"),
    N_("integer"),
    N_("number"),
    N_("date"),
    N_("code"),
    N_("flag"),
    # fivesafes.projects.applications.RULES (the membership rules)
    N_(
        "A lead researcher may add researchers (not leads) whose registered organisation "
        "is the project's, without asking the approvers again"
    ),
    # fivesafes.outputs: a cell's verdict (primary.STATUSES), secondary suppression's
    # state (check.Report.secondary) and a model check's verdict, shown in the
    # disclosure reports of the airlock
    N_("pass"),
    N_("round"),
    N_("review"),
    N_("suppress"),
    N_("done"),
    N_("pending"),
    N_("not needed"),
    N_("safe"),
    N_("unsafe"),
    # fivesafes.projects.applications.provision: the note of a workspace not provisioned
    N_(
        "No data store is configured (set $FIVESAFES_STORE); an administrator provisions "
        "the workspace once there is one."
    ),
    # fivesafes.collections.report.STATUS_WORDS (a submitted return's state)
    N_("Rejected: the return has errors. Correct them and submit the file again."),
    N_(
        "Waiting for explanations: the return has no errors, but every warning needs an "
        "explanation before it can be accepted."
    ),
    N_("Ready to accept: no errors, and every warning is explained."),
    N_("Accepted."),
    N_("Superseded by a later submission."),
    # fivesafes.collections.publish_html: the static publication pages' own words that
    # no web page shows (the others are the statistics pages' messages)
    N_("released"),
)


#: The roles a course can be required for (fivesafes.people.catalogue.PLAN_ROLES).
PLAN_ROLE_LABELS = {
    "researcher": N_("Researcher"),
    "principal_investigator": N_("Principal investigator"),
    "output_checker": N_("Output checker"),
    "data_owner": N_("Data owner"),
    "linkage_operator": N_("Linkage operator"),
}


def prepares_for(course: Any) -> list[str]:
    """What the course prepares for, in words, in the reader's language: the web's
    version of :func:`fivesafes.people.catalogue.prepares_for`."""
    out: list[str] = []
    if course.required_for_everyone:
        out.append(_("everyone who works in the research environment"))
    for role in course.required_for_roles or []:
        label = gettext_plain(PLAN_ROLE_LABELS.get(role, role))
        out.append(_("the %(role)s role", role=label.lower()))
    for name in course.required_for_datasets or []:
        ds = BY_NAME.get(name)
        out.append(_("%(dataset)s data", dataset=ds.title if ds else name))
    for kind in course.required_for_outputs or []:
        if kind == "model":
            out.append(_("releasing trained models"))
        else:
            out.append(_("releasing %(kind)s outputs", kind=kind))
    return out


def enrolment_label(status: Any, course: Any) -> str:
    """The words of a course's enrolment status (:func:`fivesafes.people.catalogue.
    enrolment_status`) in the reader's language, its dates included."""
    if status.state == "opens" and course.enrolment_opens_on is not None:
        return _("Enrolment opens on %(day)s", day=long_date(course.enrolment_opens_on))
    if status.state == "closed" and not course.published:
        return _("Not published")
    if status.state == "closed" and course.enrolment_closes_on is not None:
        return _("Enrolment closed on %(day)s", day=long_date(course.enrolment_closes_on))
    if status.state == "full":
        return _("Full: every place is taken")
    if status.state == "open":
        if course.enrolment_closes_on is not None:
            return _("Open for enrolment until %(day)s", day=long_date(course.enrolment_closes_on))
        return _("Open for enrolment")
    return str(status.label)
