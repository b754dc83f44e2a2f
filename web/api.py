"""The ticket API (``/api/v1``): tickets, their history and state changes; callbacks and surveys.

For the agent console and other systems, described by ``web/openapi.yaml`` (served at
``/api/v1/openapi.json``). Every route but the document needs ``Authorization: Bearer
$TICKET_API_TOKEN``, compared in constant time; without a configured token the API answers
503 rather than trusting anybody. Answers carry customers' details, so nothing here logs a
body, a note or a query: only route names, ticket numbers and outcomes.

Callbacks and surveys belong to their own features (``bot/callbacks``, ``bot/followup``); the
routes speak to them through :class:`web.directories.CallbackDirectory` and
:class:`web.directories.SurveyDirectory`, set on the app under ``keys.CALLBACKS`` /
``keys.SURVEYS``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from dateutil.parser import isoparse

from bot.callbacks import CallbackStateError
from bot.callbacks.store import STATES as CALLBACK_STATES
from bot.domain_config import CATEGORIES, PRIORITIES
from bot.errors import InvalidTransition, TicketNotFound, TicketStoreUnavailable
from bot.lifecycle import STATES, legal_targets
from bot.sla.notices import NOTICE_RESPONSES
from bot.sla.watch import SlaCheck
from bot.tickets import TicketFilter, TicketRecord
from web import keys

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"
OPENAPI_PATH = f"{PREFIX}/openapi.json"
OPENAPI_FILE = Path(__file__).resolve().parent / "openapi.yaml"
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000
MAX_NOTE_CHARS = 2000
MAX_NUMBER_CHARS = 32
CHANNEL_NAME = re.compile(r"[a-z0-9_.-]{1,64}")
AGENT_NAME = re.compile(r"\S.{0,99}")
"""An agent's name as ``bot.lifecycle.check_actor`` accepts it after ``agent:`` (one line)."""
TRANSITION_FIELDS = frozenset({"to", "note", "agent"})
DONE_FIELDS = frozenset({"note", "agent"})

routes = web.RouteTableDef()


class ApiError(Exception):
    """An answer other than success: status, a stable code and a message for the caller's developer."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": error, "message": message, **extra}

    def response(self) -> web.Response:
        response = web.json_response(self.body, status=self.status)
        if self.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="tickets"'
        return response


def load_openapi(path: Path = OPENAPI_FILE) -> dict[str, Any]:
    """The API's description, read once at start-up."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@web.middleware
