"""The airlock: release requests, their reviews and their release, as plain rules.

A release request (one or more outputs, each with the researcher's description)
moves through the states in :data:`TRANSITIONS`::

    draft ─submit─▶ submitted ─check─▶ checked ─start_review─▶ in_review
    in_review ─approve─▶ approved ─release─▶ released
    in_review ─reject─▶ rejected
    in_review ─return─▶ returned ─submit─▶ submitted ...

Every rule is enforced here, whoever calls (the CLI and the web app only call
these functions):

- only a user who holds the role ``output_checker`` (as their primary role or as
  any other role they were granted, see :func:`holds`) reviews, returns, rejects or
  approves; nobody listed as an author of a request ever does, whatever their role,
  nor any member of the project the request belongs to (:func:`conflicted_ids`:
  the members *now*, so that a checker who joins the project later is no more
  independent, and their earlier approvals stop counting; an invitation not yet
  accepted is not membership);
- a checker counts once per output (their latest decision on it is the one that
  counts); every output needs :meth:`AirlockPolicy.required_for` independent
  approvals (two; one for an output that passed every rule, if the policy says so),
  and any current rejection or request for changes holds it back;
- a review counts only for the version and SHA-256 of the output it saw: changing
  an output resets its reviews, and an output whose stored bytes no longer match
  cannot be reviewed or released;
- an output whose automatic check fails the rules (verdict ``fail``: a trained
  model the membership-inference or structural attacks found unsafe) cannot be
  approved by any checker: it holds the request back until it is changed (the
  request returned) or the request is rejected;
- nothing is released unless the request is approved, and :func:`release` checks
  the approvals and every output's SHA-256 again before it writes the bundle. An
  approval that stopped counting since (its checker joined the project, lost the
  role or had their account closed) sends the request back to review
  (``approved ─reopen─▶ in_review``) for another checker, and nothing is released.

Each function is one transaction: it commits on success and writes the step to
the audit log. A refusal rolls back what the call had done, writes the attempt
to the audit log (``airlock.refused``), commits that, and raises
:class:`~fivesafes.errors.PolicyRefusal` (or :class:`~fivesafes.errors.FivesafesError`
for bad input) with a sentence that says why and what to do.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from fivesafes.appdb.db import begin_write
from fivesafes.appdb.models import (
    Comment,
    ModelData,
    ReleaseRequest,
    RequestAuthor,
    RequestOutput,
    Review,
    Role,
    User,
    as_utc,
    utcnow,
)
from fivesafes.appdb.users import SYSTEM, find_user
from fivesafes.audit import head, record
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.outputs.bundle import BundleOutput, bundle_files, sha256_bytes, write_bundle
from fivesafes.outputs.differencing import record_release
from fivesafes.projects.models import Project, ProjectMember
from fivesafes.spreadsheet import inert_csv, is_csv_name


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHECKED = "checked"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"
    RELEASED = "released"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"


#: Who may take a step: an ``author`` of the request, a ``checker`` (role
#: output_checker, not an author), ``system`` (the automatic check: the system
#: itself, or a checker or administrator who is not an author), or a ``releaser``
#: (an output checker or administrator who is not an author).
WHO = ("author", "checker", "system", "releaser")


@dataclass(frozen=True)
class Transition:
    action: str
    source: State
    target: State
    who: str


#: Every allowed move of a request: nothing else moves one.
TRANSITIONS: tuple[Transition, ...] = (
    Transition("submit", State.DRAFT, State.SUBMITTED, "author"),
    Transition("submit", State.RETURNED, State.SUBMITTED, "author"),
    Transition("check", State.SUBMITTED, State.CHECKED, "system"),
    Transition("start_review", State.CHECKED, State.IN_REVIEW, "checker"),
    Transition("return", State.IN_REVIEW, State.RETURNED, "checker"),
    Transition("approve", State.IN_REVIEW, State.APPROVED, "checker"),
    Transition("reject", State.IN_REVIEW, State.REJECTED, "checker"),
    Transition("release", State.APPROVED, State.RELEASED, "releaser"),
    # By the release itself, when an approval stopped counting after the request was
    # approved (see :func:`release`): back to the checkers, nothing released.
    Transition("reopen", State.APPROVED, State.IN_REVIEW, "system"),
)

#: Steps that do not move a request, the states they are allowed in, and by whom.
STEPS_IN_PLACE: dict[str, tuple[frozenset[State], str]] = {
    "add_output": (frozenset({State.DRAFT, State.RETURNED}), "author"),
    "update_output": (frozenset({State.DRAFT, State.RETURNED}), "author"),
    "remove_output": (frozenset({State.DRAFT, State.RETURNED}), "author"),
    "review": (frozenset({State.IN_REVIEW}), "checker"),
}

TERMINAL = frozenset({State.REJECTED, State.RELEASED})

#: The automatic check's verdicts; only ``pass`` means an output passed every rule.
VERDICTS = ("pass", "review", "suppress", "fail")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$")

#: ``check(name, content)`` returns the disclosure engine's report for one output.
Check = Callable[[str, bytes], Mapping[str, Any]]


#: The columns of a model output's data (``ModelData``) besides its key.
MODEL_COLUMNS = (
    "target",
    "train",
    "test",
    "train_sha256",
    "test_sha256",
    "train_name",
    "test_name",
    "categorical",
)


@dataclass(frozen=True)
class ModelInputs:
    """What makes an output a trained model: the CSVs it was fitted (``train``) and
    tested (``test``) on and the label column (``target``). They stay inside the
    TRE; the model check reads them on submission, and only the model file (a
    skops archive) is ever released. ``categorical`` names the feature columns the
    attribute-inference attack (when the policy runs it) treats as categorical,
    every other feature being numeric; ``None`` (the default) lets the check decide
    from the values (:func:`fivesafes.outputs.models.categorical_features`). Each
    must be a feature column of the train CSV."""

    train: Path
    test: Path
    target: str
    categorical: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MicrodataTable:
    """What makes a table output a *table of sums checked from its microdata* (a
    magnitude table): the file given is the microdata, one row per contribution,
    ``value`` its amount column (any sign: profits and losses, changes) and
    ``person``, optionally, the column naming whose contribution each row is (a
    person's rows are summed into one). The airlock builds the table of sums with
    its margins and checks it as ``fivesafes outputs check-table --microdata`` does
    (:func:`fivesafes.outputs.check.check_microdata_csv`: the negative-aware
    dominance and p% rules, the attacker's bounds); the output is the safe table of
    sums. The microdata file stays inside the TRE: its bytes are never stored with
    the request nor put into a bundle (only its name and SHA-256 are recorded, in
    the report's ``table``)."""

    value: str
    person: str | None = None


#: The airlock's verdict for each overall status of a table's disclosure check.
TABLE_VERDICTS = {"pass": "pass", "round": "suppress", "suppress": "suppress", "review": "review"}


def check_microdata_table(
    path: Path, microdata: MicrodataTable, policy: Any, folder: Path
) -> tuple[Path, dict[str, Any]]:
    """Check the table of sums of ``path`` (microdata) under ``policy``: the safe
    table (written into ``folder``, named after ``path``) and the disclosure report
    with the airlock's verdict and, under ``table``, what it was made from. Bad
    input raises :class:`~fivesafes.errors.InputError` naming the file, row and
    field."""
    from fivesafes.outputs.check import check_microdata_csv

    safe = Path(folder) / Path(path).name
    result = check_microdata_csv(path, microdata.value, policy, out=safe, person=microdata.person)
    report = result.to_dict()
    report["verdict"] = TABLE_VERDICTS.get(result.status, "review")
    report["table"] = {
        "kind": "magnitude",
        "from": "microdata",
        "value": microdata.value,
        "person": microdata.person,
        "microdata": Path(path).name,
        "microdata_sha256": sha256_bytes(_read_file(Path(path))),
    }
    return safe, report


def transition_for(action: str, state: State | str) -> Transition | None:
    """The transition ``action`` makes from ``state``, if it is allowed."""
    for t in TRANSITIONS:
        if t.action == action and t.source == state:
            return t
    return None


def allowed_actions(state: State | str) -> list[str]:
    """The actions allowed on a request in ``state`` (moves and steps in place)."""
    moves = [t.action for t in TRANSITIONS if t.source == state]
    steps = [a for a, (states, _) in STEPS_IN_PLACE.items() if state in states]
    return sorted(set(moves + steps))


def _states_for(action: str) -> list[str]:
    if action in STEPS_IN_PLACE:
        return sorted(STEPS_IN_PLACE[action][0])
    return [t.source.value for t in TRANSITIONS if t.action == action]


@dataclass(frozen=True)
class AirlockPolicy:
    """How many independent approvals an output needs.

    ``required_reviews`` (at least 1, default 2) for every output; with
    ``single_review_for_passing_outputs``, one is enough for an output whose
    automatic check passed every rule (verdict ``pass``) — except a trained
    model, which always takes ``required_reviews``: its attacks measure a risk
    with sampling noise, where a table's rules are exact.
    """

    name: str = "default"
    required_reviews: int = 2
    single_review_for_passing_outputs: bool = False

    def __post_init__(self) -> None:
        if self.required_reviews < 1:
            raise FivesafesError(f"airlock policy {self.name}: required_reviews must be at least 1")

    def required_for(self, verdict: str | None, kind: str | None = None) -> int:
        if verdict == "pass" and self.single_review_for_passing_outputs and kind != "model":
            return 1
        return self.required_reviews

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AirlockPolicy:
        known = {"name", "required_reviews", "single_review_for_passing_outputs"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FivesafesError(
                f"airlock policy: unknown setting {unknown[0]!r}; use {', '.join(sorted(known))}"
            )
        return cls(**dict(data))


# --- refusals and the audit log ---------------------------------------------------------


def _refuse(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    reason: str,
    error: type[FivesafesError] = PolicyRefusal,
) -> NoReturn:
    """Roll back, write the refused attempt to the audit log, commit it, raise."""
    session.rollback()
    record(session, actor, "airlock.refused", subject, {"attempted": action, "reason": reason})
    session.commit()
    raise error(reason)


def _subject(request_id: int) -> str:
    return f"request:{request_id}"


def _request(session: Session, request_id: int, actor: str, action: str) -> ReleaseRequest:
    # Read the request afresh: a decision is never taken on what this session
    # remembers, only on what the database holds now.
    # Locked from here to the end of the transaction, so that two checkers' decisions
    # (or a decision and a release) on one request take their turns: each sees the
    # state the other left (SQLite: the database's write lock; PostgreSQL: the row).
    session.expire_all()
    begin_write(session)
    req = session.get(ReleaseRequest, request_id, with_for_update=True)
    if req is None:
        _refuse(
            session,
            actor,
            action,
            _subject(request_id),
            f"there is no release request {request_id}; list the requests to find its number",
            FivesafesError,
        )
    return req


def holds(user: User, *roles: Role) -> bool:
    """Whether ``user`` holds one of ``roles``, as their primary ``User.role`` or as
    any other role they were granted (``user_roles``). Unlike
    :meth:`User.has_role`, an administrator does not hold every role here: the
    airlock names the roles that may take each step."""
    held = user.roles
    return any(r.value in held for r in roles)


def _roles_text(user: User) -> str:
    held = sorted(user.roles)
    if not held:
        return "no role"
    return f"the role {held[0]}" if len(held) == 1 else f"the roles {', '.join(held)}"


def _user(session: Session, name: str, action: str, subject: str) -> User:
    user = find_user(session, name)
    if user is None:
        _refuse(
            session,
            name,
            action,
            subject,
            f"{name!r} is not a registered user; an administrator must add them first",
        )
    return user


def author_ids(req: ReleaseRequest) -> set[int]:
    """The user ids of everyone listed as an author of the request."""
    return {req.author_id} | {a.user_id for a in req.co_authors}


def project_of(session: Session, req: ReleaseRequest) -> tuple[int, set[int]] | None:
    """The id and the current members' user ids of the project the request belongs
    to (by its name, ``Project.slug``), or None if no project has that name (a
    request made on the command line for a name the projects do not know)."""
    project_id = session.scalar(select(Project.id).where(Project.slug == req.project))
    if project_id is None:
        return None
    members = session.scalars(
        select(ProjectMember.user_id).where(ProjectMember.project_id == project_id)
    )
    return project_id, set(members)


def conflicted_ids(req: ReleaseRequest, session: Session | None = None) -> set[int]:
    """The user ids who may never review the request: its authors and the members
    of its project as they are now (read from the database at each call)."""
    session = session or object_session(req)
    found = author_ids(req)
    if session is not None and (project := project_of(session, req)) is not None:
        found |= project[1]
    return found


def _require_state(session: Session, req: ReleaseRequest, actor: str, action: str) -> None:
    if action in STEPS_IN_PLACE:
        ok = req.state in STEPS_IN_PLACE[action][0]
    else:
        ok = transition_for(action, req.state) is not None
    if not ok:
        hint = {
            State.DRAFT: "it has not been submitted yet",
            State.SUBMITTED: "it waits for the automatic check",
            State.CHECKED: "it waits for a checker to start the review",
            State.IN_REVIEW: "checkers are reviewing it; ask them to return it to make changes",
            State.APPROVED: "it is approved as it is; nothing in it can change now",
            State.REJECTED: "it was rejected; start a new request",
            State.RETURNED: "it was returned to its authors; they must change and resubmit it",
            State.RELEASED: "it was released; start a new request for anything else",
        }[State(req.state)]
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"request {req.id} is {req.state}, and '{action}' is allowed only when it is "
            f"{' or '.join(_states_for(action))}: {hint}",
        )


def _require_author(session: Session, req: ReleaseRequest, user: User, action: str) -> None:
    if user.id not in author_ids(req):
        _refuse(
            session,
            user.name,
            action,
            _subject(req.id),
            f"{user.name} is not an author of request {req.id}; only its authors may "
            f"{action.replace('_', ' ')}",
        )


def _require_not_member(session: Session, req: ReleaseRequest, user: User, action: str) -> None:
    project = project_of(session, req)
    if project is not None and user.id in project[1]:
        _refuse(
            session,
            user.name,
            action,
            _subject(req.id),
            f"{user.name} is a member of project {project[0]} and can never review its "
            "requests; another output checker must",
        )


def _require_checker(session: Session, req: ReleaseRequest, user: User, action: str) -> None:
    _require_not_member(session, req, user, action)
    if user.id in author_ids(req):
        _refuse(
            session,
            user.name,
            action,
            _subject(req.id),
            f"{user.name} is an author of request {req.id} and can never review it; "
            "another output checker must",
        )
    if not holds(user, Role.OUTPUT_CHECKER):
        _refuse(
            session,
            user.name,
            action,
            _subject(req.id),
            f"{user.name} has {_roles_text(user)}; only an output checker may "
            f"{action.replace('_', ' ')} a request",
        )


def _move(session: Session, req: ReleaseRequest, action: str, actor: str, **details: Any) -> None:
    t = transition_for(action, req.state)
    assert t is not None, f"{action} from {req.state}"  # _require_state ran first
    record(
        session,
        actor,
        f"airlock.{action}",
        _subject(req.id),
        {"from": t.source.value, "to": t.target.value, **details},
    )
    req.state = t.target.value
    req.updated_at = utcnow()


def _policy(req: ReleaseRequest) -> AirlockPolicy:
    return AirlockPolicy.from_mapping(req.policy)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FivesafesError(f"{path}: cannot read the output file ({exc.strerror})") from None


def _content(out: RequestOutput) -> bytes | None:
    """The output's bytes as stored (or as its file now is); None if unreadable."""
    if out.content is not None:
        # A database edited by hand may hand back text where bytes were stored.
        content: bytes | str = out.content
        return content.encode("utf-8") if isinstance(content, str) else content
    if out.source_path is None:
        return None
    try:
        return Path(out.source_path).read_bytes()
    except OSError:
        return None


def _check_report(
    session: Session, req: ReleaseRequest, actor: str, action: str, name: str, report: Any
) -> tuple[dict[str, Any], str]:
    if not isinstance(report, Mapping) or report.get("verdict") not in VERDICTS:
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"the disclosure report of output {name} has no verdict; it must be a JSON "
            f"object whose 'verdict' is one of {', '.join(VERDICTS)}",
            FivesafesError,
        )
    return dict(report), str(report["verdict"])


def _output(
    session: Session, req: ReleaseRequest, actor: str, action: str, name: str
) -> RequestOutput:
    for out in req.outputs:
        if out.name == name:
            return out
    names = ", ".join(o.name for o in req.outputs) or "none yet"
    _refuse(
        session,
        actor,
        action,
        _subject(req.id),
        f"request {req.id} has no output called {name!r} (its outputs: {names})",
        FivesafesError,
    )


# --- reviews, counted ----------------------------------------------------------------------


@dataclass(frozen=True)
class OutputStatus:
    """Where one output stands: approvals that count, how many it needs, and the
    checkers whose current decision holds it back."""

    name: str
    verdict: str | None
    version: int
    sha256: str
    approvals: tuple[str, ...]
    required: int
    held_back_by: tuple[str, ...]

    @property
    def approved(self) -> bool:
        return len(self.approvals) >= self.required and not self.held_back_by


def current_reviews(
    req: ReleaseRequest, out: RequestOutput, *, standing: bool = True
) -> dict[str, Review]:
    """Each checker's latest review of the output as it is now (same version and
    SHA-256), by checker name, for checkers who may still review this request (still
    an output checker, neither an author nor a member of the project now, and their
    account not closed). ``standing=False`` leaves out that last test (what the
    reviews were worth when they were made)."""
    conflicted = conflicted_ids(req) if standing else set()
    latest: dict[str, Review] = {}
    for rev in sorted(out.reviews, key=lambda r: r.id):
        if rev.output_version != out.version or rev.output_sha256 != out.sha256:
            continue
        if standing and (
            rev.checker_id in conflicted
            or not holds(rev.checker, Role.OUTPUT_CHECKER)
            or rev.checker.is_active is False
        ):
            continue
        latest[rev.checker.name] = rev
    return latest


def output_status(
    req: ReleaseRequest, out: RequestOutput, *, standing: bool = True
) -> OutputStatus:
    reviews = current_reviews(req, out, standing=standing)
    return OutputStatus(
        name=out.name,
        verdict=out.verdict,
        version=out.version,
        sha256=out.sha256,
        approvals=tuple(sorted(n for n, r in reviews.items() if r.decision == Decision.APPROVE)),
        required=_policy(req).required_for(out.verdict, out.kind),
        held_back_by=tuple(sorted(n for n, r in reviews.items() if r.decision != Decision.APPROVE)),
    )


def review_status(req: ReleaseRequest, *, standing: bool = True) -> list[OutputStatus]:
    """Where each output of the request stands (nothing is written)."""
    return [output_status(req, out, standing=standing) for out in req.outputs]


def _missing(req: ReleaseRequest, *, standing: bool = True) -> list[str]:
    missing = []
    for s in review_status(req, standing=standing):
        if s.verdict == "fail":
            missing.append(f"{s.name} (fails the rules: it cannot be approved as it is)")
        elif s.held_back_by:
            missing.append(f"{s.name} (held back by {', '.join(s.held_back_by)})")
        elif len(s.approvals) < s.required:
            missing.append(f"{s.name} ({len(s.approvals)} of {s.required} approvals)")
    if not req.outputs:
        missing.append("no outputs")
    return missing


# --- the steps -----------------------------------------------------------------------------


def create_request(
    session: Session,
    author: str,
    project: str,
    title: str,
    *,
    co_authors: Iterable[str] = (),
    policy: AirlockPolicy | Mapping[str, Any] | None = None,
) -> ReleaseRequest:
    """Start a release request (state ``draft``) by a researcher for a project.

    ``co_authors`` are other members listed as authors: like the author, they may
    change the request and can never review it.
    """
    chosen = (
        policy
        if isinstance(policy, AirlockPolicy)
        else AirlockPolicy()
        if policy is None
        else AirlockPolicy.from_mapping(policy)
    )
    user = _user(session, author, "create", "request:new")
    if not holds(user, Role.RESEARCHER):
        _refuse(
            session,
            author,
            "create",
            "request:new",
            f"{author} has {_roles_text(user)}; only a researcher may request a release",
        )
    if not project.strip() or not title.strip():
        _refuse(
            session,
            author,
            "create",
            "request:new",
            "give the request a project and a title",
            FivesafesError,
        )
    others = [_user(session, name, "create", "request:new") for name in co_authors]
    req = ReleaseRequest(
        project=project.strip(),
        title=title.strip(),
        author_id=user.id,
        state=State.DRAFT.value,
        policy=asdict(chosen),
    )
    req.co_authors = [RequestAuthor(user_id=o.id) for o in others if o.id != user.id]
    session.add(req)
    session.flush()
    record(
        session,
        author,
        "airlock.create",
        _subject(req.id),
        {
            "project": req.project,
            "title": req.title,
            "co_authors": [o.name for o in others],
            "policy": req.policy,
            "to": State.DRAFT.value,
        },
    )
    session.commit()
    return req


def _load_file(
    session: Session, req: ReleaseRequest, actor: str, action: str, name: str, path: Path
) -> tuple[bytes, int]:
    """The output's bytes, a CSV's formula cells made inert (see
    :mod:`fivesafes.spreadsheet`: what checkers review is what is released), and how
    many cells were."""
    try:
        data = _read_file(path)
    except FivesafesError as exc:
        _refuse(session, actor, action, _subject(req.id), f"output {name}: {exc}", FivesafesError)
    if is_csv_name(name) or is_csv_name(Path(path).name):
        return inert_csv(data)
    return data, 0


def _model_data(
    session: Session,
    req: ReleaseRequest,
    actor: str,
    action: str,
    name: str,
    model: bytes,
    train: tuple[str, bytes],
    test: tuple[str, bytes],
    target: str,
    categorical: Iterable[str] | None = None,
) -> ModelData:
    """The model output's data, once the model loads (skops, trusted types only) and
    matches its train and test CSVs, and every column named as categorical is one of
    the train CSV's features; any problem is refused naming the file."""
    from fivesafes.outputs.models import check_categorical, model_feature_columns

    cats: list[str] | None = None

    with tempfile.TemporaryDirectory(prefix="fivesafes-model-") as tmp:
        folder = Path(tmp)
        paths = []
        for sub, (file_name, data) in (("model", (name, model)), ("train", train), ("test", test)):
            (folder / sub).mkdir()
            paths.append(folder / sub / (Path(file_name).name or sub))
            paths[-1].write_bytes(data)
        try:
            if not target.strip():
                raise FivesafesError("name the target column (the label the model predicts)")
            features = model_feature_columns(paths[0], paths[1], paths[2], target.strip())
            if categorical is not None:
                cats = check_categorical(paths[1], features, target.strip(), list(categorical))
        except FivesafesError as exc:
            text = str(exc)
            for p in paths:
                text = text.replace(str(p), p.name)
            _refuse(
                session,
                actor,
                action,
                _subject(req.id),
                f"model output {name}: {text}",
                FivesafesError,
            )
    return ModelData(
        target=target.strip(),
        train=train[1],
        test=test[1],
        train_sha256=sha256_bytes(train[1]),
        test_sha256=sha256_bytes(test[1]),
        train_name=Path(train[0]).name,
        test_name=Path(test[0]).name,
        categorical=cats,
    )


def _microdata_output(
    session: Session,
    req: ReleaseRequest,
    actor: str,
    action: str,
    name: str,
    path: Path,
    microdata: MicrodataTable,
    policy: Any,
) -> tuple[bytes, int, dict[str, Any]]:
    """The safe table of sums of a microdata output (its bytes, formula cells made
    inert, and how many were) and its report; bad microdata is refused naming the
    file, row and field, and nothing is stored."""
    if policy is None:
        from fivesafes.outputs.policy import tre_policy

        policy = tre_policy()
    with tempfile.TemporaryDirectory(prefix="fivesafes-microdata-") as tmp:
        try:
            safe, report = check_microdata_table(Path(path), microdata, policy, Path(tmp))
        except FivesafesError as exc:
            _refuse(
                session,
                actor,
                action,
                _subject(req.id),
                f"output {name}: {exc} Nothing was "
                f"{'added to' if action == 'add_output' else 'changed in'} request {req.id}.",
                FivesafesError,
            )
        data, inert_cells = _load_file(session, req, actor, action, name, safe)
    return data, inert_cells, report


def _microdata_audit(report: Mapping[str, Any] | None) -> dict[str, Any]:
    table = (report or {}).get("table")
    if not isinstance(table, Mapping) or table.get("from") != "microdata":
        return {}
    return {
        "kind": "microdata_table",
        "value": table.get("value"),
        "person": table.get("person"),
        "microdata_sha256": table.get("microdata_sha256"),
    }


def _model_inputs(
    session: Session, req: ReleaseRequest, actor: str, action: str, name: str, model: ModelInputs
) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    try:
        return (
            (Path(model.train).name, _read_file(Path(model.train))),
            (Path(model.test).name, _read_file(Path(model.test))),
        )
    except FivesafesError as exc:
        _refuse(session, actor, action, _subject(req.id), f"output {name}: {exc}", FivesafesError)


def add_output(
    session: Session,
    request_id: int,
    author: str,
    name: str,
    path: Path,
    description: str,
    check_report: Mapping[str, Any] | None = None,
    *,
    store_bytes: bool = True,
    model: ModelInputs | None = None,
    microdata: MicrodataTable | None = None,
    policy: Any = None,
) -> RequestOutput:
    """Add an output file to a draft (or returned) request, with the researcher's
    description of what it shows and how it was made.

    The file's bytes are stored in the database (``store_bytes=False`` keeps only
    its path, read again, and its SHA-256 checked, at review and release).
    ``check_report`` is the disclosure engine's report, if already made.

    With ``model``, the file is a trained model saved with skops and ``model``
    names the data it was fitted and tested on: the model must load (trusted
    types only) and match them now, and the model check runs on submission
    (:func:`record_automatic_check`); its train and test CSVs are stored with it
    and never released.

    With ``microdata``, the file is microdata (one row per contribution) and the
    output is its table of sums, checked now under ``policy`` (a
    :class:`~fivesafes.outputs.policy.Policy`; default the TRE's): its safe version
    is stored as the output (always in the database: ``store_bytes`` does not
    apply) and the report records the value and person columns; the microdata is
    neither stored nor ever released (:class:`MicrodataTable`).
    """
    action = "add_output"
    req = _request(session, request_id, author, action)
    user = _user(session, author, action, _subject(request_id))
    _require_author(session, req, user, action)
    _require_state(session, req, author, action)
    if not _NAME.match(name) or name.strip() != name:
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"{name!r} cannot be an output name; use letters, digits, spaces, '.', '_' and "
            "'-' (no folders), starting with a letter or digit",
            FivesafesError,
        )
    if any(o.name == name for o in req.outputs):
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"request {req.id} already has an output called {name}; update it instead",
            FivesafesError,
        )
    if not description.strip():
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"describe output {name}: what it shows, and how it was made",
            FivesafesError,
        )
    if model is not None and check_report is not None:
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"output {name} is a trained model: the airlock runs its model check itself on "
            "submission, so no report may be given with it",
            FivesafesError,
        )
    if microdata is not None and (model is not None or check_report is not None):
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"output {name} is a table of sums from microdata: the airlock checks it itself, "
            "so it cannot also be a trained model or come with a report",
            FivesafesError,
        )
    report, verdict = (
        _check_report(session, req, author, action, name, check_report)
        if check_report is not None
        else (None, None)
    )
    model_data = None
    source_path: str | None = str(Path(path).resolve())
    if microdata is not None:
        data, inert_cells, report = _microdata_output(
            session, req, author, action, name, path, microdata, policy
        )
        verdict, store_bytes, source_path = str(report["verdict"]), True, None
    elif model is not None:
        data, inert_cells = _read_model_file(session, req, author, action, name, path), 0
        train, test = _model_inputs(session, req, author, action, name, model)
        model_data = _model_data(
            session, req, author, action, name, data, train, test, model.target, model.categorical
        )
    else:
        data, inert_cells = _load_file(session, req, author, action, name, path)
    out = RequestOutput(
        name=name,
        description=description.strip(),
        source_path=source_path,
        content=data if store_bytes else None,
        sha256=sha256_bytes(data),
        size=len(data),
        version=1,
        check_report=report,
        verdict=verdict,
    )
    out.model_data = model_data
    req.outputs.append(out)
    req.updated_at = utcnow()
    session.flush()
    record(
        session,
        author,
        "airlock.add_output",
        _subject(req.id),
        {
            "output": name,
            "sha256": out.sha256,
            "bytes": out.size,
            "verdict": verdict,
            **({"formula_cells_made_inert": inert_cells} if inert_cells else {}),
            **_model_audit(model_data),
            **_microdata_audit(report),
        },
    )
    session.commit()
    return out


