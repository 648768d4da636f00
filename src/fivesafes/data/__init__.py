"""Safe data: split-file ingest into a store of two zones (identifiers apart
from content). Linkage and provisioning build on this store.

Public API: :func:`ingest`, :func:`open_store`, :func:`store_summary`.
"""

from fivesafes.data.ingest import IngestSummary, ingest
from fivesafes.data.store import open_store
from fivesafes.data.store import summary as store_summary

__all__ = ["IngestSummary", "ingest", "open_store", "store_summary"]
