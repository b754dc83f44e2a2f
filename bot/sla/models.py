"""The SLA watcher's record: one row per ticket and check, the SQL truth the job queue executes.

A check is a moment at which the watcher must look at a ticket: each stage deadline
(``classify``, ``analyse``, ``resolve``, ``total``) and the supervisor escalation
(``escalate``, ``supervisor_escalation_within_h`` before the resolve deadline). The row
is written when the ticket is planned; ``done_at`` and ``outcome`` are set, under the
ticket's row lock, in the same transaction that writes the breach into the ticket's
history. The unique (ticket, check) pair and that transaction are what make every
breach recorded exactly once, however many jobs and sweeps look at it.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, UniqueConstraint

from bot.models import Base, UTCDateTime, _quoted

STAGES = ("classify", "analyse", "resolve", "total")
"""Stage deadlines a ticket carries (``sla_<stage>_by``; ``total`` is the column ``sla_close_by``)."""
ESCALATE = "escalate"
CHECKS = (*STAGES, ESCALATE)
OUTCOMES = ("met", "breached", "escalated", "not_needed", "stopped")
"""``met``/``breached``: a stage deadline; ``escalated``/``not_needed``: the escalation;
``stopped``: the ticket was withdrawn, so no deadline applies any more."""


class SlaCheckRow(Base):
    """One moment at which the watcher looks at one ticket, and what it found."""

    __tablename__ = "sla_checks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "check_name"),
        CheckConstraint(f"check_name IN ({_quoted(CHECKS)})", name="check_name"),
        CheckConstraint(f"outcome IS NULL OR outcome IN ({_quoted(OUTCOMES)})", name="outcome"),
        Index(None, "done_at", "due_at"),
    )

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    ticket_number = Column(String(16), nullable=False)
    check_name = Column(String(16), nullable=False)
    due_at = Column(UTCDateTime, nullable=False)
    done_at = Column(UTCDateTime)
    outcome = Column(String(16))
