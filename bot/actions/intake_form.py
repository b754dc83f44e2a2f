"""Clarify (5W1H): fill the complaint form from whatever the customer says.

Every message is read for every detail, so nothing already said is asked again.
Extraction and validation are one domain call (``bot.extraction``); this adapter
decides which values may overwrite earlier ones and which replies that needs.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from bot.actions.intents import is_complaint, is_interruption, is_uncertain_disruption
from bot.actions.responses import fresh_text
from bot.actions.runtime import runtime
from bot.extraction import extract_fields
from bot.options import match_option
from bot.transcript import latest_user_time
from bot.triage import mood_for, score_emotion

UNKNOWN = "unknown"
NONE = "none"

SHORT_ANSWER_SLOTS = frozenset({"customer_name", "incident_date", "order_ref", "contact", "complaint_product"})
"""Slots whose answer is a few words: a long narrative must not be taken as one."""

SHORT_ANSWER_MAX_WORDS = 8

NEGATIVE_VALUE = {"people_involved": NONE, "contact": NONE, "order_ref": UNKNOWN}
"""What a plain "no" means for the slots where no is a real answer."""

VALUE_FOLLOWS_YES = frozenset({"order_ref", "people_involved"})
"""Questions that are yes/no in form ("do you have an order number?"): a bare yes means
the value is still to come, and the question's own ask action asks for it."""

PROBLEM_RESPONSES = {
    "future_date": "utter_invalid_future_date",
    "unparsable_date": "utter_invalid_unparsable_date",
    "invalid_phone": "utter_invalid_phone",
    "invalid_email": "utter_invalid_email",
    "invalid_contact": "utter_invalid_contact",
}

UNANSWERED_PROBLEM = {"contact": "invalid_contact", "incident_date": "unparsable_date"}
"""What it means when a plain answer to these questions yields no value."""

UNANSWERED_VALUE = {"order_ref": UNKNOWN}
"""An answer to these questions without a value means the customer has none to give."""

OPENING_NARRATIVE_MIN_WORDS = 6

ANGRY_FOLLOWUP_SCORE = 0.7


def _intent(tracker: Tracker) -> tuple[str | None, float]:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


ANSWERS_ELSEWHERE_MAX_WORDS = 6
STRUCTURED_SLOTS = frozenset({"incident_date", "order_ref", "contact"})
"""Details recognised by their form (a date, a reference, an address), not by guesswork."""


def _answers_something_else(values: dict[str, str], requested: str | None, text: str) -> bool:
    """A short message that gave another detail ("it was on the 18th") is not also,
    word for word, the answer to the question asked ("where did it happen?")."""
    if not requested or requested not in values or len(text.split()) > ANSWERS_ELSEWHERE_MAX_WORDS:
        return False
    others = [slot for slot in values if slot != requested and slot in STRUCTURED_SLOTS]
    taken_whole = values[requested].strip().lower() in text.strip().lower() and len(values[requested]) >= len(text) // 2
    return bool(others) and taken_whole


def _extract_fields(
    tracker: Tracker, text: str, requested: str | None, *, accept_free_text: bool
) -> tuple[dict[str, str], dict[str, str]]:
    rt = runtime()
    extraction = extract_fields(
        text,
        now=latest_user_time(tracker.events, rt.settings.timezone),
        requested_slot=requested,
        accept_free_text=accept_free_text,
        config=rt.config.triage,
        phone_region=rt.settings.phone_region,
        languages=list(rt.config.triage.languages),
    )
    return dict(extraction.values), dict(extraction.problems)


