"""What a wheel carries: every file the package reads besides its Python modules
(templates, styles, rule files, course content, the migration template) is
declared as package data, and the studies travel as data files. A wheel built
without them installs a web app with no pages (found in session 3: it had none)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_non_python_file_of_the_package_is_package_data() -> None:
    package = ROOT / "src" / "fivesafes"
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["fivesafes"]
    files = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert files, "the package has data files (templates at least)"
    # setuptools matches "**/" against zero or more folders; fnmatch's "*" crosses "/"
    left_out = [f for f in files if not any(fnmatch(f, p.replace("**/", "*")) for p in patterns)]
    assert left_out == []
    assert any(f.startswith("web/templates/") for f in files)


def test_the_studies_are_shipped_where_the_study_command_looks() -> None:
    from fivesafes.analysis.studies import INSTALLED_STUDIES

    data_files = _pyproject()["tool"]["setuptools"]["data-files"]
    assert data_files == {INSTALLED_STUDIES.as_posix(): ["studies/*.py"]}
    assert sorted(p.name for p in (ROOT / "studies").glob("*.py"))
