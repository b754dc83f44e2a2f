"""The console's hand-off routes: the queue, a conversation, and what an agent does with it.

Pages render from SQL; the page's script (``console.js``) then follows ``/console/ws``. Every
route checks the access rule of :mod:`bot.handoff.access` before showing or changing a
hand-off: a hand-off an account may not read answers 404, exactly like one that does not
exist, so an agent cannot probe for other agents' conversations.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.errors import InvalidTransition, TicketNotFound
from bot.handoff.access import may_act, may_read
from bot.handoff.desk import Agent, HandoffDesk
from bot.handoff.policy import handoff_policy
from bot.handoff.store import HandoffNotFound, HandoffRecord, HandoffTaken
from web import keys
from web.console.accounts import Account
from web.console.assistant import AssistantUnavailable
from web.console.bodies import bad_request, json_error, json_object
from web.console.guard import PREFIX, require_agent, signed_in
from web.console.sessions import CSRF, REQUEST_KEY

MESSAGE_MAX_CHARS = 4000
routes = web.RouteTableDef()


def agent_of(account: Account) -> Agent:
    return Agent(account.name, account.display_name)


def handoff_summary(record: HandoffRecord) -> dict[str, Any]:
    """A hand-off as the queue shows it: no customer words, the rules' reasons as the agent reads them."""
    policy = handoff_policy()
    return {
        "id": record.id, "ticket_number": record.ticket_number, "channel": record.channel, "state": record.state,
        "priority": record.priority, "agent": record.agent, "created_at": record.created_at.isoformat(),
        "claimed_at": record.claimed_at.isoformat() if record.claimed_at else None,
        "reasons": [policy.reason(rule) or rule for rule in record.rule_ids],
    }


def emotion_trend(transcript: list[dict[str, Any]]) -> str:
    """``rising``, ``falling`` or ``steady``: the customer's last scored message against the one before."""
    scores = [line["emotion"] for line in transcript
              if line.get("sender") == "customer" and isinstance(line.get("emotion"), (int, float))]
    if len(scores) < 2 or abs(scores[-1] - scores[-2]) < 0.1:
        return "steady"
    return "rising" if scores[-1] > scores[-2] else "falling"


