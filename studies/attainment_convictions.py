"""School attainment trajectories and later convictions.

Question: Do pupils whose attainment declines through school have higher odds
of a proven offence by age 21 than pupils whose attainment stays in the middle,
given sex, deprivation and care?

Data: pupil_census (yearly attainment score, years 2 to 11; sex; area at school
entry), areas (deprivation), cla_episodes (looked after before 16),
justice_offences (first proven offence). Trajectories use every pupil with a
score; the conviction model uses pupils born early enough to be 21 by the end
of the justice records (2024).

Method: Group-based trajectory model (quadratic in year group) with 1 to 6
groups fitted; the protocol keeps 5 groups, each named by its shape: the group
whose mean score falls most from year 2 to 11 is declining, the one that rises
most rising, the other three stable high, middle and low by their level. Binary logistic regression
of a first proven offence by 21 on the trajectory group (reference: stable
middle), male, deprivation quintile at school entry and care; odds ratios with
95% confidence intervals.

Planted truth: five groups with shares 20% stable high, 35% stable middle, 10%
rising, 10% declining, 25% stable low; conviction by 21 has base log-odds by
group -4.2, -3.4, -3.2, -1.1, -2.4, plus 1.1 if male, 0.2 per quintile more
deprived and 1.2 if looked after (docs/synthetic-world.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fivesafes.analysis import study_data as sd
from fivesafes.analysis.regression import logistic
from fivesafes.analysis.studies import Comparison, StudyResult
from fivesafes.analysis.truth import planted_value
from fivesafes.errors import FivesafesError

TITLE = "Attainment trajectories and convictions by 21"
DATASETS = ("pupil_census", "justice_offences", "cla_episodes", "areas")
REF = "stable_middle"


def run(
    workspace: Path, out: Path, seed: int = 1, planted: dict[str, Any] | None = None
) -> StudyResult:
    with sd.curated(workspace, [sd.JUSTICE_BY_21]) as con:
        long, pupils = sd.attainment_long(con), sd.pupils(con)
    fit, groups, names = sd.trajectory_groups(long, seed=seed)
    missing = {REF, "declining"} - set(names.values())
    if missing:
        raise FivesafesError(
            f"the 5 fitted trajectories have no {' or '.join(sorted(missing))} group "
            f"(they are {', '.join(sorted(names.values()))}); the protocol's comparison "
            "cannot be made on these data"
        )
    data = pupils[pupils["observed_to_21"]].merge(groups, on=sd.PSEUDONYM)
    model = logistic(
        data,
        f"convicted_by_21 ~ C(group, Treatment('{REF}')) + male + more_deprived + looked_after",
    )
    trajectories = fit.analysis_result()
    named = trajectories.tables["trajectory_groups"].frame
    named["trajectory"] = named["group"].map(names)  # named by its shape
    result = StudyResult(
        analyses={"trajectories": trajectories, "convictions": model},
        cohort={
            "pupils_with_scores": fit.persons,
            "pupils_observed_to_21": len(data),
            "of_whom_a_proven_offence_by_21": int(data["convicted_by_21"].sum()),
        },
        notes=[
            "The study uses each pupil's most likely fitted group and the deprivation of "
            "the area at school entry: on a synthetic world, the world used each pupil's "
            "true group and home area, and both dilute the planted odds ratios a little."
        ],
    )
    dec = (
        model.table("coefficients")
        .set_index("term")
        .loc[f"C(group, Treatment('{REF}'))[T.declining]"]
    )
    declining = fit.groups[_key(names, "declining") - 1].proportion
    result.findings = [
        f"{fit.persons:,} pupils' yearly scores were grouped into 5 trajectories; the "
        f"declining group is {100 * declining:.0f}% of pupils.",
        f"Of the pupils followed to age 21, {100 * data['convicted_by_21'].mean():.0f}% had a "
        "proven offence by then (the counts are in the checked table of who was studied).",
        f"Pupils on the declining trajectory had {dec['odds_ratio']:.1f} times the odds of a "
        f"proven offence by 21 of the stable-middle group (95% CI {dec['or_lower']:.1f} to "
        f"{dec['or_upper']:.1f}).",
    ]
    if planted is not None:
        _compare(result, planted, fit, model, names)
    return result


def _compare(
    result: StudyResult, planted: dict[str, Any], fit: Any, model: Any, names: dict[int, str]
) -> None:
    """The planted shares and odds ratios beside the estimates (a synthetic world)."""
    groups = planted_value(planted, "trajectories")
    conviction = planted_value(planted, "conviction")
    for j, g in names.items():
        if g not in groups:
            continue
        share = float(groups[g]["share"])
        est = fit.groups[j - 1].proportion
        result.comparisons.append(
            Comparison(
                f"share of pupils, {g}",
                share,
                est,
                output="trajectories/trajectory_groups",
                row=f"group {j}",
                note=f"fitted group {j}",
            )
        )
    base = {g: float(v["conviction_by_21_logodds"]) for g, v in groups.items()}
    table = model.table("coefficients").set_index("term")
    terms = {
        f"C(group, Treatment('{REF}'))[T.{g}]": (f"{g} vs {REF}", base[g] - base[REF])
        for g in base
        if g != REF and f"C(group, Treatment('{REF}'))[T.{g}]" in table.index
    }
    terms |= {
        "male": ("male", conviction["male_logodds"]),
        "more_deprived": (
            "per deprivation quintile",
            conviction["deprivation_logodds_per_quintile"],
        ),
        "looked_after": ("looked after", conviction["care_logodds"]),
    }
    for term, (label, logodds) in terms.items():
        row = table.loc[term]
        result.comparisons.append(
            Comparison(
                f"odds ratio, {label}",
                float(np.exp(logodds)),
                row["odds_ratio"],
                row["or_lower"],
                row["or_upper"],
                "convictions/coefficients",
                term,
            )
        )
    result.findings[-1] = result.findings[-1].rstrip(".") + (
        f"; the world planted {np.exp(base['declining'] - base[REF]):.1f}."
    )


def _key(names: dict[int, str], name: str) -> int:
    return next(j for j, g in names.items() if g == name)
