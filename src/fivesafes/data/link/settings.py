"""The Splink model for linking UK administrative identifiers: comparisons,
blocking rules and the deterministic rules behind the prior.

Every comparison reads the standardised columns that :mod:`fivesafes.data.link.run`
derives from the identifier zone:

- ``forename``, ``surname``: accents folded, lower case, letters only;
  ``forename_names``: the forename's direct forms in the reference lists
  (:mod:`fivesafes.data.link.reference`: nicknames, Welsh and English forms,
  transliterations), so that *Dave* is a form of *David* — and *Megan* is not a
  form of *Margaret* merely because both list *Meg*; ``surname_names``: the
  surname and, for a double-barrelled or hyphenated one, each of its parts;
- ``dob`` (DATE) and ``dob_year``; ``dob_filler``: whether the date is one a
  provider writes when it does not know the date (:func:`filler_dob_sql`);
- ``sex``;
- ``postcode`` (upper case, one space), ``postcode_sector`` (``AB1 2``) and
  ``postcode_district`` (``AB1``);
- the reference numbers :data:`REFERENCE_COLUMNS`, null where a dataset has none.

- ``forename_metaphone``, ``surname_metaphone``: each name's Metaphone code
  (computed with jellyfish before Splink runs, since Splink 5 has no phonetic
  function on DuckDB), so that *Mohammed* and *Muhammad* sound alike.
"""

from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

from fivesafes.data.link.reference import fold_name, forename_forms

#: The reference numbers, each compared only where both records have one.
REFERENCE_COLUMNS: tuple[str, ...] = ("upn", "nhs_number", "nino", "pnc_id", "child_id")


def clean_name(name: str) -> str:
    """A name as compared: accents folded, lower case, letters only."""
    return fold_name(name)


def forename_groups() -> dict[str, list[str]]:
    """Each listed forename with its direct forms (itself included)."""
    return {name: list(forms) for name, forms in forename_forms().items()}


#: Dates of birth that providers write when they do not know the real one:
#: 1900-01-01 and 1 January of any year (month and day unknown). A dataset's own
#: default, if its spec names one (:attr:`fivesafes.datasets.Dataset.dob_filler`),
#: is added to these.
FILLER_DATE = "1900-01-01"


def filler_dob_sql(col: str, default: str | None = None) -> str:
    """SQL: whether the date ``col`` is a filler (null if the date is)."""
    extra = f" OR {col} = DATE '{default}'" if default else ""
    return f"(({col} = DATE '{FILLER_DATE}') OR (month({col}) = 1 AND day({col}) = 1){extra})"


def _name_comparison(col: str, label: str, phonetic: bool = False) -> ComparisonCreator:
    """Exact (with term frequencies); the forename and surname swapped between the
    fields; a known alternative (a forename a direct form of the other in the
    reference lists; a surname sharing a part of a double-barrelled one);
    Jaro-Winkler >= 0.92; sounds alike (the same Metaphone code in
    ``{col}_metaphone``, if ``phonetic``); one is the other's initial; Jaro-Winkler
    >= 0.80; anything else."""
    other = "surname" if col == "forename" else "forename"
    sounds_alike = (
        [
            cll.ExactMatchLevel(f"{col}_metaphone").configure(
                label_for_charts=f"{label} sounds alike (Metaphone)"
            )
        ]
        if phonetic
        else []
    )
    known = (
        cll.CustomLevel(
            f"array_contains({col}_names_l, {col}_r)", f"{label} is a known form of the other"
        )
        if col == "forename"
        else cll.ArrayIntersectLevel(f"{col}_names", 1).configure(
            label_for_charts=f"{label} shares a part (double-barrelled)"
        )
    )
    initial = cll.CustomLevel(
        f"(length({col}_l) = 1 AND substr({col}_r, 1, 1) = {col}_l) OR "
        f"(length({col}_r) = 1 AND substr({col}_l, 1, 1) = {col}_r)",
        f"{label}: one is the other's initial",
    )
    return cl.CustomComparison(
        output_column_name=col,
        comparison_description=f"{label}: exact, swapped, known alternative, Jaro-Winkler"
        + (", sounds alike" if phonetic else "")
        + ", initial",
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
            cll.ColumnsReversedLevel(col, other).configure(
                label_for_charts="forename and surname swapped"
            ),
            known,
            cll.JaroWinklerLevel(col, 0.92),
            *sounds_alike,
            initial,
            cll.JaroWinklerLevel(col, 0.80),
            cll.ElseLevel(),
        ],
    )


