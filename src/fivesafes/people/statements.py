"""Statements of participation: issued when a learner completes a course, each with
an unguessable verification code that anyone can check at ``/verify/{code}``, and
a PDF (fpdf2) to download.

A code is 10 random bytes from :mod:`secrets` in base32 (16 characters, 80 bits),
shown in groups of four (``ABCD-EFGH-IJKL-MNOP``); checking ignores case, spaces
and dashes.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, as_utc, utcnow
from fivesafes.people.models import Course, Statement

CODE_BYTES = 10
_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def new_code() -> str:
    """A fresh verification code: 16 base32 characters (80 random bits)."""
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii")


def normalise_code(text: str) -> str | None:
    """The stored form of a code as someone typed it, or None if it cannot be one."""
    cleaned = "".join(text.split()).replace("-", "").upper()
    if len(cleaned) != 16 or not set(cleaned) <= _ALPHABET:
        return None
    return cleaned


def display_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def display_name(user: User) -> str:
    """How a user is named on pages and statements (W1's display name, else the handle)."""
    return str(getattr(user, "display_name", None) or user.name)


def issue(session: Session, user: User, course: Course, now: datetime | None = None) -> Statement:
    """Issue a statement of participation (the caller commits)."""
    statement = Statement(
        code=new_code(),
        user_id=user.id,
        course_id=course.id,
        holder_name=display_name(user),
        course_title=course.title,
        issued_at=now or utcnow(),
    )
    session.add(statement)
    session.flush()
    return statement


@dataclass(frozen=True)
class Verification:
    """What ``/verify`` shows: ``valid`` and, when the code exists, its statement."""

    valid: bool
    statement: Statement | None
    reason: str


def verify(session: Session, code: str) -> Verification:
    """Check a code as typed: valid, revoked, or not a code we issued."""
    normal = normalise_code(code)
    if normal is None:
        return Verification(False, None, "This is not a verification code we issue.")
    statement = session.scalar(select(Statement).where(Statement.code == normal))
    if statement is None:
        return Verification(False, None, "No statement of participation has this code.")
    if statement.revoked_at is not None:
        when = as_utc(statement.revoked_at).strftime("%d %B %Y")
        why = f": {statement.revoked_reason}" if statement.revoked_reason else ""
        return Verification(False, statement, f"This statement was revoked on {when}{why}.")
    return Verification(True, statement, "This statement of participation is valid.")


def statements_of(session: Session, user_id: int) -> list[Statement]:
    return list(
        session.scalars(
            select(Statement)
            .where(Statement.user_id == user_id)
            .order_by(Statement.issued_at.desc(), Statement.id.desc())
        )
    )


def revoke(session: Session, statement: Statement, actor: str, reason: str) -> None:
    """Revoke a statement (written to the audit log; the caller commits)."""
    from fivesafes.audit import record

    statement.revoked_at = utcnow()
    statement.revoked_reason = reason
    record(
        session,
        actor,
        "people.statement.revoke",
        f"statement:{statement.id}",
        {"reason": reason},
    )


_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


def _unicode_font() -> tuple[Path, Path] | None:
    for folder in _FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


def statement_pdf(statement: Statement, verify_url: str, site: str = "fivesafes") -> bytes:
    """The statement as an A4 PDF: who, which course, when, and how to check it.

    Uses DejaVu Sans where installed (any name prints); otherwise the PDF core font,
    with characters outside Latin-1 replaced.
    """
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(f"Statement of participation: {statement.course_title}")
    pdf.set_author(site)
    pdf.add_page()
    fonts = _unicode_font()
    if fonts is not None:
        pdf.add_font("body", "", str(fonts[0]))
        pdf.add_font("body", "B", str(fonts[1]))
        family = "body"

        def text(value: str) -> str:
            return value

    else:  # pragma: no cover - depends on the machine's fonts
        family = "helvetica"

        def text(value: str) -> str:
            return value.encode("latin-1", "replace").decode("latin-1")

    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_draw_color(40, 70, 120)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    pdf.set_y(35)
    pdf.set_font(family, "B", 28)
    pdf.cell(
        width, 14, text("Statement of participation"), align="C", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(8)
    pdf.set_font(family, "", 14)
    pdf.cell(width, 9, text("This is to state that"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "B", 22)
    pdf.cell(width, 13, text(statement.holder_name), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 14)
    pdf.cell(width, 9, text("completed the course"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "B", 18)
    pdf.multi_cell(
        width, 10, text(statement.course_title), align="C", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font(family, "", 14)
    issued = as_utc(statement.issued_at).strftime("%d %B %Y")
    pdf.cell(width, 9, text(f"on {issued}."), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    pdf.set_font(family, "B", 13)
    pdf.cell(
        width,
        8,
        text(f"Verification code: {display_code(statement.code)}"),
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font(family, "", 11)
    pdf.cell(width, 7, text(f"Check it at {verify_url}"), align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
