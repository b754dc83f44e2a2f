"""What the channels accept from a customer (``settings/channels.yml``), validated once.

Every channel applies the same limits, so a customer meets the same behaviour on the
web chat, on Telegram and through a back end using the REST channel.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, conint

from bot.policy_file import parse_policy_file
from bot.settings import load_settings

POLICY_FILE = "channels.yml"


class ChannelPolicyError(ValueError):
    """settings/channels.yml holds a value the channels cannot run with."""


class RateLimit(BaseModel):
    """At most ``messages`` per conversation in any ``per_seconds`` window."""

    messages: conint(ge=1)  # type: ignore[valid-type]
    per_seconds: conint(ge=1)  # type: ignore[valid-type]


class ChannelPolicy(BaseModel):
    """The limits of settings/channels.yml."""

    max_body_bytes: conint(ge=1024)  # type: ignore[valid-type]
    rate_limit: RateLimit

    class Config:
        extra = "forbid"
        allow_mutation = False


def parse_channel_policy(path: Path) -> ChannelPolicy:
    """Read and validate ``path``; the error names the file and the bad key."""
    return parse_policy_file(path, ChannelPolicy, ChannelPolicyError)


@lru_cache(maxsize=1)
def channel_policy() -> ChannelPolicy:
    """The policy from the configured settings folder, read once per process."""
    return parse_channel_policy(load_settings().config_dir / POLICY_FILE)
