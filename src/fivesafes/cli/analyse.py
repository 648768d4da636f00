"""CLI for the analysis methods: ``fivesafes analyse ...`` over tables made anywhere."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import console, emit_json

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    help="Analysis methods (trajectories, regression, decomposition, spatial, target trials)"
    " over CSV tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
]


@app.command(
    "moran",
    epilog="Example: [bold]fivesafes analyse moran areas.csv --id area_code --value asd_rate "
    "--neighbours pairs.csv --permutations 999 --seed 1 --out local.csv[/]",
)
def moran(
    areas: Annotated[Path, typer.Argument(help="CSV with one row per area: its id and value.")],
    id_col: Annotated[str, typer.Option("--id", help="The area id column.")],
    value: Annotated[str, typer.Option("--value", help="The value column (a number per area).")],
    neighbours: Annotated[
        Path,
        typer.Option(
            "--neighbours",
            help="CSV of neighbour pairs with columns area,neighbour (one row per ordered pair).",
        ),
    ],
    permutations: Annotated[
        int, typer.Option("--permutations", min=0, help="Random permutations for p-values.")
    ] = 999,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (same seed, same p-values).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write per area: local I, pseudo p-value, quadrant (CSV)."),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Global Moran's I and local Moran (LISA), with row-standardised weights."""
    from fivesafes.analysis.spatial import moran_csv

    t0 = time.perf_counter()
    result = moran_csv(str(areas), id_col, value, str(neighbours), permutations, seed)
    local = result.table("local")
    if out is not None:
        local.drop(columns=[value]).to_csv(out, index=False)
    s = result.summary
    if json_:
        emit_json(
            {
                "I": s["I"],
                "expected_I": s["expected_I"],
                "z": s["z"],
                "p_sim": s["p_sim"],
                "command": "analyse moran",
                "areas": s["areas"],
                "permutations": permutations,
                "seed": seed,
                "p_norm": s["p_norm"],
                "quadrants": _quadrant_counts(local),
                "notes": result.notes,
                "seconds": round(time.perf_counter() - t0, 3),
                "paths": [str(out)] if out else [],
            }
        )
        return
    p = "n/a (no permutations)" if s["p_sim"] is None else f"{s['p_sim']:.4f}"
    console.print(
        f"Moran's I = [bold]{s['I']:.4f}[/] (expected {s['expected_I']:.4f} if no "
        f"autocorrelation), z = {s['z']:.2f}, pseudo p = {p} over {s['areas']:,} areas "
        f"({permutations} permutations{'' if seed is None else f', seed {seed}'})."
    )
    significant = local[local["p_sim"] < 0.05] if permutations else local.iloc[:0]
    table = Table(title="Local Moran: areas by quadrant (significant at p < 0.05)")
    for col in ("quadrant", "areas", "significant"):
        table.add_column(col, justify="left" if col == "quadrant" else "right")
    for q in ("HH", "LL", "HL", "LH"):
        table.add_row(
            q,
            str(int((local["quadrant"] == q).sum())),
            str(int((significant["quadrant"] == q).sum())),
        )
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note[/] {note}")
    if out is not None:
        console.print(f"Local statistics per area written to [bold]{out}[/].")


def _quadrant_counts(local: pd.DataFrame) -> dict[str, dict[str, int]]:
    sig = local["p_sim"] < 0.05
    return {
        q: {
            "areas": int((local["quadrant"] == q).sum()),
            "significant": int(((local["quadrant"] == q) & sig).sum()),
        }
        for q in ("HH", "LL", "HL", "LH")
    }


from fivesafes.cli import analyse_models as _models  # noqa: E402

app.command("logit", epilog=_models.LOGIT_EPILOG)(_models.logit)
app.command("ordinal", epilog=_models.ORDINAL_EPILOG)(_models.ordinal_command)
app.command("oaxaca", epilog=_models.OAXACA_EPILOG)(_models.oaxaca_command)
app.command("fixed-effects", epilog=_models.FE_EPILOG)(_models.fixed_effects_command)


from fivesafes.cli.trajectories import EPILOG, trajectories  # noqa: E402

app.command("trajectories", epilog=EPILOG)(trajectories)


from fivesafes.cli.target_trial import EPILOG as TT_EPILOG  # noqa: E402
from fivesafes.cli.target_trial import target_trial_command  # noqa: E402

app.command("target-trial", epilog=TT_EPILOG)(target_trial_command)
