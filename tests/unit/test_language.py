"""Each message's language: Chinese or English when it is clear, the conversation's otherwise."""

from __future__ import annotations

import pytest

from bot.language import detect_language, message_language
from bot.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    "text",
    [
        "你好，我买的手机屏幕有裂痕，要求退货",
        "你好，我買的手機螢幕有裂痕，要求退貨",  # Traditional
        "快递三天了还没到，订单号88412",
        "我的iPhone 13屏幕坏了",
        "不知道",
        "不对，是5号",
        "我要退款",
    ],
)
def test_chinese_messages_are_chinese(text: str) -> None:
    assert detect_language(text) == "zh"


@pytest.mark.parametrize(
    "text",
    [
        "My parcel never arrived and nobody answers the phone",
        "The kettle I bought last week stopped working",
        "I want a refund",
        "order 88412 never came",
        "why do you need this",
        "not sure",
    ],
)
def test_english_messages_are_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "OK",
        "1",
        "订单 88412",
        "好的",
        "谢谢",
        "ok的",
        "jane.morris@example.com",
        "GR-88210457",
        "+86 138 1234 5678",
        "https://shop.example.com/orders/88412",
        "👍",
        "",
        "スマホの画面が割れています",  # Japanese: Han characters, but not Chinese
        "je voudrais un remboursement",  # French
        "My 手机 is broken",  # mixed: neither wins
        "no idea",  # py3langid ranks Italian first: too short to tell
    ],
)
def test_short_mixed_or_other_messages_decide_nothing(text: str) -> None:
    assert detect_language(text) is None


def test_a_conversation_switches_only_on_clear_messages() -> None:
    messages = [
        ("ok", "en"),  # nothing said yet: the default
        ("你好，我的快递一直没到", "zh"),
        ("订单 88412", "zh"),
        ("ok", "zh"),
        ("13812345678", "zh"),
        ("Sorry, can we continue in English please", "en"),
        ("好的", "en"),
        ("还是用中文吧", "zh"),
    ]
    language = None
    for text, expected in messages:
        language = message_language(text, previous=language, default="en")
        assert language == expected, text


def test_the_default_applies_until_a_message_decides() -> None:
    assert message_language("1", previous=None, default="zh") == "zh"
    assert message_language("The screen is cracked", previous=None, default="zh") == "en"


def test_default_language_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTS_DEFAULT_LANGUAGE", raising=False)
    assert load_settings().default_language == "en"
    monkeypatch.setenv("COMPLAINTS_DEFAULT_LANGUAGE", " ZH ")
    assert load_settings().default_language == "zh"
    monkeypatch.setenv("COMPLAINTS_DEFAULT_LANGUAGE", "fr")
    with pytest.raises(SettingsError, match="COMPLAINTS_DEFAULT_LANGUAGE must be one of en, zh, got 'fr'"):
        load_settings()
