"""The linkage's reference name lists (data/link/reference): public sources, not
the synthetic world's; two forenames are alternatives only where one is listed as
a form of the other (Megan and Margaret both list Meg and stay apart, where the
old lists merged two people each with hundreds of records); accents folded."""

from __future__ import annotations

import ast
from pathlib import Path

import duckdb
import pytest

from fivesafes.data.link import run as link_run
from fivesafes.data.link.reference import fold_name, forename_forms, provenance

LINK = Path(__file__).resolve().parents[2] / "src" / "fivesafes" / "data" / "link"


def test_forms_are_direct_never_through_a_third_name() -> None:
    forms = forename_forms()
    assert "david" in forms["dave"] and "dave" in forms["david"]  # the nicknames package
    assert "meg" in forms["megan"] and "meg" in forms["margaret"]
    assert "margaret" not in forms["megan"] and "megan" not in forms["margaret"]
    assert "jack" in forms["john"] and "john" in forms["jack"]
    for name, group in forms.items():  # symmetric: b is a form of a iff a is of b
        assert name in group
        for other in group:
            assert name in forms[other], (name, other)


def test_welsh_forms_and_transliterations() -> None:
    forms = forename_forms()
    assert "john" in forms[fold_name("Siôn")] and "david" in forms["dafydd"]
    assert "jane" in forms[fold_name("Siân")]
    assert "mohammed" in forms["muhammad"] and "muhammad" in forms["mohamed"]


@pytest.mark.parametrize(
    ("given", "folded"),
    [("Siôn", "sion"), ("  ZOË ", "zoe"), ("O'Brien", "obrien"), ("José-María", "josemaria")],
)
def test_names_are_folded_in_python_and_in_sql_alike(given: str, folded: str) -> None:
    assert fold_name(given) == folded
    sql = link_run._clean_name_sql("?")
    assert duckdb.execute(f"SELECT {sql}", [given]).fetchone() == (folded,)


def test_a_double_barrelled_surname_has_each_part() -> None:
    sql = link_run._name_parts_sql("?")
    assert duckdb.execute(f"SELECT {sql}", ["Smith-Jones"]).fetchone() == (["smith", "jones"],)
    assert duckdb.execute(f"SELECT {sql}", ["Lloyd George"]).fetchone() == (["lloyd", "george"],)
    assert duckdb.execute(f"SELECT {sql}", ["Evans"]).fetchone() == (["evans"],)


def test_the_linkage_reads_no_list_of_the_synthetic_world() -> None:
    for path in LINK.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("fivesafes.synth"), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("fivesafes.synth") for a in node.names), path
    assert "nicknames" in provenance()["english_nicknames"]
