"""A scripted customer told through the web chat: reads the assistant's last question
(recognised among domain.yml's responses, as scripted/driver.py does) and answers it,
pressing the offered buttons for the remedy and the confirmation. Shared by the
WebSocket test and the browser test, which differ only in how they type and press."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from scripted.driver import _answer, _read_replies, load_customers

REFUNDS = frozenset({"refund", "expedite_refund"})
"""The remedies that give the kettle customer their money back: ``refund`` where the complaint is
filed under product or delivery, ``expedite_refund`` where the model files it under after-sales
(this channel test does not judge the category; tests/e2e does)."""

MAX_TURNS = 20
CUSTOMER = next(c for c in load_customers() if c["id"] == "kettle-refund")
REMEDY_PAYLOAD_WORD = "refund"
CONFIRM_BUTTON_TITLE = "Yes, file it"


@dataclass
class Told:
    """What the conversation came to: the ticket number and every bot text seen."""

    ticket_number: str | None = None
    bot_texts: list[str] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)


Say = Callable[[str], Awaitable[list[dict[str, Any]]]]
Press = Callable[[dict[str, str]], Awaitable[list[dict[str, Any]]]]


def _button(replies: list[dict[str, Any]], wanted: Callable[[dict[str, str]], bool]) -> dict[str, str]:
    buttons = [b for r in replies for b in r.get("buttons") or []]
    chosen = [b for b in buttons if wanted(b)]
    assert chosen, f"no such button among {[b['title'] for b in buttons]}"
    return chosen[0]


async def tell_complaint(say: Say, press: Press, customer: dict[str, Any] = CUSTOMER) -> Told:
    """Drive the kettle-refund customer (or a variant of it) to a ticket; ``say`` types, ``press``
    clicks a button. Each returns the bot's replies (items with ``text`` and ``buttons``) to that turn."""
    told, asked = Told(), {}
    replies: list[dict[str, Any]] = []
    for text in customer["opening"]:
        replies = await say(text)
    for _ in range(MAX_TURNS):
        told.bot_texts.extend(r["text"] for r in replies)
        requested, number = _read_replies(replies)
        if number:
            told.ticket_number = number
            return told
        if requested == ("chosen_option",):
            button = _button(replies, lambda b: REMEDY_PAYLOAD_WORD in b["payload"])
        elif requested == ("complaint_confirmed",):
            button = _button(replies, lambda b: b["title"] == CONFIRM_BUTTON_TITLE)
        else:
            assert requested, f"the assistant said something the script cannot answer: {told.bot_texts[-3:]}"
            replies = await say(_answer(customer, requested, asked))
            continue
        told.pressed.append(button["title"])
        replies = await press(button)
    raise AssertionError(f"no ticket after {MAX_TURNS} turns: {told.bot_texts[-3:]}")
