"""Clarify (5W1H): fill the complaint form from whatever the customer says.

Every message is read for every detail, so nothing already said is asked again. A
question may ask for several details ("your name and a number to reach you on?"), and
no question is asked more than ``max_asks`` times: after the last answer that cannot be
used, the customer's words are kept as the value (flagged for the agent), and the
assistant says so. Extraction and validation are one domain call (``bot.extraction``);
this adapter decides which values may overwrite earlier ones and which replies that needs.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from bot.actions.handoff_checks import hand_off, message_triggers
from bot.actions.intents import (
    ANSWERABLE_INTERRUPTIONS,
    UNUSABLE_ANSWER_INTENTS,
    is_complaint,
    is_interruption,
    is_uncertain_disruption,
)
from bot.actions.resolution import option_label
from bot.actions.responses import fresh_text
from bot.actions.runtime import runtime
from bot.domain_config import DialoguePolicy
from bot.dialogue import FILE_AS_IS, KEEP_WORDS, after_last_miss, is_last_ask, not_worth_asking
from bot.extraction import find_phrases, extract_fields, lexicon_key
from bot.options import match_option, named_option, turns_down, wish_after_refusal
from bot.transcript import latest_user_time
from bot.triage import mood_for, score_emotion

UNKNOWN = "unknown"
NONE = "none"
PLACEHOLDERS = (UNKNOWN, NONE)
UNPARSED = "unparsed"
"""``contact_kind`` of a contact kept in the customer's words."""

MAX_ANSWER_WORDS = {"customer_name": 8, "incident_date": 12, "order_ref": 12, "contact": 12, "complaint_product": 16}
"""Slots whose answer is short: a long narrative must not be taken as one."""

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
WISH_MIN_WORDS = 3
"""An answer to the options this long that names none of them is a wish of its own."""

ANGRY_FOLLOWUP_SCORE = 0.7

ANSWERS_ELSEWHERE_MAX_WORDS = 6
STRUCTURED_SLOTS = frozenset({"incident_date", "order_ref", "contact"})
"""Details recognised by their form (a date, a reference, an address), not by guesswork."""


def _intent(tracker: Tracker) -> tuple[str | None, float]:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def _asked(tracker: Tracker, requested: str | None) -> tuple[str, ...]:
    """The details the last question asked for (its ask action recorded them)."""
    if not requested:
        return ()
    asked = tuple(tracker.get_slot("asked_slots") or ())
    return asked if requested in asked else (requested,)


def _counts(tracker: Tracker) -> dict[str, int]:
    return dict(tracker.get_slot("ask_counts") or {})


def _answers_something_else(values: dict[str, str], requested: str | None, text: str) -> bool:
    """A short message that gave another detail ("it was on the 18th") is not also,
    word for word, the answer to the question asked ("where did it happen?")."""
    if not requested or requested not in values or len(text.split()) > ANSWERS_ELSEWHERE_MAX_WORDS:
        return False
    others = [slot for slot in values if slot != requested and slot in STRUCTURED_SLOTS]
    taken_whole = values[requested].strip().lower() in text.strip().lower() and len(values[requested]) >= len(text) // 2
    return bool(others) and taken_whole


def _extract_fields(
    tracker: Tracker, text: str, asked: tuple[str, ...], *, accept_free_text: bool
) -> tuple[dict[str, str], dict[str, str]]:
    rt = runtime()
    extraction = extract_fields(
        text,
        now=latest_user_time(tracker.events, rt.settings.timezone),
        requested_slot=asked[0] if asked else None,
        asked_with=asked[1:],
        accept_free_text=accept_free_text,
        config=rt.config.triage,
        phone_region=rt.settings.phone_region,
        languages=list(rt.config.triage.languages),
        dialogue=rt.config.dialogue,
    )
    values = dict(extraction.values)
    if values.get("contact") in PLACEHOLDERS:
        values["contact_kind"] = values["contact"]
    return values, dict(extraction.problems)


def _is_not_an_answer(text: str) -> bool:
    """Greetings, thanks and "what?" never answer a question, whatever they look like."""
    phrases = runtime().config.dialogue.not_answers
    return lexicon_key(text.strip(" .,!?")) in {lexicon_key(phrase) for phrase in phrases}


