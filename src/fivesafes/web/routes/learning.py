"""Safe people in the browser: the public course catalogue, resources and featured
datasets, enrolment, lessons and quizzes, statements of participation and their
public verification, accreditation, the personal learning plan, and the pages
trainers (and data owners, for their own courses) use to write courses.

Public: ``/courses``, ``/courses/{slug}``, ``/resources``, ``/resources/{slug}``,
``/featured-datasets``, ``/featured-datasets/{name}``, ``/verify``,
``/verify/{code}``. Everything under ``/learning`` needs a log-in; everything under
``/learning/manage`` the trainer role (data owners may edit the courses they own).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.datasets import BY_NAME, DATASETS
from fivesafes.errors import FivesafesError
from fivesafes.people import accreditation, catalogue, learning, statements
from fivesafes.people.models import (
    Accreditation,
    Course,
    CourseFormat,
    Enrolment,
    Lesson,
    LessonKind,
    QuizQuestion,
    Resource,
    ResourceKind,
    Statement,
)
from fivesafes.people.plan import LearningPlan, plan_for
from fivesafes.people.render import markdown_to_html, without_title
from fivesafes.people.translations import in_language
from fivesafes.web.deps import DB, Forbidden, LoggedIn, current_user, require_role
from fivesafes.web.forms import Form, Posted
from fivesafes.web.i18n import LANGUAGES, N_, _, current, gettext_plain, options
from fivesafes.web.labels import PLAN_ROLE_LABELS, prepares_for
from fivesafes.web.routes._common import done, not_found
from fivesafes.web.templating import flash, render, site_url

router = APIRouter()

#: Who may open the course-writing pages (administrators pass every role check).
can_write = require_role("trainer", "data_owner")
can_revoke = require_role("administrator")
can_write_resources = require_role("trainer")
Visitor = Annotated[User | None, Depends(current_user)]
Writer = Annotated[User, Depends(can_write)]
Revoker = Annotated[User, Depends(can_revoke)]
ResourceWriter = Annotated[User, Depends(can_write_resources)]
ROLE_OPTIONS = [(r, r.replace("_", " ").capitalize()) for r in catalogue.PLAN_ROLES]
FORMAT_OPTIONS = [(f.value, f.label) for f in CourseFormat]
DATASET_OPTIONS = [(d.name, f"{d.title} ({d.name})") for d in DATASETS]
OUTPUT_OPTIONS = [(kind, text.capitalize()) for kind, text in catalogue.OUTPUT_KINDS.items()]


_not_found = not_found


def _course(db: Session, slug: str, *, published_only: bool = True) -> Course:
    course = catalogue.find_course(db, slug)
    if course is None or (published_only and not course.published):
        raise _not_found("course")
    return course


def _holder(user: User) -> str:
    return statements.display_name(user)


def _here(row: Any) -> Any:
    """A course, lesson or question in the reader's language (English where it has
    no translation)."""
    return in_language(row, current())


def _languages(course: Course) -> list[dict[str, str]]:
    """The languages a course comes in, each named in itself."""
    return [{"code": code, "name": LANGUAGES.get(code, code)} for code in course.languages]


def _course_json(request: Request, course: Course) -> dict[str, Any]:
    """A course's catalogue entry as JSON, its text in the reader's language."""
    shown = _here(course)
    status = catalogue.enrolment_status(course)
    return {
        "slug": course.slug,
        "url": f"{site_url(request)}/courses/{course.slug}",
        "title": shown.title,
        "summary": shown.summary,
        "language": current() if current() in course.languages else "en",
        "languages": course.languages,
        "format": course.format,
        "duration": shown.duration,
        "fee_pence": course.fee_pence,
        "enrolment": {"state": status.state, "label": status.label},
        "places_left": catalogue.places_left(course),
        "starts_on": course.starts_on.isoformat() if course.starts_on else None,
        "required_for_everyone": course.required_for_everyone,
        "grants_accreditation": course.grants_accreditation,
        "lessons": [
            {"title": lesson.title, "kind": lesson.kind, "language": lesson.text_language}
            for lesson in shown.lessons
        ],
    }


# --- public catalogue -------------------------------------------------------------------


@router.get("/courses", response_class=HTMLResponse)
def course_list(request: Request, db: DB, user: Visitor) -> Response:
    courses = catalogue.list_courses(db)
    mine = {e.course_id: e for e in learning.enrolments_of(db, user.id)} if user is not None else {}
    rows = [
        {
            "course": _here(c),
            "course_languages": _languages(c),
            "status": catalogue.enrolment_status(c),
            "prepares": prepares_for(c),
            "enrolment": mine.get(c.id),
            "places_left": catalogue.places_left(c),
        }
        for c in courses
    ]
    return render(request, "learning/catalogue.html", rows=rows)


@router.get("/courses.json")
def course_list_json(request: Request, db: DB) -> Response:
    """The published catalogue as JSON, in the reader's language (``languages``:
    the languages each course comes in)."""
    courses = catalogue.list_courses(db)
    return JSONResponse(
        {"language": current(), "courses": [_course_json(request, c) for c in courses]}
    )


@router.get("/courses/{slug}.json")
def course_page_json(request: Request, slug: str, db: DB) -> Response:
    course = _course(db, slug)
    return JSONResponse({**_course_json(request, course), "description": _here(course).description})


@router.get("/courses/{slug}", response_class=HTMLResponse)
def course_page(request: Request, slug: str, db: DB, user: Visitor) -> Response:
    course = _course(db, slug)
    enrolment = learning.find_enrolment(db, course.id, user.id) if user is not None else None
    shown = _here(course)
    return render(
        request,
        "learning/course.html",
        course=shown,
        course_languages=_languages(course),
        status=catalogue.enrolment_status(course),
        prepares=prepares_for(course),
        places_left=catalogue.places_left(course),
        description=markdown_to_html(shown.description),
        enrolment=enrolment,
        progress=learning.progress_of(enrolment) if enrolment else None,
        accreditation_label=(
            accreditation.label(course.grants_accreditation)
            if course.grants_accreditation
            else None
        ),
        valid_years=round(accreditation.valid_days(course) / 365, 1),
        login_url="/login?next=" + quote(f"/courses/{slug}", safe=""),
    )


@router.post("/courses/{slug}/enrol")
def enrol(request: Request, slug: str, db: DB, user: LoggedIn, _form: Posted) -> Response:
    course = _course(db, slug)
    try:
        learning.enrol(db, course, user)
    except learning.EnrolmentRefused as refused:
        db.rollback()
        return done(
            request, db, _("You could not enrol: %(refused)s.", refused=refused), f"/courses/{slug}"
        )
    return done(
        request,
        db,
        _("You are enrolled on %(title)s.", title=_here(course).title),
        f"/learning/courses/{slug}",
    )


@router.get("/resources", response_class=HTMLResponse)
def resource_list(request: Request, db: DB) -> Response:
    by_kind: dict[str, list[Resource]] = {k.value: [] for k in ResourceKind}
    for resource in catalogue.list_resources(db):
        by_kind.setdefault(resource.kind, []).append(resource)
    return render(request, "learning/resources.html", by_kind=by_kind)


def _resource(db: Session, slug: str) -> Resource:
    resource = catalogue.find_resource(db, slug)
    if resource is None:
        raise _not_found("resource")
    return resource


@router.get("/resources/{slug}", response_class=HTMLResponse)
def resource_page(request: Request, slug: str, db: DB) -> Response:
    resource = _resource(db, slug)
    return render(
        request,
        "learning/resource.html",
        resource=resource,
        body=markdown_to_html(without_title(resource.body)),
    )


@router.get("/featured-datasets", response_class=HTMLResponse)
def featured_list(request: Request, db: DB) -> Response:
    return render(request, "learning/datasets.html", items=catalogue.featured_datasets(db))


@router.get("/featured-datasets/{name}", response_class=HTMLResponse)
def featured_page(request: Request, name: str, db: DB) -> Response:
    item = catalogue.find_featured(db, name)
    if item is None:
        raise _not_found("featured dataset")
    return render(request, "learning/dataset.html", item=item)


# --- verification (public) --------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request, code: str = "") -> Response:
    if code.strip():
        cleaned = "".join(code.split())
        return RedirectResponse(f"/verify/{quote(cleaned, safe='')}", status_code=303)
    return render(request, "learning/verify_form.html")


@router.get("/verify/{code}", response_class=HTMLResponse)
def verify(request: Request, code: str, db: DB) -> Response:
    result = statements.verify(db, code)
    return render(
        request,
        "learning/verify.html",
        status_code=200 if result.valid else 404,
        result=result,
        code=code,
        shown=statements.display_code(result.statement.code) if result.statement else code,
    )


# --- the learner's pages ----------------------------------------------------------------


def _plans(db: Session, user: User) -> list[dict[str, Any]]:
    """A learning plan per project membership, and one per site role with rules."""
    plans: list[dict[str, Any]] = []
    try:
        from fivesafes.projects import applications as apps
        from fivesafes.projects.models import ProjectMember
    except ImportError:  # pragma: no cover - the projects package is part of the app
        apps = None  # type: ignore[assignment]
    if apps is not None:
        members = db.scalars(select(ProjectMember).where(ProjectMember.user_id == user.id))
        for member in members:
            project = member.project
            role = apps.PLAN_ROLES.get(member.role, "researcher")
            plan = plan_for(
                db, user, apps.dataset_names(project), role, outputs=apps.output_kinds(project)
            )
            plans.append(
                {
                    "title": project.title,
                    "href": f"/learning/plan?project={project.id}",
                    "plan": plan,
                }
            )
    if "output_checker" in user.roles:
        plan = plan_for(db, user, [], "output_checker")
        plans.append(
            {
                "title": _("Output checking"),
                "href": "/learning/plan?role=output_checker",
                "plan": plan,
            }
        )
    return plans


@router.get("/learning", response_class=HTMLResponse)
def dashboard(request: Request, db: DB, user: LoggedIn) -> Response:
    enrolments = learning.enrolments_of(db, user.id)
    rows = [
        {
            "enrolment": e,
            "course": _here(e.course),
            "progress": learning.progress_of(e),
            "resume": _here(learning.resume_lesson(e)),
        }
        for e in enrolments
    ]
    return render(
        request,
        "learning/dashboard.html",
        rows=rows,
        held=accreditation.accreditations_of(db, user.id),
        statements=statements.statements_of(db, user.id),
        display_code=statements.display_code,
        plans=_plans(db, user),
        general=plan_for(db, user, [], "researcher"),
    )


@router.get("/learning/plan", response_class=HTMLResponse)
def learning_plan(
    request: Request, db: DB, user: LoggedIn, project: int | None = None, role: str = ""
) -> Response:
    """The personal learning plan: for a project (``?project=<id>``, its members and
    the people invited to it only: its datasets and their role in it), or for a
    site role (``?role=output_checker``), else the induction everyone needs."""
    title = _("Your learning plan")
    datasets: list[str] = []
    outputs: list[str] = []
    plan_role = "researcher"
    project_row = None
    if project is not None:
        from fivesafes.projects import applications as apps
        from fivesafes.projects.models import Project

        project_row = db.get(Project, project)
        if project_row is None:
            raise _not_found("project")
        member = apps.membership(db, project_row.id, user.id)
        invited = None if member else apps.open_invitation(db, project_row.id, user.id)
        if member is None and invited is None:
            raise Forbidden(
                _(
                    "Only the project's members, and the people invited to join it, can "
                    "see its learning plans."
                )
            )
        datasets = apps.dataset_names(project_row)
        outputs = apps.output_kinds(project_row)
        chosen = member if member is not None else invited
        assert chosen is not None
        project_role = chosen.role
        plan_role = apps.PLAN_ROLES.get(project_role, "researcher")
        title = _("Your learning plan for %(title)s", title=project_row.title)
    elif role:
        if role not in catalogue.PLAN_ROLES:
            raise _not_found("learning plan")
        plan_role = role
        role_words = gettext_plain(PLAN_ROLE_LABELS.get(role, role)).lower()
        title = _("Your learning plan as %(role)s", role=role_words)
    plan: LearningPlan = plan_for(db, user, datasets, plan_role, outputs=outputs)
    return render(
        request,
        "learning/plan.html",
        title=title,
        plan=plan,
        project=project_row,
        datasets=[BY_NAME[d].title if d in BY_NAME else d for d in datasets],
        role=plan_role,
        label=accreditation.label,
    )


def _enrolment(db: Session, course: Course, user: User) -> Enrolment:
    enrolment = learning.find_enrolment(db, course.id, user.id)
    if enrolment is None:
        raise Forbidden(
            _("Enrol on %(title)s first: see its page in the catalogue.", title=course.title)
        )
    return enrolment


def _lesson(course: Course, lesson_id: int) -> Lesson:
    for lesson in course.lessons:
        if lesson.id == lesson_id:
            return lesson
    raise _not_found("lesson")


@router.get("/learning/courses/{slug}", response_class=HTMLResponse)
def course_contents(request: Request, slug: str, db: DB, user: LoggedIn) -> Response:
    course = _course(db, slug)
    enrolment = _enrolment(db, course, user)
    statement = db.scalar(
        select(Statement)
        .where(Statement.user_id == user.id, Statement.course_id == course.id)
        .order_by(Statement.issued_at.desc(), Statement.id.desc())
    )
    return render(
        request,
        "learning/contents.html",
        course=_here(course),
        enrolment=enrolment,
        done=learning.done_lesson_ids(enrolment),
        progress=learning.progress_of(enrolment),
        resume=_here(learning.resume_lesson(enrolment)),
        statement=statement,
        display_code=statements.display_code,
    )


def _lesson_page(
    request: Request,
    course: Course,
    enrolment: Enrolment,
    lesson: Lesson,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    answers: dict[str, Any] | None = None,
    result: learning.QuizResult | None = None,
) -> Response:
    lessons = course.lessons
    shown = _here(lesson)
    return render(
        request,
        "learning/lesson.html",
        status_code=status_code,
        course=_here(course),
        lesson=shown,
        number=lessons.index(lesson) + 1,
        count=len(lessons),
        body=markdown_to_html(without_title(shown.body)),
        done=lesson.id in learning.done_lesson_ids(enrolment),
        enrolment=enrolment,
        previous=_here(learning.previous_lesson(course, lesson)),
        following=_here(learning.next_lesson(course, lesson)),
        errors=errors or {},
        answers=answers or {},
        result=result,
        field=learning.question_field,
        attempts=learning.attempts_at(enrolment, lesson),
        progress=learning.progress_of(enrolment),
    )


@router.get("/learning/courses/{slug}/lessons/{lesson_id}", response_class=HTMLResponse)
async def lesson_page(
    request: Request, slug: str, lesson_id: int, db: DB, user: LoggedIn
) -> Response:
    """A lesson. Where the learner is gets saved (a GET that writes), only when it
    changes, in a writer's session of its own (:meth:`Database.run_write`); reading
    and rendering the page run in worker threads in the reader's session."""

    def find() -> tuple[Course, Enrolment, Lesson]:
        course = _course(db, slug)
        return course, _enrolment(db, course, user), _lesson(course, lesson_id)

    course, enrolment, lesson = await run_in_threadpool(find)
    if enrolment.last_lesson_id != lesson.id and enrolment.completed_at is None:
        enrolment_id, here = enrolment.id, lesson.id

        def remember(s: Session) -> None:
            row = s.get(Enrolment, enrolment_id)
            if row is not None:
                row.last_lesson_id = here

        await request.app.state.db.run_write(remember)
    return await run_in_threadpool(_lesson_page, request, course, enrolment, lesson)


