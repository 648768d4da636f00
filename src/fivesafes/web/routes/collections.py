"""Data collections in the browser, over :mod:`fivesafes.collections.submissions`
(every rule is there: who sees which submission, errors blocking acceptance,
warnings needing explanations).

A provider's data owner uploads a return, reads its report (every error and
warning with row, field, value and message), explains the warnings and accepts
it; an administrator sees every provider's submissions. The collections folder
is ``$FIVESAFES_COLLECTIONS_DIR``, else ``<state dir>/collections``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from fivesafes.appdb.models import Role, User
from fivesafes.collections import submissions as subs
from fivesafes.collections.checking import check_return
from fivesafes.collections.report import STATUS_WORDS
from fivesafes.collections.spec import available, load_spec, parse_period
from fivesafes.errors import FivesafesError, InputError, PolicyRefusal
from fivesafes.web.deps import DB, Forbidden, require_role
from fivesafes.web.forms import Posted
from fivesafes.web.i18n import Labels, _, current, gettext_plain
from fivesafes.web.templating import flash, render
from fivesafes.web.uploads import CheckWorkers, save_upload

router = APIRouter()

DataOwner = Annotated[User, Depends(require_role(Role.DATA_OWNER.value))]
# The largest return taken through the browser is the site's upload limit
# ($FIVESAFES_MAX_UPLOAD_MB, app.state.max_upload; bigger ones: the command line).
#: Issues shown on the page (the CSV has every one).
PAGE_ISSUES = 500
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,200}$")


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _index(
    request: Request,
    db: Session,
    user: User,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    providers = subs.providers_of(db, user)
    return render(
        request,
        "collections/index.html",
        status_code=status_code,
        submissions=subs.list_submissions(db, user.name),
        providers=[(p.code, f"{p.name} ({p.code})") for p in providers],
        collections=[(name, _spec_title(load_spec(name))) for name in available()],
        status_words=Labels(STATUS_WORDS),
        errors=errors or {},
        values=values or {},
    )


@router.get("/collections", response_class=HTMLResponse)
def collections_index(request: Request, user: DataOwner, db: DB) -> HTMLResponse:
    return _index(request, db, user)


@router.post("/collections", response_class=HTMLResponse)
async def collections_submit(request: Request, user: DataOwner, db: DB) -> Response:
    form = await request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    errors: dict[str, str] = {}
    if values.get("collection") not in available():
        errors["collection"] = _("Choose the collection the return is for.")
    mine = [p.code for p in subs.providers_of(db, user)]
    if len(mine) > 1 and values.get("provider") not in mine:
        errors["provider"] = _("Choose the provider you are submitting the return for.")
    year_text = values.get("year", "")
    if not re.fullmatch(r"(19|20|21)[0-9]{2}(-(0[1-9]|1[0-2]))?", year_text):
        errors["year"] = _(
            "Enter the collection year as four digits, for example 2022 (for a "
            "monthly collection the month, for example 2025-04)."
        )
    name = ""
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = _("Choose the file of the return (CSV, UTF-8).")
    else:
        name = Path(upload.filename).name
        if not _NAME.match(name):
            errors["file"] = _("Give the file a plain name (letters, digits, dots, dashes).")
    if errors:
        return _index(request, db, user, errors, values, 422)
    assert isinstance(upload, UploadFile)
    folder = Path(tempfile.mkdtemp(prefix="fivesafes-upload-"))
    path = folder / name
    limit: int = request.app.state.max_upload
    if not await save_upload(upload, path, limit):
        shutil.rmtree(folder, ignore_errors=True)
        errors["file"] = _(
            "The file is larger than %(mb)s MB; submit it with "
            "`fivesafes collections submit` instead.",
            mb=limit // 2**20,
        )
        return _index(request, db, user, errors, values, 422)
    workers: CheckWorkers = request.app.state.check_workers

    def check() -> subs.SubmitResult:
        return subs.submit(
            db,
            user.name,
            values["collection"],
            parse_period(year_text),
            path,
            provider=values.get("provider") or None,
            run_check=lambda *args: workers.run(check_return, *args),
        )

    try:
        # In a worker thread: checking a large return takes seconds, and in the
        # event loop it would hold up every other request of the site meanwhile.
        result = await run_in_threadpool(check)
    except InputError as exc:
        db.rollback()
        return _index(request, db, user, {"file": str(exc)}, values, 422)
    except PolicyRefusal as exc:
        db.rollback()
        return _index(request, db, user, {"provider": str(exc)}, values, 422)
    except FivesafesError as exc:
        db.rollback()
        return _index(request, db, user, {"file": str(exc)}, values, 422)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sub = result.submission
    flash(
        request,
        db,
        _(
            "Submission %(id)s checked: %(status)s",
            id=sub.id,
            status=gettext_plain(STATUS_WORDS.get(sub.status, sub.status)),
        ),
    )
    db.commit()
    return _back(f"/collections/submissions/{sub.id}")


def _submission(db: Session, user: User, submission_id: int) -> Any:
    try:
        return subs.get_submission(db, user.name, submission_id)
    except PolicyRefusal:
        raise HTTPException(404, _("There is no such submission among yours.")) from None


def _spec_title(spec: Any) -> str:
    """A collection's title in the reader's language (``title_cy`` for Welsh, when the
    rule file gives one)."""
    return spec.title_cy if current() == "cy" and spec.title_cy else spec.title


def _page(
    request: Request,
    db: Session,
    user: User,
    submission_id: int,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    sub = _submission(db, user, submission_id)
    data = subs.submission_dict(sub)
    spec = load_spec(sub.collection)
    issues: list[tuple[Any, ...]] = []
    csv_path = Path(data["report_csv"])
    if csv_path.exists():
        con = duckdb.connect()
        try:
            issues = con.execute(
                "SELECT * FROM read_csv(?, all_varchar=true, header=true) LIMIT ?",
                [str(csv_path), PAGE_ISSUES],
            ).fetchall()
        finally:
            con.close()
    left = subs.outstanding(db, user.name, sub.id) if sub.status == "needs_explanation" else []
    warning_rules = sorted({r for r, _count in left})
    mine = sub.provider_id in {p.id for p in subs.providers_of(db, user)}
    return render(
        request,
        "collections/submission.html",
        status_code=status_code,
        sub=data,
        status_words=Labels(STATUS_WORDS),
        rules=[
            (rule_id, spec.rule(rule_id).severity, n, spec.rule(rule_id).message)
            for rule_id, n in data["issues_by_rule"].items()
        ],
        issues=issues,
        shown=len(issues),
        total=sub.errors + sub.warnings,
        outstanding=len(left),
        warning_rules=[(r, r) for r in warning_rules],
        can_explain=mine and sub.status == "needs_explanation",
        can_accept=(mine or subs.is_admin(user)) and sub.status == "ready",
        errors=errors or {},
        values=values or {},
    )


@router.get("/collections/submissions/{submission_id}", response_class=HTMLResponse)
def collections_submission(
    request: Request, user: DataOwner, submission_id: int, db: DB
) -> HTMLResponse:
    return _page(request, db, user, submission_id)


@router.post("/collections/submissions/{submission_id}/explain", response_class=HTMLResponse)
def collections_explain(
    request: Request, user: DataOwner, submission_id: int, db: DB, form: Posted
) -> Response:
    _submission(db, user, submission_id)
    values = dict(form)
    errors: dict[str, str] = {}
    rows: list[int] = []
    for part in re.split(r"[\s,]+", values.get("rows", "")):
        if not part:
            continue
        if not re.fullmatch(r"[0-9]{1,9}", part):  # not str.isdigit: '²' is a digit
            errors["rows"] = _("Give row numbers separated by commas, or leave it blank.")
            break
        rows.append(int(part))
    if not values.get("rule"):
        errors["rule"] = _("Choose the rule whose warnings you explain.")
    if len(values.get("text", "")) < 5:
        errors["text"] = _("Write the explanation in words.")
    if not errors:
        try:
            subs.explain(db, user.name, submission_id, values["rule"], values["text"], rows)
        except PolicyRefusal as exc:
            db.rollback()
            raise Forbidden(reason=str(exc)) from None
        except FivesafesError as exc:
            db.rollback()
            errors["text"] = str(exc)
    if errors:
        return _page(request, db, user, submission_id, errors, values, 422)
    flash(request, db, _("Explanation recorded."))
    db.commit()
    return _back(f"/collections/submissions/{submission_id}")


@router.post("/collections/submissions/{submission_id}/accept", response_class=HTMLResponse)
def collections_accept(
    request: Request, user: DataOwner, submission_id: int, db: DB, form: Posted
) -> Response:
    _submission(db, user, submission_id)
    try:
        subs.accept(db, user.name, submission_id)
    except PolicyRefusal as exc:
        db.rollback()
        raise Forbidden(reason=str(exc)) from None
    except FivesafesError as exc:
        db.rollback()
        return _page(request, db, user, submission_id, {"accept": str(exc)}, dict(form), 422)
    flash(request, db, _("Submission %(submission_id)s accepted.", submission_id=submission_id))
    db.commit()
    return _back(f"/collections/submissions/{submission_id}")


@router.get("/collections/submissions/{submission_id}/report.{kind}")
def collections_report(user: DataOwner, submission_id: int, kind: str, db: DB) -> FileResponse:
    if kind not in ("csv", "html"):
        raise HTTPException(404, _("There is no such report."))
    paths = subs.report_paths(db, user.name, _submission(db, user, submission_id).id)
    path = paths[kind]
    if not path.is_file():
        raise HTTPException(404, _("There is no such report."))
    media = "text/csv; charset=utf-8" if kind == "csv" else "text/html; charset=utf-8"
    return FileResponse(path, media_type=media, filename=f"submission-{submission_id}.{kind}")
