"""Linkage on errors it did not write (issue 16): a small world whose provider
files this test perturbs itself, with real-world error kinds and name lists
written only here (neither the generator's ``synth/name_forms.py`` nor the
linkage's ``data/link/reference/``), linked, and measured per kind against the
truth file, to which the test adds one flag column per kind (the errors and their
lists: ``independent_errors.py`` beside this file).

Acceptance (issue 16): at least 0.97 of the perturbed records put with their own
person, at least 0.9 for each kind, untouched records at least 0.997, and no
more clusters mixing persons than on the same world unperturbed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from independent_errors import KINDS, perturb, world_without_its_real_world_errors

from fivesafes.data import ingest
from fivesafes.data.link import link
from fivesafes.data.link.report import link_report

PEOPLE = 2500
SEED = 21
PER_KIND = 60


def _linked(world: Path, store: Path, out: Path) -> dict[str, Any]:
    truth = world.parent / f"{world.name}-truth"
    shutil.move(world / "truth", truth)  # the linkage never sees the truth
    ingest([world], store)
    link(store)
    return link_report(store, out, truth / "records.csv")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("independent")
    world = base / "world"
    world_without_its_real_world_errors(world, PEOPLE, SEED)
    shutil.copytree(world, base / "plain")
    planted = perturb(world, np.random.default_rng(SEED), PER_KIND)
    return {
        "planted": planted,
        "plain": _linked(base / "plain", base / "plain-store", base / "plain-report"),
        "perturbed": _linked(world, base / "store", base / "report"),
    }


@pytest.mark.slow
def test_every_kind_was_planted(reports: dict[str, Any]) -> None:
    assert reports["planted"] == dict.fromkeys(KINDS, PER_KIND)


@pytest.mark.slow
def test_records_with_independent_errors_find_their_person(reports: dict[str, Any]) -> None:
    shares = reports["perturbed"]["headline"]["share_with_own_person_by_error_kind"]
    planted = [shares[k] for k in KINDS]
    overall = float(np.mean(planted))  # every kind has PER_KIND records
    assert overall >= 0.97, shares
    for kind in KINDS:
        assert shares[kind] >= 0.9, (kind, shares)
    assert shares["untouched"] >= 0.997, shares


@pytest.mark.slow
def test_independent_errors_make_no_more_false_merges(reports: dict[str, Any]) -> None:
    plain, perturbed = reports["plain"]["headline"], reports["perturbed"]["headline"]
    assert perturbed["clusters_mixing_persons"] <= plain["clusters_mixing_persons"], (
        plain,
        perturbed,
    )
