"""Rasa's HTTP API for handing a conversation back to the assistant.

Three calls: ``POST /conversations/{id}/tracker/events`` with a ``resume`` event (Rasa's
ConversationResumed), then ``POST /conversations/{id}/execute`` of the action that greets
the customer back; Rasa answers with the messages that action produced, which the desk
delivers through the outbound path (the execute call itself sends nothing to the channel).
Last an ``action_listen`` is appended: ``execute`` runs only the one action, and a customer
message after an action that is not ``action_listen`` matches no rule, so the assistant would
answer the customer's next words with its fallback instead of reading them.
Any Rasa server will do: they share the tracker store, so each is tried in turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0


class AssistantUnavailable(Exception):
    """No Rasa server took the call; the hand-off has ended, and the agent may try again."""


class RasaAssistant:
    """:class:`bot.handoff.desk.Assistant` over Rasa's HTTP API."""

    def __init__(self, http: aiohttp.ClientSession, rasa_urls: tuple[str, ...], token: Callable[[], str]) -> None:
        """``token`` is read at each call: the stack writes it before Rasa starts, which may be after the web app."""
        self._http = http
        self._urls = rasa_urls
        self._token = token

    async def resume(self, sender_id: str, action: str) -> list[dict[str, Any]]:
        path = f"/conversations/{quote(sender_id, safe=':')}"
        await self._post(f"{path}/tracker/events", [{"event": "resume"}])
        answer = await self._post(f"{path}/execute", {"name": action})
        await self._post(f"{path}/tracker/events", [{"event": "action", "name": "action_listen"}])
        messages = answer.get("messages") if isinstance(answer, dict) else None
        return [m for m in messages or () if isinstance(m, dict) and m.get("text")]

    async def _post(self, path: str, body: Any) -> Any:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        for base in self._urls:
            try:
                async with self._http.post(base + path, params={"token": self._token()}, json=body,
                                           timeout=timeout) as response:
                    if response.status == 200:
                        return await response.json()
                    logger.warning("rasa refused a hand-back call", extra={"status": response.status})
            except (aiohttp.ClientError, TimeoutError) as error:
                logger.warning("rasa did not answer a hand-back call", extra={"error": type(error).__name__})
        raise AssistantUnavailable(path.rsplit("/", 1)[-1])
