"""Text helpers shared by stages: sentence spans and letter classes of Russian and Kazakh."""

from __future__ import annotations

import re

from razdel import sentenize

# Letters Kazakh has and Russian lacks; their presence is strong evidence of Kazakh.
KAZAKH_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
# Latin and other look-alikes typed in place of Cyrillic letters in comments.
LOOKALIKES = str.maketrans(
    {
        "i": "і", "I": "І",  # Latin i for Kazakh і
        "a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у",
        "A": "А", "E": "Е", "O": "О", "P": "Р", "C": "С", "X": "Х", "K": "К", "M": "М",
        "H": "Н", "T": "Т", "B": "В",
    }
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_CYR = re.compile(r"[а-яёА-ЯЁәғқңөұүһіӘҒҚҢӨҰҮҺІ]")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (razdel; works for Russian and Kazakh)."""
    if not text or not text.strip():
        return []
    return [(s.start, s.stop) for s in sentenize(text)]


def fix_lookalikes(word: str) -> str:
    """Replace Latin look-alike letters inside a word that is mostly Cyrillic."""
    if not _CYR.search(word):
        return word
    return word.translate(LOOKALIKES)


def words(text: str) -> list[str]:
    """Alphabetic tokens of `text`, digits and punctuation dropped."""
    return _WORD.findall(text)
