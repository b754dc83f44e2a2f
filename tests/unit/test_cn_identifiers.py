"""Chinese resident ID numbers are recognised by their check character, mobiles by their shape."""

from __future__ import annotations

import pytest

from bot.cn_identifiers import MAINLAND_MOBILE, is_resident_id, resident_id_check_character, resident_ids

VALID_IDS = ["11010519491231002X", "440524188001010014", "110101199003074477"]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_resident_ids_pass_the_check(number: str) -> None:
    assert is_resident_id(number)
    assert is_resident_id(number.lower())
    assert resident_id_check_character(number[:17]) == number[17]


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # check character should be X
        "11010519491231002Y",  # not a check character at all
        "440524188001010015",  # last digit off by one
        "11010519491231002",  # 17 characters
        "1101051949123100200",  # 19 characters
        "ABCDEFGHIJKLMNOPQR",
        "",
    ],
)
def test_numbers_with_a_wrong_check_or_length_are_not_ids(number: str) -> None:
    assert not is_resident_id(number)


def test_check_character_needs_17_digits() -> None:
    with pytest.raises(ValueError, match="17 digits"):
        resident_id_check_character("1234")


def test_ids_are_found_inside_chinese_sentences_but_not_inside_longer_numbers() -> None:
    text = "我的身份证号是11010519491231002X，订单号440524188001010015，流水1101051949123100200"
    assert [match.group() for match in resident_ids(text)] == ["11010519491231002X"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("我的手机13812345678，麻烦回电", "13812345678"),
        ("电话 +86 138 1234 5678 随时打", "+86 138 1234 5678"),
        ("打给我0086-139-1234-5678", "0086-139-1234-5678"),
        ("手机号是19912345678。", "19912345678"),
    ],
)
def test_mainland_mobiles_are_found_next_to_han_characters(text: str, found: str) -> None:
    assert [match.group() for match in MAINLAND_MOBILE.finditer(text)] == [found]


@pytest.mark.parametrize("text", ["订单12345678901234", "座机010-12345678", "编号A13812345678", "12812345678"])
def test_other_numbers_are_not_mobiles(text: str) -> None:
    assert not MAINLAND_MOBILE.search(text)
