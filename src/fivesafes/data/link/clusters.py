"""The cluster step after Splink's clustering: split clusters that cannot be one
person.

Splink's clusters are connected components of the pairs at or above the
threshold, so one false link joins two people. Two checks follow:

- **Conflicting strong identifiers.** A cluster whose records hold two different
  *valid* values of one strong identifier (NHS number, valid by its modulus-11
  check digit; UPN, by its check letter; National Insurance number, by its
  format) holds two people: a mistyped number almost never passes its check
  (modulus 11 catches every single-digit error and every transposition of
  adjacent digits). A National Insurance number has no check character, so two
  of them conflict only if they are more than two edits apart (Damerau-
  Levenshtein): a transposed NINO is still well-formed, and two copies of one
  record may each carry a slip of their own. Its pairs are rejoined strongest
  first, as Kruskal's algorithm would, but never joining two parts that hold
  conflicting values of one identifier ("cannot-link" constraints).
- **Conflicting dates of birth.** A cluster holding two dates of birth that are
  each on at least :data:`MIN_DOB_RECORDS` of its records, and that no slip
  explains (more than two edits apart, and not the day and month swapped), holds
  two people: in practice a parent and child, or two namesakes, with one name
  and one address. Filler dates (1 January, 1900-01-01, a dataset's default)
  say nothing. A date on only one record may be a slip, and constrains nothing.
  The cluster is rejoined as for identifiers, the two dates cannot-link.
- **Weak bridges.** A cluster whose pair graph has a bridge (an edge whose
  removal disconnects it: Tarjan's algorithm, via networkx) with a match
  probability below :data:`BRIDGE_PROBABILITY`, joining two parts of at least
  :data:`MIN_PART` records each, is cut at that bridge: one borderline pair is
  all that holds two groups of records together. A lone record hanging by one
  pair stays (it is most often an erroneous record of that person).

Only clusters that could fail a check are examined (those with two values of a
strong identifier, two dates of birth each on two records, or with a pair below
the bridge probability and at least ``2 * MIN_PART`` records).
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import duckdb
import networkx as nx
import numpy as np
import pyarrow as pa
from jellyfish import damerau_levenshtein_distance
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

#: Strong identifiers: one person has one.
STRONG_IDENTIFIERS: tuple[str, ...] = ("nhs_number", "upn", "nino")
#: The prepared records' date of birth, as a cannot-link key (not an identifier:
#: people share dates, so only two dates in one cluster are a conflict).
DOB = "dob"
#: Records a date of birth must be on before it can conflict with another.
MIN_DOB_RECORDS = 2
#: A bridge below this match probability may be cut.
BRIDGE_PROBABILITY = 0.99
#: Records each side of a cut bridge must have.
MIN_PART = 2
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]?$")


def valid_nhs_number(value: str) -> bool:
    """Ten digits whose last is the modulus-11 check digit of the first nine
    (weights 10 down to 2; a remainder giving 10 is never issued)."""
    if len(value) != 10 or not value.isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(value[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(value[9])


def valid_upn(value: str) -> bool:
    """A unique pupil number: a check letter, then twelve characters (the last may
    be a letter for a temporary UPN); the letter is the weighted sum (weights 2 to
    13) of the other characters' values modulo 23, in ``UPN_LETTERS``."""
    if len(value) != 13 or value[0] not in UPN_LETTERS or not value[1:12].isdigit():
        return False
    last = value[12]
    if not (last.isdigit() or last in UPN_LETTERS):
        return False
    values = [int(c) for c in value[1:12]] + [
        int(last) if last.isdigit() else UPN_LETTERS.index(last)
    ]
    total = sum(v * w for v, w in zip(values, range(2, 14), strict=True))
    return UPN_LETTERS[total % 23] == value[0]


def valid_nino(value: str) -> bool:
    """A National Insurance number: two prefix letters HMRC issues, six digits and
    a suffix letter A to D (no check character)."""
    return bool(_NINO.match(value))


VALIDATORS = {"nhs_number": valid_nhs_number, "upn": valid_upn, "nino": valid_nino}
#: Identifiers whose validity says nothing about a typo (no check character).
UNCHECKED = frozenset({"nino"})


