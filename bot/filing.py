"""Turn a finished intake into a ticket draft: triage, SLA deadlines, narrative, transcript.

Pure: given the collected details, the conversation's events and the time, it decides
everything a ticket records, so the same rules serve the chat, the agent console and
tests without a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from bot.domain_config import DomainConfig
from bot.tickets import TicketDraft
from bot.time_zones import phone_time_zone
from bot.transcript import intake_messages, transcript
from bot.triage import assess, categorize, conversation_emotion, score_emotion, sla_deadlines

PLACEHOLDERS = ("unknown", "none")
UNPARSED_MARK = "[unparsed] "
"""Marks a detail kept in the customer's own words because the assistant could not read
it (after asking twice), so the agent knows to check it."""


def _text(slots: Mapping[str, Any], name: str) -> str | None:
    value = slots.get(name)
    if value in (None, ""):
        return None
    return UNPARSED_MARK + str(value) if name in (slots.get("unparsed_slots") or ()) else str(value)


def _incident_date(value: str | None) -> date | None:
    if not value or value in PLACEHOLDERS or value.startswith(UNPARSED_MARK):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def complaint_category(slots: Mapping[str, Any], narrative: str, config: DomainConfig) -> tuple[str, float]:
    """The category a ticket is filed under, and how sure it is: the one found at the
    opening, or, when that was no more than "other", the one the whole intake's words show.
    The options offered are chosen by the same category."""
    category = _text(slots, "complaint_category")
    confidence = float(slots.get("category_confidence") or 0.0)
    if category in (None, "other"):
        guess = categorize(None, 0.0, narrative, config.triage)
        return guess.category, guess.confidence
    return category, confidence


def build_draft(
    slots: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    *,
    channel: str,
    sender_id: str,
    customer_type: str,
    now: datetime,
    config: DomainConfig,
    status: str = "new",
    customer_timezone: str | None = None,
) -> TicketDraft:
    """Everything a new ticket records, from the intake's slots and event log, and the
    customer's time zone: the one their channel reported, else the one their phone number
    lies in (:func:`bot.time_zones.phone_time_zone`), else None (the defaults apply)."""
    events = list(events)
    words = intake_messages(events)
    narrative = "\n".join(words)
    category, confidence = complaint_category(slots, narrative, config)
    scores = [score_emotion(text, config.triage) for text in words]
    emotion = conversation_emotion(scores) if scores else 0.0
    assessment = assess(category, emotion, narrative, config.triage)
    deadlines = sla_deadlines(assessment.priority, now, config.sla)
    incident_text = _text(slots, "incident_date")
    return TicketDraft(
        status=status,
        channel=channel,
        sender_id=sender_id,
        language=_text(slots, "language") or "en",
        customer_type=customer_type,
        customer_name=_text(slots, "customer_name"),
        contact=_text(slots, "contact"),
        contact_kind=_text(slots, "contact_kind"),
        complaint_product=_text(slots, "complaint_product"),
        problem_description=_text(slots, "problem_description"),
        incident_date=_incident_date(incident_text),
        incident_date_text=incident_text,
        incident_location=_text(slots, "incident_location"),
        order_ref=_text(slots, "order_ref"),
        people_involved=_text(slots, "people_involved"),
        impact=_text(slots, "impact"),
        desired_outcome=_text(slots, "desired_outcome"),
        desired_outcome_kind=_text(slots, "desired_outcome_kind"),
        narrative=narrative,
        category=category,
        category_confidence=confidence,
        severity=assessment.severity,
        priority=assessment.priority,
        emotion_score=emotion,
        chosen_option=_text(slots, "chosen_option"),
        offered_options=list(slots.get("offered_options") or []),
        sla_classify_by=deadlines.classify_by,
        sla_analyse_by=deadlines.analyse_by,
        sla_resolve_by=deadlines.resolve_by,
        sla_close_by=deadlines.close_by,
        transcript=_with_emotion(transcript(events), config),
        customer_timezone=customer_timezone or _phone_zone(slots),
    )


def _phone_zone(slots: Mapping[str, Any]) -> str | None:
    """The time zone of the phone number given as the contact, if it lies in exactly one."""
    return phone_time_zone(_text(slots, "contact")) if _text(slots, "contact_kind") == "phone" else None


def _with_emotion(lines: list[dict[str, Any]], config: DomainConfig) -> list[dict[str, Any]]:
    """Score every customer line, so reports can follow the mood through a conversation."""
    return [
        {**line, "emotion": score_emotion(line["text"], config.triage)} if line["sender"] == "customer" else line
        for line in lines
    ]
