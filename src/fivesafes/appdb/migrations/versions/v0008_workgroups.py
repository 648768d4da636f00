"""Themed workgroups on the learning platform: workgroups, their members, live
sessions and the enrolments on them, and their resources (models in
:mod:`fivesafes.people.workgroups.models`).

Revision ID: 0008_workgroups
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_workgroups"
down_revision = "0001"  # the users table: the only one these refer to
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workgroups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(80), nullable=False, unique=True),
        sa.Column("theme", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "workgroup_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workgroup_id", sa.Integer(), sa.ForeignKey("workgroups.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("joined_at", TZ, nullable=False),
        sa.UniqueConstraint("workgroup_id", "user_id"),
    )
    op.create_table(
        "workgroup_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workgroup_id", sa.Integer(), sa.ForeignKey("workgroups.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("place", sa.String(300), nullable=False),
        sa.Column("online_link", sa.String(500), nullable=False),
        sa.Column("fee_pence", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("enrolled_count", sa.Integer(), nullable=False),
        sa.Column("enrolment_open", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "workgroup_enrolments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id", sa.Integer(), sa.ForeignKey("workgroup_sessions.id"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("enrolled_at", TZ, nullable=False),
        sa.UniqueConstraint("session_id", "user_id"),
    )
    op.create_table(
        "workgroup_resources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workgroup_id", sa.Integer(), sa.ForeignKey("workgroups.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "workgroup_resources",
        "workgroup_enrolments",
        "workgroup_sessions",
        "workgroup_members",
        "workgroups",
    ):
        op.drop_table(table)
