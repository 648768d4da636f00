"""Statements of participation: unguessable codes, verification (valid, unknown,
malformed, revoked) and the PDF."""

from __future__ import annotations

import re

from people_helpers import make_course, make_user
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.people import learning, statements


def _statement(session: Session, user: User):  # type: ignore[no-untyped-def]
    course = make_course(session, quiz=False, title="Safe researcher induction")
    enrolment = learning.enrol(session, course, user)
    outcome = learning.record_attendance(session, enrolment, actor="trainer")
    assert outcome.statement is not None
    return outcome.statement


def test_codes_are_16_base32_characters_and_all_different() -> None:
    codes = {statements.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(re.fullmatch(r"[A-Z2-7]{16}", c) for c in codes)


def test_a_code_is_checked_however_it_is_typed(session: Session, alice: User) -> None:
    statement = _statement(session, alice)
    shown = statements.display_code(statement.code)
    assert re.fullmatch(r"([A-Z2-7]{4}-){3}[A-Z2-7]{4}", shown)
    for typed in (statement.code, shown, shown.lower(), f"  {shown.replace('-', ' ')} "):
        result = statements.verify(session, typed)
        assert result.valid, typed
        assert result.statement is not None
        assert result.statement.holder_name == "Alice"
        assert result.statement.course_title == "Safe researcher induction"


def test_unknown_malformed_and_revoked_codes_are_not_valid(session: Session, alice: User) -> None:
    statement = _statement(session, alice)
    other = "A" * 16 if statement.code != "A" * 16 else "B" * 16
    unknown = statements.verify(session, other)
    assert not unknown.valid and unknown.statement is None
    assert unknown.reason == "No statement of participation has this code."
    for bad in ("", "short", "0" * 16, statement.code + "A", "<script>"):
        result = statements.verify(session, bad)
        assert not result.valid and result.statement is None
        assert result.reason == "This is not a verification code we issue."
    statements.revoke(session, statement, actor="admin", reason="issued in error")
    session.commit()
    revoked = statements.verify(session, statement.code)
    assert not revoked.valid and revoked.statement is not None
    assert revoked.reason.startswith("This statement was revoked on ")
    assert revoked.reason.endswith(": issued in error.")


def test_the_pdf_is_a_pdf_for_any_name(session: Session) -> None:
    user = make_user(session, "zoë")
    user.display_name = "Zoë Łukasiewicz-Ng 张"
    session.commit()
    statement = _statement(session, user)
    pdf = statements.statement_pdf(statement, "https://tre.example/verify/X")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) > 1000
