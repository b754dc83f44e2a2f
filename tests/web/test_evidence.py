"""The evidence store on SQLite and PostgreSQL with files on disk: type by content, size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.db import make_engine, make_sessionmaker, migrate
from bot.evidence import EvidenceRejected, EvidenceStore, FileSystemStorage

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"\0" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 64


@pytest.fixture
def evidence(db_url: str, tmp_path: Path) -> EvidenceStore:
    engine = make_engine(db_url)
    migrate(engine)
    return EvidenceStore(make_sessionmaker(engine), FileSystemStorage(tmp_path / "files"), max_bytes=1000)


def test_files_are_kept_by_content_type_and_found_by_sender(evidence: EvidenceStore, tmp_path: Path) -> None:
    first = evidence.store("web:abc", JPEG, source="webchat", original_name="damage.pdf")
    second = evidence.store("web:abc", PDF, source="webchat", original_name="receipt")
    evidence.store("tg:99", PNG, source="telegram")

    assert (first.media_type, first.size, first.source, first.sender_id) == ("image/jpeg", len(JPEG), "webchat", "web:abc")
    assert second.media_type == "application/pdf"
    assert [e.id for e in evidence.for_sender("web:abc")] == [first.id, second.id]
    assert evidence.open(first.id) == JPEG
    assert (tmp_path / "files" / first.id[:2] / first.id).read_bytes() == JPEG


@pytest.mark.parametrize(
    ("data", "reason"),
    [(ELF, "wrong_type"), (b"just text, named photo.jpg", "wrong_type"), (b"", "empty"), (PNG + b"\0" * 1000, "too_large")],
    ids=["executable", "text", "empty", "too-large"],
)
def test_refused_files_leave_nothing_behind(evidence: EvidenceStore, tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(EvidenceRejected) as error:
        evidence.store("web:abc", data, source="webchat", original_name="photo.jpg")
    assert (error.value.reason, error.value.max_bytes) == (reason, 1000)
    assert evidence.for_sender("web:abc") == []
    assert not (tmp_path / "files").exists()


def test_unknown_evidence_is_a_key_error(evidence: EvidenceStore) -> None:
    with pytest.raises(KeyError):
        evidence.open("0" * 32)
