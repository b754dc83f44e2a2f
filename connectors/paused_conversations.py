"""Conversations paused for a person, on the Rasa servers' side.

``action_handoff`` pauses the conversation (``ConversationPaused``) so the assistant stays silent
while a person is on the way or in the chat. Rasa 3.6 leaves two gaps, closed here:

- **The customer's words.** In a paused conversation Rasa stores each message in the tracker
  and runs nothing, so no action ever sees it. Every message logged into a paused conversation
  is handed to :meth:`bot.handoff.service.Handoffs.keep_customer_message`: added to the ticket's
  transcript in SQL and published for the console. A message Rasa could not be told about
  (SQL down) is still in the tracker, and the failure is logged.
- **The pause itself.** A conversation idle longer than ``session_expiration_time`` starts a new
  session, and Rasa's session start resets the tracker, pause included: a customer who waited an
  hour for a person would be answered by the assistant again. The session start here carries a
  pause over into the new session.

Installed by the channels at start-up (``connectors.rest``, ``connectors.telegram``), like the
speed-ups, so it is in force in every Rasa server process this project runs.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timezone
from typing import Any

from rasa.core.actions.action import ActionSessionStart
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.constants import ACTION_LISTEN_NAME, USER_INTENT_RESTART
from rasa.shared.core.events import ActionExecuted, ConversationPaused, Event
from rasa.shared.core.trackers import DialogueStateTracker

from bot.db import make_engine, make_sessionmaker
from bot.domain_config import load_domain_config
from bot.handoff.service import Handoffs, build_handoffs
from bot.settings import load_settings
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)

_ORIGINALS: dict[str, Any] = {}


@functools.lru_cache(maxsize=1)
def handoffs() -> Handoffs:
    """This Rasa process's hand-off service, built on the first paused message."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    tickets = TicketStore(make_sessionmaker(engine), attempts=settings.db_retry_attempts, delay_s=settings.db_retry_delay_s)
    return build_handoffs(engine, tickets, load_domain_config(settings.config_dir).triage)


async def keep_paused_message(tracker: DialogueStateTracker) -> None:
    """Pass the latest message of a paused conversation on; never raise into the channel."""
    message = tracker.latest_message
    if message is None or not message.text or message.intent.get("name") == USER_INTENT_RESTART:
        return
    at = datetime.fromtimestamp(message.timestamp, tz=timezone.utc)
    try:
        await handoffs().keep_customer_message(tracker.sender_id, message.text, at)
    except Exception:
        logger.exception("a message written while waiting for a person was not added to the ticket")


async def _log_message(self: MessageProcessor, message: UserMessage, should_save_tracker: bool = True) -> DialogueStateTracker:
    tracker = await _ORIGINALS["log_message"](self, message, should_save_tracker)
    if tracker.is_paused():
        await keep_paused_message(tracker)
    return tracker


def carry_pause(paused: bool, events: list[Event]) -> list[Event]:
    """The session start's events with the pause kept, before its closing ``action_listen``."""
    if not paused:
        return events
    closing = events[-1:] if events and events[-1] == ActionExecuted(ACTION_LISTEN_NAME) else []
    return events[: len(events) - len(closing)] + [ConversationPaused()] + closing


async def _start_session(self: ActionSessionStart, output_channel: Any, nlg: Any, tracker: DialogueStateTracker, domain: Any) -> list[Event]:
    events = await _ORIGINALS["session_start"](self, output_channel, nlg, tracker, domain)
    return carry_pause(tracker.is_paused(), events)


def install() -> None:
    """Keep paused conversations' messages and pauses in this process (once, however often called)."""
    if _ORIGINALS:
        return
    _ORIGINALS["log_message"] = MessageProcessor.log_message
    _ORIGINALS["session_start"] = ActionSessionStart.run
    MessageProcessor.log_message = _log_message
    ActionSessionStart.run = _start_session
