"""The planted truth a study compares its estimates with, read as data.

A synthetic world writes the true parameters of the effects it planted beside its
other truth files (``truth/effects.json``: trajectories, conviction, care, pay,
spatial, ...; docs/synthetic-world.md). A study given that file (``fivesafes
study run --truth``) sets each planted value beside its estimate; on a real
workspace there is no truth, and the same study runs and says so. Nothing here
knows the simulator: the file is the only link.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fivesafes.errors import FivesafesError

EFFECTS_FILE = "effects.json"

#: What a study is given: the planted effects (the JSON object), or None.
Planted = dict[str, Any]


def load_planted(truth: Path | None) -> Planted | None:
    """The planted effects of ``truth`` (a truth folder holding ``effects.json``, or
    the file itself); ``None`` without one. A missing or unreadable file is refused
    with a sentence naming it."""
    if truth is None:
        return None
    path = truth / EFFECTS_FILE if truth.is_dir() else truth
    if not path.is_file():
        raise FivesafesError(
            f"{path}: no planted effects here (a synthetic world's truth folder holds "
            f"{EFFECTS_FILE}); leave out --truth on a real workspace"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FivesafesError(f"{path}: not a JSON file of planted effects ({exc})") from None
    if not isinstance(data, dict):
        raise FivesafesError(f"{path}: the planted effects must be a JSON object")
    return data


def planted_value(planted: Planted, *keys: str) -> Any:
    """``planted[k1][k2]...``, refused with the path of keys when the file lacks it."""
    value: Any = planted
    for i, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise FivesafesError(
                f"the planted effects have no {'.'.join(keys[: i + 1])} "
                "(an effects.json from another version of the synthetic world?)"
            )
        value = value[key]
    return value
