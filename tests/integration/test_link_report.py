"""The linkage reports: the quality report for the linkage operator (identifier zone)
and the bias report for researchers (aggregates only), on a linked synthetic world
of 3,000 people, with and without its truth."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fivesafes import datasets
from fivesafes.data import ingest
from fivesafes.data.link import link, measured_quality
from fivesafes.data.link.report import link_report
from fivesafes.data.store import open_store
from fivesafes.synth import WorldConfig, make_world

PEOPLE = 3000
SEED = 3
PERSON_DATASETS = tuple(d.name for d in datasets.PERSON_DATASETS)
REFERENCE_COLUMNS = ("upn", "nhs_number", "nino", "pnc_id", "child_id")


@dataclass
class Reports:
    store: Path
    truth: Path
    with_truth: dict[str, Any]  # link_report's answer, truth given
    without_truth: dict[str, Any]

    def json(self, key: str, truth: bool = True) -> dict[str, Any]:
        answer = self.with_truth if truth else self.without_truth
        return json.loads(Path(answer["paths"][key]).read_text())

    def text(self, key: str, truth: bool = True) -> str:
        answer = self.with_truth if truth else self.without_truth
        return Path(answer["paths"][key]).read_text()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    base = tmp_path_factory.mktemp("link-report")
    world, store = base / "world", base / "store"
    make_world(WorldConfig(people=PEOPLE, seed=SEED), world)
    ingest([world], store)
    link(store)
    truth = world / "truth" / "records.csv"
    return Reports(
        store,
        truth,
        link_report(store, base / "with-truth", truth),
        link_report(store, base / "without-truth"),
    )


class Page(HTMLParser):
    """What a reader (or a screen reader) finds on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.headings: list[str] = []
        self.captions: list[str] = []
        self.alts: list[str] = []  # the charts' alternative text
        self.scopes: list[str | None] = []
        self.tags: set[str] = set()
        self.images_described = True
        self.text: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "th":
            self.scopes.append(a.get("scope"))
        if tag == "img":
            alt = a.get("alt") or ""
            self.images_described &= bool(alt.strip())
            self.alts.append(alt)
            self.images_described &= (a.get("src") or "").startswith("data:image/png;base64,")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if not self.stack:
            return
        top = self.stack[-1]
        if top in ("h1", "h2", "h3"):
            self.headings.append(data.strip())
        elif top == "caption":
            self.captions.append(data.strip())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def assert_accessible(page: Page) -> None:
    assert page.lang == "en-GB"
    assert "script" not in page.tags
    assert page.scopes and all(s in ("col", "row") for s in page.scopes), set(page.scopes)
    assert "svg" not in page.tags  # charts are matplotlib PNGs, embedded
    assert page.images_described and page.alts
    assert page.headings[0]


@pytest.mark.slow
def test_both_reports_are_written(reports: Reports) -> None:
    for answer in (reports.with_truth, reports.without_truth):
        paths = {k: Path(v) for k, v in answer["paths"].items()}
        assert {p.name for p in paths.values()} == {
            "link-quality.json",
            "link-quality.html",
            "linkage-bias.json",
            "linkage-bias.html",
        }
        assert all(p.stat().st_size > 0 for p in paths.values())
        assert not list(paths["quality_json"].parent.glob("*.tmp"))
    head = reports.with_truth["headline"]
    assert head["records"] > 0 and 0 < head["persons"] <= head["records"]
    assert 0 < head["link_rate"] <= 1
    assert head["summary"]
    print("\nheadline:", json.dumps(head, indent=1))


