"""Policies: presets, TOML files, and tightening that never loosens."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.outputs.policy import ACRO, OPENSAFELY, PRESETS, UK_LLC, load_policy


def test_presets_cite_sources() -> None:
    assert set(PRESETS) >= {"ons-srs", "uk-llc", "opensafely", "acro"}
    for p in PRESETS.values():
        assert p.source and p.version
    assert (ACRO.threshold, ACRO.n, ACRO.k, ACRO.p, ACRO.min_dof) == (10, 2, 90.0, 10.0, 10)
    assert (OPENSAFELY.redact_at_or_below, OPENSAFELY.rounding_base) == (7, 5)
    assert OPENSAFELY.minimum_count == 8


def test_load_policy_from_toml(tmp_path: Path) -> None:
    f = tmp_path / "sail.toml"
    f.write_text(
        '[policy]\nname = "sail"\nversion = "2025.1"\nbase = "acro"\nthreshold = 10\n'
        'rounding = "nearest"\nrounding_base = 5\nprotection_upper = 15\n'
    )
    p = load_policy(f)
    assert (p.name, p.version, p.rounding_base, p.protection_upper_percent) == (
        "sail",
        "2025.1",
        5,
        15,
    )
    assert p.p == ACRO.p


def test_load_policy_rejects_unknown_settings(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('name = "x"\nversion = "1"\nthreshhold = 5\n')
    with pytest.raises(FivesafesError, match="unknown setting threshhold"):
        load_policy(f)
    with pytest.raises(FivesafesError, match="no policy"):
        load_policy("no-such-preset")


def test_tighten_keeps_the_stricter_of_each_setting() -> None:
    request = replace(ACRO, name="researcher", version="1", threshold=5, p=15.0, k=95.0, min_dof=20)
    combined = ACRO.tighten(request)
    assert combined.threshold == 10  # the TRE's, not the researcher's 5
    assert combined.p == 15.0 and combined.k == 90.0 and combined.min_dof == 20
    assert combined.name == "acro" and combined.tightened_by == ("researcher 1",)


def test_tighten_strict_refuses_loosening() -> None:
    request = replace(UK_LLC, name="researcher", version="1", threshold=5, zeros=False)
    with pytest.raises(PolicyRefusal, match=r"threshold 5 .*zeros off"):
        UK_LLC.tighten(request, strict=True)


def test_tighten_rounding() -> None:
    coarser = replace(OPENSAFELY, name="r", version="1", rounding_base=10)
    assert OPENSAFELY.tighten(coarser).rounding_base == 10
    with pytest.raises(PolicyRefusal):
        OPENSAFELY.tighten(replace(OPENSAFELY, name="r", rounding="none"), strict=True)
    assert ACRO.tighten(OPENSAFELY).rounding == "nearest"