def _read_model_file(
    session: Session, req: ReleaseRequest, actor: str, action: str, name: str, path: Path
) -> bytes:
    try:
        return _read_file(path)
    except FivesafesError as exc:
        _refuse(session, actor, action, _subject(req.id), f"output {name}: {exc}", FivesafesError)


def _model_audit(data: ModelData | None) -> dict[str, Any]:
    if data is None:
        return {}
    return {
        "kind": "model",
        "target": data.target,
        "train_sha256": data.train_sha256,
        "test_sha256": data.test_sha256,
        **({"categorical": data.categorical} if data.categorical is not None else {}),
    }


def update_output(
    session: Session,
    request_id: int,
    author: str,
    name: str,
    path: Path | None = None,
    description: str | None = None,
    check_report: Mapping[str, Any] | None = None,
    *,
    model: ModelInputs | None = None,
    microdata: MicrodataTable | None = None,
    policy: Any = None,
) -> RequestOutput:
    """Change an output of a draft or returned request (its file, description or
    report; for a trained model, its file or, with ``model``, the data it was
    fitted on). Any change makes a new version: the reviews of the old one no
    longer count, and the request must be checked and reviewed again. A model is
    checked against its data again whenever either changes. With ``microdata``,
    ``path`` is new microdata and the output becomes its safe table of sums, as in
    :func:`add_output`."""
    action = "update_output"
    req = _request(session, request_id, author, action)
    user = _user(session, author, action, _subject(request_id))
    _require_author(session, req, user, action)
    _require_state(session, req, author, action)
    out = _output(session, req, author, action, name)
    if path is None and description is None and check_report is None and model is None:
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"nothing to change in output {name}: give a new file, description or report",
            FivesafesError,
        )
    old_sha, old_version = out.sha256, out.version
    voided = len(current_reviews(req, out))
    if microdata is not None and (
        path is None or model is not None or check_report is not None or out.model_data
    ):
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"a table of sums from microdata needs the microdata file, and output {name} "
            "cannot also be a trained model or come with a report",
            FivesafesError,
        )
    if check_report is not None and (model is not None or out.model_data is not None):
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"output {name} is a trained model: the airlock runs its model check itself on "
            "submission, so no report may be given with it",
            FivesafesError,
        )
    if model is not None or (path is not None and out.model_data is not None):
        old = out.model_data
        categorical: Iterable[str] | None
        if model is not None:
            train, test = _model_inputs(session, req, author, action, name, model)
            target, categorical = model.target, model.categorical
        else:
            assert old is not None
            train, test = (old.train_name, old.train), (old.test_name, old.test)
            target, categorical = old.target, old.categorical
        if path is not None:
            model_bytes = _read_model_file(session, req, author, action, name, path)
        else:
            current = _content(out)
            if current is None or sha256_bytes(current) != out.sha256:
                _tampered(session, req, author, action, out)
            model_bytes = current
        new_data = _model_data(
            session, req, author, action, name, model_bytes, train, test, target, categorical
        )
        if path is not None:
            out.source_path = str(Path(path).resolve())
            out.content = model_bytes if out.content is not None else None
            out.sha256, out.size = sha256_bytes(model_bytes), len(model_bytes)
        if old is None:
            out.model_data = new_data
        else:  # the same row (its key is the output's), changed in place
            for column in MODEL_COLUMNS:
                setattr(old, column, getattr(new_data, column))
        out.check_report, out.verdict = None, None
    elif microdata is not None:
        assert path is not None
        data, _, report = _microdata_output(
            session, req, author, action, name, path, microdata, policy
        )
        out.source_path, out.content = None, data
        out.sha256, out.size = sha256_bytes(data), len(data)
        out.check_report, out.verdict = report, str(report["verdict"])
    elif path is not None:
        data, _ = _load_file(session, req, author, action, name, path)
        out.source_path = str(Path(path).resolve())
        out.content = data if out.content is not None else None
        out.sha256, out.size = sha256_bytes(data), len(data)
        out.check_report, out.verdict = None, None
    if description is not None:
        if not description.strip():
            _refuse(
                session,
                author,
                action,
                _subject(req.id),
                f"describe output {name}: what it shows, and how it was made",
                FivesafesError,
            )
        out.description = description.strip()
    if check_report is not None:
        out.check_report, out.verdict = _check_report(
            session, req, author, action, name, check_report
        )
    out.version = old_version + 1
    out.updated_at = req.updated_at = utcnow()
    record(
        session,
        author,
        "airlock.update_output",
        _subject(req.id),
        {
            "output": name,
            "old_sha256": old_sha,
            "sha256": out.sha256,
            "version": out.version,
            "reviews_reset": voided,
            **(_microdata_audit(out.check_report) if microdata is not None else {}),
        },
    )
    session.commit()
    return out


