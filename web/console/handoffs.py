"""The console's hand-off routes: the queue, a conversation, and what an agent does with it.

Pages render from SQL; the page's script (``console.js``) then follows ``/console/ws``. Every
route checks the access rule of :mod:`bot.handoff.access` before showing or changing a
hand-off: a hand-off an account may not read answers 404, exactly like one that does not
exist, so an agent cannot probe for other agents' conversations.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.callbacks.policy import callback_policy
from bot.callbacks.slots import Slot, slot_label
from bot.callbacks.store import CallbackRecord, SlotFull
from bot.errors import InvalidTransition, TicketNotFound
from bot.handoff.access import may_act, may_read
from bot.handoff.desk import Agent, HandoffDesk, SlotUnavailable
from bot.handoff.next_steps import TicketFacts, next_steps_policy, option_labels, suggest
from bot.handoff.policy import handoff_policy
from bot.handoff.store import AGENTS_QUEUE, QUEUES, HandoffNotFound, HandoffRecord, HandoffTaken
from bot.lifecycle import STATES, legal_targets
from bot.sla.notices import NOTICE_RESPONSES
from bot.tickets import TicketRecord
from web import keys
from web.console.accounts import Account
from web.console.assistant import AssistantUnavailable
from web.console.bodies import bad_request, json_error, json_object
from web.console.guard import PREFIX, require_agent, signed_in
from web.console.sessions import CSRF, REQUEST_KEY

logger = logging.getLogger(__name__)

MESSAGE_MAX_CHARS = 4000
routes = web.RouteTableDef()


def agent_of(account: Account) -> Agent:
    return Agent(account.name, account.display_name)


def handoff_summary(record: HandoffRecord) -> dict[str, Any]:
    """A hand-off as the queue shows it: no customer words, the rules' reasons as the agent reads them.
    ``queue`` says whose queue a waiting one is in (``agents``, or ``supervisors`` once nobody claimed it in time)."""
    policy = handoff_policy()
    return {
        "id": record.id, "ticket_number": record.ticket_number, "channel": record.channel, "state": record.state,
        "priority": record.priority, "agent": record.agent, "created_at": record.created_at.isoformat(),
        "claimed_at": record.claimed_at.isoformat() if record.claimed_at else None,
        "reasons": [policy.reason(rule) or rule for rule in record.rule_ids],
        "queue": record.queue,
    }


def queues_for(account: Account) -> tuple[str, ...]:
    """The queues an account works from: an agent the agents' queue, a supervisor both."""
    return QUEUES if account.is_supervisor else (AGENTS_QUEUE,)


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


def handoff_id_of(request: web.Request) -> int:
    raw = request.match_info["handoff_id"]
    if not raw.isdigit():
        raise json_error(web.HTTPNotFound, "not_found")
    return int(raw)


async def conversation(desk: HandoffDesk, request: web.Request, record: HandoffRecord) -> dict[str, Any]:
    """Everything the conversation page shows: the hand-off, the ticket (with the states it may move to),
    its transcript, notes, earlier tickets, the booked call back and the suggested next steps."""
    tickets, now = request.config_dict[keys.TICKETS], request.config_dict[keys.CLOCK]()
    ticket = await asyncio.to_thread(tickets.get, record.ticket_number)
    if ticket is None:
        raise TicketNotFound(record.ticket_number)
    earlier = await asyncio.to_thread(tickets.find_by_sender, record.channel, record.sender_id)
    notes = await asyncio.to_thread(desk.notes, record.ticket_number)
    booked = await desk.callbacks.active(record.sender_id) if desk.callbacks else None
    account = signed_in(request)
    return {
        "handoff": handoff_summary(record),
        "holding": holds(record, account),
        "allowed_transitions": list(legal_targets(ticket.status)),
        "callback": callback_summary(booked),
        "next_steps": [{"id": step.id, "text": step.text}
                       for step in suggest(next_steps_policy(), ticket_facts(ticket, record, booked, now))],
        "ticket": {
            "number": ticket.number, "status": ticket.status, "category": ticket.category,
            "priority": ticket.priority, "emotion_score": ticket.emotion_score,
            "customer_name": ticket.customer_name, "what": ticket.problem_description or ticket.narrative,
            "product": ticket.complaint_product, "when": ticket.incident_date_text, "where": ticket.incident_location,
            "who": ticket.people_involved, "impact": ticket.impact, "wants": ticket.desired_outcome,
            "offered_options": list(ticket.offered_options),
            "offered_labels": [dict(_option_labels()).get(option, option) for option in ticket.offered_options],
            "sla_resolve_by": ticket.sla_resolve_by.isoformat(),
        },
        "transcript": [{"sender": line.get("sender"), "text": line.get("text"), "agent_name": line.get("agent_name"),
                        "timestamp": line.get("timestamp")} for line in ticket.transcript],
        "notes": notes,
        "earlier_tickets": [{"number": t.number, "status": t.status, "category": t.category,
                             "created_at": t.created_at.isoformat()} for t in earlier if t.number != ticket.number],
    }


