"""Indicator dashboards: a table and a chart per indicator, with CSV exports.

:func:`publish_indicators` runs :func:`fivesafes.analysis.indicators.calculate`
under the disclosure policy (small numbers withheld first, changes and averages
computed from the published values only) and writes, in ``out_dir``:
``summary.csv`` (the same columns as ``fivesafes indicators``), ``series.csv``
(every area, indicator and period as published, with its status: available,
missing or suppressed), ``indicators.json`` (metadata, summary and series), per
indicator ``<slug>.csv`` and ``<slug>.png``, and ``index.html`` (the dashboard).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from fivesafes.analysis.indicators import (
    SUPPRESSED,
    IndicatorResult,
    calculate,
    series_table,
    to_records,
)
from fivesafes.collections.publication import FORMAT, SUPPRESSED_SYMBOL
from fivesafes.outputs.policy import Policy, tre_policy
from fivesafes.spreadsheet import inert_frame

TITLE = "Criminal justice indicators by board area"
SOURCE = "Quarterly returns of the criminal justice board areas (synthetic)"
TITLE_CY = "Dangosyddion cyfiawnder troseddol yn ôl ardal bwrdd"
SOURCE_CY = "Ffurflenni chwarterol ardaloedd y byrddau cyfiawnder troseddol (synthetig)"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "indicator"


@dataclass
class Dashboard:
    result: IndicatorResult
    metadata: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)

    def entry(self, prefix: str = "") -> dict[str, Any]:
        """This dashboard as an entry of a publication index."""
        return {
            "slug": "indicators",
            "title": self.metadata["title"],
            "release_date": self.metadata["release_date"],
            "coverage": self.metadata["coverage"],
            "kind": "dashboard",
            "href": f"{prefix}index.html",
            "languages": self.metadata.get("languages", ["en"]),
            **(
                {
                    "cy": {
                        "title": self.metadata["cy"]["title"],
                        "coverage": self.metadata["cy"]["coverage"],
                    }
                }
                if "cy" in self.metadata
                else {}
            ),
            "files": {k: f"{prefix}{v.name}" for k, v in self.paths.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.result.to_dict(),
            "paths": {k: str(v) for k, v in self.paths.items()},
        }


def _show(v: Any, spec: str = "") -> str:
    if v is None:
        return ""
    return format(v, spec) if spec else (f"{v:,}" if isinstance(v, int) else str(v))


def publish_indicators(
    table: str | Path | pd.DataFrame,
    out_dir: str | Path,
    window: int | None = None,
    policy: Policy | None = None,
    release_date: date | None = None,
    title: str = TITLE,
    source: str = SOURCE,
    title_cy: str = TITLE_CY,
    source_cy: str = SOURCE_CY,
) -> Dashboard:
    """Calculate the indicators of ``table`` under ``policy`` (default: the TRE's)
    and write the dashboard and its exports into ``out_dir``."""
    from fivesafes.collections.publish_charts import indicator_chart
    from fivesafes.collections.publish_html import dashboard_page

    policy = policy or tre_policy()
    result = calculate(table, window=window, policy=policy)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary, series = result.summary, series_table(result)
    periods = sorted(series["period"].unique())
    released = (release_date or date.today()).isoformat()
    blanks = "not available or suppressed"
    meta: dict[str, Any] = {
        "format": FORMAT,
        "title": title,
        "source": source,
        "coverage": (
            f"{summary['area'].nunique()} areas, {len(result.latest)} indicators, "
            f"{periods[0]} to {periods[-1]}"
        ),
        "release_date": released,
        "average": (
            "the average of all available quarters up to the latest"
            if window is None
            else f"the average of the last {window} available quarters up to the latest"
        )
        + ", rounded to a whole number (halves away from zero)",
        "notes": [
            "The latest period is the latest in the returns for each indicator; an area "
            "that did not send it has a blank latest value.",
            "The change is on the immediately preceding quarter, in percent to one decimal "
            "(halves away from zero); it is blank when either quarter is "
            f"{blanks} or the previous value is zero, and the note says why.",
            f"Values are withheld under the disclosure control policy {policy.label}: "
            f"counts below {policy.minimum_count}"
            + (" and zeros" if policy.zeros else "")
            + f" are shown as {SUPPRESSED_SYMBOL} in the tables and left blank in the CSV "
            "([x]: not available); "
            "a change or an average that would need a withheld value is withheld too.",
            (
                f"Counts are rounded to the nearest {policy.rounding_base}; changes and "
                "averages are computed from the rounded values."
                if policy.rounding == "nearest"
                else "Counts are not rounded."
                if policy.rounding == "none"
                else "Counts are rounded (midpoint); changes and averages use the rounded values."
            ),
        ],
        "policy": policy.label,
        "window": window,
        "latest_period": result.latest,
    }
    meta["languages"] = ["en", "cy"] if title_cy else ["en"]
    if title_cy:
        meta["cy"] = _welsh(meta, title_cy, source_cy, summary, result, periods, window, policy)
    dash = Dashboard(result, meta)
    paths = dash.paths
    paths["summary"] = out / "summary.csv"
    result.write_csv(paths["summary"])
    paths["series"] = out / "series.csv"
    inert_frame(series).to_csv(paths["series"], index=False, na_rep="")
    charts: dict[str, dict[str, str]] = {}
    for indicator in result.latest:
        slug = slugify(indicator)
        rows = summary[summary["indicator"] == indicator]
        csv_path = out / f"{slug}.csv"
        inert_frame(rows).to_csv(csv_path, index=False, na_rep="")
        png, alt = indicator_chart(
            summary, indicator, result.latest[indicator], out / f"{slug}.png"
        )
        paths[f"{slug}.csv"], paths[f"{slug}.png"] = csv_path, png
        charts[indicator] = {"id": slug, "png": png.name, "alt": alt, "csv": csv_path.name}
    meta["files"] = {"summary": "summary.csv", "series": "series.csv", "json": "indicators.json"}
    doc = {
        "metadata": meta,
        "summary": to_records(summary),
        "series": to_records(series),
        "charts": charts,
    }
    paths["json"] = out / "indicators.json"
    paths["json"].write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    paths["html"] = out / "index.html"
    paths["html"].write_text(dashboard_page(meta, dashboard_sections(doc)), encoding="utf-8")
    return dash


def _welsh(
    meta: Mapping[str, Any],
    title: str,
    source: str,
    summary: pd.DataFrame,
    result: IndicatorResult,
    periods: list[Any],
    window: int | None,
    policy: Policy,
) -> dict[str, Any]:
    """The dashboard's words in Welsh, under the same keys as the English (the
    indicators' and areas' names are the returns' own, as written)."""
    blanks = "ddim ar gael neu wedi'i atal"
    rounding = (
        f"Caiff cyfrifon eu talgrynnu i'r {policy.rounding_base} agosaf; caiff newidiadau a "
        "chyfartaleddau eu cyfrifo o'r gwerthoedd wedi'u talgrynnu."
        if policy.rounding == "nearest"
        else "Nid yw'r cyfrifon wedi'u talgrynnu."
        if policy.rounding == "none"
        else "Caiff cyfrifon eu talgrynnu (canolbwynt); mae newidiadau a chyfartaleddau'n "
        "defnyddio'r gwerthoedd wedi'u talgrynnu."
    )
    return {
        "title": title,
        "source": source,
        "coverage": (
            f"{summary['area'].nunique()} ardal, {len(result.latest)} dangosydd, "
            f"{periods[0]} i {periods[-1]}"
        ),
        "average": (
            "cyfartaledd yr holl chwarteri sydd ar gael hyd at yr un diweddaraf"
            if window is None
            else f"cyfartaledd y {window} chwarter diwethaf sydd ar gael hyd at yr un diweddaraf"
        )
        + ", wedi'i dalgrynnu i rif cyfan (haneri i ffwrdd o sero)",
        "notes": [
            "Y cyfnod diweddaraf yw'r diweddaraf yn y ffurflenni ar gyfer pob dangosydd; mae "
            "gwerth diweddaraf gwag gan ardal na wnaeth ei anfon.",
            "Mae'r newid ar y chwarter blaenorol, mewn canrannau i un lle degol (haneri i "
            f"ffwrdd o sero); mae'n wag pan fo'r naill chwarter neu'r llall yn {blanks} neu "
            "pan fo'r gwerth blaenorol yn sero, ac mae'r nodyn yn dweud pam.",
            f"Caiff gwerthoedd eu hatal o dan y polisi rheoli datgelu ystadegol {policy.label}: "
            f"caiff cyfrifon o dan {policy.minimum_count}"
            + (" a sero" if policy.zeros else "")
            + f" eu dangos fel {SUPPRESSED_SYMBOL} yn y tablau a'u gadael yn wag yn y CSV "
            "([x]: ddim ar gael); caiff newid neu gyfartaledd a fyddai angen gwerth a ataliwyd "
            "ei atal hefyd.",
            rounding,
        ],
    }


def dashboard_sections(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One section per indicator (its table rows as shown, chart and CSV) from a
    dashboard's JSON document (``indicators.json``): values as text, [c] for a
    withheld value and [x] for one not available (GSS symbols)."""
    status = {(s["area"], s["indicator"], s["period"]): s["status"] for s in doc["series"]}

    def shown(row: Mapping[str, Any], value: str, period: str) -> str:
        if row[value] is not None:
            return _show(row[value])
        hidden = status.get((row["area"], row["indicator"], row[period])) == SUPPRESSED
        return SUPPRESSED_SYMBOL if hidden else "[x]"

    sections = []
    for indicator, chart in doc["charts"].items():
        rows = [r for r in doc["summary"] if r["indicator"] == indicator]
        sections.append(
            {
                "id": chart["id"],
                "indicator": indicator,
                "latest": doc["metadata"]["latest_period"][indicator],
                "previous": rows[0]["previous_period"] if rows else "",
                "csv": chart["csv"],
                "png": chart["png"],
                "alt": chart["alt"],
                "rows": [
                    {
                        "area": r["area"],
                        "latest_value": shown(r, "latest_value", "latest_period"),
                        "previous_value": shown(r, "previous_value", "previous_period"),
                        "change_percent": _show(r["change_percent"], "+.1f"),
                        "average": _show(r["average"]),
                        "note": r["note"] or "",
                    }
                    for r in rows
                ],
            }
        )
    return sections
