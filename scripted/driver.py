"""Drive one scripted customer through a complaint over Rasa's REST channel.

The customer reads the assistant's last question, recognised among the responses in
``domain.yml``, and answers from its script, the way a person answers the question on
screen; only a reply it cannot place makes it look at the conversation's tracker.
Used by the scripted-customer tests and the load benchmark.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml

CUSTOMERS_FILE = Path(__file__).with_name("customers.yml")
DOMAIN_FILE = Path(__file__).resolve().parent.parent / "domain.yml"
FILED_RESPONSES = (
    "utter_ticket_filed", "utter_ticket_spooled", "utter_handoff_waiting", "utter_handoff_waiting_unknown",
    "utter_handoff_offline", "utter_handoff_no_live_chat", "utter_handoff_spooled",
)
DIALOGUE_FILE = DOMAIN_FILE.with_name("settings") / "dialogue.yml"
QUESTION_RESPONSES: dict[str, tuple[str, ...]] = {
    "utter_ask_chosen_option": ("chosen_option",),
    "utter_complaint_summary": ("complaint_confirmed",),
    "utter_ask_value_order_ref": ("order_ref",),
    "utter_ask_value_people_involved": ("people_involved",),
} | {
    response: tuple(slots.split("+"))
    for slots, response in yaml.safe_load(DIALOGUE_FILE.read_text(encoding="utf-8"))["questions"].items()
}
"""Questions that are not ``utter_ask_<slot>``: the slots each asks for, in the order asked."""
_PLACEHOLDER = re.compile(r"\\\{(\w+)\\\}")
MAX_TURNS = 30
REQUEST_TIMEOUT_S = 30


@dataclass
class ConversationResult:
    """What happened in one conversation, for assertions and load figures."""

    sender_id: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    turns: int = 0
    ticket_number: str | None = None
    options_offered: int = 0
    replies: list[str] = field(default_factory=list)
    asked: dict[str, int] = field(default_factory=dict)
    """How many times each slot was asked for."""

    @property
    def re_asks(self) -> int:
        """Questions asked again after an answer the assistant could not use."""
        return sum(count - 1 for count in self.asked.values() if count > 1)

    @property
    def transcript(self) -> str:
        return "\n".join(self.replies)


def load_customers(path: Path = CUSTOMERS_FILE) -> list[dict[str, Any]]:
    """The scripted customers, in file order."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["customers"]


@functools.lru_cache(maxsize=1)
def _response_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Every response variation as a regex (placeholders match anything), with its name."""
    responses = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["responses"]
    patterns = []
    for name, variations in responses.items():
        for variation in variations:
            body = _PLACEHOLDER.sub(_group_for(set()), re.escape(variation.get("text", "")))
            patterns.append((re.compile(body + r"\Z", re.DOTALL), name))
    return tuple(patterns)


def _group_for(seen: set[str]) -> Callable[[re.Match[str]], str]:
    """A placeholder's first use captures its value; a later use must repeat that value."""
    def group(match: re.Match[str]) -> str:
        placeholder = match.group(1)
        if placeholder in seen:
            return f"(?P={placeholder})"
        seen.add(placeholder)
        return f"(?P<{placeholder}>.+?)"
    return group


def recognise(text: str) -> tuple[str | None, dict[str, str]]:
    """Which response a reply is, and the values filled into it."""
    for pattern, name in _response_patterns():
        match = pattern.match(text)
        if match:
            return name, match.groupdict()
    return None, {}


def _read_replies(replies: list[dict[str, Any]]) -> tuple[tuple[str, ...], str | None]:
    """A filed ticket's number (what follows the filing, such as a call-back offer, is for
    after the ticket), else the question the replies end on (the slots it asks for)."""
    for reply in replies:
        name, values = recognise(reply.get("text") or "")
        if name in FILED_RESPONSES:
            return (), values.get("ticket_number")
    for reply in reversed(replies):
        name, values = recognise(reply.get("text") or "")
        if name in QUESTION_RESPONSES:
            return QUESTION_RESPONSES[name], None
        if name and name.startswith("utter_ask_"):
            return (name.removeprefix("utter_ask_"),), None
    return (), None


def _latest(today: date, month: int | None, day: int) -> date:
    """The latest date on or before ``today`` with this day (and month, when given)."""
    candidate = today
    while candidate.day != day or (month is not None and candidate.month != month):
        candidate -= timedelta(days=1)
    return candidate


