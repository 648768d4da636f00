"""The result every analysis method returns: tables, figures and what to check.

An :class:`AnalysisResult` holds a method's headline numbers (``summary``), its
tables (pandas DataFrames) and figures (PNG bytes). Each table and figure
carries the *output object* the disclosure engine reads (``fivesafes.outputs``:
a :class:`~fivesafes.outputs.RegressionResult` for a model's coefficients, an
area table for per-area statistics, a :class:`~fivesafes.outputs.GroupSummary`
for groups, ...): :meth:`AnalysisResult.outputs` maps each name to it, and
:meth:`AnalysisResult.check` runs the rules over all of them. A table or figure
whose numbers the rules cannot read (``output=None``) is listed by
:meth:`AnalysisResult.unchecked`, for a checker to review by eye.

Methods build one with :meth:`AnalysisResult.add_table` and
:meth:`AnalysisResult.add_figure`; :meth:`AnalysisResult.write` saves the tables
as CSV, the figures as PNG and the summary as JSON, ready for an airlock request.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

    from fivesafes.outputs import CheckResult, Policy
    from fivesafes.outputs.objects import OutputObject


@dataclass
class Table:
    """A table of results and the output object its disclosure check reads."""

    name: str
    frame: pd.DataFrame
    description: str
    output: OutputObject | None = None


@dataclass
class Figure:
    """A figure and the output object behind the numbers it shows. The source is
    PNG bytes, a Matplotlib figure, or a function that draws one: it is drawn and
    rendered only when :attr:`png` is first read (drawing costs more than most fits)."""

    name: str
    source: MplFigure | bytes | Callable[[], MplFigure]
    description: str
    output: OutputObject | None = None

    @property
    def png(self) -> bytes:
        if callable(self.source):
            self.source = self.source()
        if not isinstance(self.source, bytes):
            self.source = figure_png(self.source)
        return self.source


@dataclass
class AnalysisResult:
    """What a method returns: a summary, tables and figures, each checkable."""

    method: str
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_table(
        self,
        name: str,
        frame: pd.DataFrame,
        description: str,
        output: OutputObject | None = None,
    ) -> Table:
        self._new_name(name)
        table = Table(name, frame, description, output)
        self.tables[name] = table
        return table

    def add_figure(
        self,
        name: str,
        figure: MplFigure | bytes | Callable[[], MplFigure],
        description: str,
        output: OutputObject | None = None,
    ) -> Figure:
        """Add a figure: PNG bytes, a Matplotlib figure, or a function drawing one
        (called, and rendered, when the PNG is first needed)."""
        self._new_name(name)
        fig = Figure(name, figure, description, output)
        self.figures[name] = fig
        return fig

    def _new_name(self, name: str) -> None:
        if name in self.tables or name in self.figures:
            raise ValueError(f"{self.method} already has an output called {name!r}")

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name].frame

    def outputs(self) -> dict[str, OutputObject]:
        """Each table's and figure's output object, by name (those the rules can read)."""
        items: list[Table | Figure] = [*self.tables.values(), *self.figures.values()]
        return {item.name: item.output for item in items if item.output is not None}

    def unchecked(self) -> list[str]:
        """Tables and figures the rules cannot read: a checker reviews them by eye."""
        items: list[Table | Figure] = [*self.tables.values(), *self.figures.values()]
        return [item.name for item in items if item.output is None]

    def check(self, policy: Policy) -> dict[str, CheckResult]:
        """Run the disclosure rules over every output object, by name."""
        from fivesafes.outputs import check

        return {name: check(obj, policy) for name, obj in self.outputs().items()}

    def to_dict(self) -> dict[str, Any]:
        """The summary and, per table, its rows (JSON-ready)."""
        return {
            "method": self.method,
            "summary": self.summary,
            "tables": {
                name: json.loads(t.frame.to_json(orient="records"))
                for name, t in self.tables.items()
            },
            "figures": sorted(self.figures),
            "notes": list(self.notes),
        }

    def write(self, folder: Path) -> list[Path]:
        """Write ``<name>.csv`` per table, ``<name>.png`` per figure and
        ``<method>-summary.json``; returns the paths written."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, t in self.tables.items():
            path = folder / f"{name}.csv"
            t.frame.to_csv(path, index=False)
            paths.append(path)
        for name, f in self.figures.items():
            path = folder / f"{name}.png"
            path.write_bytes(f.png)
            paths.append(path)
        path = folder / f"{self.method}-summary.json"
        path.write_text(json.dumps(self.summary, indent=2, default=str) + "\n")
        paths.append(path)
        return paths


def figure_png(figure: MplFigure, dpi: int = 120) -> bytes:
    """Render a Matplotlib figure to PNG bytes (methods make figures with
    ``matplotlib.figure.Figure()``, not pyplot, so no GUI backend or global state)."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()
