"""Ticket numbers: the shape customers are told, and the slips we forgive when they type one back."""

from __future__ import annotations

import re

import pytest

from bot.ticket_numbers import ALPHABET, new_ticket_number, normalise_ticket_number


def test_alphabet_is_crockford_base32() -> None:
    assert len(ALPHABET) == 32
    assert not set("ILOU") & set(ALPHABET)


def test_new_numbers_have_the_documented_shape() -> None:
    for _ in range(500):
        assert re.fullmatch(r"CX-[0-9A-HJKMNP-TV-Z]{6}", new_ticket_number())


def test_new_numbers_are_not_repeated() -> None:
    numbers = {new_ticket_number() for _ in range(5000)}
    assert len(numbers) > 4990  # a billion values: a handful of clashes at most, never a pattern


def test_a_new_number_normalises_to_itself() -> None:
    number = new_ticket_number()
    assert normalise_ticket_number(number) == number


@pytest.mark.parametrize(
    "typed",
    ["CX-7K3F9Q", "cx-7k3f9q", "cx 7k3f9q", "CX7K3F9Q", "  cx_7K3F9Q ", "CX-7K3-F9Q", "cx 7k3 f9q"],
)
def test_case_spaces_and_hyphens_are_ignored(typed: str) -> None:
    assert normalise_ticket_number(typed) == "CX-7K3F9Q"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("CX-O1IL00", "CX-011100"), ("cx-abcdel", "CX-ABCDE1"), ("CX-0O0OoO", "CX-000000")],
)
def test_confusable_letters_read_as_digits(typed: str, expected: str) -> None:
    assert normalise_ticket_number(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "CX-",
        "CX-7K3F9",
        "CX-7K3F9QQ",
        "CX-7K3F9U",
        "7K3F9Q",
        "XC-7K3F9Q",
        "CX-7K3F9!",
        "order 88412",
        "CX-7K3F9Q please",
    ],
)
def test_anything_else_is_not_a_ticket_number(typed: str) -> None:
    assert normalise_ticket_number(typed) is None
