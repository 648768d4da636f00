"""Course content in more than one language: the Welsh (or any other language's)
title, summary, description, lesson texts and quiz wording of a course, kept beside
the English in a ``translations`` JSON column of ``courses``, ``lessons`` and
``quiz_questions`` (``{"cy": {"title": ..., ...}}``; see docs/languages.md).

Revision ID: 0009_course_languages
Revises: 0003_people
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_course_languages"
down_revision = "0003_people"  # the tables it adds a column to
branch_labels = None
depends_on = None

TABLES = ("courses", "lessons", "quiz_questions")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("translations", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("translations")
