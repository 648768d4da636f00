"""Spatial clustering of autism (ASD) as a special educational need.

Question: Is the share of pupils with special educational needs whose primary
need is autism (ASD) clustered across small areas, and where are the clusters?

Data: pupil_census (special-needs type; area at school entry, from the
curation step), areas (queen-contiguity neighbour lists).

Method: Per area, the share of pupils with a special-needs type whose type is
most often recorded as ASD; global Moran's I and local Moran (LISA) with 999
permutations on the row-standardised neighbour weights, the pupils behind each
area's share given to the disclosure rules; then a logistic regression of ASD
among pupils with a special need on living at school entry in an area of a
significant high-high (HH) cluster.

Planted truth: ASD has 4 times the weight among the special-needs types in a
hotspot, the 6% of areas nearest a random centre; elsewhere the types follow
fixed weights. So Moran's I is positive, the hotspot shows as an HH cluster,
and the odds of ASD there are about 4 times those elsewhere
(docs/synthetic-world.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fivesafes.analysis import study_data as sd
from fivesafes.analysis.regression import logistic
from fivesafes.analysis.spatial import moran, read_neighbours
from fivesafes.analysis.studies import Comparison, StudyResult
from fivesafes.analysis.truth import planted_value

TITLE = "Spatial clustering of autism as a special educational need"
DATASETS = ("pupil_census", "areas")
SIGNIFICANT = 0.05


#: The special educational need the study is about (the protocol's, not the world's).
SEN_TYPE = "ASD"


def run(
    workspace: Path, out: Path, seed: int = 1, planted: dict[str, Any] | None = None
) -> StudyResult:
    sen = SEN_TYPE
    with sd.curated(workspace) as con:
        areas, pairs, pupils = (
            sd.sen_types_by_area(con, sen),
            sd.neighbour_pairs(con),
            sd.sen_pupils(con, sen),
        )
    areas = areas[areas["sen_pupils"] > 0]
    ids = areas["area_code"].tolist()
    share = (areas["type_pupils"] / areas["sen_pupils"]).to_numpy()
    nb = read_neighbours(pairs[pairs["area"].isin(ids) & pairs["neighbour"].isin(ids)], ids)
    spatial = moran(
        ids,
        share,
        nb,
        permutations=999,
        seed=seed,
        id_name="area_code",
        counts=areas["sen_pupils"].to_numpy(),
        value_name=f"{sen.lower()}_share",
    )
    local = spatial.table("local")
    hh = set(local.loc[(local["quadrant"] == "HH") & (local["p_sim"] <= SIGNIFICANT), "area_code"])
    pupils["in_hh_cluster"] = pupils["area_code"].isin(hh).astype(int)
    result = StudyResult(
        analyses={"moran": spatial},
        cohort={
            "pupils_with_a_special_need": int(areas["sen_pupils"].sum()),
            f"pupils_with_{sen.lower()}": int(areas["type_pupils"].sum()),
        },
    )
    s = spatial.summary
    result.findings = [
        f"Across {len(ids)} areas, Moran's I of the {sen} share is {s['I']:.3f} (expected "
        f"{s['expected_I']:.3f} without clustering; pseudo p-value {s['p_sim']:.3f}).",
        f"{len(hh)} area(s) form significant high-high clusters (p <= {SIGNIFICANT}, not "
        "corrected for the many local tests).",
    ]
    if hh and 0 < pupils["in_hh_cluster"].sum() < len(pupils):
        model = logistic(pupils, "has_type ~ in_hh_cluster")
        result.analyses["hotspot_odds"] = model
        r = model.table("coefficients").set_index("term").loc["in_hh_cluster"]
        result.findings.append(
            f"Pupils with a special need living in those clusters had {r['odds_ratio']:.1f} times "
            f"the odds of {sen} (95% CI {r['or_lower']:.1f} to {r['or_upper']:.1f})."
        )
        if planted is None:
            return result
        spatial_truth = planted_value(planted, "spatial")
        if spatial_truth.get("sen_type") != sen:
            return result  # the world planted its hotspot in another need
        hotspot = float(spatial_truth["odds_ratio_in_hotspot"])
        result.findings[-1] = result.findings[-1].rstrip(".") + (
            f"; the world planted {hotspot:g} in its hotspot."
        )
        result.comparisons.append(
            Comparison(
                f"odds ratio of {sen}, HH cluster vs elsewhere",
                hotspot,
                r["odds_ratio"],
                r["or_lower"],
                r["or_upper"],
                "hotspot_odds/coefficients",
                "in_hh_cluster",
                "clusters found by the study, not the planted hotspot",
            )
        )
    return result
