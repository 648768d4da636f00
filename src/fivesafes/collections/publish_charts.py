"""Charts of published statistics (matplotlib PNG) with their alternative text.

Charts draw only the safe values of a publication; a withheld value is a gap,
and the alternative text says which values are withheld. Figures are built with
``matplotlib.figure.Figure`` (no pyplot: no GUI backend, no global state).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fivesafes.outputs.objects import TOTAL

if TYPE_CHECKING:
    from fivesafes.collections.publication import Publication

WIDTH, HEIGHT, DPI = 8.0, 4.5, 100


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "suppressed"
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.1f}"


def table_chart(pub: Publication, path: Path) -> tuple[Path, str]:
    """A line per series category over the x categories (a bar chart when there is
    one x category), every other dimension at its Total. Returns the PNG's path
    and its alternative text."""
    from matplotlib.figure import Figure

    from fivesafes.collections.publication import label

    spec = pub.spec
    assert spec.chart is not None
    x, series = spec.chart
    data = pub.data
    keep = pd.Series(True, index=data.index)
    for d in spec.dims:
        if d == series:
            keep &= data[d].astype(str) != TOTAL
        elif d != x:
            keep &= data[d].astype(str) == TOTAL
    if x in spec.dims:
        keep &= data[x].astype(str) != TOTAL
    for b in spec.by:
        if b != x:  # a chart of one slice: the latest
            keep &= data[b] == data[b].max()
    sub = data[keep]
    xcol = x if x is not None else "__x"
    if x is None:  # one bar per series category
        sub = sub.assign(__x="")
    xs = sorted(sub[xcol].astype(str).unique())
    names = sorted(sub[series].astype(str).unique()) if series else [TOTAL]
    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    ax = fig.add_subplot()
    withheld: list[str] = []
    last: list[tuple[str, Any]] = []
    for name in names:
        rows = sub if series is None else sub[sub[series].astype(str) == name]
        by_x = {str(k): v for k, v in zip(rows[xcol].astype(str), rows["value"], strict=True)}
        ys = np.array([np.nan if by_x.get(k) is None else float(by_x[k]) for k in xs], dtype=float)
        shown = label(spec, series, name) if series else spec.unit
        withheld += [f"{shown}{f' in {k}' if k else ''}" for k in xs if by_x.get(k) is None]
        last.append((shown, by_x.get(xs[-1]) if xs else None))
        if len(xs) > 1:
            ax.plot(xs, ys, marker="o", label=shown)
    if len(xs) == 1:
        heights = [np.nan if v is None else float(v) for _, v in last]
        ax.barh([n for n, _ in last], heights)
        ax.set_xlabel(f"Number of {spec.unit}")
    else:
        assert x is not None
        ax.set_xlabel(spec.title_of(x))
        ax.set_ylabel(f"Number of {spec.unit}")
        ax.set_ylim(bottom=0)
        if series:
            ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(spec.title, fontsize="medium")
    # fixed margins (tight_layout measures every label: slow, and not needed)
    fig.subplots_adjust(
        left=0.3 if len(xs) == 1 else 0.1,
        right=0.62 if series and len(xs) > 1 else 0.95,
        top=0.9,
        bottom=0.14,
    )
    fig.savefig(path, format="png")
    others = [spec.title_of(d) for d in spec.dims if d not in (x, series)]
    together = f", every {' and '.join(others)} added together" if others else ""
    values = "; ".join(f"{n} {_fmt(v)}" for n, v in last)
    if len(xs) > 1:
        assert x is not None
        alt = (
            f"Line chart of the number of {spec.unit} by {spec.title_of(x)}"
            + (f", one line per {spec.title_of(series)}" if series else "")
            + f"{together} ({xs[0]} to {xs[-1]}). In {xs[-1]}: {values}."
        )
    else:
        alt = (
            f"Bar chart of the number of {spec.unit}"
            + (f" by {spec.title_of(series)}" if series else "")
            + together
            + (f" in {xs[0]}" if xs and xs[0] else "")
            + f": {values}."
        )
    if withheld:
        alt += f" Suppressed and not drawn: {', '.join(withheld)}."
    return path, alt


def indicator_chart(
    summary: pd.DataFrame, indicator: str, latest: str, path: Path, unit: str = "quarter"
) -> tuple[Path, str]:
    """Horizontal bars of the latest published value per area, with the average
    (the rolling average of the summary) as a marker. Returns the path and the
    alternative text."""
    from matplotlib.figure import Figure

    rows = summary[summary["indicator"] == indicator]
    areas: Sequence[str] = list(rows["area"])[::-1]
    values = [np.nan if v is None else float(v) for v in rows["latest_value"]][::-1]
    averages = [np.nan if v is None else float(v) for v in rows["average"]][::-1]
    height = max(HEIGHT, 0.22 * len(areas) + 1.2)
    fig = Figure(figsize=(WIDTH, height), dpi=DPI)
    ax = fig.add_subplot()
    pos = np.arange(len(areas))
    ax.barh(pos, values, color="#1d70b8", label=f"{latest}")
    ax.plot(averages, pos, linestyle="none", marker="|", markersize=12, color="#d4351c")
    ax.set_yticks(pos, labels=areas, fontsize="small")
    ax.set_xlabel(f"{indicator}, {latest} (bars) and average (red marks)")
    ax.set_title(f"{indicator}: {latest} by area", fontsize="medium")
    ax.set_xlim(left=0)
    fig.subplots_adjust(left=0.3, right=0.96, top=1 - 0.5 / height, bottom=0.7 / height)
    fig.savefig(path, format="png")
    shown = [(a, v) for a, v in zip(areas[::-1], values[::-1], strict=True) if not np.isnan(v)]
    blank = [a for a, v in zip(areas[::-1], values[::-1], strict=True) if np.isnan(v)]
    top = sorted(shown, key=lambda av: -av[1])
    alt = (
        f"Bar chart of {indicator} in {latest} for {len(areas)} areas, with each area's "
        f"average as a mark."
        + (
            f" Highest: {top[0][0]} ({_fmt(top[0][1])}); lowest: {top[-1][0]} ({_fmt(top[-1][1])})."
            if top
            else ""
        )
        + (
            f" No published value for {latest} (not available or suppressed): {', '.join(blank)}."
            if blank
            else ""
        )
        + " The table below gives every value."
    )
    return path, alt
