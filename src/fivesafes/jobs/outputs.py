"""A job's outputs: every file it wrote, checked by the disclosure engine as the job
finishes, and putting one into a release request (the airlock).

A CSV table of counts in long format (one row per cell, a count column named
``n``, ``count``, ``value``, ``frequency``, ``number``, ``persons``, ``people``
or ``records``) is checked by the rules
of ``fivesafes outputs check-table`` under the TRE's policy: ``pass``, or
``suppress`` when cells must be suppressed or rounded. Anything else (another
table, a figure, a model's estimates, a log) is ``review``: a checker judges it
by eye. The check is made by the runner outside the sandbox, on the bytes the job
left; nothing the job itself wrote about its outputs is trusted.

A trained model is a skops file (``model.skops``) with a manifest beside it
named after it (``model.skops.json``)::

    {"train": "train.csv", "test": "test.csv", "target": "outcome"}

naming the CSVs (among the job's outputs, relative to the manifest's folder) it
was fitted and tested on and their label column, and optionally
``"categorical": ["sex", "region"]``, the feature columns the attribute-inference
attack treats as categorical (as ``fivesafes airlock add --categorical``). Put
into a release request, the model goes in as a model output with that data (which
stays inside the TRE: the train and test CSVs themselves can never be put into a
request), and the airlock's model check runs on submission. Its verdict here is ``review``.

Nothing leaves the TRE from here: an output goes out only in a release request,
through the airlock's two checkers.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from fivesafes.appdb.models import ReleaseRequest, User
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.jobs.models import JobOutput, Verdict

#: How a job's trained model is named (a skops archive); its manifest adds ``.json``.
MODEL_SUFFIX = ".skops"
#: The keys of a model's manifest.
MANIFEST_KEYS = ("train", "test", "target")
#: The keys a model's manifest may have besides.
MANIFEST_OPTIONAL = ("categorical",)

#: Names of the count column that make a CSV a table of counts for the rules.
COUNT_COLUMNS = ("n", "count", "value", "frequency", "number", "persons", "people", "records")
#: The airlock's verdict for each overall status of a disclosure check.
VERDICTS = {"pass": "pass", "round": "suppress", "suppress": "suppress", "review": "review"}


@dataclass
class Checked:
    verdict: str
    note: str
    report: dict[str, Any] | None
    value_column: str | None


def count_column(content: bytes) -> str | None:
    """The count column of a CSV's header line, if exactly one is named as one."""
    head = content.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lstrip("\ufeff")
    names = [c.strip().strip('"').lower() for c in head.split(",")]
    found = [c for c in head.split(",") if c.strip().strip('"').lower() in COUNT_COLUMNS]
    if len(found) != 1 or len(names) < 2:
        return None
    return found[0].strip().strip('"')


