"""A project workspace built from a synthetic world for the curation, profiling and
missingness tests.

The world goes through the real ingest (identifiers apart from content) and the
real provisioning (per-project pseudonyms); only the linkage is replaced by the
truth (``truth/records.csv`` says which person each provider row is about), so
that these tests measure curation and missingness, not linkage errors. The truth
is written only into the identifier zone's person map, as the linkage would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from fivesafes.data import ingest
from fivesafes.data.link.run import MAP_TABLE
from fivesafes.data.provision import provision
from fivesafes.data.store import open_store
from fivesafes.synth import WorldConfig, make_world
from shared.fixed_secrets import fixed_project_secrets

#: Datasets of the curation workspace (earnings are not needed, and are big).
WORKSPACE_DATASETS = (
    "pupil_census",
    "justice_offences",
    "cla_episodes",
    "cin_census",
    "hospital_admissions",
    "census_2021",
    "areas",
)


def build_workspace(base: Path, people: int, seed: int) -> Path:
    """Synth → ingest → person map from the truth → provision; the workspace path."""
    world, store = base / "world", base / "store"
    make_world(WorldConfig(people=people, seed=seed), world)
    files = [
        p
        for p in sorted((world / "provider").glob("*.csv"))
        if any(p.name.startswith(d) for d in WORKSPACE_DATASETS)
    ]
    ingest([*files, world / "reference" / "areas.csv"], store)
    truth = pd.read_csv(world / "truth" / "records.csv", usecols=["file", "row", "person_id"])
    with open_store(store) as con:
        con.register("truth", truth)
        union = " UNION ALL ".join(
            f"SELECT record_id, '{d}' AS dataset, source_file, source_row FROM idz.\"{d}\""
            for d in WORKSPACE_DATASETS
            if d != "areas"
        )
        con.execute(
            f"CREATE OR REPLACE TABLE idz.{MAP_TABLE} AS SELECT r.record_id, r.dataset, "
            "CAST(t.person_id AS BIGINT) AS person_id "
            f"FROM ({union}) r JOIN truth t ON t.file = r.source_file AND t.row = r.source_row"
        )
        con.unregister("truth")
    with fixed_project_secrets("curation-world"):
        return provision(store, "curation", list(WORKSPACE_DATASETS)).workspace


_BUILT: dict[tuple[int, int], Path] = {}


def shared_workspace(tmp_path_factory: pytest.TempPathFactory, people: int, seed: int) -> Path:
    """One workspace per (people, seed) and test process, shared by the test modules
    that ask for it: read it only, or copy it (:func:`copy_workspace`)."""
    key = (people, seed)
    if key not in _BUILT:
        _BUILT[key] = build_workspace(tmp_path_factory.mktemp(f"ws-{people}-{seed}"), people, seed)
    return _BUILT[key]


def copy_workspace(source: Path, target_dir: Path) -> Path:
    target = target_dir / "workspace.duckdb"
    shutil.copyfile(source, target)
    return target
