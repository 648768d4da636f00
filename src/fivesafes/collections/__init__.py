"""Data collections: providers submit returns, fivesafes checks them against the
collection's rules (a YAML file a data manager edits), reports every error and
warning, and stores accepted returns split, for research and publication.

See docs/collections.md. Modules: :mod:`.spec` (rule files), :mod:`.rules` (the
rule engine in DuckDB), :mod:`.reader` (the file checks), :mod:`.submissions`
(providers, submit, explain, accept, who sees what), :mod:`.report`,
:mod:`.models` (tables), :mod:`.demo` (one submission cycle).
"""

from fivesafes.collections.spec import CollectionSpec, Rule, SpecError, available, load_spec
from fivesafes.collections.submissions import (
    accept,
    accepted_path,
    add_member,
    add_provider,
    collections_dir,
    explain,
    get_submission,
    list_submissions,
    submit,
)

__all__ = [
    "CollectionSpec",
    "Rule",
    "SpecError",
    "accept",
    "accepted_path",
    "add_member",
    "add_provider",
    "available",
    "collections_dir",
    "explain",
    "get_submission",
    "list_submissions",
    "load_spec",
    "submit",
]
