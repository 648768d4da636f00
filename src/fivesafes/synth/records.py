"""Records before they are written: who, when, what, and small shared helpers.

A :class:`Records` holds, for one dataset, the person behind each row (``pid``,
kept for the truth file only), the date the record was made (``day``, which
decides the surname and postcode in use), and the content columns. Dates are
held as days since 1970-01-01; :data:`NO_DAY` marks a date left blank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

NO_DAY = -(2**31)


@dataclass
class Records:
    pid: np.ndarray
    day: np.ndarray
    columns: dict[str, np.ndarray]
    reference: str | None = None  # name of the reference-number column, if any
    year: np.ndarray | None = None  # file year, for yearly datasets
    extra_truth: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pid)

    def take(self, idx: np.ndarray) -> Records:
        return Records(
            pid=self.pid[idx],
            day=self.day[idx],
            columns={k: v[idx] for k, v in self.columns.items()},
            reference=self.reference,
            year=None if self.year is None else self.year[idx],
            extra_truth={k: v[idx] for k, v in self.extra_truth.items()},
        )


def day(y: int, m: int = 1, d: int = 1) -> int:
    """Days since 1970-01-01 of a calendar date."""
    return int(np.datetime64(f"{y:04d}-{m:02d}-{d:02d}").astype(np.int64))


def year_start(years: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of 1 January of each year."""
    return (
        (np.asarray(years) - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    )


def years_of(days: np.ndarray) -> np.ndarray:
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def months_of(days: np.ndarray) -> np.ndarray:
    return (
        np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    )


def age_at(dob: np.ndarray, when: np.ndarray | int) -> np.ndarray:
    """Age in whole years (approximate to a day or so around birthdays)."""
    return np.floor((np.asarray(when) - dob) / 365.25).astype(np.int64)


def expit(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float))))


def blank(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` as an object array with ``None`` (a blank field) where ``mask``."""
    out = np.asarray(values).astype(object)
    out[np.asarray(mask, dtype=bool)] = None
    return out


def pick(codes: Sequence[str], p: Sequence[float], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` codes drawn with probabilities ``p`` (normalised)."""
    w = np.asarray(p, dtype=float)
    return np.asarray(codes, dtype=object)[rng.choice(len(codes), n, p=w / w.sum())]
