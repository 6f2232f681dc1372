"""Camera-group scoping and session revocation: app_user.all_cameras, app_user.token_version,
job.camera_group, job.created_by.

Existing users with no camera group keep seeing every camera (`all_cameras` true), so an upgrade
changes nobody's access; from now on an empty group list means no camera.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("all_cameras", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    users = sa.table("app_user", sa.column("id", sa.String), sa.column("camera_groups", sa.JSON),
                     sa.column("all_cameras", sa.Boolean))  # fmt: skip
    conn = op.get_bind()
    unscoped = [row.id for row in conn.execute(sa.select(users.c.id, users.c.camera_groups)) if not row.camera_groups]
    if unscoped:
        conn.execute(sa.update(users).where(users.c.id.in_(unscoped)).values(all_cameras=True))
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("camera_group", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(length=32), nullable=True))
    op.create_index("ix_job_camera_group", "job", ["camera_group"])


def downgrade() -> None:
    op.drop_index("ix_job_camera_group", table_name="job")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("created_by")
        batch.drop_column("camera_group")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("token_version")
        batch.drop_column("all_cameras")
