"""The cluster step after Splink's clustering (issue 16, item 3), on constructed
clusters: two people with a common name and date of birth joined by one false
link, by a strong link despite two valid NHS numbers, and a true person's lone
erroneous record hanging by one weak pair."""

from __future__ import annotations

from datetime import date

import networkx as nx
import numpy as np
import pyarrow as pa

from fivesafes.data.link.clusters import (
    BRIDGE_PROBABILITY,
    MIN_PART,
    split_clusters,
    valid_nhs_number,
    valid_nino,
    valid_upn,
)


def _dense(ids: list[int], p: float = 0.9999) -> list[tuple[int, int, float]]:
    return [(a, b, p) for i, a in enumerate(ids) for b in ids[i + 1 :]]


def _tables(
    pairs: list[tuple[int, int, float]], nhs: dict[int, str]
) -> tuple[pa.Table, pa.Table, pa.Table]:
    ids = sorted({x for a, b, _ in pairs for x in (a, b)})
    records = pa.table(
        {
            "unique_id": pa.array(ids, pa.int64()),
            "nhs_number": pa.array([nhs.get(i) for i in ids], pa.string()),
            "upn": pa.array([None] * len(ids), pa.string()),
        }
    )
    clusters = pa.table({"unique_id": pa.array(ids, pa.int64()), "cluster_id": [ids[0]] * len(ids)})
    edges = pa.table(
        {
            "unique_id_l": pa.array([a for a, _, _ in pairs], pa.int64()),
            "unique_id_r": pa.array([b for _, b, _ in pairs], pa.int64()),
            "match_probability": [p for _, _, p in pairs],
        }
    )
    return records, clusters, edges


def _groups(clusters: pa.Table) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for u, c in zip(
        clusters["unique_id"].to_pylist(), clusters["cluster_id"].to_pylist(), strict=True
    ):
        out.setdefault(c, set()).add(u)
    return {frozenset(g) for g in out.values()}


def test_validators_agree_with_published_examples() -> None:
    # NHS Digital's example NHS number (modulus 11); one digit changed fails.
    assert valid_nhs_number("9434765919")
    assert not valid_nhs_number("9434765918")
    assert not valid_nhs_number("9434765991")  # the last two digits transposed
    # HMRC's format (two letters, six digits, A-D); its specimen prefix QQ and
    # the prefixes it never issues fail (no D, F, I, Q, U, V; O not second).
    assert valid_nino("AB123456C") and valid_nino("OA123456D")
    assert not valid_nino("QQ123456C") and not valid_nino("AO123456C")
    assert not valid_nino("GB123456A") and not valid_nino("DA123456A")
    # A UPN's check letter is the weighted sum of its 12 digits modulo 23.
    digits = "820200100001"
    total = sum(int(c) * w for c, w in zip(digits, range(2, 14), strict=True))
    letter = "ABCDEFGHJKLMNPQRTUVWXYZ"[total % 23]
    assert valid_upn(letter + digits)
    assert not valid_upn(("B" if letter == "A" else "A") + digits)


def test_two_people_joined_by_one_false_link_are_split() -> None:
    pairs = [*_dense([1, 2, 3]), *_dense([4, 5, 6]), (3, 4, 0.96)]
    clusters, step = split_clusters(*_tables(pairs, {}))
    assert _groups(clusters) == {frozenset({1, 2, 3}), frozenset({4, 5, 6})}
    assert step.split_weak_bridges == 1 and step.split_conflicting_identifiers == 0
    assert step.records_moved == 3 and step.clusters_made == 2


def test_a_strong_bridge_is_kept() -> None:
    pairs = [*_dense([1, 2, 3]), *_dense([4, 5, 6]), (3, 4, 0.995)]
    clusters, step = split_clusters(*_tables(pairs, {}))
    assert _groups(clusters) == {frozenset(range(1, 7))}
    assert step.clusters_made == 0


def test_a_lone_record_hanging_by_a_weak_pair_stays() -> None:
    pairs = [*_dense([1, 2, 3, 4]), (4, 5, 0.96)]
    clusters, step = split_clusters(*_tables(pairs, {}))
    assert _groups(clusters) == {frozenset(range(1, 6))}
    assert step.clusters_examined == 1 and step.clusters_made == 0


def test_two_valid_nhs_numbers_split_a_cluster_at_its_weakest_join() -> None:
    # Two people, each with a valid NHS number on one record, joined strongly
    # (two links, so no bridge) but not as strongly as each person's own records.
    pairs = [*_dense([1, 2, 3]), *_dense([4, 5, 6]), (3, 4, 0.995), (2, 5, 0.993)]
    nhs = {1: "9434765919", 6: "4010232137"}
    assert valid_nhs_number(nhs[6])
    clusters, step = split_clusters(*_tables(pairs, nhs))
    assert _groups(clusters) == {frozenset({1, 2, 3}), frozenset({4, 5, 6})}
    assert step.split_conflicting_identifiers == 1
    assert step.by_identifier == {"nhs_number": 1}


def test_an_invalid_number_is_a_typo_not_a_conflict() -> None:
    pairs = _dense([1, 2, 3, 4])
    nhs = {1: "9434765919", 2: "9434765991"}  # the second mistyped: fails mod 11
    clusters, step = split_clusters(*_tables(pairs, nhs))
    assert _groups(clusters) == {frozenset({1, 2, 3, 4})}
    assert step.split_conflicting_identifiers == 0


