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
    ],
)
def test_personal_data_is_masked(text: str, hidden: str) -> None:
    masked = mask(text)
    assert hidden not in masked
    assert MASK in masked


def test_ticket_numbers_and_plain_words_survive() -> None:
    assert mask("ticket CX-7K3F9Q filed in 0.2 s") == "ticket CX-7K3F9Q filed in 0.2 s"


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
