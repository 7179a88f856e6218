"""Text helpers shared by stages: sentence spans and letter classes of Russian and Kazakh.

`sentence_spans` is a lean re-implementation of razdel's sentence rules (same abbreviation lists,
same 10-character windows, same join rules), plus a few Kazakh abbreviations. razdel builds an
object per punctuation mark; this looks only at the marks that are followed by whitespace, the
only places razdel can split, and runs several times faster. `razdel_spans` is kept to measure
the agreement (scripts/bench_language.py, tests/test_text.py).
"""

from __future__ import annotations

import re

from razdel import sentenize
from razdel.segmenters.punct import (
    CLOSE_BRACKETS,
    CLOSE_QUOTES,
    DASHES,
    ENDINGS,
    GENERIC_QUOTES,
    QUOTES,
    SMILES,
)
from razdel.segmenters.sokr import HEAD_PAIR_SOKRS, HEAD_SOKRS, INITIALS, PAIR_SOKRS, SOKRS

# Letters Kazakh has and Russian lacks; their presence is strong evidence of Kazakh.
KAZAKH_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
# Latin and other look-alikes typed in place of Cyrillic letters in comments.
# fmt: off
LOOKALIKES = str.maketrans(
    {
        "i": "і", "I": "І",  # Latin i for Kazakh і
        "a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у",
        "A": "А", "E": "Е", "O": "О", "P": "Р", "C": "С", "X": "Х", "K": "К", "M": "М",
        "H": "Н", "T": "Т", "B": "В",
    }
)
# fmt: on
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_CYR = re.compile(r"[а-яёА-ЯЁәғқңөұүһіӘҒҚҢӨҰҮҺІ]")

# ---------------------------------------------------------------------------------------------
# Sentence splitter
# ---------------------------------------------------------------------------------------------

# Kazakh abbreviations: "Алматы қ." (қаласы), "Абай көш." (көшесі), "мыс." (мысалы) never end a
# sentence; "2024 ж." (жылы) and "т.б." / "т.с.с." (and so on) may.
_HEAD_SOKRS = frozenset(HEAD_SOKRS | {"қ", "көш", "мыс", "даң", "шағ"})
_SOKRS = frozenset(SOKRS | _HEAD_SOKRS | {"ж", "жж", "тг"})
_PAIR_SOKRS = frozenset(PAIR_SOKRS | {("т", "б"), ("с", "с")})
_HEAD_PAIR_SOKRS = frozenset(HEAD_PAIR_SOKRS)
_INITIALS = frozenset(INITIALS)

_DELIMITERS = ENDINGS + ";" + GENERIC_QUOTES + CLOSE_QUOTES + CLOSE_BRACKETS
# A delimiter or a smiley (":-)", ";)", "=(((") followed by whitespace: the only places a
# sentence can end. The pattern starts with one character class so that the scan is fast; a bare
# ":" or "=" it also finds is skipped.
assert SMILES == r"[=:;]-?[)(]{1,3}", "razdel changed its smiley pattern"
_CANDIDATE = re.compile(f"[{re.escape(_DELIMITERS)}=:](?:(?<=[=:;])-?[)(]{{1,3}})?(?=\\s)")
_FIRST_TOKEN = re.compile(r"\s*([^\W\d]+|\d+|[^\w\s])")
_LAST_TOKEN = re.compile(r"([^\W\d]+|\d+|[^\w\s])\s*$")
_PAIR_SOKR = re.compile(r"(\w)\s*\.\s*(\w)\s*$")
_RIGHT_WORD = re.compile(r"[^\W\d]+|\d+")
_SMILE_PREFIX = re.compile(r"\s*" + SMILES)
_TOKEN = re.compile(r"[^\W\d]+|\d+|[^\w\s]")
_ROMAN = re.compile(r"[IVXML]+")
_BULLET_CHARS = frozenset("§абвгдеabcdef")
_WINDOW = 10  # characters of context each side, as razdel
_BULLET_SIZE = 20


def _is_sokr_token(token: str) -> bool:
    """A token that may follow an abbreviation: a number, punctuation or a lower-case word."""
    return token.isdigit() or not token.isalpha() or token.islower()


def _is_bullet(token: str) -> bool:
    return (
        token.isdigit()
        or token in ".)"
        or token.lower() in _BULLET_CHARS
        or _ROMAN.fullmatch(token) is not None
    )


