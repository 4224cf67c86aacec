"""The few sentences the assistant says on its own (not written by a language model), per language."""

from __future__ import annotations

from enum import StrEnum


class Phrase(StrEnum):
    SOURCES = "sources"
    # Retrieval found nothing relevant: say so and offer a person instead of guessing.
    NOTHING_FOUND = "nothing_found"
    # The extractive answerer introduces the passages it quotes.
    NO_MODEL = "no_model"
    # The turn could not produce an answer (tool loop exhausted, model unavailable).
    CANNOT_ANSWER = "cannot_answer"


_PHRASES: dict[str, dict[Phrase, str]] = {
    "en": {
        Phrase.SOURCES: "Sources",
        Phrase.NOTHING_FOUND: (
            "I couldn't find anything about that in our knowledge base, so I'd rather not guess. "
            "If you'd like to talk to a person, just write “{keyword}”."
        ),
        Phrase.NO_MODEL: (
            "No language model is configured for this assistant, so here are the most relevant passages "
            "from our knowledge base:"
        ),
        Phrase.CANNOT_ANSWER: (
            "Sorry, I couldn't finish looking into that. If you'd like to talk to a person, just write “{keyword}”."
        ),
    },
    "es": {
        Phrase.SOURCES: "Fuentes",
        Phrase.NOTHING_FOUND: (
            "No encontré nada sobre eso en nuestra base de conocimiento y prefiero no adivinar. "
            "Si quieres hablar con una persona, escribe “{keyword}”."
        ),
        Phrase.NO_MODEL: (
            "Este asistente no tiene un modelo de lenguaje configurado; estos son los pasajes más relevantes "
            "de nuestra base de conocimiento:"
        ),
        Phrase.CANNOT_ANSWER: (
            "Lo siento, no pude terminar de revisar eso. Si quieres hablar con una persona, escribe “{keyword}”."
        ),
    },
    "pt": {
        Phrase.SOURCES: "Fontes",
        Phrase.NOTHING_FOUND: (
            "Não encontrei nada sobre isso na nossa base de conhecimento e prefiro não adivinhar. "
            "Se quiser falar com uma pessoa, escreva “{keyword}”."
        ),
        Phrase.NO_MODEL: (
            "Este assistente não tem um modelo de linguagem configurado; estes são os trechos mais relevantes "
            "da nossa base de conhecimento:"
        ),
        Phrase.CANNOT_ANSWER: (
            "Desculpe, não consegui terminar de verificar isso. Se quiser falar com uma pessoa, escreva “{keyword}”."
        ),
    },
    "fr": {
        Phrase.SOURCES: "Sources",
        Phrase.NOTHING_FOUND: (
            "Je n'ai rien trouvé à ce sujet dans notre base de connaissances et je préfère ne pas deviner. "
            "Pour parler à une personne, écrivez « {keyword} »."
        ),
        Phrase.NO_MODEL: (
            "Aucun modèle de langage n'est configuré pour cet assistant ; voici les passages les plus pertinents "
            "de notre base de connaissances :"
        ),
        Phrase.CANNOT_ANSWER: (
            "Désolé, je n'ai pas pu aller au bout de cette recherche. Pour parler à une personne, "
            "écrivez « {keyword} »."
        ),
    },
    "de": {
        Phrase.SOURCES: "Quellen",
        Phrase.NOTHING_FOUND: (
            "Dazu habe ich in unserer Wissensdatenbank nichts gefunden, und raten möchte ich nicht. "
            "Wenn Sie mit einem Menschen sprechen möchten, schreiben Sie „{keyword}“."
        ),
        Phrase.NO_MODEL: (
            "Für diesen Assistenten ist kein Sprachmodell eingerichtet; hier sind die passendsten Abschnitte "
            "aus unserer Wissensdatenbank:"
        ),
        Phrase.CANNOT_ANSWER: (
            "Das konnte ich leider nicht zu Ende prüfen. Wenn Sie mit einem Menschen sprechen möchten, "
            "schreiben Sie „{keyword}“."
        ),
    },
    "it": {
        Phrase.SOURCES: "Fonti",
        Phrase.NOTHING_FOUND: (
            "Non ho trovato nulla al riguardo nella nostra base di conoscenza e preferisco non tirare a indovinare. "
            "Se vuoi parlare con una persona, scrivi “{keyword}”."
        ),
        Phrase.NO_MODEL: (
            "Per questo assistente non è configurato alcun modello linguistico; ecco i passaggi più pertinenti "
            "della nostra base di conoscenza:"
        ),
        Phrase.CANNOT_ANSWER: (
            "Mi dispiace, non sono riuscito a completare la verifica. Se vuoi parlare con una persona, "
            "scrivi “{keyword}”."
        ),
    },
}


def phrase(which: Phrase, language: str, *, keyword: str = "human") -> str:
    """The sentence in `language`, English when that language has no translation."""
    table = _PHRASES.get(language.lower(), _PHRASES["en"])
    return table[which].format(keyword=keyword)
