"""The collections' tables in the application state: providers, their members,
submissions and the explanations of their warnings.

They share the settings' declarative base (so the model-vs-migration test sees
them); the schema is made by the migration ``0002_collections``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.appdb.models import Base, User, utcnow


class Provider(Base):
    """An organisation that sends returns (a local authority, say), by its code."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    members: Mapped[list[ProviderMember]] = relationship(
        back_populates="provider", cascade="all, delete-orphan"
    )


class ProviderMember(Base):
    """A user who submits for a provider."""

    __tablename__ = "provider_members"
    __table_args__ = (UniqueConstraint("provider_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    provider: Mapped[Provider] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Submission(Base):
    """One file a provider sent for one collection and year, and what became of it.

    ``status``: ``rejected`` (errors), ``needs_explanation`` (warnings not yet all
    explained), ``ready`` (may be accepted), ``accepted``, ``superseded`` (a later
    submission for the same collection, provider and year replaced it).
    """

    __tablename__ = "collection_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection: Mapped[str] = mapped_column(String(64))
    collection_year: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    file_name: Mapped[str] = mapped_column(String(256))
    sha256: Mapped[str] = mapped_column(String(64))
    spec_sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[int] = mapped_column(Integer)
    #: Issues per rule id.
    issue_counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The counts comparison rules compare (per rule id, per group).
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("collection_submissions.id"))
    ingest_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    provider: Mapped[Provider] = relationship()
    submitted_by: Mapped[User] = relationship(foreign_keys=[submitted_by_id])
    explanations: Mapped[list[Explanation]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="Explanation.id"
    )


class Explanation(Base):
    """A provider's explanation of a warning: of one row (``row`` set) or of every
    issue of a rule (``row`` NULL)."""

    __tablename__ = "submission_explanations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("collection_submissions.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    row: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="explanations")
    author: Mapped[User] = relationship()


class CheckpointGrant(Base):
    """Who may see the Social Services Checkpoint, granted by an administrator:
    ``provider_code`` an authority (its own staff see only it), or NULL for a
    national stakeholder (every authority). Made by migration ``0003_checkpoint``."""

    __tablename__ = "checkpoint_grants"
    __table_args__ = (UniqueConstraint("user_id", "provider_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    provider_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    granted_by: Mapped[User] = relationship(foreign_keys=[granted_by_id])
