"""Curation of a project workspace: derived variables as documented steps that re-run
only when their inputs change, a generated data dictionary, and reconciliation of an
attribute recorded differently in several linked sources."""

from __future__ import annotations

from fivesafes.analysis.curation.dictionary import data_dictionary, write_dictionary
from fivesafes.analysis.curation.reconcile import Reconciliation, reconcile
from fivesafes.analysis.curation.standard_steps import standard_pipeline, standard_steps
from fivesafes.analysis.curation.steps import CurationError, Pipeline, RunSummary, Step

__all__ = [
    "CurationError",
    "Pipeline",
    "Reconciliation",
    "RunSummary",
    "Step",
    "data_dictionary",
    "reconcile",
    "standard_pipeline",
    "standard_steps",
    "write_dictionary",
]