def remove_output(session: Session, request_id: int, author: str, name: str) -> None:
    """Take an output out of a draft or returned request (its reviews go with it;
    the audit log keeps them)."""
    action = "remove_output"
    req = _request(session, request_id, author, action)
    user = _user(session, author, action, _subject(request_id))
    _require_author(session, req, user, action)
    _require_state(session, req, author, action)
    out = _output(session, req, author, action, name)
    for note in req.comments:  # comments stay, on the request as a whole
        if note.output_id == out.id:
            note.output = None
    req.outputs.remove(out)
    req.updated_at = utcnow()
    record(
        session,
        author,
        "airlock.remove_output",
        _subject(req.id),
        {"output": name, "sha256": out.sha256, "reviews_removed": len(out.reviews)},
    )
    session.commit()


def submit(session: Session, request_id: int, author: str) -> ReleaseRequest:
    """Submit a draft (or returned) request for the automatic check and review."""
    action = "submit"
    req = _request(session, request_id, author, action)
    user = _user(session, author, action, _subject(request_id))
    _require_author(session, req, user, action)
    _require_state(session, req, author, action)
    if not req.outputs:
        _refuse(
            session,
            author,
            action,
            _subject(req.id),
            f"request {req.id} has no outputs; add at least one before submitting",
        )
    _move(session, req, action, author, outputs={o.name: o.sha256 for o in req.outputs})
    session.commit()
    return req