def _sokr_join(left: str, left_token: str, right_token: str) -> bool:
    """razdel's abbreviation rules for a full stop (sokr, pair sokr, initials)."""
    # "т.е", "т. д": the last token is one character (a longer one cannot end such a pair)
    pair = _PAIR_SOKR.search(left) if len(left_token) == 1 else None
    single = True
    if pair:
        key = (pair.group(1).lower(), pair.group(2).lower())
        if key in _HEAD_PAIR_SOKRS:
            return True
        if key in _PAIR_SOKRS:
            if _is_sokr_token(right_token):
                return True
            single = False  # "т.д. Потом": razdel skips the one-word abbreviations here
    low = left_token.lower()
    if single and (low in _HEAD_SOKRS or (low in _SOKRS and _is_sokr_token(right_token))):
        return True
    if (low, right_token.lower()) in _PAIR_SOKRS:
        return True
    return (left_token.isupper() and len(left_token) == 1) or low in _INITIALS


def _bound_join(delimiter: str, left: str, left_token: str) -> bool:
    """razdel's closing quote / bracket rules: they split only right after . ? ! …"""
    if delimiter in GENERIC_QUOTES and left[-1:].isspace():
        return True  # an opening quote
    if delimiter in QUOTES or delimiter in CLOSE_BRACKETS:
        return left_token not in ENDINGS
    return False


def _list_item(text: str, cut: int, start: int) -> bool:
    """A short run of bullets before the mark: "1.", "2.1.", "а)", "IV."."""
    if start - cut > _BULLET_SIZE:
        return False
    return all(_is_bullet(t) for t in _TOKEN.findall(text, cut, start))


def _joins(text: str, start: int, stop: int, cut: int) -> bool:
    """Whether the mark text[start:stop] (followed by whitespace) stays inside a sentence.

    `cut` is where the current sentence began. The checks follow razdel's rule order.
    """
    delimiter = text[start:stop]
    left = text[max(0, start - _WINDOW) : start]
    right = text[stop : stop + _WINDOW]
    rt = _FIRST_TOKEN.match(right)
    if rt is None:
        return True
    right_token = rt.group(1)
    if right_token.isalpha() and right_token.islower():
        return True
    lt = _LAST_TOKEN.search(left)
    if lt is None:
        return True
    left_token = lt.group(1)
    if right_token not in GENERIC_QUOTES and (
        right_token in _DELIMITERS or (right_token in "=:" and _SMILE_PREFIX.match(right))
    ):
        return True
    if delimiter == "." and _sokr_join(left, left_token, right_token):
        return True
    if delimiter in ".)" and _list_item(text, cut, start):
        return True
    if _bound_join(delimiter, left, left_token):
        return True
    if right_token in DASHES:
        word = _RIGHT_WORD.search(right)
        return word is not None and word.group().isalpha() and word.group().islower()
    return False


def _stripped(text: str, a: int, b: int) -> tuple[int, int] | None:
    chunk = text[a:b]
    body = chunk.strip()
    if not body:
        return None
    a += len(chunk) - len(chunk.lstrip())
    return a, a + len(body)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (razdel's rules; Russian and Kazakh).

    Sentences end after . ? ! … ; a closing quote or bracket (or a smiley) that is followed by
    whitespace and then not by a lower-case word, unless an abbreviation ("т.е.", "г.", "ул.",
    "им.", "проф.", "млн." before a number, "Алматы қ."), an initial ("А. Б. Иванов") or a list
    bullet ("1.") keeps it inside. Spans exclude surrounding whitespace.
    """
    if not text or not text.strip():
        return []
    spans: list[tuple[int, int]] = []
    cut = 0
    for m in _CANDIDATE.finditer(text):
        start, stop = m.span()
        if stop - start == 1 and text[start] in "=:":
            continue
        if _joins(text, start, stop, cut):
            continue
        span = _stripped(text, cut, stop)
        if span is not None:
            spans.append(span)
        cut = stop
    last = _stripped(text, cut, len(text))
    if last is not None:
        spans.append(last)
    return spans


def razdel_spans(text: str) -> list[tuple[int, int]]:
    """razdel's own sentence spans: the reference `sentence_spans` is checked against."""
    if not text or not text.strip():
        return []
    return [(s.start, s.stop) for s in sentenize(text)]


def boundary_agreement(texts: list[str]) -> tuple[int, int, int]:
    """(razdel's boundaries, ours, shared) over `texts`; a boundary is a sentence's end offset."""
    n_ref = n_ours = shared = 0
    for t in texts:
        ref = {b for _, b in razdel_spans(t)[:-1]}
        ours = {b for _, b in sentence_spans(t)[:-1]}
        n_ref, n_ours, shared = n_ref + len(ref), n_ours + len(ours), shared + len(ref & ours)
    return n_ref, n_ours, shared


def fix_lookalikes(word: str) -> str:
    """Replace Latin look-alike letters inside a word that is mostly Cyrillic."""
    if not _CYR.search(word):
        return word
    return word.translate(LOOKALIKES)


def words(text: str) -> list[str]:
    """Alphabetic tokens of `text`, digits and punctuation dropped."""
    return _WORD.findall(text)
