"""The spool: a complaint made while the store is down is kept on disk and filed exactly once."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.db import make_engine, make_sessionmaker
from bot.errors import TicketStoreUnavailable
from bot.spool import Spool
from bot.ticket_numbers import new_ticket_number
from bot.tickets import TicketDraft, TicketStore

RECEIVED = datetime(2025, 6, 1, 22, 15, 7, 123456, tzinfo=timezone.utc)


def make_draft(sender_id: str = "web-7") -> TicketDraft:
    return TicketDraft(
        channel="webchat",
        sender_id=sender_id,
        customer_name="Łukasz 😡",
        narrative="Charged twice!\n'; DROP TABLE tickets; --",
        category="billing",
        severity="medium",
        priority="P3",
        incident_date=date(2025, 5, 30),
        incident_date_text="2025-05-30",
        offered_options=["refund", "explanation", "human_agent"],
        transcript=[{"sender": "customer", "text": "Charged twice!", "timestamp": RECEIVED.isoformat()}],
        sla_classify_by=RECEIVED + timedelta(hours=4),
        sla_analyse_by=RECEIVED + timedelta(hours=24),
        sla_resolve_by=RECEIVED + timedelta(hours=72),
        sla_close_by=RECEIVED + timedelta(hours=120),
    )


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "var" / "spool")


def test_put_writes_one_whole_json_file_named_by_the_number(spool: Spool) -> None:
    path = spool.put(make_draft(), "CX-7K3F9Q", RECEIVED)
    assert path == spool.directory / "CX-7K3F9Q.json"
    assert [p.name for p in spool.directory.iterdir()] == ["CX-7K3F9Q.json"]  # no temporary file left
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["number"] == "CX-7K3F9Q"
    assert payload["received_at"] == RECEIVED.isoformat()
    assert payload["draft"]["incident_date"] == "2025-05-30"
    assert payload["draft"]["sla_close_by"] == (RECEIVED + timedelta(hours=120)).isoformat()
    assert payload["draft"]["customer_name"] == "Łukasz 😡"


def test_put_refuses_a_naive_time(spool: Spool) -> None:
    with pytest.raises(ValueError):
        spool.put(make_draft(), "CX-7K3F9Q", RECEIVED.replace(tzinfo=None))


@pytest.mark.parametrize("number", ["../../etc/passwd", "cx-7k3f9q", "CX-7K3F9"])
def test_put_refuses_anything_but_a_canonical_number(spool: Spool, number: str) -> None:
    with pytest.raises(ValueError):
        spool.put(make_draft(), number, RECEIVED)


def test_replay_files_the_draft_under_its_number_and_empties_the_spool(spool: Spool, store: TicketStore) -> None:
    draft = make_draft()
    spool.put(draft, "CX-7K3F9Q", RECEIVED)
    assert spool.replay(store) == ["CX-7K3F9Q"]
    assert spool.pending() == []
    record = store.get("CX-7K3F9Q")
    assert record is not None
    assert {f.name: getattr(record, f.name) for f in dataclasses.fields(TicketDraft)} == dataclasses.asdict(draft)
    assert record.created_at == RECEIVED


def test_replay_is_idempotent(spool: Spool, store: TicketStore) -> None:
    spool.put(make_draft(), "CX-7K3F9Q", RECEIVED)
    assert spool.replay(store) == ["CX-7K3F9Q"]
    assert spool.replay(store) == []
    assert len(store.find_by_sender("webchat", "web-7")) == 1


def test_a_draft_filed_before_a_crash_is_removed_not_duplicated(spool: Spool, store: TicketStore) -> None:
    draft = make_draft()
    spool.put(draft, "CX-7K3F9Q", RECEIVED)
    store.create(draft, RECEIVED, number="CX-7K3F9Q")  # filed, then the process died before deleting the file
    assert spool.replay(store) == ["CX-7K3F9Q"]
    assert spool.pending() == []
    assert len(store.find_by_sender("webchat", "web-7")) == 1


def test_concurrent_replays_file_each_draft_once(spool: Spool, store: TicketStore) -> None:
    numbers = {new_ticket_number() for _ in range(10)}
    for i, number in enumerate(sorted(numbers)):
        spool.put(make_draft(sender_id=f"web-{i}"), number, RECEIVED)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: spool.replay(store), range(3)))
    assert {number for result in results for number in result} == numbers
    assert spool.pending() == []
    assert sum(len(store.find_by_sender("webchat", f"web-{i}")) for i in range(10)) == 10


def test_replay_against_a_store_still_down_keeps_the_draft(spool: Spool) -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/test?connect_timeout=1")
    down = TicketStore(make_sessionmaker(engine), attempts=2, delay_s=0.01)
    spool.put(make_draft(), "CX-7K3F9Q", RECEIVED)
    with pytest.raises(TicketStoreUnavailable):
        spool.replay(down)
    engine.dispose()
    assert [p.name for p in spool.pending()] == ["CX-7K3F9Q.json"]


def test_an_unreadable_file_is_set_aside(spool: Spool, store: TicketStore) -> None:
    spool.put(make_draft(), "CX-7K3F9Q", RECEIVED)
    (spool.directory / "CX-BAD000.json").write_text("{not json", encoding="utf-8")
    assert spool.replay(store) == ["CX-7K3F9Q"]
    assert spool.pending() == []
    assert (spool.directory / "CX-BAD000.json.corrupt").exists()


def test_replay_of_an_empty_or_missing_spool_does_nothing(tmp_path: Path, store: TicketStore) -> None:
    assert Spool(tmp_path / "never-created").replay(store) == []
