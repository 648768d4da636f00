"""The demo: every stage of the data flow, end to end, on a synthetic world.

``run_demo(out)`` generates a world in ``out/world``, ingests it into the store
``out/store``, links its records into persons (measuring the linkage against the
world's truth) and reports on it, provisions a project workspace, checks and
releases outputs through the airlock, runs a study on the workspace and writes its
report, runs a provider's submission cycle (rejected, corrected, accepted) and
publishes safe statistics and indicator dashboards, and writes ``out/summary.md``
and ``out/summary.json`` saying what was done and where it lies.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fivesafes.data import ingest, provision, store_summary
from fivesafes.data.link import link, measured_quality
from fivesafes.data.link.report import link_report
from fivesafes.synth import WorldConfig, make_world

Progress = Callable[[str, float], None]
DEMO_PROJECT = "attainment-and-offending"
DEMO_DATASETS = ("pupil_census", "justice_offences", "cla_episodes", "areas")


def run_demo(
    out: Path, people: int = 10000, seed: int = 1, progress: Progress | None = None
) -> dict[str, Any]:
    report = progress or (lambda stage, fraction: None)
    t0 = time.perf_counter()
    world_dir, store_dir = out / "world", out / "store"
    fresh = (world_dir, store_dir, out / "study", out / "collections", out / "published")
    for old in fresh:  # a demo starts afresh
        if old.exists():
            shutil.rmtree(old)
    world = make_world(
        WorldConfig(people=people, seed=seed),
        world_dir,
        lambda stage, f: report(f"synth: {stage}", 0.15 * f),
    )
    ingested = ingest(
        [world_dir],
        store_dir,
        progress=lambda stage, f: report(f"ingest: {stage}", 0.15 + 0.15 * f),
    )
    zones = store_summary(store_dir)
    linked = link(store_dir, progress=lambda stage, f: report(f"link: {stage}", 0.3 + 0.4 * f))
    truth = world_dir / "truth" / "records.csv"
    quality = measured_quality(store_dir, truth)
    # The quality report shows identifiers: it stays with the store (identifier zone).
    reports = link_report(store_dir, store_dir / "reports", truth=truth)
    workspace = provision(store_dir, DEMO_PROJECT, list(DEMO_DATASETS))
    outputs = _outputs_stage(workspace.workspace, out, report)
    study = _study_stage(workspace.workspace, out, world_dir / "truth", report)
    collections = _collections_stage(out, report)
    result: dict[str, Any] = {
        "out": str(out),
        "world": world.to_dict(),
        "ingest": ingested.to_dict(),
        "store": zones,
        "link": linked.to_dict(),
        "link_quality": quality,
        "link_reports": reports,
        "provision": workspace.to_dict(),
        "outputs": outputs,
        "study": study,
        "collections": collections,
        "seconds": round(time.perf_counter() - t0, 3),
        "paths": {
            "provider_files": str(world_dir / "provider"),
            "truth": str(world_dir / "truth"),
            "identifier_zone": str(store_dir / "identifiers.duckdb"),
            "content_zone": str(store_dir / "content.duckdb"),
            "workspace": str(workspace.workspace),
            "linkage_quality_report": str(reports["paths"]["quality_html"]),
            "linkage_bias_report": str(reports["paths"]["bias_html"]),
            "disclosure_reports": outputs["paths"]["disclosure_report"],
            "released_bundles": outputs["paths"]["released"],
            "study_report": study["paths"]["report"],
            "submission_reports": collections["submissions"]["reports"]["rejected_html"],
            "published_statistics": collections["publication"]["index"],
            "summary": str(out / "summary.md"),
        },
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "summary.md").write_text(_markdown(result))
    report("done", 1.0)
    return result


def _outputs_stage(workspace: Path, out: Path, report: Progress) -> dict[str, Any]:
    """Outputs made on the workspace, checked, and released through the airlock by
    two checkers (a demo database under ``out/state``, bundles under ``out/released``)."""
    from fivesafes.demo.outputs import run_outputs_demo

    return run_outputs_demo(
        workspace, out, lambda stage, f: report(f"outputs: {stage}", 0.7 + 0.05 * f)
    )


def _study_stage(workspace: Path, out: Path, truth: Path, report: Progress) -> dict[str, Any]:
    """A study on the workspace (attainment trajectories and later convictions), its
    outputs through the disclosure engine, and its HTML report under ``out/study``."""
    from fivesafes.analysis.studies import run_demo_study

    report("study: attainment trajectories and convictions", 0.75)
    return run_demo_study(workspace, out / "study", truth=truth)


def _collections_stage(out: Path, report: Progress) -> dict[str, Any]:
    """Providers' returns: one submission rejected, corrected, explained and accepted,
    the other authorities' returns accepted (``out/collections``), then the safe
    statistics and indicator dashboards published (``out/published``)."""
    from fivesafes.demo.collections import publish_demo, run_cycle

    report("collections: a submission cycle", 0.85)
    cycle = run_cycle(out / "collections")
    report("collections: publishing safe statistics", 0.93)
    published = publish_demo(out / "published", accepted=cycle["accepted_db"])
    return {"submissions": cycle, "publication": published}


def _markdown(r: dict[str, Any]) -> str:
    w, i, q = r["world"], r["ingest"], r["link_quality"]
    lines = [
        "# fivesafes demo",
        "",
        f"Synthetic world: {w['people']:,} people (seed {w['seed']}), generated in "
        f"{w['seconds']:.1f} s.",
        "",
        "| dataset | rows generated | identifier zone rows | content zone rows |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, counts in r["store"].items():
        generated = w["datasets"].get(name, counts["content_rows"])
        lines.append(
            f"| {name} | {generated:,} | {counts['identifier_rows']:,} | "
            f"{counts['content_rows']:,} |"
        )
    lines += [
        "",
        f"Ingested {i['files_ingested']} files ({i['rows_ingested']:,} rows; "
        f"{i['files_already_ingested']} already ingested) in {i['seconds']:.1f} s.",
        "",
        f"Linked {r['link']['records']:,} records into {r['link']['persons']:,} persons "
        f"(threshold {r['link']['threshold']}) in {r['link']['seconds']:.1f} s. Against the "
        f"truth: pairwise precision {q['precision']:.4f}, recall {q['recall']:.4f}, "
        f"F1 {q['f1']:.4f} ({q['false_matches']:,} false and {q['missed_matches']:,} missed "
        "matching pairs).",
        "",
        "Linkage bias (who links worse), from the bias report:",
        "",
        *[f"- {line}" for line in r["link_reports"]["headline"]["summary"][:6]],
        "",
        f"Provisioned project `{DEMO_PROJECT}`: "
        + ", ".join(f"{k} ({v:,} rows)" for k, v in r["provision"]["rows"].items())
        + f" for {r['provision']['persons']:,} persons under the project's own pseudonyms, "
        "with no identifier and no global person id.",
        "",
        "Outputs, checked and released through the airlock:",
        "",
        *[f"- {line}" for line in r["outputs"]["lines"]],
        "",
        *_study_lines(r["study"]),
        *_collections_lines(r["collections"]),
        "Where it lies:",
        "",
    ]
    lines += [f"- {k.replace('_', ' ')}: `{v}`" for k, v in r["paths"].items()]
    return "\n".join(lines) + "\n"


def _study_lines(study: dict[str, Any]) -> list[str]:
    lines = [
        f"Study on the workspace: {study['title']} (report: `{study['paths']['report']}`).",
        "",
    ]
    lines += [f"- {line}" for line in study["findings"]]
    covered = [c for c in study["comparisons"] if c.get("covered") is not None]
    if covered:
        hits = sum(1 for c in covered if c["covered"])
        lines.append(
            f"- {hits} of {len(covered)} planted values lie within the estimates' 95% intervals."
        )
    return [*lines, ""]


def _collections_lines(c: dict[str, Any]) -> list[str]:
    sub = c["submissions"]
    rejected, accepted = sub["rejected"], sub["corrected"]
    pub = c["publication"]
    return [
        f"Provider returns: {sub['provider_name']} ({sub['provider']}) submitted its "
        f"{sub['collection']} return for {sub['year']}: rejected with {rejected['errors']:,} "
        f"errors and {rejected['warnings']:,} warnings ({len(sub['planted_errors'])} mistakes "
        f"planted); the corrected file had {accepted['warnings']:,} warnings, explained "
        f"({', '.join(accepted['warnings_explained']) or 'none'}), and was accepted. "
        f"{sub['other_submissions_accepted']} other returns accepted.",
        "",
        "One cycle of each of the other collections (a return with mistakes rejected, "
        "corrected, its warnings explained, accepted):",
        "",
        *[
            f"- {name} {c['period']}: rejected with {c['rejected']['errors']:,} errors "
            f"({len(c['planted_errors'])} mistakes planted), corrected and accepted "
            f"(warnings explained: {', '.join(c['accepted']['warnings_explained']) or 'none'}); "
            f"{c['other_submissions_accepted']} other returns accepted"
            + (
                " (never published: seen on the checkpoint dashboard only)"
                if name == "ss_checkpoint"
                else ""
            )
            for name, c in sub.get("care_cycles", {}).items()
        ],
        "",
        f"Published {len(pub['tables'])} table{'' if len(pub['tables']) == 1 else 's'} of the "
        "accepted returns and an indicator dashboard, each through disclosure control "
        f"(`{pub['index']}`).",
        "",
    ]
