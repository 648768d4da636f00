"""Identifier error rates in the synthetic world match the configured ones.

Each row's chance of each error is worked out from ``ErrorRates`` and what the truth
says about the row (dataset, name origin, whether the name has an alternative, date
of birth, moves, changes of surname, deprivation), then the flags in
``truth/records.csv`` are compared with the sum of those chances. Tolerance: 4
binomial standard errors, and each test also asserts that it has enough records for
a rate off by a factor of 2 to fall outside it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fivesafes.datasets import PERSON_DATASETS
from fivesafes.synth import name_forms, names
from fivesafes.synth.config import ErrorRates
from fivesafes.synth.identifiers import ERROR_FLAGS
from fivesafes.synth.world import UPN_MISSING_IN_CARE

Z = 4.0
ALTERNATIVE_NAMES = set(names.ALTERNATIVES)
VARIANT_SURNAMES = set(names.SURNAME_VARIANTS)
WITH_REFERENCE = {
    "pupil_census",
    "justice_offences",
    "cla_episodes",
    "cin_census",
    "hospital_admissions",
    "earnings_survey",
}
CARE_RETURNS = {"cla_episodes", "cin_census"}  # UPN often left out on top


def foreign_name(d: pd.DataFrame) -> np.ndarray:
    return ~d["true_name_origin"].isin(["british", "welsh"]).to_numpy()


def name_factor(d: pd.DataFrame, rates: ErrorRates) -> np.ndarray:
    return np.where(foreign_name(d), rates.non_british_name_multiplier, 1.0)


def deprived_factor(quintile: pd.Series, rates: ErrorRates) -> np.ndarray:
    return np.where(quintile.to_numpy() == 1, rates.deprived_postcode_multiplier, 1.0)


def chances(name: str, d: pd.DataFrame, rates: ErrorRates) -> dict[str, np.ndarray]:
    """Each row's probability of each error flag, from the configuration and the truth.

    Where one error decides whether another is possible (a swapped date of birth
    rules out a component off by one, a missing reference cannot be mistyped), the
    probability is conditional on the observed flag of the first.
    """
    n = len(d)
    m = rates.dataset_multiplier.get(name, 1.0)
    m_name = name_factor(d, rates) * m
    p: dict[str, np.ndarray] = {}
    has_alt = d["true_forename"].isin(ALTERNATIVE_NAMES).to_numpy()
    p["forename_alternative"] = np.minimum(rates.forename_alternative * m_name, 1) * has_alt
    p["forename_typo"] = np.minimum(rates.forename_typo * m_name, 1)

    changed = d["record_day"].to_numpy() >= d["true_change_days"].to_numpy()
    p["surname_old"] = rates.surname_old * changed
    old = d["surname_old"].to_numpy() == 1
    in_use = pd.Series(np.where(changed & ~old, d["true_new_surname"], d["true_surname"]))
    p["surname_variant"] = rates.surname_variant * m_name * in_use.isin(VARIANT_SURNAMES)
    p["surname_typo"] = np.minimum(rates.surname_typo * m_name, 1)

    dob = d["true_dob_days"].to_numpy().astype("datetime64[D]")
    month = dob.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (dob - dob.astype("datetime64[M]")).astype(np.int64) + 1
    swappable = (day <= 12) & (day != month)
    p["dob_day_month_swap"] = rates.dob_day_month_swap * m * swappable
    not_swapped = d["dob_day_month_swap"].to_numpy() == 0
    p["dob_one_component_off"] = rates.dob_one_component_off * m * not_swapped
    p["sex_wrong"] = np.full(n, rates.sex_wrong)

    # Postcodes: outdated only after a move; missing more in the most deprived areas
    # (of the postcode recorded: the old one if outdated).
    moved = d["record_day"].to_numpy() >= d["true_move_days"].to_numpy()
    miss_old = rates.postcode_missing * m * deprived_factor(d["true_q0"], rates)
    miss_new = rates.postcode_missing * m * deprived_factor(d["true_q1"], rates)
    outdated = rates.postcode_outdated * m
    p["postcode_outdated"] = moved * outdated * (1 - miss_old)
    p["postcode_missing"] = np.where(
        moved, (1 - outdated) * miss_new + outdated * miss_old, miss_old
    )

    has_ref = name in WITH_REFERENCE
    missing = rates.reference_missing * m * has_ref
    if name in CARE_RETURNS:
        missing = 1 - (1 - missing) * (1 - UPN_MISSING_IN_CARE)
    p["reference_missing"] = np.full(n, missing)
    present = d["reference_missing"].to_numpy() == 0
    p["reference_typo"] = rates.reference_typo * m * has_ref * present

    # The real-world kinds: at most one name kind per record, in this order, and
    # only where no other name error was made; filler dates of birth.
    k = rates.kind_dataset_multiplier.get(name, {})
    record_day = d["record_day"].to_numpy()
    older = np.floor((record_day - d["true_dob_days"].to_numpy()) / 365.25) >= 65
    free = d[["forename_alternative", "forename_typo", "surname_variant", "surname_typo"]] == 0
    free_now = free.all(axis=1).to_numpy()
    forename = d["true_forename"]
    eligible = {
        "names_swapped": np.ones(n, dtype=bool),
        "forename_initial": (forename.str.len() > 1).to_numpy(),
        "surname_part": in_use.str.contains(r"[- ]").to_numpy(),
        "forename_form": forename.isin(name_forms.WELSH_ENGLISH).to_numpy() & ~foreign_name(d),
        "name_transliterated": (
            forename.isin(name_forms.TRANSLITERATIONS) | in_use.isin(name_forms.TRANSLITERATIONS)
        ).to_numpy(),
        "name_formatting": np.ones(n, dtype=bool),
    }
    base = {
        "names_swapped": rates.names_swapped
        * m
        * np.where(foreign_name(d), rates.foreign_swap_multiplier, 1.0),
        "forename_initial": rates.forename_initial
        * m
        * np.where(older, rates.older_multiplier, 1.0),
        "surname_part": np.full(n, rates.surname_part),
        "forename_form": np.full(n, rates.forename_form),
        "name_transliterated": np.full(n, rates.name_transliterated),
        "name_formatting": np.full(n, rates.name_formatting * m),
    }
    for kind in base:
        rate = np.minimum(base[kind] * k.get(kind, 1.0), 1.0)
        p[kind] = rate * eligible[kind] * free_now
        free_now = free_now & (d[kind].to_numpy() == 0)
    immigrant = pd.to_numeric(d["true_arrival_year"], errors="coerce").fillna(0).to_numpy() > 0
    jan1 = (month == 1) & (day == 1)
    p["dob_filler"] = (
        np.minimum(
            rates.dob_filler
            * m
            * k.get("dob_filler", 1.0)
            * np.where(immigrant, rates.filler_immigrant_multiplier, 1.0)
            * np.where(older, rates.older_multiplier, 1.0),
            1.0,
        )
        * ~jan1
    )
    # A filler date replaces a swap or a component off (drawn independently).
    filler = d["dob_filler"].to_numpy() == 1
    for kind in ("dob_day_month_swap", "dob_one_component_off"):
        p[kind] = np.where(filler, 0.0, p[kind])
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in p.items()}


def z_score(observed: float, p: np.ndarray) -> tuple[float, float]:
    expected = float(p.sum())
    return (observed - expected) / math.sqrt(float((p * (1 - p)).sum())), expected


def assert_binomial(observed: float, p: np.ndarray, what: str) -> None:
    z, expected = z_score(observed, p)
    # With this many expected errors, half or double the rate is > 4 SE away.
    assert expected >= 100, f"{what}: too few records to test ({expected:.0f} expected)"
    assert abs(z) < Z, f"{what}: {observed} observed, {expected:.1f} expected (z = {z:.2f})"


@pytest.fixture(scope="module")
def probabilities(synth_world) -> dict[str, dict[str, np.ndarray]]:
    rates = synth_world.config.errors
    return {name: chances(name, d, rates) for name, d in synth_world.linked.items()}


@pytest.mark.parametrize("flag", ERROR_FLAGS)
def test_error_rate_matches_configuration(synth_world, probabilities, flag: str) -> None:
    observed = sum(int(d[flag].sum()) for d in synth_world.linked.values())
    p = np.concatenate([probabilities[name][flag] for name in synth_world.linked])
    assert_binomial(observed, p, flag)


def test_duplicate_rate_matches_configuration(synth_world) -> None:
    rates = synth_world.config.errors
    observed, parts = 0, []
    for name, d in synth_world.linked.items():
        dups = int(d["duplicate"].sum())
        observed += dups
        rate = rates.duplicate * rates.dataset_multiplier[name]
        parts.append(np.full(len(d) - dups, rate))  # each original sent twice at this rate
    assert_binomial(observed, np.concatenate(parts), "duplicate")


#: Errors whose chance is proportional to the dataset multiplier.
PROPORTIONAL = (
    "forename_typo",
    "forename_alternative",
    "surname_typo",
    "surname_variant",
    "dob_day_month_swap",
    "dob_one_component_off",
    "reference_typo",
)


@pytest.mark.parametrize(
    "dataset",
    [d.name for d in PERSON_DATASETS],
)
def test_dataset_multiplier_recovered(synth_world, probabilities, dataset: str) -> None:
    """Some providers are sloppier than others: the multiplier estimated from each
    dataset's errors (observed / expected at multiplier 1) matches the configured one."""
    configured = synth_world.config.errors.dataset_multiplier[dataset]
    d, p = synth_world.linked[dataset], probabilities[dataset]
    observed = sum(int(d[f].sum()) for f in PROPORTIONAL)
    chance = np.concatenate([p[f] for f in PROPORTIONAL])
    unit = chance.sum() / configured
    estimate = observed / unit
    se = math.sqrt(float((chance * (1 - chance)).sum())) / unit
    assert se < configured / Z, f"{dataset}: too few records ({se=:.3f})"
    assert abs(estimate - configured) < Z * se, f"{dataset}: {estimate:.2f} vs {configured}"


