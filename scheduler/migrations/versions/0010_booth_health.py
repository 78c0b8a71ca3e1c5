"""Booth health: self-test results and in-call quality samples (docs/selftest.md).

Revision ID: 0010
Revises: 0012
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from scheduler.tables import UTCDateTime

revision = "0010"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "selftest_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("test_id", sa.String(48), nullable=False, unique=True),
        sa.Column("booth_id", sa.Integer, sa.ForeignKey("booths.id"), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("booking_id", sa.Integer),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.Column("paths", sa.JSON, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("echo", sa.JSON, nullable=False),
        sa.CheckConstraint("verdict IN ('good', 'fair', 'poor')", name="selftest_results_verdict"),
    )
    op.create_index("selftest_results_booth_finished", "selftest_results", ["booth_id", "finished_at"])
    op.create_table(
        "call_quality_samples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id"), nullable=False),
        sa.Column("booth_id", sa.Integer, sa.ForeignKey("booths.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("rtt_ms", sa.Float, nullable=False),
        sa.Column("jitter_ms", sa.Float, nullable=False),
        sa.Column("loss_percent", sa.Float, nullable=False),
        sa.Column("bitrate_out_kbps", sa.Float, nullable=False),
        sa.Column("bitrate_in_kbps", sa.Float, nullable=False),
        sa.Column("frames_received", sa.Integer, nullable=False),
        sa.Column("relayed", sa.Boolean, nullable=False),
        sa.CheckConstraint("loss_percent >= 0 AND loss_percent <= 100", name="call_quality_samples_loss"),
        sa.CheckConstraint("rtt_ms >= 0", name="call_quality_samples_rtt"),
    )
    op.create_index("call_quality_samples_booking", "call_quality_samples", ["booking_id", "booth_id"])


def downgrade() -> None:
    op.drop_index("call_quality_samples_booking", "call_quality_samples")
    op.drop_table("call_quality_samples")
    op.drop_index("selftest_results_booth_finished", "selftest_results")
    op.drop_table("selftest_results")