class ValidateComplaintForm(FormValidationAction):
    """Extract, validate and acknowledge the details of a complaint."""

    def name(self) -> str:
        return "validate_complaint_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        """The details this message gives; when it also meets a hand-off rule (a threat, lasting
        anger, misunderstood again), the details are kept and a person is brought in instead of
        the next question, which is then never asked."""
        said = CollectingDispatcher()
        events = await super().run(said, tracker, domain)
        intent, _ = _intent(tracker)
        details = set(domain.get("forms", {}).get(self.form_name(), {}).get("required_slots") or [])
        gave = any(event.get("event") == "slot" and event.get("name") in details and event.get("value") is not None for event in events)
        triggers = message_triggers(tracker, misunderstood=intent in UNUSABLE_ANSWER_INTENTS and not gave)
        if triggers:
            return events + [SlotSet("requested_slot", None)] + hand_off(triggers)
        dispatcher.messages.extend(said.messages)
        return events

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """The form's slots without those not worth a question of their own any more."""
        skipped = not_worth_asking(tracker.slots, runtime().config.dialogue)
        return [slot for slot in domain_slots if slot not in skipped]

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
        asked = _asked(tracker, requested)
        if requested and is_interruption(intent, confidence, requested):
            return self._answer_despite_intent(tracker, text, asked, intent)
        if requested and is_uncertain_disruption(intent, confidence, requested) and not self._answers(tracker, text, asked):
            if not is_last_ask(_counts(tracker), requested, runtime().config.dialogue):
                dispatcher.utter_message(response=f"utter_check_{intent}")
                return [SlotSet(requested, None)]
        single = len(asked) == 1
        if single and intent in ("dont_know", "deny") and confidence >= 0.5 and requested != "problem_description":
            declined = self._decline(dispatcher, tracker, domain, text, requested, intent)
            if declined:
                return declined
        if single and requested in VALUE_FOLLOWS_YES and intent == "affirm" and confidence >= 0.5:
            values, _ = _extract_fields(tracker, text, asked, accept_free_text=False)
            if requested not in values:
                return [SlotSet(requested, None)]

        values, problems = self._extract(tracker, text, asked, intent, confidence)
        if single and _answers_something_else(values, requested, text):
            values.pop(requested)
        if single and requested not in values and requested not in problems and text:
            if requested in UNANSWERED_PROBLEM:
                problems[requested] = UNANSWERED_PROBLEM[requested]
            elif requested in UNANSWERED_VALUE:
                values[requested] = UNANSWERED_VALUE[requested]
        events = self._slot_changes(dispatcher, tracker, domain, values, asked, intent)
        events += self._not_asked_after_all(tracker, values, asked)
        if self._tells_the_story(tracker, text, requested, intent, values):
            events.append(SlotSet("problem_description", text))
        if requested:
            events += self._unanswered(dispatcher, tracker, domain, text, asked, values, problems, intent)
        if events and requested and not is_complaint(intent):
            self._empathize_if_angry(dispatcher, tracker, domain, text)
        return events

    @staticmethod
    def _slot_changes(
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        values: dict[str, str],
        asked: tuple[str, ...],
        intent: str | None,
    ) -> list[EventType]:
        """A value fills an empty slot or one just asked for; it replaces an earlier one
        only in a correction."""
        correcting = intent == "correct"
        events: list[EventType] = []
        changed_filled_slot = False
        for slot, value in values.items():
            current = tracker.get_slot(slot)
            if current is None or slot in asked or correcting or slot.endswith("_kind"):
                if current is not None and current != value and slot not in asked and not slot.endswith("_kind"):
                    changed_filled_slot = True
                events.append(SlotSet(slot, value))
        if changed_filled_slot:
            dispatcher.utter_message(text=fresh_text(domain, "utter_correction_noted", tracker))
        return events

    @staticmethod
    def _not_asked_after_all(tracker: Tracker, values: dict[str, str], asked: tuple[str, ...]) -> list[EventType]:
        """Details that will not be asked any more (who else was involved, once the impact
        is known) are recorded as not known, so the ticket says they were not given."""
        policy = runtime().config.dialogue
        known = {**tracker.slots, **values}
        return [
            SlotSet(slot, UNKNOWN) for slot in not_worth_asking(known, policy)
            if slot not in values and slot not in asked
        ]

    def _unanswered(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
        text: str,
        asked: tuple[str, ...],
        values: dict[str, str],
        problems: dict[str, str],
        intent: str | None,
    ) -> list[EventType]:
        """The asked details this answer left empty: say why and ask again, or, after the
        last ask, keep the customer's words (or leave the detail for the team) and say so.

        A complaint told instead of an answer is the story, not an attempt at the answer, so
        its words are not kept as the detail; an answer that gave other details leaves the
        rest to the team, never its words. Either way the last ask is the last: whatever the
        classifier makes of a short reply ("???" may read as a complaint), it is not asked again."""
        policy = runtime().config.dialogue
        counts = _counts(tracker)
        empty = [slot for slot in asked if slot not in values and tracker.get_slot(slot) is None]
        finished = [slot for slot in empty if is_last_ask(counts, slot, policy)]
        events: list[EventType] = []
        story = is_complaint(intent) and len(text.split()) >= OPENING_NARRATIVE_MIN_WORDS
        if finished:
            kept = self._keep_words("" if values or story else text, asked[0], finished, policy)
            events += [SlotSet(slot, value) for slot, value in kept.items()]
            unparsed = [slot for slot, value in kept.items() if value not in PLACEHOLDERS and slot != "contact_kind"]
            if unparsed:
                events.append(SlotSet("unparsed_slots", list(tracker.get_slot("unparsed_slots") or []) + unparsed))
            reply = "utter_kept_your_words" if unparsed else "utter_left_for_the_team"
            dispatcher.utter_message(text=fresh_text(domain, reply, tracker))
            return events
        problem = next((problems[slot] for slot in asked if slot in problems and slot not in values), None)
        if problem:
            dispatcher.utter_message(text=fresh_text(domain, PROBLEM_RESPONSES[problem], tracker))
        elif empty and not values and text:
            dispatcher.utter_message(text=fresh_text(domain, "utter_answer_not_used", tracker))
        return [SlotSet(slot, None) for slot in empty]

    @staticmethod
    def _keep_words(text: str, requested: str, finished: list[str], policy: DialoguePolicy) -> dict[str, str]:
        """The values for details asked for the last time: the question's first detail
        takes the customer's words, the others are left for the team."""
        kept: dict[str, str] = {}
        words = " ".join(text.split())
        for slot in finished:
            keep = slot == requested and words and after_last_miss(slot, policy) == KEEP_WORDS
            kept[slot] = words if keep else UNKNOWN
            if slot == "contact":
                kept["contact_kind"] = UNPARSED if keep else UNKNOWN
        return kept

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
        others, _ = _extract_fields(tracker, text, (requested,), accept_free_text=False)
        if requested in others:
            return []
        value = NEGATIVE_VALUE.get(requested, UNKNOWN) if intent == "deny" else (
            NONE if requested == "contact" else UNKNOWN
        )
        reply = "utter_contact_refused_ok" if requested == "contact" else "utter_dont_know_ok"
        dispatcher.utter_message(text=fresh_text(domain, reply, tracker))
        kept = [SlotSet(slot, found) for slot, found in others.items() if tracker.get_slot(slot) is None]
        if requested == "contact":
            kept.append(SlotSet("contact_kind", value))
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
    def _answers(tracker: Tracker, text: str, asked: tuple[str, ...]) -> bool:
        """Whether the message gives, in a form no one could mistake, a detail just asked
        for (a date, a reference, an address): then it is an answer."""
        values, _ = _extract_fields(tracker, text, asked, accept_free_text=False)
        return any(slot in values for slot in asked)

    def _answer_despite_intent(
        self, tracker: Tracker, text: str, asked: tuple[str, ...], intent: str | None
    ) -> list[EventType]:
        """A message that plainly answers the question ("this morning" to "when?", "Harold
        Jennings" to "your name?", "Grace Okafor, grace@example.com") is an answer,
        whatever the classifier took it for; a greeting, a thank-you or a real question is
        left to the rules."""
        short = len(text.split()) <= MAX_ANSWER_WORDS.get(asked[0], OPENING_NARRATIVE_MIN_WORDS)
        free_text = not _is_not_an_answer(text) and (
            (intent in ANSWERABLE_INTERRUPTIONS and short) or self._answers(tracker, text, asked)
        )
        values, _ = _extract_fields(tracker, text, asked, accept_free_text=free_text)
        if not any(slot in values for slot in asked):
            return []
        return [SlotSet(slot, value) for slot, value in values.items() if slot in asked or slot.endswith("_kind")]

    @staticmethod
    def _extract(
        tracker: Tracker, text: str, asked: tuple[str, ...], intent: str | None, confidence: float
    ) -> tuple[dict[str, str], dict[str, str]]:
        if not text or text.startswith("/"):
            return {}, {}
        requested = asked[0] if asked else None
        long_answer = len(asked) == 1 and len(text.split()) > MAX_ANSWER_WORDS.get(requested or "", len(text.split()))
        accept_free_text = bool(requested) and not is_interruption(intent, confidence, requested) and not long_answer
        if intent == "correct" and len(asked) <= 1:
            values, problems = _extract_fields(tracker, text, asked, accept_free_text=False)
            if values or not accept_free_text:
                return values, problems
        return _extract_fields(tracker, text, asked, accept_free_text=accept_free_text)

    @staticmethod
    def _empathize_if_angry(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str
    ) -> None:
        config = runtime().config.triage
        score = score_emotion(text, config)
        if score >= ANGRY_FOLLOWUP_SCORE and mood_for(text, score, config) == "angry":
            dispatcher.utter_message(text=fresh_text(domain, "utter_empathy_followup_angry", tracker))

    def _choose_option(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str
    ) -> list[EventType]:
        """An offered option by button, number or words; an option of the catalogue named
        outright ("replacement, please"); or a wish of the customer's own, which goes to a
        person. Never "I didn't catch that" twice."""
        catalogue = runtime().config.options
        offered: list[str] = list(tracker.get_slot("offered_options") or [])
        entities: list[dict[str, Any]] = (tracker.latest_message or {}).get("entities") or []
        from_payload = next((e.get("value") for e in entities if e.get("entity") == "chosen_option"), None)
        intent, confidence = _intent(tracker)
        rejected = turns_down(text, catalogue)
        choice = from_payload if from_payload in offered else (
            None if rejected else match_option(text, offered, catalogue)
        )
        if choice:
            return self._chosen(tracker, domain, choice, offered)
        if intent == "ask_human" and "human_agent" in offered:
            return self._chosen(tracker, domain, "human_agent", offered)
        if is_interruption(intent, confidence, "chosen_option") and not rejected:
            return []
        named = None if rejected else named_option(text, catalogue)
        if named:
            return self._chosen(tracker, domain, named, offered + [named])
        if rejected or self._states_a_wish(text):
            return self._wish_to_person(dispatcher, tracker, domain, text)
        if is_last_ask(_counts(tracker), "chosen_option", runtime().config.dialogue):
            dispatcher.utter_message(text=fresh_text(domain, "utter_option_to_person", tracker))
            return self._chosen(tracker, domain, "human_agent", offered)
        dispatcher.utter_message(response="utter_option_not_understood", option_count=len(offered))
        return [SlotSet("chosen_option", None)]

    @staticmethod
    def _states_a_wish(text: str) -> bool:
        config = runtime().config.triage
        remedies = [phrase for phrases in config.outcomes.values() for phrase in phrases]
        return len(text.split()) >= WISH_MIN_WORDS or bool(find_phrases(text, remedies + list(config.wish_cues)))

    @staticmethod
    def _chosen(tracker: Tracker, domain: DomainDict, choice: str, offered: list[str]) -> list[EventType]:
        """The choice, and the wish it stands for when the customer had not said one."""
        events: list[EventType] = [SlotSet("chosen_option", choice)]
        if offered != list(tracker.get_slot("offered_options") or []):
            events.append(SlotSet("offered_options", offered))
        if tracker.get_slot("desired_outcome") is None:
            option = runtime().config.options.options[choice]
            events.append(SlotSet("desired_outcome", option_label(domain, tracker, choice)))
            events.append(SlotSet("desired_outcome_kind", option.outcome_kinds[0] if option.outcome_kinds else "other"))
        return events

    def _wish_to_person(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str
    ) -> list[EventType]:
        """A remedy outside the list is recorded as the customer's wish and offered to a person."""
        wish = wish_after_refusal(text, runtime().config.options)
        values, _ = _extract_fields(tracker, wish, ("desired_outcome",), accept_free_text=True)
        dispatcher.utter_message(response="utter_wish_to_person", wish=wish)
        offered = list(tracker.get_slot("offered_options") or [])
        return [
            SlotSet("chosen_option", "human_agent"),
            SlotSet("desired_outcome", wish),
            SlotSet("desired_outcome_kind", values.get("desired_outcome_kind", "other")),
        ] + ([] if "human_agent" in offered else [SlotSet("offered_options", offered + ["human_agent"])])

    def _confirm(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str
    ) -> list[EventType]:
        """Corrections first ("yes, but the date was the 5th" changes the date and nothing
        else), then a yes; anything else keeps the read-back open, at most twice."""
        intent, confidence = _intent(tracker)
        values, _ = self._extract(tracker, text, (), "correct", 1.0)
        corrections = [SlotSet(slot, value) for slot, value in values.items() if tracker.get_slot(slot) != value]
        if corrections:
            dispatcher.utter_message(text=fresh_text(domain, "utter_correction_noted", tracker))
            return corrections + [SlotSet("complaint_confirmed", None)]
        if intent == "affirm" and confidence >= 0.5:
            return [SlotSet("complaint_confirmed", True)]
        if is_interruption(intent, confidence, "complaint_confirmed"):
            return []
        policy = runtime().config.dialogue
        if intent != "deny" and is_last_ask(_counts(tracker), "complaint_confirmed", policy):
            if after_last_miss("complaint_confirmed", policy) == FILE_AS_IS:
                dispatcher.utter_message(text=fresh_text(domain, "utter_filed_as_is", tracker))
                return [SlotSet("complaint_confirmed", True)]
        return [SlotSet("complaint_confirmed", None)]