def _after_completion(request: Request, db: Session, course: Course, outcome: Any) -> None:
    if outcome is not None and outcome.statement is not None:
        message = _(
            "You have completed %(title)s. Your statement of participation is ready.",
            title=_here(course).title,
        )
        if outcome.accreditation is not None:
            message = _(
                "You have completed %(title)s. Your statement of participation is "
                "ready. You are accredited as %(accreditation)s.",
                title=_here(course).title,
                accreditation=gettext_plain(accreditation.label(outcome.accreditation.kind)),
            )
        flash(request, db, message)
        db.commit()


@router.post("/learning/courses/{slug}/lessons/{lesson_id}/complete")
def complete_lesson(
    request: Request, slug: str, lesson_id: int, db: DB, user: LoggedIn, _form: Posted
) -> Response:
    course = _course(db, slug)
    enrolment = _enrolment(db, course, user)
    lesson = _lesson(course, lesson_id)
    if lesson.is_quiz:
        raise HTTPException(400, _("Answer the quiz's questions to pass it."))
    outcome = learning.mark_read(db, enrolment, lesson)
    _after_completion(request, db, course, outcome)
    if outcome.statement is not None:
        return RedirectResponse(f"/learning/courses/{slug}", status_code=303)
    following = learning.next_lesson(course, lesson)
    target = (
        f"/learning/courses/{slug}/lessons/{following.id}"
        if following is not None
        else f"/learning/courses/{slug}"
    )
    return RedirectResponse(target, status_code=303)