def test_sloppier_datasets_have_more_errors(synth_world) -> None:
    """Police records (multiplier 1.6) carry more name and date errors than school
    records (0.6)."""
    flags = ["forename_typo", "surname_typo", "dob_one_component_off"]

    def rate(name: str) -> float:
        d = synth_world.linked[name]
        return float(d[flags].sum(axis=1).mean())

    assert rate("justice_offences") > 2 * rate("pupil_census")


def rate_ratio(
    p: list[np.ndarray],
    observed: list[np.ndarray],
    group: list[np.ndarray],
    factor: list[np.ndarray],
) -> tuple[float, float]:
    """The ratio of (observed / expected without ``factor``) in ``group`` to the same
    outside it, and the standard error of its log."""
    p, observed, group, factor = (np.concatenate(x) for x in (p, observed, group, factor))
    unit = p / factor
    a, b = observed[group].sum(), observed[~group].sum()
    ratio = (a / unit[group].sum()) / (b / unit[~group].sum())
    return float(ratio), math.sqrt(1 / a + 1 / b)


def test_non_british_names_are_mistyped_more(synth_world, probabilities) -> None:
    """Names from non-British pools are mistyped and respelt about 2.5 times as often
    as British and Welsh ones, in every dataset taken together."""
    rates = synth_world.config.errors
    flags = ["forename_typo", "surname_typo", "forename_alternative", "surname_variant"]
    ps, obs, groups, factors = [], [], [], []
    for name, d in synth_world.linked.items():
        for f in flags:
            ps.append(probabilities[name][f])
            obs.append(d[f].to_numpy())
            groups.append(foreign_name(d))
            factors.append(name_factor(d, rates))
    ratio, se = rate_ratio(ps, obs, groups, factors)
    configured = rates.non_british_name_multiplier
    assert se < math.log(2) / Z
    assert abs(math.log(ratio / configured)) < Z * se, f"{ratio:.2f} vs {configured}"

    # The plain typo rate by name origin, as a user would tabulate it.
    people = synth_world.people.set_index("pid")["name_origin"]
    rows = pd.concat(synth_world.linked.values())
    typo = rows["forename_typo"] + rows["surname_typo"]
    origin = rows["person_id"].map(people)
    by_origin = typo.groupby(origin.isin(["british", "welsh"])).mean()
    assert by_origin[False] > 1.8 * by_origin[True]


