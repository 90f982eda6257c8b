"""sign-in: the portal's passwords and sign-ins

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 11:50:00.000000

The portal signs people in with a name and a password (accounts mode):

- learners: ``password_hash`` (argon2id; NULL, as for every learner so far, means no
  password: that learner signs in with a token only) and ``password_is_temporary``
  (a teacher's temporary password, to be changed at the next sign-in).
- sign_ins: one row per signed-in browser, the cookie's random token stored as its
  SHA-256 digest.

Both engines add and drop the columns in place (nullable, or with a default), so no
table is rebuilt. Downgrading drops them: every password and sign-in is lost, nothing else.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lang_portal.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("learners", sa.Column("password_hash", sa.String(255), nullable=True))
    op.add_column(
        "learners",
        sa.Column("password_is_temporary", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "sign_ins",
        sa.Column("id", Id, nullable=False),
        sa.Column(
            "learner_id",
            Id,
            sa.ForeignKey(
                "learners.id", ondelete="CASCADE", name=op.f("fk_sign_ins_learner_id_learners")
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_ins")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_ins_token_hash")),
    )
    op.create_index("ix_sign_ins_learner_id", "sign_ins", ["learner_id"])


def downgrade() -> None:
    op.drop_table("sign_ins")
    # ALTER TABLE ... DROP COLUMN, on SQLite too (3.35+): a rebuilt learners table
    # would have to be dropped, which the foreign keys pointing at it refuse.
    op.drop_column("learners", "password_is_temporary")
    op.drop_column("learners", "password_hash")
