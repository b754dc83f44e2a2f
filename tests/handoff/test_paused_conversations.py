"""The Rasa servers' hooks for paused conversations, on Rasa's own classes."""

from __future__ import annotations

from rasa.core.actions.action import ActionSessionStart
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet

from connectors import paused_conversations
from connectors.paused_conversations import carry_pause

STARTED = [SessionStarted(), SlotSet("ticket_number", "CX-7K3F9Q"), ActionExecuted("action_listen")]


def test_a_new_session_of_a_paused_conversation_stays_paused() -> None:
    assert carry_pause(True, list(STARTED)) == [STARTED[0], STARTED[1], ConversationPaused(), STARTED[2]]


def test_a_new_session_of_a_conversation_with_the_assistant_is_left_alone() -> None:
    assert carry_pause(False, list(STARTED)) == STARTED


def test_installing_twice_wraps_once() -> None:
    paused_conversations.install()
    log_message, session_start = MessageProcessor.log_message, ActionSessionStart.run
    paused_conversations.install()
    assert (MessageProcessor.log_message, ActionSessionStart.run) == (log_message, session_start)
    assert log_message is paused_conversations._log_message and session_start is paused_conversations._start_session
