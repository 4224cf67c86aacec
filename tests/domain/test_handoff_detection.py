"""Whether a user's message asks for a person: tenant keywords as whole phrases, explicit requests."""

from __future__ import annotations

import pytest

from domain.conversations.handoff import HandoffTrigger, detect_handoff_request

DEFAULT_KEYWORDS = ("human", "agent", "talk to a person", "representative")


@pytest.mark.parametrize(
    "text",
    [
        "human",
        "Human please!",
        "AGENT",
        "agent now",
        "Can I speak to an agent?",
        "talk to a person please",
        "I'd rather talk to a person about this",
    ],
)
def test_tenant_keywords_trigger(text: str) -> None:
    request = detect_handoff_request(text, DEFAULT_KEYWORDS, "en")

    assert request is not None
    assert request.trigger is HandoffTrigger.KEYWORD


@pytest.mark.parametrize(
    "text",
    [
        "can you help me with pricing",
        "my travel agent booked this trip",
        "are you a human?",
        "what does a representative sample cost",
        "I need someone to fix my order",
        "humanity is great",
        "",
    ],
)
def test_questions_that_merely_contain_a_keyword_do_not(text: str) -> None:
    assert detect_handoff_request(text, DEFAULT_KEYWORDS, "en") is None


def test_a_one_word_keyword_is_not_matched_inside_a_question() -> None:
    # The example: "help" as a keyword must not turn a pricing question into a handoff.
    assert detect_handoff_request("can you help me with pricing", ("help",), "en") is None
    assert detect_handoff_request("Help!", ("help",), "en") is not None


@pytest.mark.parametrize(
    "text",
    ["I want to talk to a real person", "Could you connect me with someone", "I need a human", "get me an operator"],
)
def test_explicit_requests_for_a_person_trigger_without_keywords(text: str) -> None:
    request = detect_handoff_request(text, (), "en")

    assert request is not None
    assert request.trigger is HandoffTrigger.PERSON_REQUEST


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("es", "¿Puedo hablar con un asesor?"),
        ("pt", "Quero falar com um atendente"),
        ("fr", "Je veux parler à quelqu'un"),
        ("de", "Ich möchte mit einem Menschen sprechen"),
        ("it", "Vorrei parlare con un operatore"),
    ],
)
def test_requests_in_the_tenants_language(language: str, text: str) -> None:
    assert detect_handoff_request(text, (), language) is not None


def test_keywords_match_without_accents_or_case() -> None:
    request = detect_handoff_request("Hola, quiero HABLAR CON ALGUIÉN ya", ("hablar con alguien",), "es")

    assert request is not None
    assert request.matched == "hablar con alguien"


def test_english_requests_are_understood_whatever_the_tenant_language() -> None:
    assert detect_handoff_request("can I talk to a person", (), "es") is not None
