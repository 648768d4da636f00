"""Shared fixtures.

PostgreSQL: tests that need a server read ``$FIVESAFES_TEST_POSTGRES_URL``. When it
is not set and PostgreSQL's binaries are installed, each test process (each xdist
worker) starts its own throwaway cluster for the session
(:mod:`fivesafes.appdb.pgcluster`) and points the variable at it
(``FIVESAFES_TEST_POSTGRES=0`` to skip those tests instead).

Synthetic world (``synth_*``): one world of 20,000 people (seed 7), generated once per
test session (once per xdist worker, each in its own temporary directory), and the
same world read back and joined to its truth, so that tests can compare what the
providers sent with what is true. Never modify either: they are shared.

Property tests (hypothesis): ``HYPOTHESIS_PROFILE=ci`` (set by ``.ci/run``) draws the
same examples on every run, so that the gate is reproducible; run without it to
explore new ones, and add what they find as a plain test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

from fivesafes.datasets import BY_NAME, dataset_for_file
from fivesafes.synth import WorldConfig, make_world

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_POSTGRES_ENV = "FIVESAFES_TEST_POSTGRES_URL"
_postgres_stack = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    """Start a PostgreSQL cluster for this test process, if it can and none is given.

    Runs before collection, so the tests' ``skipif`` sees the URL. Under xdist the
    controller collects nothing: only the workers start one."""
    if os.environ.get(_POSTGRES_ENV) or os.environ.get("FIVESAFES_TEST_POSTGRES") == "0":
        return
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    from fivesafes.appdb.pgcluster import postgres_bin, temporary_cluster

    if postgres_bin() is None:
        return
    folder = Path(tempfile.mkdtemp(prefix="fivesafes-pg-"))
    folder.chmod(0o755)  # the cluster may run as postgres (under root)
    _postgres_stack.callback(shutil.rmtree, folder, ignore_errors=True)
    try:
        url = _postgres_stack.enter_context(temporary_cluster(folder / "cluster"))
    except Exception:  # no cluster: the PostgreSQL tests skip, saying why
        _postgres_stack.close()
        return
    os.environ[_POSTGRES_ENV] = url


def pytest_unconfigure(config: pytest.Config) -> None:
    _postgres_stack.close()


SYNTH_PEOPLE = 20_000
SYNTH_SEED = 7
#: Stands for a blank date (and "never" for a move or change of surname).
NO_DATE = np.iinfo(np.int64).max


def read_strings(path: Path) -> pd.DataFrame:
    """A CSV exactly as written: every field a string, blank fields as ''."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def days(values: pd.Series, fmt: str = "%Y-%m-%d") -> np.ndarray:
    """Dates written as text, as days since 1970-01-01 (NO_DATE where blank)."""
    parsed = pd.to_datetime(values.replace("", None), format=fmt)
    out = np.full(len(values), NO_DATE, dtype=np.int64)
    ok = parsed.notna().to_numpy()
    out[ok] = parsed[ok].to_numpy().astype("datetime64[D]").astype(np.int64)
    return out