async def queue_entries(request: web.Request, records: list[HandoffRecord]) -> list[dict[str, Any]]:
    """The queue's hand-offs with what the agent decides on: the ticket's category, emotion and its
    trend, and the time left to the resolve deadline (negative: late)."""
    tickets, now = request.config_dict[keys.TICKETS], request.config_dict[keys.CLOCK]()
    entries = []
    for record in records:
        ticket = await asyncio.to_thread(tickets.get, record.ticket_number)
        entry = handoff_summary(record)
        if ticket is not None:
            entry.update(category=ticket.category, emotion=round(ticket.emotion_score, 2),
                         emotion_trend=emotion_trend(ticket.transcript),
                         sla_left_min=int((ticket.sla_resolve_by - now).total_seconds() // 60))
        entries.append(entry)
    return entries


async def readable(request: web.Request, handoff_id: int, *, acting: bool = False) -> HandoffRecord:
    """The hand-off if the signed-in account may read (or act on) it, else 404."""
    account = signed_in(request)
    try:
        record = await asyncio.to_thread(request.config_dict[keys.HANDOFF_DESK].store.get, handoff_id)
    except HandoffNotFound:
        record = None
    check = may_act if acting else may_read
    if record is None or not check(record, name=account.name, supervisor=account.is_supervisor):
        raise json_error(web.HTTPNotFound, "not_found")
    return record


def _handoff_id(request: web.Request) -> int:
    raw = request.match_info["handoff_id"]
    if not raw.isdigit():
        raise json_error(web.HTTPNotFound, "not_found")
    return int(raw)


async def conversation(desk: HandoffDesk, request: web.Request, record: HandoffRecord) -> dict[str, Any]:
    """Everything the conversation page shows: the hand-off, the ticket, its transcript, notes, earlier tickets."""
    tickets = request.config_dict[keys.TICKETS]
    ticket = await asyncio.to_thread(tickets.get, record.ticket_number)
    if ticket is None:
        raise TicketNotFound(record.ticket_number)
    earlier = await asyncio.to_thread(tickets.find_by_sender, record.channel, record.sender_id)
    notes = await asyncio.to_thread(desk.notes, record.ticket_number)
    return {
        "handoff": handoff_summary(record),
        "ticket": {
            "number": ticket.number, "status": ticket.status, "category": ticket.category,
            "priority": ticket.priority, "emotion_score": ticket.emotion_score,
            "customer_name": ticket.customer_name, "what": ticket.problem_description or ticket.narrative,
            "product": ticket.complaint_product, "when": ticket.incident_date_text, "where": ticket.incident_location,
            "who": ticket.people_involved, "impact": ticket.impact, "wants": ticket.desired_outcome,
            "offered_options": list(ticket.offered_options), "sla_resolve_by": ticket.sla_resolve_by.isoformat(),
        },
        "transcript": [{"sender": line.get("sender"), "text": line.get("text"), "agent_name": line.get("agent_name"),
                        "timestamp": line.get("timestamp")} for line in ticket.transcript],
        "notes": notes,
        "earlier_tickets": [{"number": t.number, "status": t.status, "category": t.category,
                             "created_at": t.created_at.isoformat()} for t in earlier if t.number != ticket.number],
    }


@routes.get(f"{PREFIX}/handoffs/{{handoff_id}}")
@require_agent
async def conversation_page(request: web.Request) -> web.StreamResponse:
    """One handed-over conversation (404 page when the access rule refuses it)."""
    desk = request.config_dict[keys.HANDOFF_DESK]
    try:
        record = await readable(request, _handoff_id(request))
    except web.HTTPNotFound:
        return request.config_dict[keys.PAGES].render("not_found.html", status=404, account=signed_in(request),
                                                      csrf_token=request[REQUEST_KEY][CSRF])
    return request.config_dict[keys.PAGES].render(
        "conversation.html", account=signed_in(request), csrf_token=request[REQUEST_KEY][CSRF],
        view=await conversation(desk, request, record),
    )


@routes.get(f"{PREFIX}/api/handoffs")
@require_agent
async def queue(request: web.Request) -> web.Response:
    """The waiting hand-offs, most urgent first, then longest waiting."""
    records = await asyncio.to_thread(request.config_dict[keys.HANDOFF_DESK].store.queue)
    return web.json_response({"handoffs": await queue_entries(request, records)})


@routes.get(f"{PREFIX}/api/handoffs/{{handoff_id}}")
@require_agent
async def conversation_data(request: web.Request) -> web.Response:
    desk = request.config_dict[keys.HANDOFF_DESK]
    record = await readable(request, _handoff_id(request))
    return web.json_response(await conversation(desk, request, record))


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/claim")
@require_agent
async def claim(request: web.Request) -> web.Response:
    """Take a waiting hand-off: 200 for the one agent who wins, 409 naming who has it for the others.

    Not behind the access rule: the claim itself decides, and the loser of a race learns who won
    (a name and a state, no customer words) instead of a bare 404."""
    handoff_id = _handoff_id(request)
    desk = request.config_dict[keys.HANDOFF_DESK]
    try:
        record = await desk.claim(handoff_id, agent_of(signed_in(request)), request.config_dict[keys.CLOCK]())
    except HandoffNotFound as error:
        raise json_error(web.HTTPNotFound, "not_found") from error
    except HandoffTaken as error:
        raise await _taken(request, handoff_id) from error
    return web.json_response({"handoff": handoff_summary(record)})


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/messages")
@require_agent
async def send_message(request: web.Request) -> web.Response:
    """The agent's message to the customer: JSON ``text``. A waiting hand-off is claimed by it."""
    text = _text(await json_object(request), "text")
    record, desk, agent, now = await _acting(request)
    async with _desk_errors(request, record.id):
        record = await desk.reply(record.id, agent, text, now)
    return web.json_response({"handoff": handoff_summary(record)}, status=201)


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/notes")
@require_agent
async def add_note(request: web.Request) -> web.Response:
    """A private note on the ticket: JSON ``text``; never shown to the customer."""
    text = _text(await json_object(request), "text")
    record, desk, agent, now = await _acting(request)
    return web.json_response({"note": await desk.note(record.id, agent, text, now)}, status=201)


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/hand-back")
@require_agent
async def hand_back(request: web.Request) -> web.Response:
    """End the hand-off and let the assistant take the conversation again."""
    record, desk, agent, now = await _acting(request)
    async with _desk_errors(request, record.id):
        record = await desk.hand_back(record.id, agent, now)
    return web.json_response({"handoff": handoff_summary(record)})


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/resolve")
@require_agent
async def resolve(request: web.Request) -> web.Response:
    """Resolve the ticket (its 72-hour follow-up starts) and hand the conversation back: JSON ``note`` (optional)."""
    note = (await json_object(request)).get("note")
    if note is not None and not isinstance(note, str):
        raise bad_request("bad_request", "note must be a string")
    record, desk, agent, now = await _acting(request)
    async with _desk_errors(request, record.id):
        record = await desk.resolve(record.id, agent, note or None, now)
    return web.json_response({"handoff": handoff_summary(record)})


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/transfer")
@require_agent
async def transfer(request: web.Request) -> web.Response:
    """Pass the conversation to another active account: JSON ``to`` (its sign-in name). An agent
    passes on their own conversation; a supervisor reassigns anyone's."""
    to_name = _text(await json_object(request), "to")
    record, desk, agent, now = await _acting(request)
    target = await asyncio.to_thread(request.config_dict[keys.ACCOUNTS].by_name, to_name)
    if target is None or not target.active:
        raise bad_request("unknown_agent", "no active account has that name")
    async with _desk_errors(request, record.id):
        record = await desk.transfer(record.id, agent, agent_of(target), now, supervisor=signed_in(request).is_supervisor)
    return web.json_response({"handoff": handoff_summary(record)})


async def _acting(request: web.Request) -> tuple[HandoffRecord, HandoffDesk, Agent, datetime]:
    """The hand-off the signed-in account may act on (else 404), the desk, the agent and the time."""
    record = await readable(request, _handoff_id(request), acting=True)
    return record, request.config_dict[keys.HANDOFF_DESK], agent_of(signed_in(request)), request.config_dict[keys.CLOCK]()


@asynccontextmanager
async def _desk_errors(request: web.Request, handoff_id: int) -> AsyncIterator[None]:
    """The desk's refusals as the API's answers: 409 taken or not allowed, 502 when Rasa did not answer."""
    try:
        yield
    except HandoffTaken as error:
        raise await _taken(request, handoff_id) from error
    except InvalidTransition as error:
        raise json_error(web.HTTPConflict, "transition_not_allowed") from error
    except AssistantUnavailable as error:
        raise json_error(web.HTTPBadGateway, "assistant_unavailable") from error


async def _taken(request: web.Request, handoff_id: int) -> web.HTTPException:
    """409 telling the agent who has the hand-off now (or that it ended)."""
    record = await asyncio.to_thread(request.config_dict[keys.HANDOFF_DESK].store.get, handoff_id)
    name = record.agent.split(":", 1)[1] if record.agent else None
    holder = await asyncio.to_thread(request.config_dict[keys.ACCOUNTS].by_name, name) if name else None
    return json_error(web.HTTPConflict, "taken", state=record.state,
                      agent=holder.display_name if holder else name)


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > MESSAGE_MAX_CHARS:
        raise bad_request("bad_request", f"send a JSON object with a non-empty string {field} (at most {MESSAGE_MAX_CHARS} characters)")
    return value.strip()