@router.post("/learning/courses/{slug}/lessons/{lesson_id}/quiz", response_class=HTMLResponse)
def submit_quiz(
    request: Request, slug: str, lesson_id: int, db: DB, user: LoggedIn, form: Posted
) -> Response:
    course = _course(db, slug)
    enrolment = _enrolment(db, course, user)
    lesson = _lesson(course, lesson_id)
    if not lesson.is_quiz:
        raise _not_found("quiz")
    typed = {
        learning.question_field(q.id): form.get(learning.question_field(q.id), "")
        for q in lesson.questions
    }
    result = learning.submit_quiz(db, enrolment, lesson, typed)
    if result.errors:
        return _lesson_page(
            request,
            course,
            enrolment,
            lesson,
            status_code=422,
            errors=result.errors,
            answers=typed,
        )
    if result.completion is not None:
        _after_completion(request, db, course, result.completion)
    db.refresh(enrolment)
    return _lesson_page(request, course, enrolment, lesson, answers=typed, result=result)


@router.post("/learning/courses/{slug}/restart")
def restart(request: Request, slug: str, db: DB, user: LoggedIn, _form: Posted) -> Response:
    course = _course(db, slug)
    enrolment = _enrolment(db, course, user)
    if enrolment.completed_at is None:
        return RedirectResponse(f"/learning/courses/{slug}", status_code=303)
    learning.restart(db, enrolment)
    return done(
        request,
        db,
        _("You are taking %(title)s again. Your statement is kept.", title=course.title),
        f"/learning/courses/{slug}",
    )


