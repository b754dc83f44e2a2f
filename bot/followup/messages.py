"""The survey and reminder as the customer sees them, and the payloads their buttons carry.

Every sentence lives in domain.yml (responses ``utter_survey_*``); the worker reads that
file itself, with no Rasa import. A channel that shows buttons gets the rating as five
buttons; any other gets the numbers spelled out in the text. A button's payload names
the ticket and the question, so the answer finds its follow-up whatever else the
customer was doing: ``/inform{"survey_answer":"CX-7K3F9Q:rating:4"}``. The message also
sets ``survey_step`` to "asked" in the conversation, so an answer typed instead of tapped
is routed to the survey too (:mod:`bot.actions.survey`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.outbound.messages import Button, OutboundMessage
from bot.settings import PROJECT_ROOT

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
BUTTON_CHANNELS = frozenset({"webchat", "telegram"})
"""Channels whose transports show buttons (web chat items, Telegram inline keyboards)."""

SURVEY_ENTITY = "survey_answer"
"""The entity a survey button's payload sets; data/rules.yml routes it to action_survey_answer."""
PAYLOAD_INTENT = "inform"
QUESTIONS = ("rating", "solved")
_VALUE = re.compile(r"(?P<ticket>CX-[0-9A-Z]{6}):(?P<question>[a-z]+):(?P<answer>.{0,40})\Z", re.DOTALL)

STEP_RESPONSES = {"survey": "utter_survey_rating", "reminder": "utter_survey_reminder"}
STEP_SLOT = "survey_step"
ASKED = "asked"
"""The value of the ``survey_step`` slot while a question waits for its answer: the survey and
its reminder set it with their transcript entry, so a typed answer is routed to the survey."""


@dataclass(frozen=True)
class SurveyValue:
    """What a survey button carries: which ticket, which question, which answer (unchecked)."""

    ticket_number: str
    question: str
    answer: str


_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
"""Built once: ``json.dumps`` with ``separators`` builds an encoder per call, a fifth of a survey's cost in a batch."""


def payload(ticket_number: str, question: str, answer: str) -> str:
    """The Rasa payload of one survey button."""
    value = f"{ticket_number}:{question}:{answer}"
    return f"/{PAYLOAD_INTENT}" + _COMPACT_JSON.encode({SURVEY_ENTITY: value})


def parse_value(value: str) -> SurveyValue | None:
    """The ticket, question and answer a ``survey_answer`` entity names; None when it is not one."""
    match = _VALUE.match(value.strip())
    if match is None or match["question"] not in QUESTIONS:
        return None
    return SurveyValue(match["ticket"], match["question"], match["answer"].strip())


@lru_cache(maxsize=4)
def domain_responses(path: Path = DOMAIN_FILE) -> Mapping[str, list[dict[str, Any]]]:
    """The responses of domain.yml, read once per process."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["responses"]


def response(responses: Mapping[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    """The first variation of response ``name``, or KeyError naming it."""
    variations = responses.get(name) or []
    if not variations:
        raise KeyError(f"response {name!r} is missing from domain.yml")
    return variations[0]


def question_message(
    responses: Mapping[str, list[dict[str, Any]]], name: str, *, ticket_number: str, question: str, buttons: bool
) -> tuple[str, tuple[Button, ...]]:
    """The text of response ``name`` and, when the channel shows them, its buttons wrapped as survey payloads."""
    if not buttons and f"{name}_numbers" in responses:
        name = f"{name}_numbers"
    variation = response(responses, name)
    text = variation["text"].replace("{ticket_number}", ticket_number)
    choices = tuple(
        Button(choice["title"], payload(ticket_number, question, choice["payload"]))
        for choice in variation.get("buttons") or []
    ) if buttons else ()
    return text, choices


def step_message(step: str, ticket_number: str, channel: str, responses: Mapping[str, list[dict[str, Any]]] | None = None) -> OutboundMessage:
    """The survey (or its reminder) for ``ticket_number`` as the channel can show it; it opens
    the rating question in the conversation (:data:`ASKED`)."""
    text, buttons = question_message(
        responses or domain_responses(), STEP_RESPONSES[step],
        ticket_number=ticket_number, question="rating", buttons=channel in BUTTON_CHANNELS,
    )
    return OutboundMessage(text, buttons, slots=((STEP_SLOT, ASKED),))
