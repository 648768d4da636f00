"""The airlock walked end to end through the ``fivesafes`` command, as a researcher,
two output checkers and a handful of attackers would.

One module-scoped journey builds the request step by step (ana writes it with her
co-author dan, bo and cy check it) and keeps a copy of the state folder after each
step; every attack starts from a copy of the step it needs, so attacks never see
each other. A refusal must exit 2 with one line naming the reason, leave every
table but the audit log as it was, and write an ``airlock.refused`` entry.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from fivesafes.audit.log import entry_hash

#: The doc's example table (docs/disclosure-control.md): North × M (4) is below 10.
TABLE = """region,sex,count
North,F,40
North,M,4
North,Total,44
South,F,25
South,M,31
South,Total,56
Total,F,65
Total,M,35
Total,Total,100
"""

#: Its safe version under acro: North × M and the three cells that would give it
#: away are withheld; the margins keep their true values.
SAFE = """region,sex,count,status
North,F,,suppress
North,M,,suppress
North,Total,44,pass
South,F,,suppress
South,M,,suppress
South,Total,56,pass
Total,F,65,pass
Total,M,35,pass
Total,Total,100,pass
"""

#: The same table once the small cell has been merged away (nothing to suppress).
REPLACEMENT = """region,sex,count
North,F,40
North,M,14
North,Total,54
South,F,25
South,M,31
South,Total,56
Total,F,65
Total,M,45
Total,Total,110
"""

OUT = "region_sex.csv"
USERS = (
    ("ana", "researcher"),  # the author
    ("bo", "output_checker"),
    ("cy", "output_checker"),
    ("dan", "output_checker"),  # ana's co-author: a checker, but never on this request
    ("eve", "researcher"),  # not an author
    ("fay", "administrator"),
)
STAGES = ("draft", "checked", "one_approval", "approved", "released")


@dataclass
class Journey:
    root: Path
    state: Path
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def bundle(self) -> Path:
        return self.root / "released" / "request-1"

    def stage(self, name: str, into: Path) -> Path:
        """A fresh copy of the state folder as it was after step ``name``."""
        state = into / "state"
        shutil.copytree(self.root / "snapshots" / name, state)
        return state


def db_path(state: Path) -> Path:
    return state / "fivesafes.db"


def db_rows(state: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log (read only)."""
    con = sqlite3.connect(f"file:{db_path(state)}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name != "audit_log"
        ]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def audit_entries(state: Path, after: int = 0) -> list[dict[str, Any]]:
    con = sqlite3.connect(f"file:{db_path(state)}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT seq, actor, action, subject, details FROM audit_log WHERE seq > ? ORDER BY seq",
            (after,),
        ).fetchall()
    finally:
        con.close()
    return [
        {"seq": s, "actor": a, "action": act, "subject": sub, "details": json.loads(d)}
        for s, a, act, sub, d in rows
    ]


def request_state(state: Path) -> str:
    con = sqlite3.connect(f"file:{db_path(state)}?mode=ro", uri=True)
    try:
        return con.execute("SELECT state FROM release_requests WHERE id = 1").fetchone()[0]
    finally:
        con.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory, fivesafes_at, one_json) -> Journey:
    """ana's request, from her users' registration to its release, snapshotted."""
    root = tmp_path_factory.mktemp("airlock-journey")
    j = Journey(root=root, state=root / "state")
    fs = fivesafes_at(j.state)
    (root / "table.csv").write_text(TABLE)

    def step(name: str, command: str, *more: str | Path) -> dict[str, Any]:
        j.docs[name] = one_json(fs(*command.split(), *more, "--json"))
        return j.docs[name]

    def snapshot(stage: str) -> None:
        shutil.copytree(j.state, root / "snapshots" / stage)

    for user, role in USERS:
        step(f"user {user}", f"users add {user} --role {role}")
    step(
        "create", "airlock create --as ana --project p001 --co-author dan", "--title", "Convictions"
    )
    step(
        "add",
        f"airlock add 1 --as ana --name {OUT} --value count",
        *("--file", root / "table.csv", "--description", "People by region and sex, persons"),
    )
    snapshot("draft")
    step("submit", "airlock submit 1 --as ana")
    snapshot("checked")
    step("review bo", f"airlock review 1 --as bo --output {OUT} --decision approve")
    snapshot("one_approval")
    step(
        "review cy",
        f"airlock review 1 --as cy --output {OUT} --decision approve",
        *("--comment", "North x M and the cells that would give it away are withheld"),
    )
    snapshot("approved")
    step("release", "airlock release 1 --as bo --out", root / "released")
    snapshot("released")
    return j


