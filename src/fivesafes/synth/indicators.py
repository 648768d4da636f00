"""Synthetic quarterly criminal justice indicators per board area.

A long table in the input format of ``fivesafes indicators`` (``area``,
``indicator``, ``period``, ``value``) for a list of criminal justice board areas
(by default the 42 synthetic local authority names of :mod:`fivesafes.synth.geography`,
one board each), 2019Q1 to 2025Q4. Each area has a size (log-normal, so a few
small areas give small numbers); each indicator is a share of the one before
(suspects referred → charged → cases received at magistrates' courts → cases
received at the Crown Court), with a seasonal wave, a slow trend and the
lockdown dip of 2020Q2. Then, as real returns do: about 3% of quarters are
``N/A``, about 2% have no row at all, a few areas did not report the latest
quarter, and the smallest Crown Court counts include zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fivesafes.analysis.indicators import COLUMNS, quarters
from fivesafes.synth.geography import LA_NAMES

#: (indicator, share of the previous indicator, or the base rate per 1,000 of size)
INDICATORS: tuple[tuple[str, float], ...] = (
    ("Suspects referred", 0.0),
    ("Suspects charged", 0.72),
    ("Cases received at magistrates' courts", 0.85),
    ("Cases received at the Crown Court", 0.09),
)


def make_indicators(
    seed: int = 1,
    areas: Sequence[str] | None = None,
    first: str = "2019Q1",
    last: str = "2025Q4",
) -> pd.DataFrame:
    """The synthetic table as text cells (``N/A`` for a missing quarter)."""
    rng = np.random.default_rng(seed)
    names = list(areas) if areas is not None else [f"{n} CJB" for n in LA_NAMES]
    periods = quarters(first, last)
    t = np.arange(len(periods))
    quarter = np.array([int(p[-1]) for p in periods])
    size = rng.lognormal(mean=np.log(900), sigma=0.8, size=len(names))
    size[rng.choice(len(names), size=min(3, len(names)), replace=False)] = rng.uniform(
        25, 60, size=min(3, len(names))
    )  # a few very small areas: small numbers to protect
    season = 1 + 0.06 * np.cos(2 * np.pi * (quarter - 1) / 4)
    trend = 1 - 0.01 * t
    lockdown = np.where(np.array(periods) == "2020Q2", 0.6, 1.0)
    late = set(rng.choice(len(names), size=max(1, len(names) // 15), replace=False).tolist())
    rows: list[tuple[str, str, str, str]] = []
    for a, name in enumerate(names):
        expected = size[a] * season * trend * lockdown * rng.lognormal(0, 0.05, len(t))
        for indicator, share in INDICATORS:
            if share:
                expected = expected * share * rng.lognormal(0, 0.04, len(t))
            counts = rng.poisson(np.maximum(expected, 0))
            for k, period in enumerate(periods):
                u = rng.random()
                if a in late and k == len(periods) - 1:
                    continue  # did not report the latest quarter
                if u < 0.02:
                    continue  # no row at all
                value = "N/A" if u < 0.05 else str(int(counts[k]))
                rows.append((name, indicator, period, value))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_indicators(
    path: str | Path, seed: int = 1, areas: Sequence[str] | None = None
) -> pd.DataFrame:
    """Write the synthetic table as CSV (and return it)."""
    df = make_indicators(seed=seed, areas=areas)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return df
