"""The people of the synthetic world and their true identifiers over time.

Each person has a sex, a date of birth, an ethnic group (ONS 18 groups), a
country of birth (and, for immigrants, a year of arrival), names drawn from the
pool of their background, a home area that may change once (a move), and, for
some women, a change of surname. Reference numbers (UPN, NHS number, National
Insurance number) are unique and well-formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fivesafes.synth import name_forms, names
from fivesafes.synth.config import WorldConfig
from fivesafes.synth.geography import UNITS_PER_AREA, Geography

NO_DATE = np.iinfo(np.int32).max  # "never" for event dates held as days since 1970

# (18-group code, share of population, name pools with weights, share born abroad,
#  countries of birth for those born abroad)
ETHNIC_GROUPS: tuple[tuple[str, float, dict[str, float], float, tuple[str, ...]], ...] = (
    ("WBRI", 0.780, {"british": 0.82, "welsh": 0.18}, 0.0, ()),
    ("WIRI", 0.010, {"irish": 1.0}, 0.5, ("IRL",)),
    ("WIRT", 0.003, {"irish": 0.6, "british": 0.4}, 0.0, ()),
    (
        "WOTH",
        0.050,
        {"polish": 0.5, "romanian": 0.3, "lithuanian": 0.2},
        0.8,
        ("POL", "ROU", "LTU"),
    ),
    ("MWBC", 0.008, {"british": 0.6, "caribbean": 0.4}, 0.0, ()),
    ("MWBA", 0.004, {"british": 0.5, "nigerian": 0.5}, 0.0, ()),
    ("MWAS", 0.006, {"british": 0.6, "indian": 0.2, "pakistani": 0.2}, 0.0, ()),
    ("MOTH", 0.006, {"british": 0.7, "arab": 0.3}, 0.0, ()),
    ("AIND", 0.028, {"indian": 1.0}, 0.5, ("IND",)),
    ("APKN", 0.022, {"pakistani": 1.0}, 0.4, ("PAK",)),
    ("ABAN", 0.008, {"bangladeshi": 1.0}, 0.4, ("BGD",)),
    ("ACHN", 0.007, {"chinese": 1.0}, 0.6, ("CHN", "HKG")),
    ("AOTH", 0.010, {"indian": 0.6, "chinese": 0.4}, 0.6, ("OTH",)),
    ("BAFR", 0.018, {"nigerian": 0.6, "somali": 0.4}, 0.55, ("NGA", "SOM")),
    ("BCRB", 0.011, {"caribbean": 1.0}, 0.2, ("JAM",)),
    ("BOTH", 0.005, {"caribbean": 0.5, "nigerian": 0.5}, 0.3, ("OTH",)),
    ("OARB", 0.005, {"arab": 1.0}, 0.6, ("SYR", "IRQ")),
    ("OOTH", 0.007, {"arab": 0.5, "british": 0.5}, 0.6, ("OTH",)),
)
ETHNIC_CODES = np.array([g[0] for g in ETHNIC_GROUPS])
ORIGINS = np.array(names.ORIGINS)
ORIGIN_INDEX = {o: i for i, o in enumerate(names.ORIGINS)}
ENGLISH_SPEAKING = {"IRL", "NGA", "JAM", "IND"}  # English often a main language


@dataclass
class Population:
    """People as parallel arrays, indexed by person number (0..n-1)."""

    sex: np.ndarray  # 'M' / 'F'
    dob: np.ndarray  # int32 days since 1970-01-01
    ethnicity: np.ndarray  # 18-group code
    origin: np.ndarray  # name pool
    country_of_birth: np.ndarray
    arrival_year: np.ndarray  # int, 0 if born in the UK
    forename: np.ndarray
    surname: np.ndarray  # at birth
    new_surname: np.ndarray  # after the change ('' if none)
    surname_change: np.ndarray  # int32 days, NO_DATE if none
    area0: np.ndarray  # first home area
    area1: np.ndarray  # area after the move (== area0 if none)
    move: np.ndarray  # int32 days, NO_DATE if none
    postcode0: np.ndarray
    postcode1: np.ndarray
    upn: np.ndarray
    nhs_number: np.ndarray
    nino: np.ndarray

    @property
    def size(self) -> int:
        return len(self.sex)

    @property
    def birth_year(self) -> np.ndarray:
        return self.dob.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970

    @property
    def immigrant(self) -> np.ndarray:
        return self.arrival_year > 0


def _weights(n: int, s: float = 0.9) -> np.ndarray:
    w = 1.0 / (np.arange(n) + 3.0) ** s
    return w / w.sum()


def _draw_names(pool: tuple[str, ...], k: int, rng: np.random.Generator) -> np.ndarray:
    arr = np.array(pool, dtype=object)
    return arr[rng.choice(len(pool), k, p=_weights(len(pool)))]


def make_population(cfg: WorldConfig, geo: Geography, rng: np.random.Generator) -> Population:
    n = cfg.people
    sex = np.where(rng.random(n) < 0.5, "M", "F").astype(object)
    start = np.datetime64(f"{cfg.birth_from}-01-01").astype(int)
    end = np.datetime64(f"{cfg.birth_to}-12-31").astype(int)
    dob = rng.integers(start, end + 1, n).astype(np.int32)
    birth_year = dob.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970

    shares = np.array([g[1] for g in ETHNIC_GROUPS])
    group = rng.choice(len(ETHNIC_GROUPS), n, p=shares / shares.sum())
    ethnicity = ETHNIC_CODES[group].astype(object)

    origin = np.empty(n, dtype=object)
    country = np.empty(n, dtype=object)
    arrival = np.zeros(n, dtype=np.int64)
    uk_countries = np.array(["ENG", "WAL", "SCT", "NIR"], dtype=object)
    for gi, (_, _, pools, abroad, countries) in enumerate(ETHNIC_GROUPS):
        idx = np.flatnonzero(group == gi)
        if idx.size == 0:
            continue
        pool_names = list(pools)
        p = np.array([pools[k] for k in pool_names])
        origin[idx] = np.array(pool_names, dtype=object)[rng.choice(len(p), idx.size, p=p)]
        country[idx] = uk_countries[rng.choice(4, idx.size, p=[0.8, 0.15, 0.03, 0.02])]
        if abroad > 0:
            # Only people old enough to have arrived as adults are immigrants here.
            born_abroad = (rng.random(idx.size) < abroad) & (birth_year[idx] <= 2002)
            j = idx[born_abroad]
            country[j] = np.array(countries, dtype=object)[
                rng.integers(len(countries), size=j.size)
            ]
            first = np.maximum(birth_year[j] + 16, 1975)
            arrival[j] = first + np.floor(rng.random(j.size) * (2021 - first)).astype(np.int64)
    welsh = origin == "welsh"
    country[welsh & (arrival == 0)] = "WAL"

    forename = np.empty(n, dtype=object)
    surname = np.empty(n, dtype=object)
    for o in names.ORIGINS:
        for s in ("M", "F"):
            idx = np.flatnonzero((origin == o) & (sex == s))
            if idx.size:
                forename[idx] = _draw_names(names.FORENAMES[o][s], idx.size, rng)
        idx = np.flatnonzero(origin == o)
        if idx.size:
            surname[idx] = _draw_names(names.SURNAMES[o], idx.size, rng)

    # Double-barrelled surnames for some people of British or Welsh origin, drawn
    # from a stream of their own so that every other draw is as before.
    barrels = np.random.default_rng([cfg.seed, 16])
    double = np.isin(origin, ["british", "welsh"]) & (
        barrels.random(n) < cfg.errors.double_barrelled
    )
    second = np.array(name_forms.SECOND_BARRELS, dtype=object)[
        barrels.integers(len(name_forms.SECOND_BARRELS), size=n)
    ]
    double &= second != surname
    joiner = np.where(barrels.random(n) < 0.8, "-", " ")
    surname[double] = surname[double] + joiner[double] + second[double]

    # Change of surname (marriage) for some women, between ages 22 and 40.
    changes = (sex == "F") & (rng.random(n) < 0.35)
    change_day = dob + (rng.uniform(22, 40, n) * 365.25).astype(np.int32)
    changes &= change_day <= np.datetime64("2024-12-31").astype(int)
    surname_change = np.where(changes, change_day, NO_DATE).astype(np.int32)
    new_surname = np.full(n, "", dtype=object)
    k = int(changes.sum())
    if k:
        new_surname[changes] = _draw_names(names.SURNAMES["british"], k, rng)
        same = new_surname == surname
        new_surname[same & changes] = _draw_names(
            names.SURNAMES["british"], int((same & changes).sum()), rng
        )

    # Home areas: minorities and immigrants live more often in deprived areas.
    minority = ethnicity != "WBRI"
    q = geo.deprivation_quintile
    area0 = np.empty(n, dtype=np.int64)
    for mask, tilt in ((~minority, 0.05), (minority, 0.35)):
        w = np.exp(tilt * (5 - q))
        cum = np.cumsum(w / w.sum())
        area0[mask] = np.searchsorted(cum, rng.random(int(mask.sum())) * cum[-1], side="right")
    area0 = np.minimum(area0, geo.size - 1)
    # One move for about a third of people, to a neighbouring area or anywhere.
    moves = rng.random(n) < 0.35
    earliest = np.maximum(dob, np.datetime64("2000-01-01").astype(int))
    move_day = earliest + (
        rng.random(n) * (np.datetime64("2024-12-31").astype(int) - earliest)
    ).astype(np.int32)
    move = np.where(moves, move_day, NO_DATE).astype(np.int32)
    area1 = area0.copy()
    nearby = rng.random(n) < 0.6
    for i in np.flatnonzero(moves):
        if nearby[i]:
            nb = geo.neighbours[area0[i]]
            area1[i] = nb[int(rng.integers(len(nb)))]
        else:
            area1[i] = int(rng.integers(geo.size))
    unit0 = rng.integers(UNITS_PER_AREA, size=n)
    unit1 = np.where(moves, rng.integers(UNITS_PER_AREA, size=n), unit0)
    postcode0 = geo.postcodes[area0, unit0]
    postcode1 = geo.postcodes[area1, unit1]
    same_pc = moves & (postcode0 == postcode1)
    unit1[same_pc] = (unit1[same_pc] + 1) % UNITS_PER_AREA
    postcode1 = geo.postcodes[area1, unit1]

    return Population(
        sex=sex,
        dob=dob,
        ethnicity=ethnicity,
        origin=origin,
        country_of_birth=country,
        arrival_year=arrival,
        forename=forename,
        surname=surname,
        new_surname=new_surname,
        surname_change=surname_change,
        area0=area0,
        area1=area1,
        move=move,
        postcode0=postcode0,
        postcode1=postcode1,
        upn=make_upns(n, rng),
        nhs_number=make_nhs_numbers(n, rng),
        nino=make_ninos(n, rng),
    )


# -- reference numbers -------------------------------------------------------


def _prime_below(n: int) -> int:
    def is_prime(k: int) -> bool:
        if k < 2 or k % 2 == 0:
            return k == 2
        f = 3
        while f * f <= k:
            if k % f == 0:
                return False
            f += 2
        return True

    k = n - 1
    while not is_prime(k):
        k -= 1
    return k


def unique_numbers(n: int, space: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct pseudo-random integers below ``space`` (an affine bijection
    modulo a prime, so unique by construction and fast at any size)."""
    p = _prime_below(space)
    if n > p:
        raise ValueError("number space too small")
    a = int(rng.integers(2, min(p - 1, 2**31)))
    b = int(rng.integers(0, p))
    # a < 2**31 and n < 2**32 keep a * i + b within int64.
    return (a * np.arange(n, dtype=np.int64) + b) % p


