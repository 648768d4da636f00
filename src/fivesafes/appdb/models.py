"""The application state's tables (SQLAlchemy 2 declarative models).

Users and their roles (with the web accounts: e-mail, password hash, profile,
extra roles, log-in sessions, password-reset tokens and the throttling of failed
log-ins), airlock release requests with their outputs (a trained model's with the
data it was fitted on), reviews and comments, the
audit log and its verified checkpoint, and the secrets the web app's processes
share. The schema is created and changed only by the Alembic migrations in
:mod:`fivesafes.appdb.migrations`; these models must match them (a test compares
the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives them back naive)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Role(StrEnum):
    RESEARCHER = "researcher"
    OUTPUT_CHECKER = "output_checker"
    DATA_OWNER = "data_owner"
    LINKAGE_OPERATOR = "linkage_operator"
    ADMINISTRATOR = "administrator"
    TRAINER = "trainer"
    PANEL_MEMBER = "panel_member"


class Base(DeclarativeBase):
    pass


class User(Base):
    """A user: ``name`` is the unique handle the library and the audit log know them
    by; ``role`` the primary role (the airlock library reads it); ``roles`` all the
    roles they hold (the primary one and those in ``user_roles``). Web accounts add
    an e-mail, an argon2 password hash and a profile; users made on the command line
    have neither e-mail nor password and cannot log in to the web app."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    email: Mapped[str | None] = mapped_column(String(254), unique=True, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    research_interests: Mapped[str] = mapped_column(Text, default="")
    #: The role asked for at registration, until an administrator decides.
    role_requested: Mapped[str | None] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserRole.role"
    )

    @property
    def roles(self) -> set[str]:
        """Every role the user holds (the primary ``role`` included)."""
        held = {row.role for row in self.role_rows}
        if self.role:
            held.add(self.role)
        return held

    def has_role(self, *roles: str) -> bool:
        """Whether the user holds one of ``roles`` (an administrator holds them all)."""
        held = self.roles
        return Role.ADMINISTRATOR.value in held or any(r in held for r in roles)

    @property
    def label(self) -> str:
        """How pages name the user: their display name, else their handle."""
        return self.display_name or self.name


class UserRole(Base):
    """One role a user holds (a user may hold several)."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    granted_by: Mapped[str] = mapped_column(String(128))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="role_rows")


class WebSession(Base):
    """A browser's session: the SHA-256 of the random cookie token (the token itself
    is never stored), the CSRF token tied to it, the user once logged in, and a
    message to show on the next page."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    flash: Mapped[str | None] = mapped_column(Text)


class PasswordResetToken(Base):
    """A one-time password-reset link an administrator issued (its SHA-256 only)."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    issued_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReleaseRequest(Base):
    __tablename__ = "release_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(256))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(32))
    #: The airlock policy in force for this request (see ``AirlockPolicy``).
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    author: Mapped[User] = relationship(foreign_keys=[author_id])
    co_authors: Mapped[list[RequestAuthor]] = relationship(
        back_populates="request", cascade="all, delete-orphan"
    )
    outputs: Mapped[list[RequestOutput]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestOutput.id"
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="Comment.id"
    )


class RequestAuthor(Base):
    """Another member listed as an author of a request (the creator is ``author``)."""

    __tablename__ = "request_authors"
    __table_args__ = (UniqueConstraint("request_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    request: Mapped[ReleaseRequest] = relationship(back_populates="co_authors")
    user: Mapped[User] = relationship()


class RequestOutput(Base):
    """One output of a request: its file (stored bytes, or a path read again at
    release), the researcher's description, its SHA-256, and the automatic check."""

    __tablename__ = "request_outputs"
    __table_args__ = (UniqueConstraint("request_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str | None] = mapped_column(Text)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    #: Bumped on every change; reviews count only for the version they saw.
    version: Mapped[int] = mapped_column(Integer, default=1)
    check_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verdict: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    request: Mapped[ReleaseRequest] = relationship(back_populates="outputs")
    reviews: Mapped[list[Review]] = relationship(
        back_populates="output", cascade="all, delete-orphan", order_by="Review.id"
    )
    #: For a trained model (the file is its skops archive): the data it was fitted
    #: and tested on, which the model check reads and which never leave the TRE.
    model_data: Mapped[ModelData | None] = relationship(
        back_populates="output", cascade="all, delete-orphan", uselist=False
    )

    @property
    def kind(self) -> str:
        """``model`` for a trained model, else ``file``."""
        return "model" if self.model_data is not None else "file"


class ModelData(Base):
    """The train and test CSVs and the target column of a model output. They stay
    inside the TRE: only the model file is ever released. Their SHA-256 are checked
    again whenever the model check reads them. ``categorical``: the feature columns
    the attribute-inference attack treats as categorical, as the researcher named
    them (``None``: none named, the check decides from the values)."""

    __tablename__ = "request_model_data"

    output_id: Mapped[int] = mapped_column(ForeignKey("request_outputs.id"), primary_key=True)
    target: Mapped[str] = mapped_column(String(256))
    train: Mapped[bytes] = mapped_column(LargeBinary)
    test: Mapped[bytes] = mapped_column(LargeBinary)
    train_sha256: Mapped[str] = mapped_column(String(64))
    test_sha256: Mapped[str] = mapped_column(String(64))
    train_name: Mapped[str] = mapped_column(String(256))
    test_name: Mapped[str] = mapped_column(String(256))
    categorical: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    output: Mapped[RequestOutput] = relationship(back_populates="model_data")


class Review(Base):
    """A checker's decision on one version of one output (kept when the output
    changes, for the record, but counted only while version and SHA-256 match)."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("request_outputs.id"))
    checker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    output_version: Mapped[int] = mapped_column(Integer)
    output_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    output: Mapped[RequestOutput] = relationship(back_populates="reviews")
    checker: Mapped[User] = relationship()


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"))
    output_id: Mapped[int | None] = mapped_column(ForeignKey("request_outputs.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    request: Mapped[ReleaseRequest] = relationship(back_populates="comments")
    author: Mapped[User] = relationship()
    output: Mapped[RequestOutput | None] = relationship()


class AuditEntry(Base):
    """One entry of the append-only audit log (see :mod:`fivesafes.audit`).

    ``at`` and ``details`` are kept as the exact text that was hashed, so that the
    hash can be recomputed on any database engine.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LoginThrottle(Base):
    """Failed log-ins counted against one scope (see :mod:`fivesafes.web.throttle`):
    an account from one client (``pair``), one client across all accounts
    (``client``), or one account from every client (``account``). ``subject`` is
    the audit subject of the account (``user:<name>``, or ``login:<digest>`` for an
    address without one) and ``client`` the client's network address; the one a
    scope does not use is empty. ``refused`` counts the attempts refused while
    ``locked_until`` was in force (they are not each written to the audit log)."""

    __tablename__ = "login_throttle"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(256), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refused: Mapped[int] = mapped_column(Integer, default=0)
    #: When the row may be deleted (a day after its window or its lock ended).
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditCheckpoint(Base):
    """The newest audit entry a verification of the chain found intact (one row,
    ``id`` 1): the audit page verifies only the entries after it, then moves it on.
    A full verification (``fivesafes audit verify``) still reads every entry."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SiteSecret(Base):
    """A secret the web app's processes share, made once by the first one to start
    (``csrf``: the key of visitors' CSRF tokens, unless ``$FIVESAFES_SECRET_KEY`` is set)."""

    __tablename__ = "site_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
