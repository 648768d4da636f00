"""Reports on a linkage run: its quality, for the operator, and its bias, for researchers.

:func:`link_report` writes two reports into a folder, each as JSON and as a
self-contained HTML page (the report templates ``link_quality.html`` and
``link_bias.html`` of :mod:`fivesafes.reports`, with the site's stylesheet inlined
and the charts matplotlib PNGs embedded with their alternative text; no script,
nothing fetched):

``link-quality``
    For the linkage operator (trusted third party). It shows identifiers (the
    borderline pairs for clerical review), so it stays in the identifier zone.
    The run, the match-weight distribution, the parameters the model learnt,
    links per dataset, the model's own estimate of precision and recall and,
    given a synthetic world's truth, the measured pairwise and cluster quality.

``linkage-bias``
    For researchers: aggregates only, no identifier, no record id, groups of
    fewer than 10 records shown as ``<10``. Who links less often (by sex, age,
    ethnicity as recorded, deprivation, dataset), the standardised differences
    between linked and unlinked records and, given the truth, false-match and
    missed-match rates per group.

A record is *linked* when its person has at least one record in another dataset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from fivesafes.data.link.quality import measured_quality
from fivesafes.data.link.run import BORDERLINE_TABLE, MAP_TABLE, RUNS_TABLE
from fivesafes.data.store import open_store, table_names
from fivesafes.datasets import BY_NAME, ETHNICITY_5, ETHNICITY_NOT_GIVEN
from fivesafes.errors import FivesafesError
from fivesafes.reports.render import figure_png, render

QUALITY = "link-quality"
BIAS = "linkage-bias"
#: Groups of fewer records than this are suppressed in the bias report.
MIN_GROUP = 10
SUPPRESSED = "<10"
#: Ages are counted at this year.
AGE_AT_YEAR = 2024
AGE_BANDS: tuple[tuple[int, int, str], ...] = (
    (0, 15, "0-15"),
    (16, 24, "16-24"),
    (25, 44, "25-44"),
    (45, 64, "45-64"),
    (65, 200, "65+"),
)
#: |standardised difference| above which an attribute is flagged as imbalanced.
FLAG_D = 0.1
#: The columns holding ethnicity as recorded, per dataset.
ETHNICITY_COLUMNS = {
    "pupil_census": "ethnicity",
    "hospital_admissions": "ethnicity",
    "census_2021": "ethnicity",
    "justice_offences": "ethnicity_observed",
}
IDENTIFIER_FIELDS = ("forename", "surname", "date_of_birth", "sex", "postcode")

SEX_LABELS = {"M": "male", "F": "female"}
MISSING = "missing"
NOT_RECORDED = "not recorded"
UNKNOWN = "unknown"
QUINTILES = ("1 (most deprived)", "2", "3", "4", "5 (least deprived)")
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "sex": ("male", "female", MISSING),
    "age_band": (*(b[2] for b in AGE_BANDS), UNKNOWN),
    "ethnicity": (*ETHNICITY_5.values(), MISSING, NOT_RECORDED),
    "deprivation_quintile": (*QUINTILES, UNKNOWN),
}
ATTRIBUTE_TITLES = {
    "sex": "Sex",
    "age_band": f"Age band (at {AGE_AT_YEAR})",
    "ethnicity": "Ethnicity as recorded",
    "deprivation_quintile": "Deprivation quintile of the recorded area",
    "dataset": "Dataset",
    "true_deprivation_quintile": "Deprivation quintile of the true home area (truth)",
    "name_origin": "Origin of the true name (truth)",
}
TRUTH_RATES = ("identifier_error_rate", "false_match_rate", "missed_match_rate")


# --------------------------------------------------------------------------- data


@dataclass
class _Linkage:
    run_id: str
    created_at: str
    run: dict[str, Any]
    records: pd.DataFrame  # one row per mapped record, content attributes and groups
    borderline: pd.DataFrame  # record_id_l, record_id_r, match_weight, match_probability


def _read(store: Path) -> _Linkage:
    with open_store(store, read_only=True) as con:
        tables = table_names(con, "idz")
        if MAP_TABLE not in tables or RUNS_TABLE not in tables:
            raise FivesafesError(f"{store} is not linked yet; run `fivesafes link` first")
        row = con.execute(
            f"SELECT run_id, CAST(created_at AS VARCHAR), run FROM idz.{RUNS_TABLE} "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise FivesafesError(f"{store} has no linkage run recorded; run `fivesafes link`")
        run_id, created_at, run_json = row
        content = table_names(con, "cz")
        datasets = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT dataset FROM idz.{MAP_TABLE} ORDER BY dataset"
            ).fetchall()
        ]
        areas = (
            "SELECT area_code, any_value(deprivation_decile) AS decile "
            "FROM cz.areas GROUP BY area_code"
            if "areas" in content
            else "SELECT NULL::VARCHAR AS area_code, NULL::INTEGER AS decile WHERE false"
        )
        parts = []
        for ds in datasets:
            if ds not in BY_NAME:
                raise FivesafesError(f"the person map names an unknown dataset {ds!r}")
            cols = set(BY_NAME[ds].column_names)
            eth = ETHNICITY_COLUMNS.get(ds)
            eth_sql = f'c."{eth}"' if eth in cols else "NULL::VARCHAR"
            area_sql = "c.area_code" if "area_code" in cols else "NULL::VARCHAR"
            parts.append(
                f"SELECT CAST(m.record_id AS VARCHAR) AS record_id, m.dataset, m.person_id, "
                f"i.source_file, i.source_row, c.sex, CAST(c.birth_year AS INTEGER) AS birth_year, "
                f"{eth_sql} AS ethnicity_raw, "
                f"{'true' if eth in cols else 'false'} AS eth_recorded, "
                f"{area_sql} AS area_code "
                f'FROM idz.{MAP_TABLE} m JOIN idz."{ds}" i USING (record_id) '
                f'LEFT JOIN cz."{ds}" c USING (record_id) '
                f"WHERE m.dataset = '{ds}'"
            )
        if not parts:
            raise FivesafesError(f"{store}'s person map is empty; run `fivesafes link` again")
        records = con.sql(
            f"SELECT r.*, a.decile FROM ({' UNION ALL '.join(parts)}) r "
            f"LEFT JOIN ({areas}) a USING (area_code) ORDER BY r.person_id, r.dataset, "
            "r.source_file, r.source_row"
        ).df()
        borderline = _borderline(con, tables, datasets, run_id)
    return _Linkage(run_id, created_at, json.loads(run_json), records, borderline)


def _borderline(
    con: duckdb.DuckDBPyConnection, tables: set[str], datasets: list[str], run_id: str
) -> pd.DataFrame:
    if BORDERLINE_TABLE not in tables:
        return pd.DataFrame(
            columns=["record_id_l", "record_id_r", "match_weight", "match_probability"]
        )
    pairs = con.execute(
        f"SELECT CAST(record_id_l AS VARCHAR) AS record_id_l, "
        f"CAST(record_id_r AS VARCHAR) AS record_id_r, match_weight, match_probability "
        f"FROM idz.{BORDERLINE_TABLE} WHERE run_id = ? "
        "ORDER BY match_weight DESC, record_id_l, record_id_r",
        [run_id],
    ).df()
    wanted = " UNION ALL ".join(
        f"SELECT CAST(i.record_id AS VARCHAR) AS record_id, '{ds}' AS dataset, "
        + ", ".join(f"CAST(i.{f} AS VARCHAR) AS {f}" for f in IDENTIFIER_FIELDS)
        + f' FROM idz."{ds}" i WHERE i.record_id IN (SELECT record_id_l FROM idz.'
        f"{BORDERLINE_TABLE} UNION SELECT record_id_r FROM idz.{BORDERLINE_TABLE})"
        for ds in datasets
    )
    ids = con.sql(wanted).df().set_index("record_id")
    for side in ("l", "r"):
        side_ids = ids.add_suffix(f"_{side}")
        pairs = pairs.join(side_ids, on=f"record_id_{side}")
    return pairs


def _group_columns(records: pd.DataFrame) -> pd.DataFrame:
    """Add the bias report's groups (sex, age band, ethnicity, deprivation quintile)
    and whether each record is linked to a record of another dataset."""
    r = records.copy()
    r["sex_group"] = r["sex"].map(SEX_LABELS).fillna(MISSING)
    age = AGE_AT_YEAR - r["birth_year"]
    band = pd.Series(UNKNOWN, index=r.index, dtype=object)
    for lo, hi, label in AGE_BANDS:
        band[(age >= lo) & (age <= hi)] = label
    r["age_band"] = band
    raw = r["ethnicity_raw"].fillna("").astype(str).str.strip().str.upper()
    eth = raw.str[:1].map(ETHNICITY_5).fillna(MISSING)
    eth[raw.isin(list(ETHNICITY_NOT_GIVEN)) | (raw == "")] = MISSING
    eth[~r["eth_recorded"].astype(bool)] = NOT_RECORDED
    r["ethnicity"] = eth
    decile = pd.to_numeric(r["decile"], errors="coerce")
    quintile = ((decile + 1) // 2).astype("Int64")
    r["deprivation_quintile"] = [
        QUINTILES[int(q) - 1] if pd.notna(q) and 1 <= int(q) <= 5 else UNKNOWN for q in quintile
    ]
    per_person = r.groupby("person_id")["dataset"].nunique()
    r["linked"] = r["person_id"].map(per_person).to_numpy() > 1
    return r.rename(columns={"sex": "sex_recorded", "sex_group": "sex"})


#: The prefix of the truth's error flags among a report's record columns.
ERROR_PREFIX = "error:"
#: The columns of a truth file that are not identifier error flags.
TRUTH_KEYS = frozenset({"dataset", "source_file", "source_row", "true_id", "duplicate"})


def _with_truth(records: pd.DataFrame, truth: Path) -> pd.DataFrame:
    """Each record's true person and its per-record missed and false shares."""
    if not truth.exists():
        raise FivesafesError(f"no truth file at {truth}; the truth is a synthetic world's")
    t = pd.read_csv(truth).rename(
        columns={"file": "source_file", "row": "source_row", "person_id": "true_id"}
    )
    # Every column beside the record's key, its person and the duplicate mark is an
    # identifier error flag (0/1) of the truth file (docs/linkage.md).
    flags = [c for c in t.columns if c not in TRUTH_KEYS]
    for f in flags:
        values = pd.to_numeric(t[f], errors="coerce")
        bad = values.notna() & ~values.isin([0, 1])
        if values.isna().any() or bad.any():
            at = int(np.flatnonzero(values.isna() | bad)[0])
            raise FivesafesError(
                f"{truth}, line {at + 2}: the error flag {f!r} must be 0 or 1, "
                f"not {t[f].iloc[at]!r}"
            )
        t[ERROR_PREFIX + f] = values.astype(bool)
    t["identifier_error"] = t[flags].astype(bool).any(axis=1).astype(float) if flags else np.nan
    t = t[
        ["dataset", "source_file", "source_row", "true_id", "identifier_error"]
        + [ERROR_PREFIX + f for f in flags]
    ]
    r = records.merge(t, on=["dataset", "source_file", "source_row"], how="left", validate="m:1")
    people = truth.parent / "people.csv"
    r["true_deprivation_quintile"] = UNKNOWN
    r["name_origin"] = UNKNOWN
    if people.exists():
        cols = ["person_id", "name_origin", "deprivation_quintile"]
        p = pd.read_csv(people, usecols=lambda c: c in cols)
        if "deprivation_quintile" in p.columns:
            q = pd.to_numeric(p["deprivation_quintile"], errors="coerce")
            p["q"] = [QUINTILES[int(v) - 1] if v in (1, 2, 3, 4, 5) else UNKNOWN for v in q]
            r["true_deprivation_quintile"] = (
                r["true_id"].map(p.set_index("person_id")["q"]).fillna(UNKNOWN)
            )
        if "name_origin" in p.columns:
            r["name_origin"] = (
                r["true_id"].map(p.set_index("person_id")["name_origin"]).fillna(UNKNOWN)
            )
    known = r["true_id"].notna()
    k = r[known]
    n_cluster = k.groupby("person_id")["record_id"].transform("size")
    n_true = k.groupby("true_id")["record_id"].transform("size")
    n_both = k.groupby(["person_id", "true_id"])["record_id"].transform("size")
    r["missed_share"] = np.nan
    r["false_share"] = np.nan
    r.loc[known, "missed_share"] = np.where(
        n_true > 1, (n_true - n_both) / (n_true - 1).clip(lower=1), np.nan
    )
    r.loc[known, "false_share"] = np.where(
        n_cluster > 1, (n_cluster - n_both) / (n_cluster - 1).clip(lower=1), np.nan
    )
    return r


