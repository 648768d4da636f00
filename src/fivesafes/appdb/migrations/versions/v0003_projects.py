"""Safe projects: applications, their datasets and members, the panel's and the
dataset owners' reviews, and who owns each dataset (models in
:mod:`fivesafes.projects.models`).

Revision ID: 0003_projects
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_projects"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=True, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("lay_summary", sa.Text(), nullable=False),
        sa.Column("public_benefit", sa.Text(), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("applicant_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("provisioning", sa.String(16), nullable=False),
        sa.Column("workspace", sa.Text(), nullable=True),
        sa.Column("provisioning_note", sa.Text(), nullable=False),
    )
    op.create_table(
        "project_datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.UniqueConstraint("project_id", "dataset"),
    )
    op.create_table(
        "project_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.UniqueConstraint("project_id", "user_id"),
    )
    op.create_table(
        "project_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "dataset_owners",
        sa.Column("dataset", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("assigned_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dataset_owners")
    op.drop_table("project_reviews")
    op.drop_table("project_members")
    op.drop_table("project_datasets")
    op.drop_table("projects")
