"""Personal data never reaches a log line."""

from __future__ import annotations

import io
import logging

import pytest

from bot.log_privacy import MASK, install, mask


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("contact jane.morris@example.com now", "jane.morris@example.com"),
        ("call +44 7911 123456 please", "7911 123456"),
        ("call 07911123456", "07911123456"),
        ("order 88412 arrived broken", "88412"),
        ("Order number A-55120 was charged", "A-55120"),
        ("ref RT-44821", "RT-44821"),
        ("我的手机13812345678，麻烦回电", "13812345678"),
        ("电话+86 139 1234 5678", "139 1234 5678"),
        ("身份证号11010519491231002X请核对", "11010519491231002X"),
        ("身份证 11010519491231002x", "11010519491231002x"),
        ("订单号：GR-88210457还没到", "GR-88210457"),
        ("单号88412", "88412"),
    ],
)
def test_personal_data_is_masked(text: str, hidden: str) -> None:
    masked = mask(text)
    assert hidden not in masked
    assert MASK in masked


def test_chinese_masking_keeps_the_words_around() -> None:
    assert mask("我的手机13812345678，身份证11010519491231002X，订单号：GR-88210457") == (
        f"我的手机{MASK}，身份证{MASK}，订单号：{MASK}"
    )


def test_an_18_digit_number_with_a_wrong_check_character_is_left_to_the_other_rules() -> None:
    # Not an ID (the check character should be X); standing alone it is still masked as a long number.
    assert mask("code 110105194912310021 end") == f"code {MASK} end"
    assert mask("批次ABC-110105194912310021") == "批次ABC-110105194912310021"


def test_ticket_numbers_and_plain_words_survive() -> None:
    assert mask("ticket CX-7K3F9Q filed in 0.2 s") == "ticket CX-7K3F9Q filed in 0.2 s"
    assert mask("工单 CX-7K3F9Q 已创建，3号送达") == "工单 CX-7K3F9Q 已创建，3号送达"


def test_installed_filter_masks_arguments_too() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("privacy-test")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    install(logger)
    logger.warning("could not reach %s about order %s", "sam@example.com", "88412",
                   extra={"ticket_number": "CX-7K3F9Q", "contact": "sam@example.com"})
    line = stream.getvalue()
    assert "sam@example.com" not in line and "88412" not in line
    assert "level=WARNING" in line and "logger=privacy-test" in line
    assert "ticket_number=CX-7K3F9Q" in line and f"contact={MASK}" in line


@pytest.mark.parametrize("text", ["console account created", "my order arrived broken", "the claim was refused", "booking confirmed"])
def test_a_word_after_a_reference_label_is_not_a_reference(text: str) -> None:
    """A reference has a digit; masking every word after 'order' or 'account' hid log messages' meaning."""
    assert mask(text) == text