# ------------------------------------------------------------------------ quality


def _threshold_weight(threshold: float) -> float:
    return math.log2(threshold / (1 - threshold))


def _parameters(model: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for comp in model.get("comparisons", []):
        levels = []
        for level in comp.get("comparison_levels", []):
            m, u = level.get("m_probability"), level.get("u_probability")
            null = bool(level.get("is_null_level", False))
            bf = m / u if m is not None and u and m > 0 else None
            levels.append(
                {
                    "level": level.get("label_for_charts") or level.get("sql_condition"),
                    "null_level": null,
                    "m_probability": None if m is None else round(float(m), 6),
                    "u_probability": None if u is None else round(float(u), 6),
                    "bayes_factor": None if bf is None else round(bf, 4),
                    "match_weight": None if bf is None else round(math.log2(bf), 3),
                    "term_frequency_adjusted": bool(level.get("tf_adjustment_column")),
                }
            )
        out.append(
            {
                "comparison": comp.get("output_column_name"),
                "description": comp.get("comparison_description"),
                "levels": levels,
            }
        )
    return out


def _datasets(r: pd.DataFrame) -> dict[str, Any]:
    rows = []
    for ds, g in r.groupby("dataset", sort=True):
        rows.append(
            {
                "dataset": str(ds),
                "records": len(g),
                "persons": int(g["person_id"].nunique()),
                "records_linked_to_another_dataset": int(g["linked"].sum()),
                "share_linked": round(float(g["linked"].mean()), 4),
            }
        )
    names = [row["dataset"] for row in rows]
    persons = {ds: set(r.loc[r["dataset"] == ds, "person_id"]) for ds in names}
    both = {a: {b: len(persons[a] & persons[b]) for b in names} for a in names}
    return {"rows": rows, "persons_in_both": both}


def _clusters(r: pd.DataFrame) -> dict[str, Any]:
    k = r[r["true_id"].notna()]
    true_per_cluster = k.groupby("person_id")["true_id"].nunique()
    clusters_per_true = k.groupby("true_id")["person_id"].nunique()
    pure = set(true_per_cluster[true_per_cluster == 1].index)
    first_cluster = k.groupby("true_id")["person_id"].first()
    exact = (clusters_per_true == 1) & first_cluster.isin(pure)
    mixed = true_per_cluster[true_per_cluster > 1]
    split = clusters_per_true[clusters_per_true > 1]
    return {
        "true_persons": len(clusters_per_true),
        "clusters_found": len(true_per_cluster),
        "true_persons_exactly_one_cluster": int(exact.sum()),
        "share_exactly_one_cluster": round(float(exact.mean()), 5) if len(exact) else 1.0,
        "clusters_mixing_persons": len(mixed),
        "records_in_mixed_clusters": int(k["person_id"].isin(mixed.index).sum()),
        "persons_split": len(split),
        "records_of_split_persons": int(k["true_id"].isin(split.index).sum()),
        "records_without_truth": int(r["true_id"].isna().sum()),
    }


def _found_own_person(k: pd.DataFrame) -> pd.Series:
    """Whether each record (of a true person with more than one record) was put
    with its own person: its cluster holds at least one other record of its
    person, and at least as many as the person has in other clusters."""
    n_true = k.groupby("true_id")["record_id"].transform("size")
    n_both = k.groupby(["person_id", "true_id"])["record_id"].transform("size")
    inside = n_both - 1
    outside = n_true - n_both
    return (inside > 0) & (inside >= outside)


def _error_kinds(r: pd.DataFrame) -> list[dict[str, Any]]:
    """Per error kind of the truth file: the records with it (of true persons with
    more than one record, since a lone record has no person to find), how many
    were put with their own person, and how many share a cluster with another
    person's records; then any error, and records with none (untouched)."""
    kinds = [c for c in r.columns if c.startswith(ERROR_PREFIX)]
    k = r[r["true_id"].notna()].copy()
    if k.empty:
        return []
    k["found"] = _found_own_person(k)
    n_true = k.groupby("true_id")["record_id"].transform("size")
    persons_in_cluster = k.groupby("person_id")["true_id"].transform("nunique")
    k["mixed"] = persons_in_cluster > 1
    k = k[n_true > 1]
    rows = []
    any_error = k[kinds].any(axis=1) if kinds else pd.Series(False, index=k.index)
    groups = [(c[len(ERROR_PREFIX) :], k[c].astype(bool)) for c in kinds]
    groups += [("any error", any_error), ("untouched", ~any_error)]
    for name, mask in groups:
        g = k[mask]
        rows.append(
            {
                "kind": name,
                "records": len(g),
                "with_own_person": int(g["found"].sum()),
                "share_with_own_person": round(float(g["found"].mean()), 5) if len(g) else None,
                "in_cluster_with_another_person": int(g["mixed"].sum()),
            }
        )
    return rows


def _borderline_rows(b: pd.DataFrame, r: pd.DataFrame | None) -> list[dict[str, Any]]:
    true_of: dict[str, Any] = {}
    if r is not None:
        true_of = dict(zip(r["record_id"], r["true_id"], strict=True))
    out = []
    for row in b.sort_values("match_weight", ascending=False).itertuples(index=False):
        d = row._asdict()
        pair: dict[str, Any] = {
            "match_weight": round(float(d["match_weight"]), 3),
            "match_probability": round(float(d["match_probability"]), 4),
        }
        for side, name in (("l", "left"), ("r", "right")):
            pair[name] = {
                "record_id": d[f"record_id_{side}"],
                "dataset": _str(d.get(f"dataset_{side}")),
                **{f: _str(d.get(f"{f}_{side}")) for f in IDENTIFIER_FIELDS},
            }
        if r is not None:
            tl, tr = true_of.get(d["record_id_l"]), true_of.get(d["record_id_r"])
            same = None
            if tl is not None and tr is not None and not (_missing(tl) or _missing(tr)):
                same = int(tl) == int(tr)
            pair["same_person_in_truth"] = same
        out.append(pair)
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _str(v: Any) -> str | None:
    return None if _missing(v) or v is pd.NA else str(v)


def _quality(data: _Linkage, r: pd.DataFrame, store: Path, truth: Path | None) -> dict[str, Any]:
    run = data.run
    threshold = float(run["threshold"])
    hist = run.get("weight_histogram", [])
    w = _threshold_weight(threshold)
    report: dict[str, Any] = {
        "report": "link quality",
        "zone": "identifier zone only: this report shows identifiers",
        "run": {
            "run_id": data.run_id,
            "created_at": data.created_at,
            "engine": run.get("engine", "duckdb"),
            "threshold": threshold,
            "threshold_match_weight": round(w, 3),
            "records": len(r),
            "persons": int(r["person_id"].nunique()),
            "pairs_scored": int(run["pairs_scored"]),
            "pairs_matched": int(run["pairs_matched"]),
            # link() records its run before timing itself: 0 means not recorded.
            "seconds": float(run["seconds"]) or None if run.get("seconds") else None,
            "probability_two_random_records_match": run.get("probability_two_random_records_match"),
            "records_by_dataset": run.get("records_by_dataset", {}),
            "notes": run.get("notes", []),
        },
        "match_weight_distribution": {
            "bins": hist,
            "bin_width": 1.0,
            "threshold_match_weight": round(w, 3),
            "pairs_at_or_above_threshold_bin": sum(
                int(h["pairs"]) for h in hist if h["match_weight_from"] >= math.floor(w)
            ),
        },
        "parameters": {
            "probability_two_random_records_match": run.get("model", {}).get(
                "probability_two_random_records_match"
            ),
            "comparisons": _parameters(run.get("model", {})),
        },
        "datasets": _datasets(r),
        "estimated_by_model": run.get("estimated_by_model", {}),
        "cluster_step": run.get("cluster_step", {}),
        "measured": None,
        "borderline": _borderline_rows(data.borderline, r if truth is not None else None),
    }
    if truth is not None:
        pairwise = measured_quality(store, truth)
        report["measured"] = {
            "pairwise": pairwise,
            "clusters": _clusters(r),
            "error_kinds": _error_kinds(r),
        }
    return report


# --------------------------------------------------------------------------- bias


def _rate(values: pd.Series) -> float | None:
    v = values.dropna()
    return round(float(v.mean()), 4) if len(v) >= MIN_GROUP else None


def _group_row(name: str, g: pd.DataFrame, with_truth: bool) -> dict[str, Any]:
    n = len(g)
    row: dict[str, Any] = {"group": name}
    if n < MIN_GROUP:
        row.update({"records": SUPPRESSED, "link_rate": None, "suppressed": True})
        if with_truth:
            row.update(dict.fromkeys(TRUTH_RATES))
        return row
    row.update({"records": n, "link_rate": round(float(g["linked"].mean()), 4)})
    row["suppressed"] = False
    if with_truth:
        row["identifier_error_rate"] = _rate(g["identifier_error"])
        row["false_match_rate"] = _rate(g["false_share"])
        row["missed_match_rate"] = _rate(g["missed_share"])
    return row


def _groups(
    r: pd.DataFrame, column: str, order: Sequence[str], with_truth: bool
) -> list[dict[str, Any]]:
    present = set(r[column])
    names = [g for g in order if g in present] + sorted(present - set(order))
    return [_group_row(g, r[r[column] == g], with_truth) for g in names]


def _std_diff(p1: float, p0: float) -> float:
    sd = math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    return (p1 - p0) / sd if sd > 0 else 0.0


def _balance(r: pd.DataFrame, attrs: dict[str, Sequence[str]]) -> list[dict[str, Any]]:
    linked, unlinked = r[r["linked"]], r[~r["linked"]]
    out = []
    for attr, order in attrs.items():
        present = set(r[attr])
        for g in [g for g in order if g in present] + sorted(present - set(order)):
            n = int((r[attr] == g).sum())
            row: dict[str, Any] = {"attribute": attr, "group": g}
            if n < MIN_GROUP or len(linked) < MIN_GROUP or len(unlinked) < MIN_GROUP:
                row.update({"records": SUPPRESSED, "suppressed": True})
                row.update({"share_of_linked": None, "share_of_unlinked": None})
                row.update({"standardised_difference": None, "flag": False})
            else:
                p1 = float((linked[attr] == g).mean())
                p0 = float((unlinked[attr] == g).mean())
                d = _std_diff(p1, p0)
                row.update({"records": n, "suppressed": False})
                row.update({"share_of_linked": round(p1, 4), "share_of_unlinked": round(p0, 4)})
                row.update({"standardised_difference": round(d, 3), "flag": abs(d) > FLAG_D})
            out.append(row)
    return out


def _describe(attr: str, group: str) -> str:
    if attr == "sex":
        return f"records of {group}s" if group != MISSING else "records with sex missing"
    if attr == "age_band":
        return f"records of people aged {group}" if group != UNKNOWN else "records with no age"
    if attr == "ethnicity":
        if group == MISSING:
            return "records with missing ethnicity"
        return f"records with ethnicity recorded as {group}"
    if attr == "true_deprivation_quintile":
        return f"records of people truly living in deprivation quintile {group}"
    if attr == "name_origin":
        return f"records of people with {group.capitalize()} names"
    if attr == "deprivation_quintile":
        if group == UNKNOWN:
            return "records with no known area"
        return f"records from deprivation quintile {group}"
    return f"{group} records"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _gaps(r: pd.DataFrame, value: str, attrs: Iterable[str]) -> list[dict[str, Any]]:
    """Each group's mean of ``value`` against the rest of its attribute (ethnicity:
    among records of datasets that record it)."""
    out = []
    for attr in attrs:
        base = r[r["ethnicity"] != NOT_RECORDED] if attr == "ethnicity" else r
        for g, sub in base.groupby(attr):
            rest = base[base[attr] != g]
            a, b = sub[value].dropna(), rest[value].dropna()
            if len(sub) < MIN_GROUP or len(a) < MIN_GROUP or len(b) < MIN_GROUP:
                continue
            out.append(
                {
                    "attribute": attr,
                    "group": str(g),
                    "rate": float(a.mean()),
                    "rest": float(b.mean()),
                    "points": 100 * (float(a.mean()) - float(b.mean())),
                }
            )
    return out


def _summary(r: pd.DataFrame, with_truth: bool) -> tuple[list[str], list[dict[str, Any]]]:
    attrs = ("sex", "age_band", "ethnicity", "deprivation_quintile")
    gaps = sorted(_gaps(r, "linked", attrs), key=lambda x: x["points"])
    worst = [g for g in gaps if g["points"] <= -1.0][:4]
    lines = [
        f"{_cap(_describe(g['attribute'], g['group']))} are linked "
        f"{-g['points']:.1f} points less often than other records "
        f"({100 * g['rate']:.1f}% against {100 * g['rest']:.1f}%)."
        for g in worst
    ]
    if not worst:
        lines.append("No group's link rate is more than 1 point below the rest.")
    lines.append(
        "A link rate reflects coverage as well as linkage errors: a person who appears "
        "in one dataset only has nothing to link to."
    )
    headline = [dict(g, measure="link_rate") for g in worst]
    if with_truth:
        truth_attrs = (*attrs, "true_deprivation_quintile", "name_origin")
        # A record with no area has, by definition, a missing postcode: leave it out.
        ranked = sorted(
            (
                g
                for g in _gaps(r, "identifier_error", truth_attrs)
                if not (g["attribute"] == "deprivation_quintile" and g["group"] == UNKNOWN)
            ),
            key=lambda x: -x["points"],
        )
        top = [g for g in ranked if g["points"] >= 1.0][:3]
        for g in top:
            lines.append(
                f"Against the truth, {_describe(g['attribute'], g['group'])} carry identifier "
                f"errors {g['points']:.1f} points more often than other records "
                f"({100 * g['rate']:.1f}% against {100 * g['rest']:.1f}%)."
            )
        headline += [dict(g, measure="identifier_error_rate") for g in top]
        for value, label in (("missed_share", "missed-match"), ("false_share", "false-match")):
            ranked = sorted(_gaps(r, value, truth_attrs), key=lambda x: -x["points"])
            top = [g for g in ranked if g["points"] >= 0.1 and g["rate"] >= 2 * g["rest"]][:3]
            for g in top:
                lines.append(
                    f"Against the truth, {_describe(g['attribute'], g['group'])} have a "
                    f"{label} rate of {100 * g['rate']:.2f}%, against {100 * g['rest']:.2f}% "
                    "for other records."
                )
            if not top:
                overall = r[value].dropna()
                mean = 100 * float(overall.mean()) if len(overall) else 0.0
                lines.append(
                    f"Against the truth, the {label} rate ({mean:.2f}% overall) is no more than "
                    "0.1 points higher, or twice as high, in any group than in the rest."
                )
            headline += [dict(g, measure=f"{label.replace('-', '_')}_rate") for g in top]
    return lines, [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in g.items()} for g in headline
    ]


