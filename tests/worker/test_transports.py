"""The worker registers the transports that exist and skips, with a log line, those that do not."""

from __future__ import annotations

import logging
import sys
import types

import pytest

from bot.outbound import registry
from bot.settings import SettingsError
from tests.outbound.support import RecordingTransport
from worker.main import open_transports, shutdown


class ClosingTransport(RecordingTransport):
    closed = False

    async def close(self) -> None:
        self.closed = True


def _module(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: object) -> None:
    module = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


async def test_present_transports_are_registered_and_missing_ones_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(registry, "_transports", {})
    web = ClosingTransport("webchat")

    async def create_web() -> ClosingTransport:
        return web

    def create_broken() -> RecordingTransport:
        raise SettingsError("TELEGRAM_BOT_TOKEN is not set")

    _module(monkeypatch, "channel_web", create_transport=create_web)
    _module(monkeypatch, "channel_broken", create_transport=create_broken)
    _module(monkeypatch, "channel_without_factory")
    _module(monkeypatch, "channel_off", create_transport=lambda: None)
    caplog.set_level(logging.INFO, logger="worker.main")

    opened = await open_transports(
        ["channel_web", "bot.outbound.no_such_channel", "channel_broken", "channel_without_factory", "channel_off"]
    )

    assert opened == [web]
    assert registry.registered_channels() == ["webchat"]
    assert [(r.levelname, r.getMessage(), getattr(r, "transport_module", None)) for r in caplog.records] == [
        ("INFO", "transport module not installed; its channel is not served", "bot.outbound.no_such_channel"),
        ("ERROR", "transport could not start; its channel is not served", "channel_broken"),
        ("ERROR", "transport module has no create_transport(); its channel is not served", "channel_without_factory"),
        ("INFO", "transport not configured; its channel is off", "channel_off"),
        ("INFO", "transports registered", None),
    ]
    assert caplog.records[-1].channels == "webchat"
    await shutdown({"transports": opened})
    assert web.closed


async def test_a_transport_module_that_fails_to_import_is_an_error_not_a_skip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_transports", {})
    with pytest.raises(ModuleNotFoundError):
        await open_transports(["tests.worker.channel_needing_a_missing_package"])
