"""Independent identifier errors for linkage tests and benchmarks (issue 16):
real-world error kinds planted in a synthetic world's provider files with name
lists written only here, neither the generator's (``synth/name_forms.py``) nor
the linkage's (``data/link/reference/``), and one truth flag per kind.

Used by ``tests/integration/test_link_independent_errors.py`` and
``benchmarks/bench_link_errors.py``; not a test module.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.datasets import BY_NAME
from fivesafes.synth import WorldConfig, make_world
from fivesafes.synth.config import ErrorRates
from fivesafes.synth.identifiers import REAL_WORLD_KINDS

# The test's own lists: forms a clerk might write, compiled for this test only.
WELSH_ENGLISH = {
    "Gareth": "Garth",
    "Dafydd": "Davydd",
    "Rhys": "Reece",
    "Huw": "Hew",
    "Owain": "Ewan",
    "Ioan": "Johan",
    "Iwan": "Ewan",
    "Tomos": "Tommos",
    "Harri": "Hari",
    "Llewellyn": "Llywelyn",
    "Catrin": "Katrin",
    "Sian": "Shan",
    "Bethan": "Betan",
    "Ffion": "Fion",
    "Gwen": "Gwenn",
    "Elin": "Ellin",
    "Cerys": "Ceris",
    "Carys": "Caris",
    "Angharad": "Angherad",
    "Lowri": "Lowry",
    "Eleri": "Elery",
    "David": "Dai",
    "John": "Sion",
    "William": "Wil",
    "Thomas": "Twm",
    "Richard": "Dic",
    "Elizabeth": "Beti",
    "Margaret": "Mared",
    "Helen": "Elen",
    "Sarah": "Sara",
    "Susan": "Siwsan",
}
TRANSLITERATIONS = {
    "Mohammed": "Mohammad",
    "Muhammad": "Mohamad",
    "Mohamed": "Mohamad",
    "Ahmed": "Ahmat",
    "Ali": "Aliy",
    "Omar": "Omer",
    "Khalid": "Khaalid",
    "Hassan": "Hasan",
    "Hussein": "Husein",
    "Youssef": "Yousif",
    "Yusuf": "Yousof",
    "Ibrahim": "Ibraheim",
    "Mustafa": "Mustafah",
    "Abdullah": "Abdoullah",
    "Abdul": "Abdool",
    "Karim": "Kariem",
    "Tariq": "Tarek",
    "Hamza": "Hamzeh",
    "Imran": "Emran",
    "Usman": "Othman",
    "Bilal": "Bilaal",
    "Fatima": "Fatema",
    "Aisha": "Ayisha",
    "Ayesha": "Aiesha",
    "Mariam": "Maryum",
    "Maryam": "Mariyam",
    "Zainab": "Zaineb",
    "Noor": "Nuur",
    "Layla": "Laylaa",
    "Sana": "Sanah",
    "Abdi": "Abdie",
    "Abdullahi": "Abdulahi",
    "Amina": "Aamina",
    "Khadija": "Kadija",
    "Halima": "Haleema",
}
ACCENTS = str.maketrans({"a": "à", "e": "è", "o": "ô", "i": "ï", "u": "ü", "c": "ç", "n": "ñ"})
SECOND_PARTS = ("Pryce", "Vaughan", "Ellis", "Foster", "Rowlands", "Pritchard")
KINDS = (
    "swapped_fields",
    "forename_initial",
    "one_part_of_double_surname",
    "welsh_english_form",
    "transliteration",
    "accents_case_spaces",
    "filler_date_of_birth",
    "reference_transposed",
)
REFERENCES = ("nhs_number", "upn", "nino", "pnc_id")


def world_without_its_real_world_errors(out: Path, people: int, seed: int) -> None:
    """A world whose generator plants none of the real-world kinds (the test
    plants its own), and no double-barrelled surnames (the test makes its own)."""
    zero: dict[str, Any] = {k: 0.0 for k in REAL_WORLD_KINDS if k != "reference_typo"}
    errors = ErrorRates(**zero, double_barrelled=0.0)
    make_world(WorldConfig(people=people, seed=seed, errors=errors), out)


def _date(value: str, fmt: str) -> datetime:
    return datetime.strptime(value, fmt)


def _transpose(ref: str, rng: np.random.Generator) -> str | None:
    spots = [
        i
        for i in range(len(ref) - 1)
        if ref[i].isdigit() and ref[i + 1].isdigit() and ref[i] != ref[i + 1]
    ]
    if not spots:
        return None
    i = spots[int(rng.integers(len(spots)))]
    return ref[:i] + ref[i + 1] + ref[i] + ref[i + 2 :]


def perturb(world: Path, rng: np.random.Generator, per_kind: int) -> dict[str, int]:
    """Plant ``per_kind`` errors of each kind in records with no error yet, write them
    into the provider files, and add one flag column per kind to the truth."""
    truth_path = world / "truth" / "records.csv"
    truth = pd.read_csv(truth_path)
    flags = [c for c in truth.columns if c not in ("dataset", "file", "row", "person_id")]
    # Records with no error yet, of persons with another record to be found with.
    several = truth.groupby("person_id")["row"].transform("size") > 1
    clean = truth[~truth[flags].astype(bool).any(axis=1) & several]
    files = {
        name: pd.read_csv(world / "provider" / name, dtype=str, keep_default_na=False)
        for name in truth["file"].unique()
    }
    for kind in KINDS:
        truth[kind] = 0

    # Double-barrelled surnames: every record of some persons gets a second part.
    people = rng.choice(truth["person_id"].unique(), size=per_kind * 3, replace=False)
    barrelled = {int(p): SECOND_PARTS[int(rng.integers(len(SECOND_PARTS)))] for p in people}
    for name, frame in files.items():
        rows = truth[(truth["file"] == name) & truth["person_id"].isin(list(barrelled))]
        for row, pid in zip(rows["row"], rows["person_id"], strict=True):
            frame.at[row - 1, "surname"] += "-" + barrelled[int(pid)]

    used: set[int] = set()
    planted = {}
    order = rng.permutation(clean.index.to_numpy())
    for kind in KINDS:
        count = 0
        for i in order:
            if count == per_kind:
                break
            if i in used:
                continue
            t = truth.loc[i]
            ds = BY_NAME[str(t["dataset"])]
            frame = files[str(t["file"])]
            r = int(t["row"]) - 1
            rec = frame.loc[r]
            fore, sur = rec["forename"], rec["surname"]
            if kind == "swapped_fields":
                frame.at[r, "forename"], frame.at[r, "surname"] = sur, fore
            elif kind == "forename_initial":
                frame.at[r, "forename"] = fore[0]
            elif kind == "one_part_of_double_surname":
                if "-" not in sur:
                    continue
                frame.at[r, "surname"] = sur.split("-")[int(rng.integers(2))]
            elif kind == "welsh_english_form":
                if fore not in WELSH_ENGLISH:
                    continue
                frame.at[r, "forename"] = WELSH_ENGLISH[fore]
            elif kind == "transliteration":
                if fore not in TRANSLITERATIONS:
                    continue
                frame.at[r, "forename"] = TRANSLITERATIONS[fore]
            elif kind == "accents_case_spaces":
                frame.at[r, "forename"] = " " + fore.lower().translate(ACCENTS) + " "
                frame.at[r, "surname"] = sur[:2].upper() + " " + sur[2:].upper()
            elif kind == "filler_date_of_birth":
                fmt = ds.column("date_of_birth").date_format
                born = _date(rec["date_of_birth"], fmt)
                if (born.month, born.day) == (1, 1):
                    continue
                filler = (
                    born.replace(month=1, day=1) if rng.random() < 0.8 else datetime(1900, 1, 1)
                )
                frame.at[r, "date_of_birth"] = filler.strftime(fmt)
            elif kind == "reference_transposed":
                col = next((c for c in REFERENCES if c in frame.columns and rec[c]), None)
                new = _transpose(rec[col], rng) if col else None
                if col is None or new is None:
                    continue
                frame.at[r, col] = new
            truth.at[i, kind] = 1
            used.add(i)
            count += 1
        planted[kind] = count
    for name, frame in files.items():
        frame.to_csv(world / "provider" / name, index=False)
    truth.to_csv(truth_path, index=False)
    return planted
