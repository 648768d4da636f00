"""The immigrant pay gap: its decomposition and the part within employers.

Question: How much lower is immigrants' hourly pay than that of people born in
the UK; how much of the gap do age, sex, occupation skill and year explain; and
how large is the gap between people working for the same employer, and how
does it narrow with years of residence?

Data: earnings_survey (weekly pay, paid hours, occupation skill, employer,
survey year) joined to census_2021 (year of arrival, English proficiency) for
people in both; immigrants are those with a year of arrival.

Method: Oaxaca-Blinder decomposition (twofold, with the UK-born's coefficients
as reference, and threefold) of the mean log hourly pay gap, bootstrap standard
errors resampling people; fixed-effects regression within employers (pyfixest)
of log hourly pay on immigrant status, years of residence, English proficiency,
age, age squared, skill, sex and year, standard errors clustered on people, with
the same model without employer effects beside it.

Planted truth: log hourly pay falls by 0.25 for immigrants at arrival,
narrowing by 0.01 per year of residence (up to 20 years), with English
proficiency effects 0, -0.05, -0.12, -0.20; immigrants are sorted towards
lower-paying employers, so the gap without employer effects exceeds the gap
within them (docs/synthetic-world.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fivesafes.analysis import study_data as sd
from fivesafes.analysis.decomposition import oaxaca
from fivesafes.analysis.fixed_effects import fixed_effects
from fivesafes.analysis.studies import Comparison, StudyResult
from fivesafes.analysis.truth import planted_value

TITLE = "The immigrant pay gap and the part within employers"
DATASETS = ("earnings_survey", "census_2021")
COVARIATES = "age + I(age**2) + C(skill) + female + year"
FE = (
    "log_pay ~ immigrant + immigrant:residence + C(english) + age + I(age**2) + C(skill)"
    " + female + year | employer_id"
)


def run(
    workspace: Path, out: Path, seed: int = 1, planted: dict[str, Any] | None = None
) -> StudyResult:
    with sd.curated(workspace) as con:
        pay = sd.pay_panel(con)
    pay = pay[(pay["age"] >= 16) & (pay["age"] <= 66)]
    gap = oaxaca(
        pay,
        "log_pay",
        "immigrant",
        COVARIATES,
        group_a=0,
        reference="A",
        bootstrap=100,
        seed=seed,
        cluster=sd.PSEUDONYM,
    )
    within = fixed_effects(pay, FE, cluster=sd.PSEUDONYM)
    pay_truth = planted_value(planted, "pay") if planted is not None else None
    at_arrival = None if pay_truth is None else float(pay_truth["immigrant_gap_at_arrival"])
    within.add_figure(
        "immigrant_gap",
        lambda: _gap_figure(within.table("comparison"), at_arrival),
        "The immigrant coefficient of log hourly pay without and within employers, with "
        "95% intervals" + ("" if at_arrival is None else f", beside the planted {at_arrival:g}"),
        within.tables["comparison"].output,
    )
    result = StudyResult(
        analyses={"decomposition": gap, "within_employers": within},
        cohort={
            "person_years": len(pay),
            "persons": pay[sd.PSEUDONYM].nunique(),
            "immigrant_persons": pay.loc[pay["immigrant"] == 1, sd.PSEUDONYM].nunique(),
        },
    )
    two = gap.table("twofold").set_index("component")
    e = two.loc["explained"]
    comp = within.table("comparison").set_index("term").loc["immigrant"]
    g = two.loc["gap"]
    result.findings = [
        f"Immigrants' hourly pay was on average {100 * (1 - np.exp(-g['estimate'])):.0f}% lower "
        f"(a gap of {g['estimate']:.3f} in log pay, 95% CI {g['lower']:.3f} to {g['upper']:.3f}).",
        f"Age, sex, occupation skill and year explain {e['estimate']:.3f} of it "
        f"({100 * e['share_of_gap']:.0f}% of the gap); the rest is not explained by them.",
        f"Comparing people within the same employer, immigrants earn {-comp['within_fe']:.3f} "
        f"log points less at arrival, against {-comp['without_fe']:.3f} without employer "
        f"effects: {-comp['between_part']:.3f} lies between employers (immigrants work more "
        "often for lower-paying employers).",
    ]
    if pay_truth is not None:
        _compare(result, pay_truth, within, pay, e)
    return result


def _compare(result: StudyResult, p: dict[str, Any], within: Any, pay: Any, e: Any) -> None:
    """The planted pay equation beside the estimates (a synthetic world)."""
    coefs = within.table("coefficients").set_index("term")
    planted = {
        "immigrant": ("immigrant, at arrival (within employers)", p["immigrant_gap_at_arrival"]),
        "immigrant:residence": (
            "per year of residence (within employers)",
            p["narrowing_per_year_of_residence"],
        ),
        "female": ("female", p["female"]),
    }
    for term, (label, value) in planted.items():
        r = coefs.loc[term]
        result.comparisons.append(
            Comparison(
                f"log pay, {label}",
                value,
                r["estimate"],
                r["lower"],
                r["upper"],
                "within_employers/coefficients",
                term,
            )
        )
    # The explained part, were both groups paid by the planted equation (natives' view).
    age = pay["age"] - 16
    f = (
        p["skill_step"] * pay["skill"]
        + p["female"] * pay["female"]
        + p["age_per_year_from_16"] * age
        + p["age_squared_from_16"] * age**2
        + p["per_survey_year"] * pay["year"]
    )
    native = pay["immigrant"] == 0
    result.comparisons.append(
        Comparison(
            "gap explained by age, sex, skill and year",
            float(f[native].mean() - f[~native].mean()),
            e["estimate"],
            e["lower"],
            e["upper"],
            "decomposition/twofold",
            "explained",
            "planted pay equation applied to these rows",
        )
    )
    result.findings[-1] = result.findings[-1].rstrip(".") + ", as the world planted."


def _gap_figure(comparison: Any, planted: float | None) -> Any:
    from matplotlib.figure import Figure

    row = comparison.set_index("term").loc["immigrant"]
    fig = Figure(figsize=(5.5, 2.6))
    ax = fig.subplots()
    for y, kind in enumerate(("without_fe", "within_fe")):
        est = row[kind]
        ax.errorbar(
            est,
            y,
            xerr=[[est - row[f"{kind}_lower"]], [row[f"{kind}_upper"] - est]],
            fmt="o",
            capsize=4,
        )
    if planted is not None:
        ax.axvline(planted, color="grey", ls="--", label="planted")
    ax.set_yticks([0, 1], ["without employer effects", "within employers"])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("immigrant coefficient, log hourly pay (95% CI)")
    if planted is not None:
        ax.legend(loc="lower right", fontsize="small")
    return fig
