"""The tables of themed workgroups: a workgroup (a theme such as "Courts & Justice"
and a description), its members, its live sessions with the enrolments on them,
and its resources (a link or a stored file).

They share :class:`fivesafes.appdb.models.Base` with the rest of the application
state; the Alembic migration ``0008_workgroups`` creates them and a test compares
the two. Money is whole pence with its currency (``fee_pence``, ``currency``);
times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.appdb.models import Base, User, as_utc, utcnow


class SessionFormat(StrEnum):
    """How a live session is held: in a place, or online (a link for the enrolled)."""

    IN_PERSON = "in_person"
    LIVE_ONLINE = "live_online"


class Workgroup(Base):
    """A themed workgroup; ``slug`` is its address (``/workgroups/<slug>``)."""

    __tablename__ = "workgroups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    theme: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    sessions: Mapped[list[LiveSession]] = relationship(
        back_populates="workgroup",
        cascade="all, delete-orphan",
        order_by=lambda: [LiveSession.starts_at, LiveSession.id],
    )
    members: Mapped[list[WorkgroupMember]] = relationship(
        back_populates="workgroup",
        cascade="all, delete-orphan",
        order_by=lambda: WorkgroupMember.id,
    )
    resources: Mapped[list[WorkgroupResource]] = relationship(
        back_populates="workgroup",
        cascade="all, delete-orphan",
        order_by=lambda: WorkgroupResource.id,
    )


class WorkgroupMember(Base):
    """A user who has joined a workgroup (leaving deletes the row; the audit log
    keeps both)."""

    __tablename__ = "workgroup_members"
    __table_args__ = (UniqueConstraint("workgroup_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workgroup_id: Mapped[int] = mapped_column(ForeignKey("workgroups.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    workgroup: Mapped[Workgroup] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class LiveSession(Base):
    """A live session of a workgroup.

    ``place`` is where an in-person session meets; ``online_link`` is the link of a
    live online one, given to enrolled members only. ``capacity`` None: no limit.
    ``enrolled_count`` is kept by :func:`fivesafes.people.workgroups.live.enrol` with
    an atomic conditional update, so that concurrent enrolments never pass
    ``capacity``. ``enrolment_open`` is the trainer's switch; enrolment also ends
    when the session starts.
    """

    __tablename__ = "workgroup_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workgroup_id: Mapped[int] = mapped_column(ForeignKey("workgroups.id"))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(20))
    place: Mapped[str] = mapped_column(String(300), default="")
    online_link: Mapped[str] = mapped_column(String(500), default="")
    fee_pence: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    capacity: Mapped[int | None] = mapped_column(Integer)
    enrolled_count: Mapped[int] = mapped_column(Integer, default=0)
    enrolment_open: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    workgroup: Mapped[Workgroup] = relationship(back_populates="sessions")

    @property
    def starts(self) -> datetime:
        """The start as an aware UTC time."""
        return as_utc(self.starts_at)

    @property
    def ends(self) -> datetime:
        return self.starts + timedelta(minutes=self.duration_minutes)

    @property
    def is_online(self) -> bool:
        return self.format == SessionFormat.LIVE_ONLINE.value


class SessionEnrolment(Base):
    """A member's place on a live session."""

    __tablename__ = "workgroup_enrolments"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("workgroup_sessions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    session: Mapped[LiveSession] = relationship()
    user: Mapped[User] = relationship()


class WorkgroupResource(Base):
    """A resource of a workgroup: a link (``url``) or a stored file (``filename``,
    ``media_type``, ``content``), for its members."""

    __tablename__ = "workgroup_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workgroup_id: Mapped[int] = mapped_column(ForeignKey("workgroups.id"))
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500), default="")
    filename: Mapped[str] = mapped_column(String(200), default="")
    media_type: Mapped[str] = mapped_column(String(100), default="")
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    added_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    workgroup: Mapped[Workgroup] = relationship(back_populates="resources")

    @property
    def is_file(self) -> bool:
        return bool(self.filename)
