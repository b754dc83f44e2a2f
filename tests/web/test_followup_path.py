"""The satisfaction follow-up's whole path over the web chat, every process real.

A customer tells a complaint in the web chat (web app, two Rasa servers, the action server,
Redis, SQLite: tests/web/conftest.py's stack) and a ticket is filed; an agent moves it to
resolved through the ticket API with its token, and the worker (``python -m worker``, running
in real time) pushes each status notice into the open WebSocket. Then the clock is advanced
72 h: the worker is restarted with its follow-up clock that far ahead
(``FOLLOWUP_CLOCK_OFFSET_S``), and the survey arrives in that same conversation, pushed to the
open WebSocket, kept in its history and appended to its Rasa transcript, with the rating
buttons. Tapping 2 reopens the ticket one priority step higher and puts it in front of a
person (escalated); tapping 5, then "yes", closes it. A ticket reopened before the 72 h gets
no survey.

Only the worker's follow-up clock moves. Rasa, the action server and the web app live in real
time, so an answer is recorded a minute after the resolution though the survey went out 72 h
later; the Redis keys of the web chat session live in real time too, which is why the session's
remaining lifetime is checked against the wait for the survey.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from scripts.stack import ROOT, Stack
from tests.web.complaint import CUSTOMER, tell_complaint
from tests.web.conftest import REDIS_DB, RASA_PORT, WEB_PORTS, WebApp, session_id_of, start_web, web_env, web_redis
from tests.web.test_api import Visitor, say

AGENT = "Priya Shah"
MOVES = (
    ("acknowledged", "Thank you, Jane: we are looking into the kettle."),
    ("in_progress", "Refund requested from the warehouse."),
    ("resolved", "Refund of the kettle issued to the card used for the order."),
)
RASA_WAIT_S = 60
PUSH_WAIT_S = 120
"""A worker starting on a busy two-core machine, then its first sweep."""
QUIET_S = 5
LONDON = ZoneInfo("Europe/London")
ASSISTANT_ID = "complaints-front-door"
"""config.yml's ``assistant_id``, which Rasa stamps on every event it stores."""
RAISED = {"P4": "P3", "P3": "P2", "P2": "P1", "P1": "P1"}


def variant(tag: str) -> dict[str, Any]:
    """The kettle customer with a contact of their own, so no ticket counts as a repeat of another."""
    return CUSTOMER | {"answers": CUSTOMER["answers"] | {"contact": f"jane.morris.{tag}@example.com"}}


def outside_quiet_hours(moment: datetime) -> datetime:
    """``moment``, or the end of the quiet hours it falls in (21:00-09:00 in London, settings/followup.yml)."""
    local = moment.astimezone(LONDON)
    if local.hour >= 21:
        local = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    elif local.hour < 9:
        local = local.replace(hour=9, minute=0, second=0, microsecond=0)
    return local.astimezone(timezone.utc)


def survey_due(resolved_at: datetime) -> datetime:
    return outside_quiet_hours(resolved_at + timedelta(hours=72))


def rating_buttons(number: str) -> list[dict[str, str]]:
    return [{"title": str(r), "payload": f'/inform{{"survey_answer":"{number}:rating:{r}"}}'} for r in range(1, 6)]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class Chat:
    """One customer's web chat: their cookie session and one open WebSocket, read all the time
    (so the server's pings are answered) into what was pushed and what answered a message."""

    visitor: Visitor
    ws: aiohttp.ClientWebSocketResponse
    sender_id: str
    pushed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    replies: asyncio.Queue = field(default_factory=asyncio.Queue)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def session_id(self) -> str:
        return self.sender_id.removeprefix("web:")

    async def read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame["type"] == "item":
                self.pushed.setdefault(frame["item"]["id"], []).append(frame["item"])
                self.changed.set()
            elif frame["type"] == "done":
                self.answered.update(item["id"] for item in frame["items"])
                self.replies.put_nowait(frame)

    async def send(self, text: str, title: str | None = None) -> list[dict[str, Any]]:
        """Type (or, with a title, press) and return the bot's replies."""
        await self.ws.send_json({"type": "message", "text": text, "title": title})
        frame = await asyncio.wait_for(self.replies.get(), RASA_WAIT_S)
        assert "error" not in frame, frame
        return [item for item in frame["items"] if item["from"] == "bot"]

    async def press(self, button: dict[str, str]) -> list[dict[str, Any]]:
        return await self.send(button["payload"], button["title"])

    async def wait_for(self, ids: Iterable[str], timeout: float = PUSH_WAIT_S) -> None:
        """Until every item named is pushed to this socket; fails naming the missing ones."""
        wanted = set(ids)
        deadline = time.monotonic() + timeout
        while not wanted <= self.pushed.keys():
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"not pushed within {timeout} s: {sorted(wanted - self.pushed.keys())}")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                continue

    def proactive(self) -> dict[str, list[dict[str, Any]]]:
        """What was pushed without answering one of this socket's messages (notices, the survey), by id."""
        return {item_id: items for item_id, items in self.pushed.items() if item_id not in self.answered}


