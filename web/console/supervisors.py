"""The supervisors' view: every agent's load and presence, what waits unclaimed, the tickets breaching
or about to breach, and reassigning a conversation.

Supervisors only (:func:`web.console.guard.require_supervisor`: an agent gets 403). The page renders
from SQL and Redis; its script follows ``/console/ws`` and reloads the figures
(``GET /console/api/supervisors``) on every queue notice.

- **Load**: each account's open claimed conversations (``handoffs`` in ``claimed``), most
  urgent first.
- **Presence** (:mod:`web.console.presence`): online while the account has a live session (signed
  in, not idle past its lifetime) or a console page open (a socket).
- **At risk** (:meth:`bot.sla.watch.SlaWatch.at_risk`): open tickets whose current stage deadline
  has passed, or falls within ``supervisor_escalation_within_h`` (settings/sla.yml), with the
  conversation's hand-off if it has one.
- **Reassign**: ``POST /console/api/handoffs/{id}/assign`` gives a waiting or claimed conversation to
  any active account, through the single ``UPDATE`` of :meth:`bot.handoff.store.HandoffStore.assign`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.handoff.access import agent_ref
from bot.handoff.store import HandoffNotFound
from web import keys
from web.console.bodies import bad_request, json_error, json_object
from web.console.guard import PREFIX, require_supervisor, signed_in
from web.console.handoffs import agent_of, agent_time, desk_errors, handoff_id_of, handoff_summary, queue_entries
from web.console.sessions import CSRF, REQUEST_KEY

routes = web.RouteTableDef()


async def overview(request: web.Request) -> dict[str, Any]:
    """Everything the supervisors' view shows; see the module docstring."""
    app, now = request.config_dict, request.config_dict[keys.CLOCK]()
    store = app[keys.HANDOFF_DESK].store
    accounts = await asyncio.to_thread(app[keys.ACCOUNTS].all)
    present = await app[keys.PRESENCE].accounts()
    claimed = await asyncio.to_thread(store.claimed)
    waiting = await asyncio.to_thread(store.queue)
    watch = app[keys.SLA]
    at_risk = await asyncio.to_thread(watch.at_risk, now)
    live = await asyncio.to_thread(store.live_for_tickets, [item.ticket_number for item in at_risk])

    held: dict[str, list[dict[str, Any]]] = {}
    for entry in await queue_entries(request, claimed):
        held.setdefault(entry["agent"], []).append(entry)
    agents = []
    for account in accounts:
        ref = agent_ref(account.name)
        if not account.active and ref not in held:
            continue
        presence = present.get(account.id)
        agents.append({
            "name": account.name, "display_name": account.display_name, "role": account.role, "active": account.active,
            "online": bool(presence and presence.online), "sessions": presence.sessions if presence else 0,
            "sockets": presence.sockets if presence else 0,
            "open": len(held.get(ref, [])), "handoffs": held.pop(ref, []),
        })
    agents.sort(key=lambda a: (not a["online"], -a["open"], a["name"]))
    unassigned = await queue_entries(request, waiting)
    for entry in unassigned:
        entry["waited_min"] = int((now - datetime.fromisoformat(entry["created_at"])).total_seconds() // 60)
    return {
        "agents": agents,
        "waiting": unassigned,
        "at_risk": [{
            "ticket_number": item.ticket_number, "status": item.status, "priority": item.priority,
            "category": item.category, "stage": item.stage, "deadline": item.deadline.isoformat(),
            "deadline_label": agent_time(item.deadline), "breached": item.breached,
            "minutes_left": int((item.deadline - now).total_seconds() // 60),
            "handoff": _live(live.get(item.ticket_number)),
        } for item in at_risk],
        "escalation_window_h": watch.escalation_window.total_seconds() / 3600,
        "assignable": [{"name": a.name, "display_name": a.display_name} for a in accounts if a.active],
    }


def _live(record: Any) -> dict[str, Any] | None:
    return None if record is None else {"id": record.id, "state": record.state, "agent": record.agent,
                                        "queue": record.queue}


@routes.get(f"{PREFIX}/supervisors")
@require_supervisor
async def supervisors_page(request: web.Request) -> web.StreamResponse:
    """The supervisors' view as SQL and Redis have it now; the page's script keeps it live."""
    return request.config_dict[keys.PAGES].render(
        "supervisors.html", account=signed_in(request), csrf_token=request[REQUEST_KEY][CSRF],
        view=await overview(request),
    )


@routes.get(f"{PREFIX}/api/supervisors")
@require_supervisor
async def supervisors_data(request: web.Request) -> web.Response:
    return web.json_response(await overview(request))


@routes.post(f"{PREFIX}/api/handoffs/{{handoff_id}}/assign")
@require_supervisor
async def assign(request: web.Request) -> web.Response:
    """Give a waiting or claimed conversation to an active account: JSON ``to`` (its sign-in name).
    404 for a hand-off that does not exist, 409 ``taken`` when it has ended."""
    to_name = (await json_object(request)).get("to")
    if not isinstance(to_name, str) or not to_name.strip():
        raise bad_request("bad_request", "send a JSON object with 'to', the sign-in name of an active account")
    app = request.config_dict
    target = await asyncio.to_thread(app[keys.ACCOUNTS].by_name, to_name.strip())
    if target is None or not target.active:
        raise bad_request("unknown_agent", "no active account has that name")
    handoff_id = handoff_id_of(request)
    try:
        async with desk_errors(request, handoff_id):
            record = await app[keys.HANDOFF_DESK].assign(handoff_id, agent_of(signed_in(request)), agent_of(target),
                                                         app[keys.CLOCK]())
    except HandoffNotFound as error:
        raise json_error(web.HTTPNotFound, "not_found") from error
    return web.json_response({"handoff": handoff_summary(record)})