def check_output(name: str, content: bytes) -> Checked:
    """The disclosure engine's verdict on one file a job wrote (see the module doc)."""
    from fivesafes.outputs.check import check_table_csv
    from fivesafes.outputs.policy import tre_policy

    if name.lower().endswith(MODEL_SUFFIX):
        return Checked(
            Verdict.REVIEW.value,
            f"a trained model: with its manifest {Path(name).name}.json (train, test, target) "
            "it goes into a release request as a model, checked by the attacks on submission",
            None,
            None,
        )
    if name.lower().endswith(MODEL_SUFFIX + ".json"):
        return Checked(
            Verdict.REVIEW.value,
            f"the manifest of the model {Path(name).name[: -len('.json')]}",
            None,
            None,
        )
    if not name.lower().endswith(".csv"):
        return Checked(
            Verdict.REVIEW.value, "not a table of counts: for a checker's eye", None, None
        )
    column = count_column(content)
    if column is None:
        return Checked(
            Verdict.REVIEW.value,
            f"a CSV without one count column ({', '.join(COUNT_COLUMNS)}): for a checker's eye",
            None,
            None,
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(content)
        try:
            result = check_table_csv(path, column, tre_policy())
        except FivesafesError as exc:
            text = str(exc).replace(str(path), Path(name).name)
            return Checked(
                Verdict.REVIEW.value,
                f"not a long-format table of counts ({text}): for a checker's eye",
                None,
                column,
            )
    report = result.to_dict()
    verdict = VERDICTS.get(result.status, Verdict.REVIEW.value)
    report["verdict"] = verdict
    counts = result.counts()
    note = f"table of counts ({column}): " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    return Checked(verdict, note, report, column)


def output_row(name: str, content: bytes) -> JobOutput:
    """A checked output ready to be stored with its job."""
    checked = check_output(name, content)
    return JobOutput(
        name=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        verdict=checked.verdict,
        note=checked.note,
        report=checked.report,
    )


def add_to_release_request(
    session: Session,
    project_id: int,
    job_id: int,
    output_id: int,
    user: User,
    *,
    request_id: int | None = None,
    request_title: str | None = None,
    description: str = "",
    name: str | None = None,
) -> ReleaseRequest:
    """Put a job's output into a release request of its project: the given draft or
    returned one (``request_id``), else a new one (titled ``request_title``, or
    after the job). A table of counts goes in as its safe version with the
    disclosure report, as ``fivesafes airlock add --value`` does. Only a member
    whose learning plan is complete may (the airlock's and the project's rules
    apply; a refusal raises :class:`~fivesafes.errors.PolicyRefusal`)."""
    from fivesafes.jobs.queue import get_output
    from fivesafes.projects.applications import get_project

    project = get_project(session, project_id)
    out = get_output(session, project_id, job_id, output_id)
    job = out.job
    for other in job.outputs:
        if other.name.lower().endswith(MODEL_SUFFIX) and other.id != out.id:
            found = _manifest(job, other, required=False)
            if found is not None and out.name in (found[0].name, found[1].name):
                raise PolicyRefusal(
                    f"{out.name} is the data the model {other.name} of job {job.id} was fitted "
                    "or tested on: it stays inside the TRE and cannot be put into a release "
                    "request (the model check reads it when the model is submitted)"
                )
    flat = out.name.replace("/", "_")
    if name is None:
        stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in flat)
        name = f"job{job.id}_{stem}"
    description = description.strip() or (
        f"{out.name}, written by job {job.id} ({job.title}) of project {project.id}; "
        f"sha256 {out.sha256}; disclosure check: {out.verdict}"
    )
    if out.name.lower().endswith(MODEL_SUFFIX):
        return _model_into_request(
            session, project, job, out, user, name, description, request_id, request_title
        )
    column = count_column(out.content) if out.name.lower().endswith(".csv") else None
    if column is not None and out.report is None:
        column = None  # not a table the rules could read: it goes in as it is
    return _into_request(
        session,
        project,
        job,
        user,
        content=out.content,
        filename=Path(out.name).name,
        name=name,
        description=description,
        value_column=column or "",
        request_id=request_id,
        request_title=request_title,
        audit={"output": out.name, "sha256": out.sha256},
    )


