"""Linkage quality measured against a truth file (synthetic worlds only).

A synthetic world's ``truth/records.csv`` says which person each provider row
belongs to. Joined to the identifier zone by file and row, it gives pairwise
precision and recall: of the pairs of records put in the same person, how many
truly are one person, and of the pairs that truly are, how many were found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fivesafes.data.link.run import MAP_TABLE
from fivesafes.data.store import open_store, table_names
from fivesafes.errors import FivesafesError


def _pairs(groups: pd.Series) -> int:
    sizes = groups.value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


def measured_quality(store: Path, truth_records: Path) -> dict[str, Any]:
    """Pairwise precision, recall and F1 of the store's person map against the truth."""
    if not truth_records.exists():
        raise FivesafesError(f"no truth file at {truth_records}; quality needs a synthetic world")
    truth = pd.read_csv(truth_records, usecols=["dataset", "file", "row", "person_id"])
    with open_store(store, read_only=True) as con:
        tables = table_names(con, "idz")
        if MAP_TABLE not in tables:
            raise FivesafesError("the store is not linked yet; run `fivesafes link` first")
        datasets = [
            r[0] for r in con.execute(f"SELECT DISTINCT dataset FROM idz.{MAP_TABLE}").fetchall()
        ]
        union = " UNION ALL ".join(
            f"SELECT record_id, '{ds}' AS dataset, source_file, source_row FROM idz.\"{ds}\""
            for ds in datasets
        )
        con.register("truth", truth)
        ev = con.sql(
            f"""
            SELECT m.person_id, t.person_id AS true_id
            FROM idz.{MAP_TABLE} m
            JOIN ({union}) r USING (record_id)
            JOIN truth t ON t.dataset = r.dataset AND t.file = r.source_file
                AND t.row = r.source_row
            """
        ).df()
    found = _pairs(ev["person_id"])
    true = _pairs(ev["true_id"])
    both = _pairs(ev["person_id"].astype(str) + "|" + ev["true_id"].astype(str))
    precision = both / found if found else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "records": len(ev),
        "persons_found": int(ev["person_id"].nunique()),
        "persons_true": int(ev["true_id"].nunique()),
        "pairs_found": found,
        "pairs_true": true,
        "pairs_correct": both,
        "false_matches": found - both,
        "missed_matches": true - both,
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1, 5),
    }