def test_a_transposed_nino_is_no_conflict_but_another_is() -> None:
    pairs = _dense([1, 2, 3, 4])
    for other, split in (("AB123465C", False), ("AB213465C", False), ("AB654321C", True)):
        records, clusters, edges = _tables(pairs, {})
        records = records.append_column("nino", pa.array(["AB123456C", other, None, None]))
        _, step = split_clusters(records, clusters, edges)
        assert (step.split_conflicting_identifiers == 1) is split, other


def _dated(
    pairs: list[tuple[int, int, float]], dobs: dict[int, str], fillers: frozenset[int] = frozenset()
) -> tuple[pa.Table, pa.Table, pa.Table]:
    records, clusters, edges = _tables(pairs, {})
    ids = records["unique_id"].to_pylist()
    records = records.append_column(
        "dob", pa.array([date.fromisoformat(dobs[i]) if i in dobs else None for i in ids])
    )
    records = records.append_column("dob_filler", pa.array([i in fillers for i in ids]))
    return records, clusters, edges


# A parent and child of one name at one address: each person's three records agree
# on a date, and two strong links (no bridge) join them. Found as the largest
# clusters mixing persons at 100,000 people (issue 16).
PARENT_CHILD = [*_dense([1, 2, 3]), *_dense([4, 5, 6]), (3, 4, 0.995), (2, 5, 0.993)]


def test_two_dates_each_on_several_records_split_a_cluster() -> None:
    dobs = dict.fromkeys([1, 2, 3], "1963-01-23") | dict.fromkeys([4, 5, 6], "2007-12-15")
    clusters, step = split_clusters(*_dated(PARENT_CHILD, dobs))
    assert _groups(clusters) == {frozenset({1, 2, 3}), frozenset({4, 5, 6})}
    assert step.split_conflicting_identifiers == 1 and step.by_identifier == {"dob": 1}


def test_dates_a_slip_explains_or_on_one_record_do_not_split() -> None:
    one_person = _dense([1, 2, 3, 4, 5, 6])
    for second in ("1963-01-24", "1963-10-23", "1936-01-23", "1964-01-23"):
        dobs = dict.fromkeys([1, 2, 3], "1963-01-23") | dict.fromkeys([4, 5, 6], second)
        _, step = split_clusters(*_dated(one_person, dobs))
        assert step.split_conflicting_identifiers == 0, second
    swapped = dict.fromkeys([1, 2, 3], "1963-03-05") | dict.fromkeys([4, 5, 6], "1963-05-03")
    _, step = split_clusters(*_dated(one_person, swapped))
    assert step.split_conflicting_identifiers == 0
    # a wholly different date on one record only: a slip, constrains nothing
    lone = dict.fromkeys([1, 2, 3, 4, 5], "1963-01-23") | {6: "1988-07-30"}
    _, step = split_clusters(*_dated(one_person, lone))
    assert step.split_conflicting_identifiers == 0


def test_filler_dates_constrain_nothing() -> None:
    dobs = dict.fromkeys([1, 2, 3], "1963-01-23") | dict.fromkeys([4, 5, 6], "1963-01-01")
    clusters, step = split_clusters(*_dated(_dense([1, 2, 3, 4, 5, 6]), dobs, frozenset({4, 5, 6})))
    assert _groups(clusters) == {frozenset(range(1, 7))}
    assert step.split_conflicting_identifiers == 0


def _reference_cuts(pairs: list[tuple[int, int, float]]) -> set[frozenset[int]]:
    """The weak-bridge rule as first written (main at 03ee0f7): every bridge of
    the records' own graph, weakest first, recomputed after each cut."""
    pending = [nx.Graph([(a, b, {"p": p}) for a, b, p in pairs])]
    done: set[frozenset[int]] = set()
    while pending:
        g = pending.pop()
        cut = None
        if g.number_of_nodes() >= 2 * MIN_PART:
            for a, b in sorted(nx.bridges(g), key=lambda e: (g.edges[e]["p"], min(e), max(e))):
                if g.edges[a, b]["p"] >= BRIDGE_PROBABILITY:
                    break
                h = g.copy()
                h.remove_edge(a, b)
                side = nx.node_connected_component(h, a)
                if MIN_PART <= len(side) <= g.number_of_nodes() - MIN_PART:
                    cut = h
                    break
        if cut is None:
            done.add(frozenset(g.nodes))
        else:
            pending.extend(cut.subgraph(c).copy() for c in nx.connected_components(cut))
    return done


def test_bridges_cut_on_strong_components_as_on_the_records_graph() -> None:
    """The filter and the search on the graph of strong components give what the
    first rule gave on the records' own graph, on random clusters of strong and
    weak pairs."""
    rng = np.random.default_rng(16)
    split = 0
    for _ in range(150):
        n = int(rng.integers(2, 14))
        ids = list(range(1, n + 1))
        pairs = [
            (a, b, float(rng.choice([0.96, 0.97, 0.98, 0.999])))
            for i, a in enumerate(ids)
            for b in ids[i + 1 :]
            if rng.random() < 0.3
        ]
        linked = {(a, b) for a, b, _ in pairs}
        pairs += [(a, a + 1, 0.975) for a in ids[:-1] if (a, a + 1) not in linked]  # connected
        got, _ = split_clusters(*_tables(pairs, {}))
        want = _reference_cuts(pairs)
        assert _groups(got) == want, pairs
        split += len(want) > 1
    assert split >= 5  # the reference had cuts to find
