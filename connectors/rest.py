"""The REST channel, made safe for customers: bad requests get a clear answer and a
message is never met with silence.

Rasa's own REST channel answers a malformed body with a server error, and when the
action server is down it returns an empty list: the customer hears nothing. This
channel keeps Rasa's URL and JSON shape (``POST /webhooks/rest/webhook`` with
``{"sender", "message"}``) and adds: request validation, removal of control
characters, and the ``utter_technical_difficulty`` response whenever the assistant
produced no reply for a conversation that is not paused for a human agent.

It is for trusted back ends (our web app, an integration), not for customers' own
clients: the sender id it is given is believed, so every request must carry
``Authorization: Bearer $REST_CHANNEL_TOKEN``. The limits of ``settings/channels.yml``
apply: an oversized body is refused before it is parsed (413), and a flood from one
sender is answered ``utter_slow_down`` (HTTP 429) without slowing any other sender.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from redis.asyncio import Redis
from sanic import Blueprint, response

from bot import log_privacy
from bot.channel_policy import channel_policy
from bot.rate_limit import ConversationRateLimiter
from bot.settings import redis_location, service_token
from connectors import paused_conversations, rasa_speedups
from connectors.admission import admitted
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SILENCE_RESPONSE = "utter_technical_difficulty"
MAX_SENDER_LENGTH = 128


def clean_text(text: str) -> str:
    """Drop control characters (they break logs and stores); keep every visible character."""
    return CONTROL_CHARACTERS.sub("", text)


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": "bad_request", "reason": reason}, status=400)


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries ``Bearer <token>`` (compared in constant time)."""
    scheme, _, presented = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


class ReliableRestInput(InputChannel):
    """REST input channel that validates requests and never answers with silence."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The webhook routes; built once at start-up, when process-wide set-up happens too:
        the log privacy filter, the Rasa hot-path fixes, the paused conversations' hooks and the gate
        on messages in progress."""
        log_privacy.install()
        rasa_speedups.install()
        paused_conversations.install()
        on_new_message = admitted(on_new_message)
        token = service_token("REST_CHANNEL_TOKEN")
        policy = channel_policy()
        redis = redis_location()
        limiter = ConversationRateLimiter(Redis(host=redis.host, port=redis.port, db=redis.lock_db), policy.rate_limit)
        webhook = Blueprint(f"reliable_rest_{id(self)}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not bearer_matches(request.headers.get("Authorization"), token):
                logger.warning("REST request without a valid bearer token refused", extra={"channel": self.name()})
                return response.json({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"})
            if len(request.body or b"") > policy.max_body_bytes:
                return response.json(
                    {"error": "payload_too_large", "max_bytes": policy.max_body_bytes}, status=413
                )
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict):
                return _bad_request("the body must be a JSON object with 'sender' and 'message'")
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_LENGTH:
                return _bad_request("'sender' must be a non-empty string of at most 128 characters")
            if not isinstance(text, str):
                return _bad_request("'message' must be a string")
            if not await limiter.allow(f"rest:{sender}"):
                return response.json(_said(request, sender, "utter_slow_down"), status=429)
            collector = CollectingOutputChannel()
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            try:
                await on_new_message(
                    UserMessage(clean_text(text), collector, sender, input_channel=self.name(), metadata=metadata)
                )
            except Exception:
                logger.exception("message handling failed", extra={"channel": self.name()})
            if not collector.messages and not await _is_paused(request, sender):
                collector.messages.extend(_said(request, sender, SILENCE_RESPONSE))
            return response.json(collector.messages)

        return webhook


async def _is_paused(request: Request, sender: str) -> bool:
    """A paused conversation is with a human agent: silence from the bot is right."""
    try:
        tracker = await request.app.ctx.agent.tracker_store.retrieve(sender)
    except Exception:
        logger.exception("could not read the tracker to check for a pause")
        return False
    return bool(tracker and tracker.is_paused())


def _said(request: Request, sender: str, response_name: str) -> list[dict[str, str]]:
    """The channel's own reply (a response of the domain, never a sentence written here)."""
    text = request.app.ctx.agent.domain.responses[response_name][0]["text"]
    return [{"recipient_id": sender, "text": text}]
