"""Membership by invitation: invitations to join a project (accepted by the
invitee, and approved by the panel and the dataset owners when the project is
already approved), the approvers' decisions on them, and the membership rules
the approvers set on a project (models in :mod:`fivesafes.projects.models`).

Revision ID: 0005_membership
Revises: 0004_jobs
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_membership"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "project_invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("approval", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(32), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
    )
    op.create_index("ix_project_invitations_project_id", "project_invitations", ["project_id"])
    op.create_index("ix_project_invitations_user_id", "project_invitations", ["user_id"])
    op.create_table(
        "project_invitation_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "invitation_id",
            sa.Integer(),
            sa.ForeignKey("project_invitations.id"),
            nullable=False,
        ),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index(
        "ix_project_invitation_reviews_invitation_id",
        "project_invitation_reviews",
        ["invitation_id"],
    )
    op.create_table(
        "project_rule_consents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("allow", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_project_rule_consents_project_id", "project_rule_consents", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_project_rule_consents_project_id", "project_rule_consents")
    op.drop_table("project_rule_consents")
    op.drop_index("ix_project_invitation_reviews_invitation_id", "project_invitation_reviews")
    op.drop_table("project_invitation_reviews")
    op.drop_index("ix_project_invitations_user_id", "project_invitations")
    op.drop_index("ix_project_invitations_project_id", "project_invitations")
    op.drop_table("project_invitations")