def make_upns(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unique pupil numbers: twelve digits and the DfE's check letter in front (the
    weighted sum, weights 2 to 13, of the digits modulo 23)."""
    digits = unique_numbers(n, 10**12, rng)
    letters = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"), dtype=object)
    total = np.zeros(n, dtype=np.int64)
    rest = digits.copy()
    for weight in range(13, 1, -1):  # the last digit has weight 13, the first 2
        total += (rest % 10) * weight
        rest //= 10
    check = letters[total % len(letters)]
    return np.array([f"{c}{d:012d}" for c, d in zip(check, digits, strict=True)], dtype=object)


def nhs_check_digit(base: np.ndarray) -> np.ndarray:
    """Modulus-11 check digit of 9-digit NHS number bases (10 means invalid)."""
    total = np.zeros(len(base), dtype=np.int64)
    rest = base.copy()
    for weight in range(2, 11):
        total += (rest % 10) * weight
        rest //= 10
    check = 11 - total % 11
    return np.where(check == 11, 0, check)


def make_nhs_numbers(n: int, rng: np.random.Generator) -> np.ndarray:
    base = unique_numbers(int(n * 1.2) + 20, 10**9, rng)
    check = nhs_check_digit(base)
    ok = check != 10
    base, check = base[ok][:n], check[ok][:n]
    return np.array([f"{b:09d}{c}" for b, c in zip(base, check, strict=True)], dtype=object)


NINO_PREFIX_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_PREFIX_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def make_ninos(n: int, rng: np.random.Generator) -> np.ndarray:
    prefixes = [a + b for a in NINO_PREFIX_FIRST for b in NINO_PREFIX_SECOND]
    prefixes = [p for p in prefixes if p not in ("GB", "BG", "NK", "KN", "TN", "NT", "ZZ")]
    numbers = unique_numbers(n, len(prefixes) * 10**6, rng)
    pre = np.array(prefixes, dtype=object)[numbers // 10**6]
    suffix = np.array(list("ABCD"), dtype=object)[rng.integers(4, size=n)]
    return np.array(
        [f"{p}{d % 10**6:06d}{s}" for p, d, s in zip(pre, numbers, suffix, strict=True)],
        dtype=object,
    )
