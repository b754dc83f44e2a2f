"""The gate on messages in progress: never more than the limit at once, served in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from bot.settings import SettingsError, messages_in_progress
from connectors.admission import admitted


def _run_burst(limit: int, messages: int) -> tuple[int, list[int], list[int]]:
    """``messages`` handled through a gate of ``limit``; (most at once, start order, finish order)."""
    state = {"now": 0, "most": 0}
    started: list[int] = []
    finished: list[int] = []

    async def handle(number: int) -> int:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        started.append(number)
        await asyncio.sleep(0.005 * (1 + number % 3))  # an action-server call of some length
        state["now"] -= 1
        finished.append(number)
        return number * 10

    async def burst() -> list[int]:
        gated = admitted(handle, limit)
        tasks = []
        for number in range(messages):
            tasks.append(asyncio.create_task(gated(number)))
            await asyncio.sleep(0)  # arrivals in this order
        return await asyncio.gather(*tasks)

    results = asyncio.run(burst())
    assert results == [number * 10 for number in range(messages)]
    return state["most"], started, finished


def test_no_more_than_the_limit_are_in_progress_and_they_start_in_arrival_order() -> None:
    most, started, finished = _run_burst(limit=3, messages=20)
    assert most == 3
    assert started == list(range(20))
    assert sorted(finished) == list(range(20))


def test_without_a_limit_every_message_starts_at_once() -> None:
    most, started, _ = _run_burst(limit=0, messages=20)
    assert most == 20
    assert started == list(range(20))


def test_a_failing_message_frees_its_place() -> None:
    async def scenario() -> list[object]:
        async def handle(number: int) -> int:
            if number == 0:
                raise RuntimeError("the action server is down")
            return number

        gated = admitted(handle, 1)
        return await asyncio.gather(*(gated(n) for n in range(3)), return_exceptions=True)

    first, *rest = asyncio.run(scenario())
    assert isinstance(first, RuntimeError)
    assert rest == [1, 2]


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RASA_MESSAGES_IN_PROGRESS", raising=False)
    assert messages_in_progress() == 3
    monkeypatch.setenv("RASA_MESSAGES_IN_PROGRESS", "0")
    assert messages_in_progress() == 0
    for bad in ("-1", "three"):
        monkeypatch.setenv("RASA_MESSAGES_IN_PROGRESS", bad)
        with pytest.raises(SettingsError, match="RASA_MESSAGES_IN_PROGRESS"):
            messages_in_progress()
