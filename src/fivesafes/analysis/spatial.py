"""Spatial autocorrelation: global Moran's I and local Moran (LISA) over areas.

The weights come from a table of neighbour pairs (``area,neighbour``, one row per
ordered pair, as the user built the contiguity): a libpysal ``W``, row-standardised
(the GeoDa and esda default). esda computes the statistics, with permutation
inference (conditional permutations for the local statistics) from a seed.

Quadrants of the Moran scatterplot, per area: ``HH`` (high value, high
neighbours' average), ``LL``, ``HL`` (high among low) and ``LH`` (low among high),
from the value's deviation from the mean and its spatial lag (esda's ``q``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError, InputError

#: esda's quadrant codes (``Moran_Local.q`` without ``geoda_quads``).
QUADRANTS = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}


def _input_error(file: str, message: str, **where: Any) -> InputError:
    return InputError(file, message, consequence="Nothing was computed.", **where)


@dataclass
class Neighbours:
    """Validated neighbour lists, in the order of the areas they were built for."""

    ids: list[str]
    lists: dict[str, list[str]]
    asymmetric: int  # ordered pairs whose reverse pair is missing
    duplicates: int  # repeated pairs (counted once)

    def weights(self) -> Any:
        """A libpysal ``W``, row-standardised."""
        from libpysal.weights import W

        w = W(self.lists, id_order=self.ids, silence_warnings=True)
        w.transform = "r"
        return w


def read_values(
    areas: pd.DataFrame, id_col: str, value_col: str, file: str = "areas"
) -> tuple[list[str], np.ndarray]:
    """The area ids and their numeric values, checked: unique ids, numbers, no blanks."""
    for col in (id_col, value_col):
        if col not in areas.columns:
            raise _input_error(
                file, f"there is no column {col!r}; the columns are {', '.join(areas.columns)}"
            )
    ids = areas[id_col].astype(str).str.strip()
    blank = np.flatnonzero((ids == "") | areas[id_col].isna().to_numpy())
    if blank.size:
        raise _input_error(file, "the area id is blank", row=int(blank[0]) + 1, field=id_col)
    dup = np.flatnonzero(ids.duplicated().to_numpy())
    if dup.size:
        raise _input_error(
            file,
            "this area appears twice; give one row per area",
            row=int(dup[0]) + 1,
            field=id_col,
            value=str(ids.iloc[dup[0]]),
        )
    raw = areas[value_col]
    values = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float)))
    if bad.size:
        got = raw.iloc[bad[0]]
        raise _input_error(
            file,
            "the value is not a number (every area needs one)",
            row=int(bad[0]) + 1,
            field=value_col,
            value="" if pd.isna(got) else str(got),
            more=int(bad.size - 1),
        )
    if len(ids) < 3:
        raise _input_error(file, f"Moran's I needs at least 3 areas; there are {len(ids)}")
    return ids.tolist(), values.to_numpy(dtype=float)


def read_neighbours(pairs: pd.DataFrame, ids: Sequence[str], file: str = "pairs") -> Neighbours:
    """Neighbour lists from ``area,neighbour`` pairs, checked against the areas:
    every id in the pairs must be an area, no area may be its own neighbour, and
    every area needs at least one neighbour (islands have no spatial lag)."""
    missing = [c for c in ("area", "neighbour") if c not in pairs.columns]
    if missing:
        raise _input_error(
            file,
            f"the neighbour pairs need the columns area and neighbour; {missing[0]!r} is missing"
            f" (the columns are {', '.join(map(str, pairs.columns))})",
        )
    a = pairs["area"].astype(str).str.strip().to_numpy()
    b = pairs["neighbour"].astype(str).str.strip().to_numpy()
    known = set(ids)
    for col, arr in (("area", a), ("neighbour", b)):
        unknown = np.flatnonzero(~pd.Series(arr).isin(known).to_numpy())  # hashed
        if unknown.size:
            raise _input_error(
                file,
                "this area is not in the areas table",
                row=int(unknown[0]) + 1,
                field=col,
                value=str(arr[unknown[0]]),
                more=int(unknown.size - 1),
            )
    self_pairs = np.flatnonzero(a == b)
    if self_pairs.size:
        raise _input_error(
            file,
            "an area cannot be its own neighbour",
            row=int(self_pairs[0]) + 1,
            field="neighbour",
            value=str(b[self_pairs[0]]),
        )
    frame = pd.DataFrame({"a": a, "b": b})
    unique = frame.drop_duplicates()
    lists: dict[str, list[str]] = {i: [] for i in ids}
    for area, group in unique.groupby("a", sort=False)["b"]:
        lists[str(area)] = group.tolist()
    islands = [i for i in ids if not lists[i]]
    if islands:
        shown = ", ".join(islands[:5]) + (
            f" and {len(islands) - 5} more" if len(islands) > 5 else ""
        )
        raise FivesafesError(
            f"{file}: {len(islands)} area(s) have no neighbours (islands): {shown}. Every area "
            "needs at least one neighbour pair (area,neighbour); add the pairs, or leave the "
            "island out of the areas table. Nothing was computed."
        )
    pair_set = set(zip(unique["a"], unique["b"], strict=True))
    asymmetric = sum((y, x) not in pair_set for x, y in pair_set)
    return Neighbours(list(ids), lists, asymmetric, len(frame) - len(unique))


def moran(
    ids: Sequence[str],
    values: np.ndarray,
    neighbours: Neighbours,
    permutations: int = 999,
    seed: int | None = None,
    id_name: str = "area",
    counts: np.ndarray | None = None,
    value_name: str = "value",
    coords: np.ndarray | None = None,
    alpha: float = 0.05,
) -> AnalysisResult:
    """Global Moran's I and local Moran per area, with permutation inference.

    ``summary``: ``I``, ``expected_I`` (−1/(n−1)), ``z`` (from the permutations,
    as GeoDa reports it; from the normal approximation if ``permutations`` is 0),
    ``p_sim`` (pseudo p-value, (extreme + 1)/(permutations + 1), one-sided in the
    direction of the observed I; ``None`` without permutations), ``p_norm``,
    ``areas``, ``permutations``, ``seed``. Table ``local``: per area the value,
    ``local_I``, ``p_sim`` (folded, as esda and GeoDa report it) and ``quadrant``.

    ``counts`` (people behind each area's value) makes the local table and the
    figures checkable as an area table; without them a checker reviews them.
    ``coords`` (one x, y per area, e.g. centroids) adds the figure ``lisa_map``:
    the areas whose local pseudo p-value is below ``alpha``, coloured by quadrant.
    """
    from esda.moran import Moran, Moran_Local

    if permutations < 0:
        raise FivesafesError("--permutations must be 0 or more")
    if list(ids) != neighbours.ids:
        raise ValueError("the neighbours were read for other areas (or another order)")
    y = np.asarray(values, dtype=float)
    if y.shape != (len(ids),):
        raise ValueError(f"{y.size} values for {len(ids)} areas")
    w = neighbours.weights()
    if np.allclose(y, y[0]):
        raise FivesafesError(
            "every area has the same value, so Moran's I is undefined; nothing was computed"
        )
    state = np.random.get_state()  # esda's global Moran draws from numpy's global generator
    try:
        np.random.seed(seed)
        mi = Moran(y, w, transformation="r", permutations=permutations)
    finally:
        np.random.set_state(state)
    with warnings.catch_warnings():
        # esda warns that its default local alternative will change; the p-values
        # reported here are its current (directed, "folded") ones, as GeoDa's
        warnings.simplefilter("ignore", DeprecationWarning)
        lm = Moran_Local(
            y,
            w,
            transformation="r",
            permutations=max(permutations, 1),
            seed=seed,
            keep_simulations=False,
        )
    sim = permutations > 0
    result = AnalysisResult(method="moran")
    result.summary = {
        "I": float(mi.I),
        "expected_I": float(mi.EI),
        "z": float(mi.z_sim if sim else mi.z_norm),
        "p_sim": float(mi.p_sim) if sim else None,
        "p_norm": float(mi.p_norm),
        "areas": len(ids),
        "permutations": permutations,
        "seed": seed,
        "weights": "row-standardised",
    }
    local = pd.DataFrame(
        {
            id_name: list(ids),
            value_name: y,
            "local_I": np.asarray(lm.Is, dtype=float),
            "p_sim": np.asarray(lm.p_sim, dtype=float) if sim else np.nan,
            "quadrant": [QUADRANTS[int(q)] for q in lm.q],
        }
    )
    if neighbours.asymmetric:
        result.notes.append(
            f"{neighbours.asymmetric} neighbour pair(s) have no reverse pair; the weights are "
            "used as given (not symmetrised)"
        )
    if neighbours.duplicates:
        result.notes.append(f"{neighbours.duplicates} repeated neighbour pair(s) counted once")
    output = None
    if counts is not None:
        from fivesafes.outputs import FrequencyTable

        output = FrequencyTable.from_long(
            pd.DataFrame({id_name: list(ids), "n": np.asarray(counts, dtype=float)}),
            [id_name],
            "n",
            persons=True,
            kind="area table",
        )
    result.add_table(
        "local",
        local,
        "Local Moran's I per area: statistic, pseudo p-value and scatterplot quadrant",
        output,
    )
    result.add_figure(
        "moran_scatter",
        lambda: _scatter(y, np.asarray(w.sparse @ (y - y.mean())), float(mi.I), value_name),
        "Moran scatterplot: each area's standardised value against its neighbours' average",
        output,
    )
    if coords is not None:
        xy = np.asarray(coords, dtype=float)
        if xy.shape != (len(ids), 2):
            raise FivesafesError(f"coords must give x and y for each of the {len(ids)} areas")
        quadrant = local["quadrant"].to_numpy()
        significant = local["p_sim"].to_numpy() < alpha if sim else np.zeros(len(ids), bool)
        result.add_figure(
            "lisa_map",
            lambda: _lisa_map(xy, quadrant, significant, alpha),
            f"Local Moran clusters: areas with a pseudo p-value below {alpha}, by quadrant",
            output,
        )
    return result


#: Colours of GeoDa's LISA cluster map.
LISA_COLOURS = {"HH": "#d7191c", "LL": "#2c7bb6", "LH": "#abd9e9", "HL": "#fdae61"}


def _lisa_map(xy: np.ndarray, quadrant: np.ndarray, significant: np.ndarray, alpha: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.scatter(xy[~significant, 0], xy[~significant, 1], marker="s", s=40, color="#eeeeee")
    for q, colour in LISA_COLOURS.items():
        pick = significant & (quadrant == q)
        ax.scatter(
            xy[pick, 0], xy[pick, 1], marker="s", s=40, color=colour, label=f"{q} ({pick.sum()})"
        )
    ax.set_aspect("equal")
    ax.set_title(f"LISA clusters (p < {alpha})")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def _scatter(y: np.ndarray, lag: np.ndarray, i: float, label: str) -> Any:
    from matplotlib.figure import Figure

    z = (y - y.mean()) / y.std()
    lz = lag / y.std()
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.scatter(z, lz, s=12, alpha=0.7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    xs = np.array([z.min(), z.max()])
    ax.plot(xs, i * xs, color="firebrick", lw=1.5, label=f"slope = Moran's I = {i:.3f}")
    ax.set_xlabel(f"{label} (standardised)")
    ax.set_ylabel("neighbours' average (spatial lag)")
    ax.legend(loc="upper left")
    return fig


def moran_csv(
    areas_path: str,
    id_col: str,
    value_col: str,
    pairs_path: str,
    permutations: int = 999,
    seed: int | None = None,
) -> AnalysisResult:
    """:func:`moran` over two CSV files (what ``fivesafes analyse moran`` runs)."""
    areas = _read_csv(areas_path)
    pairs = _read_csv(pairs_path)
    ids, values = read_values(areas, id_col, value_col, file=areas_path)
    nb = read_neighbours(pairs, ids, file=pairs_path)
    return moran(
        ids, values, nb, permutations=permutations, seed=seed, id_name=id_col, value_name=value_col
    )


def _read_csv(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise _input_error(path, "the file is empty (it needs a header row)") from None
    except pd.errors.ParserError as exc:
        raise _input_error(path, f"this is not a readable CSV file ({exc})") from None