class ValidateComplaintForm(FormValidationAction):
    """Extract, validate and acknowledge the details of a complaint."""

    def name(self) -> str:
        return "validate_complaint_form"

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """All slot changes this message brings; an empty list lets the form reject it."""
        text = ((tracker.latest_message or {}).get("text") or "").strip()
        requested = tracker.get_slot("requested_slot")
        if requested == "chosen_option":
            return self._choose_option(dispatcher, tracker, domain, text)
        if requested == "complaint_confirmed":
            return self._confirm(dispatcher, tracker, domain, text)
        return self._collect(dispatcher, tracker, domain, text, requested)

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Values were validated while being extracted; pass them on unchanged."""
        return [SlotSet(name, value) for name, value in tracker.slots_to_validate().items()]

    def _collect(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        text: str,
        requested: str | None,
    ) -> list[EventType]:
        intent, confidence = _intent(tracker)
        if requested and is_interruption(intent, confidence, requested):
            return self._answer_despite_intent(tracker, text, requested)
        if requested and is_uncertain_disruption(intent, confidence, requested):
            dispatcher.utter_message(response=f"utter_check_{intent}")
            return [SlotSet(requested, None)]
        if requested and intent in ("dont_know", "deny") and confidence >= 0.5 and requested != "problem_description":
            declined = self._decline(dispatcher, tracker, domain, text, requested, intent)
            if declined:
                return declined
        if requested in VALUE_FOLLOWS_YES and intent == "affirm" and confidence >= 0.5:
            values, _ = _extract_fields(tracker, text, requested, accept_free_text=False)
            if requested not in values:
                return [SlotSet(requested, None)]

        values, problems = self._extract(tracker, text, requested, intent, confidence)
        if _answers_something_else(values, requested, text):
            values.pop(requested)
        answered_plainly = requested and not is_interruption(intent, confidence, requested) and requested not in values
        if answered_plainly and requested not in problems and text:
            if requested in UNANSWERED_PROBLEM:
                problems[requested] = UNANSWERED_PROBLEM[requested]
            elif requested in UNANSWERED_VALUE:
                values[requested] = UNANSWERED_VALUE[requested]
        correcting = intent == "correct"
        events: list[EventType] = []
        changed_filled_slot = False
        for slot, value in values.items():
            current = tracker.get_slot(slot)
            if current is None or slot == requested or correcting or slot.endswith("_kind"):
                if current is not None and current != value and slot != requested and not slot.endswith("_kind"):
                    changed_filled_slot = True
                events.append(SlotSet(slot, value))
        if self._tells_the_story(tracker, text, requested, intent, values):
            events.append(SlotSet("problem_description", text))
        if requested and requested in problems and requested not in values:
            dispatcher.utter_message(text=fresh_text(domain, PROBLEM_RESPONSES[problems[requested]], tracker))
            events.append(SlotSet(requested, None))
        if changed_filled_slot:
            dispatcher.utter_message(text=fresh_text(domain, "utter_correction_noted", tracker))
        if events and requested and not is_complaint(intent):
            self._empathize_if_angry(dispatcher, tracker, domain, text)
        return events

    @staticmethod
    def _decline(
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        text: str,
        requested: str,
        intent: str,
    ) -> list[EventType]:
        """"No" or "I don't know" to the question; other details in the same message are kept.

        Returns nothing when the message gives the value after all ("no, it's 5521").
        """
        others, _ = _extract_fields(tracker, text, requested, accept_free_text=False)
        if requested in others:
            return []
        value = NEGATIVE_VALUE.get(requested, UNKNOWN) if intent == "deny" else (
            NONE if requested == "contact" else UNKNOWN
        )
        reply = "utter_contact_refused_ok" if requested == "contact" else "utter_dont_know_ok"
        dispatcher.utter_message(text=fresh_text(domain, reply, tracker))
        kept = [SlotSet(slot, found) for slot, found in others.items() if tracker.get_slot(slot) is None]
        return [SlotSet(requested, value)] + kept

    @staticmethod
    def _tells_the_story(
        tracker: Tracker, text: str, requested: str | None, intent: str | None, values: dict[str, str]
    ) -> bool:
        """The opening message, or a complaint told while another question was open, is the
        customer's account of what went wrong, so they are not asked for it again."""
        if tracker.get_slot("problem_description") is not None or "problem_description" in values:
            return False
        if len(text.split()) < OPENING_NARRATIVE_MIN_WORDS:
            return False
        return requested is None or (is_complaint(intent) and requested not in values)

    @staticmethod
    def _answer_despite_intent(tracker: Tracker, text: str, requested: str) -> list[EventType]:
        """A message that plainly answers the question ("this morning" to "when?") is an
        answer, whatever the classifier took it for; anything else is left to the rules."""
        values, _ = _extract_fields(tracker, text, requested, accept_free_text=False)
        if requested not in values:
            return []
        return [SlotSet(slot, value) for slot, value in values.items() if slot == requested or slot.endswith("_kind")]

    @staticmethod
    def _extract(
        tracker: Tracker, text: str, requested: str | None, intent: str | None, confidence: float
    ) -> tuple[dict[str, str], dict[str, str]]:
        if not text or text.startswith("/"):
            return {}, {}
        long_answer = requested in SHORT_ANSWER_SLOTS and len(text.split()) > SHORT_ANSWER_MAX_WORDS
        accept_free_text = bool(requested) and not is_interruption(intent, confidence, requested) and not long_answer
        if intent == "correct":
            values, problems = _extract_fields(tracker, text, requested, accept_free_text=False)
            if values or not accept_free_text:
                return values, problems
        return _extract_fields(tracker, text, requested, accept_free_text=accept_free_text)

    @staticmethod
    def _empathize_if_angry(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str
    ) -> None:
        config = runtime().config.triage
        score = score_emotion(text, config)
        if score >= ANGRY_FOLLOWUP_SCORE and mood_for(text, score, config) == "angry":
            dispatcher.utter_message(text=fresh_text(domain, "utter_empathy_followup_angry", tracker))

    @staticmethod
    def _choose_option(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str
    ) -> list[EventType]:
        offered: list[str] = list(tracker.get_slot("offered_options") or [])
        entities: list[dict[str, Any]] = (tracker.latest_message or {}).get("entities") or []
        from_payload = next((e.get("value") for e in entities if e.get("entity") == "chosen_option"), None)
        choice = from_payload if from_payload in offered else match_option(text, offered, runtime().config.options)
        if choice:
            return [SlotSet("chosen_option", choice)]
        intent, confidence = _intent(tracker)
        if intent == "ask_human" and "human_agent" in offered:
            return [SlotSet("chosen_option", "human_agent")]
        if is_interruption(intent, confidence, "chosen_option"):
            return []
        dispatcher.utter_message(response="utter_option_not_understood", option_count=len(offered))
        return [SlotSet("chosen_option", None)]

    def _confirm(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str
    ) -> list[EventType]:
        """Corrections first ("yes, but the date was the 5th"), then a yes; anything else
        keeps the read-back open."""
        intent, confidence = _intent(tracker)
        values, _ = self._extract(tracker, text, None, "correct", 1.0)
        corrections = [SlotSet(slot, value) for slot, value in values.items() if tracker.get_slot(slot) != value]
        if corrections:
            dispatcher.utter_message(text=fresh_text(domain, "utter_correction_noted", tracker))
            return corrections + [SlotSet("complaint_confirmed", None)]
        if intent == "affirm" and confidence >= 0.5:
            return [SlotSet("complaint_confirmed", True)]
        if is_interruption(intent, confidence, "complaint_confirmed"):
            return []
        return [SlotSet("complaint_confirmed", None)]
