"""Talk to the running assistant from a terminal, over its REST channel.

Usage: make chat   (or: .venv/bin/python -m scripts.chat [--url http://127.0.0.1:5005])
It sends the REST channel's bearer token: $REST_CHANNEL_TOKEN, else the one 'make run' generated.
Buttons are shown as [a], [b], ...; type the letter to press one, or just type.
Type /quit to leave.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import urllib.error
import urllib.request
import uuid

from scripts.stack import stack_environment


def send(url: str, token: str, sender: str, text: str) -> list[dict]:
    """One customer message; the assistant's replies."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(f"{url}/webhooks/rest/webhook", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def show(replies: list[dict]) -> dict[str, str]:
    """Print the replies; return the button letters and their payloads."""
    buttons: dict[str, str] = {}
    for reply in replies:
        if reply.get("text"):
            print(f"bot> {reply['text']}")
        for button in reply.get("buttons") or []:
            letter = string.ascii_lowercase[len(buttons)]
            buttons[letter] = button["payload"]
            print(f"     [{letter}] {button['title']}")
    return buttons


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    args = parser.parse_args()
    token = stack_environment()["REST_CHANNEL_TOKEN"]
    sender = f"terminal-{uuid.uuid4().hex[:8]}"
    print(f"Connected to {args.url} as {sender}. Tell the assistant what went wrong; /quit to leave.")
    buttons: dict[str, str] = {}
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if text == "/quit":
            return 0
        message = buttons.get(text.lower(), text)
        try:
            buttons = show(send(args.url, token, sender, message))
        except urllib.error.HTTPError as exc:
            print(f"(the assistant answered {exc.code} {exc.reason})")
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            print(f"(cannot reach the assistant at {args.url}: {exc}; is 'make run' running?)")
        except KeyboardInterrupt:
            print()
            return 0


if __name__ == "__main__":
    sys.exit(main())
