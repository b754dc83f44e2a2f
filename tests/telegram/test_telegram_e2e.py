"""The Telegram channel end to end: the real stack (trained model, action server, two Rasa
servers, Redis, SQLite) receiving updates on its webhook as Telegram sends them, and
answering through python-telegram-bot to the local Bot API stand-in."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import bot.evidence
from bot.outbound import Button, Conversation, OutboundMessage, PermanentDeliveryError, TransientDeliveryError
from bot.outbound.telegram import TelegramSettings, TelegramTransport
from bot.tickets import TicketRecord, TicketStore
from scripts.stack import Stack
from scripts.telegram_standin import (
    SECRET_HEADER,
    RunningStandin,
    document_update,
    edited_update,
    message_update,
    photo_update,
    text_update,
)
from tests.telegram.chat import OPENING, TelegramChat
from bot.channel_policy import channel_policy

RESPONSES = yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))["responses"]
CHAT_IDS = itertools.count(500_000_000 + secrets.randbelow(10**8))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + secrets.token_bytes(20_000)
PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 50 + b"%%EOF\n"


def text_of(name: str) -> str:
    return RESPONSES[name][0]["text"]


@pytest.fixture
def chat(telegram_stack: Stack, standin: RunningStandin) -> TelegramChat:
    return TelegramChat(telegram_stack, standin, next(CHAT_IDS))


def only_ticket(store: TicketStore, chat: TelegramChat) -> TicketRecord:
    tickets = store.find_by_sender("telegram", chat.sender)
    assert len(tickets) == 1, [t.number for t in tickets]
    return tickets[0]


def test_a_full_complaint_by_text(chat: TelegramChat, standin: RunningStandin, telegram_store: TicketStore) -> None:
    first = chat.say(OPENING)
    assert first, "the opening got no reply"
    assert chat.form()[0] == "complaint_form"
    chat.finish(first, buttons=False)

    ticket = only_ticket(telegram_store, chat)
    assert (ticket.channel, ticket.sender_id, ticket.status) == ("telegram", chat.sender, "new")
    assert (ticket.customer_name, ticket.contact, ticket.contact_kind) == ("Sam Patel", "sam.patel@example.com", "email")
    assert (ticket.order_ref, ticket.incident_location) == ("55120", "website")
    assert ticket.chosen_option == ticket.offered_options[0]
    assert ticket.narrative.startswith(OPENING)
    sent = standin.state.sent(chat_id=chat.chat_id)
    assert sum(call.params["text"].count(ticket.number) for call in sent) == 1
    assert all("parse_mode" not in call.params for call in sent)  # plain text: nothing to escape
    assert standin.state.sent("sendChatAction", chat.chat_id)[0].params["action"] == "typing"


def test_a_turns_replies_arrive_as_one_message(chat: TelegramChat, standin: RunningStandin) -> None:
    """The opening gets several replies (acknowledgement, empathy, a question): one send, in order."""
    replies = chat.say(OPENING)
    assert len(replies) == 1
    tracker = chat.tracker()
    last_user = max(i for i, e in enumerate(tracker["events"]) if e["event"] == "user")
    said = [e["text"] for e in tracker["events"][last_user:] if e["event"] == "bot" and e.get("text")]
    assert len(said) >= 2
    assert replies[0].params["text"] == "\n\n".join(text.strip() for text in said)


def test_a_full_complaint_by_buttons(chat: TelegramChat, standin: RunningStandin, telegram_store: TicketStore) -> None:
    chat.finish(chat.say(OPENING), buttons=True)

    ticket = only_ticket(telegram_store, chat)
    assert ticket.channel == "telegram"
    assert [data for _, data in chat.pressed] == [button_data_for(ticket.offered_options[0]), "/affirm"]
    assert ticket.chosen_option == ticket.offered_options[0]
    sent = standin.state.sent(chat_id=chat.chat_id)
    assert sum(call.params["text"].count(ticket.number) for call in sent) == 1
    # each press was answered and its keyboard removed
    edits = standin.state.sent("editMessageReplyMarkup", chat.chat_id)
    assert [e.params["message_id"] for e in edits] == [m.params["message_id"] for m, _ in chat.pressed]
    assert all("reply_markup" not in e.params for e in edits)
    answered = {c.params["callback_query_id"] for c in standin.state.calls if c.method == "answerCallbackQuery"}
    assert len(answered) >= 2

    # a second press of a used keyboard does nothing: no reply, no message to the assistant, no ticket
    user_messages = [e["text"] for e in chat.tracker()["events"] if e["event"] == "user"]
    confirmation = chat.pressed[-1][0]
    assert chat.press(confirmation, "/deny") == []
    assert [e["text"] for e in chat.tracker()["events"] if e["event"] == "user"] == user_messages
    assert only_ticket(telegram_store, chat).number == ticket.number


def button_data_for(option_id: str) -> str:
    return "/choose_option" + json.dumps({"chosen_option": option_id})


def test_a_photo_is_kept_as_evidence(chat: TelegramChat, standin: RunningStandin) -> None:
    replies = chat.post(photo_update(standin.state, chat.chat_id, JPEG))
    assert [r.params["text"] for r in replies] == [text_of("utter_attachment_received")]
    kept = bot.evidence.evidence_for(chat.sender)
    assert [(e.media_type, e.size, e.source) for e in kept] == [("image/jpeg", len(JPEG), "telegram")]
    assert bot.evidence.open_evidence(kept[0].id) == JPEG  # the full size, not the thumbnail

    replies = chat.post(document_update(standin.state, chat.chat_id, PDF, "receipt.pdf", "application/pdf"))
    assert [r.params["text"] for r in replies] == [text_of("utter_attachment_received")]
    assert [(e.media_type, e.size) for e in bot.evidence.evidence_for(chat.sender)] == [
        ("image/jpeg", len(JPEG)), ("application/pdf", len(PDF))]

    renamed = b"MZ\x90\x00" + secrets.token_bytes(2000)  # a program named like a photo
    replies = chat.post(document_update(standin.state, chat.chat_id, renamed, "damage.jpg", "image/jpeg"))
    assert [r.params["text"] for r in replies] == [text_of("utter_attachment_wrong_type")]
    assert len(bot.evidence.evidence_for(chat.sender)) == 2


def test_a_forged_webhook_call_is_refused_and_nothing_is_processed(
    chat: TelegramChat, standin: RunningStandin, telegram_stack: Stack
) -> None:
    marker = f"forged-{secrets.token_hex(6)}"
    update = text_update(standin.state, chat.chat_id, f"I am not Telegram {marker}")
    url = chat.webhook()
    assert standin.post(update, url=url, secret="") == 401
    assert standin.post(update, url=url, secret="wrong-" + secrets.token_urlsafe(16)) == 403
    assert standin.state.sent(chat_id=chat.chat_id) == []
    assert [e for e in chat.tracker()["events"] if e["event"] == "user"] == []
    logs = "".join(p.read_text(errors="replace") for p in Path(telegram_stack.log_dir).glob("rasa-*.log"))
    assert logs.count("telegram webhook call without the right secret") == 2 and marker not in logs


def test_a_duplicate_update_is_handled_once(chat: TelegramChat, standin: RunningStandin) -> None:
    update = text_update(standin.state, chat.chat_id, OPENING)
    first = chat.post(update)
    assert first
    assert chat.post(update) == []
    assert [e["text"] for e in chat.tracker()["events"] if e["event"] == "user"] == [OPENING]


def test_a_429_is_waited_out_and_the_reply_sent_once(chat: TelegramChat, standin: RunningStandin) -> None:
    standin.state.fail_next("sendMessage", 2)
    refused_before = len(standin.state.refused)
    replies = chat.say(OPENING)
    method, retry_after, refused_at = standin.state.refused[refused_before]
    assert (method, retry_after) == ("sendMessage", 2)
    assert replies and replies[0].at - refused_at >= 2.0
    assert len({r.params["text"] for r in replies}) == len(replies)  # nothing sent twice


def test_a_message_pushed_later_arrives_once(standin: RunningStandin, telegram_settings: TelegramSettings,
                                             telegram_stack: Stack) -> None:
    chat_id = next(CHAT_IDS)
    message = OutboundMessage("We have refunded your order; it shows in 3 to 5 days.", (Button("Thanks", "/thank"),),
                              author="agent", author_name="Priya, customer care")
    key = f"test:push:{chat_id}"

    async def push() -> None:
        transport = TelegramTransport(telegram_settings)
        try:
            await transport.send(Conversation("telegram", str(chat_id)), message, key)
            await transport.send(Conversation("telegram", str(chat_id)), message, key)
        finally:
            await transport.close()

    asyncio.run(push())
    sent = standin.state.sent(chat_id=chat_id)
    assert [c.params["text"] for c in sent] == [f"Priya, customer care:\n{message.text}"]
    assert sent[0].params["reply_markup"] == {"inline_keyboard": [[{"text": "Thanks", "callback_data": "/thank"}]]}


def test_a_push_maps_telegram_failures(standin: RunningStandin, telegram_settings: TelegramSettings,
                                       telegram_stack: Stack) -> None:
    chat_id = next(CHAT_IDS)
    long_text = " ".join(f"Sentence number {n} of a long update." for n in range(400))

    async def push(key: str, text: str = "Your ticket has been updated.") -> None:
        transport = TelegramTransport(telegram_settings)
        try:
            await transport.send(Conversation("telegram", str(chat_id)), OutboundMessage(text), key)
        finally:
            await transport.close()

    standin.state.fail_next("sendMessage", 7)
    with pytest.raises(TransientDeliveryError) as flood:
        asyncio.run(push(f"flood:{chat_id}"))
    assert flood.value.retry_after == 7.0
    asyncio.run(push(f"flood:{chat_id}"))  # the retry goes through: the key was released
    assert len(standin.state.sent(chat_id=chat_id)) == 1

    asyncio.run(push(f"long:{chat_id}", long_text))
    parts = [c.params["text"] for c in standin.state.sent(chat_id=chat_id)[1:]]
    assert len(parts) == 4 and all(len(p) <= 4096 and p.endswith("update.") for p in parts)
    assert " ".join(parts) == long_text

    standin.state.blocked.add(chat_id)
    with pytest.raises(PermanentDeliveryError) as blocked:
        asyncio.run(push(f"blocked:{chat_id}"))
    assert blocked.value.reason == "blocked"


def test_non_text_messages_get_their_own_reply(chat: TelegramChat, standin: RunningStandin) -> None:
    state = standin.state
    voice = {"voice": {"file_id": "v1", "file_unique_id": "v1", "duration": 3}}
    sticker = {"sticker": {"file_id": "s1", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512,
                           "is_animated": False, "is_video": False}}
    assert [r.params["text"] for r in chat.post(message_update(state, chat.chat_id, **voice))] == [
        text_of("utter_voice_not_supported")]
    assert [r.params["text"] for r in chat.post(message_update(state, chat.chat_id, **sticker))] == [
        text_of("utter_sticker_received")]
    replies = chat.post(message_update(state, chat.chat_id, location={"latitude": 51.5074, "longitude": -0.1278}))
    assert replies[0].params["text"] == text_of("utter_location_received")
    located = [e for e in chat.tracker()["events"] if e["event"] == "user"][-1]
    assert located["metadata"]["location"] == "51.5074,-0.1278"


def test_an_edited_message_is_read_as_the_correction(chat: TelegramChat, standin: RunningStandin) -> None:
    original = text_update(standin.state, chat.chat_id, "My parcel never arrived, order 11111")
    chat.post(original)
    replies = chat.post(edited_update(standin.state, chat.chat_id, original["message"]["message_id"],
                                      "My parcel never arrived, order 22222"))
    assert replies[0].params["text"] == text_of("utter_edit_noted")
    assert len(replies) >= 2
    user = [e for e in chat.tracker()["events"] if e["event"] == "user"]
    assert user[-1]["text"] == "My parcel never arrived, order 22222" and user[-1]["metadata"]["edited"] is True


def _post_raw(url: str, body: bytes, secret: str) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", SECRET_HEADER: secret})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_bad_input_is_refused_or_ignored(chat: TelegramChat, standin: RunningStandin, telegram_stack: Stack) -> None:
    secret, url = standin.state.webhook_secret or "", chat.webhook()
    assert _post_raw(url, b"{" + b" " * 70_000 + b"}", secret) == 413
    assert _post_raw(url, b'{"update_id": 1, "message": ', secret) == 400
    assert _post_raw(url, b'["not", "an", "update"]', secret) == 400
    unknown = {"update_id": standin.state.next_update_id(), "a_kind_telegram_adds_later": {"id": 1}}
    assert chat.post(unknown) == []
    logs = "".join(p.read_text(errors="replace") for p in Path(telegram_stack.log_dir).glob("rasa-*.log"))
    assert "telegram update of an unhandled type ignored" in logs and "a_kind_telegram_adds_later" in logs


def test_a_flood_from_one_chat_is_limited_without_slowing_another(
    telegram_stack: Stack, standin: RunningStandin
) -> None:
    flooder, other = (TelegramChat(telegram_stack, standin, next(CHAT_IDS)) for _ in range(2))
    sticker = {"sticker": {"file_id": "s1", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512,
                           "is_animated": False, "is_video": False}}
    allowed = channel_policy().rate_limit.messages
    updates = [message_update(standin.state, flooder.chat_id, **sticker) for _ in range(allowed + 5)]

    async def flood() -> list[int]:
        from scripts.telegram_standin import post_update

        return await asyncio.gather(*(post_update(standin.state, u, url=flooder.webhook()) for u in updates))

    assert standin.run(flood()) == [200] * len(updates)
    texts = [c.params["text"] for c in standin.state.sent(chat_id=flooder.chat_id)]
    assert texts.count(text_of("utter_sticker_received")) == allowed
    assert texts.count(text_of("utter_slow_down")) == 1
    started = time.monotonic()
    assert [r.params["text"] for r in other.post(message_update(standin.state, other.chat_id, **sticker))] == [
        text_of("utter_sticker_received")]
    assert time.monotonic() - started < 2.0
