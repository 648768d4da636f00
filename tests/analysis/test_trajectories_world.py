"""Trajectory models on the synthetic world, and against StepMix.

The world (the session's 20,000 people, seed 7) plants five attainment groups
(docs/synthetic-world.md, "Attainment trajectories"): yearly ``attainment_score``
from year 2 to 11 = intercept + slope·t + curvature·t² + person effect (sd 2.0) +
noise (sd 2.5), t = year − 2, 3% missing, with

| group | share | intercept | slope | curvature |
| stable_high | 0.20 | 63 | 0 | 0 |
| stable_middle | 0.35 | 51 | 0 | 0 |
| rising | 0.10 | 40 | +2.2 | −0.05 |
| declining | 0.10 | 55 | −2.4 | −0.05 |
| stable_low | 0.25 | 37 | 0 | 0 |

The pupil census covers 2006-2023, so most pupils are seen in only part of years
2-11 (a quarter in all ten): the model uses the waves each pupil has.

Outside reference: StepMix (Morin et al., *StepMix: A Python Package for
Pseudo-Likelihood Estimation of Generalized Mixture Models with External
Variables*, JSS 2025), a latent profile model on the same waves with full
information likelihood for missing waves (``gaussian_spherical_nan``: free means
per wave and class, one variance per class — the GBTM with one sigma per group,
less the polynomial constraint on the means).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from fivesafes.analysis.trajectories import TrajectoryResult, fit_trajectories, wide_panel
from fivesafes.synth import Effects, WorldConfig, make_world

pytestmark = pytest.mark.slow

PLANTED = {  # share, intercept, slope, curvature (docs/synthetic-world.md)
    "stable_high": (0.20, 63.0, 0.0, 0.0),
    "stable_middle": (0.35, 51.0, 0.0, 0.0),
    "rising": (0.10, 40.0, 2.2, -0.05),
    "declining": (0.10, 55.0, -2.4, -0.05),
    "stable_low": (0.25, 37.0, 0.0, 0.0),
}
T = np.arange(10.0)


def pupil_scores(world: Path) -> pd.DataFrame:
    """One row per pupil and year 2-11 (t = year − 2): the attainment score from
    the pupil census files, keyed by the true person (duplicate rows dropped, as
    linkage would), with the true trajectory group."""
    records = pd.read_csv(
        world / "truth" / "records.csv", usecols=["file", "row", "person_id", "duplicate"]
    )
    parts = []
    for path in sorted((world / "provider").glob("pupil_census_*.csv")):
        df = pd.read_csv(
            path, usecols=["year_group", "attainment_score"], dtype={"year_group": str}
        )
        df["file"] = path.name
        df["row"] = np.arange(1, len(df) + 1)
        parts.append(df)
    rows = pd.concat(parts, ignore_index=True).merge(records, on=["file", "row"], how="left")
    rows = rows[(rows["duplicate"] == 0) & rows["year_group"].isin([str(y) for y in range(2, 12)])]
    rows = rows.assign(t=rows["year_group"].astype(int) - 2)
    rows = rows.drop_duplicates(["person_id", "t"])
    people = pd.read_csv(world / "truth" / "people.csv", usecols=["person_id", "trajectory_group"])
    out = rows[["person_id", "t", "attainment_score"]].merge(people, on="person_id", how="left")
    assert out["trajectory_group"].notna().all()
    return out.reset_index(drop=True)


def planted_curve(name: str) -> np.ndarray:
    _, b0, b1, b2 = PLANTED[name]
    return b0 + b1 * T + b2 * T * T


def match_groups(result: TrajectoryResult) -> list[str]:
    """The planted group each fitted group is (nearest curve over years 2-11)."""
    fitted = result.model.means(T)
    names = list(PLANTED)
    dist = np.array(
        [
            [((fitted[:, j] - planted_curve(n)) ** 2).sum() for n in names]
            for j in range(result.model.k)
        ]
    )
    return [names[i] for i in dist.argmin(axis=1)]


@pytest.fixture(scope="module")
def scores(synth_world_dir: Path) -> pd.DataFrame:
    return pupil_scores(synth_world_dir)


@pytest.fixture(scope="module")
def five(scores: pd.DataFrame) -> TrajectoryResult:
    return fit_trajectories(scores, "person_id", "t", "attainment_score", groups=[5], degree=2)


def test_world_has_the_pupils_the_test_needs(scores: pd.DataFrame) -> None:
    per_pupil = scores.dropna(subset=["attainment_score"]).groupby("person_id").size()
    assert len(per_pupil) > 7000
    assert per_pupil.max() == 10 and (per_pupil == 10).mean() > 0.2


def test_five_groups_recover_the_planted_shares(five: TrajectoryResult, scores) -> None:  # type: ignore[no-untyped-def]
    # Planted shares 0.20 / 0.35 / 0.10 / 0.10 / 0.25 (high, middle, rising,
    # declining, low): within 2 percentage points, and within 2 points of the
    # shares actually drawn among these pupils.
    names = match_groups(five)
    assert sorted(names) == sorted(PLANTED)
    truth = scores.drop_duplicates("person_id").set_index("person_id")["trajectory_group"]
    realised = truth.loc[five.ids].value_counts(normalize=True)
    for name, g in zip(names, five.groups, strict=True):
        assert abs(g.proportion - PLANTED[name][0]) < 0.02, (name, g.proportion)
        assert abs(g.proportion - realised[name]) < 0.02, (name, g.proportion, realised[name])


def test_five_groups_assign_at_least_90_percent_of_pupils_correctly(
    five: TrajectoryResult, scores: pd.DataFrame
) -> None:
    names = np.array(match_groups(five))
    a = five.assignments()
    truth = scores.drop_duplicates("person_id").set_index("person_id")["trajectory_group"]
    correct = names[a["group"].to_numpy() - 1] == truth.loc[a["id"]].to_numpy()
    assert correct.mean() >= 0.90
    # Pupils seen in all ten years are assigned almost perfectly; those seen once
    # can only be told apart by their level in that year.
    seen = scores.dropna(subset=["attainment_score"]).groupby("person_id").size()
    full = seen.loc[a["id"]].to_numpy() == 10
    assert correct[full].mean() >= 0.98


def test_five_groups_recover_the_planted_curves(five: TrajectoryResult) -> None:
    # Intercept (year 2), slope and curvature of each planted group. The world
    # adds a person effect (sd 2.0) and ethnic shifts that a GBTM does not model,
    # and rising/middle pupils seen in few years are mixed up, so the curves are
    # compared with a tolerance (1 point, 0.25 per year, 0.03 per year²) rather
    # than within their (narrow) confidence intervals.
    for name, g in zip(match_groups(five), five.groups, strict=True):
        _, b0, b1, b2 = PLANTED[name]
        c0, c1, c2 = g.coefficients
        assert abs(c0 - b0) < 1.0, (name, g.coefficients)
        assert abs(c1 - b1) < 0.25, (name, g.coefficients)
        assert abs(c2 - b2) < 0.03, (name, g.coefficients)
        # the curve itself within 1 point at every year 2-11
        assert np.abs(five.model.means(T)[:, g.group - 1] - planted_curve(name)).max() < 1.0


def test_bic_on_the_world_needs_all_five_and_then_splits_on_the_person_effect(
    scores: pd.DataFrame, tmp_path: Path
) -> None:
    # On the world, BIC falls from 1 to 5 groups (all five planted groups are
    # needed) and keeps falling beyond 5: the person effect (sd 2.0) and the
    # ethnic shifts make a pupil's scores correlated within a group, which a GBTM
    # (independent waves given the group) can only absorb by splitting a stable
    # group. The same world with the person effect and ethnic shifts turned off
    # (the control below) gives BIC its minimum at the planted 5.
    result = fit_trajectories(scores, "person_id", "t", "attainment_score", groups=range(1, 7))
    b = result.bic
    assert all(b[k + 1] < b[k] for k in range(1, 5))
    assert result.chosen == 6

    effects = Effects(trajectory_person_sd=0.0, ethnic_attainment_shift={})
    make_world(WorldConfig(people=20_000, seed=7, effects=effects), tmp_path)
    control = pupil_scores(tmp_path)
    fitted = fit_trajectories(control, "person_id", "t", "attainment_score", groups=range(3, 8))
    assert fitted.chosen == 5, fitted.bic


def test_agrees_with_stepmix_latent_profiles(five: TrajectoryResult, scores: pd.DataFrame) -> None:
    # StepMix's latent profile model with 5 classes on the wide waves (2-11);
    # GBTM refitted with one sigma per group to match its one variance per class.
    from stepmix.stepmix import StepMix

    _, panel, _ = wide_panel(scores, "person_id", "t", "attainment_score")
    ours = fit_trajectories(
        scores, "person_id", "t", "attainment_score", groups=[5], group_sigma=True
    )
    model = StepMix(
        n_components=5,
        measurement="gaussian_spherical_nan",
        n_init=3,
        random_state=1,
        progress_bar=0,
        verbose=0,
    )
    model.fit(panel.y)
    labels = model.predict(panel.y)
    params = model.get_parameters()
    means = params["measurement"]["means"]  # classes × waves
    weights = params["weights"]
    # Match StepMix's classes to ours by their mean curves.
    mine = ours.model.means(panel.times).T  # groups × waves
    order = [int(np.argmin(((means - m) ** 2).sum(axis=1))) for m in mine]
    assert sorted(order) == list(range(5))
    props = np.array([g.proportion for g in ours.groups])
    assert np.abs(props - weights[order]).max() < 0.01
    # Class means per wave: StepMix's are free, ours polynomial; within 1 point.
    assert np.abs(means[order] - mine).max() < 1.0
    assert adjusted_rand_score(labels, ours.assignments()["group"]) > 0.97
    # and the common-sigma model (the default) agrees with the group-sigma one
    assert adjusted_rand_score(five.assignments()["group"], ours.assignments()["group"]) > 0.95
