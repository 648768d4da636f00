"""The categorical feature columns of a model output (``request_model_data.categorical``):
those the attribute-inference attack treats as categorical, as the researcher named
them when offering the model for release (NULL: none named, the model check decides
from the values, as before).

Revision ID: 0010_model_categorical
Revises: 0007_releases_models
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_model_categorical"
down_revision = "0007_releases_models"  # the table it adds a column to
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_model_data") as batch:
        batch.add_column(sa.Column("categorical", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_model_data") as batch:
        batch.drop_column("categorical")
