"""Every collection's synthetic returns, written together: the children's
(:mod:`fivesafes.synth.returns`), the adults', the carers' and the aggregate
ones (:mod:`fivesafes.synth.care_returns`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fivesafes.synth import care_returns
from fivesafes.synth import returns as children
from fivesafes.synth.returns import ReturnsConfig, ReturnsSummary, write_csv


def make_returns(
    out: Path, cfg: ReturnsConfig | None = None, error_share: float = 0.0
) -> ReturnsSummary:
    """Write every authority's returns of every collection under ``out``:
    ``<collection>/<la code>_<period>.csv`` (the period a year, or ``YYYY-MM`` for
    the monthly checkpoint); with ``error_share`` > 0, that share of files has
    mistakes planted, all listed in ``planted.json``."""
    cfg = cfg or ReturnsConfig()
    summary = children.make_returns(out, cfg, error_share)
    planted_file = out / "planted.json"
    planted_all: dict[str, list[dict[str, Any]]] = (
        json.loads(planted_file.read_text()) if planted_file.exists() else {}
    )
    rng = np.random.default_rng([cfg.seed, 9998])
    for collection, name, make in care_returns.returns_of(cfg):
        rel = f"{collection}/{name}"
        table = make()
        if error_share > 0 and rng.random() < error_share:
            table, planted = care_returns.with_errors(table, collection, rng)
            planted_all[rel] = [p.to_dict() for p in planted]
        write_csv(table, out / rel)
        summary.files[rel] = {"rows": table.num_rows, "errors_planted": rel in planted_all}
    if planted_all:
        planted_file.write_text(json.dumps(planted_all, indent=1, sort_keys=True))
    return summary
