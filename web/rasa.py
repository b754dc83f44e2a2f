"""Forwarding a customer's message to Rasa's REST channel.

Every message of one conversation goes to the same Rasa process (a stable hash of the
session id picks it), so its messages reach Rasa in the order they were sent. When that
process cannot be reached (it is restarting), the next one takes the message: the
connection was refused, so nothing reached the first, and the processes share the tracker
and lock stores. A customer talking to a person during a restart is not cut off. The
conversation's sender is ``web:<session_id>``: the server chose it, the client never
names it.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import aiohttp

from bot.time_zones import METADATA_KEY

logger = logging.getLogger(__name__)


class RasaSlowDown(Exception):
    """The REST channel's own flood limit refused the message (HTTP 429)."""


class RasaUnavailable(Exception):
    """Rasa did not answer usefully; the customer is told so, never left in silence."""


def pick_url(urls: tuple[str, ...], session_id: str) -> str:
    """The Rasa server of this conversation: the same one for every message of the session."""
    digest = hashlib.sha256(session_id.encode()).digest()
    return urls[int.from_bytes(digest[:8], "big") % len(urls)]


async def ask_rasa(
    http: aiohttp.ClientSession, urls: tuple[str, ...], token: str, session_id: str, text: str, timeout_s: float,
    time_zone: str | None = None,
) -> list[dict[str, Any]]:
    """Rasa's replies (``[{"text", "buttons"}...]``) to the customer's text.

    ``time_zone`` (a name already checked, :func:`bot.time_zones.known_time_zone`) goes
    into the message metadata, where the actions read it (call-back times, the survey's
    quiet hours); without one the configured default applies.
    """
    metadata = {"channel": "webchat"} | ({METADATA_KEY: time_zone} if time_zone else {})
    body = {"sender": f"web:{session_id}", "message": text, "metadata": metadata}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    first = pick_url(urls, session_id)
    for base in (first, *(url for url in urls if url != first)):
        try:
            replies = await _post(http, f"{base}/webhooks/rest/webhook", body, headers, timeout_s)
            break
        except aiohttp.ClientConnectorError as error:  # never reached that process: the next may take it
            logger.warning("a Rasa server refused the connection; trying the next")
            refused = error
    else:
        raise RasaUnavailable(type(refused).__name__) from refused
    if not isinstance(replies, list):
        raise RasaUnavailable("Rasa's answer is not a list")
    return [reply for reply in replies if isinstance(reply, dict) and reply.get("text")]


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str],
                timeout_s: float) -> Any:
    """One Rasa server's answer to the message; a refused connection is the caller's to handle."""
    try:
        async with http.post(url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status == 429:
                raise RasaSlowDown()
            if response.status != 200:
                raise RasaUnavailable(f"Rasa answered {response.status}")
            return await response.json()
    except aiohttp.ClientConnectorError:
        raise
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise RasaUnavailable(type(error).__name__) from error