def _manifest(
    job: Any, model: JobOutput, *, required: bool = True
) -> tuple[JobOutput, JobOutput, str, list[str] | None] | None:
    """The train and test outputs, the target and the categorical columns (``None``
    if not named) the model's manifest names; a missing or bad manifest is a
    :class:`FivesafesError` naming it and its key (or None, when not ``required``)."""
    manifest_name = model.name + ".json"
    by_name = {o.name: o for o in job.outputs}
    manifest = by_name.get(manifest_name)

    def bad(why: str) -> None:
        if required:
            raise FivesafesError(f"job {job.id}: {manifest_name}: {why}")

    if manifest is None:
        bad(
            "no such output: a job's model needs a manifest beside it, "
            '{"train": "train.csv", "test": "test.csv", "target": "outcome"}, naming the '
            "CSVs it was fitted and tested on (among the job's outputs) and the label column"
        )
        return None
    try:
        data = json.loads(manifest.content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        bad(f"not a JSON object ({exc})")
        return None
    if not isinstance(data, dict):
        bad("not a JSON object")
        return None
    for key in MANIFEST_KEYS:
        if not isinstance(data.get(key), str) or not data[key].strip():
            bad(f"key {key!r} is missing or not a name (it needs {', '.join(MANIFEST_KEYS)})")
            return None
    unknown = sorted(set(data) - set(MANIFEST_KEYS) - set(MANIFEST_OPTIONAL))
    if unknown:
        bad(
            f"unknown key {unknown[0]!r} (the keys are {', '.join(MANIFEST_KEYS)}, "
            f"and optionally {', '.join(MANIFEST_OPTIONAL)})"
        )
        return None
    categorical = data.get("categorical")
    if categorical is not None and not (
        isinstance(categorical, list) and all(isinstance(c, str) and c.strip() for c in categorical)
    ):
        bad("key 'categorical' is not a list of column names")
        return None
    folder = posixpath.dirname(model.name)
    found = []
    for key in ("train", "test"):
        wanted = posixpath.normpath(posixpath.join(folder, data[key]))
        if wanted not in by_name:
            bad(f"{key!r} names {data[key]!r}, which job {job.id} did not write")
            return None
        found.append(by_name[wanted])
    return found[0], found[1], data["target"].strip(), categorical


def _request_for(
    session: Session,
    project: Any,
    job: Any,
    user: User,
    request_id: int | None,
    request_title: str | None,
    kind: str,
) -> ReleaseRequest:
    """The release request a job's output goes into: a new one (titled after the
    job unless a title is given), or ``request_id``, of which ``user`` must be an
    author."""
    from fivesafes.projects import release

    if request_id is None:
        return release.start_request(
            session, project, user, (request_title or f"{kind} of job {job.id}: {job.title}")
        )
    req = release.request_of(session, project, request_id)
    if user.name != req.author.name and not any(a.user_id == user.id for a in req.co_authors):
        raise PolicyRefusal(f"{user.name} is not an author of release request {req.id}")
    return req


def _model_into_request(
    session: Session,
    project: Any,
    job: Any,
    out: JobOutput,
    user: User,
    name: str,
    description: str,
    request_id: int | None,
    request_title: str | None,
) -> ReleaseRequest:
    from fivesafes.audit import record
    from fivesafes.projects import release

    found = _manifest(job, out)
    assert found is not None
    train, test, target, categorical = found
    # the course on models first, before a request is started for it
    release.require_plan_complete(
        session, project, user, "put a trained model into a release request", release.MODEL
    )
    req = _request_for(session, project, job, user, request_id, request_title, "Model")
    release.add_model_output(
        session,
        project,
        req.id,
        user,
        name,
        description,
        (Path(out.name).name, out.content),
        (Path(train.name).name, train.content),
        (Path(test.name).name, test.content),
        target,
        categorical or "",
    )
    record(
        session,
        user.name,
        "job.output_to_request",
        f"job:{job.id}",
        {
            "output": out.name,
            "sha256": out.sha256,
            "kind": "model",
            "train": train.name,
            "test": test.name,
            "request": req.id,
        },
    )
    session.commit()
    return release.request_of(session, project, req.id)


def add_log_to_release_request(
    session: Session,
    project_id: int,
    job_id: int,
    user: User,
    *,
    request_id: int | None = None,
    description: str = "",
) -> ReleaseRequest:
    """Ask for a job's printed log as an output: it goes into a release request like
    any other file (for the checkers' eyes; it may hold rows). A researcher never
    reads it otherwise."""
    from fivesafes.jobs.queue import get_job
    from fivesafes.projects.applications import get_project

    project = get_project(session, project_id)
    job = get_job(session, project_id, job_id)
    if job.state not in ("succeeded", "failed", "killed", "cancelled"):
        raise FivesafesError(f"job {job.id} has not finished; its log is not complete")
    if job.log is None:
        why = job.reason or "it was not run"
        raise FivesafesError(f"job {job.id} kept no log to ask for ({why})")
    content = job.log or b""
    digest = hashlib.sha256(content).hexdigest()
    return _into_request(
        session,
        project,
        job,
        user,
        content=content,
        filename=f"job{job.id}.log",
        name=f"job{job.id}_log",
        description=description.strip()
        or f"What job {job.id} ({job.title}) printed; sha256 {digest}",
        value_column="",
        request_id=request_id,
        request_title=None,
        audit={"output": "(log)", "sha256": digest},
    )


def _into_request(
    session: Session,
    project: Any,
    job: Any,
    user: User,
    *,
    content: bytes,
    filename: str,
    name: str,
    description: str,
    value_column: str,
    request_id: int | None,
    request_title: str | None,
    audit: dict[str, Any],
) -> ReleaseRequest:
    from fivesafes.audit import record
    from fivesafes.projects import release

    req = _request_for(session, project, job, user, request_id, request_title, "Outputs")
    release.add_output(
        session,
        project,
        req.id,
        user,
        name,
        description,
        content,
        filename,
        value_column=value_column,
    )
    record(
        session, user.name, "job.output_to_request", f"job:{job.id}", {**audit, "request": req.id}
    )
    session.commit()
    return release.request_of(session, project, req.id)
