"""The building blocks of messy identifiers: typos, swapped digits, check digits and
well-formed, unique reference numbers."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.datasets import BY_NAME, DATASETS, dataset_for_file
from fivesafes.synth import name_forms, names
from fivesafes.synth.identifiers import digit_swap, typo
from fivesafes.synth.population import (
    make_nhs_numbers,
    make_ninos,
    make_upns,
    nhs_check_digit,
    unique_numbers,
)


def osa_distance(a: str, b: str) -> int:
    """Edit distance counting a substitution, deletion, insertion or transposition of
    adjacent letters as one edit (optimal string alignment)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def is_adjacent_transposition(original: str, changed: str) -> bool:
    diff = [i for i in range(len(original)) if original[i] != changed[i]]
    return (
        len(original) == len(changed)
        and len(diff) == 2
        and diff[1] == diff[0] + 1
        and original[diff[0]] == changed[diff[1]]
        and original[diff[1]] == changed[diff[0]]
    )


def nhs_number_valid(number: str) -> bool:
    """The NHS number modulus-11 check."""
    if not re.fullmatch(r"[0-9]{10}", number):
        return False
    total = sum(int(c) * w for c, w in zip(number[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(number[9])


def test_osa_distance_helper() -> None:
    assert osa_distance("Smith", "Smith") == 0
    assert osa_distance("Smith", "Smyth") == 1
    assert osa_distance("Smith", "Simth") == 1
    assert osa_distance("Smith", "Smit") == 1
    assert osa_distance("Smith", "Smiths") == 1
    assert osa_distance("Smith", "Jones") == 5


@given(word=st.text(alphabet="abcdefghijklmnopqrstuvwxyzAEIOU'-", max_size=20), seed=st.integers(0))
def test_typo_is_always_one_keyboard_slip(word: str, seed: int) -> None:
    """A typo always changes the name, by exactly one edit a linkage comparator
    (e.g. Damerau-Levenshtein) would count as one."""
    rng = np.random.default_rng(seed)
    slipped = typo(word, rng)
    assert slipped != word
    assert osa_distance(word, slipped) == 1


@given(digits=st.text(alphabet="0123456789", min_size=2, max_size=13), seed=st.integers(0))
def test_digit_swap_transposes_two_adjacent_digits(digits: str, seed: int) -> None:
    ref = "AB" + digits + "C"
    swapped = digit_swap(ref, np.random.default_rng(seed))
    if len(set(digits)) == 1:
        assert swapped == ref  # nothing to transpose
    else:
        assert is_adjacent_transposition(ref, swapped)


def test_nhs_check_digit_of_published_example() -> None:
    # 943 476 5919 is the example NHS number in the NHS data dictionary.
    assert nhs_check_digit(np.array([943476591]))[0] == 9
    assert nhs_number_valid("9434765919")
    assert not nhs_number_valid("9434765918")
    assert not nhs_number_valid("9434765991")  # last two digits transposed


def test_nhs_check_digit_10_marks_an_unusable_base() -> None:
    # A base whose weighted sum is 1 mod 11 gives 10, which no NHS number may use;
    # every other base gives a number that passes the check.
    bases = np.arange(1000)
    checks = nhs_check_digit(bases)
    assert set(np.unique(checks)) == set(range(11))
    for b, c in zip(bases, checks, strict=True):
        if c == 10:
            continue
        assert nhs_number_valid(f"{b:09d}{c}")


def test_unique_numbers_are_unique_and_in_range() -> None:
    rng = np.random.default_rng(0)
    nums = unique_numbers(50_000, 10**6, rng)
    assert len(np.unique(nums)) == nums.size
    assert nums.min() >= 0 and nums.max() < 10**6
    with pytest.raises(ValueError, match="too small"):
        unique_numbers(200, 100, rng)


def test_reference_numbers_are_well_formed_and_unique() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    upns, nhs, ninos = make_upns(n, rng), make_nhs_numbers(n, rng), make_ninos(n, rng)
    for values in (upns, nhs, ninos):
        assert len(values) == n
        assert len(set(values)) == n
    upn_pattern = re.compile(BY_NAME["pupil_census"].column("upn").pattern or "")
    nino_pattern = re.compile(BY_NAME["earnings_survey"].column("nino").pattern or "")
    assert all(upn_pattern.fullmatch(u) for u in upns)
    assert all(nino_pattern.fullmatch(x) for x in ninos)
    assert all(nhs_number_valid(x) for x in nhs)
    # Real NINO rules: no D, F, I, Q, U, V anywhere in the prefix, no O second,
    # and none of the prefixes never issued.
    for x in ninos:
        assert not set(x[:2]) & set("DFIQUV"), x
        assert x[1] != "O", x
        assert x[:2] not in ("GB", "BG", "NK", "KN", "TN", "NT", "ZZ"), x


def test_every_dataset_file_name_round_trips() -> None:
    for ds in DATASETS:
        name = ds.file_name(2015 if ds.yearly else None)
        assert ds.matches(name)
        assert dataset_for_file(name) is ds
    assert dataset_for_file("pupil_census.csv") is None  # a yearly dataset needs a year
    assert dataset_for_file("pupil_census_15.csv") is None
    assert dataset_for_file("hospital_admissions_2015.csv") is None


def test_name_pools_and_alternatives() -> None:
    """Every origin has male and female forenames and surnames; alternatives and
    variants differ from the name they stand for."""
    for origin in names.ORIGINS:
        assert names.FORENAMES[origin]["M"] and names.FORENAMES[origin]["F"]
        assert names.SURNAMES[origin]
    for table in (names.ALTERNATIVES, names.SURNAME_VARIANTS):
        for name, options in table.items():
            assert options, name
            assert name not in options, name
    # Nicknames a linkage model must handle.
    assert "Bob" in names.ALTERNATIVES["Robert"]
    assert "Dave" in names.ALTERNATIVES["David"]


# -- the truth flags describe what was done to each provider row ---------------

#: The person's reference number each dataset carries (and the truth column of it).
PERSON_REFERENCE = {
    "pupil_census": "upn",
    "cla_episodes": "upn",
    "cin_census": "upn",
    "hospital_admissions": "nhs_number",
    "earnings_survey": "nino",
}


def ymd(day_numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dt = np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]")
    y = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    m = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (dt - dt.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, d


def month_length(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    start = ((y - 1970) * 12 + m - 1).astype("datetime64[M]")
    return ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(np.int64)


def bad_rows(d, mask: np.ndarray, columns: list[str]) -> str:
    """A few offending rows, for the assertion message."""
    return d.loc[mask, ["file", "row", "person_id", *columns]].head(5).to_string()


def test_dates_of_birth_match_their_flags(synth_world) -> None:
    for name, d in synth_world.linked.items():
        true, rec = d["true_dob_days"].to_numpy(), d["recorded_dob"].to_numpy()
        swap = d["dob_day_month_swap"].to_numpy() == 1
        off = d["dob_one_component_off"].to_numpy() == 1
        filler = d["dob_filler"].to_numpy() == 1
        assert not (swap & off).any() and not ((swap | off) & filler).any()
        clean = ~swap & ~off & ~filler
        assert (rec[clean] == true[clean]).all(), bad_rows(d, clean & (rec != true), [])

        y, m, dd = ymd(true)
        ry, rm, rd = ymd(rec)
        # A filler: 1 January of the true year, never where that is the true date.
        assert ((ry == y) & (rm == 1) & (rd == 1))[filler].all()
        assert not ((m == 1) & (dd == 1))[filler].any()
        # Swapped: the recorded date is the true one with day and month exchanged.
        ok = (ry == y) & (rm == dd) & (rd == m)
        assert ok[swap].all(), bad_rows(d, swap & ~ok, ["date_of_birth", "true_date_of_birth"])
        # Swaps happen only where the swapped date is a different, real date.
        assert ((dd <= 12) & (dd != m))[swap].all()

        # One component off by one: the day (as a date, +-1 day), the month (+-1,
        # wrapping within the year) or the year; a day past the end of the new
        # month becomes its last day.
        day_off = np.abs(rec - true) == 1
        month_step = ((rm - m) % 12 == 1) | ((m - rm) % 12 == 1)
        month_off = (ry == y) & month_step & (rd == np.minimum(dd, month_length(ry, rm)))
        year_off = (np.abs(ry - y) == 1) & (rm == m) & (rd == np.minimum(dd, month_length(ry, rm)))
        ok = (day_off | month_off | year_off) & (rec != true)
        assert ok[off].all(), bad_rows(d, off & ~ok, ["date_of_birth", "true_date_of_birth"])
        assert swap.sum() + off.sum() > 0 or len(d) < 500, name


def test_sex_matches_its_flag(synth_world) -> None:
    for d in synth_world.linked.values():
        wrong = (d["sex"] != d["true_sex"]).to_numpy()
        assert (wrong == (d["sex_wrong"] == 1).to_numpy()).all()
        assert d["sex"].isin(["M", "F"]).all()


def test_postcodes_match_their_flags(synth_world) -> None:
    """Missing: blank postcode and area. Outdated: the postcode before the person's
    move, recorded after it. Otherwise: the postcode where the person lived on the
    record's date."""
    for d in synth_world.linked.values():
        moved = d["record_day"].to_numpy() >= d["true_move_days"].to_numpy()
        missing = d["postcode_missing"].to_numpy() == 1
        outdated = d["postcode_outdated"].to_numpy() == 1
        blank = (d["postcode"] == "").to_numpy()
        assert (blank == missing).all(), bad_rows(d, blank != missing, ["postcode"])
        assert ((d["area_code"] == "").to_numpy() == missing).all()
        assert not (missing & outdated).any()

        old_pc, new_pc = d["true_postcode"].to_numpy(), d["true_postcode_after_move"].to_numpy()
        old_area, new_area = d["true_area_code"].to_numpy(), d["true_area_code_after_move"]
        pc, area = d["postcode"].to_numpy(), d["area_code"].to_numpy()
        ok = moved & (old_pc != new_pc) & (pc == old_pc) & (area == old_area)
        assert ok[outdated].all(), bad_rows(d, outdated & ~ok, ["postcode", "true_move_date"])
        current_pc = np.where(moved, new_pc, old_pc)
        current_area = np.where(moved, new_area.to_numpy(), old_area)
        rest = ~missing & ~outdated
        ok = (pc == current_pc) & (area == current_area)
        assert ok[rest].all(), bad_rows(d, rest & ~ok, ["postcode", "true_postcode"])


def test_forenames_match_their_flags(synth_world) -> None:
    """Unflagged forenames are true; a nickname or alternative spelling comes from
    names.ALTERNATIVES of the true name; a typo is one keyboard slip away."""
    alternatives_seen = 0
    for d in synth_world.linked.values():
        alt = (d["forename_alternative"] == 1).to_numpy()
        slip = (d["forename_typo"] == 1).to_numpy()
        rec, true = d["forename"].to_numpy(), d["true_forename"].to_numpy()
        real = {k: (d[k] == 1).to_numpy() for k in FORENAME_KINDS}
        clean = ~alt & ~slip & ~np.logical_or.reduce(list(real.values()))
        assert (rec[clean] == true[clean]).all(), bad_rows(d, clean & (rec != true), ["forename"])
        # The real-world kinds touch only names with no other error.
        assert not ((alt | slip) & np.logical_or.reduce(list(real.values()))).any()
        for r, t in zip(rec[real["forename_initial"]], true[real["forename_initial"]], strict=True):
            assert r == t[0] + ".", (r, t)
        for r, t in zip(rec[real["forename_form"]], true[real["forename_form"]], strict=True):
            assert r in name_forms.WELSH_ENGLISH[t], (r, t)
        for r, t in zip(rec[real["name_formatting"]], true[real["name_formatting"]], strict=True):
            assert fold(r) == fold(t), (r, t)
        for r, t in zip(rec[alt & ~slip], true[alt & ~slip], strict=True):
            assert r in names.ALTERNATIVES[t], (r, t)
            alternatives_seen += 1
        for r, t in zip(rec[slip & ~alt], true[slip & ~alt], strict=True):
            assert osa_distance(r, t) == 1, (r, t)
        for r, t in zip(rec[slip & alt], true[slip & alt], strict=True):
            assert min(osa_distance(r, a) for a in names.ALTERNATIVES[t]) <= 1, (r, t)
    assert alternatives_seen > 1000


def test_surnames_match_their_flags(synth_world) -> None:
    """The surname in use on the record's date (the new one after a change), unless
    flagged: the old one (only possible after a change), a spelling variant from
    names.SURNAME_VARIANTS, or one typo."""
    old_seen = 0
    for d in synth_world.linked.values():
        changed = d["record_day"].to_numpy() >= d["true_change_days"].to_numpy()
        old = (d["surname_old"] == 1).to_numpy()
        var = (d["surname_variant"] == 1).to_numpy()
        slip = (d["surname_typo"] == 1).to_numpy()
        assert changed[old].all(), bad_rows(d, old & ~changed, ["surname", "true_surname_change"])
        old_seen += old.sum()
        in_use = np.where(
            changed & ~old, d["true_new_surname"].to_numpy(), d["true_surname"].to_numpy()
        )
        rec = d["surname"].to_numpy()
        real = {k: (d[k] == 1).to_numpy() for k in SURNAME_KINDS}
        clean = ~var & ~slip & ~np.logical_or.reduce(list(real.values()))
        assert (rec[clean] == in_use[clean]).all(), bad_rows(d, clean & (rec != in_use), [])
        part = real["surname_part"]
        for r, t in zip(rec[part], in_use[part], strict=True):
            assert r in t.replace("-", " ").split(), (r, t)
        swapped = real["names_swapped"]
        assert (rec[swapped] == d["true_forename"].to_numpy()[swapped]).all()
        for r, t in zip(rec[var & ~slip], in_use[var & ~slip], strict=True):
            assert r in names.SURNAME_VARIANTS[t], (r, t)
        for r, t in zip(rec[slip & ~var], in_use[slip & ~var], strict=True):
            assert osa_distance(r, t) == 1, (r, t)
    assert old_seen > 1000


FORENAME_KINDS = (
    "names_swapped",
    "forename_initial",
    "forename_form",
    "name_transliterated",
    "name_formatting",
)
SURNAME_KINDS = ("names_swapped", "surname_part", "name_transliterated", "name_formatting")


def fold(name: str) -> str:
    """Accents, case and spaces removed, to compare a name as formatted."""
    plain = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in plain if ch.isalpha() and not unicodedata.combining(ch)).lower()


def test_reference_numbers_match_their_flags(synth_world) -> None:
    """Missing: blank. Mistyped: two adjacent digits of the true number transposed.
    Otherwise the person's true number. Never both missing and mistyped."""
    typos_seen = 0
    for name, column in PERSON_REFERENCE.items():
        d = synth_world.linked[name]
        missing = (d["reference_missing"] == 1).to_numpy()
        slip = (d["reference_typo"] == 1).to_numpy()
        rec, true = d[column].to_numpy(), d[f"true_{column}"].to_numpy()
        assert not (missing & slip).any(), bad_rows(d, missing & slip, [column])
        assert ((rec == "") == missing).all(), bad_rows(d, (rec == "") != missing, [column])
        clean = ~missing & ~slip
        assert (rec[clean] == true[clean]).all(), bad_rows(d, clean & (rec != true), [column])
        for r, t in zip(rec[slip], true[slip], strict=True):
            assert is_adjacent_transposition(t, r), (name, r, t)
        typos_seen += slip.sum()
    assert typos_seen > 100

    # PNC ids: one per offender, never shared; blank exactly when flagged missing.
    d = synth_world.linked["justice_offences"]
    present = d[d["pnc_id"] != ""]
    assert ((d["pnc_id"] == "") == (d["reference_missing"] == 1)).all()
    clean = present[present["reference_typo"] == 0]
    assert (clean.groupby("person_id")["pnc_id"].nunique() == 1).all()
    assert (clean.groupby("pnc_id")["person_id"].nunique() == 1).all()
    # Local authorities' child ids: always sent, one per child across both returns.
    care = pd.concat([synth_world.linked["cla_episodes"], synth_world.linked["cin_census"]])
    assert (care["child_id"] != "").all()
    assert (care.groupby("person_id")["child_id"].nunique() == 1).all()
    assert (care.groupby("child_id")["person_id"].nunique() == 1).all()


def test_duplicates_repeat_a_real_record(synth_world) -> None:
    """A duplicate is the same record sent twice: another row of the same dataset and
    file, for the same person, with the same content (identifiers may differ)."""
    for name, d in synth_world.linked.items():
        content = [
            c.name for c in BY_NAME[name].columns if c.zone == "content" and c.name != "area_code"
        ]
        key = ["file", "person_id", *content]
        dups = d[d["duplicate"] == 1]
        originals = d[d["duplicate"] == 0][key].drop_duplicates()
        found = dups[key].merge(originals, on=key, how="left", indicator=True)
        assert (found["_merge"] == "both").all(), (name, found[found["_merge"] != "both"].head())
        assert len(dups) > 0 or len(d) < 2000, name


def test_world_nhs_numbers_pass_modulus_11(synth_world) -> None:
    """Every NHS number a hospital sends passes the modulus-11 check unless it was
    mistyped; a transposition within the first nine digits always fails it, which
    is why linkage can trust a valid NHS number."""
    d = synth_world.linked["hospital_admissions"]
    present = d[d["nhs_number"] != ""]
    clean = present[present["reference_typo"] == 0]
    assert len(clean) > 10_000
    assert all(nhs_number_valid(x) for x in clean["nhs_number"])
    slipped = present[present["reference_typo"] == 1]
    within_base = [
        r
        for r, t in zip(slipped["nhs_number"], slipped["true_nhs_number"], strict=True)
        if r[9] == t[9]
    ]
    assert len(within_base) > 20
    assert not any(nhs_number_valid(r) for r in within_base)
    assert all(nhs_number_valid(x) for x in synth_world.people["nhs_number"])
