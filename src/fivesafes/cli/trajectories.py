"""CLI: ``fivesafes analyse trajectories`` (group-based trajectory models of a long CSV)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import console, emit_json, progress_bar
from fivesafes.errors import FivesafesError

if TYPE_CHECKING:
    from fivesafes.analysis.gbtm import Family

EPILOG = (
    "Example: [bold]fivesafes analyse trajectories scores.csv --id pupil --time year "
    "--value score --groups 1-6 --degree 2 --out groups.csv[/]. Counts of offences per "
    "year: [bold]--family poisson[/]; 0/1 outcomes (any conviction that year): "
    "[bold]--family logit[/]; a score with many at a floor or ceiling (0-100): "
    "[bold]--family cnorm --lower 0 --upper 100[/]; counts with many people who never "
    "offend: [bold]--family zip[/]."
)
FAMILY_NAMES: tuple[Family, ...] = ("normal", "poisson", "logit", "cnorm", "zip")


def parse_family(text: str) -> Family:
    """``--family``: normal, poisson, logit, cnorm or zip (any case)."""
    name = text.strip().lower()
    for family in FAMILY_NAMES:
        if name == family:
            return family
    raise FivesafesError(
        f"--family must be normal, poisson or logit, not {text!r} (or cnorm: a score "
        "censored at a floor or ceiling; zip: counts with structural zeros)"
    )


def parse_bound(text: str, option: str) -> float | None:
    """``--lower``/``--upper``: a number, or ``none`` (no bound on that side)."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise FivesafesError(f"{option} must be a number or none, not {text!r}")
    return value


