"""Evidence a customer sends (a photo of the damage, a PDF receipt), kept with their complaint.

Every channel calls :func:`store_evidence` with the bytes it received. The type is read
from the content (``filetype`` sniffs the magic numbers), never from the name or the
client's declared type, so a renamed executable is refused. The bytes go to an
:class:`EvidenceStorage` (a files directory by default, ``EVIDENCE_DIR``); a row in the
``evidence`` table records who sent it. Rows are keyed by the conversation's sender id,
which tickets carry too, so a ticket's evidence is ``evidence_for(ticket.sender_id)``.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import filetype
from sqlalchemy import Column, Index, Integer, String, select
from sqlalchemy.orm import sessionmaker

from bot.db import make_engine, make_sessionmaker, write_session
from bot.models import Base, CustomerText, UTCDateTime
from bot.settings import PROJECT_ROOT, load_settings

logger = logging.getLogger(__name__)

ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class EvidenceRejected(Exception):
    """A file we will not keep; ``reason`` is "too_large", "wrong_type" or "empty"."""

    def __init__(self, reason: str, max_bytes: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class Evidence:
    id: str
    sender_id: str
    media_type: str
    size: int
    source: str
    created_at: datetime


class EvidenceRow(Base):
    """One kept file: whose conversation it belongs to, what it is, where the bytes are."""

    __tablename__ = "evidence"
    __table_args__ = (Index(None, "sender_id"),)

    id = Column(String(32), primary_key=True)
    sender_id = Column(CustomerText, nullable=False)
    media_type = Column(String(64), nullable=False)
    size = Column(Integer, nullable=False)
    source = Column(String(32), nullable=False)
    original_name = Column(CustomerText)
    storage_key = Column(String(255), nullable=False)
    created_at = Column(UTCDateTime, nullable=False)


class EvidenceStorage(Protocol):
    """Where the bytes live; a files directory today, an object store later."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...


class FileSystemStorage:
    """Files under one directory, two levels of fan-out so no folder grows huge."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()


@dataclass(frozen=True)
class EvidenceSettings:
    """| variable | default | meaning |
    |---|---|---|
    | EVIDENCE_DIR | <root>/var/files | where kept files are written |
    | EVIDENCE_MAX_BYTES | 10485760 (10 MB) | largest file kept |
    """

    directory: Path = PROJECT_ROOT / "var" / "files"
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_env(cls) -> "EvidenceSettings":
        raw = os.environ.get("EVIDENCE_MAX_BYTES", str(DEFAULT_MAX_BYTES))
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"EVIDENCE_MAX_BYTES must be a positive whole number, got {raw!r}")
        return cls(Path(os.environ.get("EVIDENCE_DIR", PROJECT_ROOT / "var" / "files")), int(raw))


def sniff(data: bytes, max_bytes: int) -> str:
    """The media type of ``data`` read from its content, or :class:`EvidenceRejected`."""
    if not data:
        raise EvidenceRejected("empty", max_bytes)
    if len(data) > max_bytes:
        raise EvidenceRejected("too_large", max_bytes)
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ACCEPTED_TYPES:
        raise EvidenceRejected("wrong_type", max_bytes)
    return kind.mime


class EvidenceStore:
    """Checks, writes and finds evidence; built from a sessionmaker and a storage."""

    def __init__(self, sessions: sessionmaker, storage: EvidenceStorage, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._sessions = sessions
        self._storage = storage
        self.max_bytes = max_bytes

    def store(self, sender_id: str, data: bytes, *, source: str, original_name: str | None = None) -> Evidence:
        """Keep the file, bytes first: a row never points at bytes that were not written."""
        media_type = sniff(data, self.max_bytes)
        evidence_id = secrets.token_hex(16)
        self._storage.put(evidence_id, data)
        row = EvidenceRow(
            id=evidence_id, sender_id=sender_id, media_type=media_type, size=len(data), source=source,
            original_name=original_name, storage_key=evidence_id, created_at=datetime.now(timezone.utc),
        )
        with write_session(self._sessions) as session:
            session.add(row)
        logger.info("evidence kept", extra={"evidence_id": evidence_id, "media_type": media_type, "size": len(data)})
        return _record(row)

    def for_sender(self, sender_id: str) -> list[Evidence]:
        with self._sessions() as session:
            rows = session.execute(
                select(EvidenceRow).where(EvidenceRow.sender_id == sender_id).order_by(EvidenceRow.created_at)
            ).scalars().all()
        return [_record(row) for row in rows]

    def open(self, evidence_id: str) -> bytes:
        with self._sessions() as session:
            row = session.get(EvidenceRow, evidence_id)
        if row is None:
            raise KeyError(evidence_id)
        return self._storage.get(row.storage_key)


def _record(row: EvidenceRow) -> Evidence:
    return Evidence(row.id, row.sender_id, row.media_type, row.size, row.source, row.created_at)


@lru_cache(maxsize=1)
def default_store() -> EvidenceStore:
    """The store of this process's configuration, built on first use (nothing at import)."""
    settings = EvidenceSettings.from_env()
    engine = make_engine(load_settings().database_url)
    return EvidenceStore(make_sessionmaker(engine), FileSystemStorage(settings.directory), settings.max_bytes)


def store_evidence(sender_id: str, data: bytes, *, source: str, original_name: str | None = None) -> Evidence:
    """Keep a file a customer sent in conversation ``sender_id`` (raises :class:`EvidenceRejected`)."""
    return default_store().store(sender_id, data, source=source, original_name=original_name)


def evidence_for(sender_id: str) -> list[Evidence]:
    """Every file kept for that conversation, oldest first."""
    return default_store().for_sender(sender_id)


def open_evidence(evidence_id: str) -> bytes:
    """The bytes of one kept file (KeyError when there is no such file)."""
    return default_store().open(evidence_id)