# --- the researcher's journey ------------------------------------------------------------


@pytest.mark.slow
def test_a_request_from_draft_to_a_verified_release(journey: Journey, fivesafes_at, one_json):
    docs = journey.docs
    assert [docs[f"user {u}"]["user"] for u, _ in USERS] == [
        {"name": u, "role": r} for u, r in USERS
    ]
    created = docs["create"]["request"]
    assert (created["id"], created["state"], created["author"]) == (1, "draft", "ana")
    assert created["co_authors"] == ["dan"]

    # The table was checked as it was added, and its safe version is what was stored.
    added = docs["add"]["request"]
    assert added["state"] == "draft"
    (out,) = added["outputs"]
    assert out["name"] == OUT
    assert out["verdict"] == "suppress"
    assert out["sha256"] == sha256(SAFE.encode())
    assert out["bytes"] == len(SAFE.encode())
    assert (out["version"], out["approvals"], out["required"]) == (1, [], 2)

    assert docs["submit"]["request"]["state"] == "checked"
    after_bo = docs["review bo"]["request"]
    assert after_bo["state"] == "in_review"
    assert after_bo["outputs"][0]["approvals"] == ["bo"]
    after_cy = docs["review cy"]["request"]
    assert after_cy["state"] == "approved"
    assert after_cy["outputs"][0]["approvals"] == ["bo", "cy"]

    released = docs["release"]
    bundle = Path(released["bundle"])
    assert bundle == journey.bundle
    assert released["paths"] == [str(bundle)]
    assert released["request"]["state"] == "released"

    # The bundle: the safe table byte for byte, its report, and the manifest.
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json", "outputs", "reports"]
    assert [p.name for p in (bundle / "outputs").iterdir()] == [OUT]
    assert (bundle / "outputs" / OUT).read_text() == SAFE
    assert [p.name for p in (bundle / "reports").iterdir()] == [f"{OUT}.json"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["request"]["authors"] == ["ana", "dan"]
    assert manifest["released_by"] == "bo"
    (listed,) = manifest["outputs"]
    assert listed["sha256"] == sha256(SAFE.encode())
    assert [a["checker"] for a in listed["approvals"]] == ["bo", "cy"]

    fs = fivesafes_at(journey.state)
    plain = fs("audit", "bundle", bundle)
    assert plain.returncode == 0, plain.stderr
    assert "every file matches the manifest" in " ".join(plain.stdout.split())
    verified = one_json(fs("audit", "verify", "--json"))
    assert verified["ok"] is True
    assert verified["first_bad_seq"] is None
    # the manifest carries the log's head at release, and the chain still holds it
    assert verified["head"]["seq"] > manifest["audit_head"]["seq"]
    shown = one_json(fs("airlock", "show", "1", "--as", "ana", "--json"))
    assert shown["request"]["state"] == "released"
    assert shown["request"]["allowed_actions"] == []

    # Every step is in the audit log, by whoever took it.
    steps = [
        (e["actor"], e["action"])
        for e in audit_entries(journey.state)
        if e["action"] not in ("airlock.view", "airlock.list", "airlock.read_output")
    ]
    for expected in [
        ("ana", "airlock.create"),
        ("ana", "airlock.add_output"),
        ("ana", "airlock.submit"),
        ("bo", "airlock.start_review"),
        ("bo", "airlock.review"),
        ("cy", "airlock.review"),
        ("cy", "airlock.approve"),
        ("bo", "airlock.release"),
    ]:
        assert expected in steps, expected
    assert not [s for s in steps if s[1] == "airlock.refused"]


# --- attacks: refused, logged, and nothing moved -----------------------------------------
#
# Each group of attacks starts from its own copies of the journey's snapshots and runs
# at once (module fixtures, `together`); each test then reads its own attempt.


@dataclass
class Attempt:
    """One attack: the state it ran on, what it held before, and the run."""

    state: Path
    out: Path
    before: dict[str, list[tuple[Any, ...]]]
    seq: int
    run: subprocess.CompletedProcess[str] | None = None


def _prepare(journey: Journey, stage: str, tmp: Path) -> Attempt:
    state = journey.stage(stage, tmp)
    (tmp / "replacement.csv").write_text(REPLACEMENT)
    return Attempt(state, tmp / "out", db_rows(state), audit_entries(state)[-1]["seq"])


def _run_all(together, runs: dict[str, tuple[Attempt, Any]]) -> dict[str, Attempt]:
    results = together([job for _, job in runs.values()])
    for (attempt, _), run in zip(runs.values(), results, strict=True):
        attempt.run = run
    return {name: attempt for name, (attempt, _) in runs.items()}


def _review(user: str) -> list[str]:
    return ["airlock", "review", "1", "--as", user, "--output", OUT, "--decision", "approve"]


def _release(user: str, out: str | Path = "{out}") -> list[str]:
    return ["airlock", "release", "1", "--as", user, "--out", str(out)]


def _replace(table: str | Path = "{table}") -> list[str]:
    return [
        "airlock",
        "add",
        "1",
        "--as",
        "ana",
        "--name",
        OUT,
        "--file",
        str(table),
        "--value",
        "count",
        "--description",
        "merged",
        "--replace",
    ]


@dataclass(frozen=True)
class Attack:
    id: str
    stage: str
    args: list[str]
    actor: str
    attempted: str
    says: list[str]


ATTACKS = [
    Attack(
        "the author reviews her own request",
        "checked",
        _review("ana"),
        "ana",
        "start_review",
        ["ana is an author of request 1", "can never review it"],
    ),
    Attack(
        "a co-author who is an output checker reviews",
        "one_approval",
        _review("dan"),
        "dan",
        "review",
        ["dan is an author of request 1", "can never review it"],
    ),
    Attack(
        "a researcher who is not an author reviews",
        "checked",
        _review("eve"),
        "eve",
        "view",
        ["eve may not see request 1"],
    ),
    Attack(
        "an administrator reviews",
        "checked",
        _review("fay"),
        "fay",
        "start_review",
        ["fay has the role administrator", "only an output checker may"],
    ),
    Attack(
        "the same checker approves twice",
        "one_approval",
        _review("bo"),
        "bo",
        "review",
        ["bo has already decided 'approve' on output", "counts once"],
    ),
    Attack(
        "release with one approval",
        "one_approval",
        _release("cy"),
        "cy",
        "release",
        ["request 1 is in_review", "'release' is allowed only when it is approved"],
    ),
    Attack(
        "release before submit",
        "draft",
        _release("bo"),
        "bo",
        "release",
        ["request 1 is draft", "it has not been submitted yet"],
    ),
    Attack(
        "the author replaces an output under review",
        "one_approval",
        _replace(),
        "ana",
        "update_output",
        ["request 1 is in_review", "'update_output' is allowed only when it is draft or returned"],
    ),
    Attack(
        "the author replaces an approved output",
        "approved",
        _replace(),
        "ana",
        "update_output",
        ["request 1 is approved", "nothing in it can change now"],
    ),
    Attack(
        "the author releases",
        "approved",
        _release("ana"),
        "ana",
        "release",
        ["ana may not release request 1"],
    ),
    Attack(
        "a co-author who is an output checker releases",
        "approved",
        _release("dan"),
        "dan",
        "release",
        ["dan may not release request 1"],
    ),
    Attack(
        "release a released request again",
        "released",
        _release("cy"),
        "cy",
        "release",
        ["request 1 is released", "start a new request"],
    ),
]


@pytest.fixture(scope="module")
def attacks(
    journey: Journey, tmp_path_factory: pytest.TempPathFactory, fivesafes_at, together
) -> dict[str, Attempt]:
    runs = {}
    for attack in ATTACKS:
        tmp = tmp_path_factory.mktemp("attack")
        attempt = _prepare(journey, attack.stage, tmp)
        subst = {"{out}": str(attempt.out), "{table}": str(tmp / "replacement.csv")}
        args = [subst.get(a, a) for a in attack.args]
        runs[attack.id] = (attempt, partial(fivesafes_at(attempt.state), *args))
    return _run_all(together, runs)


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_an_attack_is_refused_logged_and_changes_nothing(
    attacks: dict[str, Attempt], refused, attack: Attack
):
    attempt = attacks[attack.id]
    line = refused(attempt.run, *attack.says)

    state = attempt.state
    assert db_rows(state) == attempt.before  # the request, its outputs, reviews: untouched
    assert request_state(state) == {"one_approval": "in_review"}.get(attack.stage, attack.stage)
    assert not attempt.out.exists()  # no bundle, not even a partial one
    last = audit_entries(state, after=attempt.seq)[-1]
    assert (last["actor"], last["action"], last["subject"]) == (
        attack.actor,
        "airlock.refused",
        "request:1",
    )
    assert last["details"]["attempted"] == attack.attempted
    assert last["details"]["reason"] in line


@pytest.mark.slow
def test_replacing_an_output_after_return_resets_its_reviews(
    journey: Journey, tmp_path: Path, fivesafes_at, one_json
):
    state = journey.stage("one_approval", tmp_path)
    fs = fivesafes_at(state)
    table = tmp_path / "replacement.csv"
    table.write_text(REPLACEMENT)

    returned = one_json(
        fs(
            "airlock",
            "return",
            "1",
            "--as",
            "bo",
            "--json",
            "--comment",
            "North x M is 4: merge or drop it",
        )
    )
    assert returned["request"]["state"] == "returned"
    assert returned["request"]["outputs"][0]["approvals"] == ["bo"]  # unchanged: still counts

    replaced = one_json(fs(*_replace(table), "--json"))["request"]
    (out,) = replaced["outputs"]
    assert replaced["state"] == "returned"
    assert out["version"] == 2
    assert out["approvals"] == []  # bo's approval was of version 1
    assert out["verdict"] == "pass"  # the new table was checked again
    assert out["sha256"] != sha256(SAFE.encode())
    reset = [e for e in audit_entries(state) if e["action"] == "airlock.update_output"]
    assert reset[-1]["details"]["reviews_reset"] == 1

    resubmitted = one_json(fs("airlock", "submit", "1", "--as", "ana", "--json"))["request"]
    assert resubmitted["state"] == "checked"
    assert resubmitted["outputs"][0]["approvals"] == []
    # bo approves the new version (not a second approval of the same one), yet his
    # approval alone does not approve it: his old one no longer counts
    one = one_json(fs(*_review("bo"), "--json"))["request"]
    assert one["state"] == "in_review"
    assert one["outputs"][0]["approvals"] == ["bo"]


@pytest.mark.slow
def test_a_figure_without_a_table_check_does_not_strand_the_request(
    journey: Journey, tmp_path: Path, fivesafes_at, one_json
):
    state = journey.stage("draft", tmp_path)
    fs = fivesafes_at(state)
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n not really a figure")
    one_json(
        fs(
            "airlock",
            "add",
            "1",
            "--as",
            "ana",
            "--name",
            "figure.png",
            "--file",
            figure,
            "--description",
            "Bar chart of the table",
            "--json",
        )
    )
    submitted = fs("airlock", "submit", "1", "--as", "ana", "--json")
    after = request_state(state)
    # either the figure is left for the checkers, or the refusal leaves the request a draft
    if submitted.returncode == 0:
        request = one_json(submitted)["request"]
        assert request["state"] == "checked"
        assert {o["name"]: o["verdict"] for o in request["outputs"]}["figure.png"] == "review"
    else:
        assert after == "draft", f"submit exited {submitted.returncode}, request is {after}"


# --- tampering with the stored output, the audit log and the bundle ----------------------


def _tamper_bytes(con: sqlite3.Connection) -> None:
    (data,) = con.execute("SELECT content FROM request_outputs").fetchone()
    con.execute(
        "UPDATE request_outputs SET content = ?", (data.replace(b"North,M,,", b"North,M,4,"),)
    )


def _tamper_bytes_and_sha(con: sqlite3.Connection) -> None:
    (data,) = con.execute("SELECT content FROM request_outputs").fetchone()
    forged = data.replace(b"North,M,,", b"North,M,4,")
    con.execute("UPDATE request_outputs SET content = ?, sha256 = ?", (forged, sha256(forged)))


def _tamper_bytes_as_text(con: sqlite3.Connection) -> None:
    # what `sqlite3 fivesafes.db "UPDATE request_outputs SET content = replace(...)"` does:
    # SQLite's replace() returns TEXT, so the column now holds a string, not a blob
    con.execute(
        "UPDATE request_outputs SET content = replace(content, "
        "CAST('North,M,,' AS BLOB), CAST('North,M,4,' AS BLOB))"
    )


TAMPERS = {
    "stored bytes": (_tamper_bytes, "no longer matches the SHA-256"),
    "stored bytes and their SHA-256": (_tamper_bytes_and_sha, "its reviews do not bear that out"),
    "stored bytes rewritten as text": (_tamper_bytes_as_text, "no longer matches the SHA-256"),
}


@pytest.fixture(scope="module")
def tampered(
    journey: Journey, tmp_path_factory: pytest.TempPathFactory, fivesafes_at, together
) -> dict[str, Attempt]:
    runs = {}
    for name, (tamper, _) in TAMPERS.items():
        attempt = _prepare(journey, "approved", tmp_path_factory.mktemp("tamper"))
        con = sqlite3.connect(db_path(attempt.state))
        tamper(con)
        con.commit()
        con.close()
        runs[name] = (attempt, partial(fivesafes_at(attempt.state), *_release("bo", attempt.out)))
    return _run_all(together, runs)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, id=n) for n in TAMPERS],
)
def test_an_output_changed_in_the_database_after_approval_is_not_released(
    tampered: dict[str, Attempt], refused, name: str
):
    attempt = tampered[name]
    refused(attempt.run, TAMPERS[name][1], "request 1")
    assert not attempt.out.exists()
    assert request_state(attempt.state) == "approved"
    last = audit_entries(attempt.state, after=attempt.seq)[-1]
    assert (last["actor"], last["action"]) == ("bo", "airlock.refused")
    assert last["details"]["attempted"] == "release"