@asynccontextmanager
async def open_chat(app: WebApp) -> AsyncIterator[Chat]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        visitor = Visitor(app, http)
        await visitor.open_page()
        async with http.ws_connect(app.ws_url, origin=app.url) as ws:
            chat = Chat(visitor, ws, f"web:{session_id_of(visitor.cookie)}")
            reader = asyncio.create_task(chat.read())
            try:
                yield chat
            finally:
                reader.cancel()
                await asyncio.wait([reader])


@dataclass
class TicketApi:
    """The ticket API as an agent's tool uses it: with the API token."""

    http: aiohttp.ClientSession
    url: str
    token: str

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.request(method, f"{self.url}/api/v1{path}", json=body, headers=headers) as response:
            return response.status, await response.json()

    async def get(self, path: str) -> Any:
        status, body = await self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    async def move(self, number: str, to: str, note: str) -> dict[str, Any]:
        status, body = await self.call("POST", f"/tickets/{number}/transitions", {"to": to, "note": note, "agent": AGENT})
        assert status == 200, (number, to, status, body)
        return body

    async def survey_once(self, number: str, state: str) -> dict[str, Any]:
        """The ticket's survey as soon as it is in ``state`` (the worker records a step beside sending it)."""
        deadline = time.monotonic() + PUSH_WAIT_S
        while True:
            survey = await self.get(f"/tickets/{number}/survey")
            if survey["state"] == state or time.monotonic() > deadline:
                return survey
            await asyncio.sleep(0.2)

    async def status_moves(self, number: str) -> list[dict[str, Any]]:
        history = (await self.get(f"/tickets/{number}/history"))["items"]
        assert [entry["kind"] for entry in history] == ["created"] + ["status"] * (len(history) - 1), history
        assert history[0]["detail"] == {"status": "new"}
        return history[1:]