def test_postcodes_go_missing_more_in_deprived_areas(synth_world, probabilities) -> None:
    """In the most deprived fifth of areas postcodes are missing about twice as often
    (rows recorded before any move, so that the area is known)."""
    rates = synth_world.config.errors
    ps, obs, groups, factors = [], [], [], []
    for name, d in synth_world.linked.items():
        before = d["record_day"].to_numpy() < d["true_move_days"].to_numpy()
        ps.append(probabilities[name]["postcode_missing"][before])
        obs.append(d["postcode_missing"].to_numpy()[before])
        groups.append(d["true_q0"].to_numpy()[before] == 1)
        factors.append(deprived_factor(d["true_q0"][before], rates))
    ratio, se = rate_ratio(ps, obs, groups, factors)
    configured = rates.deprived_postcode_multiplier
    assert se < math.log(2) / Z
    assert abs(math.log(ratio / configured)) < Z * se, f"{ratio:.2f} vs {configured}"


def test_errors_happen_only_where_possible(synth_world) -> None:
    """No nickname for a name without one, no day/month swap that would give the same
    date or none, no outdated postcode before a move, no old surname before a change."""
    rows = pd.concat(synth_world.linked.values(), ignore_index=True)
    has_alt = rows["true_forename"].isin(ALTERNATIVE_NAMES)
    assert not (rows["forename_alternative"].astype(bool) & ~has_alt).any()
    dob = rows["true_dob_days"].to_numpy().astype("datetime64[D]")
    month = dob.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (dob - dob.astype("datetime64[M]")).astype(np.int64) + 1
    swapped = rows["dob_day_month_swap"].to_numpy() == 1
    assert ((day <= 12) & (day != month))[swapped].all()
    moved = rows["record_day"].to_numpy() >= rows["true_move_days"].to_numpy()
    assert moved[rows["postcode_outdated"].to_numpy() == 1].all()
    changed = rows["record_day"].to_numpy() >= rows["true_change_days"].to_numpy()
    assert changed[rows["surname_old"].to_numpy() == 1].all()
    # ... and where possible, they do happen, at the configured rate.
    rates = synth_world.config.errors
    old = rows.loc[changed, "surname_old"]
    assert abs(old.mean() - rates.surname_old) < Z * math.sqrt(rates.surname_old * 0.7 / len(old))