def _edit_entry(con: sqlite3.Connection, seq: int) -> None:
    con.execute("DROP TRIGGER audit_log_no_update")
    con.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?", (seq,))


def _delete_entry(con: sqlite3.Connection, seq: int) -> None:
    con.execute("DROP TRIGGER audit_log_no_delete")
    con.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))


def _rewrite_chain(con: sqlite3.Connection, seq: int) -> None:
    """Edit an entry and recompute every hash from it on: the chain holds again."""
    con.execute("DROP TRIGGER audit_log_no_update")
    con.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?", (seq,))
    (prev,) = con.execute("SELECT prev_hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    rows = con.execute(
        "SELECT seq, at, actor, action, subject, details FROM audit_log WHERE seq >= ? "
        "ORDER BY seq",
        (seq,),
    ).fetchall()
    for row in rows:
        new = entry_hash(*row, prev)
        con.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, new, row[0])
        )
        prev = new


LOG_EDITS = {
    "edited": (_edit_entry, "entry {seq} was changed after it was written"),
    "deleted": (_delete_entry, "entry {seq} is missing"),
    "chain rewritten": (_rewrite_chain, "tampered with"),
}


def _hidden_entry(state: Path) -> int:
    """cy's approval: the entry an attacker would rewrite."""
    (seq,) = [
        e["seq"]
        for e in audit_entries(state)
        if (e["actor"], e["action"]) == ("cy", "airlock.review")
    ]
    return seq