@router.get("/learning/statements/{code}.pdf")
def statement_pdf(request: Request, code: str, db: DB, user: LoggedIn) -> Response:
    normal = statements.normalise_code(code)
    statement = db.scalar(select(Statement).where(Statement.code == normal)) if normal else None
    if statement is None:
        raise _not_found("statement")
    if statement.user_id != user.id and not user.has_role("administrator"):
        raise Forbidden(_("This statement is someone else's."))
    verify_url = site_url(request) + f"/verify/{statement.code}"
    pdf = statements.statement_pdf(statement, verify_url)
    filename = f"statement-{statement.code}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- writing courses (trainers; data owners for their own courses) ----------------------


def _may_edit(user: User, course: Course) -> None:
    if user.has_role("trainer"):
        return
    if course.owner_id != user.id:
        raise Forbidden(_("Only trainers and the course's owner can change this course."))


#: What only a trainer sets on a course: the accreditation it grants (which counts
#: for every project's learning plan) and whom it is required of beyond datasets.
TRAINER_ONLY = {
    "grants_accreditation": N_("Only a trainer sets the accreditation a course grants"),
    "required_for_everyone": N_("Only a trainer makes a course required of everyone"),
    "required_for_roles": N_("Only a trainer makes a course required for a role"),
}


def _trainer_only(
    db: Session, user: User, values: dict[str, Any], course: Course | None
) -> dict[str, str]:
    """Errors for a course form by a data owner (not a trainer) that would change what
    only trainers set: a data owner could otherwise grant the safe researcher
    accreditation with a one-page course of their own, or make their course required
    for datasets other owners hold."""
    from fivesafes.projects.models import DatasetOwner

    if user.has_role("trainer"):
        return {}
    errors = {}
    for name, message in TRAINER_ONLY.items():
        before = getattr(course, name, None) if course is not None else None
        if (values.get(name) or None) != (before or None):
            errors[name] = _(message)
    before_datasets = set(course.required_for_datasets or []) if course is not None else set()
    for dataset in values.get("required_for_datasets") or []:
        row = db.get(DatasetOwner, dataset)
        if dataset not in before_datasets and (row is None or row.user_id != user.id):
            errors["required_for_datasets"] = _(
                "You do not own %(dataset)s: a course of yours is required only for your datasets",
                dataset=dataset,
            )
    return errors


