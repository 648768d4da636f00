"""Labels the web app shows that are defined outside it (course formats and fees,
accreditations, project roles), marked here for the message catalogue: the pages
translate them with the ``translate`` filter (``{{ course.format_label | translate }}``)
or :class:`fivesafes.web.i18n.Labels`. Extraction (``babel.cfg``) reads this module,
not the domain modules, which stay free of the web's languages."""

from __future__ import annotations

from typing import Any

from fivesafes.web.i18n import N_, _, long_date

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
    # fivesafes/collections/templates: the static publication pages' own words that
    # no web page shows (the others are the statistics pages' messages)
    N_("released"),
)


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
