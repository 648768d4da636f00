"""A project's side of the airlock: release requests started from a project, and
its released outputs.

Every rule of the airlock stays in :mod:`fivesafes.outputs.airlock` (states,
who may review, the two-checker rule, release); this module only adds what a
project knows: a request belongs to the project whose name (``Project.slug``) it
carries, only the project's members start one, and only once their learning plan
for the project is complete. A table of counts is checked by the disclosure
rules when it is added (as ``fivesafes airlock add --value`` does): its safe
version goes into the request with the report; a trained model goes in with the
data it was fitted on (checked by the model check on submission; only a member
who has passed the course on protecting privacy in AI models may add or submit
one); anything else is left for the checkers to judge unaided.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb import state_dir
from fivesafes.appdb.models import ReleaseRequest, User
from fivesafes.audit import details_of, entries
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.outputs import airlock
from fivesafes.projects.applications import (
    FormErrors,
    outstanding_courses,
    require_member_access,
)
from fivesafes.projects.models import Project, ProjectState

#: Where released bundles are written: ``$FIVESAFES_BUNDLES``, else ``<state dir>/bundles``.
BUNDLES_ENV = "FIVESAFES_BUNDLES"

#: The airlock's verdict for each overall status of a disclosure check (as the CLI).
VERDICTS = {"pass": "pass", "round": "suppress", "suppress": "suppress", "review": "review"}


def bundle_root(folder: Path | None = None) -> Path:
    if folder is not None:
        return folder
    value = os.environ.get(BUNDLES_ENV)
    return Path(value) if value else state_dir() / "bundles"


def requests_of(session: Session, project: Project) -> list[ReleaseRequest]:
    """The project's release requests, newest first."""
    query = (
        select(ReleaseRequest)
        .where(ReleaseRequest.project == project.slug)
        .order_by(ReleaseRequest.id.desc())
    )
    return list(session.scalars(query))


def request_of(session: Session, project: Project, request_id: int) -> ReleaseRequest:
    """A request of this project (another project's request is not found here)."""
    session.expire_all()
    req = session.get(ReleaseRequest, request_id)
    if req is None or req.project != project.slug:
        raise FivesafesError(f"project {project.id} has no release request {request_id}")
    return req


def require_plan_complete(
    session: Session, project: Project, user: User, action: str, outputs: Sequence[str] = ()
) -> None:
    """Refuse ``action`` while the user's learning plan for the project is incomplete
    (with the courses that releasing ``outputs``, e.g. ``model``, requires)."""
    missing = outstanding_courses(session, project, user, outputs)
    if missing:
        titles = ", ".join(str(getattr(c, "title", c)) for c in missing)
        raise PolicyRefusal(
            f"{user.name} must complete their learning plan for project {project.id} before "
            f"they can {action}: still to pass {titles}"
        )


def start_request(session: Session, project: Project, user: User, title: str) -> ReleaseRequest:
    """A member starts a release request for the project (``draft``); the project's
    other members are its co-authors: any of them may work on it, and none of them
    may ever review it."""
    if not title.strip():
        raise FormErrors({"title": "Give the request a title."})
    require_member_access(session, project, user, "start a release request")
    if project.state != ProjectState.APPROVED:
        raise PolicyRefusal(f"project {project.id} is {project.state}; it is not approved")
    require_plan_complete(session, project, user, "request a release")
    assert project.slug is not None
    others = [m.user.name for m in project.members if m.user_id != user.id]
    return airlock.create_request(
        session, user.name, project.slug, title.strip(), co_authors=others
    )


def checked_table(file: Path, value: str, folder: Path) -> tuple[Path, dict[str, Any]]:
    """Check a long-format table of counts under the TRE's policy: its safe version
    (written into ``folder``) and the disclosure report with the airlock verdict."""
    from fivesafes.outputs.check import check_table_csv
    from fivesafes.outputs.policy import tre_policy

    safe = folder / file.name
    result = check_table_csv(file, value, tre_policy(), out=safe)
    report = result.to_dict()
    report["verdict"] = VERDICTS.get(result.status, "review")
    return safe, report


