"""The customer's time zone as a channel reports it: only names the tz database knows are believed."""

from __future__ import annotations

from typing import Any

import pytest

from bot.time_zones import known_time_zone, phone_time_zone, reported_time_zone
from web.chat import parse_time_zone


@pytest.mark.parametrize("name", ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"])
def test_a_real_iana_zone_is_kept(name: str) -> None:
    assert known_time_zone(name) == name
    assert parse_time_zone({"text": "hi", "time_zone": name}) == name


@pytest.mark.parametrize("sent", [
    "Mars/Olympus_Mons", "europe/london", "../../etc/passwd", "/etc/localtime", "", "Europe/" + "x" * 80, 42, None,
    ["Europe/London"],
])
def test_anything_else_is_dropped(sent: Any) -> None:
    assert known_time_zone(sent) is None
    assert parse_time_zone({"text": "hi", "time_zone": sent}) is None


def test_a_body_without_a_zone_has_none() -> None:
    assert parse_time_zone({"text": "hi"}) is None
    assert parse_time_zone("not a body") is None


def _said(zone: Any = None) -> dict[str, Any]:
    return {"event": "user", "text": "hi", "metadata": {} if zone is None else {"timezone": zone}}


def test_the_newest_message_that_reported_a_known_zone_counts() -> None:
    events = [_said("Europe/Paris"), {"event": "bot", "metadata": {"timezone": "Asia/Tokyo"}},
              _said("America/New_York"), _said("Not/AZone"), _said()]
    assert reported_time_zone(events) == "America/New_York"
    assert reported_time_zone(events, {"timezone": "Europe/Berlin"}) == "Europe/Berlin"
    assert reported_time_zone(events, {"timezone": "Not/AZone"}) == "America/New_York"
    assert reported_time_zone([_said(), {"event": "user"}]) is None


@pytest.mark.parametrize(("number", "zone"), [
    ("+12125550123", "America/New_York"), ("+14155550100", "America/Los_Angeles"), ("+4915112345678", "Europe/Berlin"),
    ("+33612345678", "Europe/Paris"), ("+8613800138000", "Asia/Shanghai"), ("+442079460000", "Europe/London"),
])
def test_a_phone_number_whose_prefix_lies_in_one_zone_gives_that_zone(number: str, zone: str) -> None:
    assert phone_time_zone(number) == zone


@pytest.mark.parametrize("number", [
    "+447911123456",  # a UK mobile: Guernsey, Isle of Man, Jersey and London
    "+18005551234",   # toll-free across North America
    "+79161234567",   # a Russian mobile: eleven time zones
    "+61412345678",   # an Australian mobile
    "+447700900123",  # not a valid number (a range kept for drama)
    "02079460000",    # no country code: nothing to read it by
    "jane@example.com", "", None, 12125550123,
])
def test_a_number_spanning_several_zones_or_none_gives_no_zone(number: Any) -> None:
    assert phone_time_zone(number) is None
