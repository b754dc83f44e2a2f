"""Asking: related details in one question, no question a third time, a short answer taken
as the answer whatever the intent, a value only in its own slot, options from the wish."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.actions.intake_form import ValidateComplaintForm
from bot.actions.questions import ActionAskCustomerName, ActionAskImpact, ActionAskIncidentDate
from tests.actions.events import user_event
from tests.actions.test_intake_form import domain_texts, run_form, texts

MESSAGE_TIME = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc).timestamp()
RAMBLE = "well it is hard to say really because there were so many things in the order and I am not sure which one"

UNUSABLE = {
    "customer_name": ("12345", "utter_answer_not_used"),
    "contact": ("ade at gmail", "utter_invalid_contact"),
    "complaint_product": (RAMBLE, "utter_answer_not_used"),
    "problem_description": ("??", "utter_answer_not_used"),
    "incident_date": ("sometime in spring", "utter_invalid_unparsable_date"),
    "incident_location": ("??", "utter_answer_not_used"),
    "impact": ("??", "utter_answer_not_used"),
    "people_involved": ("??", "utter_answer_not_used"),
}
"""Per asked slot: an answer the assistant cannot use, and what it says the first time."""


def asked_slots(slot: str, count: int) -> dict:
    return {"requested_slot": slot, "asked_slots": [slot], "ask_counts": {slot: count}}


@pytest.mark.parametrize("slot", sorted(UNUSABLE))
async def test_an_unusable_answer_is_explained_once_then_kept_in_the_customers_words(
    slot, action_runtime, make_tracker, dispatcher, domain
) -> None:
    answer, reply = UNUSABLE[slot]
    events = [user_event(answer, "inform", timestamp=MESSAGE_TIME)]

    first = await run_form(make_tracker, dispatcher, domain, events, asked_slots(slot, 1))
    assert first[slot] is None
    assert len(texts(dispatcher)) == 1 and texts(dispatcher)[0] in domain_texts(domain, reply)

    dispatcher.messages.clear()
    second = await run_form(make_tracker, dispatcher, domain, events, asked_slots(slot, 2))
    assert second[slot] == answer
    assert second["unparsed_slots"] == [slot]
    assert texts(dispatcher) == domain_texts(domain, "utter_kept_your_words")
    if slot == "contact":
        assert second["contact_kind"] == "unparsed"


@pytest.mark.parametrize("intent", ["complain_product", "nlu_fallback", "inform"])
async def test_the_last_ask_is_the_last_whatever_the_intent(
    intent, action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("???", intent, timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, asked_slots("customer_name", 2))
    assert slots["customer_name"] == "???"
    assert texts(dispatcher) == domain_texts(domain, "utter_kept_your_words")


async def test_a_complaint_told_at_the_last_ask_is_the_story_and_the_detail_is_left_for_the_team(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    story = "and on top of that the courier threw the box over the fence and it broke"
    events = [user_event(story, "complain_delivery", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, asked_slots("customer_name", 2))
    assert slots["customer_name"] == "unknown"
    assert texts(dispatcher) == domain_texts(domain, "utter_left_for_the_team")


async def test_no_reference_is_taken_at_once_not_asked_again(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("it's on the email you sent", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, asked_slots("order_ref", 1))
    assert slots["order_ref"] == "unknown"


async def test_an_unclear_choice_twice_goes_to_a_person(action_runtime, make_tracker, dispatcher, domain) -> None:
    offered = ["replacement", "repair", "refund", "callback", "human_agent"]
    events = [user_event("7", "inform", timestamp=MESSAGE_TIME)]
    first = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "chosen_option", "offered_options": offered,
                            "ask_counts": {"chosen_option": 1}})
    assert first["chosen_option"] is None
    assert dispatcher.messages[0]["response"] == "utter_option_not_understood"
    dispatcher.messages.clear()
    second = await run_form(make_tracker, dispatcher, domain, events,
                            {"requested_slot": "chosen_option", "offered_options": offered,
                             "ask_counts": {"chosen_option": 2}})
    assert second["chosen_option"] == "human_agent"
    assert texts(dispatcher) == domain_texts(domain, "utter_option_to_person")


async def test_an_unclear_read_back_twice_is_filed_as_it_stands(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("hmm", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "complaint_confirmed", "ask_counts": {"complaint_confirmed": 2}})
    assert slots["complaint_confirmed"] is True
    assert texts(dispatcher) == domain_texts(domain, "utter_filed_as_is")


async def test_a_name_read_as_a_greeting_is_the_name(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("Harold Jennings", "greet", confidence=0.7, timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "customer_name", "asked_slots": ["customer_name", "contact"]})
    assert slots == {"customer_name": "Harold Jennings"}


async def test_a_real_greeting_is_left_to_the_rules(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("hello", "greet", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, {"requested_slot": "customer_name"})
    assert slots == {}


@pytest.mark.parametrize("intent", ["inform", "correct", "greet"])
async def test_name_and_contact_come_from_one_answer(intent, action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("Harold Jennings, 07912 402118", intent, confidence=0.6, timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "customer_name", "asked_slots": ["customer_name", "contact"]})
    assert slots == {"customer_name": "Harold Jennings", "contact": "+447912402118", "contact_kind": "phone"}


async def test_a_reference_with_letters_is_taken_whatever_the_intent(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("GR-88210457", "out_of_scope", confidence=0.9, timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, asked_slots("order_ref", 1))
    assert slots["order_ref"] == "GR-88210457"


async def test_a_long_product_list_is_the_product(action_runtime, make_tracker, dispatcher, domain) -> None:
    answer = "homeware order: 2 candles, a photo frame, a kids' jigsaw"
    events = [user_event(answer, "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, asked_slots("complaint_product", 1))
    assert slots["complaint_product"] == answer


async def test_a_phone_number_given_for_the_impact_is_the_contact(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    events = [user_event("07911 123456", "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, asked_slots("impact", 1))
    assert slots["contact"] == "+447911123456"
    assert slots["contact_kind"] == "phone"
    assert slots.get("impact") is None


async def test_declining_the_contact_sets_a_matching_kind(action_runtime, make_tracker, dispatcher, domain) -> None:
    events = [user_event("I'd rather not", "deny", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, asked_slots("contact", 1))
    assert (slots["contact"], slots["contact_kind"]) == ("none", "none")


async def test_a_wish_outside_the_options_goes_to_a_person(action_runtime, make_tracker, dispatcher, domain) -> None:
    answer = "none of those, I want an engineer and money off"
    events = [user_event(answer, "inform", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "chosen_option", "offered_options": ["formal_apology_review", "human_agent"],
                            "ask_counts": {"chosen_option": 1}})
    assert slots["chosen_option"] == "human_agent"
    assert slots["desired_outcome"] == "I want an engineer and money off"
    assert dispatcher.messages[0]["response"] == "utter_wish_to_person"


async def test_an_option_named_outright_is_taken_even_if_not_offered(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    offered = ["formal_apology_review", "service_voucher", "supervisor_call", "callback", "human_agent"]
    events = [user_event("replacement, please", "choose_option", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events,
                           {"requested_slot": "chosen_option", "offered_options": offered})
    assert slots["chosen_option"] == "replacement"
    assert slots["offered_options"] == offered + ["replacement"]
    assert slots["desired_outcome"] == domain_texts(domain, "utter_option_replacement")[0]
    assert slots["desired_outcome_kind"] == "replacement"


async def test_yes_but_at_the_read_back_corrects_only_what_it_names(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    filled = {"requested_slot": "complaint_confirmed", "incident_date": "2026-11-03", "incident_location": "online",
              "people_involved": "the driver", "impact": "no kettle", "contact": "jane@example.com",
              "contact_kind": "email", "complaint_product": "kettle"}
    events = [user_event("yes, but the date was the 5th", "affirm", timestamp=MESSAGE_TIME)]
    slots = await run_form(make_tracker, dispatcher, domain, events, filled)
    slots.pop("requested_slot", None)
    assert slots == {"incident_date": "2026-11-05", "complaint_confirmed": None}


async def test_the_name_question_also_asks_for_the_contact_when_missing(make_tracker, dispatcher, domain) -> None:
    tracker = make_tracker([user_event("my kettle broke", "complain_product")],
                           slots={"requested_slot": "customer_name", "ask_counts": {"customer_name": 1}})
    events = await ActionAskCustomerName().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_ask_name_and_contact"
    assert {e["name"]: e["value"] for e in events} == {
        "asked_slots": ["customer_name", "contact"], "ask_counts": {"customer_name": 2, "contact": 1},
    }


async def test_a_detail_already_given_is_left_out_of_the_question(make_tracker, dispatcher, domain) -> None:
    tracker = make_tracker([user_event("my kettle broke", "complain_product")],
                           slots={"requested_slot": "incident_date", "complaint_product": "kettle",
                                  "incident_location": "online"})
    events = await ActionAskIncidentDate().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_ask_when_and_ref"
    assert {e["name"]: e["value"] for e in events}["asked_slots"] == ["incident_date", "order_ref"]


async def test_who_else_is_asked_with_the_impact(make_tracker, dispatcher, domain) -> None:
    tracker = make_tracker([user_event("my kettle broke", "complain_product")], slots={"requested_slot": "impact"})
    await ActionAskImpact().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_ask_impact_and_people"


async def test_who_else_is_not_asked_once_the_impact_is_known(
    action_runtime, make_tracker, dispatcher, domain
) -> None:
    tracker = make_tracker([user_event("my kettle broke", "complain_product")], slots={"impact": "no tea"},
                           active_loop="complaint_form")
    required = await ValidateComplaintForm().required_slots(
        domain["forms"]["complaint_form"]["required_slots"], dispatcher, tracker, domain
    )
    assert "people_involved" not in required
    assert "impact" in required


def test_every_question_of_the_policy_is_a_response(action_runtime, domain) -> None:
    for response in action_runtime.config.dialogue.questions.values():
        assert response in domain["responses"], response


async def test_options_follow_the_category_the_ticket_will_have(action_runtime, make_tracker, dispatcher, domain) -> None:
    from bot.actions.resolution import ActionAskChosenOption
    from tests.actions.events import action_event

    story = "The cashier at your Leeds store was unbelievably rude to me and the staff just laughed"
    tracker = make_tracker([user_event(story, "complain_other", confidence=0.3),
                            action_event("action_acknowledge_complaint")],
                           slots={"complaint_category": "other", "requested_slot": "chosen_option"})
    events = await ActionAskChosenOption().run(dispatcher, tracker, domain)
    offered = {e["name"]: e["value"] for e in events}["offered_options"]
    assert offered[0] == "formal_apology_review"