@pytest.mark.slow
def test_quality_json_has_its_sections(reports: Reports) -> None:
    q = reports.json("quality_json")
    assert "identifier zone" in q["zone"]
    run = q["run"]
    for key in ("engine", "threshold", "records", "persons", "pairs_scored", "pairs_matched"):
        assert key in run
    # link() writes its run before it has timed itself: no time is None, not 0.
    assert run["seconds"] is None or run["seconds"] > 0
    with open_store(reports.store, read_only=True) as con:
        records, persons = con.execute(
            "SELECT count(*), count(DISTINCT person_id) FROM idz.person_map"
        ).fetchone() or (0, 0)
    assert (run["records"], run["persons"]) == (records, persons)
    dist = q["match_weight_distribution"]
    assert sum(b["pairs"] for b in dist["bins"]) == run["pairs_scored"]
    assert dist["threshold_match_weight"] == pytest.approx(4.248, abs=0.01)  # p = 0.95
    comparisons = {c["comparison"]: c for c in q["parameters"]["comparisons"]}
    assert {"forename", "surname", "dob", "postcode"} <= set(comparisons)
    exact = comparisons["forename"]["levels"][1]
    assert exact["bayes_factor"] == pytest.approx(
        exact["m_probability"] / exact["u_probability"], rel=1e-3
    )
    assert exact["match_weight"] > 0
    rows = {r["dataset"]: r for r in q["datasets"]["rows"]}
    assert set(rows) == set(PERSON_DATASETS)
    both = q["datasets"]["persons_in_both"]
    for ds, row in rows.items():
        assert both[ds][ds] == row["persons"]
        assert 0 <= row["records_linked_to_another_dataset"] <= row["records"]
        for other in rows:
            assert both[ds][other] == both[other][ds] <= min(row["persons"], rows[other]["persons"])
    assert set(q["estimated_by_model"]) >= {"precision", "recall_of_scored_pairs"}
    assert 0 < len(q["borderline"]) <= 50
    pair = q["borderline"][0]
    for side in ("left", "right"):
        assert set(pair[side]) >= {"dataset", "forename", "surname", "date_of_birth", "postcode"}
    assert reports.json("quality_json", truth=False)["measured"] is None


@pytest.mark.slow
def test_measured_quality_is_measured_qualitys(reports: Reports) -> None:
    m = reports.json("quality_json")["measured"]
    expected = measured_quality(reports.store, reports.truth)
    assert m["pairwise"] == expected
    for key in ("precision", "recall", "f1", "false_matches", "missed_matches"):
        assert reports.with_truth["headline"][key] == expected[key]
    c = m["clusters"]
    assert c["true_persons"] == expected["persons_true"]
    assert c["clusters_found"] == expected["persons_found"]
    assert 0 < c["true_persons_exactly_one_cluster"] <= c["true_persons"]
    # No false pair means no mixed cluster, and no missed pair means no split person.
    assert (c["clusters_mixing_persons"] == 0) == (expected["false_matches"] == 0)
    assert (c["persons_split"] == 0) == (expected["missed_matches"] == 0)
    pairs = reports.json("quality_json")["borderline"]
    assert all(isinstance(p["same_person_in_truth"], bool) for p in pairs)


@pytest.mark.slow
def test_quality_html_has_headings_captions_and_a_warning(reports: Reports) -> None:
    page = parse(reports.text("quality_html"))
    assert_accessible(page)
    assert page.headings[0] == "Linkage quality report"
    for heading in (
        "The run",
        "Match-weight distribution",
        "Parameters learnt",
        "Links per dataset",
        "Quality estimated by the model",
        "Quality measured against the truth",
        "Borderline pairs for clerical review",
    ):
        assert heading in page.headings
    assert "Pairwise quality against the truth" in page.captions
    assert "Borderline pairs with their identifiers" in page.captions
    text = " ".join(page.text)
    assert "Identifier zone only" in text and "must not leave the identifier zone" in text
    # The borderline pairs' identifiers are shown, side by side.
    pair = reports.json("quality_json")["borderline"][0]
    assert pair["left"]["surname"] in text and pair["right"]["surname"] in text
    (histogram,) = page.alts
    assert histogram.startswith("Distribution of match weights of the scored pairs. Bar chart")
    assert "the threshold, match weight" in histogram and "pairs in the fullest bin" in histogram