def _worst(verdicts: Iterable[str | None]) -> str:
    rank = {v: i for i, v in enumerate(VERDICTS)}
    return max((v or "fail" for v in verdicts), key=lambda v: rank.get(v, len(VERDICTS)))


def record_automatic_check(
    session: Session,
    request_id: int,
    reports: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    check: Check | None = None,
    actor: str = SYSTEM,
    model_policy: Any = None,
) -> ReleaseRequest:
    """Record the disclosure engine's report on every output of a submitted request
    (``submitted`` → ``checked``).

    Each output's report is taken from ``reports`` (by output name), else from
    ``check(name, content)``, else from the report given when the output was added
    (a table of sums from microdata keeps the report of its check when it was
    added, whatever ``check`` would say of the safe table alone).
    A report is a JSON object with at least ``verdict`` (pass, review, suppress or
    fail); only ``pass`` lets a single checker suffice, if the policy allows it,
    and no checker can approve an output that is ``fail``.

    A trained model's report is always the airlock's own model check
    (:func:`fivesafes.outputs.models.check_model`, SACRO-ML's attacks, under
    ``model_policy``, else the TRE's disclosure policy): ``fail`` when the model
    is unsafe, ``pass`` when it is safe. The attacks run before the request is
    locked (they take a while); the model and its data are checked again, by
    SHA-256, under the lock.
    """
    action = "check"
    checked_models = _check_models(session, request_id, actor, action, model_policy)
    req = _request(session, request_id, actor, action)
    if actor != SYSTEM:
        user = _user(session, actor, action, _subject(request_id))
        if not holds(user, Role.OUTPUT_CHECKER, Role.ADMINISTRATOR) or user.id in author_ids(req):
            _refuse(
                session,
                actor,
                action,
                _subject(req.id),
                f"{actor} may not record the automatic check of request {req.id}; the system, "
                "or an output checker or administrator who is not an author, records it",
            )
    _require_state(session, req, actor, action)
    given = dict(reports or {})
    unknown = sorted(set(given) - {o.name for o in req.outputs})
    if unknown:
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"request {req.id} has no output called {unknown[0]!r}; give reports by output name",
            FivesafesError,
        )
    models = sorted(set(given) & {o.name for o in req.outputs if o.model_data is not None})
    if models:
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"output {models[0]} is a trained model: its report is the airlock's own model "
            "check, and none may be given for it",
            FivesafesError,
        )
    verdicts: dict[str, str] = {}
    for out in req.outputs:
        report: Mapping[str, Any] | None
        if out.model_data is not None:
            report = checked_models.get(_model_key(out))
            if report is None:  # changed while the attacks ran
                _tampered(session, req, actor, action, out)
        elif out.name in given:
            report = given[out.name]
        elif _microdata_audit(out.check_report):
            # A table of sums from microdata was checked from its contributions as it
            # was added; the stored safe table alone cannot be checked again.
            report = out.check_report
        elif check is not None:
            data = _content(out)
            if data is None or sha256_bytes(data) != out.sha256:
                _tampered(session, req, actor, action, out)
            report = check(out.name, data)
        else:
            report = out.check_report
        if report is None:
            # The rules cannot read this output (a figure, a document): the checkers
            # judge it unaided, so it needs the full number of reviews.
            report = {
                "verdict": "review",
                "reason": "no disclosure report: the rules could not read this output, so "
                "the checkers review it unaided",
            }
        out.check_report, verdict = _check_report(session, req, actor, action, out.name, report)
        out.verdict = verdicts[out.name] = verdict
    _move(session, req, action, actor, verdicts=verdicts, overall=_worst(verdicts.values()))
    session.commit()
    return req


