"""The console's accounts table: the agents and supervisors who may sign in.

Declared on the ticket store's metadata (``bot.models``), so one set of Alembic
migrations (``bot/migrations``) owns the whole schema; revision 0008 creates it.
Only :mod:`web.console.accounts` touches this class.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, String, UniqueConstraint

from bot.models import Base, UTCDateTime, _quoted

ROLES = ("agent", "supervisor")
"""A supervisor may do everything an agent may, and more."""


class ConsoleAccountRow(Base):
    """One person who signs in to the console; the password is kept only as an argon2 hash."""

    __tablename__ = "console_accounts"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint(f"role IN ({_quoted(ROLES)})", name="role"),
    )

    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    """The sign-in name, lower case (``accounts.NAME``), so "Alice" and "alice" are one account."""
    display_name = Column(String(100), nullable=False)
    role = Column(String(16), nullable=False)
    password_hash = Column(String(255), nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    password_changed_at = Column(UTCDateTime, nullable=False)
    last_sign_in_at = Column(UTCDateTime)
    disabled_at = Column(UTCDateTime)
