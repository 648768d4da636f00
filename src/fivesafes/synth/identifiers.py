"""Identifiers as a provider records them: the truth, with realistic errors.

Given the person behind each record and the record's date, this gives the
identifier columns a provider would send (names, date of birth, sex, postcode,
a reference number) after typos, nicknames, changes of surname, swapped day and
month, outdated or missing postcodes and missing reference numbers, and the
kinds real administrative data carries (forename and surname swapped between the
fields, a forename reduced to its initial, one part of a double-barrelled
surname, Welsh and English forms, other transliterations, accents, case and
stray spaces, filler dates of birth, transposed digits in a reference number),
each at the rates of :class:`~fivesafes.synth.config.ErrorRates`, which differ
by dataset, by the name's origin and by age. Other forms of names come from the
generator's own lists (:mod:`fivesafes.synth.name_forms`), never the linkage's.
It also returns a flag per error so that the truth file says exactly what was done to each record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fivesafes.synth import name_forms, names
from fivesafes.synth.config import ErrorRates
from fivesafes.synth.geography import Geography
from fivesafes.synth.population import Population
from fivesafes.synth.records import NO_DAY, age_at

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
    # Real-world kinds (issue 16), at most one of the name kinds per record:
    "names_swapped",
    "forename_initial",
    "surname_part",
    "forename_form",
    "name_transliterated",
    "name_formatting",
    "dob_filler",
)
#: The error kinds the quality report counts per kind (``reference_typo`` is a
#: transposition of two adjacent digits).
REAL_WORLD_KINDS = (*ERROR_FLAGS[-7:], "reference_typo")
VOWEL_ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú"}


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


def _formatted(name: str, rng: np.random.Generator) -> str:
    """The name as a careless form or system writes it: accented, all upper or
    lower case, or with stray or inner spaces."""
    kind = int(rng.integers(4))
    if kind == 0:
        if name in name_forms.ACCENTED:
            return name_forms.ACCENTED[name]
        vowels = [i for i, ch in enumerate(name) if ch in VOWEL_ACCENTS]
        if vowels:
            i = vowels[int(rng.integers(len(vowels)))]
            return name[:i] + VOWEL_ACCENTS[name[i]] + name[i + 1 :]
        kind = 1
    if kind == 1:
        return name.upper()
    if kind == 2:
        return name.lower()
    cut = int(rng.integers(1, len(name))) if len(name) > 3 else len(name)
    return " " + name[:cut] + (" " if cut < len(name) else "") + name[cut:] + "  "


def _real_world_names(
    forename: np.ndarray,
    surname: np.ndarray,
    pid: np.ndarray,
    day: np.ndarray,
    dataset: str,
    pop: Population,
    rates: ErrorRates,
    rng: np.random.Generator,
    flags: dict[str, np.ndarray],
) -> None:
    """Plant the real-world name kinds in ``forename`` and ``surname`` (in place),
    at most one per record and only in records whose names carry no other error
    (so each is the true name in use), and set their flags."""
    n = len(pid)
    m_ds = rates.dataset_multiplier.get(dataset, 1.0)
    k_ds = rates.kind_dataset_multiplier.get(dataset, {})
    origin = pop.origin[pid]
    foreign = (origin != "british") & (origin != "welsh")
    older = (day != NO_DAY) & (age_at(pop.dob[pid], day) >= 65)
    free = ~(
        flags["forename_alternative"]
        | flags["forename_typo"]
        | flags["surname_variant"]
        | flags["surname_typo"]
    )

    def pick(kind: str, rate: float | np.ndarray, eligible: np.ndarray) -> np.ndarray:
        chosen = free & eligible & (rng.random(n) < np.minimum(rate * k_ds.get(kind, 1.0), 1.0))
        free[chosen] = False
        flags[kind] = chosen
        return chosen

    every = np.ones(n, dtype=bool)
    swap = pick(
        "names_swapped",
        rates.names_swapped * m_ds * np.where(foreign, rates.foreign_swap_multiplier, 1.0),
        every,
    )
    forename[swap], surname[swap] = surname[swap], forename[swap].copy()
    initial = pick(
        "forename_initial",
        rates.forename_initial * m_ds * np.where(older, rates.older_multiplier, 1.0),
        np.array([len(f) > 1 for f in forename], dtype=bool),
    )
    # Written with a stop ("J."), as forms do; a bare letter would read as a code.
    forename[initial] = [f[0] + "." for f in forename[initial]]
    barrelled = np.array([("-" in s) or (" " in s.strip()) for s in surname], dtype=bool)
    part = pick("surname_part", rates.surname_part, barrelled)
    for i in np.flatnonzero(part):
        pieces = [p for p in surname[i].replace("-", " ").split() if p]
        surname[i] = pieces[int(rng.integers(len(pieces)))]
    has_form = pd.Series(forename).isin(name_forms.WELSH_ENGLISH.keys()).to_numpy()
    form = pick("forename_form", rates.forename_form, has_form & ~foreign)
    for i in np.flatnonzero(form):
        options = name_forms.WELSH_ENGLISH[forename[i]]
        forename[i] = options[int(rng.integers(len(options)))]
    known = name_forms.TRANSLITERATIONS.keys()
    fore_t = pd.Series(forename).isin(known).to_numpy()
    sur_t = pd.Series(surname).isin(known).to_numpy()
    trans = pick("name_transliterated", rates.name_transliterated, fore_t | sur_t)
    for i in np.flatnonzero(trans):
        col = forename if fore_t[i] and (not sur_t[i] or rng.random() < 0.5) else surname
        options = name_forms.TRANSLITERATIONS[col[i]]
        col[i] = options[int(rng.integers(len(options)))]
    fmt = pick("name_formatting", rates.name_formatting * m_ds, every)
    for i in np.flatnonzero(fmt):
        if rng.random() < 0.5:
            forename[i] = _formatted(forename[i], rng)
        else:
            surname[i] = _formatted(surname[i], rng)


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
    # The real-world kinds draw from a stream of their own (spawning leaves this
    # one's state as it was), so every other draw of a world is as before.
    own = rng.spawn(1)[0]
    _real_world_names(forename, surname, pid, day, dataset, pop, rates, own, flags)

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
    # A filler date: 1 January of the year of birth (1900-01-01, also common in
    # real data, lies outside the catalogue's range of dates of birth); more often
    # for people born abroad and for older people.
    k_ds = rates.kind_dataset_multiplier.get(dataset, {})
    older = (day != NO_DAY) & (age_at(dob, day) >= 65)
    filler_rate = (
        rates.dob_filler
        * m_ds
        * k_ds.get("dob_filler", 1.0)
        * np.where(pop.arrival_year[pid] > 0, rates.filler_immigrant_multiplier, 1.0)
        * np.where(older, rates.older_multiplier, 1.0)
    )
    filler = (own.random(n) < np.minimum(filler_rate, 1.0)) & ~((m == 1) & (d == 1))
    recorded_dob[filler] = _days_from_ymd(
        y[filler], np.ones_like(y[filler]), np.ones_like(y[filler])
    )
    swap &= ~filler
    off &= ~filler
    flags["dob_day_month_swap"] = swap
    flags["dob_one_component_off"] = off
    flags["dob_filler"] = filler

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