#: What a model check was run on: the output's name and SHA-256, its data's SHA-256s,
#: its target and its categorical columns (comma-joined; ``None`` when none named).
ModelKey = tuple[str, str, str, str, str, str | None]


def _model_key(out: RequestOutput) -> ModelKey:
    md = out.model_data
    assert md is not None
    cats = None if md.categorical is None else ",".join(md.categorical)
    return (out.name, out.sha256, md.train_sha256, md.test_sha256, md.target, cats)


def _check_models(
    session: Session, request_id: int, actor: str, action: str, policy: Any
) -> dict[ModelKey, dict[str, Any]]:
    """The model check's report on each model output of a submitted request, keyed
    by the output's name, SHA-256s and target (read without a lock; the caller
    matches them under it). Nothing here is written but a refusal."""
    from fivesafes.outputs.models import airlock_report, check_model_files
    from fivesafes.outputs.policy import tre_policy

    session.expire_all()
    req = session.get(ReleaseRequest, request_id)
    if req is None or req.state != State.SUBMITTED.value:
        session.rollback()
        return {}  # the locked step refuses it, saying why
    todo = [o for o in req.outputs if o.model_data is not None]
    if not todo:
        session.rollback()
        return {}
    rules = policy if policy is not None else tre_policy()
    found: dict[ModelKey, dict[str, Any]] = {}
    for out in todo:
        md = out.model_data
        assert md is not None
        data = _content(out)
        if (
            data is None
            or sha256_bytes(data) != out.sha256
            or sha256_bytes(md.train) != md.train_sha256
            or sha256_bytes(md.test) != md.test_sha256
        ):
            _tampered(session, req, actor, action, out)
        with tempfile.TemporaryDirectory(prefix="fivesafes-model-") as tmp:
            folder = Path(tmp)
            model_path, train, test = folder / "model.skops", folder / "train", folder / "test"
            model_path.write_bytes(data)
            train.mkdir()
            test.mkdir()
            (train / md.train_name).write_bytes(md.train)
            (test / md.test_name).write_bytes(md.test)
            try:
                result = check_model_files(
                    model_path,
                    train / md.train_name,
                    test / md.test_name,
                    md.target,
                    rules,
                    categorical=md.categorical,
                )
            except FivesafesError as exc:
                text = str(exc).replace(str(folder) + "/", "")
                _refuse(
                    session,
                    actor,
                    action,
                    _subject(req.id),
                    f"the model check of output {out.name} could not run: {text}",
                    FivesafesError,
                )
        found[_model_key(out)] = airlock_report(result)
    session.rollback()  # end the read: the attacks are done, the lock comes next
    return found


