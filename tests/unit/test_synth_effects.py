"""The effects planted in the synthetic world (``Effects`` in synth/config.py) are
there, in the truth and in the provider data, as a researcher would find them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fivesafes.datasets import ETHNICITY_NOT_GIVEN

Z = 4.0
END_OF_DATA = np.datetime64("2024-12-31").astype(np.int64)  # last offence date kept
AGE_21 = int(21 * 365.25)


def expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


@pytest.fixture(scope="module")
def cohort(synth_world) -> pd.DataFrame:
    """Pupils old enough for their 21st birthday to fall within the data."""
    p = synth_world.people
    old_enough = p["dob_days"] + AGE_21 <= END_OF_DATA
    return p[(p["in_pupil_census"] == "1") & old_enough].copy()


def test_conviction_by_21_much_higher_on_declining_trajectory(synth_world, cohort) -> None:
    convicted = (cohort["convicted_by_21"] == "1").groupby(cohort["trajectory_group"]).mean()
    assert set(convicted.index) == set(synth_world.config.effects.trajectory_groups)
    assert convicted["declining"] > 3 * convicted["stable_high"]
    assert convicted["declining"] == convicted.max()
    assert convicted["stable_high"] == convicted.min()


def test_conviction_rates_follow_documented_model(synth_world, cohort) -> None:
    """By trajectory group, the number convicted by 21 is what the documented
    log-odds (group, male, deprivation, care) predict."""
    eff = synth_world.config.effects
    group = cohort["trajectory_group"].map({g: i for i, g in enumerate(eff.trajectory_groups)})
    logit = (
        np.asarray(eff.conviction_logodds_by_group)[group.to_numpy()]
        + eff.conviction_male_logodds * (cohort["sex"] == "M").to_numpy()
        + eff.conviction_deprivation_logodds * (5 - cohort["deprivation_quintile"].astype(int))
        + eff.conviction_care_logodds * (cohort["ever_looked_after"] == "1").to_numpy()
    )
    p = expit(np.asarray(logit, dtype=float))
    observed = (cohort["convicted_by_21"] == "1").to_numpy()
    for g in eff.trajectory_groups:
        sel = (cohort["trajectory_group"] == g).to_numpy()
        expected, var = p[sel].sum(), (p[sel] * (1 - p[sel])).sum()
        z = (observed[sel].sum() - expected) / math.sqrt(var)
        assert abs(z) < Z, f"{g}: {observed[sel].sum()} convicted, {expected:.1f} expected"


def test_conviction_effect_visible_in_provider_data(synth_world, cohort) -> None:
    """Linking the police extract to the pupils (through the truth, as perfect linkage
    would) finds the same people convicted by 21, and the same contrast."""
    offences = synth_world.linked["justice_offences"]
    first = (
        offences.assign(day=offences["offence_date"].pipe(pd.to_datetime))
        .groupby("person_id")["day"]
        .min()
    )
    first_day = first.to_numpy().astype("datetime64[D]").astype(np.int64)
    first_offence = pd.Series(first_day, index=first.index)
    c = cohort.set_index("pid")
    found = first_offence.reindex(c.index)
    convicted = found.notna() & (found <= c["dob_days"] + AGE_21)
    assert (convicted == (c["convicted_by_21"] == "1")).all()
    by_group = convicted.groupby(c["trajectory_group"]).mean()
    assert by_group["declining"] > 3 * by_group["stable_high"]


@pytest.fixture(scope="module")
def scores(synth_world) -> pd.DataFrame:
    """Mean attainment score by true trajectory group (rows) and year group 2..11."""
    pc = synth_world.linked["pupil_census"]
    pc = pc[(pc["duplicate"] == 0) & (pc["attainment_score"] != "")]
    table = (
        pc.assign(score=pc["attainment_score"].astype(float))
        .groupby(["true_trajectory_group", "year_group"])["score"]
        .mean()
        .unstack()
    )
    return table[[str(y) for y in range(2, 12)]]


def test_attainment_trajectories_have_their_shapes(scores) -> None:
    change = scores["11"] - scores["2"]
    assert change["declining"] < -10
    assert change["rising"] > 10
    for g in ("stable_high", "stable_middle", "stable_low"):
        assert abs(change[g]) < 1.5, g
    # Ordered as their names say, at both ends.
    assert scores["2"]["stable_high"] > scores["2"]["stable_middle"] > scores["2"]["stable_low"]
    assert scores["11"]["rising"] > scores["11"]["declining"]


def test_attainment_follows_documented_curves(synth_world, scores) -> None:
    """Each group's mean at each year group is within a point of
    intercept + slope * t + curvature * t^2 (t = years since year 2)."""
    eff = synth_world.config.effects
    for i, g in enumerate(eff.trajectory_groups):
        for year in range(2, 12):
            t = year - 2
            curve = (
                eff.trajectory_intercept[i]
                + eff.trajectory_slope[i] * t
                + eff.trajectory_curvature[i] * t * t
            )
            assert abs(scores.loc[g, str(year)] - curve) < 1.0, (g, year)


def test_looked_after_more_often_in_deprived_areas(synth_world) -> None:
    """Ever looked after, by deprivation quintile of the home area: far more often in
    the most deprived fifth, and in each quintile as the documented log-odds say."""
    eff = synth_world.config.effects
    p = synth_world.people
    quintile = p["deprivation_quintile"].astype(int)
    looked_after = p["ever_looked_after"] == "1"
    rate = looked_after.groupby(quintile).mean()
    assert rate[1] > 3 * rate[5]
    # Immigrants (arrived as adults) are never looked after in this world.
    chance = expit(eff.care_logodds + eff.care_deprivation_logodds * (5 - quintile.to_numpy()))
    chance = chance * (p["arrival_year"] == "").to_numpy()
    for q in range(1, 6):
        sel = (quintile == q).to_numpy()
        expected = chance[sel].sum()
        z = (looked_after[sel].sum() - expected) / math.sqrt((chance * (1 - chance))[sel].sum())
        assert abs(z) < Z, f"quintile {q}: {looked_after[sel].sum()} vs {expected:.1f}"
    # Everyone in the looked-after returns is one of them.
    in_returns = synth_world.linked["cla_episodes"]["person_id"].unique()
    assert (p.set_index("pid").loc[in_returns, "ever_looked_after"] == "1").all()


def test_asd_clusters_in_hotspot_areas(synth_world) -> None:
    """Among pupils with special educational needs, the share whose need is autism is
    higher in the hotspot areas, with an odds ratio near the configured one."""
    eff = synth_world.config.effects
    p = synth_world.people
    sen = p[(p["in_pupil_census"] == "1") & (p["sen_level"] != "N")]
    asd = sen["sen_type"] == eff.hotspot_sen_type
    hot = sen["hotspot_area"] == "1"
    a, b = int((asd & hot).sum()), int((~asd & hot).sum())
    c, d = int((asd & ~hot).sum()), int((~asd & ~hot).sum())
    odds_ratio = (a / b) / (c / d)
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    assert a / (a + b) > 2 * c / (c + d)
    # Few pupils live in the hotspot of a 20,000-person world, so the band is wide:
    # 3 standard errors of the log odds ratio.
    assert abs(math.log(odds_ratio / eff.hotspot_odds_ratio)) < 3 * se, odds_ratio

    # In the pupil census itself: ASD's share of recorded needs, by the area of the
    # pupil's recorded postcode (diluted by moves: the hotspot is where pupils first
    # lived; about 2.5 times, 1.8 to 3.9 over seeds 1 to 12).
    hot_areas = set(p.loc[p["hotspot_area"] == "1", "area_code"])
    pc = synth_world.provider["pupil_census"]
    pc = pc[(pc["sen_type"] != "") & (pc["area_code"] != "")]
    share = (pc["sen_type"] == eff.hotspot_sen_type).groupby(pc["area_code"].isin(hot_areas))
    assert share.mean()[True] > 1.5 * share.mean()[False]


@pytest.fixture(scope="module")
def pay(synth_world) -> pd.DataFrame:
    e = synth_world.linked["earnings_survey"]
    e = e[e["duplicate"] == 0]
    immigrant = (e["true_arrival_year"] != "").to_numpy()
    arrival = pd.to_numeric(e["true_arrival_year"], errors="coerce").fillna(0).to_numpy()
    year = e["survey_year"].astype(int).to_numpy()
    return pd.DataFrame(
        {
            "log_hourly": np.log(e["weekly_pay"].astype(float) / e["paid_hours"].astype(float)),
            "immigrant": immigrant.astype(float),
            "years": np.where(immigrant, np.clip(year - arrival, 0, 20), 0.0),
            "employer": e["employer_id"].to_numpy(),
            "person": e["person_id"].to_numpy(),
            "age": np.floor((e["record_day"] - e["true_dob_days"]) / 365.25).to_numpy() - 16,
            "year": year - 2010.0,
            "female": (e["true_sex"] == "F").to_numpy().astype(float),
            "skill": e["occupation_skill"].astype(int).to_numpy(),
            "english": e["true_english_proficiency"].to_numpy(),
        }
    )


def within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Values less their group mean (a fixed effect)."""
    return values - pd.Series(values).groupby(groups).transform("mean").to_numpy()