@contextmanager
def running_worker(stack: Stack, log: Path, *, ahead: timedelta) -> Iterator[None]:
    """``python -m worker`` on the stack's database and this suite's Redis, its follow-up clock ``ahead``."""
    env = stack.env | {
        "WORKER_REDIS_DB": str(REDIS_DB), "WEBCHAT_REDIS_DB": str(REDIS_DB),
        "FOLLOWUP_CLOCK_OFFSET_S": f"{ahead.total_seconds():.3f}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    try:
        yield
        assert process.poll() is None, f"the worker died; see {log}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def api_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def path_web(web_stack: Stack, web_database_url: str, evidence_dir: Path, rest_token: str, api_token: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    """A web app in front of the stack with the ticket API on, queueing on this suite's Redis database."""
    env = web_env(
        web_database_url, evidence_dir, RASA_PORT, rest_token, TICKET_API_TOKEN=api_token,
        WORKER_REDIS_DB=str(REDIS_DB), WEBCHAT_RATE_LIMIT="60", COMPLAINTS_CONFIG_DIR=web_stack.env["COMPLAINTS_CONFIG_DIR"],
    )
    app = start_web(WEB_PORTS[5], env, tmp_path_factory.mktemp("pathlogs"))
    yield app
    app.stop()


@asynccontextmanager
async def ticket_api(app: WebApp, token: str) -> AsyncIterator[TicketApi]:
    async with aiohttp.ClientSession() as http:
        yield TicketApi(http, app.url, token)


@dataclass
class Filed:
    """A conversation's ticket as filed, then as resolved, and the notices its socket got."""

    number: str
    filed: dict[str, Any]
    resolved: dict[str, Any]
    notices: dict[str, str]
    """Outbound key of each status notice -> the status it announced."""


async def file_and_resolve(chat: Chat, api: TicketApi, tag: str) -> Filed:
    """Tell the complaint, check the filed ticket, resolve it through the API; each notice is pushed as it happens."""
    told = await tell_complaint(chat.send, chat.press, variant(tag))
    number = told.ticket_number
    assert number, told.bot_texts
    filed = await api.get(f"/tickets/{number}")
    assert (filed["number"], filed["status"], filed["channel"], filed["repeat_of"], filed["resolved_at"]) == (
        number, "new", "webchat", None, None,
    )
    assert (filed["customer_name"], filed["contact"], filed["order_ref"]) == ("Jane Morris", f"jane.morris.{tag}@example.com", "88412")
    assert filed["priority"] in ("P2", "P3", "P4"), filed["priority"]  # so a raise shows
    notices = {}
    for to, note in MOVES:
        moved = await api.move(number, to, note)
        assert (moved["status"], moved["priority"]) == (to, filed["priority"])
        if to in ("in_progress", "resolved"):
            event_id = (await api.status_moves(number))[-1]["id"]
            notices[f"status:{number}:{event_id}"] = to
            await chat.wait_for([f"status:{number}:{event_id}"])
    resolved = await api.get(f"/tickets/{number}")
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    return Filed(number, filed, resolved, notices)


def agent_moves() -> list[dict[str, Any]]:
    """The history entries of the agent's moves to resolved."""
    previous = ["new"] + [to for to, _ in MOVES[:-1]]
    return [{"from": frm, "to": to, "actor": f"agent:{AGENT}", "note": note} for frm, (to, note) in zip(previous, MOVES)]


def notice_items(filed: Filed) -> dict[str, dict[str, Any]]:
    response = {"in_progress": "utter_status_update_in_progress", "resolved": "utter_status_update_resolved"}
    return {
        key: {"id": key, "from": "bot", "text": say(response[to], ticket_number=filed.number), "buttons": [], "author_name": None}
        for key, to in filed.notices.items()
    }


def survey_item(number: str) -> dict[str, Any]:
    key = f"followup:{number}:72h:survey"
    return {"id": key, "from": "bot", "text": say("utter_survey_rating", ticket_number=number),
            "buttons": rating_buttons(number), "author_name": None}


def without_ts(items: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {key: [{k: v for k, v in item.items() if k != "ts"} for item in pushed] for key, pushed in items.items()}


async def check_pending_survey(api: TicketApi, filed: Filed) -> datetime:
    """The survey is scheduled 72 h after the resolution (out of quiet hours); when it is due."""
    resolved_at = moment(filed.resolved["resolved_at"])
    due = survey_due(resolved_at)
    assert await api.get(f"/tickets/{filed.number}/survey") == {
        "ticket_number": filed.number, "state": "scheduled", "channel": "webchat",
        "resolved_at": filed.resolved["resolved_at"], "due_at": due.isoformat(),
        "next_step": "survey", "next_step_at": due.isoformat(),
        "sent_at": None, "reminded_at": None, "answered_at": None, "finished_at": None, "cancel_reason": None,
        "rating": None, "solved": None, "comment": None,
    }
    return due


def check_session_outlives_the_wait(chat: Chat, due: datetime) -> None:
    """The session was last renewed by the resolution notice; it must still be there when the survey is due."""
    client = web_redis()
    try:
        left = client.ttl(f"webchat:alive:{chat.session_id}")
    finally:
        client.close()
    assert left > (due - datetime.now(timezone.utc)).total_seconds(), (left, due)


async def transcript_bot_events(stack: Stack, sender_id: str, key: str) -> tuple[list[dict[str, Any]], str]:
    """The Rasa tracker's ``bot`` events appended for outbound message ``key`` (waits for the first),
    and the id of the model Rasa serves (which it stamps on every event it stores)."""
    url = f"{stack.rasa_urls[0]}/conversations/{quote(sender_id, safe=':')}/tracker"
    deadline = time.monotonic() + PUSH_WAIT_S
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.rasa_urls[0]}/status", params={"token": stack.api_token}) as response:
            model_id = (await response.json())["model_id"]
        while True:
            async with http.get(url, params={"token": stack.api_token}) as response:
                assert response.status == 200
                events = (await response.json())["events"]
            found = [e for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("outbound_key") == key]
            if found or time.monotonic() > deadline:
                return found, model_id
            await asyncio.sleep(0.5)


async def check_survey_arrived(chat: Chat, stack: Stack, filed: Filed, since: datetime) -> dict[str, Any]:
    """The survey was pushed once to the open socket, is in the history, and in the Rasa transcript; the pushed item."""
    expected = survey_item(filed.number)
    await chat.wait_for([expected["id"]])
    pushed = chat.proactive()
    assert without_ts(pushed) == {key: [item] for key, item in (notice_items(filed) | {expected["id"]: expected}).items()}
    item = pushed[expected["id"]][0]
    assert since.timestamp() <= item["ts"] <= time.time()
    status, history = await chat.visitor.history()
    assert status == 200
    assert [i for i in history["items"] if i["id"] == expected["id"]] == [item]
    assert [i["id"] for i in history["items"]][-3:] == [*filed.notices, expected["id"]]
    events, model_id = await transcript_bot_events(stack, chat.sender_id, expected["id"])
    assert [(e["text"], e["data"]["buttons"], e["metadata"]) for e in events] == [(
        expected["text"], expected["buttons"],
        {"outbound_key": expected["id"], "author": "bot", "author_name": None,
         "assistant_id": ASSISTANT_ID, "model_id": model_id},
    )]
    return item


def button(item: dict[str, Any], title: str) -> dict[str, str]:
    return next(b for b in item["buttons"] if b["title"] == title)


async def test_the_survey_comes_72_hours_later_in_the_same_web_chat_and_a_2_reopens_the_ticket_one_priority_higher(
    path_web: WebApp, web_stack: Stack, api_token: str, tmp_path: Path,
) -> None:
    async with open_chat(path_web) as chat, ticket_api(path_web, api_token) as api:
        with running_worker(web_stack, tmp_path / "worker-now.log", ahead=timedelta(0)):
            filed = await file_and_resolve(chat, api, "two")
        due = await check_pending_survey(api, filed)
        check_session_outlives_the_wait(chat, due)

        started = datetime.now(timezone.utc)
        ahead = due - started + timedelta(seconds=2)
        with running_worker(web_stack, tmp_path / "worker-72h.log", ahead=ahead):
            survey = await check_survey_arrived(chat, web_stack, filed, started)
            sent = await api.survey_once(filed.number, "sent")

        before = datetime.now(timezone.utc)
        replies = await chat.press(button(survey, "2"))
        after = datetime.now(timezone.utc)
        ticket = await api.get(f"/tickets/{filed.number}")
        moves = await api.status_moves(filed.number)
        answered = await api.get(f"/tickets/{filed.number}/survey")

    assert [(r["text"], r["buttons"]) for r in replies] == [(say("utter_survey_reopened", ticket_number=filed.number), [])]
    assert sent["state"] == "sent" and due <= moment(sent["sent_at"]) <= due + timedelta(seconds=PUSH_WAIT_S + 2)
    raised = RAISED[filed.filed["priority"]]
    assert (ticket["status"], ticket["priority"], ticket["resolved_at"]) == ("escalated", raised, None)
    assert ticket["allowed_transitions"] == ["in_progress", "resolved", "withdrawn"]
    assert [m["detail"] for m in moves] == agent_moves() + [
        {"from": "resolved", "to": "reopened", "actor": "customer", "note": "survey: rated 2 of 5",
         "priority_raised_from": filed.filed["priority"]},
        {"from": "reopened", "to": "escalated", "actor": "bot", "note": "survey: rated 2 of 5"},
    ]
    assert moves[-2]["at"] == moves[-1]["at"]
    assert before <= moment(answered["answered_at"]) <= moment(moves[-1]["at"]) <= after
    assert answered == sent | {
        "state": "answered", "next_step": None, "next_step_at": None,
        "answered_at": answered["answered_at"], "finished_at": answered["answered_at"], "rating": 2,
    }
    assert (sent["due_at"], sent["next_step"], moment(sent["next_step_at"])) == (
        due.isoformat(), "reminder", outside_quiet_hours(moment(sent["sent_at"]) + timedelta(hours=24)),
    )


async def test_a_5_then_yes_closes_the_ticket_and_a_ticket_reopened_before_the_72_hours_gets_no_survey(
    path_web: WebApp, web_stack: Stack, api_token: str, tmp_path: Path,
) -> None:
    async with open_chat(path_web) as happy, open_chat(path_web) as early, ticket_api(path_web, api_token) as api:
        with running_worker(web_stack, tmp_path / "worker-now.log", ahead=timedelta(0)):
            closing = await file_and_resolve(happy, api, "five")
            reopening = await file_and_resolve(early, api, "early")
            reopened = await api.move(reopening.number, "reopened", "The customer wrote that the refund has not arrived.")
        due = await check_pending_survey(api, closing)
        cancelled = await api.get(f"/tickets/{reopening.number}/survey")

        started = datetime.now(timezone.utc)
        with running_worker(web_stack, tmp_path / "worker-72h.log", ahead=due - started + timedelta(seconds=2)):
            survey = await check_survey_arrived(happy, web_stack, closing, started)
            await asyncio.sleep(QUIET_S)
        early_pushed = early.proactive()
        _, early_history = await early.visitor.history()

        before = datetime.now(timezone.utc)
        rated = await happy.press(button(survey, "5"))
        solved = await happy.press(button(rated[-1], "Yes, it was"))
        after = datetime.now(timezone.utc)
        ticket = await api.get(f"/tickets/{closing.number}")
        moves = await api.status_moves(closing.number)
        answered = await api.get(f"/tickets/{closing.number}/survey")

    resolved_at = reopening.resolved["resolved_at"]
    assert cancelled == {
        "ticket_number": reopening.number, "state": "cancelled", "channel": "webchat",
        "resolved_at": resolved_at, "due_at": survey_due(moment(resolved_at)).isoformat(),
        "next_step": None, "next_step_at": None, "sent_at": None, "reminded_at": None, "answered_at": None,
        "finished_at": reopened["updated_at"], "cancel_reason": "reopened", "rating": None, "solved": None, "comment": None,
    }
    assert without_ts(early_pushed) == {key: [item] for key, item in notice_items(reopening).items()}
    assert not [i for i in early_history["items"] if i["id"].startswith("followup:")]

    assert [(r["text"], r["buttons"]) for r in rated] == [(
        say("utter_survey_solved"),
        [{"title": "Yes, it was", "payload": f'/inform{{"survey_answer":"{closing.number}:solved:yes"}}'},
         {"title": "No, it wasn't", "payload": f'/inform{{"survey_answer":"{closing.number}:solved:no"}}'}],
    )]
    assert [(r["text"], r["buttons"]) for r in solved] == [(say("utter_survey_thanks", ticket_number=closing.number), [])]
    assert (ticket["status"], ticket["priority"], ticket["allowed_transitions"]) == ("closed", closing.filed["priority"], ["reopened"])
    assert ticket["resolved_at"] == closing.resolved["resolved_at"]
    assert [m["detail"] for m in moves] == agent_moves() + [
        {"from": "resolved", "to": "closed", "actor": "customer", "note": "survey: rated 5 of 5, solved"},
    ]
    assert before <= moment(answered["answered_at"]) <= moment(moves[-1]["at"]) <= after
    assert due <= moment(answered["sent_at"]) <= due + timedelta(seconds=PUSH_WAIT_S + 2)
    assert answered == {
        "ticket_number": closing.number, "state": "answered", "channel": "webchat",
        "resolved_at": closing.resolved["resolved_at"], "due_at": due.isoformat(), "next_step": None, "next_step_at": None,
        "sent_at": answered["sent_at"], "reminded_at": None, "answered_at": answered["answered_at"],
        "finished_at": answered["answered_at"], "cancel_reason": None, "rating": 5, "solved": True, "comment": None,
    }
