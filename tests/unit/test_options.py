"""Offering and matching remedies against the real catalogue in settings/options.yml."""

from __future__ import annotations

import pytest

from bot.domain_config import CATEGORIES, OUTCOME_KINDS, DomainConfig, OptionCatalogue, load_domain_config
from bot.options import match_option, named_option, offer_options, turns_down, wish_after_refusal
from bot.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def catalogue() -> OptionCatalogue:
    config: DomainConfig = load_domain_config(PROJECT_ROOT / "settings")
    return config.options


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("outcome_kind", [None, *OUTCOME_KINDS])
def test_every_offer_is_long_enough_unique_and_ends_with_a_person(
    catalogue: OptionCatalogue, category: str, outcome_kind: str | None
) -> None:
    offered = offer_options(category, outcome_kind, catalogue)

    assert len(offered) >= catalogue.minimum_options >= 3
    assert offered[-1] == "human_agent"
    assert len(set(offered)) == len(offered)
    assert set(offered) <= set(catalogue.options)


@pytest.mark.parametrize(
    ("category", "outcome_kind", "first"),
    [
        ("product", "refund", "refund"),
        ("product", "repair", "repair"),
        ("billing", "refund", "refund_difference"),
        ("after_sales", "refund", "expedite_refund"),
        ("account", "data_deletion", "delete_data"),
        ("service", "refund", "refund"),
        ("delivery", "delivery", "redeliver_express"),
    ],
)
def test_the_option_granting_the_wish_comes_first(
    catalogue: OptionCatalogue, category: str, outcome_kind: str, first: str
) -> None:
    assert offer_options(category, outcome_kind, catalogue)[0] == first


def test_without_a_wish_the_category_order_is_kept(catalogue: OptionCatalogue) -> None:
    assert offer_options("product", "other", catalogue) == list(catalogue.categories["product"])
    assert offer_options("nonsense", None, catalogue) == list(catalogue.categories["other"])


OFFERED = ["refund", "replacement", "repair", "partial_refund_keep", "human_agent"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repair", "repair"),
        ("2", "replacement"),
        ("2.", "replacement"),
        ("option 2", "replacement"),
        ("#2", "replacement"),
        ("number two", "replacement"),
        ("two please", "replacement"),
        ("the second one", "replacement"),
        ("2nd", "replacement"),
        ("I'll take the 3rd", "repair"),
        ("the last one", "human_agent"),
        ("the refund please", "refund"),
        ("I'd like a replacement", "replacement"),
        ("can you fix it", "repair"),
        ("let me talk to a person", "human_agent"),
        ("a partial refund and I keep it", "partial_refund_keep"),
    ],
)
def test_match_option_by_payload_number_ordinal_or_words(
    catalogue: OptionCatalogue, text: str, expected: str
) -> None:
    assert match_option(text, OFFERED, catalogue) == expected


@pytest.mark.parametrize(
    "text",
    ["7", "option 9", "the tenth one", "I'm not sure", "refund or repair", "secure_account", "delete my data", ""],
)
def test_match_option_returns_none_when_unclear_or_not_offered(catalogue: OptionCatalogue, text: str) -> None:
    assert match_option(text, OFFERED, catalogue) is None


def test_match_option_only_returns_offered_ids(catalogue: OptionCatalogue) -> None:
    offered = ["secure_account", "restore_access", "human_agent"]

    assert match_option("refund", offered, catalogue) is None
    assert match_option("unlock it please", offered, catalogue) == "restore_access"


@pytest.mark.parametrize("category", CATEGORIES)
def test_a_call_back_is_offered_in_every_category(catalogue: OptionCatalogue, category: str) -> None:
    offered = offer_options(category, None, catalogue)
    assert "callback" in offered or "supervisor_call" in offered
    assert "callback" in catalogue.for_category(category)


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize(
    ("wish", "kind", "first"),
    [
        ("I want a replacement", "replacement", "replacement"),
        ("please repair it", "repair", "repair"),
        ("send an engineer out to fix the line", "other", "engineer_visit"),
        ("just call me back", "other", "supervisor_call"),
    ],
)
def test_the_wish_comes_first_in_any_category(
    catalogue: OptionCatalogue, category: str, wish: str, kind: str, first: str
) -> None:
    offered = offer_options(category, kind, catalogue, wish=wish)
    assert offered[0] == first
    assert offered[-1] == "human_agent"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("replacement, please", "replacement"), ("can you send an engineer", "engineer_visit"), ("a person", None),
     ("banana", None)],
)
def test_an_option_named_outright_is_found_in_the_whole_catalogue(
    catalogue: OptionCatalogue, text: str, expected: str | None
) -> None:
    assert named_option(text, catalogue) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("none of those, I want an engineer and money off", True), ("Neither, thanks", True),
     ("the first one", False), ("refund", False)],
)
def test_turning_the_options_down_is_recognised(catalogue: OptionCatalogue, text: str, expected: bool) -> None:
    assert turns_down(text, catalogue) is expected


def test_the_wish_after_turning_the_options_down_is_kept(catalogue: OptionCatalogue) -> None:
    assert wish_after_refusal("none of those, I want an engineer", catalogue) == "I want an engineer"
    assert wish_after_refusal("neither", catalogue) == "neither"
