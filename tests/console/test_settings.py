"""The console's settings: documented defaults, settings/console.yml, one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from web.settings import ConsoleSettings, WebSettings, load_console_policy

NAMES = ("CONSOLE_SESSION_IDLE_S", "CONSOLE_SESSION_MAX_S", "CONSOLE_CLIENT_ADDRESS_HEADER", "COMPLAINTS_CONFIG_DIR")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_and_the_shipped_policy() -> None:
    console = WebSettings.from_env().console
    assert (console.session_idle_s, console.session_max_s, console.client_address_header) == (1800, 43200, "")
    lockout = console.policy.lockout
    assert (lockout.account.failures, lockout.account.window_s, lockout.account.lock_s) == (5, 900, 900)
    assert (lockout.address.failures, lockout.address.window_s, lockout.address.lock_s) == (20, 900, 900)
    assert console.policy.password_min_chars == 12
    assert ConsoleSettings() == console


def test_the_environment_and_the_settings_folder_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "settings" / "console.yml").read_text(encoding="utf-8")
    (tmp_path / "console.yml").write_text(text.replace("failures: 5", "failures: 2"), encoding="utf-8")
    monkeypatch.setenv("COMPLAINTS_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("CONSOLE_SESSION_IDLE_S", "60")
    monkeypatch.setenv("CONSOLE_SESSION_MAX_S", "120")
    monkeypatch.setenv("CONSOLE_CLIENT_ADDRESS_HEADER", "X-Forwarded-For")
    console = ConsoleSettings.from_env()
    assert (console.session_idle_s, console.session_max_s, console.client_address_header) == (60, 120, "X-Forwarded-For")
    assert console.policy.lockout.account.failures == 2
    assert console.policy.lockout.address.failures == 20


def test_a_bad_policy_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "console.yml"
    path.write_text("lockout:\n  account: {failures: 0, window_s: 60, lock_s: 60}\n"
                    "  address: {failures: 3, window_s: 60, lock_s: 60}\npassword_min_chars: 12\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_console_policy(path)
    assert str(error.value) == f"{path}: lockout.account.failures: ensure this value is greater than or equal to 1"
    path.write_text("lockout: {}\npassword_min_chars: 12\nunknown: 1\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_console_policy(path)
    assert str(error.value) == (f"{path}: lockout.account: field required; lockout.address: field required; "
                                "unknown: extra fields not permitted")
