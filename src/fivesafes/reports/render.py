"""The report templates' environment: the site's stylesheet, number formatting,
tables of data frames and figures embedded as PNG.

Templates autoescape everything; a report's values never need escaping by hand.
Strings in the templates go through ``_()`` (gettext, newstyle), as the web
app's do.
"""

from __future__ import annotations

import base64
import io
import math
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: The site's stylesheet: reports look like the pages of the web app.
SITE_CSS = ("fivesafes.web", "static/style.css")


def number(x: Any) -> str:
    """A value as a report shows it: thousands separated, three decimals (or three
    significant figures for small ones), blank for missing, yes/no for truth values."""
    if hasattr(x, "item"):
        x = x.item()
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if abs(x) >= 1e4:
            return f"{x:,.1f}"
        if x != 0 and abs(x) < 1e-3:
            return f"{x:.3g}"
        return f"{x:,.3f}"
    return str(x)


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` address for an ``<img>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_png(fig: Figure) -> bytes:
    """A matplotlib figure as PNG bytes (and the figure closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def frame_table(frame: pd.DataFrame, max_rows: int) -> dict[str, Any]:
    """A data frame as a report's table: header cells and rows of ``(text, is_text)``
    (text left-aligned, numbers right), the first ``max_rows`` rows, and how many
    there are in all."""
    shown = frame.head(max_rows)
    columns = [shown[c].tolist() for c in shown.columns]  # per column: ints stay ints
    rows = [
        [(v, True) if isinstance(v, str) else (number(v), False) for v in values]
        for values in zip(*columns, strict=True)
    ]
    return {
        "head": [(str(c), frame[c].dtype == object) for c in frame.columns],
        "rows": rows,
        "total": len(frame),
        "max_rows": max_rows,
    }


@cache
def site_css() -> str:
    package, name = SITE_CSS
    return files(package).joinpath(name).read_text(encoding="utf-8")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("fivesafes.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters["num"] = number
    env.filters["data_uri"] = data_uri
    env.globals["site_css"] = site_css
    return env


def render(template: str, **context: Any) -> str:
    """The report ``template`` (a file of ``fivesafes/reports/templates``) with
    ``context``, as a complete HTML page."""
    return environment().get_template(template).render(**context)
