"""One crash stops nothing: supervisor restarts the process that died, the others keep
serving, and a conversation caught in the middle goes on as if nothing had happened.

Each crashed conversation runs next to a control conversation with the same messages on
an undisturbed path; the crash must change nothing the customer sees (the same responses,
turn by turn) and nothing that is filed (one ticket each, with the same fields).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from bot.domain_config import PRIORITIES
from bot.tickets import TicketDraft, TicketRecord, TicketStore
from scripted.driver import recognise
from scripts.stack import Stack, answers_200

OPENING = (
    "I bought a toaster on your website on the 3rd, order 55120, and it stopped working "
    "after two days. I want a replacement."
)
ANSWERS = {
    "customer_name": "Sam Patel",
    "contact": "sam.patel@example.com",
    "complaint_product": "a toaster",
    "problem_description": "it stopped working after two days",
    "incident_date": "on the 3rd",
    "incident_location": "online, your website",
    "order_ref": "55120",
    "people_involved": "nobody else",
    "impact": "no toast for the children's breakfast all week",
    "desired_outcome": "a replacement",
    "chosen_option": "1",
    "complaint_confirmed": "yes",
}
MAX_TURNS = 20
RESTART_TIMEOUT_S = 120
NOT_COMPARED = {"sender_id", "transcript"}
COMPARED_FIELDS = [
    f.name for f in dataclasses.fields(TicketDraft) if f.name not in NOT_COMPARED and not f.name.startswith("sla_")
]
REPEAT_FIELDS = ("repeat_of", "priority")
"""What differs because the second of two identical complaints is a repeat of the first."""
SAID_TWICE = ("narrative", "emotion_score")
"""What differs when the customer repeats the message the outage met: both read every message."""
TECHNICAL_DIFFICULTY = [
    v["text"] for v in yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))["responses"][
        "utter_technical_difficulty"
    ]
]


@dataclass
class Chat:
    """One customer on one Rasa server; reads its form state through the token-protected API."""

    url: str
    token: str
    channel_token: str
    sender: str
    turns: list[list[str | None]] = field(default_factory=list)
    """The response names of every reply, turn by turn."""

    def say(self, text: str) -> list[str]:
        body = json.dumps({"sender": self.sender, "message": text}).encode()
        request = urllib.request.Request(
            f"{self.url}/webhooks/rest/webhook",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.channel_token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            texts = [reply.get("text") or "" for reply in json.load(response)]
        self.turns.append([recognise(text)[0] for text in texts])
        return texts

    def form(self) -> tuple[str | None, str | None]:
        """The active form and the slot it asks for now."""
        query = urllib.parse.urlencode({"token": self.token, "include_events": "NONE"})
        with urllib.request.urlopen(f"{self.url}/conversations/{self.sender}/tracker?{query}", timeout=30) as response:
            tracker = json.load(response)
        return (tracker.get("active_loop") or {}).get("name"), tracker["slots"].get("requested_slot")

    def answer(self) -> list[str]:
        """Answer the question the form asks now."""
        _, slot = self.form()
        assert slot in ANSWERS, f"{self.sender}: unexpected question for {slot!r} after {self.turns}"
        return self.say(ANSWERS[slot])

    def finish(self) -> None:
        """Answer until the form is done."""
        for _ in range(MAX_TURNS):
            if self.form() == (None, None):
                return
            self.answer()
        pytest.fail(f"{self.sender}: no end of the form after {MAX_TURNS} turns: {self.turns}")


def _chats(stack: Stack, name: str) -> tuple[Chat, Chat]:
    """A conversation to disturb and its control, started with the same opening."""
    suffix = f"{name}-{time.time_ns()}"
    crashed = Chat(stack.rasa_urls[0], stack.api_token, stack.channel_token, f"restart-{suffix}")
    control = Chat(stack.rasa_urls[-1], stack.api_token, stack.channel_token, f"control-{suffix}")
    for chat in (crashed, control):
        chat.say(OPENING)
        chat.answer()
    return crashed, control


def _wait_restarted(stack: Stack, program: str, old_pid: int, ready_url: str) -> None:
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while time.monotonic() < deadline:
        if stack.pid(program) not in (0, old_pid) and answers_200(ready_url):
            return
        time.sleep(0.2)
    pytest.fail(f"{program} was not restarted within {RESTART_TIMEOUT_S} s")


def _only_ticket(store: TicketStore, chat: Chat) -> TicketRecord:
    tickets = store.find_by_sender("rest", chat.sender)
    assert len(tickets) == 1, [t.number for t in tickets]
    return tickets[0]


def _assert_same_ticket(store: TicketStore, crashed: Chat, control: Chat, *, ignore: tuple[str, ...] = ()) -> None:
    """The same ticket but for what makes the later of the two a repeat complaint of the
    earlier (same customer, same order): its link, and a priority at least as high."""
    ticket, expected = _only_ticket(store, crashed), _only_ticket(store, control)
    fields = [f for f in COMPARED_FIELDS if f not in ignore + REPEAT_FIELDS]
    assert {f: getattr(ticket, f) for f in fields} == {f: getattr(expected, f) for f in fields}
    first, later = sorted((ticket, expected), key=lambda t: t.created_at)
    assert later.repeat_of == first.number
    assert PRIORITIES.index(later.priority) <= PRIORITIES.index(first.priority)
    assert (ticket.customer_name, ticket.contact, ticket.order_ref) == ("Sam Patel", "sam.patel@example.com", "55120")


def test_kill_9_of_the_action_server_mid_form_loses_nothing(stack: Stack, e2e_store: TicketStore) -> None:
    crashed, control = _chats(stack, "kill")
    form, _ = crashed.form()
    assert form == "complaint_form"

    old_pid = stack.pid("actions")
    os.kill(old_pid, signal.SIGKILL)
    _wait_restarted(stack, "actions", old_pid, f"{stack.action_url}/health")

    turn = len(crashed.turns)
    crashed.answer()
    control.answer()
    assert crashed.form()[0] == "complaint_form"
    assert crashed.turns[turn] == control.turns[turn]
    assert any(name and name.startswith("utter_ask") for name in crashed.turns[turn]), crashed.turns[turn]
    crashed.finish()
    control.finish()
    assert crashed.turns == control.turns
    _assert_same_ticket(e2e_store, crashed, control)


def test_while_the_action_server_is_down_the_customer_is_answered(stack: Stack, e2e_store: TicketStore) -> None:
    crashed, control = _chats(stack, "down")
    _, slot = crashed.form()
    supervisor, old_pid = stack.rpc().supervisor, stack.pid("actions")
    supervisor.stopProcess("actions")
    try:
        assert crashed.say(ANSWERS[slot]) in [[text] for text in TECHNICAL_DIFFICULTY]
    finally:
        supervisor.startProcess("actions")
    _wait_restarted(stack, "actions", old_pid, f"{stack.action_url}/health")

    turn = len(control.turns)
    crashed.answer()
    control.answer()
    assert crashed.turns[-1] == control.turns[turn]
    crashed.finish()
    control.finish()
    _assert_same_ticket(e2e_store, crashed, control, ignore=SAID_TWICE)
    # "Your message is saved": the answer the outage met is in the narrative, and so is its repeat
    assert _only_ticket(e2e_store, crashed).narrative.count(ANSWERS[slot]) == 2


def test_a_killed_rasa_server_is_restarted_while_the_other_serves(stack: Stack) -> None:
    killed_port, serving_port = stack.rasa_ports[0], stack.rasa_ports[-1]
    assert killed_port != serving_port, "the e2e stack runs two Rasa servers"
    program = f"rasa-{killed_port}"
    old_pid = stack.pid(program)
    os.kill(old_pid, signal.SIGKILL)

    other = Chat(stack.rasa_urls[-1], stack.api_token, stack.channel_token, f"restart-other-{time.time_ns()}")
    assert other.say(OPENING)
    assert other.form()[0] == "complaint_form"

    status = f"{stack.rasa_urls[0]}/status?{urllib.parse.urlencode({'token': stack.api_token})}"
    _wait_restarted(stack, program, old_pid, status)
    again = Chat(stack.rasa_urls[0], stack.api_token, stack.channel_token, other.sender)
    again.answer()
    assert again.form()[0] == "complaint_form"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "overrides,expected",
    [
        ({"REDIS_PORT": "<free>", "PATH": "/nonexistent"}, "apt-get install redis-server"),
        ({"RASA_PORT": "abc"}, "RASA_PORT must be a whole number, got 'abc'"),
    ],
)
def test_a_stack_that_cannot_start_says_why_in_one_line(overrides: dict[str, str], expected: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path.cwd()), **overrides}
    if env.get("REDIS_PORT") == "<free>":
        env["REDIS_PORT"] = str(_free_port())
    result = subprocess.run(
        [sys.executable, "-m", "scripts.stack", "--check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
