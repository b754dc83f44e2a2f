"""Extraction of complaint details from real customer wording, with the real dateparser and phonenumbers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.domain_config import DomainConfig, load_domain_config
from bot.extraction import Extraction, extract_fields
from bot.ticket_numbers import find_ticket_number
from bot.settings import PROJECT_ROOT

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=timezone.utc)  # a Tuesday
SAMPLE = (
    "I ordered a kettle on the 3rd (order 88412), it arrived with a cracked lid and your driver "
    "just shrugged. I want my money back."
)


@pytest.fixture(scope="module")
def config() -> DomainConfig:
    return load_domain_config(PROJECT_ROOT / "settings")


def extract(
    config: DomainConfig, text: str, requested: str | None = None, free_text: bool = True, asked_with: tuple = ()
) -> Extraction:
    return extract_fields(
        text,
        now=NOW,
        requested_slot=requested,
        accept_free_text=free_text,
        config=config.triage,
        phone_region="GB",
        languages=list(config.triage.languages),
        asked_with=asked_with,
        dialogue=config.dialogue,
    )


def test_opening_narrative_fills_every_detail_it_mentions(config: DomainConfig) -> None:
    result = extract(config, SAMPLE)

    assert result.values["complaint_product"] == "kettle"
    assert result.values["incident_date"] == "2026-11-03"
    assert result.values["order_ref"] == "88412"
    assert "driver" in result.values["people_involved"]
    assert result.values["desired_outcome"] == "I want my money back"
    assert result.values["desired_outcome_kind"] == "refund"
    assert result.problems == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yesterday", "2026-11-23"),
        ("last Tuesday", "2026-11-17"),
        ("on the 3rd", "2026-11-03"),
        ("the 5th", "2026-11-05"),
        ("on the 25th", "2026-10-25"),
        ("12 March", "2026-03-12"),
        ("3 days ago", "2026-11-21"),
        ("three weeks ago", "2026-11-03"),
        ("this morning", "2026-11-24"),
        ("on 14 November 2026", "2026-11-14"),
        ("3/11/2026", "2026-11-03"),
        ("no, it was the 12th actually", "2026-11-12"),
    ],
)
def test_dates_resolve_against_the_message_time(config: DomainConfig, text: str, expected: str) -> None:
    assert extract(config, text, "incident_date").values["incident_date"] == expected


@pytest.mark.parametrize(
    "text",
    [
        "may I speak to someone about this",
        "it's the second time now",
        "I was charged £30 twice",
        "I waited 2 hours in the store",
        "this is my 3rd complaint",
        "it broke after 2 days",
    ],
)
def test_words_dateparser_misreads_are_not_dates(config: DomainConfig, text: str) -> None:
    assert "incident_date" not in extract(config, text).values


def test_date_inside_an_order_reference_is_not_read(config: DomainConfig) -> None:
    result = extract(config, "my order A-1234 came broken")

    assert result.values["order_ref"] == "A-1234"
    assert "incident_date" not in result.values


@pytest.mark.parametrize("text", ["tomorrow", "on 30 December 2026"])
def test_a_date_after_now_is_a_problem_not_a_value(config: DomainConfig, text: str) -> None:
    result = extract(config, text, "incident_date")

    assert result.problems == {"incident_date": "future_date"}
    assert "incident_date" not in result.values


def test_an_answer_without_a_date_is_unparsable(config: DomainConfig) -> None:
    result = extract(config, "when the moon was full", "incident_date")

    assert result.problems == {"incident_date": "unparsable_date"}
    assert result.values == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order 88412", "88412"),
        ("order number A-1234", "A-1234"),
        ("order #88412", "88412"),
        ("it's #88412", "88412"),
        ("ref XK-99812", "XK-99812"),
        ("reference 5521", "5521"),
        ("booking abc123", "ABC123"),
        ("invoice INV-2231", "INV-2231"),
    ],
)
def test_labelled_order_references_are_normalised(config: DomainConfig, text: str, expected: str) -> None:
    assert extract(config, text).values["order_ref"] == expected


@pytest.mark.parametrize(("text", "expected"), [("88412", "88412"), ("it's rt-44821", "RT-44821")])
def test_a_bare_reference_is_taken_when_asked(config: DomainConfig, text: str, expected: str) -> None:
    assert extract(config, text, "order_ref").values["order_ref"] == expected


def test_phone_number_is_contact_not_order_reference(config: DomainConfig) -> None:
    result = extract(config, "order 88412, call me on 07911 123456", "order_ref")

    assert result.values["order_ref"] == "88412"
    assert result.values["contact"] == "+447911123456"
    assert result.values["contact_kind"] == "phone"


def test_a_bare_phone_number_is_not_an_order_reference(config: DomainConfig) -> None:
    result = extract(config, "07911 123456", "order_ref")

    assert "order_ref" not in result.values


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("My email was hacked and changed to evil@bad.com", None),
        ("someone rang from 07911 123456 pretending to be you", None),
        ("you can email me at sam@example.com", "sam@example.com"),
        ("my number is 07911 123456", "+447911123456"),
    ],
)
def test_outside_the_contact_question_only_an_offered_contact_counts(
    config: DomainConfig, text: str, contact: str | None
) -> None:
    assert extract(config, text, None).values.get("contact") == contact


def test_ticket_numbers_are_never_order_references(config: DomainConfig) -> None:
    assert "order_ref" not in extract(config, "about ticket CX-7K3F9Q", "order_ref").values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07911 123456", "+447911123456"),
        ("+44 20 7946 0958", "+442079460958"),
        ("07911 123456", "+447911123456"),
    ],
)
def test_phones_become_e164(config: DomainConfig, text: str, expected: str) -> None:
    result = extract(config, text, "contact")

    assert result.values == {"contact": expected, "contact_kind": "phone"}


def test_an_impossible_phone_number_is_a_problem(config: DomainConfig) -> None:
    result = extract(config, "0770 0900 12345 678", "contact")

    assert result.problems == {"contact": "invalid_phone"}
    assert "contact" not in result.values


def test_email_is_lower_cased(config: DomainConfig) -> None:
    result = extract(config, "it's Jane.Morris@Example.COM thanks", "contact")

    assert result.values == {"contact": "jane.morris@example.com", "contact_kind": "email"}


def test_a_broken_email_is_a_problem(config: DomainConfig) -> None:
    assert extract(config, "jane.morris@example", "contact").problems == {"contact": "invalid_email"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("my name is Tom Baker", "Tom Baker"), ("it's Kevin", "Kevin"), ("dave", "Dave"), ("Jane Morris.", "Jane Morris")],
)
def test_names_from_the_answer(config: DomainConfig, text: str, expected: str) -> None:
    assert extract(config, text, "customer_name").values["customer_name"] == expected


def test_a_name_in_the_narrative_must_look_like_a_name(config: DomainConfig) -> None:
    assert extract(config, "Hi, this is Sarah Jones, my toaster broke").values["customer_name"] == "Sarah Jones"
    assert "customer_name" not in extract(config, "this is ridiculous, my toaster broke").values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I bought a Samsung TV from your store", "Samsung TV"),
        ("my washing machine stopped working", "washing machine"),
        ("the blender I bought smells of burning", "blender"),
        ("I returned a jacket three weeks ago", "jacket"),
    ],
)
def test_products_in_the_narrative(config: DomainConfig, text: str, expected: str) -> None:
    assert extract(config, text).values["complaint_product"] == expected


@pytest.mark.parametrize(
    "text", ["my parcel never arrived", "I purchased something and got charged a fee", "I received the funds late"]
)
def test_generic_words_are_not_products(config: DomainConfig, text: str) -> None:
    assert "complaint_product" not in extract(config, text).values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I ordered it online", "online"),
        ("the cashier at your Leeds store was rude", "Leeds store"),
        ("it happened in Manchester", "Manchester"),
        ("in the app", "app"),
    ],
)
def test_locations(config: DomainConfig, text: str, expected: str) -> None:
    assert extract(config, text).values["incident_location"] == expected


def test_people_are_named_with_their_phrase(config: DomainConfig) -> None:
    result = extract(config, "the delivery driver threw it over the fence")

    assert result.values["people_involved"] == "the delivery driver"


@pytest.mark.parametrize(
    "text", ["I deposited a cashiers check and the bank put it on hold", "they asked for my driver's licence twice"]
)
def test_things_named_after_a_role_are_no_person(config: DomainConfig, text: str) -> None:
    assert "people_involved" not in extract(config, text).values


def test_impact_phrase_in_the_narrative(config: DomainConfig) -> None:
    result = extract(config, "It never came. I had to take a day off work for nothing.")

    assert result.values["impact"] == "I had to take a day off work for nothing"


@pytest.mark.parametrize(
    ("text", "kind"),
    [("a replacement please", "replacement"), ("repair it under warranty", "repair"), ("I want an apology", "apology")],
)
def test_desired_outcome_kind_from_the_answer(config: DomainConfig, text: str, kind: str) -> None:
    assert extract(config, text, "desired_outcome").values["desired_outcome_kind"] == kind


def test_a_wish_without_a_known_kind_is_other(config: DomainConfig) -> None:
    result = extract(config, "just make sure it never happens to anyone", "desired_outcome")

    assert result.values == {
        "desired_outcome": "just make sure it never happens to anyone",
        "desired_outcome_kind": "other",
    }


def test_a_remedy_word_outside_a_wish_is_not_a_desired_outcome(config: DomainConfig) -> None:
    assert "desired_outcome" not in extract(config, "the replacement you sent broke too").values


@pytest.mark.parametrize("slot", ["customer_name", "complaint_product", "incident_location", "impact"])
def test_an_interruption_is_not_taken_as_the_answer(config: DomainConfig, slot: str) -> None:
    assert extract(config, "are you a bot?", slot, free_text=False).values == {}


def test_the_answer_is_taken_as_free_text_when_allowed(config: DomainConfig) -> None:
    result = extract(config, "the lid cracked the first time I boiled water", "problem_description")

    assert result.values["problem_description"] == "the lid cracked the first time I boiled water"


@pytest.mark.parametrize(
    ("slot", "text", "expected"),
    [
        ("people_involved", "nobody", "none"),
        ("people_involved", "no idea who", "unknown"),
        ("order_ref", "I don't have one", "unknown"),
        ("contact", "I'd rather not give that", "none"),
    ],
)
def test_none_and_unknown_answers(config: DomainConfig, slot: str, text: str, expected: str) -> None:
    assert extract(config, text, slot).values[slot] == expected


def test_a_correction_does_not_answer_the_question_asked(config: DomainConfig) -> None:
    result = extract(config, "no, it was the 12th actually", "incident_location")

    assert result.values == {"incident_date": "2026-11-12"}


def test_values_are_never_empty(config: DomainConfig) -> None:
    for slot in ("customer_name", "complaint_product", "incident_location", "impact", "desired_outcome"):
        assert all(extract(config, "...", slot).values.values())
        assert extract(config, "   ", slot).values == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what's the status of ticket CX-7K3F9Q?", "CX-7K3F9Q"),
        ("cx-7k3f9q", "CX-7K3F9Q"),
        ("CX 7K3F9Q please", "CX-7K3F9Q"),
        ("CX-7K3F9I", "CX-7K3F91"),
        ("CX-7K3F9U", "CX-7K3F9U"),
        ("CX-7K3F9QQ", None),
        ("order 88412", None),
    ],
)
def test_ticket_numbers(text: str, expected: str | None) -> None:
    assert find_ticket_number(text) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("GR-88210457", "GR-88210457"),
        ("it's INV-7781-0903", "INV-7781-0903"),
        ("R-0328-5521", "R-0328-5521"),
        ("SO-7719034", "SO-7719034"),
        ("WEB-20914477 is one of them", "WEB-20914477"),
        ("card ending 4471", "4471"),
        ("loan account ending 8830", "8830"),
        ("88210457", "88210457"),
        ("loan 0047-221-983", "0047-221-983"),
    ],
)
def test_references_in_real_formats_answer_the_reference_question(config: DomainConfig, answer: str, expected: str) -> None:
    assert extract(config, answer, "order_ref").values["order_ref"] == expected


@pytest.mark.parametrize(
    ("narrative", "expected"),
    [
        ("My order GR-88210457 never came and nobody answers", "GR-88210457"),
        ("Policy HX-220918. Water damage from the 9th.", "HX-220918"),
        ("You charged my card ending 4471 twice last week", "4471"),
        ("Invoice INV-7781-0903 shows a fee I never agreed to", "INV-7781-0903"),
    ],
)
def test_references_in_real_formats_are_found_in_a_narrative(config: DomainConfig, narrative: str, expected: str) -> None:
    assert extract(config, narrative).values["order_ref"] == expected


@pytest.mark.parametrize(
    ("text", "requested", "expected"),
    [
        ("all 8 on march 1", "incident_date", "2026-03-01"),
        ("they charged me twice on my 1 October statement", None, "2026-10-01"),
        ("I've been overcharged since the April 1 bill", None, "2026-04-01"),
        ("last week, the Leicester store, no", "incident_date", "2026-11-17"),
        ("My broadband has been down for three days", None, "2026-11-21"),
        ("My laptop has been at your repair centre for 6 weeks.", None, "2026-10-13"),
    ],
)
def test_dates_inside_phrases_are_found(config: DomainConfig, text: str, requested: str | None, expected: str) -> None:
    assert extract(config, text, requested).values["incident_date"] == expected


def test_a_bare_phone_number_is_the_contact_whatever_was_asked(config: DomainConfig) -> None:
    result = extract(config, "07911 123456", "impact")
    assert (result.values["contact"], result.values["contact_kind"]) == ("+447911123456", "phone")
    assert "impact" not in result.values


def test_a_remedy_opening_a_clause_is_the_wish(config: DomainConfig) -> None:
    result = extract(config, "My broadband has been down for three days, refund the delivery charge")
    assert result.values["complaint_product"] == "broadband"
    assert result.values["desired_outcome"] == "refund the delivery charge"
    assert result.values["desired_outcome_kind"] == "refund"


@pytest.mark.parametrize(
    ("asked", "answer", "expected"),
    [
        (("customer_name", "contact"), "Harold Jennings, 07912 402118",
         {"customer_name": "Harold Jennings", "contact": "+447912402118", "contact_kind": "phone"}),
        (("customer_name", "contact"), "Ahmed, I'd rather not give that", {"customer_name": "Ahmed", "contact": "none"}),
        (("complaint_product", "incident_date", "incident_location", "order_ref"),
         "homeware order: 2 candles, a photo frame, a kids' jigsaw, on the 21st, your website, INV-7781-0903",
         {"complaint_product": "homeware order: 2 candles, a photo frame, a kids' jigsaw", "incident_date": "2026-11-21",
          "incident_location": "website", "order_ref": "INV-7781-0903"}),
        (("complaint_product", "incident_date", "incident_location", "order_ref"),
         "my online account, this morning, the website, don't have one",
         {"complaint_product": "online account", "incident_date": "2026-11-24", "incident_location": "website",
          "order_ref": "unknown"}),
        (("incident_date", "incident_location", "order_ref"), "all 8 on march 1, online, SO-7719034",
         {"incident_date": "2026-03-01", "incident_location": "online", "order_ref": "SO-7719034"}),
        (("incident_date", "incident_location", "order_ref"), "3 days ago, the Elm Street branch",
         {"incident_date": "2026-11-21", "incident_location": "Elm Street branch", "order_ref": "unknown"}),
        (("impact", "people_involved"), "not much, but it's the principle, no",
         {"impact": "not much, but it's the principle", "people_involved": "none"}),
        (("impact", "people_involved"), "I lost $500 I needed for bills, the branch manager",
         {"impact": "I lost $500 I needed for bills", "people_involved": "the branch manager"}),
        (("impact", "people_involved"), "my son spent a night in hospital",
         {"impact": "my son spent a night in hospital", "people_involved": "unknown"}),
    ],
)
def test_an_answer_to_a_grouped_question_fills_each_detail(
    config: DomainConfig, asked: tuple, answer: str, expected: dict
) -> None:
    result = extract(config, answer, asked[0], asked_with=asked[1:])
    assert {slot: result.values.get(slot) for slot in expected} == expected
    assert result.problems == {}


def test_a_part_of_a_grouped_answer_that_is_no_date_is_reported(config: DomainConfig) -> None:
    result = extract(config, "it's been going on since the start of the year, over the phone, ending 8830",
                     "incident_date", asked_with=("incident_location", "order_ref"))
    assert result.problems == {"incident_date": "unparsable_date"}
    assert (result.values["incident_location"], result.values["order_ref"]) == ("phone", "8830")