def holds(record: HandoffRecord, account: Account) -> bool:
    """Whether the account may work the ticket from this conversation (change its state, book a call):
    it holds the claimed conversation, or is a supervisor."""
    return account.is_supervisor or (record.state == "claimed" and record.agent == agent_of(account).ref)


def agent_time(moment: datetime) -> str:
    """A moment as the console shows it to agents: on the team's clock (settings/callbacks.yml)."""
    policy = callback_policy()
    return slot_label(Slot(moment, moment), policy.business_zone)


def callback_summary(booked: CallbackRecord | None) -> dict[str, Any] | None:
    """The conversation's booked call back as the page shows it, or None."""
    if booked is None:
        return None
    return {"key": booked.key, "slot_start": booked.slot_start.isoformat(), "label": agent_time(booked.slot_start),
            "customer_label": slot_label(Slot(booked.slot_start, booked.slot_end), ZoneInfo(booked.customer_timezone)),
            "time_zone": booked.customer_timezone}


def ticket_facts(ticket: TicketRecord, record: HandoffRecord, booked: CallbackRecord | None, now: datetime) -> TicketFacts:
    """What the suggested next steps read about a ticket (settings/next_steps.yml)."""
    return TicketFacts(
        number=ticket.number, status=ticket.status, category=ticket.category, priority=ticket.priority,
        channel=record.channel, now=now, resolve_by=ticket.sla_resolve_by, desired_outcome=ticket.desired_outcome,
        outcome_kind=ticket.desired_outcome_kind, chosen_option=ticket.chosen_option,
        offered_options=tuple(ticket.offered_options), rules=tuple(record.rule_ids), emotion=ticket.emotion_score,
        repeat_of=ticket.repeat_of, order_ref=ticket.order_ref,
        callback_at=agent_time(booked.slot_start) if booked else None, option_labels=_option_labels(),
    )


@functools.lru_cache(maxsize=1)
def _option_labels() -> tuple[tuple[str, str], ...]:
    return option_labels()


@routes.get(f"{PREFIX}/handoffs/{{handoff_id}}")
@require_agent
async def conversation_page(request: web.Request) -> web.StreamResponse:
    """One handed-over conversation (404 page when the access rule refuses it)."""
    desk = request.config_dict[keys.HANDOFF_DESK]
    try:
        record = await readable(request, handoff_id_of(request))
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
    """The waiting hand-offs the account may take (an agent: the agents' queue; a supervisor: both),
    most urgent first, then longest waiting; and the conversations the account holds (``mine``)."""
    waiting, mine = await queue_and_mine(request)
    return web.json_response({"handoffs": waiting, "mine": mine})