def expected_date(spec: str, today: date) -> str:
    """Resolve an expectation such as ``ago:1``, ``dom:3``, ``md:03-01`` or ``wd:4`` against ``today``."""
    kind, _, value = spec.partition(":")
    if kind == "ago":
        return (today - timedelta(days=int(value))).isoformat()
    if kind == "dom":
        return _latest(today, None, int(value)).isoformat()
    if kind == "md":
        month, _, day = value.partition("-")
        return _latest(today, int(month), int(day)).isoformat()
    if kind == "wd":
        back = (today.weekday() - int(value)) % 7 or 7
        return (today - timedelta(days=back)).isoformat()
    return spec


async def _say(
    session: aiohttp.ClientSession, base_url: str, result: ConversationResult, text: str, channel_token: str | None
) -> list[dict[str, Any]]:
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {channel_token}"} if channel_token else None
    try:
        async with session.post(
            f"{base_url}/webhooks/rest/webhook",
            json={"sender": result.sender_id, "message": text},
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as response:
            replies = await response.json() if response.status == 200 else None
    except (aiohttp.ClientError, asyncio.TimeoutError):
        replies = None
    result.latencies.append(time.perf_counter() - started)
    result.turns += 1
    if not replies:
        result.errors += 1
        return []
    result.replies.extend(r.get("text", "") for r in replies if r.get("text"))
    return replies


async def _slots(
    session: aiohttp.ClientSession, base_url: str, sender_id: str, api_token: str | None
) -> dict[str, Any]:
    params = {"include_events": "NONE"} | ({"token": api_token} if api_token else {})
    async with session.get(
        f"{base_url}/conversations/{sender_id}/tracker",
        params=params,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    ) as response:
        response.raise_for_status()
        tracker = await response.json()
    slots = dict(tracker.get("slots") or {})
    slots["_active_loop"] = (tracker.get("active_loop") or {}).get("name")
    return slots


def _choice(customer: dict[str, Any], buttons: list[dict[str, Any]]) -> str:
    how = customer.get("choose") or {"by": "number", "text": "1"}
    if how["by"] == "payload" and buttons:
        return buttons[int(how.get("index", 0))]["payload"]
    return str(how.get("text", "1"))


def _answer(customer: dict[str, Any], slots: tuple[str, ...], asked: dict[str, int]) -> str:
    """The customer's reply to a question about ``slots``: their answers, joined in one line."""
    parts = []
    for slot in slots:
        answer = (customer.get("answers") or {}).get(slot, "I don't know")
        if isinstance(answer, list):
            answer = answer[min(asked.get(slot, 0), len(answer) - 1)]
        asked[slot] = asked.get(slot, 0) + 1
        parts.append(answer)
    return ", ".join(parts)


async def run_scripted_conversation(
    session: aiohttp.ClientSession,
    base_url: str,
    sender_id: str,
    customer: dict[str, Any],
    api_token: str | None = None,
    channel_token: str | None = None,
) -> ConversationResult:
    """Tell the complaint, answer every question, pick a remedy, confirm; stop at the ticket.

    ``api_token`` opens Rasa's HTTP API, read only when a reply is no known question;
    ``channel_token`` is the REST channel's bearer token."""
    result = ConversationResult(sender_id=sender_id)
    replies: list[dict[str, Any]] = []
    for text in customer["opening"]:
        replies = await _say(session, base_url, result, text, channel_token)
    while result.turns < MAX_TURNS:
        requested, number = _read_replies(replies)
        if number:
            result.ticket_number = number
            return result
        if not requested:
            slots = await _slots(session, base_url, sender_id, api_token)
            requested = (slots["requested_slot"],) if slots.get("requested_slot") else ()
        buttons = [b for r in replies for b in (r.get("buttons") or [])]
        if requested == ("chosen_option",):
            result.asked["chosen_option"] = result.asked.get("chosen_option", 0) + 1
            result.options_offered = max(result.options_offered, len(buttons))
            message = _choice(customer, buttons)
        elif requested == ("complaint_confirmed",):
            message = "yes"
        elif requested:
            message = _answer(customer, requested, result.asked)
        else:
            return result
        replies = await _say(session, base_url, result, message, channel_token)
    return result