def _identifier_values(store: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"name": set(), "other": set()}
    with open_store(store, read_only=True) as con:
        for ds in datasets.PERSON_DATASETS:
            cols = set(ds.column_names)
            for col in ("forename", "surname"):
                out["name"] |= {
                    r[0]
                    for r in con.execute(f'SELECT DISTINCT {col} FROM idz."{ds.name}"').fetchall()
                    if r[0]
                }
            for col in ("postcode", "date_of_birth", *REFERENCE_COLUMNS):
                if col in cols:
                    out["other"] |= {
                        str(r[0])
                        for r in con.execute(
                            f'SELECT DISTINCT {col} FROM idz."{ds.name}"'
                        ).fetchall()
                        if r[0]
                    }
            out["other"] |= {
                str(r[0])
                for r in con.execute(f'SELECT DISTINCT record_id FROM idz."{ds.name}"').fetchall()
            }
    return out


@pytest.mark.slow
def test_bias_report_holds_no_identifier_and_no_record_id(reports: Reports) -> None:
    ids = _identifier_values(reports.store)
    assert len(ids["name"]) > 100 and len(ids["other"]) > 1000
    # Words a group label shares with a surname ("White") are not identifiers.
    labels = set(" ".join(datasets.ETHNICITY_5.values()).replace(",", " ").split())
    for truth in (True, False):
        for key in ("bias_json", "bias_html"):
            # The charts' PNG bytes are no text (what they draw is in their alt text).
            text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", reports.text(key, truth))
            if key == "bias_html":
                assert text.count("<img") == 5 and "base64" not in text
            words = set(re.findall(r"[A-Za-z][A-Za-z'-]*", text))
            # A forename reduced to its initial is no word of the report's.
            names = {n for n in ids["name"] if len(n) > 1}
            assert words & names <= labels, sorted(words & names - labels)
            compact = re.sub(r"\s+", "", text).upper()
            found = [v for v in ids["other"] if re.sub(r"\s+", "", v).upper() in compact]
            assert not found, found[:5]
            # No UUID-shaped string at all.
            assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text)


@pytest.mark.slow
def test_bias_json_has_its_sections(reports: Reports) -> None:
    b = reports.json("bias_json")
    assert set(b["groups"]) == {"sex", "age_band", "ethnicity", "deprivation_quintile", "dataset"}
    groups = {a: {r["group"]: r for r in rows} for a, rows in b["groups"].items()}
    assert set(groups["age_band"]) <= {"0-15", "16-24", "25-44", "45-64", "65+", "unknown"}
    assert {"male", "female"} <= set(groups["sex"])
    assert {"White", "missing", "not recorded"} <= set(groups["ethnicity"])
    assert {"1 (most deprived)", "5 (least deprived)"} <= set(groups["deprivation_quintile"])
    assert set(groups["dataset"]) == set(PERSON_DATASETS)
    for attr, rows in b["groups"].items():
        total = sum(r["records"] for r in rows if isinstance(r["records"], int))
        assert total <= b["overall"]["records"], attr
        for r in rows:
            if not r["suppressed"]:
                for key in ("link_rate", "false_match_rate", "missed_match_rate"):
                    assert r[key] is None or 0 <= r[key] <= 1, (attr, r)
    assert b["summary"] and any("points less often" in line for line in b["summary"])
    balance = b["balance"]
    assert {r["attribute"] for r in balance} == set(b["groups"])
    for r in balance:
        if not r["suppressed"]:
            assert r["flag"] == (abs(r["standardised_difference"]) > 0.1)
    assert any(r["flag"] for r in balance)
    no_truth = reports.json("bias_json", truth=False)
    assert "missed_match_rate" not in no_truth["overall"] and not no_truth["truth_groups"]