async def queue_and_mine(request: web.Request) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The queue entries the signed-in account sees, and the claimed conversations it holds."""
    account, store = signed_in(request), request.config_dict[keys.HANDOFF_DESK].store
    waiting = await asyncio.to_thread(store.queue, queues_for(account))
    mine = await asyncio.to_thread(store.claimed, agent_of(account).ref)
    return await queue_entries(request, waiting), await queue_entries(request, mine)


@routes.get(f"{PREFIX}/api/handoffs/{{handoff_id}}")
@require_agent
async def conversation_data(request: web.Request) -> web.Response:
    desk = request.config_dict[keys.HANDOFF_DESK]
    record = await readable(request, handoff_id_of(request))
    return web.json_response(await conversation(desk, request, record))


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/claim")
@require_agent
async def claim(request: web.Request) -> web.Response:
    """Take a waiting hand-off: 200 for the one agent who wins, 409 naming who has it for the others.

    Not behind the access rule: the claim itself decides, and the loser of a race learns who won
    (a name and a state, no customer words) instead of a bare 404."""
    handoff_id = handoff_id_of(request)
    desk, account = request.config_dict[keys.HANDOFF_DESK], signed_in(request)
    try:
        record = await desk.claim(handoff_id, agent_of(account), request.config_dict[keys.CLOCK](),
                                  supervisor=account.is_supervisor)
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
    async with desk_errors(request, record.id):
        record = await desk.reply(record.id, agent, text, now, supervisor=signed_in(request).is_supervisor)
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
    async with desk_errors(request, record.id):
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
    async with desk_errors(request, record.id):
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
    async with desk_errors(request, record.id):
        record = await desk.transfer(record.id, agent, agent_of(target), now, supervisor=signed_in(request).is_supervisor)
    return web.json_response({"handoff": handoff_summary(record)})


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/status")
@require_agent
async def change_status(request: web.Request) -> web.Response:
    """Move the conversation's ticket along its lifecycle: JSON ``to`` (a state) and ``note`` (optional).
    409 ``transition_not_allowed`` with the ticket's state and the states it may go to when the move
    is not legal from where the ticket is now; the customer is told of in_progress and resolved."""
    body = await json_object(request)
    target, note = body.get("to"), body.get("note")
    if target not in STATES or (note is not None and not isinstance(note, str)) or len(note or "") > MESSAGE_MAX_CHARS:
        raise bad_request("bad_request", f"send a JSON object with 'to', one of {', '.join(STATES)}, and an optional string note")
    record, desk, agent, now = await _holding(request)
    tickets = request.config_dict[keys.TICKETS]
    try:
        moved = await desk.change_status(record.id, agent, target, (note or "").strip() or None, now)
    except InvalidTransition as refused:
        current = await asyncio.to_thread(tickets.get, record.ticket_number)
        state = current.status if current is not None else ""
        raise json_error(web.HTTPConflict, "transition_not_allowed", message=str(refused), status=state, to=target,
                         allowed=list(legal_targets(state)) if state else []) from refused
    if target in NOTICE_RESPONSES:
        await announce(request, moved.number, now)
    return web.json_response({"ticket": {"number": moved.number, "status": moved.status,
                                         "allowed": list(legal_targets(moved.status))}})


@routes.get(f"{PREFIX}/api/handoffs/{{handoff_id}}/callback-slots")
@require_agent
async def callback_slots(request: web.Request) -> web.Response:
    """The free call-back slots to offer the customer (as the assistant offers them), each labelled
    on the customer's clock and on the team's, and the call already booked, if any."""
    record = await readable(request, handoff_id_of(request))
    desk, now = request.config_dict[keys.HANDOFF_DESK], request.config_dict[keys.CLOCK]()
    slots, zone_, booked = await desk.callback_offer(record.id, now)
    return web.json_response({"time_zone": zone_.key, "slots": [slot_json(slot, zone_) for slot in slots],
                              "booked": callback_summary(booked)})


def slot_json(slot: Slot, zone_: ZoneInfo) -> dict[str, str]:
    return {"start": slot.iso(), "label": agent_time(slot.start), "customer_label": slot_label(slot, zone_)}


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/callback")
@require_agent
async def book_callback(request: web.Request) -> web.Response:
    """Book a call back for the customer: JSON ``slot`` (a slot's start, as offered by callback-slots).
    The customer is told the time in the chat; a call already booked for the ticket is moved. 400
    ``slot_unavailable`` for a moment that is no bookable slot, 409 ``slot_full`` (with fresh slots)
    when someone took the last seat first."""
    raw = (await json_object(request)).get("slot")
    try:
        start = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        start = None
    if start is None or start.utcoffset() is None:
        raise bad_request("bad_request", "send a JSON object with 'slot', a slot's start in ISO 8601 with its offset")
    record, desk, agent, now = await _holding(request)
    try:
        booked = await desk.book_callback(record.id, agent, start, now)
    except SlotUnavailable as error:
        raise json_error(web.HTTPBadRequest, "slot_unavailable") from error
    except SlotFull as error:
        slots, zone_, _ = await desk.callback_offer(record.id, now)
        raise json_error(web.HTTPConflict, "slot_full", slots=[slot_json(slot, zone_) for slot in slots]) from error
    return web.json_response({"callback": callback_summary(booked)}, status=201)


async def announce(request: web.Request, number: str, now: datetime) -> None:
    """Tell the customer of the ticket's new status now (the worker's sweep does it otherwise)."""
    app = request.config_dict
    try:
        await app[keys.NOTICES].deliver_pending(app[keys.OUTBOUND], now, ticket=number)
    except Exception as error:  # the move is made; the sweep announces it within a minute
        logger.warning("status notice left to the sweep", extra={"ticket_number": number, "error": type(error).__name__})


async def _holding(request: web.Request) -> tuple[HandoffRecord, HandoffDesk, Agent, datetime]:
    """As :func:`_acting`, for work on the ticket itself: the account must hold the conversation
    (claimed by them) or be a supervisor, else 409 ``claim_first``."""
    record, desk, agent, now = await _acting(request)
    if not holds(record, signed_in(request)):
        raise json_error(web.HTTPConflict, "claim_first", state=record.state)
    return record, desk, agent, now


async def _acting(request: web.Request) -> tuple[HandoffRecord, HandoffDesk, Agent, datetime]:
    """The hand-off the signed-in account may act on (else 404), the desk, the agent and the time."""
    record = await readable(request, handoff_id_of(request), acting=True)
    return record, request.config_dict[keys.HANDOFF_DESK], agent_of(signed_in(request)), request.config_dict[keys.CLOCK]()


@asynccontextmanager
async def desk_errors(request: web.Request, handoff_id: int) -> AsyncIterator[None]:
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
    """409 telling the agent who has the hand-off now (or that it ended); 404 for an agent when it
    waits in the supervisors' queue (which the agent may not read)."""
    record = await asyncio.to_thread(request.config_dict[keys.HANDOFF_DESK].store.get, handoff_id)
    if record.state == "waiting" and record.queue not in queues_for(signed_in(request)):
        return json_error(web.HTTPNotFound, "not_found")
    name = record.agent.split(":", 1)[1] if record.agent else None
    holder = await asyncio.to_thread(request.config_dict[keys.ACCOUNTS].by_name, name) if name else None
    return json_error(web.HTTPConflict, "taken", state=record.state,
                      agent=holder.display_name if holder else name)


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > MESSAGE_MAX_CHARS:
        raise bad_request("bad_request", f"send a JSON object with a non-empty string {field} (at most {MESSAGE_MAX_CHARS} characters)")
    return value.strip()