def test_immigrant_pay_gap_narrows_and_lies_partly_within_employers(pay) -> None:
    """log hourly pay ~ immigrant + immigrant x years of residence: immigrants start
    well behind and catch up; comparing colleagues at the same employer, the gap is
    smaller but still there."""
    assert pay["person"][pay["immigrant"] == 1].nunique() > 200
    y = pay["log_hourly"].to_numpy()
    imm = pay["immigrant"].to_numpy()
    years = imm * pay["years"].to_numpy()
    x = np.column_stack([np.ones_like(y), imm, years])
    _, gap, narrowing = np.linalg.lstsq(x, y, rcond=None)[0]
    assert gap < -0.2
    assert narrowing > 0.005

    employer = pay["employer"].to_numpy()
    xw = np.column_stack([within(imm, employer), within(years, employer)])
    gap_within, narrowing_within = np.linalg.lstsq(xw, within(y, employer), rcond=None)[0]
    assert gap_within < -0.1
    assert abs(gap_within) < abs(gap) - 0.05
    assert narrowing_within > 0.005


def test_immigrant_pay_gap_recovers_planted_parameters(synth_world, pay) -> None:
    """With the documented controls (age, year, sex, skill, English proficiency) and
    employer fixed effects, the gap at arrival and its narrowing per year are the
    planted ones (4 person-clustered standard errors)."""
    eff = synth_world.config.effects
    imm = pay["immigrant"].to_numpy()
    age = pay["age"].to_numpy()
    columns = [
        imm,
        imm * pay["years"].to_numpy(),
        age,
        age**2,
        pay["year"].to_numpy(),
        pay["female"].to_numpy(),
        *[(pay["skill"] == k).to_numpy().astype(float) for k in (2, 3, 4)],
        *[(pay["english"] == k).to_numpy().astype(float) for k in ("2", "3", "4")],
    ]
    employer = pay["employer"].to_numpy()
    x = np.column_stack([within(c, employer) for c in columns])
    y = within(pay["log_hourly"].to_numpy(), employer)
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    residual = y - x @ beta
    bread = np.linalg.inv(x.T @ x)
    scores = pd.DataFrame(x * residual[:, None]).groupby(pay["person"].to_numpy()).sum()
    meat = scores.to_numpy().T @ scores.to_numpy()
    se = np.sqrt(np.diag(bread @ meat @ bread))
    assert abs(beta[0] - eff.immigrant_gap_at_arrival) < Z * se[0], (beta[0], se[0])
    assert abs(beta[1] - eff.immigrant_gap_narrowing_per_year) < Z * se[1], (beta[1], se[1])
    # Precise enough to tell the planted values from half or double them.
    assert Z * se[0] < abs(eff.immigrant_gap_at_arrival) / 2
    assert Z * se[1] < eff.immigrant_gap_narrowing_per_year