@pytest.mark.slow
def test_groups_under_ten_records_are_shown_as_under_ten(reports: Reports) -> None:
    b = reports.json("bias_json")
    rows = [r for rs in b["groups"].values() for r in rs]
    rows += [r for rs in b["ethnicity_by_dataset"].values() for r in rs]
    rows += [r for rs in b["truth_groups"].values() for r in rs]
    small = [r for r in rows if r["suppressed"]]
    assert small, "the world should have some group of fewer than 10 records"
    for r in rows:
        if r["suppressed"]:
            assert r["records"] == "<10"
            assert all(r[k] is None for k in r if k.endswith("_rate")), r
        else:
            assert isinstance(r["records"], int) and r["records"] >= 10
    for r in b["balance"]:
        assert r["suppressed"] == (r["records"] == "<10")
    page = parse(reports.text("bias_html"))
    assert "<10" in " ".join(page.text)


@pytest.mark.slow
def test_bias_html_has_headings_and_captions(reports: Reports) -> None:
    page = parse(reports.text("bias_html"))
    assert_accessible(page)
    assert page.headings[0] == "Linkage bias report"
    for heading in (
        "Summary",
        "Link rate by group",
        "Ethnicity as recorded, by dataset",
        "Groups known only from the truth",
        "Linked and unlinked records compared",
    ):
        assert heading in page.headings
    for caption in (
        "Link rate by sex",
        "Link rate by ethnicity as recorded",
        "Link rate by deprivation quintile of the recorded area",
        "Standardised differences between linked and unlinked records",
    ):
        assert caption in page.captions
    b = reports.json("bias_json")
    assert b["summary"][0] in " ".join(page.text)
    # One chart per grouping, its alternative text giving every group's rate.
    assert len(page.alts) == len(b["groups"])
    for alt, rows in zip(page.alts, b["groups"].values(), strict=True):
        assert alt.startswith("Link rate by ") and "Bar chart of link rates." in alt
        for r in rows:
            shown = "<10 records" if r["suppressed"] else f"{100 * r['link_rate']:.1f}%"
            assert f"{r['group']}: {shown}" in alt, (alt, r)


@pytest.mark.slow
def test_bias_report_shows_the_planted_non_uniform_errors(reports: Reports) -> None:
    """The world plants more identifier errors for non-British names and (missing
    postcodes) in the most deprived areas. The report must show it: in the truth
    groups' identifier error rates, and in the linkage outcomes where it reaches them."""
    b = reports.json("bias_json")
    true_q = {r["group"]: r for r in b["truth_groups"]["true_deprivation_quintile"]}
    most, least = true_q["1 (most deprived)"], true_q["5 (least deprived)"]
    assert most["identifier_error_rate"] > least["identifier_error_rate"] + 0.02
    origins = {r["group"]: r for r in b["truth_groups"]["name_origin"] if not r["suppressed"]}
    british = [r for g, r in origins.items() if g in ("british", "welsh")]
    others = [r for g, r in origins.items() if g not in ("british", "welsh", "unknown")]
    worst_british = max(r["identifier_error_rate"] for r in british)
    assert others and all(r["identifier_error_rate"] > worst_british for r in others)
    # Recorded in the content zone, the deprived records with no postcode have no area:
    # the 'unknown' area group misses more matches than the records with an area.
    recorded = {r["group"]: r for r in b["groups"]["deprivation_quintile"]}
    known = [r for g, r in recorded.items() if g != "unknown"]
    assert recorded["unknown"]["missed_match_rate"] > max(r["missed_match_rate"] for r in known)
    # Non-British names carry more errors and the summary says so.
    assert any("names carry identifier errors" in line for line in b["summary"])


def test_the_truth_may_be_given_as_the_world_folder(reports: Reports, tmp_path: Path) -> None:
    world = reports.truth.parent.parent
    for given in (world, world / "truth"):
        answer = link_report(reports.store, tmp_path / given.name, given)
        assert answer["headline"] == reports.with_truth["headline"]
