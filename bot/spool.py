"""A folder of complaints waiting for the ticket store to come back.

When the database does not answer, the customer has still told us everything, and
has been given a ticket number. The draft is written here under that number, one
JSON file per ticket, and filed by :meth:`Spool.replay` once the store answers.
Files are written atomically (temporary file, fsync, rename), so a crash leaves
either the whole draft or nothing; replaying is idempotent, so two processes
replaying at once, or a crash between filing and deleting, never duplicate a ticket.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import typing
from dataclasses import asdict, fields
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from bot.ticket_numbers import normalise_ticket_number
from bot.tickets import TicketDraft, TicketStore

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SUFFIX = ".json"
CORRUPT_SUFFIX = ".corrupt"


class Spool:
    """Drafts kept on disk under their pre-assigned ticket numbers."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def put(self, draft: TicketDraft, number: str, now: datetime | None = None) -> Path:
        """Keep ``draft`` under ``number``, received at ``now`` (default: this moment, UTC).

        The time is kept so the replayed ticket is opened when the customer complained,
        not when the store came back.
        """
        if normalise_ticket_number(number) != number:
            raise ValueError(f"{number!r} is not a canonical ticket number")  # it becomes a file name
        received = now or datetime.now(timezone.utc)
        if received.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        payload = {
            "version": FORMAT_VERSION,
            "number": number,
            "received_at": received.isoformat(),
            "draft": _draft_to_json(draft),
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{number}{SUFFIX}"
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{number}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(payload, stream, ensure_ascii=False)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)
        logger.info("ticket draft spooled", extra={"ticket_number": number})
        return target

    def pending(self) -> list[Path]:
        """Spooled drafts not yet filed, oldest first."""
        if not self.directory.is_dir():
            return []
        entries: list[tuple[int, str, Path]] = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            try:
                entries.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:
                continue  # filed by another process while we looked
        return [path for _, _, path in sorted(entries)]

    def replay(self, store: TicketStore) -> list[str]:
        """File every spooled draft and remove it from the spool; return the numbers filed.

        Stops with :class:`~bot.errors.TicketStoreUnavailable` if the store is still down,
        leaving the rest for next time. A file that cannot be read as a draft is renamed
        ``*.corrupt`` for a person to look at, so it is not retried forever.
        """
        filed: list[str] = []
        for path in self.pending():
            try:
                number, received, draft = _load(path)
            except FileNotFoundError:
                continue  # another process filed it a moment ago
            except (ValueError, KeyError, TypeError):
                logger.exception("spooled draft unreadable; set aside", extra={"spool_file": path.name})
                path.replace(path.with_name(path.name + CORRUPT_SUFFIX))
                continue
            record = store.create(draft, received, number=number)
            path.unlink(missing_ok=True)
            logger.info(
                "spooled ticket filed",
                extra={"ticket_number": record.number, "spooled_number": number},
            )
            filed.append(record.number)
        return filed


def _load(path: Path) -> tuple[str, datetime, TicketDraft]:
    payload = json.loads(path.read_text(encoding="utf-8"))
    if payload["version"] != FORMAT_VERSION:
        raise ValueError(f"unknown spool format version {payload['version']!r}")
    received = datetime.fromisoformat(payload["received_at"])
    return payload["number"], received, _draft_from_json(payload["draft"])


def _draft_to_json(draft: TicketDraft) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in asdict(draft).items()
    }


def _draft_from_json(data: dict[str, Any]) -> TicketDraft:
    """Rebuild a draft, turning ISO strings back into the dates and datetimes its fields declare."""
    hints = typing.get_type_hints(TicketDraft)
    values: dict[str, Any] = {}
    for spec in fields(TicketDraft):
        if spec.name not in data:
            continue
        value = data[spec.name]
        kinds = typing.get_args(hints[spec.name]) or (hints[spec.name],)
        if isinstance(value, str) and datetime in kinds:
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and date in kinds:
            value = date.fromisoformat(value)
        values[spec.name] = value
    return TicketDraft(**values)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable, so a power cut cannot forget the file (POSIX only)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