@pytest.fixture(scope="module")
def log_edits(
    journey: Journey, tmp_path_factory: pytest.TempPathFactory, fivesafes_at, together
) -> dict[str, Attempt]:
    runs = {}
    for name, (edit, _) in LOG_EDITS.items():
        attempt = _prepare(journey, "released", tmp_path_factory.mktemp("log"))
        target = _hidden_entry(attempt.state)
        con = sqlite3.connect(db_path(attempt.state))
        # the database's own guard refuses first; an attacker with the file drops it
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?", (target,))
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute("DELETE FROM audit_log WHERE seq = ?", (target,))
        # the head as it was, kept elsewhere (a release manifest records it too)
        seq, digest = con.execute(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        edit(con, target)
        con.commit()
        con.close()
        runs[name] = (
            attempt,
            partial(fivesafes_at(attempt.state), "audit", "verify", "--anchor", f"{seq}:{digest}"),
        )
    return _run_all(together, runs)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, id=n) for n in LOG_EDITS],
)
def test_an_audit_entry_changed_with_sqlite_is_found(
    journey: Journey, log_edits: dict[str, Attempt], refused, name: str
):
    target = _hidden_entry(journey.state)
    refused(
        log_edits[name].run,
        "the audit log has been tampered with at entry",
        LOG_EDITS[name][1].format(seq=target),
    )
    if "rewritten" not in name:
        refused(log_edits[name].run, f"at entry {target}:")


