"""The hand-off rules other than threats, the conversation signals they read, and the policy's validation."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot.domain_config import load_domain_config
from bot.handoff.policy import Facts, HandoffPolicy, HandoffPolicyError, Trigger, most_urgent, parse_handoff_policy
from bot.handoff.signals import conversation_facts
from bot.triage import score_emotion
from tests.handoff.conftest import MONDAY_NOON, ROOT, changed_file, shipped

TRIAGE = load_domain_config(ROOT / "settings").triage


def score(text: str) -> float:
    return score_emotion(text, TRIAGE)


def fired(policy: HandoffPolicy, **facts: object) -> list[str]:
    return [trigger.rule for trigger in policy.evaluate(Facts(now=MONDAY_NOON, **facts))]


def user(text: str, intent: str = "inform") -> dict:
    return {"event": "user", "text": text, "timestamp": time.time(), "parse_data": {"intent": {"name": intent}}}


def bot(response: str | None) -> dict:
    return {"event": "bot", "text": "...", "metadata": {"utter_action": response} if response else {}}


def action(name: str) -> dict:
    return {"event": "action", "name": name}


def test_asking_for_a_person_fires_on_the_intent_only(policy: HandoffPolicy) -> None:
    assert fired(policy, intent="ask_human") == ["asked_for_person"]
    [trigger] = policy.evaluate(Facts(now=MONDAY_NOON, intent="ask_human"))
    assert trigger == Trigger("asked_for_person", "The customer asked to talk to a person.", None, "utter_handoff_intro_asked", "ask_human")
    assert fired(policy, intent="complain_service", text="let me talk to somebody") == []


ANGRY = [
    "This is absolutely disgusting, three weeks and still NO refund!!!",
    "I am furious. Your staff are useless and nobody answers the phone.",
    "Worst company I have ever dealt with, I'm sick of being lied to!",
]


def test_emotion_fires_when_three_messages_in_a_row_are_very_upset(policy: HandoffPolicy) -> None:
    scores = [score(text) for text in ANGRY]
    assert min(scores) >= 0.7, scores
    events = [user(ANGRY[0], "complain_after_sales"), bot(None), user(ANGRY[1]), bot(None), user(ANGRY[2])]
    facts = conversation_facts(events, now=MONDAY_NOON, score=score, emotion_window=policy.emotion_window)
    [trigger] = policy.evaluate(facts)
    assert trigger.rule == "high_emotion" and trigger.priority == "P2"
    assert trigger.evidence == "emotion " + ", ".join(f"{s:.2f}" for s in scores)


@pytest.mark.parametrize("calm", ["Jane Morris, jane@example.com", "it was last Tuesday", "thanks for your help"])
def test_emotion_does_not_fire_when_a_calm_message_breaks_the_run(policy: HandoffPolicy, calm: str) -> None:
    assert score(calm) < 0.7
    events = [user(ANGRY[0]), user(ANGRY[1]), user(calm)]
    facts = conversation_facts(events, now=MONDAY_NOON, score=score, emotion_window=policy.emotion_window)
    assert policy.evaluate(facts) == []
    two = conversation_facts([user(ANGRY[0]), user(ANGRY[1])], now=MONDAY_NOON, score=score, emotion_window=3)
    assert policy.evaluate(two) == []


def test_only_the_conversation_since_the_last_hand_off_counts(policy: HandoffPolicy) -> None:
    events = [user(ANGRY[0]), user(ANGRY[1]), action("action_handoff"), {"event": "resume"}, user(ANGRY[2])]
    facts = conversation_facts(events, now=MONDAY_NOON, score=score, emotion_window=3)
    assert facts.emotions == (score(ANGRY[2]),)
    assert policy.evaluate(facts) == []


def test_button_clicks_are_not_scored_and_not_the_latest_text() -> None:
    events = [user(ANGRY[0]), user("/affirm", "affirm")]
    facts = conversation_facts(events, now=MONDAY_NOON, score=score, emotion_window=3)
    assert facts.text == ""
    assert facts.emotions == (score(ANGRY[0]),)


def test_two_misunderstood_messages_in_a_row_fire_the_fallback_rule(policy: HandoffPolicy) -> None:
    once = conversation_facts([user("blorp", "nlu_fallback")], now=MONDAY_NOON, score=score, emotion_window=0, misunderstood=True)
    assert policy.evaluate(once) == []
    events = [user("blorp", "nlu_fallback"), bot("utter_clarify"), user("fnord", "nlu_fallback")]
    twice = conversation_facts(events, now=MONDAY_NOON, score=score, emotion_window=0, misunderstood=True)
    assert twice.earlier == (frozenset({"utter_clarify"}),)
    [trigger] = policy.evaluate(twice)
    assert (trigger.rule, trigger.evidence, trigger.priority) == ("repeated_fallback", "2 messages not understood in a row", None)
    understood_between = [user("blorp"), bot("utter_clarify"), user("my parcel"), bot("utter_ask_contact"), user("fnord")]
    facts = conversation_facts(understood_between, now=MONDAY_NOON, score=score, emotion_window=0, misunderstood=True)
    assert policy.evaluate(facts) == []
    not_now = conversation_facts(events, now=MONDAY_NOON, score=score, emotion_window=0, misunderstood=False)
    assert policy.evaluate(not_now) == []


def test_an_earlier_repair_counts_as_not_understood_an_answer_kept_in_words_does_not(policy: HandoffPolicy) -> None:
    repaired = [user("the thing", "inform"), bot("utter_default"), bot("utter_ask_incident_date"), user("zzz", "nlu_fallback")]
    facts = conversation_facts(repaired, now=MONDAY_NOON, score=score, emotion_window=0, misunderstood=True)
    assert facts.earlier == (frozenset({"utter_default", "utter_ask_incident_date"}),)
    assert fired(policy, misunderstood=True, earlier=facts.earlier) == ["repeated_fallback"]
    kept = [user("???", "nlu_fallback"), bot(None), bot("utter_ask_contact"), user("???", "nlu_fallback")]
    facts = conversation_facts(kept, now=MONDAY_NOON, score=score, emotion_window=0, misunderstood=True)
    assert fired(policy, misunderstood=True, earlier=facts.earlier) == []
    three = HandoffPolicy.parse_obj({**shipped("handoff.yml"), "rules": [
        {"id": "three_misses", "reason": "r", "kind": "fallbacks", "in_a_row": 3, "responses": ["utter_default"]},
    ]})
    assert fired(three, misunderstood=True, earlier=(frozenset({"utter_default"}),)) == []
    assert fired(three, misunderstood=True, earlier=(frozenset({"utter_default"}),) * 2) == ["three_misses"]


def test_a_person_as_the_chosen_remedy_and_a_vip_fire_their_rules(policy: HandoffPolicy) -> None:
    assert fired(policy, chosen_option="human_agent") == ["option_needs_person"]
    assert fired(policy, chosen_option="refund") == []
    assert fired(policy, customer_type="vip") == ["vip_customer"]
    assert fired(policy, customer_type="returning") == []
    configured = HandoffPolicy.parse_obj({**shipped("handoff.yml"), "rules": [
        {"id": "returning_customer", "reason": "Complained before.", "kind": "customer", "customer_types": ["returning", "vip"]},
    ]})
    assert fired(configured, customer_type="returning") == ["returning_customer"]


def test_a_ticket_due_within_the_hour_or_late_fires_the_sla_rule(policy: HandoffPolicy) -> None:
    assert fired(policy, resolve_deadlines=(MONDAY_NOON + timedelta(minutes=59),)) == ["sla_about_to_breach"]
    assert fired(policy, resolve_deadlines=(MONDAY_NOON - timedelta(hours=3),)) == ["sla_about_to_breach"]
    assert fired(policy, resolve_deadlines=(MONDAY_NOON + timedelta(minutes=61),)) == []
    [trigger] = policy.evaluate(Facts(now=MONDAY_NOON, resolve_deadlines=(MONDAY_NOON + timedelta(minutes=30),)))
    assert trigger.evidence == "resolve by 2026-11-30T12:30:00+00:00" and trigger.priority == "P1"


def test_every_rule_that_fires_is_reported_in_the_file_s_order(policy: HandoffPolicy) -> None:
    rules = fired(policy, intent="ask_human", text="the heater caught fire and I will sue", customer_type="vip")
    assert rules == ["asked_for_person", "vip_customer", "legal_threat", "safety_incident"]


def test_the_hand_off_priority_is_the_most_urgent_of_the_ticket_and_the_rules() -> None:
    assert most_urgent(["P3", None, "P2"]) == "P2"
    assert most_urgent(["P4", "P1"]) == "P1"
    assert most_urgent([None]) == "P4"


def test_every_response_the_rules_say_exists_in_the_domain(policy: HandoffPolicy) -> None:
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    said = {rule.say for rule in policy.rules if rule.say}
    assert said == {"utter_handoff_intro_asked", "utter_handoff_intro_option", "utter_handoff_intro_safety"}
    assert said <= set(responses)
    for rule in policy.rules:
        if rule.kind == "fallbacks":
            assert set(rule.responses) <= set(responses)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"].append({"id": "x", "reason": "r", "kind": "mood"}), "No match for discriminator 'kind' and value 'mood'"),
        (lambda d: d["rules"].append({"id": "asked_for_person", "reason": "r", "kind": "intent", "intents": ["x"]}), "rule id 'asked_for_person' is used twice"),
        (lambda d: d["rules"][5]["patterns"].append("(unclosed"), "rules[legal_threat].patterns: '(unclosed' is not a regular expression"),
        (lambda d: d["rules"][0].update(priority="P5"), "rules[asked_for_person].priority: unexpected value; permitted: 'P1', 'P2', 'P3', 'P4'"),
        (lambda d: d["rules"][1].pop("min_score"), "rules[high_emotion].min_score: field required"),
        (lambda d: d["rules"][0].update(intents=[]), "rules[asked_for_person].intents: ensure this value has at least 1 items"),
        (lambda d: d["rules"][0].update(colour="red"), "rules[asked_for_person].colour: extra fields not permitted"),
        (lambda d: d["agents"].update(hours={"funday": ["09:00-17:00"]}), "unknown weekday(s) funday"),
        (lambda d: d["wait_estimate"].update(min_claims=0), "wait_estimate.min_claims: ensure this value is greater than or equal to 1"),
    ],
)
def test_a_bad_policy_stops_start_up_naming_the_key(tmp_path: Path, change, message: str) -> None:  # noqa: ANN001
    path = changed_file(tmp_path, "handoff.yml", change)
    with pytest.raises(HandoffPolicyError) as raised:
        parse_handoff_policy(path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_the_shipped_policy_loads_with_every_kind(policy: HandoffPolicy) -> None:
    assert [rule.kind for rule in policy.rules] == [
        "intent", "emotion", "fallbacks", "option", "customer", "threat", "threat", "threat", "threat", "sla",
    ]
    assert policy.emotion_window == 3
    assert policy.agents.live_chat is True and policy.agents.hours == "callbacks"