def _editable(db: Session, slug: str, user: User) -> Course:
    course = _course(db, slug, published_only=False)
    _may_edit(user, course)
    return course


@router.get("/learning/manage", response_class=HTMLResponse)
def manage(request: Request, db: DB, user: Writer) -> Response:
    courses = catalogue.list_courses(db, include_unpublished=True)
    if not user.has_role("trainer"):
        courses = [c for c in courses if c.owner_id == user.id]
    return render(
        request,
        "learning/manage.html",
        courses=courses,
        resources=catalogue.list_resources(db),
        is_trainer=user.has_role("trainer"),
    )


def _course_values(course: Course | None) -> dict[str, Any]:
    if course is None:
        return {"format": "self_paced", "fee": "0", "published": True}
    return {
        "slug": course.slug,
        "title": course.title,
        "summary": course.summary,
        "description": course.description,
        "format": course.format,
        "duration": course.duration,
        "fee": f"{course.fee_pence / 100:.2f}".removesuffix(".00"),
        "enrolment_opens_on": course.enrolment_opens_on or "",
        "enrolment_closes_on": course.enrolment_closes_on or "",
        "starts_on": course.starts_on or "",
        "location": course.location,
        "capacity": course.capacity or "",
        "required_for_everyone": course.required_for_everyone,
        "required_for_roles": course.required_for_roles,
        "required_for_datasets": course.required_for_datasets,
        "required_for_outputs": course.required_for_outputs,
        "grants_accreditation": course.grants_accreditation or "",
        "accreditation_valid_days": course.accreditation_valid_days or "",
        "published": course.published,
    }


def _form_values(form: Form) -> dict[str, Any]:
    values: dict[str, Any] = dict(form)
    values.pop("csrf_token", None)
    values["required_for_roles"] = form.getlist("required_for_roles")
    values["required_for_datasets"] = form.getlist("required_for_datasets")
    values["required_for_outputs"] = form.getlist("required_for_outputs")
    values["required_for_everyone"] = form.get("required_for_everyone") == "1"
    values["published"] = form.get("published") == "1"
    return values


def _course_form(
    request: Request,
    course: Course | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "learning/course_form.html",
        status_code=status_code,
        course=course,
        values=values,
        errors=errors,
        formats=options(FORMAT_OPTIONS),
        roles=options(ROLE_OPTIONS),
        datasets=DATASET_OPTIONS,
        output_kinds=options(OUTPUT_OPTIONS),
    )


@router.get("/learning/manage/courses/new", response_class=HTMLResponse)
def new_course_form(request: Request, _user: Writer) -> Response:
    return _course_form(request, None, _course_values(None), {})


@router.post("/learning/manage/courses/new", response_class=HTMLResponse)
def create_course(request: Request, db: DB, form: Posted, user: Writer) -> Response:
    raw = _form_values(form)
    values, errors = catalogue.parse_course_form(db, raw)
    errors = {**_trainer_only(db, user, values, None), **errors}
    if errors:
        return _course_form(request, None, raw, errors, status_code=422)
    course = catalogue.save_course(db, values, actor=user.name, owner_id=user.id)
    return done(
        request,
        db,
        _("The course %(title)s was created. Now add its lessons.", title=course.title),
        f"/learning/manage/courses/{course.slug}",
    )