def _tampered(
    session: Session, req: ReleaseRequest, actor: str, action: str, out: RequestOutput
) -> NoReturn:
    _refuse(
        session,
        actor,
        action,
        _subject(req.id),
        f"output {out.name} of request {req.id} is missing or no longer matches the SHA-256 "
        "it was submitted with (it was changed outside the airlock); it cannot be checked, "
        "reviewed or released: tell an administrator, and the authors must update the output",
    )


def start_review(session: Session, request_id: int, checker: str) -> ReleaseRequest:
    """A checker starts the review of a checked request (``checked`` → ``in_review``)."""
    action = "start_review"
    req = _request(session, request_id, checker, action)
    user = _user(session, checker, action, _subject(request_id))
    _require_checker(session, req, user, action)
    _require_state(session, req, checker, action)
    _move(session, req, action, checker)
    session.commit()
    return req


def review(
    session: Session,
    request_id: int,
    output_name: str,
    checker: str,
    decision: str,
    comment: str = "",
) -> Review:
    """A checker's decision on one output: approve, reject or request_changes (the
    last two with a comment). When every output has the approvals it needs, the
    request becomes ``approved``."""
    action = "review"
    req = _request(session, request_id, checker, action)
    user = _user(session, checker, action, _subject(request_id))
    _require_checker(session, req, user, action)
    _require_state(session, req, checker, action)
    try:
        chosen = Decision(decision)
    except ValueError:
        _refuse(
            session,
            checker,
            action,
            _subject(req.id),
            f"{decision!r} is not a review decision; choose {', '.join(d.value for d in Decision)}",
            FivesafesError,
        )
    if chosen != Decision.APPROVE and not comment.strip():
        _refuse(
            session,
            checker,
            action,
            _subject(req.id),
            f"say why in a comment when you {chosen.value.replace('_', ' ')}: "
            "the researcher needs to know what to change",
            FivesafesError,
        )
    out = _output(session, req, checker, action, output_name)
    data = _content(out)
    if data is None or sha256_bytes(data) != out.sha256:
        _tampered(session, req, checker, action, out)
    if chosen == Decision.APPROVE and out.verdict == "fail":
        why = (out.check_report or {}).get("reason") or "the automatic check failed it"
        _refuse(
            session,
            checker,
            action,
            _subject(req.id),
            f"output {out.name} fails the rules ({why}); no checker can approve it: request "
            "changes or reject it, or return the request so that its authors change it",
        )
    mine = current_reviews(req, out).get(user.name)
    if mine is not None and mine.decision == chosen:
        _refuse(
            session,
            checker,
            action,
            _subject(req.id),
            f"{checker} has already decided '{chosen.value}' on output {out.name} (version "
            f"{out.version}); a checker counts once per output: another checker must review it",
        )
    rev = Review(
        checker_id=user.id,
        decision=chosen.value,
        comment=comment.strip(),
        output_version=out.version,
        output_sha256=out.sha256,
    )
    rev.checker = user
    out.reviews.append(rev)
    if comment.strip():
        req.comments.append(Comment(author_id=user.id, output=out, body=comment.strip()))
    session.flush()
    record(
        session,
        checker,
        "airlock.review",
        _subject(req.id),
        {
            "output": out.name,
            "decision": chosen.value,
            "version": out.version,
            "sha256": out.sha256,
            "comment": comment.strip(),
            "replaces": None if mine is None else mine.decision,
        },
    )
    if not _missing(req):
        _move(session, req, "approve", checker, derived=True, approvals=_approvals(req))
    session.commit()
    return rev


