"""Password hashing for console accounts: argon2id through argon2-cffi.

The hasher's parameters are argon2-cffi's defaults (RFC 9106's low-memory profile), so a
newer library raising them upgrades stored hashes at the next sign-in
(:meth:`Passwords.check` says when a hash needs it). A password never appears in an
exception, a repr or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_PASSWORD_CHARS = 1024
"""Longer is refused before hashing: nobody types more, and it bounds the work a request causes."""


class PasswordRejected(ValueError):
    """A new password the policy refuses; the message says why and never quotes it."""


@dataclass(frozen=True)
class Verdict:
    """Whether a password matched, and whether its stored hash should be made again."""

    matches: bool
    needs_rehash: bool = False


class Passwords:
    """Hash new passwords and check given ones against stored hashes."""

    def __init__(self, min_chars: int, hasher: PasswordHasher | None = None) -> None:
        self.min_chars = min_chars
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        """The stored form of a new password that meets the policy, or PasswordRejected."""
        if len(password) < self.min_chars:
            raise PasswordRejected(f"a password needs at least {self.min_chars} characters")
        if len(password) > MAX_PASSWORD_CHARS:
            raise PasswordRejected(f"a password may have at most {MAX_PASSWORD_CHARS} characters")
        if not password.strip():
            raise PasswordRejected("a password cannot be only spaces")
        return self._hasher.hash(password)

    def check(self, stored_hash: str, password: str) -> Verdict:
        """Compare ``password`` with ``stored_hash`` (argon2 compares in constant time)."""
        if len(password) > MAX_PASSWORD_CHARS:
            return Verdict(matches=False)
        try:
            self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verdict(matches=False)
        return Verdict(matches=True, needs_rehash=self._hasher.check_needs_rehash(stored_hash))

    def check_nobody(self, password: str) -> Verdict:
        """Spend the time a real check would for a name with no account, so the answer's
        timing does not tell which names exist; never matches."""
        self.check(self._nobody_hash, password)
        return Verdict(matches=False)

    @cached_property
    def _nobody_hash(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(32))