def conflicting(col: str, a: str, b: str) -> bool:
    """Whether two valid values of ``col`` must be two people's (``col`` may be
    :data:`DOB`, ISO dates)."""
    if a == b:
        return False
    if col == DOB:
        swapped = a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]
        return not swapped and damerau_levenshtein_distance(a, b) > 2
    return col not in UNCHECKED or damerau_levenshtein_distance(a, b) > 2


@dataclass
class ClusterStep:
    """What the step did."""

    clusters_examined: int = 0
    split_conflicting_identifiers: int = 0
    split_weak_bridges: int = 0
    clusters_made: int = 0  # clusters after the step, from the split ones
    records_moved: int = 0  # records no longer in their cluster's largest part
    by_identifier: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clusters_examined": self.clusters_examined,
            "clusters_split_conflicting_identifiers": self.split_conflicting_identifiers,
            "clusters_split_weak_bridges": self.split_weak_bridges,
            "clusters_after_split": self.clusters_made,
            "records_moved": self.records_moved,
            "conflicts_by_identifier": dict(self.by_identifier),
            "bridge_probability": BRIDGE_PROBABILITY,
            "min_part": MIN_PART,
        }


def _constrained(
    nodes: list[int], edges: list[tuple[int, int, float]], values: dict[int, dict[str, str]]
) -> list[set[int]]:
    """Join the pairs strongest first, never joining two parts that hold different
    values of one strong identifier."""
    parent = {n: n for n in nodes}
    held: dict[int, dict[str, set[str]]] = {
        n: {k: {v} for k, v in values.get(n, {}).items()} for n in nodes
    }

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ha, hb = held[ra], held[rb]
        if any(conflicting(k, x, y) for k, xs in ha.items() for x in xs for y in hb.get(k, ())):
            continue
        parent[rb] = ra
        for k, ys in hb.items():
            ha.setdefault(k, set()).update(ys)
    parts: dict[int, set[int]] = defaultdict(set)
    for n in nodes:
        parts[find(n)].add(n)
    return list(parts.values())


def _strong_components(part: set[int], edges: list[tuple[int, int, float]]) -> dict[int, int]:
    """Each record's component in the graph of the strong pairs within ``part``."""
    parent = {n: n for n in part}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, p in edges:
        if p >= BRIDGE_PROBABILITY and a in part and b in part:
            parent[find(a)] = find(b)
    return {n: find(n) for n in part}


def _cut_weak_bridges(
    part: set[int], component: dict[int, int], weak: list[tuple[int, int, float]]
) -> list[set[int]]:
    """Cut bridges below BRIDGE_PROBABILITY that leave MIN_PART records each side,
    weakest first (ties by the records' ids), until none is left.

    Works on the graph of the strong components (``component``: each record's,
    from the pairs at or above the probability) joined by the ``weak`` pairs: a
    pair is a bridge of the records' graph exactly when it is the one pair
    between two components that is a bridge of that smaller graph, and strong
    pairs are never cut."""
    members: dict[int, set[int]] = defaultdict(set)
    for n in part:
        members[component[n]].add(n)
    graph = nx.Graph()
    for c, ns in members.items():
        graph.add_node(c, w=len(ns))
    for a, b, p in weak:
        if a not in part or b not in part:
            continue
        ca, cb = component[a], component[b]
        if ca == cb:
            continue
        if graph.has_edge(ca, cb):
            graph.edges[ca, cb]["n"] += 1
        else:
            graph.add_edge(ca, cb, p=p, key=(p, min(a, b), max(a, b)), n=1)
    pending, done = [graph], []
    while pending:
        g = pending.pop()
        total = sum(w for _, w in g.nodes(data="w"))
        cut = None
        if total >= 2 * MIN_PART and g.number_of_edges():
            single = [e for e in nx.bridges(g) if g.edges[e]["n"] == 1]
            for a, b in sorted(single, key=lambda e: g.edges[e]["key"]):
                h = g.copy()
                h.remove_edge(a, b)
                side = sum(h.nodes[c]["w"] for c in nx.node_connected_component(h, a))
                if MIN_PART <= side <= total - MIN_PART:
                    cut = h
                    break
        if cut is None:
            done.append(set().union(*(members[c] for c in g.nodes)))
        else:
            pending.extend(cut.subgraph(c).copy() for c in nx.connected_components(cut))
    return done


