"""Reconciling an attribute recorded differently in several linked sources.

Ethnicity, for instance, is self-reported in the census, recorded by schools,
by hospitals, and observed by police officers (in five groups only). Given the
attribute's records in long form (person, source, value and, optionally, the
date of each record), :func:`reconcile` chooses one value per person by a rule:

- ``priority``: the value of the first source in the priority order that has
  one (within a source, the person's most frequent value, then the latest);
- ``most_recent``: the latest value recorded (ties: source priority);
- ``most_frequent``: the value recorded most often over all sources (ties:
  source priority, then the latest).

Missing values (blank, or codes such as ``REFU``/``NOBT`` given in
``missing``) never win. The :class:`Reconciliation` also reports how often the
sources disagree: per pair of sources, the persons with a value in both and
the persons whose values differ (each source's value being the person's most
frequent one in it); and, per source, persons whose own records disagree.
Everything is computed with vectorised pandas group-bys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd

from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError
from fivesafes.outputs.objects import FrequencyTable

Rule = Literal["priority", "most_recent", "most_frequent"]
RULES: tuple[str, ...] = ("priority", "most_recent", "most_frequent")


@dataclass
class Reconciliation:
    """One value per person, and how the sources agree."""

    values: pd.DataFrame  # person, value, source (of the chosen value), sources, distinct_values
    pairs: pd.DataFrame  # source_a, source_b, both, disagree, disagree_pct
    within: pd.DataFrame  # source, persons, inconsistent, inconsistent_pct
    rule: str
    persons: int  # persons with at least one non-missing value
    multi_source: int  # persons with values from two or more sources
    any_disagreement: int  # of those, persons whose sources' values are not all equal

    def summary(self) -> list[str]:
        lines = [
            f"{self.persons:,} persons have a value; {self.multi_source:,} have values from two "
            f"or more sources, and the sources disagree for {self.any_disagreement:,} of them "
            f"({_pct(self.any_disagreement, self.multi_source)})."
        ]
        for r in self.pairs.itertuples(index=False):
            if r.both:
                lines.append(
                    f"{r.source_a} and {r.source_b}: {r.disagree:,} of {r.both:,} persons "
                    f"recorded in both disagree ({_pct(r.disagree, r.both)})."
                )
        return lines

    def result(self) -> AnalysisResult:
        """As the common result: the disagreement per pair of sources, with the
        persons-per-pair table the disclosure rules check."""
        res = AnalysisResult(method="reconciliation", summary=self.to_dict())
        res.add_table(
            "reconciliation_disagreement",
            self.pairs,
            "Per pair of sources: persons recorded in both, and how many disagree.",
            self._table(),
        )
        return res

    def outputs(self) -> dict[str, FrequencyTable]:
        """The disagreement counts as a table the disclosure rules can check
        (persons per pair of sources, agreeing or not)."""
        return {"reconciliation_disagreement": self._table()}

    def _table(self) -> FrequencyTable:
        rows = []
        for r in self.pairs.itertuples(index=False):
            pair = f"{r.source_a} / {r.source_b}"
            rows += [
                {"pair": pair, "sources": "agree", "n": r.both - r.disagree},
                {"pair": pair, "sources": "disagree", "n": r.disagree},
                {"pair": pair, "sources": "Total", "n": r.both},
            ]
        return FrequencyTable.from_long(
            pd.DataFrame(rows, columns=["pair", "sources", "n"]),
            ["pair", "sources"],
            "n",
            persons=True,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "persons": self.persons,
            "multi_source": self.multi_source,
            "any_disagreement": self.any_disagreement,
            "pairs": self.pairs.to_dict(orient="records"),
            "within_source": self.within.to_dict(orient="records"),
            "summary": self.summary(),
        }


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "no persons"


def reconcile(
    records: pd.DataFrame,
    rule: Rule = "priority",
    priority: Sequence[str] | None = None,
    person: str = "person",
    source: str = "source",
    value: str = "value",
    date: str | None = None,
    missing: Sequence[str] = (),
    recode: Mapping[str, Mapping[str, str]] | None = None,
) -> Reconciliation:
    """Choose one value per person from ``records`` (one row per record).

    ``priority`` orders the sources (default: as they first appear);
    ``recode[source]`` maps a source's codes to the common coding (e.g. 18 ethnic
    groups to 5) before anything is compared; codes in ``missing`` count as
    missing."""
    if rule not in RULES:
        raise FivesafesError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    need = [person, source, value] + ([date] if date else [])
    absent = [c for c in need if c not in records.columns]
    if absent:
        raise FivesafesError(f"the records have no column(s) {', '.join(absent)}")
    if rule == "most_recent" and date is None:
        raise FivesafesError("the most_recent rule needs the date of each record (date=...)")
    df = pd.DataFrame(
        {
            "person": records[person].to_numpy(),
            "source": records[source].astype(str).to_numpy(),
            "value": records[value].to_numpy(),
            "date": pd.to_datetime(records[date]).to_numpy() if date else np.datetime64("NaT"),
        }
    )
    if recode:
        for src, mapping in recode.items():
            on = df["source"] == src
            part = df.loc[on, "value"]
            df.loc[on, "value"] = part.map(dict(mapping)).fillna(part)
    order = list(priority) if priority else list(pd.unique(df["source"]))
    unknown = sorted(set(df["source"]) - set(order))
    if unknown:
        raise FivesafesError(
            f"source(s) {', '.join(unknown)} are not in the priority order {', '.join(order)}"
        )
    df = df[df["value"].notna() & ~df["value"].astype(str).isin(["", *missing])]
    # integer codes sort and group much faster than text: persons and values in
    # sorted order (so ties still go to the smallest value), sources by priority
    person_codes, persons = pd.factorize(df["person"], sort=True)
    value_codes, labels = pd.factorize(df["value"].astype(str), sort=True)
    ranks = df["source"].map({s: i for i, s in enumerate(order)}).to_numpy(dtype=np.int64)
    df = pd.DataFrame(
        {
            "person": person_codes,
            "source": ranks,
            "value": value_codes,
            "rank": ranks,
            "date": df["date"].fillna(pd.Timestamp.min).to_numpy(),
        }
    )

    # each (person, source)'s own value: most frequent, then latest
    per_value = df.groupby(["person", "source", "value"], sort=False).agg(
        n=("value", "size"), last=("date", "max"), rank=("rank", "first")
    )
    per_value = per_value.reset_index()
    per_source = per_value.sort_values(
        ["person", "source", "n", "last", "value"], ascending=[True, True, False, False, True]
    ).drop_duplicates(["person", "source"])

    if rule == "priority":
        chosen = per_source.sort_values(["person", "rank"]).drop_duplicates("person")
        chosen = chosen[["person", "value", "source"]]
    elif rule == "most_recent":
        chosen = df.sort_values(
            ["person", "date", "rank", "value"], ascending=[True, False, True, True]
        ).drop_duplicates("person")[["person", "value", "source"]]
    else:
        totals = df.groupby(["person", "value"], sort=False).agg(
            n=("value", "size"), rank=("rank", "min"), last=("date", "max")
        )
        totals = totals.reset_index().sort_values(
            ["person", "n", "rank", "last", "value"], ascending=[True, False, True, False, True]
        )
        chosen = totals.drop_duplicates("person")[["person", "value"]]
        src = per_value.sort_values(["person", "value", "rank"]).drop_duplicates(
            ["person", "value"]
        )
        chosen = chosen.merge(src[["person", "value", "source"]], on=["person", "value"])

    counts = per_source.groupby("person").agg(
        sources=("source", "size"), distinct_values=("value", "nunique")
    )
    values = chosen.merge(counts, left_on="person", right_index=True, how="left")
    values = values.sort_values("person").reset_index(drop=True)
    values["person"] = np.asarray(persons)[values["person"].to_numpy()]
    values["value"] = np.asarray(labels)[values["value"].to_numpy()]
    values["source"] = np.asarray(order, dtype=object)[values["source"].to_numpy()]

    # pairwise disagreement, from each person's value per source
    wide = per_source.pivot(index="person", columns="source", values="value")
    pair_rows = []
    for a, b in combinations([i for i in range(len(order)) if i in wide.columns], 2):
        both = wide[a].notna() & wide[b].notna()
        differ = both & (wide[a] != wide[b])
        n_both, n_differ = int(both.sum()), int(differ.sum())
        pair_rows.append(
            {
                "source_a": order[a],
                "source_b": order[b],
                "both": n_both,
                "disagree": n_differ,
                "disagree_pct": round(100 * n_differ / n_both, 2) if n_both else None,
            }
        )
    pairs = pd.DataFrame(
        pair_rows, columns=["source_a", "source_b", "both", "disagree", "disagree_pct"]
    )
    inconsistent = per_value.groupby(["source", "person"]).size().gt(1)
    within = (
        inconsistent.groupby(level="source")
        .agg(persons="size", inconsistent="sum")
        .reindex([i for i in range(len(order)) if i in set(per_value["source"])])
        .reset_index()
    )
    within["source"] = [order[i] for i in within["source"]]
    within["inconsistent_pct"] = (100 * within["inconsistent"] / within["persons"]).round(2)
    multi = counts["sources"] >= 2
    return Reconciliation(
        values=values,
        pairs=pairs,
        within=within,
        rule=rule,
        persons=len(counts),
        multi_source=int(multi.sum()),
        any_disagreement=int((multi & (counts["distinct_values"] > 1)).sum()),
    )


__all__ = ["RULES", "Reconciliation", "reconcile"]