def parse_groups(text: str) -> list[int]:
    """``"1-6"`` → 1..6, ``"4"`` → [4]."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not m:
        raise FivesafesError(f"--groups must be a number or a range such as 1-6, not {text!r}")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if lo < 1 or hi < lo:
        raise FivesafesError(f"--groups must be a range from 1 upwards such as 1-6, not {text!r}")
    if hi > 20:
        raise FivesafesError(f"--groups goes up to 20 groups, not {hi}")
    return list(range(lo, hi + 1))


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "—" if x is None else format(x, fmt)


def trajectories(
    table: Annotated[
        Path, typer.Argument(help="Long CSV: one row per person and time.", show_default=False)
    ],
    id: Annotated[str, typer.Option("--id", help="The person column.")],
    time: Annotated[str, typer.Option("--time", help="The time (wave) column, a number.")],
    value: Annotated[
        str,
        typer.Option(
            "--value",
            help="The outcome column, a number (blank = missing): a count for --family "
            "poisson and zip, 0 or 1 for --family logit, within --lower/--upper for cnorm.",
        ),
    ],
    groups: Annotated[
        str, typer.Option("--groups", help="Numbers of groups to fit: a range such as 1-6.")
    ] = "1-6",
    degree: Annotated[
        int, typer.Option("--degree", min=0, max=5, help="Polynomial degree of each trajectory.")
    ] = 2,
    family: Annotated[
        str,
        typer.Option(
            "--family",
            help="The outcome given the group: normal (a score), poisson (a count, e.g. "
            "offences per year), logit (0/1, e.g. any conviction that year), cnorm (a "
            "score censored at a floor or ceiling) or zip (a count with structural zeros).",
        ),
    ] = "normal",
    lower: Annotated[
        str | None,
        typer.Option(
            "--lower",
            help="--family cnorm: the floor of the score (values there are censored), or "
            "none; default: the observed minimum.",
            show_default=False,
        ),
    ] = None,
    upper: Annotated[
        str | None,
        typer.Option(
            "--upper",
            help="--family cnorm: the ceiling of the score, or none; default: the observed "
            "maximum.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write one row per person: id, group, posterior of each group (CSV)."
        ),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
    ] = False,
) -> None:
    """Fit group-based trajectory models with 1..K groups and choose K by BIC."""
    import time as clock

    from fivesafes.analysis.trajectories import (
        BIC_CONVENTION,
        LINK_SCALE,
        MIN_PERSONS_PER_GROUP,
        fit_trajectories,
        read_long_csv,
    )

    t0 = clock.perf_counter()
    ks = parse_groups(groups)
    fam = parse_family(family)
    if fam != "cnorm" and (lower is not None or upper is not None):
        raise FivesafesError(
            f"--lower and --upper are for --family cnorm only (the floor and ceiling of a "
            f"censored score), not --family {fam}"
        )
    lo = None if lower is None else parse_bound(lower, "--lower")
    hi = None if upper is None else parse_bound(upper, "--upper")
    given = (lo, hi)  # for checking the values while reading; not given: no check
    long = read_long_csv(
        table, id, time, value, min_persons=MIN_PERSONS_PER_GROUP * ks[-1], family=fam,
        bounds=given,
    )  # fmt: skip
    bounds: tuple[float | None, float | None] | None = None
    if fam == "cnorm" and (lower is not None or upper is not None):
        # a side not given is the observed minimum or maximum
        seen = long[value].dropna()
        bounds = (
            (float(seen.min()) if len(seen) else None) if lower is None else lo,
            (float(seen.max()) if len(seen) else None) if upper is None else hi,
        )
    with progress_bar(not json_, "trajectories") as update:
        result = fit_trajectories(
            long, id, time, value, groups=ks, degree=degree, progress=update, family=fam,
            bounds=bounds,
        )  # fmt: skip
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        result.assignments().to_csv(out, index=False)
    if json_:
        emit_json(
            {
                **result.to_dict(),
                "command": "analyse trajectories",
                "seconds": round(clock.perf_counter() - t0, 3),
                "paths": [str(out)] if out else [],
            }
        )
        return
    fits = Table(title=f"{table}: {result.persons:,} persons, {result.observations:,} values")
    for col in ("groups", "log-likelihood", "parameters", "BIC"):
        fits.add_column(col, justify="right")
    for k, score in result.bic.items():
        mark = " ◀ chosen" if k == result.chosen else ""
        fits.add_row(
            str(k),
            f"{result.fits[k].log_likelihood:,.1f}",
            str(result.fits[k].parameters),
            f"{score:,.1f}{mark}",
        )
    console.print(fits)
    console.print(f"BIC = {BIC_CONVENTION}.")
    title = f"The {result.chosen}-group model"
    if fam != "normal":
        title += f" ({fam}: coefficients of the {LINK_SCALE[fam]})"
    grid = Table(title=title)
    spread = {"cnorm": "σ", "zip": "ω (zero-inflation)"}.get(fam)
    columns = ["group", "proportion", "persons", "AvePP", "OCC"]
    for col in [*columns, *([spread] if spread else []), "coefficients (1, t, t², …)"]:
        grid.add_column(col, justify="left" if col.startswith("coef") else "right")
    for g in result.groups:
        coefs = ", ".join(
            f"{c:.4g}" + (f" ({s:.2g})" if g.standard_errors else "")
            for c, s in zip(g.coefficients, g.standard_errors or g.coefficients, strict=True)
        )
        shown = {"cnorm": [_num(g.sigma, ".4g")], "zip": [_num(g.omega)]}.get(fam, [])
        grid.add_row(
            str(g.group),
            f"{g.proportion:.3f}",
            f"{g.assigned:,}",
            _num(g.avg_posterior),
            _num(g.occ, ".1f"),
            *shown,
            coefs,
        )
    console.print(grid)
    console.print(
        "Standard errors in brackets. AvePP ≥ 0.7 and OCC ≥ 5 are Nagin's rules of thumb."
    )
    for note in result.to_dict()["notes"]:
        console.print(f"[yellow]note[/] {note}")
    if out is not None:
        console.print(f"Posterior group of each person written to [bold]{out}[/].")
