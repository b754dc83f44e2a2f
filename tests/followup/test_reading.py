"""Reading typed survey answers: real phrasings, and the inputs that must be asked about again."""

from __future__ import annotations

import pytest

from bot.followup.reading import mentions_rating, parse_rating, parse_solved


@pytest.mark.parametrize(("text", "rating"), [
    ("2", 2),
    ("4 out of 5", 4),
    ("4/5", 4),
    ("five", 5),
    ("Four!", 4),
    ("five out of five", 5),
    ("it was ok, 3", 3),
    ("I'd give it a 4", 4),
    ("3 stars", 3),
    ("4.", 4),
    ("it took 3 weeks but fine in the end, 4", 4),
    ("CX-7K3F9Q: 5", 5),
    ("⭐⭐⭐⭐", 4),
    ("★★★★☆", 4),
    ("⭐️⭐️⭐️", 3),
    ("1 - useless", 1),
])
def test_a_rating_is_read_from_real_phrasings(text: str, rating: int) -> None:
    assert parse_rating(text) == rating
    assert mentions_rating(text)


@pytest.mark.parametrize(("text", "mentions"), [
    ("7", True),  # a number, out of range: asked again, never clamped
    ("0", True),
    ("-1", True),
    ("4.5", True),
    ("ten", True),
    ("meh", False),
    ("yes thanks", False),
    ("3 or 4", False),  # two numbers: which one?
    ("between 3 and 4", False),
    ("8/10", False),  # another scale
    ("10/10", False),
    ("at 5", False),  # a time
    ("I rang 3 times", False),  # a count
    ("no one called me back", False),  # a pronoun
    ("order 88412", False),  # a reference
    ("", False),
])
def test_anything_else_is_no_rating(text: str, mentions: bool) -> None:
    assert parse_rating(text) is None
    assert mentions_rating(text) is mentions


@pytest.mark.parametrize("text", [
    "yes", "yes thanks", "Yep, all sorted thank you", "it was", "yes it was", "it's fixed now", "solved",
    "all good now", "of course", "I think so", "definitely",
])
def test_yes_is_read(text: str) -> None:
    assert parse_solved(text) is True


@pytest.mark.parametrize("text", [
    "no", "no, it is still broken", "nope", "not really", "it wasn't", "it wasnt", "it's not fixed", "not solved",
    "still waiting", "I don't think so", "absolutely not", "it is still not working", "no thanks",
])
def test_no_is_read(text: str) -> None:
    assert parse_solved(text) is False


@pytest.mark.parametrize("text", ["yes but it broke again", "kind of", "no it works now", "4", "meh", ""])
def test_neither_or_both_is_asked_again(text: str) -> None:
    assert parse_solved(text) is None
