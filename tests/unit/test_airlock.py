"""The airlock's rules: every state × action (allowed or refused), the attacker's
paths, and the audit trail of every step."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb import add_user, engine_for, migrate, session_factory, set_role
from fivesafes.appdb.users import get_user, set_roles
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.outputs import airlock
from fivesafes.outputs.airlock import State
from fivesafes.outputs.bundle import read_manifest, sha256_bytes, verify_bundle

REPORTS = {
    "table.csv": {"verdict": "pass", "cells": []},
    "figure.txt": {"verdict": "review", "cells": [{"row": 1, "reason": "class disclosure"}]},
}
USERS = {
    "ann": "researcher",  # the author
    "bob": "researcher",  # a co-author
    "rita": "researcher",  # a researcher not on the request
    "carol": "output_checker",
    "dave": "output_checker",
    "erin": "output_checker",
    "adam": "administrator",
    "owen": "data_owner",
}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("airlock-template") / "fivesafes.db"
    migrate(f"sqlite:///{path}")
    with session_factory(f"sqlite:///{path}")() as s:
        for name, role in USERS.items():
            add_user(s, name, role)
    return path


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    path = tmp_path / "fivesafes.db"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


def _fast(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=OFF")  # a test database need not survive a crash


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = engine_for(db_url)
    event.listen(engine, "connect", _fast)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "workspace"
    folder.mkdir()
    out = {
        "table.csv": folder / "table.csv",
        "figure.txt": folder / "figure.txt",
        "extra.csv": folder / "extra.csv",
        "table-v2.csv": folder / "table-v2.csv",
    }
    out["table.csv"].write_text("group,count\na,120\nb,340\n")
    out["figure.txt"].write_text("a bar chart of 120 and 340\n")
    out["extra.csv"].write_text("x,y\n1,2\n")
    out["table-v2.csv"].write_text("group,count\na,100\nb,300\n")
    return out


def new_request(
    s: Session,
    files: dict[str, Path],
    store_bytes: bool = True,
    policy: dict[str, object] | None = None,
) -> int:
    req = airlock.create_request(
        s, "ann", "p-001", "Attainment and convictions", co_authors=["bob"], policy=policy
    )
    for name in ("table.csv", "figure.txt"):
        airlock.add_output(
            s, req.id, "ann", name, files[name], f"{name}: counts by group", store_bytes=store_bytes
        )
    return req.id


def approve_all(s: Session, rid: int, checkers: tuple[str, ...] = ("carol", "dave")) -> None:
    for name in ("table.csv", "figure.txt"):
        for checker in checkers:
            airlock.review(s, rid, name, checker, "approve")


PATHS: dict[State, list[str]] = {
    State.DRAFT: [],
    State.SUBMITTED: ["submit"],
    State.CHECKED: ["submit", "check"],
    State.IN_REVIEW: ["submit", "check", "start_review"],
    State.APPROVED: ["submit", "check", "start_review", "approve"],
    State.REJECTED: ["submit", "check", "start_review", "reject"],
    State.RETURNED: ["submit", "check", "start_review", "return"],
    State.RELEASED: ["submit", "check", "start_review", "approve", "release"],
}


def actions(files: dict[str, Path], bundles: Path) -> dict[str, Callable[[Session, int], object]]:
    return {
        "submit": lambda s, rid: airlock.submit(s, rid, "ann"),
        "check": lambda s, rid: airlock.record_automatic_check(s, rid, REPORTS),
        "start_review": lambda s, rid: airlock.start_review(s, rid, "carol"),
        "return": lambda s, rid: airlock.return_to_researcher(s, rid, "carol", "round to 10"),
        "approve": lambda s, rid: approve_all(s, rid),
        "reject": lambda s, rid: airlock.reject(s, rid, "carol", "it identifies a school"),
        "release": lambda s, rid: airlock.release(s, rid, "carol", bundles),
        "add_output": lambda s, rid: airlock.add_output(
            s, rid, "ann", "extra.csv", files["extra.csv"], "another table"
        ),
        "update_output": lambda s, rid: airlock.update_output(
            s, rid, "ann", "table.csv", files["table-v2.csv"]
        ),
        "remove_output": lambda s, rid: airlock.remove_output(s, rid, "ann", "figure.txt"),
        "review": lambda s, rid: airlock.review(s, rid, "table.csv", "carol", "approve"),
    }


def drive(
    s: Session,
    files: dict[str, Path],
    bundles: Path,
    state: State,
    store_bytes: bool = True,
    policy: dict[str, object] | None = None,
) -> int:
    rid = new_request(s, files, store_bytes, policy)
    steps = actions(files, bundles)
    for step in PATHS[state]:
        steps[step](s, rid)
    assert state_of(s, rid) == state
    return rid


def state_of(s: Session, rid: int) -> str:
    return s.execute(
        text("SELECT state FROM release_requests WHERE id = :i"), {"i": rid}
    ).scalar_one()


# The whole state machine, written out by hand: (state, action) -> state after.
# Every pair not listed must be refused, leave the state as it was, and be logged.
ALLOWED: dict[tuple[State, str], State] = {
    (State.DRAFT, "submit"): State.SUBMITTED,
    (State.DRAFT, "add_output"): State.DRAFT,
    (State.DRAFT, "update_output"): State.DRAFT,
    (State.DRAFT, "remove_output"): State.DRAFT,
    (State.SUBMITTED, "check"): State.CHECKED,
    (State.CHECKED, "start_review"): State.IN_REVIEW,
    (State.IN_REVIEW, "return"): State.RETURNED,
    (State.IN_REVIEW, "approve"): State.APPROVED,
    (State.IN_REVIEW, "reject"): State.REJECTED,
    (State.IN_REVIEW, "review"): State.IN_REVIEW,
    (State.APPROVED, "release"): State.RELEASED,
    (State.APPROVED, "reopen"): State.IN_REVIEW,  # by release() itself, not a step of its own
    (State.RETURNED, "submit"): State.SUBMITTED,
    (State.RETURNED, "add_output"): State.RETURNED,
    (State.RETURNED, "update_output"): State.RETURNED,
    (State.RETURNED, "remove_output"): State.RETURNED,
}
ACTIONS = sorted(actions({}, Path()))


def test_the_transition_table_is_the_one_written_down() -> None:
    from_code = {(t.source, t.action): t.target for t in airlock.TRANSITIONS}
    for action, (states, _) in airlock.STEPS_IN_PLACE.items():
        from_code.update({(s, action): s for s in states})
    assert from_code == ALLOWED


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_state_and_action(
    session: Session, files: dict[str, Path], tmp_path: Path, state: State, action: str
) -> None:
    bundles = tmp_path / "bundles"
    rid = drive(session, files, bundles, state)
    step = actions(files, bundles)[action]
    if (state, action) in ALLOWED:
        step(session, rid)
        assert state_of(session, rid) == ALLOWED[(state, action)]
        assert audit.entries(session)[-1].action.startswith("airlock.")
        assert audit.entries(session)[-1].action != "airlock.refused"
    else:
        before = audit.count(session)
        with pytest.raises(PolicyRefusal, match=f"request {rid} is {state}"):
            step(session, rid)
        assert state_of(session, rid) == state
        last = audit.entries(session)[-1]
        assert audit.count(session) == before + 1
        assert last.action == "airlock.refused"
        assert audit.details_of(last)["attempted"] in (action, "review")
    assert audit.verify(session).ok


def test_allowed_actions_name_the_next_steps() -> None:
    assert airlock.allowed_actions("draft") == [
        "add_output",
        "remove_output",
        "submit",
        "update_output",
    ]
    assert airlock.allowed_actions("in_review") == ["approve", "reject", "return", "review"]
    assert airlock.allowed_actions("released") == []


# --- who may review --------------------------------------------------------------------


def test_the_author_can_never_review_their_own_request(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    for author in ("ann", "bob"):  # the author and a co-author, made checkers
        set_role(session, author, "output_checker")
        with pytest.raises(PolicyRefusal, match=f"{author} is an author of request {rid}"):
            airlock.review(session, rid, "table.csv", author, "approve")
        with pytest.raises(PolicyRefusal, match="can never review it"):
            airlock.approve(session, rid, author)
        with pytest.raises(PolicyRefusal, match="not one of its authors"):
            airlock.release(session, rid, author, tmp_path)
    refusals = audit.entries(session, action="airlock.refused")
    assert {e.actor for e in refusals} == {"ann", "bob"}
    assert airlock.review_status(airlock.get_request(session, rid, "carol"))[0].approvals == ()


def test_reviews_by_an_author_never_count_even_if_written_directly(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    airlock.review(session, rid, "table.csv", "carol", "approve")
    # an attacker writes a review by the author straight into the table
    session.execute(
        text(
            "INSERT INTO reviews (output_id, checker_id, decision, comment, output_version, "
            "output_sha256, created_at) SELECT o.id, u.id, 'approve', '', o.version, o.sha256, "
            "CURRENT_TIMESTAMP FROM request_outputs o, users u "
            "WHERE o.request_id = :r AND o.name = 'table.csv' AND u.name = 'ann'"
        ),
        {"r": rid},
    )
    session.execute(text("UPDATE users SET role = 'output_checker' WHERE name = 'ann'"))
    session.commit()
    req = airlock.get_request(session, rid, "carol")
    assert airlock.review_status(req)[0].approvals == ("carol",)


@pytest.mark.parametrize("user", ["rita", "adam", "owen"])
def test_only_output_checkers_review(
    session: Session, files: dict[str, Path], tmp_path: Path, user: str
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    with pytest.raises(PolicyRefusal, match="only an output checker may review"):
        airlock.review(session, rid, "table.csv", user, "approve")
    with pytest.raises(PolicyRefusal, match="only an output checker may start review"):
        airlock.start_review(session, drive(session, files, tmp_path, State.CHECKED), user)


def test_an_unknown_user_is_refused_and_logged(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    with pytest.raises(PolicyRefusal, match="'mallory' is not a registered user"):
        airlock.review(session, rid, "table.csv", "mallory", "approve")
    assert audit.entries(session)[-1].actor == "mallory"


def test_the_same_checker_counts_once(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    for name in ("table.csv", "figure.txt"):
        airlock.review(session, rid, name, "carol", "approve")
        with pytest.raises(PolicyRefusal, match="a checker counts once per output"):
            airlock.review(session, rid, name, "carol", "approve")
    # changing her mind and back again still counts once
    airlock.review(session, rid, "table.csv", "carol", "request_changes", "round it")
    airlock.review(session, rid, "table.csv", "carol", "approve")
    assert state_of(session, rid) == State.IN_REVIEW
    with pytest.raises(PolicyRefusal, match=r"table.csv \(1 of 2 approvals\)"):
        airlock.approve(session, rid, "carol")
    with pytest.raises(PolicyRefusal, match="is in_review"):
        airlock.release(session, rid, "carol", tmp_path)
    approve_all_by = ("dave",)
    approve_all(session, rid, approve_all_by)
    assert state_of(session, rid) == State.APPROVED


def test_a_current_rejection_holds_an_output_back(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    airlock.review(session, rid, "figure.txt", "carol", "reject", "shows a count of 3")
    approve_all(session, rid, ("dave", "erin"))
    assert state_of(session, rid) == State.IN_REVIEW
    with pytest.raises(PolicyRefusal, match="held back by carol"):
        airlock.approve(session, rid, "dave")
    airlock.review(session, rid, "figure.txt", "carol", "approve")
    assert state_of(session, rid) == State.APPROVED


def test_one_review_suffices_for_passing_outputs_only_if_the_policy_says_so(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(
        session,
        files,
        tmp_path,
        State.IN_REVIEW,
        policy={"single_review_for_passing_outputs": True},
    )
    airlock.review(session, rid, "table.csv", "carol", "approve")  # verdict pass: one is enough
    airlock.review(session, rid, "figure.txt", "carol", "approve")  # verdict review: needs two
    assert state_of(session, rid) == State.IN_REVIEW
    airlock.review(session, rid, "figure.txt", "dave", "approve")
    assert state_of(session, rid) == State.APPROVED

    strict = drive(session, files, tmp_path, State.IN_REVIEW)  # default policy: two for all
    airlock.review(session, strict, "table.csv", "carol", "approve")
    airlock.review(session, strict, "figure.txt", "carol", "approve")
    airlock.review(session, strict, "figure.txt", "dave", "approve")
    assert state_of(session, strict) == State.IN_REVIEW


def test_decisions_other_than_approve_need_a_comment(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    with pytest.raises(FivesafesError, match="say why in a comment"):
        airlock.review(session, rid, "table.csv", "carol", "reject")
    with pytest.raises(FivesafesError, match="not a review decision"):
        airlock.review(session, rid, "table.csv", "carol", "lgtm")
    with pytest.raises(FivesafesError, match="say why in a comment"):
        airlock.return_to_researcher(session, rid, "carol", " ")


# --- changed outputs -------------------------------------------------------------------


def test_a_changed_output_loses_its_reviews(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    approve_all(session, rid, ("carol",))
    airlock.review(session, rid, "table.csv", "dave", "request_changes", "round to 10")
    airlock.return_to_researcher(session, rid, "dave", "see the comment on table.csv")
    out = airlock.update_output(session, rid, "ann", "table.csv", files["table-v2.csv"])
    assert out.version == 2
    assert audit.details_of(audit.entries(session)[-1])["reviews_reset"] == 2
    airlock.submit(session, rid, "ann")
    airlock.record_automatic_check(session, rid, REPORTS)
    airlock.start_review(session, rid, "dave")
    status = {s.name: s for s in airlock.review_status(airlock.get_request(session, rid, "dave"))}
    assert status["table.csv"].approvals == ()
    assert status["table.csv"].held_back_by == ()
    assert status["figure.txt"].approvals == ("carol",)  # unchanged: its review still counts
    airlock.review(session, rid, "figure.txt", "dave", "approve")
    airlock.review(session, rid, "table.csv", "carol", "approve")
    assert state_of(session, rid) == State.IN_REVIEW
    airlock.review(session, rid, "table.csv", "dave", "approve")
    assert state_of(session, rid) == State.APPROVED


def test_a_description_change_also_resets_reviews(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    airlock.review(session, rid, "table.csv", "carol", "approve")
    airlock.return_to_researcher(session, rid, "carol", "say what the groups are")
    airlock.update_output(session, rid, "ann", "table.csv", description="counts by school type")
    req = airlock.get_request(session, rid, "carol")
    assert airlock.review_status(req)[0].approvals == ()


def test_an_output_with_comments_can_be_removed_and_the_comments_stay(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    airlock.review(session, rid, "figure.txt", "carol", "request_changes", "drop this one")
    airlock.return_to_researcher(session, rid, "carol", "see figure.txt")
    airlock.remove_output(session, rid, "ann", "figure.txt")
    summary = airlock.summary(airlock.get_request(session, rid, "ann"))
    assert [o["name"] for o in summary["outputs"]] == ["table.csv"]
    assert [(c["by"], c["output"], c["body"]) for c in summary["comments"]] == [
        ("carol", None, "drop this one"),
        ("carol", None, "see figure.txt"),
    ]


def test_an_approved_output_cannot_be_updated(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.APPROVED)
    with pytest.raises(PolicyRefusal, match="nothing in it can change now"):
        airlock.update_output(session, rid, "ann", "table.csv", files["table-v2.csv"])
    path = airlock.release(session, rid, "carol", tmp_path / "bundles")
    assert (path / "outputs" / "table.csv").read_text() == files["table.csv"].read_text()


def test_an_output_changed_in_the_database_after_approval_is_not_released(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.APPROVED)
    data = files["table-v2.csv"].read_bytes()
    session.execute(  # the attacker updates the output, its hash and its version
        text(
            "UPDATE request_outputs SET content = :c, sha256 = :h, version = version + 1 "
            "WHERE request_id = :r AND name = 'table.csv'"
        ),
        {"c": data, "h": sha256_bytes(data), "r": rid},
    )
    session.commit()
    with pytest.raises(PolicyRefusal, match=r"table.csv \(0 of 2 approvals\)"):
        airlock.release(session, rid, "carol", tmp_path / "bundles")
    assert state_of(session, rid) == State.APPROVED
    assert not (tmp_path / "bundles" / f"request-{rid}").exists()


def test_stored_bytes_tampered_with_after_approval_are_not_released(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.APPROVED)
    session.execute(
        text(
            "UPDATE request_outputs SET content = :c WHERE request_id = :r AND name = 'table.csv'"
        ),
        {"c": b"group,count\na,1\nb,2\n", "r": rid},
    )
    session.commit()
    with pytest.raises(PolicyRefusal, match="no longer matches the SHA-256"):
        airlock.release(session, rid, "carol", tmp_path / "bundles")
    assert state_of(session, rid) == State.APPROVED
    assert not (tmp_path / "bundles").exists() or not any((tmp_path / "bundles").iterdir())
    assert audit.details_of(audit.entries(session)[-1])["attempted"] == "release"


def test_a_file_kept_by_path_and_changed_after_approval_is_not_released(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.APPROVED, store_bytes=False)
    files["figure.txt"].write_text("a bar chart of 3 and 340\n")
    with pytest.raises(PolicyRefusal, match=r"output figure\.txt .* no longer matches"):
        airlock.release(session, rid, "carol", tmp_path / "bundles")
    files["figure.txt"].unlink()
    with pytest.raises(PolicyRefusal, match="is missing or no longer matches"):
        airlock.release(session, rid, "carol", tmp_path / "bundles")


def test_a_file_changed_during_review_cannot_be_reviewed(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW, store_bytes=False)
    files["table.csv"].write_text("group,count\na,2\n")
    with pytest.raises(PolicyRefusal, match="changed outside the airlock"):
        airlock.review(session, rid, "table.csv", "carol", "approve")


def test_a_state_forged_in_the_database_releases_nothing(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    airlock.review(session, rid, "table.csv", "carol", "approve")
    session.execute(
        text("UPDATE release_requests SET state = 'approved' WHERE id = :r"), {"r": rid}
    )
    session.commit()
    with pytest.raises(PolicyRefusal, match="reviews do not bear that out"):
        airlock.release(session, rid, "carol", tmp_path / "bundles")


def test_approvals_by_a_checker_who_lost_the_role_no_longer_count(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.APPROVED)
    set_role(session, "dave", "researcher")
    with pytest.raises(PolicyRefusal, match="1 of 2 approvals"):
        airlock.release(session, rid, "carol", tmp_path / "bundles")


def test_a_second_role_counts_as_much_as_the_primary_one(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    """Web accounts hold several roles (``user_roles``): a data owner who was also
    granted output_checker reviews, and their approval counts, until the role is
    revoked; a checker also granted researcher may request a release."""
    owen = get_user(session, "owen")
    set_roles(session, owen, {"data_owner", "output_checker"}, "adam")
    session.commit()
    assert owen.role == "data_owner"  # the primary role is unchanged
    rid = drive(session, files, tmp_path, State.CHECKED)
    airlock.start_review(session, rid, "owen")
    approve_all(session, rid, checkers=("owen", "dave"))
    assert state_of(session, rid) == State.APPROVED
    req = airlock.get_request(session, rid, "owen")
    assert all(s.approvals == ("dave", "owen") for s in airlock.review_status(req))
    airlock.add_comment(session, rid, "owen", "fine as it is")
    # the second role revoked: the approval no longer counts, and owen may not release
    set_roles(session, owen, {"data_owner"}, "adam")
    session.commit()
    with pytest.raises(PolicyRefusal, match="owen may not release"):
        airlock.release(session, rid, "owen", tmp_path / "bundles")
    with pytest.raises(PolicyRefusal, match="1 of 2 approvals"):
        airlock.release(session, rid, "carol", tmp_path / "bundles")
    # a refusal names every role held
    with pytest.raises(PolicyRefusal, match="owen has the role data_owner; only an output"):
        airlock.review(session, rid, "table.csv", "owen", "approve")
    erin = get_user(session, "erin")
    set_roles(session, erin, {"output_checker", "researcher"}, "adam")
    session.commit()
    assert erin.role == "output_checker"
    assert airlock.create_request(session, "erin", "p-002", "Her own study").author_id == erin.id
    set_roles(session, erin, {"output_checker", "data_owner"}, "adam")
    session.commit()
    with pytest.raises(
        PolicyRefusal, match="erin has the roles data_owner, output_checker; only a researcher"
    ):
        airlock.create_request(session, "erin", "p-002", "Another")


@pytest.mark.parametrize("user", ["ann", "bob", "rita", "owen"])
def test_only_a_checker_or_administrator_who_is_not_an_author_releases(
    session: Session, files: dict[str, Path], tmp_path: Path, user: str
) -> None:
    rid = drive(session, files, tmp_path, State.APPROVED)
    with pytest.raises(PolicyRefusal, match=f"{user} may not release request {rid}"):
        airlock.release(session, rid, user, tmp_path / "bundles")
    assert airlock.release(session, rid, "adam", tmp_path / "bundles").is_dir()


# --- input ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape.csv", "a/b.csv", ".hidden", "", " padded"])
def test_output_names_cannot_be_paths(session: Session, files: dict[str, Path], name: str) -> None:
    req = airlock.create_request(session, "ann", "p-001", "t")
    with pytest.raises(FivesafesError, match="cannot be an output name"):
        airlock.add_output(session, req.id, "ann", name, files["table.csv"], "d")


def test_bad_input_is_refused_with_a_sentence(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(PolicyRefusal, match="only a researcher may request a release"):
        airlock.create_request(session, "carol", "p-001", "t")
    req = airlock.create_request(session, "ann", "p-001", "t")
    with pytest.raises(FivesafesError, match=r"describe output table\.csv"):
        airlock.add_output(session, req.id, "ann", "table.csv", files["table.csv"], "  ")
    with pytest.raises(FivesafesError, match="cannot read the output file"):
        airlock.add_output(session, req.id, "ann", "t.csv", tmp_path / "nope.csv", "d")
    with pytest.raises(PolicyRefusal, match="not an author"):
        airlock.add_output(session, req.id, "rita", "t.csv", files["table.csv"], "d")
    with pytest.raises(PolicyRefusal, match="has no outputs"):
        airlock.submit(session, req.id, "ann")
    airlock.add_output(session, req.id, "ann", "t.csv", files["table.csv"], "d")
    with pytest.raises(FivesafesError, match=r"already has an output called t\.csv"):
        airlock.add_output(session, req.id, "ann", "t.csv", files["table.csv"], "d")
    with pytest.raises(FivesafesError, match="nothing to change in output"):
        airlock.update_output(session, req.id, "ann", "t.csv")
    with pytest.raises(FivesafesError, match="no release request 999"):
        airlock.submit(session, 999, "ann")
    with pytest.raises(FivesafesError, match="'verdict' is one of"):
        airlock.add_output(session, req.id, "ann", "u.csv", files["table.csv"], "d", {"x": 1})
    airlock.submit(session, req.id, "ann")
    with pytest.raises(FivesafesError, match=r"no output called 'other\.csv'"):
        airlock.record_automatic_check(session, req.id, {"other.csv": {"verdict": "pass"}})
    with pytest.raises(PolicyRefusal, match="may not record the automatic check"):
        airlock.record_automatic_check(session, req.id, {"t.csv": {"verdict": "pass"}}, actor="ann")
    assert state_of(session, req.id) == State.SUBMITTED
    with pytest.raises(FivesafesError, match="required_reviews must be at least 1"):
        airlock.create_request(session, "ann", "p", "t", policy={"required_reviews": 0})
    with pytest.raises(FivesafesError, match="unknown setting 'reviews'"):
        airlock.create_request(session, "ann", "p", "t", policy={"reviews": 1})


def test_the_automatic_check_can_be_injected_or_given_with_the_output(
    session: Session, files: dict[str, Path]
) -> None:
    req = airlock.create_request(session, "ann", "p-001", "t")
    airlock.add_output(
        session, req.id, "ann", "table.csv", files["table.csv"], "d", {"verdict": "pass"}
    )
    airlock.add_output(session, req.id, "ann", "figure.txt", files["figure.txt"], "d")
    airlock.submit(session, req.id, "ann")
    seen: list[tuple[str, bytes]] = []

    def check(name: str, content: bytes) -> dict[str, object]:
        seen.append((name, content))
        return {"verdict": "fail", "why": "a cell of 3"}

    airlock.record_automatic_check(session, req.id, check=check, actor="erin")
    assert seen == [("table.csv", files["table.csv"].read_bytes()), ("figure.txt", seen[1][1])]
    entry = audit.entries(session, action="airlock.check")[-1]
    assert entry.actor == "erin"
    assert audit.details_of(entry)["overall"] == "fail"


# --- the audit trail ---------------------------------------------------------------------


def test_the_audit_log_records_every_transition(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    airlock.review(session, rid, "table.csv", "carol", "request_changes", "round it")
    airlock.return_to_researcher(session, rid, "carol", "see table.csv")
    airlock.update_output(session, rid, "bob", "table.csv", files["table-v2.csv"])
    airlock.add_comment(session, rid, "bob", "rounded to 10", "table.csv")
    for step in PATHS[State.RELEASED]:
        actions(files, tmp_path / "bundles")[step](session, rid)
    log = [
        (e.actor, e.action, audit.details_of(e).get("from"), audit.details_of(e).get("to"))
        for e in audit.entries(session, subject=f"request:{rid}")
        if e.action not in ("airlock.view",)
    ]
    moves = [(a, f, t) for _, a, f, t in log if f is not None]
    assert moves == [
        ("airlock.submit", "draft", "submitted"),
        ("airlock.check", "submitted", "checked"),
        ("airlock.start_review", "checked", "in_review"),
        ("airlock.return", "in_review", "returned"),
        ("airlock.submit", "returned", "submitted"),
        ("airlock.check", "submitted", "checked"),
        ("airlock.start_review", "checked", "in_review"),
        ("airlock.approve", "in_review", "approved"),
        ("airlock.release", "approved", "released"),
    ]
    assert [a for _, a, _, _ in log] == [
        "airlock.create",
        "airlock.add_output",
        "airlock.add_output",
        "airlock.submit",
        "airlock.check",
        "airlock.start_review",
        "airlock.review",
        "airlock.return",
        "airlock.update_output",
        "airlock.comment",
        "airlock.submit",
        "airlock.check",
        "airlock.start_review",
        "airlock.review",
        "airlock.review",
        "airlock.review",
        "airlock.review",
        "airlock.approve",
        "airlock.release",
    ]
    assert log[0][0] == "ann" and log[8][0] == "bob" and log[-1][0] == "carol"
    assert audit.verify(session).ok


def test_a_refused_attempt_is_logged_even_though_its_work_is_rolled_back(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.SUBMITTED)
    reports = {"table.csv": {"verdict": "pass"}, "figure.txt": {"no": "verdict"}}
    with pytest.raises(FivesafesError, match=r"figure\.txt has no verdict"):
        airlock.record_automatic_check(session, rid, reports)
    verdicts = session.execute(
        text("SELECT verdict FROM request_outputs WHERE request_id = :r"), {"r": rid}
    ).scalars()
    assert list(verdicts) == [None, None]  # table.csv's report was not half-stored
    assert audit.entries(session)[-1].action == "airlock.refused"


def test_reading_is_logged_and_limited_to_authors_and_checkers(
    session: Session, files: dict[str, Path], tmp_path: Path
) -> None:
    rid = drive(session, files, tmp_path, State.IN_REVIEW)
    assert (
        airlock.read_output(session, rid, "table.csv", "carol") == files["table.csv"].read_bytes()
    )
    assert audit.entries(session)[-1].action == "airlock.read_output"
    with pytest.raises(PolicyRefusal, match="rita may not see request"):
        airlock.get_request(session, rid, "rita")
    assert [r.id for r in airlock.list_requests(session, "rita")] == []
    assert [r.id for r in airlock.list_requests(session, "bob")] == [rid]
    assert [r.id for r in airlock.list_requests(session, "carol", "in_review")] == [rid]
    with pytest.raises(FivesafesError, match="'open' is not a request state"):
        airlock.list_requests(session, "carol", "open")
    summary = airlock.summary(airlock.get_request(session, rid, "ann"))
    assert summary["state"] == "in_review"
    assert summary["outputs"][0]["required"] == 2
    assert summary["allowed_actions"] == ["approve", "reject", "return", "review"]


# --- the bundle ---------------------------------------------------------------------------


@pytest.mark.parametrize("as_zip", [False, True])
def test_a_released_bundle_holds_outputs_reports_and_manifest(
    session: Session, files: dict[str, Path], tmp_path: Path, as_zip: bool
) -> None:
    rid = drive(session, files, tmp_path, State.APPROVED)
    path = airlock.release(session, rid, "carol", tmp_path / "bundles", as_zip=as_zip)
    assert path.name == (f"request-{rid}.zip" if as_zip else f"request-{rid}")
    check = verify_bundle(path)
    assert check.ok, check.problems
    assert check.files_checked == 4
    manifest = read_manifest(path)
    assert manifest["request"]["id"] == rid
    assert manifest["request"]["authors"] == ["ann", "bob"]
    assert manifest["released_by"] == "carol"
    assert manifest["policy"]["required_reviews"] == 2
    table = manifest["outputs"][0]
    assert table["sha256"] == sha256_bytes(files["table.csv"].read_bytes())
    assert [a["checker"] for a in table["approvals"]] == ["carol", "dave"]
    assert {f["path"] for f in manifest["files"]} == {
        "outputs/table.csv",
        "outputs/figure.txt",
        "reports/table.csv.json",
        "reports/figure.txt.json",
    }
    seq, digest = manifest["audit_head"]["seq"], manifest["audit_head"]["hash"]
    assert audit.verify(session, anchor=(seq, digest)).ok
    assert audit.details_of(audit.entries(session)[-1])["bundle"] == str(path)


# --- random walks: any step, by anyone -----------------------------------------------------

WALK_STEPS: dict[
    str, float
] = {  # step -> weight: progress is likelier than not, so that walks reach release
    "submit": 3,
    "check": 3,
    "start_review": 3,
    "approve": 12,
    "request_changes": 1,
    "approve_call": 1,
    "return": 0.5,
    "reject": 0.2,
    "release": 4,
    "add_output": 1,
    "update_output": 1,
    "update_description": 1,
    "remove_output": 1,
}
CHECKERS = ["carol", "dave", "erin"]
#: Who would usually take a step; a walk picks someone else (anyone) 30% of the time.
PLAUSIBLE = {
    step: ["ann", "bob"]
    for step in ("submit", "add_output", "update_output", "update_description", "remove_output")
} | {"check": [*CHECKERS, "adam"], "release": [*CHECKERS, "adam"]}


def walk_step(
    s: Session, rid: int, step: str, actor: str, output: str, files: dict[str, Path], bundles: Path
) -> None:
    if step == "submit":
        airlock.submit(s, rid, actor)
    elif step == "check":
        airlock.record_automatic_check(
            s, rid, check=lambda name, _: REPORTS.get(name, {"verdict": "review"}), actor=actor
        )
    elif step == "start_review":
        airlock.start_review(s, rid, actor)
    elif step == "approve":
        airlock.review(s, rid, output, actor, "approve")
    elif step == "request_changes":
        airlock.review(s, rid, output, actor, "request_changes", "why")
    elif step == "approve_call":
        airlock.approve(s, rid, actor)
    elif step == "return":
        airlock.return_to_researcher(s, rid, actor, "why")
    elif step == "reject":
        airlock.reject(s, rid, actor, "why")
    elif step == "release":
        airlock.release(s, rid, actor, bundles)
    elif step == "add_output":
        airlock.add_output(s, rid, actor, "extra.csv", files["extra.csv"], "d")
    elif step == "update_output":
        airlock.update_output(s, rid, actor, output, files["table-v2.csv"])
    elif step == "update_description":
        airlock.update_output(s, rid, actor, output, description="new words")
    else:
        assert step == "remove_output"
        airlock.remove_output(s, rid, actor, output)


@pytest.mark.parametrize("first_seed", range(0, 40, 10))
def test_random_walks_never_release_without_the_reviews(
    template_db: Path, tmp_path: Path, first_seed: int
) -> None:
    """Random steps by random users, most of them refused: whatever happens, a
    release only ever holds outputs approved by enough independent checkers, and
    every call, done or refused, writes to the audit log."""
    released = 0
    for seed in range(first_seed, first_seed + 10):
        rng = random.Random(seed)
        tmp = tmp_path / str(seed)
        tmp.mkdir()
        shutil.copy(template_db, tmp / "fivesafes.db")
        engine = engine_for(f"sqlite:///{tmp / 'fivesafes.db'}")
        event.listen(engine, "connect", _fast)
        files = {n: tmp / n for n in ("table.csv", "figure.txt", "extra.csv", "table-v2.csv")}
        for i, path in enumerate(files.values()):
            path.write_text(f"group,count\na,{100 + i}\n")
        bundles = tmp / "bundles"
        single = rng.random() < 0.5
        with session_factory(engine)() as s:
            rid = new_request(s, files, policy={"single_review_for_passing_outputs": single})
            for _ in range(60):
                steps = list(WALK_STEPS)
                if rng.random() < 0.8:  # mostly a step the state allows, else any step at all
                    allowed = set(airlock.allowed_actions(state_of(s, rid)))
                    allowed |= {"approve", "request_changes"} if "review" in allowed else set()
                    allowed |= {"update_description"} if "update_output" in allowed else set()
                    allowed |= {"approve_call"} if "approve" in allowed else set()
                    steps = [x for x in steps if x in allowed] or steps
                weights = [WALK_STEPS[x] for x in steps]
                step = rng.choices(steps, weights=weights)[0]
                plausible = PLAUSIBLE.get(step, CHECKERS)
                actor = rng.choice(plausible if rng.random() < 0.7 else list(USERS))
                output = rng.choice(["table.csv", "figure.txt"])
                before = audit.count(s)
                try:
                    walk_step(s, rid, step, actor, output, files, bundles)
                except FivesafesError:
                    assert audit.entries(s)[-1].action == "airlock.refused"
                assert audit.count(s) > before
            if state_of(s, rid) == State.RELEASED:
                released += 1
                manifest = read_manifest(bundles / f"request-{rid}")
                assert manifest["outputs"]
                for out in manifest["outputs"]:
                    checkers = {a["checker"] for a in out["approvals"]}
                    need = 1 if single and out["verdict"] == "pass" else 2
                    assert len(checkers) >= need
                    assert checkers <= set(CHECKERS)  # never an author, never another role
                assert verify_bundle(bundles / f"request-{rid}").ok
            else:
                assert not bundles.exists() or not any(bundles.iterdir())
            assert audit.verify(s).ok
        engine.dispose()
    assert released >= 3, "too few walks reached release to prove anything"


def test_an_output_the_rules_cannot_read_goes_to_the_checkers_with_two_reviews(
    session: Session, files: dict[str, Path]
) -> None:
    """A figure added with no disclosure report does not strand the request: the
    automatic check marks it ``review``, and it needs two approvals even where the
    policy lets one suffice for outputs that passed every rule."""
    req = airlock.create_request(
        session, "ann", "p-001", "A figure", policy={"single_review_for_passing_outputs": True}
    )
    airlock.add_output(session, req.id, "ann", "figure.txt", files["figure.txt"], "a chart")
    airlock.submit(session, req.id, "ann")
    checked = airlock.record_automatic_check(session, req.id)
    assert checked.state == State.CHECKED.value
    (out,) = checked.outputs
    assert out.verdict == "review"
    assert airlock.review_status(checked)[0].required == 2
