"""Labels the web app shows that are defined outside it (course formats and fees,
accreditations, project roles), marked here for the message catalogue: the pages
translate them with the ``translate`` filter (``{{ course.format_label | translate }}``)
or :class:`fivesafes.web.i18n.Labels`. Extraction (``babel.cfg``) reads this module,
not the domain modules, which stay free of the web's languages."""

from __future__ import annotations

from fivesafes.web.i18n import N_

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
)