def _may_have_weak_cut(
    owner: np.ndarray, uids: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray
) -> tuple[set[Any], dict[int, int]]:
    """The clusters (of the records ``uids``, in clusters ``owner``; pairs
    ``left``-``right`` of probability ``prob``) in which cutting one weak bridge
    could leave :data:`MIN_PART` records each side (the others need no search),
    and the strong component of each of their records.

    Exact, from the components of the strong pairs alone (at or above
    :data:`BRIDGE_PROBABILITY`), found for all clusters at once: a cut leaves
    whole strong components on each side, and the side without the largest one
    has :data:`MIN_PART` (2) records only if another component has two, or a weak
    pair joins two records outside the largest."""
    if not len(prob):
        return set(), {}
    cids, cluster = np.unique(owner, return_inverse=True)
    at, ia, ib, n = _node_index(uids, left, right)
    strong = prob >= BRIDGE_PROBABILITY
    graph = coo_matrix((np.ones(int(strong.sum())), (ia[strong], ib[strong])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    size = np.bincount(label)
    lab = label[at]  # each record's strong component
    # each cluster's largest strong component: records sorted by cluster, then size
    by = np.lexsort((size[lab], cluster))
    last = np.r_[cluster[by][1:] != cluster[by][:-1], True]
    big = np.empty(len(cids), dtype=label.dtype)
    big[cluster[by][last]] = lab[by][last]
    other = lab != big[cluster]
    need = np.zeros(len(cids), dtype=bool)
    need[cluster[other & (size[lab] >= MIN_PART)]] = True
    outside = np.zeros(n, dtype=bool)
    outside[at] = other
    owner_of = np.zeros(n, dtype=np.int64)
    owner_of[at] = cluster
    both_out = ~strong & outside[ia] & outside[ib]
    need[owner_of[ia[both_out]]] = True
    need &= np.bincount(cluster, minlength=len(cids)) >= 2 * MIN_PART
    keep = need[cluster]
    return set(cids[need].tolist()), dict(zip(uids[keep].tolist(), lab[keep].tolist(), strict=True))


def _node_index(
    uids: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Graph node numbers for the records ``uids`` and the pairs' ends, and how
    many nodes: the ids themselves where they are dense (the linkage numbers its
    records 1, 2, 3...), else their ranks."""
    top = int(max(uids.max(), left.max(), right.max()))
    if int(min(uids.min(), left.min(), right.min())) >= 0 and top < 4 * len(uids) + 2**25:
        return uids, left, right, top + 1
    order = np.argsort(uids)
    ranked = uids[order]
    at = np.empty(len(uids), dtype=np.int64)
    at[order] = np.arange(len(uids))
    return at, np.searchsorted(ranked, left), np.searchsorted(ranked, right), len(uids)


def split_clusters(
    records: pa.Table, clusters: pa.Table, pairs: pa.Table
) -> tuple[pa.Table, ClusterStep]:
    """The clusters (``unique_id``, ``cluster_id``) after the step, and what it did.
    ``records`` holds ``unique_id`` and the strong identifiers (any may be absent);
    ``pairs`` the matched pairs (``unique_id_l``, ``unique_id_r``,
    ``match_probability``)."""
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("records_in", records)
        con.register("clusters_in", clusters)
        con.register("pairs_in", pairs)
        return split_clusters_in(con, "records_in", "clusters_in", "pairs_in")
    finally:
        con.close()


def split_clusters_in(
    con: duckdb.DuckDBPyConnection, records: str, clusters: str, pairs: str
) -> tuple[pa.Table, ClusterStep]:
    """:func:`split_clusters` on tables (or views) of ``con`` named ``records``,
    ``clusters`` and ``pairs``: the linkage runs it in Splink's own DuckDB, where
    the scored pairs already are, so that only the pairs of the clusters it
    examines leave the database."""
    step = ClusterStep()
    present = {r[0] for r in con.execute(f"SELECT * FROM {records} LIMIT 0").description or []}
    strong = [c for c in STRONG_IDENTIFIERS if c in present]
    dated = DOB in present
    filler = dated and "dob_filler" in present
    dob_key = (
        "NULL::VARCHAR"
        if not dated
        else f"CASE WHEN NOT coalesce(dob_filler, false) THEN CAST({DOB} AS VARCHAR) END"
        if filler
        else f"CAST({DOB} AS VARCHAR)"
    )
    keys_sql = "".join(f", {c}" for c in strong) + (f", {dob_key} AS {DOB}" if dated else "")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _split_recs AS SELECT unique_id{keys_sql} FROM {records}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _split_clusters AS SELECT unique_id, cluster_id "
        f"FROM {clusters}"
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _split_pairs AS SELECT unique_id_l, unique_id_r, "
        f"match_probability FROM {pairs}"
    )
    try:
        return _split(con, step, strong, dated)
    finally:
        for view in ("_split_recs", "_split_clusters", "_split_pairs"):
            con.execute(f"DROP VIEW IF EXISTS {view}")
        with contextlib.suppress(duckdb.Error):
            con.unregister("_split_examined")


def _split(
    con: duckdb.DuckDBPyConnection, step: ClusterStep, strong: list[str], dated: bool
) -> tuple[pa.Table, ClusterStep]:
    """The step on the views ``_split_recs``, ``_split_clusters`` and ``_split_pairs``."""
    two_values = " OR ".join(f"count(DISTINCT r.{c}) > 1" for c in strong) or "false"
    two_dates = (
        f"""UNION SELECT cluster_id FROM (
            SELECT c.cluster_id, r.{DOB} FROM _split_clusters c JOIN _split_recs r USING (unique_id)
            WHERE r.{DOB} IS NOT NULL GROUP BY ALL HAVING count(*) >= {MIN_DOB_RECORDS}
        ) GROUP BY cluster_id HAVING count(*) > 1"""
        if dated
        else ""
    )
    candidates = con.sql(
        f"""
        WITH conflicting AS (
            SELECT c.cluster_id FROM _split_clusters c JOIN _split_recs r USING (unique_id)
            GROUP BY c.cluster_id HAVING {two_values}
            {two_dates}
        ),
        sizes AS (SELECT cluster_id, count(*) AS n FROM _split_clusters GROUP BY cluster_id),
        weak AS (
            SELECT DISTINCT c.cluster_id FROM _split_pairs p
            JOIN _split_clusters c ON c.unique_id = p.unique_id_l
            JOIN sizes s ON s.cluster_id = c.cluster_id
            WHERE p.match_probability < {BRIDGE_PROBABILITY} AND s.n >= {2 * MIN_PART}
        )
        SELECT cluster_id, bool_or(conflict) AS conflict FROM (
            SELECT cluster_id, true AS conflict FROM conflicting
            UNION ALL SELECT cluster_id, false FROM weak
        ) GROUP BY cluster_id
        """
    ).to_arrow_table()
    step.clusters_examined = candidates.num_rows
    if not candidates.num_rows:
        return _clusters(con), step
    con.register("_split_examined", candidates)
    member_table = con.sql(
        "SELECT c.cluster_id, c.unique_id FROM _split_clusters c "
        "JOIN _split_examined USING (cluster_id)"
    ).to_arrow_table()
    edge_table = con.sql(
        "SELECT c.cluster_id, p.unique_id_l, p.unique_id_r, p.match_probability "
        "FROM _split_pairs p JOIN _split_clusters c ON c.unique_id = p.unique_id_l "
        "JOIN _split_examined USING (cluster_id)"
    ).to_arrow_table()
    keys = [*strong, *[DOB] * dated]
    held_rows = con.sql(
        f"SELECT c.cluster_id, c.unique_id{''.join(f', r.{s}' for s in keys)} "
        "FROM _split_clusters c JOIN _split_examined e USING (cluster_id) "
        "LEFT JOIN _split_recs r USING (unique_id) WHERE e.conflict"
    ).fetchall()

    m_cid = member_table.column("cluster_id").to_numpy()
    m_uid = member_table.column("unique_id").to_numpy().astype(np.int64)
    e_cid = edge_table.column("cluster_id").to_numpy()
    e_l = edge_table.column("unique_id_l").to_numpy().astype(np.int64)
    e_r = edge_table.column("unique_id_r").to_numpy().astype(np.int64)
    e_p = edge_table.column("match_probability").to_numpy().astype(float)

    values: dict[int, dict[str, str]] = {}
    dates: dict[tuple[Any, str], list[int]] = defaultdict(list)
    for row in held_rows:
        cid, uid = row[0], int(row[1])
        held = {
            col: v
            for col, v in zip(strong, row[2 : 2 + len(strong)], strict=True)
            if v and VALIDATORS[col](v)
        }
        if held:
            values[uid] = held
        if dated and row[-1] is not None:
            dates[(cid, row[-1])].append(uid)
    for (_, dob), holders in dates.items():  # a date on one record constrains nothing
        if len(holders) >= MIN_DOB_RECORDS:
            for uid in holders:
                values.setdefault(uid, {})[DOB] = dob

    # Only the clusters a check could split are taken apart in Python.
    flagged = candidates.column("conflict").to_pylist()
    conflict_ids = {
        c for c, f in zip(candidates.column("cluster_id").to_pylist(), flagged, strict=True) if f
    }
    bridged, component = _may_have_weak_cut(m_cid, m_uid, e_l, e_r, e_p)
    work = np.array(sorted(conflict_ids | bridged), dtype=m_cid.dtype)
    nodes: dict[Any, list[int]] = defaultdict(list)
    keep = np.isin(m_cid, work)
    for cid, uid in zip(m_cid[keep].tolist(), m_uid[keep].tolist(), strict=True):
        nodes[cid].append(uid)

    def grouped(mask: np.ndarray) -> dict[Any, list[tuple[int, int, float]]]:
        out: dict[Any, list[tuple[int, int, float]]] = defaultdict(list)
        cols = (e_cid[mask], e_l[mask], e_r[mask], e_p[mask])
        for cid, a, b, p in zip(*(c.tolist() for c in cols), strict=True):
            out[cid].append((a, b, p))
        return out

    # every pair of the clusters with a conflict; only the weak pairs of the rest
    every = grouped(np.isin(e_cid, np.array(sorted(conflict_ids), dtype=m_cid.dtype)))
    weak = grouped(np.isin(e_cid, work) & (e_p < BRIDGE_PROBABILITY))

    new_id: dict[int, int] = {}
    for cid in work.tolist():
        members_of = nodes[cid]
        seen: dict[str, set[str]] = defaultdict(set)
        for uid in members_of:
            for col, v in values.get(uid, {}).items():
                seen[col].add(v)
        conflicts = [
            col
            for col, vs in seen.items()
            if any(conflicting(col, a, b) for a in vs for b in vs if a < b)
        ]
        if conflicts:
            parts = _constrained(members_of, every[cid], values)
            if len(parts) > 1:
                step.split_conflicting_identifiers += 1
                for col in conflicts:
                    step.by_identifier[col] = step.by_identifier.get(col, 0) + 1
        else:
            parts = [set(members_of)]
        if len(parts) == 1 and cid not in bridged:
            continue
        final: list[set[int]] = []
        for part in parts:
            comp = component if len(parts) == 1 else _strong_components(part, every[cid])
            final.extend(_cut_weak_bridges(part, comp, weak[cid]))
        if len(final) > len(parts):
            step.split_weak_bridges += 1
        if len(final) == 1:
            continue
        step.clusters_made += len(final)
        step.records_moved += len(members_of) - max(len(p) for p in final)
        for part in final:
            rep = min(part)
            for uid in part:
                new_id[uid] = rep
    clusters = _clusters(con)
    if not new_id:
        return clusters, step
    moved = np.array(sorted(new_id), dtype=np.int64)
    to = np.array([new_id[u] for u in moved.tolist()], dtype=np.int64)
    uid_all = clusters.column("unique_id").to_numpy().astype(np.int64)
    cid_all = clusters.column("cluster_id").to_numpy().copy()
    at = np.searchsorted(moved, uid_all).clip(max=len(moved) - 1)
    hit = moved[at] == uid_all
    cid_all[hit] = to[at[hit]]
    out = cid_all
    return (
        pa.table(
            {
                "unique_id": clusters.column("unique_id"),
                "cluster_id": pa.array(out, clusters.column("cluster_id").type),
            }
        ),
        step,
    )


def _clusters(con: duckdb.DuckDBPyConnection) -> pa.Table:
    return con.sql("SELECT unique_id, cluster_id FROM _split_clusters").to_arrow_table()
