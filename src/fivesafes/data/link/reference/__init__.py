"""The linkage's reference name lists (reference/README.md says where each comes
from): which two forenames may be one person's name.

:func:`forename_forms` maps each listed name (folded as the linkage compares
names: :func:`fold_name`) to its *direct* forms: itself, the names it lists and
the names that list it. Two names are alternatives only where one is a direct
form of the other; the lists are never closed transitively, so two names that
share a third (Megan and Margaret, both "Meg") stay apart.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).parent
LISTS = ("welsh_english_forenames.csv", "transliterations.csv")


def fold_name(name: str) -> str:
    """A name as compared: accents removed (Siôn → sion), lower case, letters only."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z]", "", plain.lower())


def _pairs() -> list[tuple[str, str]]:
    from nicknames import NickNamer  # the package's hand-curated English nicknames

    pairs: list[tuple[str, str]] = []
    for canonical, nicks in sorted(NickNamer.default_lookup().items()):
        pairs.extend((str(canonical), str(n)) for n in sorted(nicks))
    for name in LISTS:
        with (HERE / name).open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            next(reader)  # the header
            pairs.extend((row[0], row[1]) for row in reader if len(row) >= 2)
    return pairs


@functools.cache
def forename_forms() -> dict[str, tuple[str, ...]]:
    """Each listed forename (folded) with its direct forms, itself included."""
    forms: dict[str, set[str]] = {}
    for a, b in _pairs():
        x, y = fold_name(a), fold_name(b)
        if not x or not y:
            continue
        forms.setdefault(x, {x}).add(y)
        forms.setdefault(y, {y}).add(x)
    return {name: tuple(sorted(group)) for name, group in forms.items()}


def provenance() -> dict[str, str]:
    """Where each list comes from, for a linkage's summary."""
    return {
        "english_nicknames": f"nicknames {metadata.version('nicknames')} (PyPI)",
        **{name: f"fivesafes, data/link/reference/{name}" for name in LISTS},
    }
