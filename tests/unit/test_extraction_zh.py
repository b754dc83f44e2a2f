"""Chinese complaint details: dates and times, mobiles, order numbers, places and amounts."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain_config import DomainConfigError
from bot.extraction_zh import (
    ChineseLexicon,
    find_amounts,
    find_details,
    find_mobiles,
    find_moment,
    find_order_ref,
    find_place,
    load_chinese_lexicon,
)
from bot.extraction_zh.dates import with_digits
from bot.settings import PROJECT_ROOT

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=SHANGHAI)  # a Monday afternoon


@pytest.fixture(scope="module")
def lexicon() -> ChineseLexicon:
    return load_chinese_lexicon(PROJECT_ROOT / "settings")


# --- dates and times -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day", "at", "words"),
    [
        ("我昨天在北京朝阳门店买的手机", date(2026, 11, 29), None, "昨天"),
        ("前天收到的货就是坏的", date(2026, 11, 28), None, "前天"),
        ("大前天下的单", date(2026, 11, 27), None, "大前天"),
        ("两天前就该送到了", date(2026, 11, 28), None, "2天前"),
        ("上周二送到的，外包装破了", date(2026, 11, 24), None, "上周二"),
        ("上星期五打过电话", date(2026, 11, 27), None, "上星期五"),
        ("周二那天", date(2026, 11, 24), None, "周二"),
        ("礼拜天去的店里", date(2026, 11, 29), None, "礼拜天"),
        ("这周一下午3点左右", date(2026, 11, 30), time(15, 0), "这周一下午3点"),
        ("3号收到的", date(2026, 11, 3), None, "3号"),
        ("是5号，不是3号", date(2026, 11, 5), None, "5号"),
        ("11月3日晚上八点", date(2026, 11, 3), time(20, 0), "11月3日晚上8点"),
        ("十一月三日晚上八点半", date(2026, 11, 3), time(20, 30), "11月3日晚上8点半"),
        ("12月3日买的", date(2025, 12, 3), None, "12月3日"),
        ("2025年6月18日下的订单", date(2025, 6, 18), None, "2025年6月18日"),
        ("昨晚十点外卖才到", date(2026, 11, 29), time(22, 0), "昨晚10点"),
        ("前天下午3点15分", date(2026, 11, 28), time(15, 15), "前天下午3点15分"),
        ("今天早上9点就出门等了", date(2026, 11, 30), time(9, 0), "今天早上9点"),
        ("凌晨12点还没送到", date(2026, 11, 30), time(0, 0), "凌晨12点"),
        ("晚上8:30打的电话", date(2026, 11, 29), time(20, 30), "晚上8:30"),
        ("上午10点", date(2026, 11, 30), time(10, 0), "上午10点"),
    ],
)
def test_dates_and_times(text: str, day: date, at: time | None, words: str, lexicon: ChineseLexicon) -> None:
    moment = find_moment(text, NOW, lexicon)
    assert moment is not None
    assert (moment.day, moment.time, moment.words) == (day, at, words)
    assert moment.at(NOW) == (datetime.combine(day, at, tzinfo=SHANGHAI) if at else None)


def test_relative_days_are_counted_on_the_customers_own_clock(lexicon: ChineseLexicon) -> None:
    shanghai = datetime(2026, 11, 30, 0, 30, tzinfo=SHANGHAI)  # 2026-11-29 16:30 in UTC
    utc = shanghai.astimezone(ZoneInfo("UTC"))
    assert find_moment("昨天", shanghai, lexicon).day == date(2026, 11, 29)
    assert find_moment("昨天", utc, lexicon).day == date(2026, 11, 28)
    assert find_moment("昨晚八点", shanghai, lexicon).at(shanghai) == datetime(2026, 11, 29, 20, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "text",
    ["质量太差了", "一点也不好", "差一点就摔了", "早一点送来就好了", "13月45日", "2月30日", "25点", "第33号", "", "一百分的差评"],
)
def test_no_date_where_there_is_none(text: str, lexicon: ChineseLexicon) -> None:
    assert find_moment(text, NOW, lexicon) is None


def test_chinese_numerals_become_digits_only_before_date_and_time_words(lexicon: ChineseLexicon) -> None:
    text = "十一月三日晚上八点，一点也不准时，两天前就该到，下午三点送，等到五点半"
    assert with_digits(text, lexicon) == "11月3日晚上8点，一点也不准时，2天前就该到，下午3点送，等到5点半"


# --- mobiles and references ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("我的手机13812345678，麻烦回电", ["+8613812345678"]),
        ("电话 +86 139 1234 5678", ["+8613912345678"]),
        ("打0086-150-1234-5678或者18912345678都行", ["+8615012345678", "+8618912345678"]),
        ("座机010-62345678", []),
        ("号码12012345678", []),
        ("138123456789", []),
        ("手机号是138-1234", []),
    ],
)
def test_mainland_mobiles(text: str, numbers: list[str]) -> None:
    assert [e164 for _, e164 in find_mobiles(text)] == numbers


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("订单号 88412 还没发货", "88412"),
        ("单号: GR-88210457", "GR-88210457"),
        ("订单号：gr-88210457，麻烦查一下", "GR-88210457"),
        ("订单编号是A55120", "A55120"),
        ("我的快递单号SF1234567890一直没更新", "SF1234567890"),
        ("运单号为YT88776655", "YT88776655"),
        ("就是GR-88210457这一单", "GR-88210457"),
        ("订单号13812345678", "13812345678"),
    ],
)
def test_order_references(text: str, reference: str, lexicon: ChineseLexicon) -> None:
    found = find_order_ref(text, lexicon.order_labels)
    assert found is not None and found[0] == reference
    assert reference in text[found[1][0] : found[1][1]].upper()


@pytest.mark.parametrize(
    "text", ["订单号呢？", "订单已经取消了", "订单 12", "单号CX-7K3F9Q", "单号11010519491231002X", "我买了3件", ""]
)
def test_no_reference_where_there_is_none(text: str, lexicon: ChineseLexicon) -> None:
    assert find_order_ref(text, lexicon.order_labels) is None


# --- places ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("我昨天在北京朝阳门店买的手机", "北京朝阳门店"),
        ("上海徐家汇网点的工作人员态度很差", "上海徐家汇网点"),
        ("在徐家汇网点办的业务", "徐家汇网点"),
        ("去了深圳南山分店，说没货", "深圳南山分店"),
        ("广州天河营业厅排了两个小时", "广州天河营业厅"),
        ("我住的如家酒店隔音太差", "如家酒店"),
        ("我在北京买的", "北京"),
    ],
)
def test_places(text: str, place: str, lexicon: ChineseLexicon) -> None:
    assert find_place(text, lexicon) == place


@pytest.mark.parametrize("text", ["这家店太差了", "你们店的服务有问题", "店员很凶", "网上买的", "北京时间", "商店", ""])
def test_no_place_where_there_is_none(text: str, lexicon: ChineseLexicon) -> None:
    assert find_place(text, lexicon) is None


# --- amounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("花了三百五十元买的", [("350", "三百五十元")]),
        ("价格¥1,299.50", [("1299.50", "¥1,299.50")]),
        ("多收了我20块钱", [("20", "20块钱")]),
        ("两百块，太贵了", [("200", "两百块")]),
        ("人民币350元", [("350", "人民币350元")]),
        ("发票上写的叁佰伍拾圆", [("350", "叁佰伍拾圆")]),
        ("运费12元，商品88.5元", [("12", "12元"), ("88.5", "88.5元")]),
        ("350 RMB", [("350", "350 RMB")]),
    ],
)
def test_amounts(text: str, amounts: list[tuple[str, str]]) -> None:
    found = find_amounts(text)
    assert [(amount.value, amount.currency, amount.words) for amount in found] == [
        (Decimal(value), "CNY", words) for value, words in amounts
    ]


@pytest.mark.parametrize("text", ["一块蛋糕都没有", "元旦那天", "0元", "第3单元", "很多钱", ""])
def test_no_amount_where_there_is_none(text: str) -> None:
    assert find_amounts(text) == []


# --- a whole message -------------------------------------------------------------------


def test_a_whole_complaint(lexicon: ChineseLexicon) -> None:
    text = "订单号88412，昨天下午3点在北京朝阳门店买的手机，花了三百五十元，屏幕有裂痕。手机13812345678"
    details = find_details(text, now=NOW, lexicon=lexicon)
    assert details.order_ref == "88412"
    assert details.mobiles == ("+8613812345678",)
    assert details.place == "北京朝阳门店"
    assert (details.moment.day, details.moment.time) == (date(2026, 11, 29), time(15, 0))
    assert [(amount.value, amount.words) for amount in details.amounts] == [(Decimal(350), "三百五十元")]
    assert details.slot_values(NOW) == (
        {"incident_date": "2026-11-29", "order_ref": "88412", "incident_location": "北京朝阳门店",
         "contact": "+8613812345678", "contact_kind": "phone"},
        {},
    )


def test_numbers_claimed_by_a_reference_or_phone_are_not_read_again(lexicon: ChineseLexicon) -> None:
    details = find_details("身份证11010519491231002X，3号收到的", now=NOW, lexicon=lexicon)
    assert (details.order_ref, details.mobiles, details.moment.day, details.amounts) == (None, (), date(2026, 11, 3), ())
    details = find_details("订单号20261103，手机13812345678", now=NOW, lexicon=lexicon)
    assert (details.order_ref, details.mobiles, details.moment, details.amounts) == (
        "20261103", ("+8613812345678",), None, ()
    )


def test_a_date_still_to_come_is_a_problem(lexicon: ChineseLexicon) -> None:
    details = find_details("2026年12月3日收到的", now=NOW, lexicon=lexicon)
    assert details.slot_values(NOW) == ({}, {"incident_date": "future_date"})


def test_a_bad_lexicon_file_names_the_key(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "settings" / "extraction_zh.yml").read_text(encoding="utf-8")
    (tmp_path / "extraction_zh.yml").write_text(text.replace("cities: [", "cities_typo: ["), encoding="utf-8")
    with pytest.raises(DomainConfigError, match="extraction_zh.yml: cities = None: expected a non-empty list"):
        load_chinese_lexicon(tmp_path)
