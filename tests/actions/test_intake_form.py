"""validate_complaint_form: everything said is extracted once, problems are explained,
interruptions are left to the rules."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from bot.actions.intake_form import ValidateComplaintForm
from tests.actions.events import action_event, bot_event, user_event

KETTLE = ("I ordered a kettle on the 3rd (order 88412), it arrived with a cracked lid and your "
          "driver just shrugged. I want my money back.")
MESSAGE_TIME = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc).timestamp()


def texts(dispatcher) -> list[str]:
    return [m.get("text") or m.get("response") for m in dispatcher.messages]


def domain_texts(domain: dict[str, Any], name: str) -> list[str]:
    return [v["text"] for v in domain["responses"][name]]


async def run_form(make_tracker, dispatcher, domain, events, slots=None):
    tracker = make_tracker(events, slots=slots, active_loop="complaint_form")
    result = await ValidateComplaintForm().run(dispatcher, tracker, domain)
    return {e["name"]: e["value"] for e in result if e["event"] == "slot"}


async def test_the_opening_narrative_fills_every_detail_it_contains(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event(KETTLE, "complain_product", timestamp=MESSAGE_TIME),
              action_event("action_acknowledge_complaint")]
    slots = await run_form(make_tracker, dispatcher, domain, events)
    assert slots["incident_date"] == "2026-11-03"
    assert slots["order_ref"] == "88412"
    assert "kettle" in slots["complaint_product"]
    assert "driver" in slots["people_involved"]
    assert slots["desired_outcome_kind"] == "refund"
    assert slots["problem_description"] == KETTLE
    assert slots.get("customer_name") is None


async def test_a_detail_already_given_is_not_overwritten_by_a_passing_mention(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("I called on the 10th as well, it's Jo", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "customer_name", "incident_date": "2026-11-03"})
    assert "incident_date" not in slots or slots["incident_date"] == "2026-11-03"


async def test_a_correction_replaces_the_earlier_value_and_is_acknowledged(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("no, it was the 5th", "correct", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "incident_location", "incident_date": "2026-11-03"})
    assert slots["incident_date"] == "2026-11-05"
    assert "incident_location" not in slots or slots["incident_location"] is None
    assert set(texts(dispatcher)) & set(domain_texts(domain, "utter_correction_noted"))


async def test_a_future_date_is_refused_with_an_explanation(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("tomorrow", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "incident_date"})
    assert slots["incident_date"] is None
    assert texts(dispatcher) == domain_texts(domain, "utter_invalid_future_date")


async def test_an_impossible_phone_number_is_refused(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("+44 12", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "contact"})
    assert slots["contact"] is None
    assert texts(dispatcher) == domain_texts(domain, "utter_invalid_phone")


async def test_a_phone_number_is_normalised(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("07911 123456", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "contact"})
    assert slots["contact"] == "+447911123456"
    assert slots["contact_kind"] == "phone"


async def test_an_interruption_extracts_nothing_so_the_form_rejects(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("are you a bot?", "bot_challenge", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "complaint_product"})
    assert "complaint_product" not in slots
    assert dispatcher.messages == []


async def test_refusing_a_contact_is_accepted_politely(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("I'd rather not say", "dont_know", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "contact"})
    assert slots["contact"] == "none"
    assert texts(dispatcher) == domain_texts(domain, "utter_contact_refused_ok")


async def test_no_order_number_is_skipped_not_asked_again(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("I don't have one", "dont_know", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "order_ref"})
    assert slots["order_ref"] == "unknown"


async def test_options_are_chosen_by_payload_number_and_words(
    action_runtime, make_tracker, domain
) -> None:
    from rasa_sdk.executor import CollectingDispatcher

    offered = ["refund", "replacement", "repair", "human_agent"]
    cases = [
        (user_event('/choose_option{"chosen_option":"repair"}', "choose_option",
                    entities=[{"entity": "chosen_option", "value": "repair"}]), "repair"),
        (user_event("2", "inform"), "replacement"),
        (user_event("I'd like to talk to a person please", "choose_option"), "human_agent"),
        (user_event("the refund please", "choose_option"), "refund"),
    ]
    for event, expected in cases:
        slots = await run_form(make_tracker, CollectingDispatcher(), domain, [event],
                               {"requested_slot": "chosen_option", "offered_options": offered})
        assert slots["chosen_option"] == expected, event["text"]


async def test_an_unclear_choice_is_asked_again_by_number(action_runtime, make_tracker, dispatcher, domain) -> None:
    slots = await run_form(make_tracker, dispatcher, domain, [user_event("hmm maybe", "inform")],
                           {"requested_slot": "chosen_option", "offered_options": ["refund", "repair", "human_agent"]})
    assert slots["chosen_option"] is None
    assert dispatcher.messages[0]["response"] == "utter_option_not_understood"


async def test_the_read_back_accepts_yes_and_takes_corrections(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    yes = await run_form(make_tracker, dispatcher, domain, [user_event("yes", "affirm")],
                         {"requested_slot": "complaint_confirmed"})
    assert yes["complaint_confirmed"] is True
    fixed = await run_form(make_tracker, dispatcher, domain,
                           [bot_event("Is this right?"), user_event("my email is sam@example.com", "correct")],
                           {"requested_slot": "complaint_confirmed", "contact": "old@example.com"})
    assert fixed["contact"] == "sam@example.com"
    assert fixed["complaint_confirmed"] is None


async def test_an_uncertain_stop_is_checked_not_taken_as_an_answer(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("actually never mind", "stop", confidence=0.6, timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "customer_name"})
    assert slots["customer_name"] is None
    assert dispatcher.messages[0]["response"] == "utter_check_stop"


async def test_a_certain_stop_is_left_to_the_rules(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("stop, I want to cancel this", "stop", confidence=0.95, timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "customer_name"})
    assert slots == {}


async def test_a_short_answer_giving_another_detail_does_not_fill_the_question(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("it was on the 18th", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "incident_location"})
    assert slots["incident_date"] == "2026-11-18"
    assert slots.get("incident_location") is None


async def test_an_answer_with_two_details_fills_both(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("at the Leeds store yesterday", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "incident_location"})
    assert slots["incident_date"] == "2026-11-23"
    assert "Leeds" in slots["incident_location"]


async def test_an_answer_is_an_answer_whatever_the_intent(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("this morning", "greet", confidence=0.9, timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "incident_date"})
    assert slots["incident_date"] == "2026-11-24"


async def test_a_story_told_while_another_question_is_open_is_kept_as_the_problem(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    story = "my internet has been down for 4 days and your helpline just keeps me on hold"
    events = [user_event(story, "complain_service", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "customer_name"})
    assert slots["problem_description"] == story
    assert slots.get("customer_name") is None


async def test_a_bare_yes_to_the_order_number_question_asks_for_the_number(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    from bot.actions.questions import ActionAskOrderRef

    tracker_slots = {"requested_slot": "order_ref"}
    slots = await run_form(make_tracker, dispatcher, domain, [user_event("yes", "affirm")], tracker_slots)
    assert slots["order_ref"] is None
    ask = CollectingDispatcher()
    await ActionAskOrderRef().run(ask, make_tracker([user_event("yes", "affirm")], tracker_slots), domain)
    assert ask.messages[0]["response"] == "utter_ask_value_order_ref"


async def test_no_with_another_detail_keeps_the_detail(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("no idea, but my order number is 88412", "dont_know", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "incident_location"})
    assert slots["incident_location"] == "unknown"
    assert slots["order_ref"] == "88412"


async def test_yes_with_a_correction_at_the_read_back_applies_the_correction(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("yes, but the date was the 5th", "affirm", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "complaint_confirmed", "incident_date": "2026-11-03"})
    assert slots["incident_date"] == "2026-11-05"
    assert slots["complaint_confirmed"] is None
