"""When a user is asking for a person rather than for an answer.

A tenant's handoff keywords and a small per-language vocabulary of requests ("talk to a person", "hablar con
un agente") decide it. Keywords count as whole phrases, never as substrings or loose words: a one-word
keyword ("agent") triggers only when it is the message itself ("Agent, please!") or the object of a request
("can I speak to an agent"), so "my travel agent booked it" or "can you help me with pricing" are questions
for the assistant, not requests for a human. Keywords of two or more words ("talk to a person") trigger
wherever they appear as a whole phrase.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache

import attrs


class HandoffTrigger(StrEnum):
    KEYWORD = "keyword"  # one of the tenant's handoff keywords
    PERSON_REQUEST = "person_request"  # an explicit request for a person, in the tenant's language or English
    ASSISTANT = "assistant"  # the language model called handoff_to_human
    AGENT = "agent"  # a person took the conversation over through the API (or by replying)


@attrs.frozen
class HandoffRequest:
    trigger: HandoffTrigger
    # The phrase that matched, as the user wrote it (normalised), for the handoff event and the logs.
    matched: str


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


@attrs.frozen
class _Vocabulary:
    # Verbs that take any person as object: "talk to someone" is a request for a person.
    reach_frames: tuple[str, ...]
    # Verbs that take only an unmistakable person: "I need someone to fix it" is not a handoff.
    want_frames: tuple[str, ...]
    # Words allowed between a frame and its object: articles, "real", "live" …
    modifiers: tuple[str, ...]
    # Who a user asks for.
    people: tuple[str, ...]
    strong_people: tuple[str, ...]
    # Words that may surround a bare keyword without making the message about something else.
    courtesy: frozenset[str]


_VOCABULARIES: dict[str, _Vocabulary] = {
    "en": _Vocabulary(
        reach_frames=(
            "talk to",
            "talk with",
            "speak to",
            "speak with",
            "chat with",
            "chat to",
            "connect me to",
            "connect me with",
            "transfer me to",
            "put me through to",
            "hand me over to",
            "let me talk to",
            "let me speak to",
        ),
        want_frames=("i want", "i need", "i d like", "i would like", "get me", "give me", "can i have"),
        modifiers=(
            "a",
            "an",
            "the",
            "some",
            "real",
            "actual",
            "live",
            "human",
            "customer",
            "support",
            "service",
            "your",
        ),
        people=(
            "person",
            "human",
            "human being",
            "someone",
            "somebody",
            "agent",
            "representative",
            "operator",
            "staff",
            "employee",
            "manager",
            "advisor",
            "adviser",
            "consultant",
        ),
        strong_people=("human", "human being", "real person", "agent", "representative", "operator", "live agent"),
        courtesy=_words(
            "please pls plz hi hello hey ok okay now thanks thank you i want need a an the to with me can could may "
            "talk speak get connect just"
        ),
    ),
    "es": _Vocabulary(
        reach_frames=("hablar con", "comunicarme con", "contactar con", "pasame con", "paseme con", "comunicame con"),
        want_frames=("quiero", "necesito", "quisiera"),
        modifiers=("un", "una", "el", "la", "alguna", "algun", "real", "de", "verdad", "humano", "humana"),
        people=(
            "persona",
            "humano",
            "alguien",
            "agente",
            "asesor",
            "asesora",
            "operador",
            "operadora",
            "representante",
            "empleado",
            "encargado",
        ),
        strong_people=(
            "humano",
            "persona real",
            "agente",
            "asesor",
            "asesora",
            "operador",
            "operadora",
            "representante",
        ),
        courtesy=_words("por favor hola ok vale ahora gracias quiero necesito un una el la con hablar"),
    ),
    "pt": _Vocabulary(
        reach_frames=("falar com", "conversar com", "me passa para", "me transfere para", "me transfira para"),
        want_frames=("quero", "preciso de", "gostaria de"),
        modifiers=("um", "uma", "o", "a", "alguma", "algum", "real", "de", "verdade", "humano", "humana"),
        people=(
            "pessoa",
            "humano",
            "alguem",
            "atendente",
            "agente",
            "consultor",
            "consultora",
            "operador",
            "representante",
            "funcionario",
        ),
        strong_people=("humano", "pessoa real", "atendente", "agente", "operador", "representante"),
        courtesy=_words("por favor ola oi ok agora obrigado obrigada quero preciso um uma o a com falar"),
    ),
    "fr": _Vocabulary(
        reach_frames=("parler a", "parler avec", "discuter avec", "me passer", "mettre en relation avec", "joindre"),
        want_frames=("je veux", "je voudrais", "j aimerais"),
        modifiers=("un", "une", "le", "la", "l", "vrai", "vraie", "quelqu", "humain", "humaine", "conseiller"),
        people=(
            "personne",
            "humain",
            "quelqu un",
            "conseiller",
            "conseillere",
            "agent",
            "operateur",
            "operatrice",
            "representant",
        ),
        strong_people=("humain", "vraie personne", "conseiller", "conseillere", "agent", "operateur", "representant"),
        courtesy=_words("s il vous plait svp bonjour salut ok merci je veux voudrais un une le la a avec parler"),
    ),
    "de": _Vocabulary(
        reach_frames=("sprechen mit", "mit einem", "mit einer", "verbinden sie mich mit", "verbinde mich mit"),
        want_frames=("ich will", "ich mochte", "ich brauche"),
        modifiers=("einen", "einem", "einer", "ein", "eine", "echten", "echte", "echter", "richtigen", "richtige"),
        people=(
            "menschen",
            "mensch",
            "mitarbeiter",
            "mitarbeiterin",
            "person",
            "berater",
            "beraterin",
            "jemandem",
            "agent",
            "kundenberater",
        ),
        strong_people=("menschen", "mensch", "mitarbeiter", "mitarbeiterin", "berater", "beraterin", "kundenberater"),
        courtesy=_words("bitte hallo ok danke jetzt ich will mochte einen einem mit sprechen"),
    ),
    "it": _Vocabulary(
        reach_frames=("parlare con", "parlare a", "mettermi in contatto con", "passami"),
        want_frames=("voglio", "vorrei", "ho bisogno di"),
        modifiers=("un", "una", "uno", "il", "la", "l", "vero", "vera", "persona", "umano"),
        people=("persona", "umano", "qualcuno", "operatore", "operatrice", "agente", "consulente", "rappresentante"),
        strong_people=("umano", "persona vera", "persona reale", "operatore", "operatrice", "agente", "consulente"),
        courtesy=_words("per favore ciao ok grazie ora voglio vorrei un una il la con parlare"),
    ),
}

_NON_WORD = re.compile(r"[^\w]+")


def normalise(text: str) -> str:
    """Lower case, accents and punctuation gone, single spaces: "¿Hablar con alguién?" → "hablar con alguien"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", stripped).split())


