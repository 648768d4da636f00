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
    # fivesafes/collections/templates: the static publication pages' own words that
    # no web page shows (the others are the statistics pages' messages)
    N_("released"),
)

#: The form errors the domain modules give in fixed words (``errors[field] = "..."``,
#: which a test reads from the modules); the forms translate each error they show
#: (``field_error`` in :mod:`fivesafes.web.templating`). Errors built with values
#: (f-strings) stay English.
DOMAIN_FORM_ERRORS = (
    # fivesafes.jobs.queue
    N_("Give the job a title."),
    N_("Choose a Python script (it must not be empty)."),
    N_("Keep the title under 200 characters."),
    # fivesafes.people.accreditation
    N_("Enter the person's e-mail address or user name"),
    N_("Enter the accreditation as lower-case letters and underscores"),
    N_("Enter the number of days as a whole number of at least 1"),
    # fivesafes.people.catalogue
    N_("Enter a short name for the address, like justice-data"),
    N_("Choose self-paced, live online or in person"),
    N_("Enter how long it takes, like 3 hours"),
    N_("Enrolment must close on or after the day it opens"),
    N_("Use lower-case letters, digits and underscores, like safe_researcher"),
    N_("Enter a title"),
    N_("Choose reading or quiz"),
    N_("Write the lesson (Markdown)"),
    N_("Enter the question"),
    N_("Enter at least two options, one a line"),
    N_("Enter the number of the right option, like 2"),
    N_("Use lower-case letters, digits and single dashes, like sdc-primer"),
    N_("Choose article, video or podcast"),
    N_("Enter a web address starting with https://"),
    N_("Write the article (Markdown) or give its web address"),
    N_("Use lower-case letters, digits and single dashes (at most 80)"),
    N_("Enter the fee in pounds, like 0 or 120.50"),
    N_("Enter the pass mark as a percentage, like 80"),
    N_("Enter a percentage from 0 to 100"),
    # fivesafes.people.workgroups.forms
    N_("Enter the workgroup's address, like courts-justice"),
    N_("Enter the workgroup's theme, like Courts & Justice"),
    N_("Enter a description: who the workgroup is for and what it does"),
    N_("Enter the session's title"),
    N_("Enter the date and time the session starts"),
    N_("Enter how long the session lasts, in minutes"),
    N_("Choose in person or live online"),
    N_("Enter the fee in pounds, like 0 for free or 25.50"),
    N_("Fees are in pounds sterling (GBP)"),
    N_("Enter the resource's title"),
    N_("Give a link or a file, not both"),
    N_(
        "The address may have only lower-case letters, digits and single hyphens (80 "
        "characters at most), like courts-justice"
    ),
    N_("Enter the start as a date and time, like 2027-03-04T14:00"),
    N_("Enter where the session meets"),
    N_("Enter the number of places as a whole number, 1 or more"),
    N_("Enter the link as a web address, like https://…"),
    N_("Give a link, or choose a file to upload"),
    N_("Enter the link of the online session (for enrolled members)"),
    # fivesafes.projects.applications
    N_("Choose at least one dataset."),
    # fivesafes.projects.release
    N_("Give the output a name."),
    N_("Describe what the output shows and how it was made."),
    N_("Choose a workspace file or upload one (it must not be empty)."),
    N_("Describe what the model predicts, from what, and how it was fitted."),
    N_("Name the target column (the label the model predicts)."),
    N_("Use letters, digits, spaces, '.', '_' and '-', starting with a letter."),
    N_("Name the amount column: with microdata, the column holding each contribution's amount."),
    N_("A person column is for microdata: choose microdata, or leave it blank."),
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