async def api_guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Bearer-token check for ``/api/v1`` (the document itself is public), and ApiError as JSON."""
    if not request.path.startswith(PREFIX + "/") or request.path == OPENAPI_PATH:
        return await handler(request)
    try:
        _authorise(request)
        return await handler(request)
    except ApiError as error:
        return error.response()
    except TicketStoreUnavailable:
        logger.warning("ticket API: the store did not answer", extra={"route": request.path.split("/")[3]})
        return ApiError(503, "store_unavailable", "the ticket store does not answer; try again shortly").response()


def _authorise(request: web.Request) -> None:
    expected = request.app[keys.SETTINGS].ticket_api_token
    if not expected:
        raise ApiError(503, "api_disabled", "the ticket API has no token configured (TICKET_API_TOKEN)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <TICKET_API_TOKEN>")


@routes.get(OPENAPI_PATH)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.OPENAPI])


@routes.get(f"{PREFIX}/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    query = request.query
    filters = TicketFilter(
        status=_choice(query, "status", STATES),
        category=_choice(query, "category", CATEGORIES),
        channel=_word(query, "channel", CHANNEL_NAME),
        priority=_choice(query, "priority", PRIORITIES),
        created_from=_moment(query, "created_from"),
        created_to=_moment(query, "created_to"),
    )
    limit = _whole(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _whole(query, "offset", 0, 0, MAX_OFFSET)
    records, total = await asyncio.to_thread(request.app[keys.TICKETS].search, filters, limit=limit, offset=offset)
    checks = await asyncio.to_thread(_checks_of, request.app, [r.number for r in records])
    items = [ticket_json(record, checks.get(record.number, [])) for record in records]
    return web.json_response({"items": items, "total": total, "limit": limit, "offset": offset})


@routes.get(f"{PREFIX}/tickets/{{number}}")
async def get_ticket(request: web.Request) -> web.Response:
    record = await _ticket(request)
    checks = await asyncio.to_thread(request.app[keys.SLA].checks, record.number)
    return web.json_response(ticket_json(record, checks))


@routes.get(f"{PREFIX}/tickets/{{number}}/history")
async def ticket_history(request: web.Request) -> web.Response:
    record = await _ticket(request)
    events = await asyncio.to_thread(request.app[keys.TICKETS].events, record.number)
    items = [{"id": e.id, "kind": e.kind, "at": e.at.isoformat(), "detail": e.detail} for e in events]
    return web.json_response({"items": items})


@routes.post(f"{PREFIX}/tickets/{{number}}/transitions")
async def change_status(request: web.Request) -> web.Response:
    """Move a ticket (409 when the lifecycle forbids it); announce in_progress and resolved to the customer."""
    body = await _body(request, TRANSITION_FIELDS, required=True)
    target = body.get("to")
    if target not in STATES:
        raise ApiError(400, "bad_request", f"'to' must be one of {', '.join(STATES)}")
    note = _optional_text(body, "note", MAX_NOTE_CHARS)
    actor = _actor(body)
    record = await _ticket(request)
    tickets, now = request.app[keys.TICKETS], request.app[keys.CLOCK]()
    try:
        moved = await asyncio.to_thread(tickets.transition, record.number, target, actor=actor, now=now, note=note)
    except InvalidTransition as refused:
        current = await asyncio.to_thread(tickets.get, record.number)
        state = current.status if current is not None else record.status
        raise ApiError(
            409, "illegal_transition", str(refused), **{"from": state, "to": target, "allowed": list(legal_targets(state))}
        ) from refused
    except TicketNotFound as missing:
        raise ApiError(404, "not_found", f"no ticket {record.number}") from missing
    if target in NOTICE_RESPONSES:
        await _announce(request.app, moved.number, now)
    checks = await asyncio.to_thread(request.app[keys.SLA].checks, moved.number)
    return web.json_response(ticket_json(moved, checks))


@routes.get(f"{PREFIX}/callbacks")
async def list_callbacks(request: web.Request) -> web.Response:
    """The agents' work queue as a list: every callback (or those in ``state``), soonest first, a page at a time."""
    state = _choice(request.query, "state", CALLBACK_STATES)
    limit = _whole(request.query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _whole(request.query, "offset", 0, 0, MAX_OFFSET)
    items, total = await asyncio.to_thread(request.app[keys.CALLBACKS].list, state=state, limit=limit, offset=offset)
    return web.json_response({"items": items, "total": total, "limit": limit, "offset": offset})


@routes.post(f"{PREFIX}/callbacks/{{callback_id}}/done")
async def callback_done(request: web.Request) -> web.Response:
    """Record the call as made (409 for one cancelled or rescheduled; again: unchanged, 200)."""
    body = await _body(request, DONE_FIELDS, required=False)
    note, actor = _optional_text(body, "note", MAX_NOTE_CHARS), _actor(body)
    callback_id = request.match_info["callback_id"]
    directory = request.app[keys.CALLBACKS]
    try:
        done = await asyncio.to_thread(directory.mark_done, callback_id, actor=actor, note=note, now=request.app[keys.CLOCK]())
    except CallbackStateError as refused:
        raise ApiError(
            409, "callback_not_open", f"callback {callback_id} was {refused.state}; only a booked or missed call can be marked done",
            state=refused.state,
        ) from refused
    if done is None:
        raise ApiError(404, "not_found", "no such callback")
    logger.info("ticket API: callback marked done", extra={"ticket_number": done["ticket_number"]})
    return web.json_response(done)


@routes.get(f"{PREFIX}/tickets/{{number}}/survey")
async def ticket_survey(request: web.Request) -> web.Response:
    record = await _ticket(request)
    survey = await asyncio.to_thread(request.app[keys.SURVEYS].for_ticket, record.number)
    if survey is None:
        raise ApiError(404, "not_found", f"ticket {record.number} has no survey")
    return web.json_response(survey)


def ticket_json(record: TicketRecord, checks: list[SlaCheck]) -> dict[str, Any]:
    """A ticket as the API shows it: everything an agent needs, not the conversation's id or transcript.

    The sender id is left out because for the web chat it is the customer's session secret.
    """
    flagged = next((c.done_at for c in checks if c.check == "escalate" and c.outcome == "escalated"), None)
    shown = {
        name: _json_value(getattr(record, name))
        for name in (
            "number", "status", "channel", "category", "severity", "priority", "language", "customer_type",
            "customer_name", "contact", "contact_kind", "complaint_product", "problem_description", "incident_date",
            "incident_date_text", "incident_location", "order_ref", "people_involved", "impact", "desired_outcome",
            "desired_outcome_kind", "narrative", "category_confidence", "emotion_score", "chosen_option",
            "offered_options", "created_at", "updated_at", "resolved_at", "repeat_of",
        )
    }
    shown["allowed_transitions"] = list(legal_targets(record.status))
    shown["sla"] = {
        "classify_by": record.sla_classify_by.isoformat(),
        "analyse_by": record.sla_analyse_by.isoformat(),
        "resolve_by": record.sla_resolve_by.isoformat(),
        "close_by": record.sla_close_by.isoformat(),
        "checks": [
            {"check": c.check, "due_at": c.due_at.isoformat(), "done_at": _json_value(c.done_at), "outcome": c.outcome}
            for c in checks
        ],
        "flagged_for_supervisor_at": _json_value(flagged),
    }
    return shown


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


async def _ticket(request: web.Request) -> TicketRecord:
    number = request.match_info["number"]
    record = None
    if len(number) <= MAX_NUMBER_CHARS:
        record = await asyncio.to_thread(request.app[keys.TICKETS].get, number)
    if record is None:
        raise ApiError(404, "not_found", "no ticket with that number")
    return record


def _checks_of(app: web.Application, numbers: list[str]) -> dict[str, list[SlaCheck]]:
    watch = app[keys.SLA]
    return {number: watch.checks(number) for number in numbers}


async def _announce(app: web.Application, number: str, now: datetime) -> None:
    """Tell the customer now; if the queue or store hiccups, the worker's notice sweep tells them later."""
    try:
        await app[keys.NOTICES].deliver_pending(app[keys.OUTBOUND], now, ticket=number)
    except Exception as error:  # the move is made; the sweep announces it within a minute
        logger.warning("status notice left to the worker's sweep", extra={"ticket_number": number, "error": type(error).__name__})


async def _body(request: web.Request, allowed: frozenset[str], *, required: bool) -> dict[str, Any]:
    if not request.can_read_body:
        if required:
            raise ApiError(400, "bad_request", "a JSON object body is required")
        return {}
    try:
        body = await request.json()
    except ValueError as error:
        raise ApiError(400, "bad_request", "the body is not JSON") from error
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "bad_request", f"unknown field(s): {', '.join(unknown)[:200]}")
    return body


