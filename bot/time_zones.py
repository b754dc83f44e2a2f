"""The customer's time zone as their channel reports it: an IANA name, checked against the tz database.

The web chat sends the browser's zone (``Intl.DateTimeFormat().resolvedOptions().timeZone``)
with every message, in the message metadata under :data:`METADATA_KEY`; Telegram reports
none. A channel that reports none can still be placed by the phone number the customer
gave (:func:`phone_time_zone`), when its prefix lies in a single zone; otherwise the
configured defaults apply (settings/callbacks.yml, settings/followup.yml). A zone the
channel reported always wins: the browser knows where the customer is now, a number only
where it was issued. A name is believed only if this machine's tz database knows it, so
a made-up or malformed value can never reach a ``ZoneInfo`` call that would fail later.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import timezone as phone_zones

METADATA_KEY = "timezone"
MAX_NAME_LENGTH = 64
"""The longest zone name stored (``tickets.customer_timezone``, ``callbacks.customer_timezone``)."""


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_time_zone(name: Any) -> str | None:
    """``name`` if it is an IANA time zone this machine knows ("Europe/London"), else None."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        return None
    return name if name in _known() else None


def _from_metadata(metadata: Any) -> str | None:
    return known_time_zone(metadata.get(METADATA_KEY)) if isinstance(metadata, Mapping) else None


def reported_time_zone(events: Iterable[Mapping[str, Any]], latest_metadata: Any = None) -> str | None:
    """The zone the customer's newest message reported (``latest_metadata``, then the user events
    newest first, past messages that reported none); None if no message reported a known one."""
    zone = _from_metadata(latest_metadata)
    if zone is not None:
        return zone
    for event in reversed(list(events)):
        if event.get("event") == "user":
            zone = _from_metadata(event.get("metadata"))
            if zone is not None:
                return zone
    return None


def phone_time_zone(number: Any) -> str | None:
    """The one time zone a phone number belongs to (``+1 212 …``: "America/New_York"), or None.

    ``number`` is a contact as the intake keeps it, in E.164 (``+12125550123``). None when
    it cannot be read or is not a valid number, and when its prefix spans several zones
    (``phonenumbers`` names Guernsey, Jersey, the Isle of Man and London for a UK mobile,
    dozens for ``+1 800``, most of Russia for ``+7 9``): a guess there could move a call
    or a survey into the customer's night, while the default is at least the business's own.
    """
    if not isinstance(number, str) or not number:
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    zones = phone_zones.time_zones_for_number(parsed)
    return known_time_zone(zones[0]) if len(zones) == 1 else None
