"""Jobs: a project's scripts run in the sandbox, and the files they wrote with their
verdicts (models in :mod:`fivesafes.jobs.models`).

Revision ID: 0004_jobs
Revises: 0003_projects
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_jobs"
down_revision = "0003_projects"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("submitter_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("study", sa.String(64), nullable=True),
        sa.Column("script_name", sa.String(200), nullable=False),
        sa.Column("script", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("runner", sa.String(200), nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("limit", sa.String(32), nullable=True),
        sa.Column("error_type", sa.String(200), nullable=True),
        sa.Column("error_file", sa.String(200), nullable=True),
        sa.Column("error_line", sa.Integer(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("max_rss_kb", sa.Integer(), nullable=True),
        sa.Column("log", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_table(
        "job_outputs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("job_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("job_outputs")
    op.drop_index("ix_jobs_state", "jobs")
    op.drop_table("jobs")