def _approvals(req: ReleaseRequest) -> dict[str, list[str]]:
    return {s.name: list(s.approvals) for s in review_status(req)}


def approve(session: Session, request_id: int, checker: str) -> ReleaseRequest:
    """Approve an in-review request whose every output has the approvals it needs
    (the approval is derived from the reviews: this refuses, saying what is missing,
    until they are there; :func:`review` approves by itself once they are)."""
    action = "approve"
    req = _request(session, request_id, checker, action)
    user = _user(session, checker, action, _subject(request_id))
    _require_checker(session, req, user, action)
    _require_state(session, req, checker, action)
    missing = _missing(req)
    if missing:
        _refuse(
            session,
            checker,
            action,
            _subject(req.id),
            f"request {req.id} cannot be approved yet: {'; '.join(missing)}; every output "
            "needs its approvals from independent checkers",
        )
    _move(session, req, action, checker, derived=False, approvals=_approvals(req))
    session.commit()
    return req


def _close(
    session: Session, request_id: int, checker: str, text: str, action: str
) -> ReleaseRequest:
    req = _request(session, request_id, checker, action)
    user = _user(session, checker, action, _subject(request_id))
    _require_checker(session, req, user, action)
    _require_state(session, req, checker, action)
    if not text.strip():
        _refuse(
            session,
            checker,
            action,
            _subject(req.id),
            f"say why in a comment when you {action} request {req.id}",
            FivesafesError,
        )
    req.comments.append(Comment(author_id=user.id, body=text.strip()))
    _move(session, req, action, checker, comment=text.strip())
    session.commit()
    return req


def return_to_researcher(
    session: Session, request_id: int, checker: str, comment: str
) -> ReleaseRequest:
    """A checker returns an in-review request to its authors with comments; they may
    change it and submit it again (reviews of unchanged outputs still count)."""
    return _close(session, request_id, checker, comment, "return")


def reject(session: Session, request_id: int, checker: str, reason: str) -> ReleaseRequest:
    """A checker rejects an in-review request; nothing of it can be released."""
    return _close(session, request_id, checker, reason, "reject")


def add_comment(
    session: Session, request_id: int, actor: str, body: str, output_name: str | None = None
) -> Comment:
    """A comment on a request (or one of its outputs) by an author or a checker."""
    action = "comment"
    req = _request(session, request_id, actor, action)
    user = _user(session, actor, action, _subject(request_id))
    if user.id not in author_ids(req) and not holds(user, Role.OUTPUT_CHECKER):
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"{actor} is neither an author of request {req.id} nor an output checker",
        )
    if not body.strip():
        _refuse(session, actor, action, _subject(req.id), "the comment is empty", FivesafesError)
    out = None if output_name is None else _output(session, req, actor, action, output_name)
    note = Comment(author_id=user.id, output=out, body=body.strip())
    req.comments.append(note)
    session.flush()
    record(
        session,
        actor,
        "airlock.comment",
        _subject(req.id),
        {"output": output_name, "body": body.strip()},
    )
    session.commit()
    return note


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds")