def _edit_output(bundle: Path) -> None:
    path = bundle / "outputs" / OUT
    path.write_text(path.read_text().replace("North,M,,", "North,M,4,"))


def _edit_output_and_file_list(bundle: Path) -> None:
    _edit_output(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    for item in manifest["files"]:
        if item["path"] == f"outputs/{OUT}":
            item["sha256"] = sha256((bundle / "outputs" / OUT).read_bytes())
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _add_file(bundle: Path) -> None:
    (bundle / "outputs" / "extra.csv").write_text("region,count\nNorth,4\n")


BUNDLE_EDITS = {
    "output": (_edit_output, f"outputs/{OUT} does not match its SHA-256 in the manifest"),
    "output and the manifest's file list": (
        _edit_output_and_file_list,
        f"output {OUT}: the manifest's file list does not match the SHA-256 the checkers",
    ),
    "a file added": (_add_file, "outputs/extra.csv is in the bundle but not in the manifest"),
}


@pytest.fixture(scope="module")
def bundle_edits(
    journey: Journey, tmp_path_factory: pytest.TempPathFactory, fivesafes_at, together
) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    bundles, jobs = {}, []
    for name, (edit, _) in BUNDLE_EDITS.items():
        tmp = tmp_path_factory.mktemp("bundle")
        bundle = tmp / "request-1"
        shutil.copytree(journey.bundle, bundle)
        edit(bundle)
        bundles[name] = bundle
        jobs.append(partial(fivesafes_at(tmp / "state"), "audit", "bundle", bundle))
    return {
        name: (bundle, run)
        for (name, bundle), run in zip(bundles.items(), together(jobs), strict=True)
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BUNDLE_EDITS))
def test_a_released_bundle_edited_afterwards_fails_its_audit(
    bundle_edits: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], refused, name: str
):
    bundle, run = bundle_edits[name]
    refused(run, f"{bundle} does not match its manifest", BUNDLE_EDITS[name][1])


@pytest.mark.slow
def test_the_released_bundle_does_not_give_away_a_suppressed_cell(journey: Journey):
    safe = {
        tuple(line.split(",")[:2]): line.split(",")[2]
        for line in (journey.bundle / "outputs" / OUT).read_text().splitlines()[1:]
    }
    assert safe[("North", "M")] == ""  # withheld in the released table
    report = json.loads((journey.bundle / "reports" / f"{OUT}.json").read_text())
    leaked = [
        (cell["labels"], cell["value"])
        for cell in report.get("cells", [])
        if cell.get("status") == "suppress" and cell.get("value") is not None
    ]
    assert leaked == []