def _bias(data: _Linkage, r: pd.DataFrame, with_truth: bool) -> dict[str, Any]:
    attrs: dict[str, Sequence[str]] = dict(ATTRIBUTES)
    attrs["dataset"] = tuple(sorted(set(r["dataset"])))
    overall = _group_row("all records", r, with_truth)
    groups = {a: _groups(r, a, order, with_truth) for a, order in attrs.items()}
    by_dataset = {}
    for ds in sorted(set(r["dataset"])):
        sub = r[r["dataset"] == ds]
        if ds in ETHNICITY_COLUMNS:
            by_dataset[ds] = _groups(sub, "ethnicity", ATTRIBUTES["ethnicity"], with_truth)
    summary, headline = _summary(r, with_truth)
    truth_groups = {}
    if with_truth:
        truth_groups = {
            "true_deprivation_quintile": _groups(
                r, "true_deprivation_quintile", (*QUINTILES, UNKNOWN), True
            ),
            "name_origin": _groups(r, "name_origin", ("british", "welsh"), True),
        }
    return {
        "report": "linkage bias",
        "zone": "aggregates only: no identifiers, no record ids; groups under 10 shown as <10",
        "run": {
            "run_id": data.run_id,
            "created_at": data.created_at,
            "threshold": float(data.run["threshold"]),
            "engine": data.run.get("engine", "duckdb"),
        },
        "definitions": {
            "link_rate": "share of records linked to at least one record of another dataset",
            "false_match_rate": "per record, the share of its cluster-mates that are another "
            "person; averaged over records with at least one cluster-mate",
            "missed_match_rate": "per record, the share of its true co-records not in its "
            "cluster; averaged over records with at least one true co-record",
            "identifier_error_rate": "share of records with at least one identifier error "
            "planted in the synthetic world (from the truth)",
            "standardised_difference": "difference in the share of linked and unlinked records "
            f"in a group, over the pooled standard deviation; flagged when |d| > {FLAG_D}",
            "age_band": f"age at {AGE_AT_YEAR} from the recorded year of birth",
            "ethnicity": "the 5-group of the ethnicity the dataset records (first letter of the "
            "18-group code); REFU and NOBT count as missing; 'not recorded' where the dataset "
            "has no ethnicity",
            "deprivation_quintile": "from the recorded area's deprivation decile "
            "(1 = most deprived); 'unknown' where the record has no area",
            "suppression": f"groups of fewer than {MIN_GROUP} records are shown as "
            f"'{SUPPRESSED}' with no rates; a rate over fewer than {MIN_GROUP} records is "
            "not shown",
        },
        "truth_given": with_truth,
        "summary": summary,
        "headline": headline,
        "overall": overall,
        "groups": groups,
        "ethnicity_by_dataset": by_dataset,
        "truth_groups": truth_groups,
        "balance": _balance(r, attrs),
    }


