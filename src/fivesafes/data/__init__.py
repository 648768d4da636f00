"""Safe data: split-file ingest into a store of two zones (identifiers apart
from content). Linkage and provisioning build on this store.

Public API: :func:`ingest`, :func:`open_store`, :func:`store_summary`,
:func:`provision` (a project workspace); linkage is in :mod:`fivesafes.data.link`.
"""

from fivesafes.data.ingest import IngestSummary, ingest
from fivesafes.data.provision import ProvisionSummary, provision
from fivesafes.data.store import open_store
from fivesafes.data.store import summary as store_summary

__all__ = [
    "IngestSummary",
    "ProvisionSummary",
    "ingest",
    "open_store",
    "provision",
    "store_summary",
]
