"""Suggested next steps as data (settings/next_steps.yml): the shipped file loads, a bad one stops
start-up naming the step and the key, and the steps shown follow the ticket, in the file's order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain_config import CATEGORIES
from bot.handoff.next_steps import (
    NextStepsError,
    NextStepsPolicy,
    TicketFacts,
    check_known,
    duration,
    next_steps_policy,
    option_labels,
    parse_next_steps,
    suggest,
)
from tests.handoff.conftest import MONDAY_NOON, changed_file


def facts(**overrides: Any) -> TicketFacts:
    values: dict[str, Any] = dict(number="CX-AAAAAA", status="escalated", category="billing", priority="P3",
                                  channel="webchat", now=MONDAY_NOON, resolve_by=MONDAY_NOON + timedelta(hours=10),
                                  option_labels=option_labels())
    values.update(overrides)
    return TicketFacts(**values)


def ids(policy: NextStepsPolicy, **overrides: Any) -> list[str]:
    return [step.id for step in suggest(policy, facts(**overrides))]


def test_the_shipped_steps_load_and_name_only_what_the_other_settings_have() -> None:
    policy = next_steps_policy()
    assert policy.max_shown == 5 and len(policy.steps) >= 10
    assert policy == parse_next_steps(Path("settings/next_steps.yml").resolve())


def test_steps_apply_by_the_ticket_in_the_files_order_and_at_most_max_shown() -> None:
    policy = next_steps_policy()
    assert ids(policy) == ["start_work"]
    assert ids(policy, status="in_progress") == []
    assert ids(policy, rules=("safety_incident",), category="product", emotion=0.9) == [
        "safety_first", "very_upset", "start_work"]
    assert ids(policy, resolve_by=MONDAY_NOON - timedelta(minutes=5), repeat_of="CX-BBBBBB") == [
        "resolve_deadline_passed", "repeat_complaint", "start_work"]
    assert ids(policy, resolve_by=MONDAY_NOON + timedelta(minutes=90)) == ["resolve_deadline_near", "start_work"]
    assert ids(policy, chosen_option="supervisor_call") == ["callback_chosen_none_booked", "start_work"]
    assert ids(policy, chosen_option="supervisor_call", callback_at="Tue 1 Dec, 10:00 GMT") == ["callback_booked", "start_work"]
    crowded = ids(policy, rules=("safety_incident", "legal_threat"), resolve_by=MONDAY_NOON - timedelta(hours=1),
                  repeat_of="CX-BBBBBB", callback_at="Tue 1 Dec, 10:00 GMT", emotion=0.9)
    assert crowded == ["safety_first", "resolve_deadline_passed", "threat_of_escalation", "callback_booked",
                       "repeat_complaint"], "the first five that apply"


def test_the_texts_are_filled_with_the_tickets_facts() -> None:
    policy = next_steps_policy()
    [late, _] = suggest(policy, facts(resolve_by=MONDAY_NOON - timedelta(hours=2, minutes=5)))
    assert late.text == ("The resolve deadline passed 2 h 05 min ago (Mon 30 Nov 09:55 UTC). Apologise for the delay "
                         "and give the customer a firm time for the answer; book a call back if it needs longer.")
    [offered, refund, _] = suggest(policy, facts(offered_options=("refund_difference", "correct_bill"),
                                                 desired_outcome="the £40 back", outcome_kind="refund"))
    assert offered.text == ("No remedy chosen yet. The assistant offered: A refund of the amount you were overcharged; "
                            "A corrected bill or invoice. Ask which would put it right, or what else they want (the £40 back).")
    assert refund.id == "refund_wanted" and "(the £40 back)" in refund.text
    assert [duration(timedelta(minutes=m)) for m in (0, 59, 60, 125)] == ["0 min", "59 min", "1 h 00 min", "2 h 05 min"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["steps"][0]["when"].update(colour="red"), "steps[safety_first].when.colour: extra fields not permitted"),
        (lambda d: d["steps"][1].update(text="Late by {minutes}"), "steps[resolve_deadline_passed].text: unknown fact(s) minutes"),
        (lambda d: d["steps"][1]["when"].update(statuses=["open"]), "steps[resolve_deadline_passed].when.statuses.0: unexpected value"),
        (lambda d: d["steps"].append(dict(d["steps"][0])), "steps: step id 'safety_first' is used twice"),
        (lambda d: d.update(max_shown=0), "max_shown: ensure this value is greater than or equal to 1"),
    ],
)
def test_a_bad_file_stops_start_up_naming_the_step_and_the_key(tmp_path: Path, change, message: str) -> None:  # noqa: ANN001
    with pytest.raises(NextStepsError) as refused:
        parse_next_steps(changed_file(tmp_path, "next_steps.yml", change))
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"categories": ["parcels"]}, "steps[x].when.categories: unknown parcels"),
        ({"chosen_options": ["free_pony"]}, "steps[x].when.chosen_options: unknown free_pony"),
        ({"rules": ["asked_for_pony"]}, "steps[x].when.rules: unknown asked_for_pony"),
        ({"outcome_kinds": ["pony"]}, "steps[x].when.outcome_kinds: unknown pony"),
    ],
)
def test_a_step_naming_what_the_other_settings_lack_is_refused(when: dict[str, Any], message: str) -> None:
    policy = NextStepsPolicy.parse_obj({"max_shown": 3, "steps": [{"id": "x", "when": when, "text": "Do it."}]})
    with pytest.raises(NextStepsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_known(policy, categories=set(CATEGORIES), options={"refund"}, rules={"asked_for_person"})
