"""Kazakh person names back to their dictionary form, for counting who is mentioned.

In Kazakh the case ending goes on the last word of a name only ("Ерболат Досаевтың",
"Ерболат Досаевқа"), so only that word is reduced. A name word has no safe stemmer, so the
rules are narrow: an ending is cut only when what is left reads as a surname (-ов, -ева, -ұлы,
...) or when the ending itself is unmistakably Kazakh (it holds a Kazakh letter: -тың, -ға,
-ді), and never below three letters. "Ольга" keeps its "-га" (no Kazakh letter, no surname
left); "Досаевтың" becomes "Досаев"; "Асқарға" becomes "Асқар".
"""

from __future__ import annotations

import re

from pipeline.text import KAZAKH_LETTERS

MIN_STEM = 3

# Case endings a name takes (no possessive: names do not carry one), both spellings:
# with Kazakh letters and with the Russian letters typed in their place.
_ENDINGS = tuple(sorted({
    # genitive
    "тың", "тің", "дың", "дің", "ның", "нің", "тын", "тин", "дын", "дин", "нын", "нин",
    # dative
    "қа", "ке", "ға", "ге", "ка", "га",
    # accusative
    "ты", "ті", "ды", "ді", "ны", "ні", "ти", "ди", "ни",
    # locative
    "та", "те", "да", "де",
    # ablative
    "тан", "тен", "дан", "ден", "нан", "нен",
    # instrumental
    "пен", "бен", "мен", "пенен", "бенен", "менен",
}, key=len, reverse=True))
_SURNAME = re.compile(
    r"(ов|ев|ёв|ин|ова|ева|ёва|ина|ский|цкий|ская|цкая|ко|ук|юк|ян|ұлы|улы|қызы|кызы)$",
    re.IGNORECASE,
)
_APOSTROPHES = "'’ʼ`-"


def _reduce(word: str) -> str:
    for ending in _ENDINGS:
        if not word.lower().endswith(ending):
            continue
        stem = word[: -len(ending)].rstrip(_APOSTROPHES)
        if len(stem) < MIN_STEM:
            continue
        if _SURNAME.search(stem) or KAZAKH_LETTERS & set(ending):
            return stem
    return word


def kazakh_person_name(text: str) -> str:
    """A person span from Kazakh text in its dictionary form, words capitalised.

    >>> kazakh_person_name("Ерболат Досаевтың")
    'Ерболат Досаев'
    """
    words = text.split()
    if not words:
        return ""
    words[-1] = _reduce(words[-1])
    return " ".join("-".join(p[:1].upper() + p[1:].lower() for p in w.split("-"))
                    for w in words)
