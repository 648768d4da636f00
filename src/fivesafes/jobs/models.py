"""The tables of jobs: a project's analysis script (or study) run in the sandbox by
a runner, and the files it wrote, each with the disclosure engine's verdict.

They live on the application database's declarative base
(:class:`fivesafes.appdb.models.Base`); the schema is made by the migration
``0004_jobs`` and a test compares the two.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.appdb.models import Base, User, utcnow


class JobState(StrEnum):
    """``queued → running → succeeded | failed | killed | cancelled``."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    KILLED = "killed"
    CANCELLED = "cancelled"


#: The states a job never leaves.
FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.KILLED, JobState.CANCELLED})


class JobKind(StrEnum):
    SCRIPT = "script"  # one Python file, run as ``python script.py``
    STUDY = "study"  # a study in the ``studies/`` format, run by ``run_study``


class Verdict(StrEnum):
    """The disclosure engine's verdict on one output (as the airlock's)."""

    PASS = "pass"
    SUPPRESS = "suppress"
    REVIEW = "review"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    submitter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    #: The study's name, for a study job.
    study: Mapped[str | None] = mapped_column(String(64))
    script_name: Mapped[str] = mapped_column(String(200))
    script: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The runner that claimed it (``host:pid:n``) and until when its lease holds.
    runner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    #: Why a job failed, was killed or cancelled, in words the researcher may read.
    reason: Mapped[str] = mapped_column(Text, default="")
    #: The limit a killed job went over (``memory``, ``cpu``, ``wall``, ``output``, ``processes``).
    limit: Mapped[str | None] = mapped_column(String(32))
    #: For a failure: the exception's type and the script's file and line (never the message).
    error_type: Mapped[str | None] = mapped_column(String(200))
    error_file: Mapped[str | None] = mapped_column(String(200))
    error_line: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    max_rss_kb: Mapped[int | None] = mapped_column(Integer)
    #: The job's printed output (stdout and stderr): for output checkers only.
    log: Mapped[bytes | None] = mapped_column(LargeBinary)

    project: Mapped[Any] = relationship("Project")
    submitter: Mapped[User] = relationship()
    outputs: Mapped[list[JobOutput]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="JobOutput.id"
    )

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class JobOutput(Base):
    """One file a job wrote, its bytes, and the disclosure engine's verdict: a table
    of counts checked by the rules of ``outputs check-table`` (``report`` and its
    safe version), anything else ``review`` (for a checker's eye)."""

    __tablename__ = "job_outputs"
    __table_args__ = (UniqueConstraint("job_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    #: The path inside the job's output folder (``/`` separated).
    name: Mapped[str] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    verdict: Mapped[str] = mapped_column(String(16))
    #: Why this verdict, in a line (e.g. "not a table of counts: needs a checker's eye").
    note: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    job: Mapped[Job] = relationship(back_populates="outputs")
