"""Trained models in the airlock: the data a model output was fitted and tested on
(``request_model_data``, which never leaves the TRE), the application field saying
a project releases models (``projects.releases_models``), and the precision-training
rule for a kind of output (``courses.required_for_outputs``).

Revision ID: 0007_releases_models
Revises: 0003_people, 0003_projects
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_releases_models"
# request_outputs (0001) is below both; courses come with 0003_people, projects
# with 0003_projects.
down_revision = ("0003_people", "0003_projects")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_model_data",
        sa.Column(
            "output_id",
            sa.Integer(),
            sa.ForeignKey("request_outputs.id"),
            primary_key=True,
        ),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("train", sa.LargeBinary(), nullable=False),
        sa.Column("test", sa.LargeBinary(), nullable=False),
        sa.Column("train_sha256", sa.String(64), nullable=False),
        sa.Column("test_sha256", sa.String(64), nullable=False),
        sa.Column("train_name", sa.String(256), nullable=False),
        sa.Column("test_name", sa.String(256), nullable=False),
    )
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("releases_models", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("courses") as batch:
        batch.add_column(
            sa.Column("required_for_outputs", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("required_for_outputs")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("releases_models")
    op.drop_table("request_model_data")