def add_output(
    session: Session,
    project: Project,
    request_id: int,
    user: User,
    name: str,
    description: str,
    content: bytes,
    file_name: str,
    value_column: str = "",
    microdata: bool = False,
    person_column: str = "",
) -> None:
    """Add an output to a draft or returned request: the file's bytes (from the
    workspace or uploaded), and, for a table of counts (``value_column`` named), its
    safe version and disclosure report. With ``microdata``, the file is microdata
    (one row per contribution; ``value_column`` the amount, ``person_column``
    optionally whose contribution each row is) and the output is its safe table of
    sums (:class:`fivesafes.outputs.airlock.MicrodataTable`: the microdata itself is
    not kept). Bad input raises :class:`FormErrors`; a user who is not a member
    meeting the membership rule today is refused."""
    request_of(session, project, request_id)
    require_member_access(session, project, user, "add an output to a release request")
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Give the output a name."
    elif not airlock._NAME.match(name.strip()):
        errors["name"] = "Use letters, digits, spaces, '.', '_' and '-', starting with a letter."
    if not description.strip():
        errors["description"] = "Describe what the output shows and how it was made."
    if not content:
        errors["file"] = "Choose a workspace file or upload one (it must not be empty)."
    if microdata and not value_column.strip():
        errors["value_column"] = (
            "Name the amount column: with microdata, the column holding each contribution's amount."
        )
    if person_column.strip() and not microdata:
        errors["person_column"] = (
            "A person column is for microdata: choose microdata, or leave it blank."
        )
    if errors:
        raise FormErrors(errors)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "original" / (Path(file_name).name or "output")
        path.parent.mkdir()
        path.write_bytes(content)
        report = None
        if microdata:
            from fivesafes.outputs.check import read_microdata_csv

            table = airlock.MicrodataTable(value_column.strip(), person_column.strip() or None)
            try:  # bad microdata is the form's to say, naming the file, row and field
                read_microdata_csv(path, table.value, table.person)
            except FivesafesError as exc:
                text = str(exc).replace(str(folder / "original") + os.sep, "")
                field = getattr(exc, "field", None)
                wrong = "person_column" if field and field == table.person else "value_column"
                raise FormErrors({wrong: text}) from None
            airlock.add_output(
                session, request_id, user.name, name.strip(), path, description, microdata=table
            )
            return
        if value_column.strip():
            (folder / "safe").mkdir()
            try:
                path, report = checked_table(path, value_column.strip(), folder / "safe")
            except FivesafesError as exc:
                text = str(exc).replace(str(folder / "original") + os.sep, "")
                raise FormErrors({"value_column": text}) from None
        airlock.add_output(
            session, request_id, user.name, name.strip(), path, description, check_report=report
        )


def add_model_output(
    session: Session,
    project: Project,
    request_id: int,
    user: User,
    name: str,
    description: str,
    model: tuple[str, bytes],
    train: tuple[str, bytes],
    test: tuple[str, bytes],
    target: str,
    categorical: str | Sequence[str] = "",
) -> None:
    """Add a trained model (a skops file, by name and bytes) with the CSVs it was
    fitted and tested on, its target column and, optionally, the feature columns the
    attribute-inference attack treats as categorical (``categorical``, separated by
    commas, or a list; blank or empty: the check decides from the values). Only a
    member who has passed the courses releasing a model requires may; bad input
    raises :class:`FormErrors`
    by field (``model``, ``train``, ``test``, ``target``, ``categorical``, ``name``,
    ``description``)."""
    request_of(session, project, request_id)
    require_member_access(session, project, user, "add a model to a release request")
    require_plan_complete(
        session, project, user, "put a trained model into a release request", MODEL
    )
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Give the output a name."
    elif not airlock._NAME.match(name.strip()):
        errors["name"] = "Use letters, digits, spaces, '.', '_' and '-', starting with a letter."
    if not description.strip():
        errors["description"] = (
            "Describe what the model predicts, from what, and how it was fitted."
        )
    for field, (_, data), what in (
        ("model", model, "the model file (saved with skops)"),
        ("train", train, "the CSV the model was fitted on"),
        ("test", test, "the CSV of held-out rows"),
    ):
        if not data:
            errors[field] = f"Choose {what} (it must not be empty)."
    if not target.strip():
        errors["target"] = "Name the target column (the label the model predicts)."
    if errors:
        raise FormErrors(errors)
    parts = categorical.split(",") if isinstance(categorical, str) else categorical
    named = [c.strip() for c in parts if c.strip()]
    cats = tuple(named) if named else None
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for sub, (file_name, data) in (("model", model), ("train", train), ("test", test)):
            folder = Path(tmp) / sub
            folder.mkdir()
            paths.append(folder / (Path(file_name).name or sub))
            paths[-1].write_bytes(data)
        try:
            airlock.add_output(
                session,
                request_id,
                user.name,
                name.strip(),
                paths[0],
                description,
                model=airlock.ModelInputs(paths[1], paths[2], target.strip(), cats),
            )
        except PolicyRefusal:
            raise
        except FivesafesError as exc:
            text = str(exc)
            for sub in ("model", "train", "test"):
                text = text.replace(str(Path(tmp) / sub) + os.sep, "")
            field = _field_of(text, paths[1].name, paths[2].name)
            raise FormErrors({field: text}) from None