# --------------------------------------------------------------------------- HTML


def _fmt(v: Any, pct: bool = False, digits: int = 4) -> str:
    """A value as the reports show it: a dash for none, percentages of rates with
    two decimals under 1%, four significant figures."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        if pct:
            # Small rates (false and missed matches) need more than one decimal.
            return f"{100 * v:.2f}%" if 0 < abs(v) < 0.01 else f"{100 * v:.1f}%"
        if v != 0 and (abs(v) < 10 ** -(digits - 1) or abs(v) >= 1e6):
            return f"{v:.3g}"
        return f"{v:,.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}g}"
    return str(v)


def _value(v: Any) -> str:
    """A cluster step measure: a number, or its breakdown as JSON."""
    return json.dumps(v) if isinstance(v, dict) else _fmt(v)


#: The charts' colours: the site's blue and red (web/static/style.css), a pale blue.
DARK, PALE, RED = "#1d70b8", "#9cc2e5", "#d4351c"


@dataclass
class _Chart:
    """A chart for a report: the PNG, its alternative text (what a reader who cannot
    see it needs: the values it shows) and its caption."""

    png: bytes
    description: str
    caption: str


def _histogram(bins: list[dict[str, Any]], threshold_w: float) -> _Chart | None:
    """Pairs per unit of match weight (log scale), the threshold a red line, the bins
    from the threshold's up dark."""
    if not bins:
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    lo = min(float(b["match_weight_from"]) for b in bins)
    hi = max(float(b["match_weight_from"]) for b in bins) + 1
    lo, hi = min(lo, math.floor(threshold_w)), max(hi, math.ceil(threshold_w) + 1)
    top = max(int(b["pairs"]) for b in bins)
    from_bin = math.floor(threshold_w)
    above = sum(int(b["pairs"]) for b in bins if float(b["match_weight_from"]) >= from_bin)
    fig = Figure(figsize=(9.0, 3.6))
    ax = fig.add_subplot()
    left = [float(b["match_weight_from"]) for b in bins]
    ax.bar(
        left,
        [int(b["pairs"]) for b in bins],
        width=0.95,
        align="edge",
        color=[DARK if v >= from_bin else PALE for v in left],
    )
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.set_xlim(lo, hi)
    ax.axvline(threshold_w, color=RED, linestyle="--", linewidth=2)
    ax.annotate(
        f"threshold {threshold_w:.2f}",
        (threshold_w, 1),
        xycoords=("data", "axes fraction"),
        xytext=(4, -14),
        textcoords="offset points",
        color=RED,
    )
    ax.set_xlabel("match weight (log2 Bayes factor)")
    ax.set_ylabel("pairs (log scale)")
    ax.grid(axis="y", color="#ddd")
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    description = (
        "Distribution of match weights of the scored pairs. "
        f"Bar chart, logarithmic vertical scale: pairs per unit of match weight from {lo:g} "
        f"to {hi:g}; the threshold, match weight {threshold_w:.2f}, is a red line; "
        f"{above:,} pairs lie in the bins from {from_bin} up (dark bars), "
        f"{top:,} pairs in the fullest bin."
    )
    caption = "Match weights of scored pairs, threshold marked."
    return _Chart(figure_png(fig), description, caption)


