"""CLI for target trial emulation over a person-period CSV table: ``fivesafes
analyse target-trial`` (registered in :mod:`fivesafes.cli.analyse`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.analyse_models import JsonOption, OutOption, read_table, report_result
from fivesafes.cli.output import comma_list
from fivesafes.errors import FivesafesError

EPILOG = (
    "Example: [bold]fivesafes analyse target-trial periods.csv --id person --period year "
    "--treatment started --outcome convicted --confounders excluded,looked_after "
    "--follow-up 5 --out estimates.csv[/]"
)


def target_trial_command(
    table: Annotated[
        Path,
        typer.Argument(help="CSV with one row per person and period (consecutive integers)."),
    ],
    id_: Annotated[str, typer.Option("--id", help="The person column.")],
    period: Annotated[str, typer.Option("--period", help="The period column (integers).")],
    treatment: Annotated[
        str, typer.Option("--treatment", help="0/1: 1 from the period treatment starts.")
    ],
    outcome: Annotated[str, typer.Option("--outcome", help="0/1: 1 in the period of the event.")],
    confounders: Annotated[
        str,
        typer.Option(
            "--confounders",
            help="Time-varying confounders of starting treatment, comma-separated.",
        ),
    ],
    follow_up: Annotated[
        int, typer.Option("--follow-up", min=1, help="Periods of follow-up from time zero.")
    ],
    time_zero: Annotated[
        str,
        typer.Option(
            "--time-zero",
            help="first: clone-censor-weight at each person's first eligible period; "
            "every: a sequence of trials, one at every eligible period.",
        ),
    ] = "first",
    grace: Annotated[
        int, typer.Option("--grace", min=0, help="Periods after time zero to start treatment.")
    ] = 0,
    eligible: Annotated[
        str | None,
        typer.Option("--eligible", help="A 0/1 column: may this period be time zero?"),
    ] = None,
    baseline: Annotated[
        str,
        typer.Option(
            "--baseline", help="Covariates at time zero for the pooled logistic outcome model."
        ),
    ] = "",
    outcome_model: Annotated[
        str,
        typer.Option(
            "--outcome-model", help="nonparametric (weighted Kaplan-Meier) or pooled_logistic."
        ),
    ] = "nonparametric",
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap replicates over persons.")
    ] = 200,
    truncate: Annotated[
        float | None,
        typer.Option("--truncate", help="Truncate the weights at this percentile (e.g. 99)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out: OutOption = None,
    json_: JsonOption = False,
) -> None:
    """Target trial emulation for a point treatment (Hernán & Robins 2016): risks
    under each strategy, their difference and ratio, with bootstrap intervals."""
    from fivesafes.analysis.target_trial import Protocol, emulate

    if time_zero not in ("first", "every"):
        raise FivesafesError(f"--time-zero is first or every, not {time_zero!r}")
    if outcome_model not in ("nonparametric", "pooled_logistic"):
        raise FivesafesError(
            f"--outcome-model is nonparametric or pooled_logistic, not {outcome_model!r}"
        )
    t0 = time.perf_counter()
    protocol = Protocol(
        id=id_,
        period=period,
        treatment=treatment,
        outcome=outcome,
        confounders=comma_list(confounders),
        follow_up=follow_up,
        time_zero=time_zero,  # type: ignore[arg-type]
        grace=grace,
        eligible=eligible,
        baseline=comma_list(baseline),
    )
    result = emulate(
        read_table(table),
        protocol,
        bootstrap=bootstrap,
        seed=seed,
        outcome_model=outcome_model,  # type: ignore[arg-type]
        truncate=truncate,
    )
    report_result(
        "analyse target-trial", table, result.result(), "target_trial_estimates", out, json_, t0
    )