#: The kinds of output a trained model is, for precision training.
MODEL = ("model",)


def _field_of(text: str, train_name: str, test_name: str) -> str:
    """The form field a refusal of a model output is about: the airlock's sentence
    is ``model output NAME: FILE: why``."""
    if "as categorical" in text:
        return "categorical"
    if "target column" in text:
        return "target"
    rest = text.split(": ", 1)[-1]
    if rest.startswith(f"{train_name}:"):
        return "train"
    if rest.startswith(f"{test_name}:"):
        return "test"
    return "model"


def submit_request(session: Session, project: Project, request_id: int, user: User) -> None:
    """Submit the request; the automatic check then records every output's report
    (for a trained model, the model check's attacks: this takes a while)."""
    req = request_of(session, project, request_id)
    require_member_access(session, project, user, "submit a release request")
    kinds = MODEL if any(o.model_data is not None for o in req.outputs) else ()
    require_plan_complete(session, project, user, "submit a release request", kinds)
    airlock.submit(session, request_id, user.name)
    airlock.record_automatic_check(session, request_id)


def bundle_of(session: Session, request_id: int) -> Path | None:
    """The released bundle of a request, as the audit log recorded it at release."""
    found = entries(session, subject=f"request:{request_id}", action="airlock.release")
    for entry in reversed(found):
        path = details_of(entry).get("bundle")
        if path and Path(path).exists():
            return Path(path)
    return None


def download_bundle(session: Session, project: Project, request_id: int, user: User) -> Path:
    """The released bundle of the project's request, for a member who meets the
    membership rule today (:func:`require_member_access`; an administrator who is
    not a member too); the download is written to the audit log
    (``airlock.download``). No bundle: :class:`FivesafesError`."""
    from fivesafes.audit import record
    from fivesafes.projects.applications import is_admin, membership

    req = request_of(session, project, request_id)
    if membership(session, project.id, user.id) is not None or not is_admin(session, user):
        require_member_access(session, project, user, "download a released bundle")
    path = bundle_of(session, req.id)
    if path is None or not path.is_file():
        raise FivesafesError(f"release request {req.id} has no released bundle to download")
    record(session, user.name, "airlock.download", f"request:{req.id}", {"bundle": path.name})
    session.commit()
    return path


def released_outputs(session: Session, project: Project) -> list[dict[str, Any]]:
    """The outputs released from a project: name, request, release date."""
    out: list[dict[str, Any]] = []
    query = (
        select(ReleaseRequest)
        .where(
            ReleaseRequest.project == project.slug,
            ReleaseRequest.state == airlock.State.RELEASED.value,
        )
        .order_by(ReleaseRequest.id)
    )
    for req in session.scalars(query):
        released = req.updated_at
        for o in req.outputs:
            out.append(
                {
                    "name": o.name,
                    "request": req.id,
                    "request_title": req.title,
                    "released": _date(released),
                }
            )
    return out


def _date(moment: Any) -> str:
    from fivesafes.appdb.models import as_utc

    return str(as_utc(moment).date().isoformat())