def release(
    session: Session,
    request_id: int,
    actor: str,
    bundle_dir: Path,
    *,
    as_zip: bool = False,
) -> Path:
    """Release an approved request: write its bundle (the outputs, their disclosure
    reports and a manifest with every file's SHA-256) into ``bundle_dir`` and mark
    it ``released``. Returns the bundle's path.

    The approvals and every output's SHA-256 are checked again first: an output
    changed after it was approved, by any path, stops the release.
    """
    action = "release"
    req = _request(session, request_id, actor, action)
    user = _user(session, actor, action, _subject(request_id))
    _require_not_member(session, req, user, action)
    if user.id in author_ids(req) or not holds(user, Role.OUTPUT_CHECKER, Role.ADMINISTRATOR):
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"{actor} may not release request {req.id}; an output checker or administrator "
            "who is not one of its authors releases it",
        )
    _require_state(session, req, actor, action)
    missing = _missing(req)
    if missing and not _missing(req, standing=False):
        # The reviews were enough when they were made, but a checker's standing has
        # changed since (joined the project, lost the role, account closed): the
        # request goes back to the checkers, and nothing is released.
        reason = (
            f"request {req.id} is no longer approved: {'; '.join(missing)}. An approval "
            "stops counting when its checker joins the project, loses the output checker "
            "role or has their account closed; nothing was released, and the request is "
            "back in review for another checker"
        )
        _move(session, req, "reopen", actor, missing=missing)
        record(
            session,
            actor,
            "airlock.refused",
            _subject(req.id),
            {"attempted": action, "reason": reason},
        )
        session.commit()
        raise PolicyRefusal(reason)
    if missing:
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"request {req.id} is marked approved but its reviews do not bear that out: "
            f"{'; '.join(missing)}; nothing was released: tell an administrator",
        )
    bundle_outputs = []
    for out in req.outputs:
        data = _content(out)
        if data is None or sha256_bytes(data) != out.sha256:
            _tampered(session, req, actor, action, out)
        reviews = current_reviews(req, out)
        bundle_outputs.append(
            BundleOutput(
                name=out.name,
                description=out.description,
                content=data,
                sha256=out.sha256,
                report=out.check_report,
                verdict=out.verdict,
                approvals=[
                    {"checker": name, "at": _iso(r.created_at), "decision": r.decision}
                    for name, r in sorted(reviews.items())
                    if r.decision == Decision.APPROVE
                ],
            )
        )
    authors = [req.author.name] + [a.user.name for a in req.co_authors]
    files = bundle_files(
        {
            "id": req.id,
            "project": req.project,
            "title": req.title,
            "authors": authors,
            "created_at": _iso(req.created_at),
        },
        bundle_outputs,
        policy=req.policy,
        released_by=actor,
        released_at=datetime.now(UTC).isoformat(timespec="seconds"),
        audit_head=head(session),
    )
    try:
        path = write_bundle(Path(bundle_dir), f"request-{req.id}", files, as_zip=as_zip)
    except (FivesafesError, OSError) as exc:
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"the bundle of request {req.id} could not be written: {exc}",
            FivesafesError,
        )
    # Every released table goes into the project's release ledger, against which
    # later tables are checked for disclosure by differencing.
    try:
        ledger = record_release(
            session,
            req.project,
            req.id,
            [(out.name, out.check_report) for out in req.outputs],
            released_by=actor,
        )
    except (FivesafesError, OSError) as exc:
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"the release ledger of project {req.project} could not be written: {exc}; "
            f"request {req.id} was not released (its bundle at {path} is not released either)",
            FivesafesError,
        )
    _move(
        session,
        req,
        action,
        actor,
        bundle=str(path),
        manifest_sha256=sha256_bytes(files["manifest.json"]),
        ledger=ledger,
    )
    session.commit()
    return path


# --- reading -----------------------------------------------------------------------------


def get_request(session: Session, request_id: int, actor: str) -> ReleaseRequest:
    """A request, for its authors, output checkers and administrators (the access
    is written to the audit log)."""
    action = "view"
    req = _request(session, request_id, actor, action)
    user = _user(session, actor, action, _subject(request_id))
    if user.id not in author_ids(req) and not holds(user, Role.OUTPUT_CHECKER, Role.ADMINISTRATOR):
        _refuse(
            session,
            actor,
            action,
            _subject(req.id),
            f"{actor} may not see request {req.id}: only its authors, output checkers and "
            "administrators may",
        )
    record(session, actor, "airlock.view", _subject(req.id), {"state": req.state})
    session.commit()
    return req


def read_output(session: Session, request_id: int, output_name: str, actor: str) -> bytes:
    """An output's bytes, for its authors and the checkers (written to the audit log)."""
    req = get_request(session, request_id, actor)
    out = _output(session, req, actor, "read_output", output_name)
    data = _content(out)
    if data is None or sha256_bytes(data) != out.sha256:
        _tampered(session, req, actor, "read_output", out)
    record(session, actor, "airlock.read_output", _subject(req.id), {"output": out.name})
    session.commit()
    return data


def list_requests(session: Session, actor: str, state: str | None = None) -> list[ReleaseRequest]:
    """The requests ``actor`` may see (their own; all of them for output checkers and
    administrators), optionally in one state; the listing is written to the audit log."""
    user = _user(session, actor, "list", "requests")
    query = select(ReleaseRequest).order_by(ReleaseRequest.id)
    if state is not None:
        if state not in {s.value for s in State}:
            raise FivesafesError(
                f"{state!r} is not a request state; choose one of {', '.join(State)}"
            )
        query = query.where(ReleaseRequest.state == state)
    found = list(session.scalars(query))
    if not holds(user, Role.OUTPUT_CHECKER, Role.ADMINISTRATOR):
        found = [r for r in found if user.id in author_ids(r)]
    record(session, actor, "airlock.list", "requests", {"state": state, "count": len(found)})
    session.commit()
    return found


def _attribute_rows(report: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The attribute-inference attack's result per feature in a model check's report
    (its name, kind, risk ratio, p-value and whether it is at risk); ``None`` when
    the attack did not run (the policy does not ask for it, or no check yet)."""
    attacks = ((report or {}).get("model_check") or {}).get("attacks", [])
    for attack in attacks:
        if attack.get("name") == "attribute" and "attributes" in attack:
            keep = ("name", "kind", "risk_ratio", "p_value", "at_risk")
            return [{k: row.get(k) for k in keep} for row in attack["attributes"]]
    return None


def _microdata_summary(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """For a table of sums from microdata: what it was made from (``table``), the
    check's notes and, per withheld cell, the attacker's bounds (as ``fivesafes
    outputs check-table --microdata`` reports them)."""
    if not _microdata_audit(report):
        return {}
    assert report is not None
    return {
        "table": dict(report["table"]),
        "notes": list(report.get("notes") or []),
        "attacker_bounds": list(report.get("attacker_bounds") or []),
    }


def summary(req: ReleaseRequest) -> dict[str, Any]:
    """A request as plain data (for ``--json`` and the web app)."""
    return {
        "id": req.id,
        "project": req.project,
        "title": req.title,
        "state": req.state,
        "author": req.author.name,
        "co_authors": [a.user.name for a in req.co_authors],
        "policy": req.policy,
        "allowed_actions": allowed_actions(req.state),
        "outputs": [
            {
                "name": out.name,
                "description": out.description,
                "sha256": out.sha256,
                "bytes": out.size,
                "version": out.version,
                "verdict": out.verdict,
                "kind": out.kind,
                **(
                    {
                        "model": {
                            "target": out.model_data.target,
                            "train": out.model_data.train_name,
                            "test": out.model_data.test_name,
                            "categorical": out.model_data.categorical,
                            "verdict": ((out.check_report or {}).get("model_check") or {}).get(
                                "verdict"
                            ),
                            "attributes": _attribute_rows(out.check_report),
                        }
                    }
                    if out.model_data is not None
                    else {}
                ),
                **_microdata_summary(out.check_report),
                "approvals": list(status.approvals),
                "required": status.required,
                "held_back_by": list(status.held_back_by),
            }
            for out, status in zip(req.outputs, review_status(req), strict=True)
        ],
        "comments": [
            {
                "by": c.author.name,
                "output": None if c.output is None else c.output.name,
                "body": c.body,
                "at": _iso(c.created_at),
            }
            for c in req.comments
        ],
    }
