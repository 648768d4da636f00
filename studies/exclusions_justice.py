"""School exclusions and the level of criminal justice involvement by 21.

Question: Are pupils excluded from secondary school more deeply involved with
the criminal justice system by age 21 (none, caution, conviction, custody), and
does the association remain once their attainment trajectory, sex, deprivation
and care are taken into account?

Data: pupil_census (exclusions in years 7 to 11, for pupils seen in all five
years; yearly attainment scores; area at school entry), areas, cla_episodes,
justice_offences (the worst outcome of offences committed before 21). Pupils
born early enough to be 21 by the end of the justice records (2024).

Method: Proportional-odds (ordinal) logistic regression of justice involvement
on exclusion, crude and adjusted for the attainment trajectory group (from a
5-group trajectory model of the yearly scores), male, deprivation quintile at
school entry and care; cumulative odds ratios with 95% intervals.

Planted truth: exclusions rise on the declining trajectory (fixed-term x 5,
permanent x 13 in secondary school) and with care (x 2); convictions depend on
the trajectory group, sex, deprivation and care. No direct effect of exclusion
on offending is planted: the adjusted odds ratio is 1 (docs/synthetic-world.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fivesafes.analysis import study_data as sd
from fivesafes.analysis.regression import ordinal
from fivesafes.analysis.studies import Comparison, StudyResult
from fivesafes.analysis.truth import planted_value

TITLE = "School exclusions and justice involvement by 21"
DATASETS = ("pupil_census", "justice_offences", "cla_episodes", "areas")
ADJUST = "C(group, Treatment('stable_middle')) + male + more_deprived + looked_after"


def run(
    workspace: Path, out: Path, seed: int = 1, planted: dict[str, Any] | None = None
) -> StudyResult:
    with sd.curated(workspace, [sd.JUSTICE_BY_21]) as con:
        long, pupils, excl = sd.attainment_long(con), sd.pupils(con), sd.secondary_exclusions(con)
    _, groups, _ = sd.trajectory_groups(long, tried=[5], seed=seed)
    data = pupils[pupils["observed_to_21"]].merge(excl, on=sd.PSEUDONYM).merge(groups)
    data["justice"] = (
        data["justice_level_by_21"].astype(int).map(dict(enumerate(sd.JUSTICE_LEVELS)))
    )
    levels = list(sd.JUSTICE_LEVELS)
    crude = ordinal(data, "justice ~ excluded", levels=levels)
    adjusted = ordinal(data, f"justice ~ excluded + {ADJUST}", levels=levels)
    c = crude.table("coefficients").set_index("term").loc["excluded"]
    a = adjusted.table("coefficients").set_index("term").loc["excluded"]
    result = StudyResult(
        analyses={"crude": crude, "adjusted": adjusted},
        cohort={
            "pupils_followed_to_21": len(data),
            "excluded_in_secondary": int(data["excluded"].sum()),
            **{f"justice_{k}": int(v) for k, v in crude.summary["level_counts"].items()},
        },
    )
    result.findings = [
        f"Of the pupils followed to 21, {100 * data['excluded'].mean():.0f}% were excluded at "
        "least once in secondary school.",
        f"Excluded pupils had {c['odds_ratio']:.1f} times the odds of deeper justice involvement "
        f"(95% CI {c['or_lower']:.1f} to {c['or_upper']:.1f}).",
        f"Given their attainment trajectory, sex, deprivation and care, the odds ratio is "
        f"{a['odds_ratio']:.1f} ({a['or_lower']:.1f} to {a['or_upper']:.1f}): most of the "
        "association is explained by who gets excluded.",
    ]
    if planted is not None:
        direct = float(planted_value(planted, "exclusion", "direct_offending_odds_ratio"))
        result.comparisons.append(
            Comparison(
                "cumulative odds ratio of exclusion, adjusted",
                direct,
                a["odds_ratio"],
                a["or_lower"],
                a["or_upper"],
                "adjusted/coefficients",
                "excluded",
                "no direct effect planted" if direct == 1 else "",
            )
        )
        if direct == 1:
            result.findings[-1] = result.findings[-1].rstrip(".") + (
                ", as the world planted (no direct effect)."
            )
    return result