@router.get("/learning/manage/courses/{slug}", response_class=HTMLResponse)
def manage_course(request: Request, slug: str, db: DB, user: Writer) -> Response:
    course = _editable(db, slug, user)
    enrolments = list(
        db.scalars(select(Enrolment).where(Enrolment.course_id == course.id).order_by(Enrolment.id))
    )
    issued: dict[int, Statement] = {}
    for statement in db.scalars(
        select(Statement).where(Statement.course_id == course.id).order_by(Statement.id)
    ):
        issued[statement.user_id] = statement  # the newest one per learner
    return render(
        request,
        "learning/manage_course.html",
        course=course,
        rows=[
            {
                "enrolment": e,
                "progress": learning.progress_of(e),
                "name": _holder(e.user),
                "statement": issued.get(e.user_id),
            }
            for e in enrolments
        ],
        status=catalogue.enrolment_status(course),
        display_code=statements.display_code,
    )


@router.get("/learning/manage/courses/{slug}/edit", response_class=HTMLResponse)
def edit_course_form(request: Request, slug: str, db: DB, user: Writer) -> Response:
    course = _editable(db, slug, user)
    return _course_form(request, course, _course_values(course), {})


@router.post("/learning/manage/courses/{slug}/edit", response_class=HTMLResponse)
def update_course(request: Request, slug: str, db: DB, form: Posted, user: Writer) -> Response:
    course = _editable(db, slug, user)
    raw = _form_values(form)
    values, errors = catalogue.parse_course_form(db, raw, course)
    errors = {**_trainer_only(db, user, values, course), **errors}
    if errors:
        return _course_form(request, course, raw, errors, status_code=422)
    catalogue.save_course(db, values, actor=user.name, course=course)
    return done(
        request,
        db,
        _("The course %(title)s was saved.", title=course.title),
        f"/learning/manage/courses/{course.slug}",
    )


@router.post("/learning/manage/courses/{slug}/enrolments/{enrolment_id}/attendance")
def record_attendance(
    request: Request,
    slug: str,
    enrolment_id: int,
    db: DB,
    _form: Posted,
    user: Writer,
) -> Response:
    course = _editable(db, slug, user)
    enrolment = db.get(Enrolment, enrolment_id)
    if enrolment is None or enrolment.course_id != course.id:
        raise _not_found("enrolment")
    if enrolment.completed_at is None:
        learning.record_attendance(db, enrolment, actor=user.name)
        flash(
            request,
            db,
            _(
                "%(person)s has completed %(title)s.",
                person=_holder(enrolment.user),
                title=course.title,
            ),
        )
        db.commit()
    return RedirectResponse(f"/learning/manage/courses/{slug}", status_code=303)


@router.post("/learning/manage/statements/{code}/revoke")
def revoke_statement(request: Request, code: str, db: DB, form: Posted, user: Revoker) -> Response:
    normal = statements.normalise_code(code)
    statement = db.scalar(select(Statement).where(Statement.code == normal)) if normal else None
    if statement is None:
        raise _not_found("statement")
    typed = form.get(f"reason-{statement.id}", "") or form.get("reason", "")
    reason = typed.strip() or "revoked by an administrator"
    if statement.revoked_at is None:
        statements.revoke(db, statement, actor=user.name, reason=reason)
        flash(
            request,
            db,
            _("The statement %(code)s is revoked.", code=statements.display_code(statement.code)),
        )
        db.commit()
    course = db.get(Course, statement.course_id)
    return RedirectResponse(
        f"/learning/manage/courses/{course.slug if course else ''}", status_code=303
    )


def _lesson_form(
    request: Request,
    course: Course,
    lesson: Lesson | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "learning/lesson_form.html",
        status_code=status_code,
        course=course,
        lesson=lesson,
        values=values,
        errors=errors,
        kinds=[
            (LessonKind.READING.value, _("Reading (Markdown)")),
            (LessonKind.QUIZ.value, _("Quiz")),
        ],
    )


@router.get("/learning/manage/courses/{slug}/lessons/new", response_class=HTMLResponse)
def new_lesson_form(request: Request, slug: str, db: DB, user: Writer) -> Response:
    course = _editable(db, slug, user)
    return _lesson_form(request, course, None, {"kind": "reading"}, {})


@router.post("/learning/manage/courses/{slug}/lessons/new", response_class=HTMLResponse)
def create_lesson(request: Request, slug: str, db: DB, form: Posted, user: Writer) -> Response:
    course = _editable(db, slug, user)
    values, errors = catalogue.parse_lesson_form(form)
    if errors:
        return _lesson_form(request, course, None, dict(form), errors, status_code=422)
    lesson = catalogue.save_lesson(db, course, values, actor=user.name)
    return done(
        request,
        db,
        _("The lesson %(title)s was added.", title=lesson.title),
        f"/learning/manage/courses/{slug}/lessons/{lesson.id}/edit",
    )