def _bars(title: str, rows: list[dict[str, Any]], overall: float | None) -> _Chart:
    """Horizontal bars of each group's link rate, a suppressed group written '<10',
    the rate of all records a red line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.4, 0.32 * len(rows) + 0.9))
    ax = fig.add_subplot()
    pos = list(range(len(rows)))
    rates = [0.0 if r["suppressed"] else 100 * float(r["link_rate"]) for r in rows]
    ax.barh(pos, rates, height=0.75, color=DARK)
    for y, (r, rate) in enumerate(zip(rows, rates, strict=True)):
        shown = SUPPRESSED if r["suppressed"] else f"{rate:.1f}%"
        ax.annotate(
            shown,
            (rate, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            zorder=4,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    if overall is not None:
        ax.axvline(
            100 * overall,
            color=RED,
            linestyle="--",
            linewidth=2,
            label=f"all records: {100 * overall:.1f}%",
        )
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize="small")
    ax.set_yticks(pos, labels=[str(r["group"]) for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xticks([0, 25, 50, 75, 100], labels=["0%", "25%", "50%", "75%", "100%"])
    ax.grid(axis="x", color="#ddd")
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    described = "; ".join(
        f"{row['group']}: "
        + (SUPPRESSED + " records" if row["suppressed"] else f"{100 * row['link_rate']:.1f}%")
        for row in rows
    )
    return _Chart(
        figure_png(fig),
        f"Link rate by {title.lower()}. Bar chart of link rates. {described}.",
        f"Link rate by {title.lower()}; the red line is all records.",
    )


def _quality_html(q: dict[str, Any]) -> str:
    dist = q["match_weight_distribution"]
    return render(
        "link_quality.html",
        q=q,
        run=q["run"],
        histogram=_histogram(dist["bins"], dist["threshold_match_weight"]),
        fields=IDENTIFIER_FIELDS,
        fmt=_fmt,
        value=_value,
    )


def _rate_cells(row: dict[str, Any], with_truth: bool) -> list[str]:
    cells = [
        _fmt(row["records"]),
        SUPPRESSED if row["suppressed"] else _fmt(row["link_rate"], pct=True),
    ]
    if with_truth:
        for key in TRUTH_RATES:
            cells.append(SUPPRESSED if row[key] is None else _fmt(row[key], pct=True))
    return cells


def _bias_html(b: dict[str, Any]) -> str:
    with_truth = b["truth_given"]
    overall = b["overall"]["link_rate"]
    titles = {a: ATTRIBUTE_TITLES.get(a, a) for a in (*b["groups"], *b["truth_groups"])}
    return render(
        "link_bias.html",
        b=b,
        titles=titles,
        charts={a: _bars(titles[a], rows, overall) for a, rows in b["groups"].items()},
        rates=lambda row: _rate_cells(row, with_truth),
        min_group=MIN_GROUP,
        suppressed=SUPPRESSED,
        flag_d=FLAG_D,
        fmt=_fmt,
    )


# --------------------------------------------------------------------------- entry


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def link_report(store: Path, out: Path, truth: Path | None = None) -> dict[str, Any]:
    """Write the linkage quality report (identifier zone) and the linkage bias report
    (aggregates) for the store's latest linkage run into the folder ``out``, each as
    JSON and HTML. ``truth`` is a synthetic world's ``truth/records.csv`` (or the
    world's folder, or its ``truth`` folder): with it,
    both reports measure errors against the truth. Returns the paths written and the
    headline figures."""
    if truth is not None and truth.is_dir():  # a world folder or its truth folder
        inside = truth / "truth" / "records.csv"
        truth = inside if inside.is_file() else truth / "records.csv"
    data = _read(store)
    records = _group_columns(data.records)
    if truth is not None:
        records = _with_truth(records, truth)
    quality = _jsonable(_quality(data, records, store, truth))
    bias = _jsonable(_bias(data, records, truth is not None))
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "quality_json": out / f"{QUALITY}.json",
        "quality_html": out / f"{QUALITY}.html",
        "bias_json": out / f"{BIAS}.json",
        "bias_html": out / f"{BIAS}.html",
    }
    for key, text in (
        ("quality_json", json.dumps(quality, indent=2) + "\n"),
        ("quality_html", _quality_html(quality)),
        ("bias_json", json.dumps(bias, indent=2) + "\n"),
        ("bias_html", _bias_html(bias)),
    ):
        tmp = paths[key].with_name(paths[key].name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(paths[key])
    headline: dict[str, Any] = {
        "records": quality["run"]["records"],
        "persons": quality["run"]["persons"],
        "pairs_matched": quality["run"]["pairs_matched"],
        "estimated_precision": quality["estimated_by_model"].get("precision"),
        "estimated_recall": quality["estimated_by_model"].get("recall_of_scored_pairs"),
        "cluster_step": quality["cluster_step"],
        "link_rate": bias["overall"]["link_rate"],
        "summary": bias["summary"],
    }
    if quality["measured"] is not None:
        pw, cl = quality["measured"]["pairwise"], quality["measured"]["clusters"]
        headline.update(
            {
                "precision": pw["precision"],
                "recall": pw["recall"],
                "f1": pw["f1"],
                "false_matches": pw["false_matches"],
                "missed_matches": pw["missed_matches"],
                "share_exactly_one_cluster": cl["share_exactly_one_cluster"],
                "clusters_mixing_persons": cl["clusters_mixing_persons"],
                "persons_split": cl["persons_split"],
                "false_match_rate": bias["overall"]["false_match_rate"],
                "missed_match_rate": bias["overall"]["missed_match_rate"],
                "share_with_own_person_by_error_kind": {
                    e["kind"]: e["share_with_own_person"]
                    for e in quality["measured"]["error_kinds"]
                },
            }
        )
    return {"paths": {k: str(v) for k, v in paths.items()}, "headline": headline}


__all__ = ["link_report"]
