"""A light Kazakh suffix stripper for matching names of city bodies.

Kazakh is agglutinative: stem + plural + possessive + case ("әкімдіктерінің"). We do not need a
real morphological analyser to link "әкімдігінің", "әкімдігімен", "әкімдігіне" to "әкімдік"; we
need the same key for every form of a word, from both spellings people type: with Kazakh letters
("басқармасының") and with their Russian look-alikes ("баскармасынын"). So every word is first
*folded* (lower case, Kazakh letters -> the Russian letters typed in their place, Latin look-alikes
-> Cyrillic), then one case ending, one possessive and one plural suffix are stripped, longest
first, never leaving fewer than `MIN_STEM` letters, and a final voiced consonant is devoiced
(әкімдігі -> әкімдіг -> әкімдік).

The stems are match keys, not linguistic stems: "Алматы" becomes "алмат", consistently in the
knowledge base and in text.
"""

from __future__ import annotations

from functools import lru_cache

from pipeline.text import fix_lookalikes, words

MIN_STEM = 3

# Kazakh letter -> the Russian letter typed in its place when a keyboard lacks it.
_FOLD = str.maketrans(
    {
        "ә": "а", "ғ": "г", "қ": "к", "ң": "н", "ө": "о", "ұ": "у", "ү": "у", "һ": "х",
        "і": "и", "ё": "е",
    }
)

# Possessive (3rd person) + case, as one unit: the only place a bare "-н" or "-а" may be cut.
_POSS_CASE = (
    "сынын", "синин", "ынын", "инин",  # genitive
    "сына", "сине", "ына", "ине",  # dative
    "сында", "синде", "ында", "инде",  # locative
    "сынан", "синен", "ынан", "инен",  # ablative
    "сымен", "симен", "ымен", "имен",  # instrumental
    "сын", "син", "ын", "ин",  # accusative
)
_CASE = (
    "нын", "нин", "дын", "дин", "тын", "тин",  # genitive
    "нан", "нен", "дан", "ден", "тан", "тен",  # ablative
    "нда", "нде",  # locative after possessive
    "менен", "бенен", "пенен", "мен", "бен", "пен",  # instrumental
    "дагы", "деги", "тагы", "теги",  # locative adjective ("қаладағы")
    "га", "ге", "ка", "ке",  # dative
    "да", "де", "та", "те",  # locative
    "ны", "ни", "ды", "ди", "ты", "ти",  # accusative
)
_POSS = ("ымыз", "имиз", "мыз", "миз", "лары", "лери", "сы", "си", "ы", "и")
_PLURAL = ("лар", "лер", "дар", "дер", "тар", "тер")
_DEVOICE = {"г": "к", "б": "п"}


def _by_length(suffixes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(suffixes), key=len, reverse=True))


_POSS_CASE = _by_length(_POSS_CASE)
_CASE = _by_length(_CASE)
_POSS = _by_length(_POSS)
_PLURAL = _by_length(_PLURAL)


def fold(word: str) -> str:
    """Lower-case `word` and map Kazakh letters and Latin look-alikes to plain Cyrillic."""
    return fix_lookalikes(word).lower().translate(_FOLD)


def _abbreviation(word: str) -> bool:
    return len(word) <= 6 and sum(ch.isupper() for ch in word) >= 2


@lru_cache(maxsize=200_000)
def stems(word: str) -> frozenset[str]:
    """Every match key `word` may reduce to: one per way of reading its suffixes.

    Kazakh endings are ambiguous out of context ("ауданы" is аудан + possessive -ы, "қаланы" is
    қала + accusative -ны), so we keep each reading and call two words the same when their key
    sets meet (`same_stem`). Abbreviations (ТЖД, АЖК) are only folded.

    >>> "акимдик" in stems("әкімдігінің") and "акимдик" in stems("акимдигимен")
    True
    """
    if not word:
        return frozenset()
    folded = fold(word)
    if _abbreviation(word):
        return frozenset({folded})
    cands = {folded}
    for layer in (_POSS_CASE + _CASE, _POSS, _PLURAL):
        grown = set(cands)
        for cand in cands:
            for suffix in layer:
                if cand.endswith(suffix) and len(cand) - len(suffix) >= MIN_STEM:
                    grown.add(cand[: -len(suffix)])
        cands = grown
    return frozenset(_devoice(c) for c in cands)


def _devoice(stem: str) -> str:
    if len(stem) > MIN_STEM and stem[-1] in _DEVOICE:
        return stem[:-1] + _DEVOICE[stem[-1]]
    return stem


def same_stem(a: str, b: str) -> bool:
    """Whether two Kazakh words may be forms of one word (their key sets meet)."""
    return bool(stems(a) & stems(b))


def stem_phrase(text: str) -> list[frozenset[str]]:
    """Key sets of the alphabetic words of `text`, in order."""
    return [stems(w) for w in words(text)]
