"""The tables of safe projects: applications, their datasets, members, the
reviews by the approval panel and by each dataset's owner, which user owns
which dataset, invitations to join a project (and the approvers' decisions on
those that need them), and the membership rules the approvers set on a project.

They live on the application database's declarative base
(:class:`fivesafes.appdb.models.Base`), so they can point at ``users``; the
schema is made by the migrations ``0003_projects`` and ``0005_membership``, and a
test compares the two.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.appdb.models import Base, User, utcnow


class ProjectState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class MemberRole(StrEnum):
    """A member's role in one project (the TRE-wide roles are on the user)."""

    LEAD_RESEARCHER = "lead_researcher"
    RESEARCHER = "researcher"


class ReviewKind(StrEnum):
    PANEL = "panel"
    OWNER = "owner"


class InvitationState(StrEnum):
    """Where an invitation stands on the invitee's side."""

    PENDING = "pending"  # waiting for the invitee's answer
    ACCEPTED = "accepted"  # the invitee accepted and is a member
    DECLINED = "declined"  # the invitee declined
    WITHDRAWN = "withdrawn"  # a lead withdrew it
    REFUSED = "refused"  # the approvers refused the membership change


class Approval(StrEnum):
    """Whether joining needs the approvers' decision, and where it stands."""

    #: Invited to a draft: the application's review (which lists every invitee) decides.
    WITH_APPLICATION = "with_application"
    #: Allowed without a decision by a membership rule the approvers set on the project.
    BY_RULE = "by_rule"
    #: A membership change of an approved project, waiting for the approvers.
    NEEDED = "needed"
    APPROVED = "approved"
    REJECTED = "rejected"


class Provisioning(StrEnum):
    """Where the workspace of a project stands."""

    NOT_YET = "not_yet"  # not approved yet
    AWAITING = "awaiting"  # approved; no store configured, or provisioning failed
    PROVISIONED = "provisioned"


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The project's name in the store, the airlock and the audit log (``project-<id>``).
    slug: Mapped[str | None] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    lay_summary: Mapped[str] = mapped_column(Text)
    public_benefit: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provisioning: Mapped[str] = mapped_column(String(16), default=Provisioning.NOT_YET.value)
    #: The workspace file, once provisioned.
    workspace: Mapped[str | None] = mapped_column(Text)
    #: Why provisioning waits (no store configured, or the error it met).
    provisioning_note: Mapped[str] = mapped_column(Text, default="")
    #: The application asks to release trained models (precision training then
    #: requires the course on protecting privacy in AI models).
    releases_models: Mapped[bool] = mapped_column(Boolean, default=False)

    applicant: Mapped[User] = relationship(foreign_keys=[applicant_id])
    datasets: Mapped[list[ProjectDataset]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectDataset.id"
    )
    members: Mapped[list[ProjectMember]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectMember.id"
    )
    reviews: Mapped[list[ProjectReview]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectReview.id"
    )
    invitations: Mapped[list[ProjectInvitation]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectInvitation.id"
    )
    rule_consents: Mapped[list[ProjectRuleConsent]] = relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        order_by="ProjectRuleConsent.id",
    )


class ProjectDataset(Base):
    __tablename__ = "project_datasets"
    __table_args__ = (UniqueConstraint("project_id", "dataset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    dataset: Mapped[str] = mapped_column(String(64))

    project: Mapped[Project] = relationship(back_populates="datasets")


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class ProjectReview(Base):
    """A decision on a submitted application: the panel's (``dataset`` empty), or
    the owner's of one requested dataset. The latest decision of each kind (and
    dataset) counts."""

    __tablename__ = "project_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


class DatasetOwner(Base):
    """Who approves access to a dataset (one owner per dataset, set by an
    administrator)."""

    __tablename__ = "dataset_owners"

    dataset: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()


class ProjectInvitation(Base):
    """An invitation to join a project with a project role. The invitee becomes a
    member only by accepting it, and only once joining is approved: with the
    application (invited to a draft), by a rule the approvers set, or by the panel
    and the owner of every dataset of the project (``approval``)."""

    __tablename__ = "project_invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), default=InvitationState.PENDING.value)
    approval: Mapped[str] = mapped_column(String(16))
    #: The membership rule that allowed it (``approval`` is ``by_rule``).
    rule: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    project: Mapped[Project] = relationship(back_populates="invitations")
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    invited_by: Mapped[User] = relationship(foreign_keys=[invited_by_id])
    reviews: Mapped[list[ProjectInvitationReview]] = relationship(
        back_populates="invitation",
        cascade="all, delete-orphan",
        order_by="ProjectInvitationReview.id",
    )


class ProjectInvitationReview(Base):
    """A decision on a membership change of an approved project (an invitation), by
    the panel (``dataset`` empty) or by the owner of one of the project's datasets;
    the latest of each kind (and dataset) counts, as for applications."""

    __tablename__ = "project_invitation_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("project_invitations.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    invitation: Mapped[ProjectInvitation] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


class ProjectRuleConsent(Base):
    """One approver's consent to (``allow``) or withdrawal of a membership rule on a
    project, by the panel (``dataset`` empty) or by a dataset's owner. A rule is in
    force while the panel's latest word and every dataset's current owner's latest
    word on it allow it."""

    __tablename__ = "project_rule_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(32))
    allow: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(back_populates="rule_consents")
    reviewer: Mapped[User] = relationship()
