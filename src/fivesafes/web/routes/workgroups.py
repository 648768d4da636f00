"""Themed workgroups in the browser: the public list and pages (with ``.json``
twins), joining and leaving, enrolling on a live session and giving the place up,
members' resources, and the pages trainers run workgroups from.

Public: ``/workgroups``, ``/workgroups.json``, ``/workgroups/{slug}``,
``/workgroups/{slug}.json`` (never an online session's link: that is shown only on
the page, to members enrolled on the session, and to trainers). Joining, leaving,
enrolling and resources need a log-in; everything under
``/learning/manage/workgroups`` the trainer role.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from fivesafes.appdb.models import User, as_utc, utcnow
from fivesafes.people.render import markdown_to_html
from fivesafes.people.workgroups import forms, groups, live
from fivesafes.people.workgroups.models import (
    LiveSession,
    SessionFormat,
    Workgroup,
    WorkgroupResource,
)
from fivesafes.web.deps import DB, Forbidden, LoggedIn, current_user, require_role
from fivesafes.web.forms import Form, Posted, form_data
from fivesafes.web.i18n import _
from fivesafes.web.routes._common import done, not_found
from fivesafes.web.templating import render

router = APIRouter()

Visitor = Annotated[User | None, Depends(current_user)]
Trainer = Annotated[User, Depends(require_role("trainer"))]
MANAGE = "/learning/manage/workgroups"


_not_found = not_found


def _workgroup(db: Session, slug: str) -> Workgroup:
    workgroup = groups.find(db, slug)
    if workgroup is None:
        raise _not_found("workgroup")
    return workgroup


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


Child = TypeVar("Child", bound=_Identified)


def _child(children: Iterable[Child], child_id: int, what: str) -> Child:
    """The one of a workgroup's ``children`` (sessions, resources) with this id, or
    404 naming ``what`` it is."""
    for child in children:
        if child.id == child_id:
            return child
    raise _not_found(what)


def _session(workgroup: Workgroup, session_id: int) -> LiveSession:
    return _child(workgroup.sessions, session_id, "session")


def local(moment: datetime) -> datetime:
    """A stored time in UK time, for pages."""
    return as_utc(moment).astimezone(forms.LOCAL)


def fee_text(pence: int, currency: str = "GBP") -> str:
    """A fee as pages show it: "Free", or "£25" / "£25.50"."""
    if not pence:
        return _("Free")
    pounds, rest = divmod(pence, 100)
    symbol = "£" if currency == "GBP" else f"{currency} "
    return f"{symbol}{pounds:,}" + (f".{rest:02d}" if rest else "")


def _status_labels() -> dict[str, str]:
    return {
        "open": _("Open for enrolment"),
        "full": _("Full: every place is taken"),
        "closed": _("Enrolment closed"),
        "started": _("Started"),
    }


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(
        request,
        template,
        status_code=status_code,
        local=local,
        fee_text=fee_text,
        status_of=live.status,
        places_left=live.places_left,
        status_labels=_status_labels(),
        **context,
    )


# --- public: the list and a workgroup's page, and their JSON ----------------------------


def _session_json(held: LiveSession, now: datetime) -> dict[str, Any]:
    """A session as the public sees it: never its online link."""
    return {
        "id": held.id,
        "title": held.title,
        "summary": held.summary,
        "starts_at": held.starts.isoformat(),
        "ends_at": held.ends.isoformat(),
        "duration_minutes": held.duration_minutes,
        "format": held.format,
        "place": held.place if held.format == SessionFormat.IN_PERSON.value else None,
        "fee_pence": held.fee_pence,
        "currency": held.currency,
        "capacity": held.capacity,
        "places_left": live.places_left(held),
        "enrolment": live.status(held, now).state,
    }


def _workgroup_json(
    workgroup: Workgroup, members: int, now: datetime, with_past: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "slug": workgroup.slug,
        "theme": workgroup.theme,
        "description": workgroup.description,
        "url": f"/workgroups/{workgroup.slug}",
        "members": members,
        "sessions": [_session_json(s, now) for s in live.upcoming(workgroup, now)],
    }
    if with_past:
        out["past_sessions"] = [_session_json(s, now) for s in live.past(workgroup, now)]
    return out


@router.get("/workgroups", response_class=HTMLResponse)
def workgroup_list(request: Request, db: DB, user: Visitor) -> Response:
    now = utcnow()
    counts = groups.member_counts(db)
    mine = {w.id for w in groups.workgroups_of(db, user.id)} if user is not None else set()
    rows = [
        {
            "workgroup": w,
            "members": counts.get(w.id, 0),
            "upcoming": live.upcoming(w, now),
            "member": w.id in mine,
        }
        for w in groups.list_workgroups(db)
    ]
    return _page(request, "workgroups/list.html", rows=rows, now=now)


@router.get("/workgroups.json")
def workgroup_list_json(db: DB) -> JSONResponse:
    now = utcnow()
    counts = groups.member_counts(db)
    return JSONResponse(
        {
            "workgroups": [
                _workgroup_json(w, counts.get(w.id, 0), now) for w in groups.list_workgroups(db)
            ]
        }
    )


@router.get("/workgroups/{slug}.json")
def workgroup_json(slug: str, db: DB) -> JSONResponse:
    workgroup = _workgroup(db, slug)
    members = groups.member_counts(db).get(workgroup.id, 0)
    return JSONResponse(_workgroup_json(workgroup, members, utcnow(), with_past=True))


@router.get("/workgroups/{slug}", response_class=HTMLResponse)
def workgroup_page(request: Request, slug: str, db: DB, user: Visitor) -> Response:
    workgroup = _workgroup(db, slug)
    now = utcnow()
    member = groups.membership(db, workgroup.id, user.id) if user is not None else None
    enrolled = (
        live.enrolled_session_ids(db, user.id, [s.id for s in workgroup.sessions])
        if user is not None
        else set()
    )
    return _page(
        request,
        "workgroups/workgroup.html",
        workgroup=workgroup,
        description=markdown_to_html(workgroup.description),
        members=groups.member_counts(db).get(workgroup.id, 0),
        member=member,
        is_trainer=user is not None and user.has_role("trainer"),
        enrolled=enrolled,
        upcoming=live.upcoming(workgroup, now),
        past=live.past(workgroup, now),
        now=now,
        login_url="/login?next=" + quote(f"/workgroups/{slug}", safe=""),
    )


# --- members: joining, leaving, enrolling, resources ------------------------------------


@router.post("/workgroups/{slug}/join")
def join(request: Request, slug: str, db: DB, user: LoggedIn, _form: Posted) -> Response:
    workgroup = _workgroup(db, slug)
    groups.join(db, workgroup, user)
    message = _("You are a member of {theme}. Enrol on its sessions below.")
    return done(request, db, message.format(theme=workgroup.theme), f"/workgroups/{slug}")


@router.post("/workgroups/{slug}/leave")
def leave(request: Request, slug: str, db: DB, user: LoggedIn, _form: Posted) -> Response:
    workgroup = _workgroup(db, slug)
    theme = workgroup.theme
    try:
        given_up = groups.leave(db, workgroup, user)
    except groups.NotAMember:
        db.rollback()
        message = _("You are not a member of {theme}.").format(theme=theme)
        return done(request, db, message, f"/workgroups/{slug}")
    message = _("You have left {theme}.").format(theme=theme)
    if given_up:
        message += " " + _("Your places on {titles} are given up.").format(
            titles="; ".join(s.title for s in given_up)
        )
    return done(request, db, message, f"/workgroups/{slug}")


@router.post("/workgroups/{slug}/sessions/{session_id}/enrol")
def enrol(
    request: Request, slug: str, session_id: int, db: DB, user: LoggedIn, _form: Posted
) -> Response:
    workgroup = _workgroup(db, slug)
    held = _session(workgroup, session_id)
    title = held.title
    already = live.find_enrolment(db, held.id, user.id) is not None
    try:
        live.enrol(db, held, user)
    except live.EnrolmentRefused as refused:
        db.rollback()
        if refused.state == "not_member":
            message = _("Only members of {theme} enrol on its sessions: join the workgroup first.")
            raise Forbidden(message.format(theme=workgroup.theme)) from None
        message = _("You could not enrol: {reason}.").format(reason=refused)
        return done(request, db, message, f"/workgroups/{slug}#session-{session_id}")
    if already:
        message = _("You are already enrolled on {title}.").format(title=title)
    else:
        message = _("You are enrolled on {title}.").format(title=title)
    return done(request, db, message, f"/workgroups/{slug}#session-{session_id}")


@router.post("/workgroups/{slug}/sessions/{session_id}/cancel")
def cancel(
    request: Request, slug: str, session_id: int, db: DB, user: LoggedIn, _form: Posted
) -> Response:
    workgroup = _workgroup(db, slug)
    held = _session(workgroup, session_id)
    title = held.title
    try:
        freed = live.cancel(db, held, user)
    except live.EnrolmentRefused as refused:
        db.rollback()
        message = _("Your place was kept: {reason}.").format(reason=refused)
        return done(request, db, message, f"/workgroups/{slug}")
    if freed:
        message = _("You have given up your place on {title}.").format(title=title)
    else:
        message = _("You had no place on {title}.").format(title=title)
    return done(request, db, message, f"/workgroups/{slug}#session-{session_id}")


@router.get("/workgroups/{slug}/resources/{resource_id}")
def resource_file(slug: str, resource_id: int, db: DB, user: LoggedIn) -> Response:
    """A stored file of the workgroup's, for its members and trainers."""
    workgroup = _workgroup(db, slug)
    resource = _resource(workgroup, resource_id)
    if not user.has_role("trainer") and groups.membership(db, workgroup.id, user.id) is None:
        raise Forbidden(
            _("The resources of {theme} are for its members: join it first.").format(
                theme=workgroup.theme
            )
        )
    if not resource.is_file:
        raise _not_found("file")
    return Response(
        resource.content or b"",
        media_type=resource.media_type or "application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(resource.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _resource(workgroup: Workgroup, resource_id: int) -> WorkgroupResource:
    return _child(workgroup.resources, resource_id, "resource")


# --- trainers: running workgroups -------------------------------------------------------


@router.get(MANAGE, response_class=HTMLResponse)
def manage_list(request: Request, db: DB, _user: Trainer) -> Response:
    return _page(
        request,
        "workgroups/manage_list.html",
        workgroups=groups.list_workgroups(db),
        counts=groups.member_counts(db),
    )


def _workgroup_form(
    request: Request,
    workgroup: Workgroup | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "workgroups/workgroup_form.html",
        status_code=status_code,
        workgroup=workgroup,
        values=values,
        errors=errors,
    )


@router.get(MANAGE + "/new", response_class=HTMLResponse)
def new_workgroup_form(request: Request, _user: Trainer) -> Response:
    return _workgroup_form(request, None, {}, {})


@router.post(MANAGE + "/new", response_class=HTMLResponse)
def create_workgroup(request: Request, db: DB, form: Posted, user: Trainer) -> Response:
    values, errors = forms.parse_workgroup_form(db, form)
    if errors:
        return _workgroup_form(request, None, dict(form), errors, status_code=422)
    workgroup = groups.save_workgroup(db, values, actor=user)
    message = _("The workgroup {theme} was created. Now add its sessions.")
    return done(request, db, message.format(theme=workgroup.theme), f"{MANAGE}/{workgroup.slug}")


@router.get(MANAGE + "/{slug}", response_class=HTMLResponse)
def manage_workgroup(request: Request, slug: str, db: DB, _user: Trainer) -> Response:
    workgroup = _workgroup(db, slug)
    return _manage_page(request, db, workgroup, {}, {})


def _manage_page(
    request: Request,
    db: Session,
    workgroup: Workgroup,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "workgroups/manage_workgroup.html",
        status_code=status_code,
        workgroup=workgroup,
        lists={s.id: live.enrolments_on(db, s) for s in workgroup.sessions},
        values=values,
        errors=errors,
        now=utcnow(),
    )


@router.get(MANAGE + "/{slug}/edit", response_class=HTMLResponse)
def edit_workgroup_form(request: Request, slug: str, db: DB, _user: Trainer) -> Response:
    workgroup = _workgroup(db, slug)
    values = {k: getattr(workgroup, k) for k in ("slug", "theme", "description")}
    return _workgroup_form(request, workgroup, values, {})


@router.post(MANAGE + "/{slug}/edit", response_class=HTMLResponse)
def update_workgroup(request: Request, slug: str, db: DB, form: Posted, user: Trainer) -> Response:
    workgroup = _workgroup(db, slug)
    values, errors = forms.parse_workgroup_form(db, form, workgroup)
    if errors:
        return _workgroup_form(request, workgroup, dict(form), errors, status_code=422)
    groups.save_workgroup(db, values, actor=user, workgroup=workgroup)
    message = _("The workgroup {theme} was saved.").format(theme=workgroup.theme)
    return done(request, db, message, f"{MANAGE}/{workgroup.slug}")


def _session_form(
    request: Request,
    workgroup: Workgroup,
    held: LiveSession | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "workgroups/session_form.html",
        status_code=status_code,
        workgroup=workgroup,
        held=held,
        values=values,
        errors=errors,
        formats=[
            (SessionFormat.LIVE_ONLINE.value, _("Live online")),
            (SessionFormat.IN_PERSON.value, _("In person")),
        ],
    )


def _session_values(held: LiveSession) -> dict[str, Any]:
    return {
        "title": held.title,
        "summary": held.summary,
        "starts_at": forms.local_input(held.starts_at),
        "duration_minutes": held.duration_minutes,
        "format": held.format,
        "place": held.place,
        "online_link": held.online_link,
        "fee": f"{held.fee_pence / 100:.2f}".removesuffix(".00"),
        "capacity": held.capacity or "",
        "enrolment_open": held.enrolment_open,
    }


def _typed(form: Form) -> dict[str, Any]:
    values: dict[str, Any] = dict(form)
    values["enrolment_open"] = form.get("enrolment_open") == "1"
    return values


@router.get(MANAGE + "/{slug}/sessions/new", response_class=HTMLResponse)
def new_session_form(request: Request, slug: str, db: DB, _user: Trainer) -> Response:
    workgroup = _workgroup(db, slug)
    defaults = {"format": "live_online", "fee": "0", "duration_minutes": 90, "enrolment_open": True}
    return _session_form(request, workgroup, None, defaults, {})


def _save_session(
    request: Request,
    db: Session,
    workgroup: Workgroup,
    form: Form,
    user: User,
    held: LiveSession | None = None,
) -> Response:
    """Add a session to ``workgroup`` (``held`` None) or change ``held``, from the
    posted form; the form again with its errors (422) if it does not check out."""
    values, errors = forms.parse_session_form(form, held)
    if errors:
        return _session_form(request, workgroup, held, _typed(form), errors, status_code=422)
    saved = live.save_session(db, workgroup, values, actor=user.name, live=held)
    if held is None:
        message = _("The session {title} was added.").format(title=saved.title)
    else:
        message = _("The session {title} was saved.").format(title=saved.title)
    return done(request, db, message, f"{MANAGE}/{workgroup.slug}")


@router.post(MANAGE + "/{slug}/sessions/new", response_class=HTMLResponse)
def create_session(request: Request, slug: str, db: DB, form: Posted, user: Trainer) -> Response:
    return _save_session(request, db, _workgroup(db, slug), form, user)


@router.get(MANAGE + "/{slug}/sessions/{session_id}/edit", response_class=HTMLResponse)
def edit_session_form(
    request: Request, slug: str, session_id: int, db: DB, _user: Trainer
) -> Response:
    workgroup = _workgroup(db, slug)
    held = _session(workgroup, session_id)
    return _session_form(request, workgroup, held, _session_values(held), {})


@router.post(MANAGE + "/{slug}/sessions/{session_id}/edit", response_class=HTMLResponse)
def update_session(
    request: Request, slug: str, session_id: int, db: DB, form: Posted, user: Trainer
) -> Response:
    workgroup = _workgroup(db, slug)
    return _save_session(request, db, workgroup, form, user, _session(workgroup, session_id))


@router.post(MANAGE + "/{slug}/sessions/{session_id}/enrolment")
def set_enrolment(
    request: Request, slug: str, session_id: int, db: DB, form: Posted, user: Trainer
) -> Response:
    """Open (``open=1``) or close (``open=0``) enrolment on a session."""
    workgroup = _workgroup(db, slug)
    held = _session(workgroup, session_id)
    wanted = form.get("open", "")
    if wanted not in ("0", "1"):
        raise HTTPException(400, _("Say whether to open (open=1) or close (open=0) enrolment."))
    live.set_enrolment_open(db, held, wanted == "1", actor=user.name)
    if wanted == "1":
        message = _("Enrolment on {title} is open.").format(title=held.title)
    else:
        message = _("Enrolment on {title} is closed.").format(title=held.title)
    return done(request, db, message, f"{MANAGE}/{slug}")


@router.post(MANAGE + "/{slug}/resources", response_class=HTMLResponse)
async def add_resource(request: Request, slug: str, db: DB, user: Trainer) -> Response:
    """Add a resource: ``title`` and ``url``, or ``title`` and an uploaded ``file``
    (multipart)."""
    form = await form_data(request)
    upload = (await request.form()).get("file")
    given: tuple[str, bytes, str] | None = None
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(forms.MAX_FILE_BYTES + 1)
        given = (upload.filename, content, upload.content_type or "")
    workgroup = _workgroup(db, slug)
    values, errors = forms.parse_resource_form(form, given)
    if errors:
        return _manage_page(request, db, workgroup, dict(form), errors, status_code=422)
    resource = groups.add_resource(db, workgroup, values, actor=user.name)
    message = _("The resource {title} was added.").format(title=resource.title)
    return done(request, db, message, f"{MANAGE}/{slug}")


@router.post(MANAGE + "/{slug}/resources/{resource_id}/delete")
def delete_resource(
    request: Request, slug: str, resource_id: int, db: DB, _form: Posted, user: Trainer
) -> Response:
    workgroup = _workgroup(db, slug)
    resource = _resource(workgroup, resource_id)
    title = resource.title
    groups.remove_resource(db, resource, actor=user.name)
    message = _("The resource {title} was removed.").format(title=title)
    return done(request, db, message, f"{MANAGE}/{slug}")