def detect_handoff_request(text: str, keywords: Sequence[str], language: str) -> HandoffRequest | None:
    """A request for a person in `text`, judged with the tenant's keywords and its language (plus English)."""
    message = normalise(text)
    if not message:
        return None
    vocabularies = _vocabularies(language)
    for keyword in keywords:
        phrase = normalise(keyword)
        if phrase and _keyword_matches(message, phrase, vocabularies):
            return HandoffRequest(HandoffTrigger.KEYWORD, phrase)
    for vocabulary in vocabularies:
        match = _person_request(vocabulary).search(message)
        if match:
            return HandoffRequest(HandoffTrigger.PERSON_REQUEST, match.group(0))
    return None


def _vocabularies(language: str) -> tuple[_Vocabulary, ...]:
    own = _VOCABULARIES.get(language.lower())
    english = _VOCABULARIES["en"]
    return (english,) if own is None or own is english else (own, english)


def _keyword_matches(message: str, phrase: str, vocabularies: tuple[_Vocabulary, ...]) -> bool:
    if " " in phrase:
        return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", message) is not None
    words = message.split()
    if phrase not in words:
        return False
    # A bare keyword: every other word of the message is courtesy ("human please", "agent now!").
    courtesy = frozenset().union(*(vocabulary.courtesy for vocabulary in vocabularies))
    if all(word == phrase or word in courtesy for word in words):
        return True
    return any(_object_of_request(vocabulary, phrase).search(message) for vocabulary in vocabularies)


def _alternatives(phrases: Sequence[str]) -> str:
    # Longest first, so "human being" wins over "human".
    return "|".join(re.escape(normalise(phrase)) for phrase in sorted(phrases, key=len, reverse=True))


@lru_cache(maxsize=256)
def _object_of_request(vocabulary: _Vocabulary, phrase: str) -> re.Pattern[str]:
    frames = _alternatives((*vocabulary.reach_frames, *vocabulary.want_frames))
    modifiers = _alternatives(vocabulary.modifiers)
    return re.compile(rf"(?<!\w)(?:{frames})(?: (?:{modifiers})){{0,3}} {re.escape(phrase)}(?!\w)")


@lru_cache(maxsize=16)
def _person_request(vocabulary: _Vocabulary) -> re.Pattern[str]:
    modifiers = _alternatives(vocabulary.modifiers)
    reach = (
        rf"(?:{_alternatives(vocabulary.reach_frames)})(?: (?:{modifiers})){{0,3}} "
        rf"(?:{_alternatives(vocabulary.people)})"
    )
    want = (
        rf"(?:{_alternatives(vocabulary.want_frames)})(?: (?:{modifiers})){{0,3}} "
        rf"(?:{_alternatives(vocabulary.strong_people)})"
    )
    return re.compile(rf"(?<!\w)(?:{reach}|{want})(?!\w)")