def _dob_comparison() -> ComparisonCreator:
    """Null; one side a filler date (``dob_filler``: weak evidence, whatever the
    other side is, with its own m and u); exact (with term frequencies); day and
    month swapped; one part off by one; two of the three parts agree; else."""
    y, m, d = "year(dob_{s})", "month(dob_{s})", "day(dob_{s})"

    def part(p: str, s: str) -> str:
        return p.format(s=s)

    same = {p: f"{part(p, 'l')} = {part(p, 'r')}" for p in (y, m, d)}
    off = {p: f"abs({part(p, 'l')} - {part(p, 'r')}) = 1" for p in (y, m, d)}
    one_off = " OR ".join(
        f"({same[a]} AND {same[b]} AND {off[c]})" for a, b, c in ((y, m, d), (y, d, m), (m, d, y))
    )
    swapped = f"{same[y]} AND {part(m, 'l')} = {part(d, 'r')} AND {part(d, 'l')} = {part(m, 'r')}"
    # CAST rather than DuckDB's ``::INT``: the same SQL runs on Spark.
    agree = " + ".join(f"CAST(({same[p]}) AS INT)" for p in (y, m, d))
    two_of_three = f"({agree}) >= 2"
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_description="Date of birth: a filler, exact, day and month swapped, "
        "one part off",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.CustomLevel(
                "dob_filler_l OR dob_filler_r",
                "one side is a filler date (1 January, 1900-01-01, the dataset's default)",
            ),
            cll.ExactMatchLevel("dob").configure(tf_adjustment_column="dob"),
            cll.CustomLevel(swapped, "day and month swapped"),
            cll.CustomLevel(one_off, "day, month or year off by one"),
            cll.CustomLevel(two_of_three, "two of day, month and year agree"),
            cll.ElseLevel(),
        ],
    )


def _postcode_comparison() -> ComparisonCreator:
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_description="Postcode: full, sector, district",
        comparison_levels=[
            cll.NullLevel("postcode"),
            cll.ExactMatchLevel("postcode").configure(tf_adjustment_column="postcode"),
            cll.ExactMatchLevel("postcode_sector").configure(
                tf_adjustment_column="postcode_sector"
            ),
            cll.ExactMatchLevel("postcode_district").configure(
                tf_adjustment_column="postcode_district"
            ),
            cll.ElseLevel(),
        ],
    )


def _reference_comparison(col: str) -> ComparisonCreator:
    # Starting values, refined by the data: random pairs almost never share a
    # reference number (random sampling rarely sees one, so u needs a prior), and
    # one mistyped or transposed character still counts for a lot. A dataset that
    # few records come from (a local authority's child ids) may give EM too little
    # to estimate m from, and then these stand.
    return cl.CustomComparison(
        output_column_name=col,
        comparison_description=f"{col}: exact, two adjacent characters transposed, "
        "one character different",
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(m_probability=0.95, u_probability=1e-6),
            # Damerau-Levenshtein 1 where Levenshtein is 2: the one edit is a
            # transposition of adjacent characters (a keying slip: 4857 for 4587).
            cll.CustomLevel(
                f"damerau_levenshtein({col}_l, {col}_r) = 1 AND levenshtein({col}_l, {col}_r) = 2",
                f"{col}: two adjacent characters transposed",
            ).configure(m_probability=0.01, u_probability=1e-7),
            cll.DamerauLevenshteinLevel(col, 1).configure(m_probability=0.005, u_probability=1e-5),
            cll.ElseLevel().configure(m_probability=0.035, u_probability=1 - 1.11e-5),
        ],
    )


