"""Identifiers as a provider records them: the truth, with realistic errors.

Given the person behind each record and the record's date, this gives the
identifier columns a provider would send (names, date of birth, sex, postcode,
a reference number) after typos, nicknames, changes of surname, swapped day and
month, outdated or missing postcodes and missing reference numbers, each at the
rates of :class:`~fivesafes.synth.config.ErrorRates`. It also returns a flag per
error so that the truth file says exactly what was done to each record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fivesafes.synth import names
from fivesafes.synth.config import ErrorRates
from fivesafes.synth.geography import Geography
from fivesafes.synth.population import Population

LOWER = "abcdefghijklmnopqrstuvwxyz"
ERROR_FLAGS = (
    "forename_typo",
    "forename_alternative",
    "surname_typo",
    "surname_variant",
    "surname_old",
    "dob_day_month_swap",
    "dob_one_component_off",
    "postcode_missing",
    "postcode_outdated",
    "reference_missing",
    "reference_typo",
    "sex_wrong",
)


def typo(word: str, rng: np.random.Generator) -> str:
    """One keyboard-style slip: substitute, delete, insert or transpose a letter."""
    if len(word) < 3:
        return word + LOWER[int(rng.integers(26))]
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(4))
    ch = LOWER[int(rng.integers(26))]
    if kind == 0:
        new = word[:i] + ch + word[i + 1 :]
    elif kind == 1:
        new = word[:i] + word[i + 1 :]
    elif kind == 2:
        new = word[:i] + ch + word[i:]
    else:
        new = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    return new if new != word else word + ch


def digit_swap(ref: str, rng: np.random.Generator) -> str:
    """Transpose two adjacent digits of a reference number."""
    pos = [i for i in range(len(ref) - 1) if ref[i].isdigit() and ref[i + 1].isdigit()]
    pos = [i for i in pos if ref[i] != ref[i + 1]] or pos
    if not pos:
        return ref
    i = pos[int(rng.integers(len(pos)))]
    return ref[:i] + ref[i + 1] + ref[i] + ref[i + 2 :]


def _days_from_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    months = (y - 1970) * 12 + (m - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + d - 1


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dt = days.astype("datetime64[D]")
    y = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    m = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (dt - dt.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, d


def recorded_identifiers(
    pid: np.ndarray,
    day: np.ndarray,
    dataset: str,
    pop: Population,
    geo: Geography,
    rates: ErrorRates,
    rng: np.random.Generator,
    reference: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Identifier columns for records of persons ``pid`` dated ``day``.

    Returns ``(columns, flags)``: columns ``forename``, ``surname``,
    ``date_of_birth`` (days since 1970), ``sex``, ``postcode``, ``area`` (index of
    the recorded postcode's area, -1 if missing) and ``reference`` (if given);
    flags: one boolean array per name in :data:`ERROR_FLAGS`.
    """
    n = len(pid)
    m_ds = rates.dataset_multiplier.get(dataset, 1.0)
    origin = pop.origin[pid]
    foreign = (origin != "british") & (origin != "welsh")
    m_name = np.where(foreign, rates.non_british_name_multiplier, 1.0) * m_ds
    flags: dict[str, np.ndarray] = {}

    def chance(rate: float | np.ndarray) -> np.ndarray:
        return rng.random(n) < np.minimum(rate, 1.0)

    # Forenames: nicknames and alternative spellings, then typos.
    forename = pop.forename[pid].copy()
    has_alt = pd.Series(forename).isin(names.ALTERNATIVES.keys()).to_numpy()
    alt = chance(rates.forename_alternative * m_name) & has_alt
    for i in np.flatnonzero(alt):
        options = names.ALTERNATIVES[forename[i]]
        forename[i] = options[int(rng.integers(len(options)))]
    flags["forename_alternative"] = alt
    ftypo = chance(rates.forename_typo * m_name)
    for i in np.flatnonzero(ftypo):
        forename[i] = typo(forename[i], rng)
    flags["forename_typo"] = ftypo

    # Surnames: the one in use at the record's date, sometimes still the old one.
    changed = day >= pop.surname_change[pid]
    old = changed & chance(rates.surname_old)
    surname = np.where(changed & ~old, pop.new_surname[pid], pop.surname[pid])
    flags["surname_old"] = old
    has_var = pd.Series(surname).isin(names.SURNAME_VARIANTS.keys()).to_numpy()
    svar = chance(rates.surname_variant * m_name) & has_var
    for i in np.flatnonzero(svar):
        options = names.SURNAME_VARIANTS[surname[i]]
        surname[i] = options[int(rng.integers(len(options)))]
    flags["surname_variant"] = svar
    stypo = chance(rates.surname_typo * m_name)
    for i in np.flatnonzero(stypo):
        surname[i] = typo(surname[i], rng)
    flags["surname_typo"] = stypo

    # Date of birth: day and month swapped, or one component off by one.
    dob = pop.dob[pid].astype(np.int64)
    y, m, d = _ymd(dob)
    swap = chance(rates.dob_day_month_swap * m_ds) & (d <= 12) & (d != m)
    off = chance(rates.dob_one_component_off * m_ds) & ~swap
    which = rng.integers(3, size=n)
    step = np.where(rng.random(n) < 0.5, -1, 1)
    y2, m2, d2 = y.copy(), m.copy(), d.copy()
    m2[swap], d2[swap] = d[swap], m[swap]
    month_off = off & (which == 1)
    m2[month_off] = (m[month_off] - 1 + step[month_off]) % 12 + 1
    year_off = off & (which == 2)
    y2[year_off] += step[year_off]
    # Keep the day unless the new month is shorter (31 March -> 30 April, 29 February).
    shift = month_off | year_off
    month_length = _days_from_ymd(y2, m2 + 1, np.ones_like(d2)) - _days_from_ymd(
        y2, m2, np.ones_like(d2)
    )
    d2[shift] = np.minimum(d2[shift], month_length[shift])
    recorded_dob = _days_from_ymd(y2, m2, d2)
    day_off = off & (which == 0)
    recorded_dob[day_off] = dob[day_off] + step[day_off]
    flags["dob_day_month_swap"] = swap
    flags["dob_one_component_off"] = off

    # Sex, rarely mis-recorded.
    sex = pop.sex[pid].copy()
    wrong_sex = chance(rates.sex_wrong)
    sex[wrong_sex] = np.where(sex[wrong_sex] == "M", "F", "M")
    flags["sex_wrong"] = wrong_sex

    # Postcode: the one at the record's date; after a move sometimes the old one.
    moved = day >= pop.move[pid]
    outdated = moved & chance(rates.postcode_outdated * m_ds)
    current = moved & ~outdated
    postcode = np.where(current, pop.postcode1[pid], pop.postcode0[pid]).astype(object)
    area = np.where(current, pop.area1[pid], pop.area0[pid]).astype(np.int64)
    deprived = geo.deprivation_quintile[area] == 1
    m_pc = np.where(deprived, rates.deprived_postcode_multiplier, 1.0) * m_ds
    missing_pc = chance(rates.postcode_missing * m_pc)
    postcode[missing_pc] = None
    area[missing_pc] = -1
    flags["postcode_missing"] = missing_pc
    flags["postcode_outdated"] = outdated & ~missing_pc

    cols: dict[str, np.ndarray] = {
        "forename": forename,
        "surname": surname,
        "date_of_birth": recorded_dob,
        "sex": sex,
        "postcode": postcode,
        "area": area,
    }
    if reference is not None:
        ref = reference.astype(object).copy()
        present = pd.notna(ref) & (ref != "")
        missing_ref = chance(rates.reference_missing * m_ds) & present
        rtypo = chance(rates.reference_typo * m_ds) & present & ~missing_ref
        for i in np.flatnonzero(rtypo):
            ref[i] = digit_swap(ref[i], rng)
        ref[missing_ref] = None
        cols["reference"] = ref
        flags["reference_missing"] = missing_ref
        flags["reference_typo"] = rtypo
    else:
        flags["reference_missing"] = np.zeros(n, dtype=bool)
        flags["reference_typo"] = np.zeros(n, dtype=bool)
    return cols, flags