def test_ethnicity_missing_more_in_hospital_and_for_mixed_and_other(synth_world) -> None:
    """Hospitals leave ethnicity out far more often than schools, and both leave it
    out more often for people of mixed or other ethnic groups than for White British."""
    mult = synth_world.config.effects.ethnicity_missing_minority_multiplier
    hospital = synth_world.linked["hospital_admissions"]
    # A school records each pupil's ethnicity once, so count pupils, not rows.
    pupils = synth_world.linked["pupil_census"].drop_duplicates("person_id")
    missing = {
        "hospital": hospital["ethnicity"] == "",
        "pupils": pupils["ethnicity"].isin(["", *ETHNICITY_NOT_GIVEN]),
    }
    assert missing["hospital"].mean() > 2 * missing["pupils"].mean()
    for name, rows in (("hospital", hospital), ("pupils", pupils)):
        minority = rows["true_ethnicity"].str[0].isin(["M", "O"])
        white_british = rows["true_ethnicity"] == "WBRI"
        m, w = missing[name][minority], missing[name][white_british]
        ratio = m.mean() / w.mean()
        se = math.sqrt(1 / m.sum() + 1 / w.sum())
        assert ratio > 1, name
        assert abs(math.log(ratio / mult)) < Z * se, (name, ratio)
    # With hospitals' numbers the difference is unmistakable.
    minority = hospital["true_ethnicity"].str[0].isin(["M", "O"])
    assert missing["hospital"][minority].mean() > 1.8 * missing["hospital"][~minority].mean()
