"""A Telegram customer for the tests: posts updates to the webhook as Telegram does and reads
what the bot sent back from the stand-in's record."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from scripts.stack import Stack
from scripts.telegram_standin import Call, RunningStandin, callback_update, text_update
from tests.e2e.test_restart import ANSWERS, OPENING

__all__ = ["ANSWERS", "OPENING", "TelegramChat", "button_data"]

MAX_TURNS = 20


@dataclass
class TelegramChat:
    """One customer (one chat id); messages alternate between the two Rasa servers."""

    stack: Stack
    standin: RunningStandin
    chat_id: int
    turns: int = 0
    pressed: list[tuple[Call, str]] = field(default_factory=list)
    """Every press: the bot's message and the button's data."""

    @property
    def sender(self) -> str:
        return f"tg:{self.chat_id}"

    def webhook(self) -> str:
        url = self.stack.rasa_urls[self.turns % len(self.stack.rasa_urls)]
        return f"{url}/webhooks/telegram/webhook"

    def post(self, update: dict[str, Any], **kwargs: Any) -> list[Call]:
        """Post one update; the bot's sendMessage calls to this chat it caused (the webhook
        answers after the replies are sent)."""
        before = len(self.standin.state.calls)
        status = self.standin.post(update, url=self.webhook(), **kwargs)
        self.turns += 1
        assert status == 200, status
        return [c for c in self.standin.state.calls[before:] if c.method == "sendMessage"
                and c.params["chat_id"] == self.chat_id]

    def say(self, text: str) -> list[Call]:
        return self.post(text_update(self.standin.state, self.chat_id, text))

    def press(self, message: Call, data: str) -> list[Call]:
        """Press the button of ``message`` that carries ``data``."""
        assert data in button_data(message), (data, button_data(message))
        self.pressed.append((message, data))
        return self.post(callback_update(self.standin.state, message, data))

    def tracker(self) -> dict[str, Any]:
        query = urllib.parse.urlencode({"token": self.stack.api_token})
        url = f"{self.stack.rasa_urls[0]}/conversations/{self.sender}/tracker?{query}"
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)

    def form(self) -> tuple[str | None, str | None]:
        tracker = self.tracker()
        return (tracker.get("active_loop") or {}).get("name"), tracker["slots"].get("requested_slot")

    def finish(self, last: list[Call], *, buttons: bool) -> None:
        """Answer until the form is done; with ``buttons``, press a keyboard whenever one is shown."""
        for _ in range(MAX_TURNS):
            _, slot = self.form()
            if slot is None:
                return
            keyboard = last[-1] if last and last[-1].params.get("reply_markup") else None
            if buttons and keyboard and slot == "chosen_option":
                last = self.press(keyboard, button_data(keyboard)[0])
            elif buttons and keyboard and slot == "complaint_confirmed":
                last = self.press(keyboard, "/affirm")
            else:
                assert slot in ANSWERS, f"unexpected question for {slot!r}"
                last = self.say(ANSWERS[slot])
        raise AssertionError(f"no end of the form after {MAX_TURNS} turns")


def keyboard_rows(message: Call) -> list[list[dict[str, str]]]:
    return message.params["reply_markup"]["inline_keyboard"]


def button_data(message: Call) -> list[str]:
    """The callback data of a keyboard's buttons, in order (what a press sends back)."""
    return [button["callback_data"] for row in keyboard_rows(message) for button in row]
