"""Small areas on a grid: local authorities, deprivation, neighbours, postcodes.

Areas are LSOA-like cells of a square grid. Local authorities are square blocks
of areas; each row of a block is a postcode district and each area a postcode
sector with a handful of unit postcodes. Codes start with ``X`` (areas ``X01``,
authorities ``X06``) and postcodes with ``Q`` or ``X``, which no real code or
postcode uses, so synthetic data cannot be mistaken for real data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LA_NAMES = (
    "Abermere",
    "Brackenford",
    "Caerwyn",
    "Dunmarsh",
    "Eastholme",
    "Fernleigh",
    "Glynderw",
    "Harrowdale",
    "Ironbridge Vale",
    "Kestrel Moor",
    "Llanfynydd",
    "Marshcombe",
    "Northwold",
    "Oakhampton",
    "Penrhos",
    "Queensferry Cross",
    "Ravenscar",
    "Saltmarsh",
    "Tregaron Fach",
    "Upperthorpe",
    "Valebridge",
    "Westerleigh",
    "Yarrowfield",
    "Ashcombe",
    "Bryncoed",
    "Coldharbour",
    "Dinas Wen",
    "Elmstead",
    "Foxhollow",
    "Greenhythe",
    "Hafod",
    "Kingsmead",
    "Longbarrow",
    "Maesteg Uchaf",
    "Netherby",
    "Orchard Vale",
    "Pentwyn",
    "Redmarsh",
    "Stonebridge",
    "Thornbury Fields",
    "Ulverholme",
    "Wyndham",
)
# Letters allowed in the inward part of a UK postcode.
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
UNITS_PER_AREA = 6


@dataclass
class Geography:
    """All areas of the world, as parallel arrays indexed by area number."""

    code: np.ndarray  # str, area code
    name: np.ndarray  # str
    la: np.ndarray  # int, local authority index
    la_code: np.ndarray  # str, per LA
    la_name: np.ndarray  # str, per LA
    x: np.ndarray  # float km
    y: np.ndarray
    deprivation_rank: np.ndarray  # int, 1 = most deprived
    deprivation_decile: np.ndarray  # int 1..10
    deprivation_quintile: np.ndarray  # int 1..5 (1 = most deprived)
    neighbours: list[list[int]]
    postcodes: np.ndarray  # str, shape (areas, UNITS_PER_AREA)
    hotspot: np.ndarray  # bool, the planted special-needs cluster
    index_in_la: np.ndarray  # int, 0-based position of the area within its LA

    @property
    def size(self) -> int:
        return len(self.code)


def make_geography(people: int, hotspot_share: float, rng: np.random.Generator) -> Geography:
    """Lay out about one area per 400 people (at least 64) on a square grid."""
    side = max(8, math.ceil(math.sqrt(people / 400)))
    n = side * side
    block = max(4, side // 5)
    las_per_row = math.ceil(side / block)
    rows, cols = np.divmod(np.arange(n), side)
    la = (rows // block) * las_per_row + (cols // block)
    n_la = int(la.max()) + 1
    la_code = np.array([f"X06{i + 1:06d}" for i in range(n_la)])
    la_name = np.array([_la_name(i) for i in range(n_la)])

    # Deprivation: a smooth field of a few bumps plus local noise, ranked.
    field = np.zeros(n)
    for _ in range(max(3, n_la // 2)):
        cx, cy = rng.uniform(0, side, 2)
        r = rng.uniform(side / 10, side / 4)
        field += rng.uniform(0.5, 1.5) * np.exp(-((cols - cx) ** 2 + (rows - cy) ** 2) / r**2)
    field += rng.normal(0, 0.15, n)
    order = np.argsort(-field, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    decile = np.minimum(10, (rank - 1) * 10 // n + 1)
    quintile = (decile + 1) // 2

    neighbours: list[list[int]] = []
    for i in range(n):
        r0, c0 = divmod(i, side)
        nb = [
            (r0 + dr) * side + (c0 + dc)
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
            if (dr or dc) and 0 <= r0 + dr < side and 0 <= c0 + dc < side
        ]
        neighbours.append(nb)

    # Postcodes: LA -> postcode area letters, block row (and column tens) -> district,
    # column within the block -> sector digit, then units.
    within_r = rows % block
    within_c = cols % block
    district = within_r * math.ceil(block / 10) + within_c // 10 + 1
    sector = within_c % 10
    letters = np.array(list(INWARD_LETTERS))
    postcodes = np.empty((n, UNITS_PER_AREA), dtype=object)
    for i in range(n):
        outward = f"{_postcode_area(int(la[i]))}{int(district[i])}"
        units = rng.choice(len(letters) ** 2, UNITS_PER_AREA, replace=False)
        for j, u in enumerate(units):
            a, b = divmod(int(u), len(letters))
            postcodes[i, j] = f"{outward} {int(sector[i])}{letters[a]}{letters[b]}"

    # The hotspot: the areas nearest a random centre.
    centre = int(rng.integers(n))
    d2 = (cols - cols[centre]) ** 2 + (rows - rows[centre]) ** 2
    k = max(3, round(hotspot_share * n))
    hotspot = np.zeros(n, dtype=bool)
    hotspot[np.argsort(d2, kind="stable")[:k]] = True

    code = np.array([f"X01{i + 1:06d}" for i in range(n)])
    count_in_la = np.zeros(n_la, dtype=np.int64)
    names = []
    index_in_la = np.zeros(n, dtype=np.int64)
    for i in range(n):
        index_in_la[i] = count_in_la[la[i]]
        count_in_la[la[i]] += 1
        names.append(f"{la_name[la[i]]} {count_in_la[la[i]]:03d}")
    return Geography(
        code=code,
        name=np.array(names),
        la=la,
        la_code=la_code,
        la_name=la_name,
        x=cols.astype(float) + 0.5,
        y=rows.astype(float) + 0.5,
        deprivation_rank=rank,
        deprivation_decile=decile,
        deprivation_quintile=quintile,
        neighbours=neighbours,
        postcodes=postcodes,
        hotspot=hotspot,
        index_in_la=index_in_la,
    )


def _la_name(i: int) -> str:
    base = LA_NAMES[i % len(LA_NAMES)]
    return base if i < len(LA_NAMES) else f"{base} {i // len(LA_NAMES) + 1}"


def _postcode_area(la: int) -> str:
    """Postcode area letters: Q or X then a letter (no real postcode starts so)."""
    first = "QX"[la // 26 % 2]
    return f"{first}{chr(ord('A') + la % 26)}"
