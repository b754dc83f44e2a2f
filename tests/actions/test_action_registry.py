"""The contract between actions and the domain: names unique and declared, responses present."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import bot.actions
from rasa_sdk import Action

ROOT = Path(__file__).resolve().parents[2]


def _action_classes() -> list[type[Action]]:
    classes: list[type[Action]] = []
    for module_info in pkgutil.iter_modules(bot.actions.__path__):
        module = importlib.import_module(f"bot.actions.{module_info.name}")
        classes += [
            obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, Action) and obj.__module__ == module.__name__ and not inspect.isabstract(obj)
        ]
    return classes


def test_action_names_are_unique_and_declared_in_the_domain(domain: dict[str, Any]) -> None:
    names = [cls().name() for cls in _action_classes()]
    assert len(names) == len(set(names)), names
    assert set(names) == set(domain["actions"])


def test_every_response_named_in_code_exists(domain: dict[str, Any]) -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "bot").rglob("*.py"))
    named = set(re.findall(r"\"(utter_[a-z_]+)\"", code)) - {"utter_action"}  # Rasa's key for a response's name
    assert named, "no response names found in the code"
    assert named <= set(domain["responses"]), named - set(domain["responses"])


def test_every_form_slot_can_be_asked_and_explained(domain: dict[str, Any]) -> None:
    responses, actions = set(domain["responses"]), set(domain["actions"])
    for slot in domain["forms"]["complaint_form"]["required_slots"]:
        assert f"utter_ask_{slot}" in responses or f"action_ask_{slot}" in actions, slot
        assert f"utter_why_{slot}" in responses, slot


def test_every_option_and_category_has_a_label(domain: dict[str, Any]) -> None:
    import yaml

    catalogue = yaml.safe_load((ROOT / "settings" / "options.yml").read_text(encoding="utf-8"))
    text = yaml.safe_dump(catalogue)
    option_ids = set(re.findall(r"id: ([a-z_]+)", text))
    assert "human_agent" in option_ids
    for option_id in option_ids:
        assert f"utter_option_{option_id}" in domain["responses"], option_id
    for category in ("product", "service", "billing", "delivery", "after_sales", "account", "other"):
        assert f"utter_category_{category}" in domain["responses"]
        assert f"utter_ack_{category}" in domain["responses"]


def test_domain_package_does_not_import_rasa() -> None:
    for path in (ROOT / "bot").rglob("*.py"):
        if "actions" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) rasa", source, re.MULTILINE), path


def test_every_ticket_state_has_a_label(domain: dict[str, Any]) -> None:
    from bot.lifecycle import STATES

    assert {f"utter_status_{state}" for state in STATES} <= set(domain["responses"])
