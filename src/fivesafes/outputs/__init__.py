"""Safe outputs: statistical disclosure control for what leaves the TRE.

Build an output object (:mod:`fivesafes.outputs.objects`), choose a policy
(:mod:`fivesafes.outputs.policy`) and :func:`check` it: a verdict per cell with
its reason, the safe version and a JSON report. :func:`check_table_csv` checks a
long-format CSV table made anywhere, :func:`check_microdata_csv` a table of sums
from its microdata (one row per contribution, amounts of any sign).
"""

from __future__ import annotations

from fivesafes.outputs.check import CheckResult, check, check_microdata_csv, check_table_csv
from fivesafes.outputs.objects import (
    FrequencyTable,
    GroupSummary,
    MagnitudeTable,
    RegressionResult,
    area_table,
    bar_chart,
    histogram,
    series,
)
from fivesafes.outputs.policy import PRESETS, Policy, load_policy
from fivesafes.outputs.primary import Verdict

__all__ = [
    "PRESETS",
    "CheckResult",
    "FrequencyTable",
    "GroupSummary",
    "MagnitudeTable",
    "Policy",
    "RegressionResult",
    "Verdict",
    "area_table",
    "bar_chart",
    "check",
    "check_microdata_csv",
    "check_table_csv",
    "histogram",
    "load_policy",
    "series",
]