def comparisons() -> list[ComparisonCreator]:
    """The comparisons, in the order they appear in the model."""
    return [
        _name_comparison("forename", "Forename", phonetic=True),
        # A changed surname (after marriage, say) leaves the old one on later
        # records; it falls in the last level, whose m probability EM estimates, so
        # a mismatched surname costs less than it would on a model that ignored it.
        _name_comparison("surname", "Surname", phonetic=True),
        _dob_comparison(),
        cl.ExactMatch("sex"),
        _postcode_comparison(),
        *(_reference_comparison(c) for c in REFERENCE_COLUMNS),
    ]


def prediction_blocking_rules() -> list[BlockingRuleCreator]:
    """Rules that generate the pairs to score: together they should miss almost no
    true match, and no rule may put many non-matching records in one block, since
    pairs grow with the square of the block: a date of birth alone is shared by
    about 330 records at 1,000,000 people (1.2 billion pairs), a date of birth and
    a forename by a handful. Each error leaves some rule intact:

    - a mistyped, nicknamed or changed forename: date of birth and surname;
    - a mistyped or changed surname: date of birth and forename;
    - both names different: date of birth and initials (a typo rarely hits the
      first letter), date of birth and postcode district, a reference number;
    - day and month swapped, or one part of the date off: both names with the
      year, or with the day and month; first initial or surname with the postcode
      and the year of birth;
    - a filler date of birth (1 January of the year): both names with the year;
      (1900-01-01, or a dataset's default): both names with the postcode district;
    - forename and surname swapped between the fields: each with the other and
      the year of birth;
    - a forename reduced to its initial: date of birth and initials;
    - one part of a double-barrelled surname: date of birth and forename;
    - a missing or outdated postcode: every rule on names and dates;
    - a missing reference number: every other rule.

    At 10,000 and 100,000 people these rules together find every true pair
    (docs/benchmarks.md, "Linkage at scale").
    """
    fi, si = "substr(forename, 1, 1)", "substr(surname, 1, 1)"
    m, d = "month(dob)", "day(dob)"
    return [
        block_on("dob", "forename"),
        block_on("dob", "surname"),
        block_on("dob", fi, si),
        block_on("dob", "postcode_district"),
        block_on("forename", "surname", "dob_year"),
        block_on("forename", "surname", m, d),
        block_on("forename", "surname", "postcode_district"),
        CustomRule("l.forename = r.surname AND l.surname = r.forename AND l.dob_year = r.dob_year"),
        block_on(fi, "postcode", "dob_year"),
        block_on("surname", "postcode", "dob_year"),
        *(block_on(c) for c in REFERENCE_COLUMNS),
    ]


def training_blocking_rules() -> list[BlockingRuleCreator]:
    """Rules for expectation maximisation: each leaves some comparisons free to be
    estimated, and each makes few pairs on a large population (no rule on the date
    of birth or the names alone). The first estimates the names (and sex and
    reference numbers), the second the date of birth, the third the postcode."""
    return [
        block_on("dob", "postcode_district"),
        block_on("forename", "surname", "postcode_district"),
        block_on("forename", "surname", "dob"),
    ]


def deterministic_rules() -> list[BlockingRuleCreator]:
    """Near-certain matches, from which the prior probability is estimated."""
    return [block_on("forename", "surname", "dob", "sex")]


#: The share of true matches the deterministic rules are thought to find: names
#: are mistyped, nicknamed and changed, dates of birth mistyped, in a few per cent
#: of records each, and a changed surname is common.
DETERMINISTIC_RECALL = 0.7


def settings(extra: dict[str, Any] | None = None) -> SettingsCreator:
    """The model: dedupe one stacked table of every dataset's records."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=list(comparisons()),
        blocking_rules_to_generate_predictions=list(prediction_blocking_rules()),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        **(extra or {}),
    )