def _optional_text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise ApiError(400, "bad_request", f"'{name}' must be a text of at most {limit} characters, or null")
    return value


def _actor(body: dict[str, Any]) -> str:
    agent = body.get("agent")
    if agent is None:
        return "system"
    if not isinstance(agent, str) or not AGENT_NAME.fullmatch(agent):
        raise ApiError(400, "bad_request", "'agent' must be a name of 1 to 100 characters on one line, starting with a non-space")
    return f"agent:{agent}"


def _choice(query: Any, name: str, allowed: tuple[str, ...]) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise ApiError(400, "bad_request", f"'{name}' must be one of {', '.join(allowed)}")
    return value


def _word(query: Any, name: str, pattern: re.Pattern[str]) -> str | None:
    """A code-like filter value (a channel's name), refused unless it fits ``pattern``."""
    value = query.get(name)
    if value is not None and not pattern.fullmatch(value):
        raise ApiError(400, "bad_request", f"'{name}' must match {pattern.pattern}")
    return value


def _whole(query: Any, name: str, default: int, lowest: int, highest: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[+-]?\d{1,12}", raw) or not lowest <= int(raw) <= highest:
        raise ApiError(400, "bad_request", f"'{name}' must be a whole number from {lowest} to {highest}")
    return int(raw)


def _moment(query: Any, name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        moment = isoparse(raw)
    except (ValueError, OverflowError) as error:
        raise ApiError(400, "bad_request", f"'{name}' must be an RFC 3339 date-time with a timezone") from error
    if moment.utcoffset() is None:
        raise ApiError(400, "bad_request", f"'{name}' must carry a timezone (Z or ±hh:mm)")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError as error:
        raise ApiError(400, "bad_request", f"'{name}' is outside the years 1 to 9999 in UTC") from error
