"""Resolve: offer at least three remedies that fit the complaint, one of them a person."""

from __future__ import annotations

import json

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.questions import record_ask
from bot.actions.responses import response_text
from bot.actions.runtime import runtime
from bot.filing import complaint_category
from bot.options import offer_options
from bot.transcript import intake_messages


def option_label(domain: DomainDict, tracker: Tracker, option_id: str) -> str:
    """The customer-facing name of an option, from its ``utter_option_<id>`` response."""
    return response_text(domain, f"utter_option_{option_id}", tracker)


class ActionAskChosenOption(Action):
    """Ask for a remedy: buttons for channels that show them, numbers for every channel."""

    def name(self) -> str:
        return "action_ask_chosen_option"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        offered = list(tracker.get_slot("offered_options") or [])
        if not offered:
            config = runtime().config
            narrative = "\n".join(intake_messages(tracker.events))
            category, _ = complaint_category(tracker.current_slot_values(), narrative, config)
            offered = offer_options(
                category, tracker.get_slot("desired_outcome_kind"), config.options, wish=tracker.get_slot("desired_outcome")
            )
        labels = [option_label(domain, tracker, option_id) for option_id in offered]
        numbered = "\n".join(f"{number}. {label}" for number, label in enumerate(labels, start=1))
        buttons = [
            {"title": label, "payload": "/choose_option" + json.dumps({"chosen_option": option_id})}
            for option_id, label in zip(offered, labels)
        ]
        dispatcher.utter_message(response="utter_ask_chosen_option", options_list=numbered, buttons=buttons)
        return [SlotSet("offered_options", offered)] + record_ask(tracker, ("chosen_option",))
