"""Loading and validating the policy files under settings/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.domain_config import CATEGORIES, PRIORITIES, DomainConfigError, load_domain_config
from bot.settings import PROJECT_ROOT

SETTINGS = PROJECT_ROOT / "settings"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    for name in ("sla.yml", "options.yml", "triage.yml", "dialogue.yml"):
        shutil.copy(SETTINGS / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_the_shipped_settings_load() -> None:
    config = load_domain_config(SETTINGS)

    assert config.sla.acknowledge_within_s == 30
    assert config.sla.minimum_options == 3
    assert set(config.sla.priorities) == set(PRIORITIES)
    assert config.sla.stage_hours("P3") == config.sla.default_stages
    for priority in PRIORITIES:
        assert config.sla.stage_hours(priority).total <= config.sla.default_stages.total
    assert set(config.options.categories) == set(CATEGORIES)
    assert "human_agent" in config.options.options
    assert config.triage.languages == ("en",)
    assert "fire" in config.triage.escalators["safety"]


def test_option_ids_are_snake_case_and_every_category_offers_a_person() -> None:
    options = load_domain_config(SETTINGS).options

    for option_id in options.options:
        assert option_id == option_id.lower() and " " not in option_id
    for ids in options.categories.values():
        assert ids[-1] == "human_agent"


def test_the_config_is_immutable() -> None:
    config = load_domain_config(SETTINGS)

    with pytest.raises(AttributeError):
        config.sla.minimum_options = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.options.categories["product"] = ()  # type: ignore[index]


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("sla.yml", lambda d: d["priorities"]["P1"].update(analyse_h=0.2), "sla.yml: priorities.P1"),
        ("sla.yml", lambda d: d["priorities"]["P1"].update(total_h=5), "priorities.P1.total_h = 5"),
        ("sla.yml", lambda d: d["priorities"]["P1"].update(total_h=30), "P1 must not be slower than P2"),
        ("sla.yml", lambda d: d.update(followup_rate_target=1.5), "followup_rate_target = 1.5"),
        ("sla.yml", lambda d: d.update(minimum_options="three"), "minimum_options = 'three'"),
        ("sla.yml", lambda d: d.pop("first_response_within_h"), "first_response_within_h = None: is missing"),
        ("sla.yml", lambda d: d["priorities"].pop("P4"), "priorities.P4"),
        ("options.yml", lambda d: d["options"][0].update(id="Bad Id"), "options[0].id = 'Bad Id'"),
        ("options.yml", lambda d: d["options"][0].update(outcome_kinds=["money"]), "outcome_kinds[0] = 'money'"),
        ("options.yml", lambda d: d["categories"]["product"].append("teleport"), "categories.product[6] = 'teleport'"),
        ("options.yml", lambda d: d["categories"].update(billing=["correct_bill", "human_agent"]), "at least"),
        ("options.yml", lambda d: d["categories"]["service"].remove("human_agent"), "must end with 'human_agent'"),
        ("options.yml", lambda d: d["categories"].pop("account"), "categories.account = None: is missing"),
        ("triage.yml", lambda d: d["category_base_severity"].update(product="huge"), "category_base_severity.product"),
        ("triage.yml", lambda d: d["priority_matrix"]["low"].update(calm="P0"), "priority_matrix.low.calm = 'P0'"),
        ("triage.yml", lambda d: d["priority_matrix"]["critical"].update(calm="P4"), "must be at least as urgent"),
        ("triage.yml", lambda d: d.update(languages=["en", "zh"]), "lexicons.zh"),
        ("triage.yml", lambda d: d["lexicons"]["en"].update(feelings=["sad"]), "lexicons.en.feelings"),
        ("triage.yml", lambda d: d["lexicons"]["en"]["categories"].update(weather=["rain"]), "categories.weather"),
        ("dialogue.yml", lambda d: d.update(max_asks=0), "max_asks = 0: must be at least 1"),
        ("dialogue.yml", lambda d: d["groups"][0].append("shoe_size"), "groups[0][2] = 'shoe_size'"),
        ("dialogue.yml", lambda d: d["questions"].update({"customer_name+impact": "utter_x"}), "no group puts together"),
        ("dialogue.yml", lambda d: d["after_last_miss"].update(contact="shrug"), "after_last_miss.contact = 'shrug'"),
        ("dialogue.yml", lambda d: d["after_last_miss"].pop("impact"), "after_last_miss.impact = None: is missing"),
    ],
)
def test_a_bad_value_names_file_key_and_value(config_dir: Path, file: str, change, message: str) -> None:
    _edit(config_dir / file, change)

    with pytest.raises(DomainConfigError) as error:
        load_domain_config(config_dir)

    assert message in str(error.value)
    assert str(error.value).startswith(file)


def test_unreadable_yaml_is_reported_with_the_file(config_dir: Path) -> None:
    (config_dir / "triage.yml").write_text("languages: [en\n", encoding="utf-8")

    with pytest.raises(DomainConfigError, match="triage.yml: is not valid YAML"):
        load_domain_config(config_dir)


def test_a_missing_file_is_reported(config_dir: Path) -> None:
    (config_dir / "options.yml").unlink()

    with pytest.raises(DomainConfigError, match="options.yml: cannot be read"):
        load_domain_config(config_dir)


def test_yaml_booleans_are_not_taken_for_words(config_dir: Path) -> None:
    _edit(config_dir / "triage.yml", lambda d: d["lexicons"]["en"]["wish_cues"].append(True))

    with pytest.raises(DomainConfigError, match=r"wish_cues\[\d+\] = True: expected a non-empty text"):
        load_domain_config(config_dir)


def test_the_dialogue_policy_groups_related_details_and_caps_the_asks() -> None:
    dialogue = load_domain_config(SETTINGS).dialogue

    assert dialogue.max_asks == 2
    assert ("customer_name", "contact") in dialogue.groups
    assert dialogue.questions[("customer_name", "contact")] == "utter_ask_name_and_contact"
    assert dialogue.only_with == {"people_involved": "impact"}
    assert dialogue.after_last_miss["chosen_option"] == "offer_person"
    assert "card ending" in dialogue.reference_labels
