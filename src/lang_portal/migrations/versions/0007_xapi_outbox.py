"""xapi outbox: the reviews whose statements are still to be sent to a Learning Record Store

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 15:00:00.000000

With LANG_PORTAL_XAPI_ENDPOINT set, each review's transaction also writes a row of
xapi_outbox, and lang_portal.xapi_sender deletes it once the LRS has stored the review's
statement (issue 19). A new table: no existing row changes, and both engines create it
in place. Downgrading drops it, and with it the statements not sent yet; their reviews
stay, and ``lang-portal xapi queue`` queues them again after an upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lang_portal.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "xapi_outbox",
        sa.Column("id", Id, nullable=False),
        sa.Column(
            "review_id",
            Id,
            sa.ForeignKey(
                "word_review_items.id",
                ondelete="CASCADE",
                name=op.f("fk_xapi_outbox_review_id_word_review_items"),
            ),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("set_aside_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xapi_outbox")),
        sa.UniqueConstraint("review_id", name=op.f("uq_xapi_outbox_review_id")),
    )
    op.create_index(
        "ix_xapi_outbox_set_aside_at_next_attempt_at",
        "xapi_outbox",
        ["set_aside_at", "next_attempt_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("xapi_outbox")