def jan1(years: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of 1 January of each year."""
    y = np.asarray(years, dtype=np.int64) - 1970
    return y.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def record_day(dataset: str, rows: pd.DataFrame) -> np.ndarray:
    """The date each provider row was made, from its own content (it decides which
    surname and postcode were current)."""
    if dataset == "pupil_census":  # January census of the academic year
        return jan1(rows["academic_year"].astype(int).to_numpy() + 1) + 17
    if dataset == "justice_offences":
        return days(rows["offence_date"])
    if dataset == "cla_episodes":
        return days(rows["episode_start"])
    if dataset == "cin_census":  # 31 March (30 in leap years) ending the census year
        return jan1(rows["census_year"].astype(int).to_numpy() + 1) + 89
    if dataset == "hospital_admissions":
        return days(rows["admission_date"], "%d/%m/%Y")
    if dataset == "earnings_survey":  # mid-April of the survey year
        return jan1(rows["survey_year"].astype(int).to_numpy()) + 104
    if dataset == "census_2021":
        return np.full(len(rows), np.datetime64("2021-03-21").astype(np.int64))
    raise KeyError(dataset)


@dataclass
class SynthWorld:
    """One generated world, read back.

    ``provider[name]``: a dataset's rows from all its files, every field a string,
    with ``file`` and ``row`` (1-based data row) added. ``linked[name]``: the same
    rows joined to ``truth/records.csv`` (person_id, duplicate, error flags as ints)
    and to the person's truth (columns prefixed ``true_``), plus ``recorded_dob`` and
    ``record_day`` (days since 1970). ``people`` is ``truth/people.csv`` as strings
    plus ``pid`` (int), ``dob_days``, ``move_days``, ``change_days`` (NO_DATE if
    never), and ``q0``/``q1``: deprivation quintile (1 = most deprived) of the home
    area before and after the move.
    """

    root: Path
    config: WorldConfig
    people: pd.DataFrame
    records: pd.DataFrame
    areas: pd.DataFrame
    provider: dict[str, pd.DataFrame]
    linked: dict[str, pd.DataFrame]


def load_world(root: Path, config: WorldConfig) -> SynthWorld:
    records = pd.read_csv(
        root / "truth" / "records.csv", dtype={"dataset": str, "file": str}, keep_default_na=False
    )
    areas = read_strings(root / "reference" / "areas.csv")
    quintile = dict(
        zip(areas["area_code"], (areas["deprivation_decile"].astype(int) + 1) // 2, strict=True)
    )
    people = read_strings(root / "truth" / "people.csv")
    people["pid"] = people["person_id"].astype(np.int64)
    people["dob_days"] = days(people["date_of_birth"])
    people["move_days"] = days(people["move_date"])
    people["change_days"] = days(people["surname_change"])
    people["q0"] = people["area_code"].map(quintile)
    people["q1"] = people["area_code_after_move"].map(quintile)
    true = people.add_prefix("true_")

    parts: dict[str, list[pd.DataFrame]] = {}
    for path in sorted((root / "provider").glob("*.csv")):
        ds = dataset_for_file(path.name)
        assert ds is not None, f"{path.name} matches no dataset"
        df = read_strings(path)
        df.insert(0, "file", path.name)
        df.insert(1, "row", np.arange(1, len(df) + 1))
        parts.setdefault(ds.name, []).append(df)
    provider = {name: pd.concat(dfs, ignore_index=True) for name, dfs in parts.items()}

    linked = {}
    for name, df in provider.items():
        fmt = BY_NAME[name].column("date_of_birth").date_format
        d = df.merge(
            records.drop(columns="dataset"), on=["file", "row"], how="left", validate="1:1"
        )
        d = d.merge(true, left_on="person_id", right_on="true_pid", how="left", validate="m:1")
        d["recorded_dob"] = days(d["date_of_birth"], fmt)
        d["record_day"] = record_day(name, d)
        linked[name] = d
    return SynthWorld(root, config, people, records, areas, provider, linked)


@pytest.fixture(scope="session")
def synth_config() -> WorldConfig:
    return WorldConfig(people=SYNTH_PEOPLE, seed=SYNTH_SEED)


@pytest.fixture(scope="session")
def synth_world_dir(tmp_path_factory: pytest.TempPathFactory, synth_config: WorldConfig) -> Path:
    """The folder of one synthetic world of 20,000 people (seed 7). Read only."""
    out = tmp_path_factory.mktemp("synth-world")
    make_world(synth_config, out)
    return out


@pytest.fixture(scope="session")
def synth_world(synth_world_dir: Path, synth_config: WorldConfig) -> SynthWorld:
    """The same world read back and joined to its truth. Read only."""
    return load_world(synth_world_dir, synth_config)


# --- trained models as outputs (the airlock's model check) ---------------------------------

#: A policy file for model checks small enough for the suite: 4 shadow models for
#: LiRA and 2 repetitions of the worst-case attack (the TRE's defaults are 100 and 10).
FAST_MODEL_POLICY = """
[policy]
base = "acro"
name = "test-models"
version = "1"
lira_shadow_models = 4
worst_case_reps = 2
"""


@dataclass(frozen=True)
class ModelOutput:
    """A skops model file with the CSVs it was fitted and tested on."""

    model: Path
    train: Path
    test: Path
    target: str = "outcome"


def _noisy_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = ((x[:, 0] + rng.normal(scale=1.5, size=n)) > 0).astype(int)
    frame = pd.DataFrame(x, columns=["age_z", "score_z", "visits_z", "bmi_z"])
    frame["outcome"] = y
    return frame


def write_model_output(folder: Path, kind: str) -> ModelOutput:
    """``forest``: an unpruned random forest with one-record leaves on 300 noisy rows
    (it memorises them: unsafe); ``logistic``: a regularised logistic regression on
    1,000 rows (250 per parameter: safe)."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    n = 300 if kind == "forest" else 1000
    train, test = _noisy_frame(n, 11), _noisy_frame(n, 12)
    x, y = train.drop(columns="outcome").to_numpy(), train["outcome"].to_numpy()
    if kind == "forest":
        model: object = RandomForestClassifier(
            n_estimators=10, min_samples_leaf=1, bootstrap=False, random_state=0
        ).fit(x, y)
    else:
        model = LogisticRegression(C=0.1).fit(x, y)
    folder.mkdir(parents=True, exist_ok=True)
    out = ModelOutput(folder / f"{kind}.skops", folder / "train.csv", folder / "test.csv")
    sio.dump(model, out.model)
    train.to_csv(out.train, index=False)
    test.to_csv(out.test, index=False)
    return out


@pytest.fixture
def fast_model_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The TRE's policy set to :data:`FAST_MODEL_POLICY` for this test."""
    path = tmp_path / "model-policy.toml"
    path.write_text(FAST_MODEL_POLICY, encoding="utf-8")
    monkeypatch.setenv("FIVESAFES_POLICY", str(path))
    return path


@pytest.fixture
def model_files(tmp_path: Path) -> Callable[[str], ModelOutput]:
    """``model_files("forest")`` / ``model_files("logistic")``: see :func:`write_model_output`."""
    return lambda kind: write_model_output(tmp_path / f"model-{kind}", kind)


#: :data:`FAST_MODEL_POLICY` with SACRO-ML's attribute-inference attack turned on.
ATTRIBUTE_MODEL_POLICY = FAST_MODEL_POLICY.replace(
    'name = "test-models"', 'name = "test-attribute"'
).replace("worst_case_reps = 2", "worst_case_reps = 1\nattribute_inference = true")


@pytest.fixture
def attribute_model_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The TRE's policy set to :data:`ATTRIBUTE_MODEL_POLICY` for this test."""
    path = tmp_path / "attribute-policy.toml"
    path.write_text(ATTRIBUTE_MODEL_POLICY, encoding="utf-8")
    monkeypatch.setenv("FIVESAFES_POLICY", str(path))
    return path


def write_coded_model_output(folder: Path) -> ModelOutput:
    """A regularised logistic regression on 80 rows whose feature ``region`` is a code
    for one of 12 regions (whole numbers, too many values to be taken as categorical
    unless named) beside two measurements, ``m1`` and ``m2``; 80 held-out rows."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    def frame(seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        region = np.arange(80) % 12 + 1
        m = rng.normal(size=(80, 2))
        y = ((region > 6) + m[:, 0] + rng.normal(scale=2.0, size=80) > 0.5).astype(int)
        return pd.DataFrame({"region": region, "m1": m[:, 0], "m2": m[:, 1], "outcome": y})

    train, test = frame(21), frame(22)
    x, y = train.drop(columns="outcome").to_numpy(), train["outcome"].to_numpy()
    model = LogisticRegression(C=0.1).fit(x, y)
    folder.mkdir(parents=True, exist_ok=True)
    out = ModelOutput(folder / "coded.skops", folder / "train.csv", folder / "test.csv")
    sio.dump(model, out.model)
    train.to_csv(out.train, index=False)
    test.to_csv(out.test, index=False)
    return out


@pytest.fixture
def coded_model_files(tmp_path: Path) -> ModelOutput:
    """See :func:`write_coded_model_output`."""
    return write_coded_model_output(tmp_path / "model-coded")
