"""Linkage by the trusted third party: every person record in the identifier
zone is linked, with Splink on DuckDB, into one population of persons, written
as ``idz.person_map(record_id, dataset, person_id)``.

Public API: :func:`link`, :class:`LinkSummary`, :data:`DEFAULT_THRESHOLD`,
:func:`measured_quality` (against a synthetic world's truth).
"""

from fivesafes.data.link.quality import measured_quality
from fivesafes.data.link.run import DEFAULT_THRESHOLD, LinkSummary, link

__all__ = ["DEFAULT_THRESHOLD", "LinkSummary", "link", "measured_quality"]
