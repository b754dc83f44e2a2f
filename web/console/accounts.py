"""Console accounts: create them, check a sign-in, and the command that makes the first one.

``python -m web.console.accounts create --role supervisor --name alice`` creates an
account on the configured database (``DATABASE_URL``, migrated first). The password is
read with ``getpass`` (asked twice) on a terminal, or as the first line of standard input
otherwise, and never from the command line, where ``ps`` and shell history would keep it.
``set-password --name alice`` gives an existing account a new one the same way.

The store is synchronous (SQLAlchemy sessions); the web app calls it in a worker thread,
which also keeps argon2's deliberate slowness off the event loop.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.db import make_engine, make_sessionmaker, migrate, write_session
from bot.settings import load_settings
from web.console.models import ROLES, ConsoleAccountRow
from web.console.passwords import Passwords, PasswordRejected
from web.settings import ConsoleSettings

logger = logging.getLogger(__name__)

NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")
"""A sign-in name: 2 to 64 of lower-case letters, digits and ``. _ @ -``."""
DISPLAY_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")


class AccountError(ValueError):
    """A change the account store refuses; the message says why and never holds a password."""


@dataclass(frozen=True)
class Account:
    """What the console knows about a signed-in person (no password hash)."""

    id: int
    name: str
    display_name: str
    role: str
    active: bool

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    def public(self) -> dict[str, object]:
        """The account as the console API shows it."""
        return {"id": self.id, "name": self.name, "display_name": self.display_name, "role": self.role,
                "active": self.active}


def normalise_name(name: str) -> str:
    """The stored form of a typed sign-in name (trimmed, lower case)."""
    return name.strip().lower()


class AccountStore:
    """Accounts on the ticket database."""

    def __init__(self, sessions: sessionmaker, passwords: Passwords) -> None:
        self._sessions = sessions
        self.passwords = passwords

    def create(self, name: str, role: str, password: str, *, now: datetime, display_name: str | None = None) -> Account:
        """A new account; AccountError when the name, role or display name is unusable or the
        name is taken, PasswordRejected when the password breaks the policy."""
        name = normalise_name(name)
        if not NAME.fullmatch(name):
            raise AccountError("a name has 2 to 64 of a-z, 0-9 and . _ @ - (starting with a letter or digit)")
        if role not in ROLES:
            raise AccountError(f"the role must be one of {', '.join(ROLES)}")
        shown = (display_name or name).strip()
        if not DISPLAY_NAME.fullmatch(shown):
            raise AccountError("a display name has 1 to 100 characters on one line")
        row = ConsoleAccountRow(
            name=name, display_name=shown, role=role, password_hash=self.passwords.hash(password),
            created_at=now, password_changed_at=now,
        )
        try:
            with write_session(self._sessions) as session:
                session.add(row)
        except IntegrityError as error:
            raise AccountError(f"an account named {name!r} exists already") from error
        logger.info("console account created", extra={"account_id": row.id, "role": role})
        return _record(row)

    def set_password(self, name: str, password: str, *, now: datetime) -> Account:
        """Give an existing account a new password (AccountError when there is no such account)."""
        password_hash = self.passwords.hash(password)
        with write_session(self._sessions) as session:
            row = session.execute(select(ConsoleAccountRow).where(ConsoleAccountRow.name == normalise_name(name))).scalar()
            if row is None:
                raise AccountError("there is no account with that name")
            row.password_hash, row.password_changed_at = password_hash, now
        logger.info("console password changed", extra={"account_id": row.id})
        return _record(row)

    def get(self, account_id: int) -> Account | None:
        with self._sessions() as session:
            row = session.get(ConsoleAccountRow, account_id)
            return None if row is None else _record(row)

    def by_name(self, name: str) -> Account | None:
        """The account signed in as ``name`` (as typed or stored), or None."""
        with self._sessions() as session:
            row = session.scalars(select(ConsoleAccountRow).where(ConsoleAccountRow.name == normalise_name(name))).one_or_none()
            return None if row is None else _record(row)

    def all(self) -> list[Account]:
        """Every account, by name."""
        with self._sessions() as session:
            rows = session.execute(select(ConsoleAccountRow).order_by(ConsoleAccountRow.name)).scalars().all()
            return [_record(row) for row in rows]

    def authenticate(self, name: str, password: str, *, now: datetime) -> Account | None:
        """The active account whose name and password these are, else None; the same work is
        done whether or not the name exists. A match records the sign-in and, when the
        hasher's parameters have changed since, stores a fresh hash."""
        name = normalise_name(name)
        row = None
        if NAME.fullmatch(name):
            with self._sessions() as session:
                row = session.execute(select(ConsoleAccountRow).where(ConsoleAccountRow.name == name)).scalar()
        if row is None:
            self.passwords.check_nobody(password)
            return None
        verdict = self.passwords.check(row.password_hash, password)
        if not verdict.matches or row.disabled_at is not None:
            return None
        with write_session(self._sessions) as session:
            fresh = session.get(ConsoleAccountRow, row.id)
            if fresh is None:
                return None
            fresh.last_sign_in_at = now
            if verdict.needs_rehash:
                fresh.password_hash = self.passwords.hash(password)
                logger.info("console password hash upgraded", extra={"account_id": fresh.id})
            return _record(fresh)


def _record(row: ConsoleAccountRow) -> Account:
    return Account(id=row.id, name=row.name, display_name=row.display_name, role=row.role,
                   active=row.disabled_at is None)


def read_password(stdin: TextIO, ask: Callable[[str], str] = getpass.getpass) -> str:
    """The new password: asked twice on a terminal, else the first line of standard input."""
    if stdin.isatty():
        first = ask("Password: ")
        if ask("Password again: ") != first:
            raise AccountError("the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m web.console.accounts",
        description="Manage agent console accounts. The password is read from the terminal "
                    "(or the first line of standard input), never from the command line.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create an agent or supervisor account")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="sign-in name (lower case; a-z 0-9 . _ @ -)")
    create.add_argument("--display-name", help="the name others see (default: the sign-in name)")
    reset = commands.add_parser("set-password", help="give an existing account a new password")
    reset.add_argument("--name", required=True)
    return parser


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin) -> int:
    """Run one command on the configured database; 0 done, 1 refused (the reason on stderr)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    engine = make_engine(load_settings().database_url)
    try:
        migrate(engine)
        store = AccountStore(make_sessionmaker(engine), Passwords(ConsoleSettings.from_env().policy.password_min_chars))
        password = read_password(stdin)
        if args.command == "create":
            account = store.create(args.name, args.role, password, now=datetime.now(timezone.utc), display_name=args.display_name)
            print(f"created {account.role} {account.name!r}")
        else:
            account = store.set_password(args.name, password, now=datetime.now(timezone.utc))
            print(f"new password set for {account.name!r}")
    except (AccountError, PasswordRejected) as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