@router.get("/learning/manage/courses/{slug}/lessons/{lesson_id}/edit", response_class=HTMLResponse)
def edit_lesson_form(request: Request, slug: str, lesson_id: int, db: DB, user: Writer) -> Response:
    course = _editable(db, slug, user)
    lesson = _lesson(course, lesson_id)
    values = {
        "title": lesson.title,
        "kind": lesson.kind,
        "body": lesson.body,
        "pass_mark": lesson.pass_mark if lesson.pass_mark is not None else "",
        "position": lesson.position,
    }
    return _lesson_form(request, course, lesson, values, {})


@router.post(
    "/learning/manage/courses/{slug}/lessons/{lesson_id}/edit", response_class=HTMLResponse
)
def update_lesson(
    request: Request,
    slug: str,
    lesson_id: int,
    db: DB,
    form: Posted,
    user: Writer,
) -> Response:
    course = _editable(db, slug, user)
    lesson = _lesson(course, lesson_id)
    values, errors = catalogue.parse_lesson_form(form)
    if errors:
        return _lesson_form(request, course, lesson, dict(form), errors, status_code=422)
    catalogue.save_lesson(db, course, values, actor=user.name, lesson=lesson)
    return done(
        request,
        db,
        _("The lesson %(title)s was saved.", title=lesson.title),
        f"/learning/manage/courses/{slug}",
    )


def _question_form(
    request: Request,
    course: Course,
    lesson: Lesson,
    question: QuizQuestion | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "learning/question_form.html",
        status_code=status_code,
        course=course,
        lesson=lesson,
        question=question,
        values=values,
        errors=errors,
    )


def _quiz(course: Course, lesson_id: int) -> Lesson:
    lesson = _lesson(course, lesson_id)
    if not lesson.is_quiz:
        raise _not_found("quiz")
    return lesson


@router.get(
    "/learning/manage/courses/{slug}/lessons/{lesson_id}/questions/new",
    response_class=HTMLResponse,
)
def new_question_form(
    request: Request, slug: str, lesson_id: int, db: DB, user: Writer
) -> Response:
    course = _editable(db, slug, user)
    lesson = _quiz(course, lesson_id)
    return _question_form(request, course, lesson, None, {}, {})


@router.post(
    "/learning/manage/courses/{slug}/lessons/{lesson_id}/questions/new",
    response_class=HTMLResponse,
)
def create_question(
    request: Request,
    slug: str,
    lesson_id: int,
    db: DB,
    form: Posted,
    user: Writer,
) -> Response:
    course = _editable(db, slug, user)
    lesson = _quiz(course, lesson_id)
    values, errors = catalogue.parse_question_form(form)
    if errors:
        return _question_form(request, course, lesson, None, dict(form), errors, 422)
    catalogue.save_question(db, lesson, values, actor=user.name)
    return done(
        request,
        db,
        _("The question was added."),
        f"/learning/manage/courses/{slug}/lessons/{lesson.id}/edit",
    )


def _question(lesson: Lesson, question_id: int) -> QuizQuestion:
    for question in lesson.questions:
        if question.id == question_id:
            return question
    raise _not_found("question")


def _editable_question(
    db: Session, slug: str, lesson_id: int, question_id: int, user: User
) -> tuple[Course, Lesson, QuizQuestion]:
    """The course *user* may edit, its quiz *lesson_id* and that quiz's question."""
    course = _editable(db, slug, user)
    lesson = _quiz(course, lesson_id)
    return course, lesson, _question(lesson, question_id)


@router.get(
    "/learning/manage/courses/{slug}/lessons/{lesson_id}/questions/{question_id}/edit",
    response_class=HTMLResponse,
)
def edit_question_form(
    request: Request,
    slug: str,
    lesson_id: int,
    question_id: int,
    db: DB,
    user: Writer,
) -> Response:
    course, lesson, question = _editable_question(db, slug, lesson_id, question_id, user)
    values = {
        "text": question.text,
        "options": "\n".join(question.options),
        "answer": question.answer + 1,
        "explanation": question.explanation,
    }
    return _question_form(request, course, lesson, question, values, {})


@router.post(
    "/learning/manage/courses/{slug}/lessons/{lesson_id}/questions/{question_id}/edit",
    response_class=HTMLResponse,
)
def update_question(
    request: Request,
    slug: str,
    lesson_id: int,
    question_id: int,
    db: DB,
    form: Posted,
    user: Writer,
) -> Response:
    course, lesson, question = _editable_question(db, slug, lesson_id, question_id, user)
    values, errors = catalogue.parse_question_form(form)
    if errors:
        return _question_form(request, course, lesson, question, dict(form), errors, 422)
    catalogue.save_question(db, lesson, values, actor=user.name, question=question)
    return done(
        request,
        db,
        _("The question was saved."),
        f"/learning/manage/courses/{slug}/lessons/{lesson.id}/edit",
    )


def _resource_form(
    request: Request,
    resource: Resource | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "learning/resource_form.html",
        status_code=status_code,
        resource=resource,
        values=values,
        errors=errors,
        kinds=options((k.value, k.value.capitalize()) for k in ResourceKind),
    )


