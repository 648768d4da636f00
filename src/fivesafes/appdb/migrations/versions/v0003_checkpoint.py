"""Collections: who may see the Social Services Checkpoint (granted per authority,
or nationally).

Revision ID: 0003_checkpoint
Revises: 0002_collections
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_checkpoint"
down_revision = "0002_collections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("provider_code", sa.String(64), nullable=True),
        sa.Column("granted_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "provider_code"),
    )


def downgrade() -> None:
    op.drop_table("checkpoint_grants")
