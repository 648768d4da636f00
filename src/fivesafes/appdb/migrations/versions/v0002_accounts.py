"""Web accounts: e-mail, password hash and profile on users; several roles per user
(``user_roles``, filled with each existing user's role); server-side log-in sessions
(``web_sessions``); one-time password-reset tokens (``password_reset_tokens``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
USER_COLUMNS = ("email", "password_hash", "display_name", "organisation")
USER_COLUMNS_MORE = ("research_interests", "role_requested", "is_active")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("password_hash", sa.String(256), nullable=True))
        batch.add_column(
            sa.Column("display_name", sa.String(200), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("organisation", sa.String(200), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("research_interests", sa.Text(), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("role_requested", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.create_table(
        "user_roles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("granted_by", sa.String(128), nullable=False),
        sa.Column("granted_at", TZ, nullable=False),
        sa.UniqueConstraint("user_id", "role"),
    )
    op.execute(
        "INSERT INTO user_roles (user_id, role, granted_by, granted_at) "
        "SELECT id, role, 'system', created_at FROM users WHERE role <> ''"
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("flash", sa.Text(), nullable=True),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "password_reset_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("issued_by", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("password_reset_tokens")
    op.drop_index("ix_web_sessions_expires_at", "web_sessions")
    op.drop_index("ix_web_sessions_user_id", "web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("user_roles")
    op.drop_index("ix_users_email", "users")
    with op.batch_alter_table("users") as batch:
        for column in (*USER_COLUMNS, *USER_COLUMNS_MORE):
            batch.drop_column(column)