@router.get("/learning/manage/resources/new", response_class=HTMLResponse)
def new_resource_form(request: Request, _user: ResourceWriter) -> Response:
    return _resource_form(request, None, {"kind": "article"}, {})


@router.post("/learning/manage/resources/new", response_class=HTMLResponse)
def create_resource(request: Request, db: DB, form: Posted, user: ResourceWriter) -> Response:
    values, errors = catalogue.parse_resource_form(db, form)
    if errors:
        return _resource_form(request, None, dict(form), errors, status_code=422)
    resource = catalogue.save_resource(db, values, actor=user.name)
    return done(
        request,
        db,
        _("The resource %(title)s was published.", title=resource.title),
        f"/resources/{resource.slug}",
    )


@router.get("/learning/manage/resources/{slug}/edit", response_class=HTMLResponse)
def edit_resource_form(request: Request, slug: str, db: DB, _user: ResourceWriter) -> Response:
    resource = _resource(db, slug)
    values = {
        k: getattr(resource, k)
        for k in ("slug", "kind", "title", "summary", "body", "url", "duration")
    }
    return _resource_form(request, resource, values, {})


@router.post("/learning/manage/resources/{slug}/edit", response_class=HTMLResponse)
def update_resource(
    request: Request, slug: str, db: DB, form: Posted, user: ResourceWriter
) -> Response:
    resource = _resource(db, slug)
    values, errors = catalogue.parse_resource_form(db, form, resource)
    if errors:
        return _resource_form(request, resource, dict(form), errors, status_code=422)
    catalogue.save_resource(db, values, actor=user.name, resource=resource)
    return done(
        request,
        db,
        _("The resource %(title)s was saved.", title=resource.title),
        f"/resources/{resource.slug}",
    )


# --- accreditations (administrators) ----------------------------------------------------


def _accreditations_page(
    request: Request,
    db: Session,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "learning/accreditations.html",
        status_code=status_code,
        held=accreditation.all_accreditations(db),
        values=values,
        errors=errors,
        name_of=_holder,
    )


@router.get("/learning/manage/accreditations", response_class=HTMLResponse)
def accreditations_page(request: Request, db: DB, _user: Revoker) -> Response:
    return _accreditations_page(request, db, {"kind": "safe_researcher"}, {})


@router.post("/learning/manage/accreditations", response_class=HTMLResponse)
def grant_accreditation(request: Request, db: DB, form: Posted, user: Revoker) -> Response:
    values, errors = accreditation.parse_grant_form(db, form)
    if errors:
        return _accreditations_page(request, db, dict(form), errors, status_code=422)
    row = accreditation.award(db, values["user"], values["kind"], values["days"], user.name)
    message = _(
        "%(person)s is accredited as %(accreditation)s.",
        person=_holder(values["user"]),
        accreditation=gettext_plain(accreditation.label(row.kind)),
    )
    return done(request, db, message, "/learning/manage/accreditations")


@router.post("/learning/manage/accreditations/{accreditation_id}/revoke")
def revoke_accreditation(
    request: Request, accreditation_id: int, db: DB, form: Posted, user: Revoker
) -> Response:
    row = db.get(Accreditation, accreditation_id)
    if row is None:
        raise _not_found("accreditation")
    if row.revoked_at is None:
        accreditation.revoke(db, row, actor=user.name, reason=form.get("reason", ""))
        flash(
            request,
            db,
            _(
                "The %(kind)s accreditation is revoked.",
                kind=gettext_plain(accreditation.label(row.kind)),
            ),
        )
        db.commit()
    return RedirectResponse("/learning/manage/accreditations", status_code=303)


@router.post("/learning/manage/courses/{slug}/lessons/{lesson_id}/delete")
def delete_lesson(
    request: Request, slug: str, lesson_id: int, db: DB, _form: Posted, user: Writer
) -> Response:
    course = _editable(db, slug, user)
    lesson = _lesson(course, lesson_id)
    title = lesson.title
    try:
        catalogue.delete_lesson(db, lesson, actor=user.name)
    except FivesafesError as refused:
        db.rollback()
        return done(
            request,
            db,
            _("The lesson was not deleted: %(refused)s.", refused=refused),
            f"/learning/manage/courses/{slug}/lessons/{lesson_id}/edit",
        )
    return done(
        request,
        db,
        _("The lesson %(title)s was deleted.", title=title),
        f"/learning/manage/courses/{slug}",
    )


@router.post("/learning/manage/courses/{slug}/lessons/{lesson_id}/questions/{question_id}/delete")
def delete_question(
    request: Request,
    slug: str,
    lesson_id: int,
    question_id: int,
    db: DB,
    _form: Posted,
    user: Writer,
) -> Response:
    _course, _lesson, question = _editable_question(db, slug, lesson_id, question_id, user)
    catalogue.delete_question(db, question, actor=user.name)
    return done(
        request,
        db,
        _("The question was deleted."),
        f"/learning/manage/courses/{slug}/lessons/{lesson_id}/edit",
    )
