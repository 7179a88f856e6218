"""Words that describe topics: lemmatised Russian, stemmed Kazakh, stop words, a fixed vocabulary.

Embedders always see the raw text; this module only shapes the vocabulary of topic words and of
the TF-IDF embedder. Each document is turned once into a space-joined string of *terms*:

* Russian words -> pymorphy3 lemma (cached per form). Capitalised words the dictionary does not
  know are kept as written (lower case) instead of being "lemmatised" into nonsense
  (Аль-Фараби -> аля-фараби, Жетысу -> жетыс); surnames go to their masculine normal form
  (Токаева -> токаев) so that every form of a name is one term.
* Kazakh words -> `kk_stem`, a tiny greedy suffix stripper giving one folded key per word
  (әкімдігінің and акимдигинин -> акимдик). `pipeline.kazakh_stem` keeps *sets* of readings for
  matching city bodies; topic words need exactly one term per word, hence this separate helper.
* Stop words (configs/stopwords.yaml + qaznltk's Kazakh list) are dropped by surface or lemma.

The vocabulary is built at article level (min_df / max_df count documents) and then handed to
BERTopic as a fixed `CountVectorizer(vocabulary=...)`: BERTopic fits its vectorizer on one
concatenated document per topic, so a `min_df` given to it would count topics, not articles.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pymorphy3
from sklearn.feature_extraction.text import CountVectorizer
from tqdm import tqdm

from pipeline.config import ROOT, load_config_yaml
from pipeline.text import KAZAKH_LETTERS, fix_lookalikes

log = logging.getLogger(__name__)

NGRAM_RANGE = (1, 2)
TERM_PATTERN = r"(?u)\S+"  # analysed documents are space-joined terms
_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+|\n+")
_ABBREVIATION_MAX = 6  # all-caps words this short (ДЧС, ЦОН, АЖК) are kept as written
_SURNAME_ENDINGS = ("ов", "ев", "ёв", "ин")
_PROPER = frozenset({"Name", "Surn", "Patr", "Geox", "Orgn", "Trad"})
KK_LANGS = frozenset({"kk"})
RU_LANGS = frozenset({"ru"})

# Kazakh stemming: fold Kazakh letters to the Russian ones typed in their place, then strip one
# case ending (or possessive+case), one possessive and one plural suffix, longest first.
_KK_FOLD = str.maketrans(
    {"ә": "а", "ғ": "г", "қ": "к", "ң": "н", "ө": "о", "ұ": "у", "ү": "у", "һ": "х", "і": "и"}
)
_KK_LAYERS = tuple(
    tuple(sorted(layer.split(), key=len, reverse=True))
    for layer in (
        # case, and 3rd-person possessive + case as one unit
        "сынын синин ынын инин нын нин дын дин тын тин сына сине ына ине сында синде ында инде "
        "сынан синен ынан инен нан нен дан ден тан тен сымен симен ымен имен менен бенен пенен "
        "мен бен пен дагы деги тагы теги га ге ка ке на не да де та те ны ни ды ди ты ти",
        "ымыз имиз мыз миз лары лери дары дери тары тери сы си ы и",  # possessive
        "лар лер дар дер тар тер",  # plural
    )
)
_KK_MIN_STEM = 3
_KK_DEVOICE = {"г": "к", "б": "п"}
_KK_VOWELS = frozenset("аеиоуыэюяё")
_KK_VOICELESS = frozenset("пткксшщфхцч")


def _kk_fits(stem: str, suffix: str) -> bool:
    """Kazakh vowel harmony and voicing: which stems each suffix's first letter may follow."""
    if len(stem) < _KK_MIN_STEM:
        return False
    last, first = stem[-1], suffix[0]
    if first in _KK_VOWELS:  # -ы, -ын, -ына: after a consonant
        return last not in _KK_VOWELS
    if suffix in ("нын", "нин"):  # қала-ның, аудан-ның
        return last in _KK_VOWELS or last in "мн"
    if first in "сн" and suffix not in ("нан", "нен", "не"):
        return last in _KK_VOWELS  # қала-сы, қала-ны, қала-на
    if first in "тк":  # -та, -тың, -ке, -тар: after a voiceless consonant
        return last in _KK_VOICELESS
    if first in "дг":  # -да, -дың, -ға: not after a voiceless consonant
        return last not in _KK_VOICELESS
    return True


def kk_stem(word: str) -> str:
    """One folded key per Kazakh word form: әкімдігінің, әкімдігімен, акимдиги -> акимдик."""
    out = fix_lookalikes(word).lower().replace("ё", "е").translate(_KK_FOLD)
    if word.isupper() and len(word) <= _ABBREVIATION_MAX:
        return out  # ТЖД, АЖК: never stripped
    for layer in _KK_LAYERS:
        for suffix in layer:
            if out.endswith(suffix) and _kk_fits(out[: -len(suffix)], suffix):
                out = out[: -len(suffix)]
                break
    if len(out) > _KK_MIN_STEM and out[-1] in _KK_DEVOICE:
        out = out[:-1] + _KK_DEVOICE[out[-1]]
    return out


def load_stopwords(root: str | Path = ROOT) -> frozenset[str]:
    """Russian + Kazakh + news-boilerplate stop words from `configs/stopwords.yaml` (lower case)."""
    raw = load_config_yaml("stopwords.yaml", root)
    words: set[str] = set()
    for key in ("russian", "kazakh", "boilerplate"):
        words.update(str(w) for w in raw.get(key) or [])
    if raw.get("include_qaznltk", True):
        import qaznltk

        words.update(qaznltk.get_stop_words())
    return frozenset(_norm(w) for w in words if str(w).strip())


def _norm(word: str) -> str:
    return word.strip().lower().replace("ё", "е")


def _has_kazakh(word: str) -> bool:
    return any(ch in KAZAKH_LETTERS for ch in word)


class TopicAnalyzer:
    """Turns raw documents into terms (lemmas / Kazakh stems) without stop words.

    Load once and pass it in: the pymorphy3 analyser and the per-form lemma cache live here.
    """

    def __init__(
        self,
        stopwords: Iterable[str],
        morph: pymorphy3.MorphAnalyzer | None = None,
        kk_sentence_share: float = 0.15,
    ) -> None:
        self.stopwords = frozenset(_norm(w) for w in stopwords)
        self.morph = morph or pymorphy3.MorphAnalyzer()
        self.kk_sentence_share = kk_sentence_share
        self._ru_cache: dict[tuple[str, bool], str] = {}

    # -- single words -------------------------------------------------------------------------
    def ru_lemma(self, word: str) -> str:
        """Lemma of one Russian word; unknown capitalised words are kept as written."""
        capitalised = word[:1].isupper() and not word.isupper()
        lower = _norm(word)
        if word.isupper() and len(word) <= _ABBREVIATION_MAX:
            return lower
        key = (lower, capitalised)
        lemma = self._ru_cache.get(key)
        if lemma is None:
            lemma = _norm(self._lemmatise(lower, capitalised))
            self._ru_cache[key] = lemma
        return lemma

    def _lemmatise(self, lower: str, capitalised: bool) -> str:
        parses = self.morph.parse(lower)
        best = parses[0]
        if not capitalised:
            return best.normal_form
        for p in parses:  # a surname reading wins: every form of a name -> one term
            if "Surn" in p.tag and p.tag.gender == "masc":
                return p.normal_form
        proper = any(_PROPER & set(p.tag.grammemes) for p in parses)
        if lower.endswith(_SURNAME_ENDINGS) and not proper:
            return lower  # Токаев is a surname, not "токай" in the genitive plural
        if self.morph.word_is_known(lower) or "ADJF" in best.tag:
            return best.normal_form  # Астаны -> астана, Медеуского -> медеуский
        return lower  # unknown proper noun: never guess (Жетысу, Аль-Фараби)

    def term(self, word: str, kazakh: bool) -> str | None:
        """The term for one word, or None when it is a stop word or too short."""
        word = fix_lookalikes(word)
        lower = _norm(word)
        if len(lower) < 2 or lower in self.stopwords:
            return None
        out = kk_stem(word) if kazakh else self.ru_lemma(word)
        if len(out) < 2 or out in self.stopwords:
            return None
        return out

    # -- documents ----------------------------------------------------------------------------
    def pairs(self, text: str, lang: str | None = None) -> list[tuple[str, str]]:
        """(term, surface word) for every kept word of `text`, in order.

        `lang` is the document language from the LANGUAGES table: "kk" stems every word as Kazakh;
        "ru" stems only words with Kazakh letters; anything else (mixed, unknown) decides per
        sentence by the share of words with Kazakh letters.
        """
        out: list[tuple[str, str]] = []
        for sentence in _SENTENCE_BREAK.split(text or ""):
            tokens = _TOKEN.findall(sentence)
            if not tokens:
                continue
            kk_sentence = self._kazakh_sentence(tokens, lang)
            for tok in tokens:
                term = self.term(tok, kazakh=kk_sentence or _has_kazakh(tok))
                if term is not None:
                    out.append((term, tok))
        return out

    def _kazakh_sentence(self, tokens: Sequence[str], lang: str | None) -> bool:
        if lang in KK_LANGS:
            return True
        if lang in RU_LANGS:
            return False
        kk = sum(_has_kazakh(t) for t in tokens)
        return kk / len(tokens) >= self.kk_sentence_share

    def tokens(self, text: str, lang: str | None = None) -> list[str]:
        """Terms of one document."""
        return [term for term, _ in self.pairs(text, lang)]

    def analyse(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[str]:
        """Space-joined terms of every document (the input of the fixed-vocabulary vectorizer)."""
        langs = list(langs) if langs is not None else [None] * len(texts)
        if len(langs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
        return [
            " ".join(self.tokens(t, lang))
            for t, lang in tqdm(
                zip(texts, langs, strict=True), total=len(texts), desc="topic words",
                disable=len(texts) < 500, leave=False,
            )
        ]

    def surface_forms(
        self, texts: Sequence[str], langs: Sequence[str | None] | None, terms: Iterable[str]
    ) -> dict[str, str]:
        """A readable form of each wanted unigram or bigram term, for topic labels.

        A Russian word is shown as its lemma (capitalised when usually written so: Досаев); a
        Kazakh stem or a bigram as its most frequent written form (әкімдігі, дорожного движения).
        """
        wanted = set(terms)
        counts: dict[str, Counter[str]] = {t: Counter() for t in wanted}
        langs = list(langs) if langs is not None else [None] * len(texts)
        for text, lang in zip(texts, langs, strict=True):
            pairs = self.pairs(text, lang)
            for i, (term, surface) in enumerate(pairs):
                if term in wanted:
                    counts[term][surface] += 1
                if i + 1 < len(pairs):
                    bigram = f"{term} {pairs[i + 1][0]}"
                    if bigram in wanted:
                        counts[bigram][f"{surface} {pairs[i + 1][1]}"] += 1
        return {t: self._display(t, c) for t, c in counts.items()}

    def _display(self, term: str, counts: Counter[str]) -> str:
        if not counts:
            return term
        surface = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if " " in term or surface.isupper() or self.ru_lemma(surface) != term:
            return surface  # bigram, abbreviation (ДЧС) or Kazakh stem
        return term[:1].upper() + term[1:] if surface[:1].isupper() else term


def nominative_phrase(phrase: str, morph: pymorphy3.MorphAnalyzer) -> str:
    """A Russian adjective + noun keyphrase in the nominative, for topic labels.

    Keyphrases are shown as most often written, so labels came out in oblique cases ("Судебных
    заседаний"). An adjective or participle agreeing with a known noun is put in the nominative
    with the noun's number ("судебные заседания", "пограничная служба"); any other phrase
    (two nouns, "курс доллара"; Kazakh; unknown words) is returned as it is.
    """
    words = phrase.split()
    if len(words) != 2 or any(_has_kazakh(w) for w in words):
        return phrase
    adj, noun = (w.lower() for w in words)
    if not (morph.word_is_known(adj) and morph.word_is_known(noun)):
        return phrase
    pn = next((p for p in morph.parse(noun) if p.tag.POS == "NOUN"), None)
    if pn is None:
        return phrase
    pa = next((p for p in morph.parse(adj) if p.tag.POS in ("ADJF", "PRTF")
               and p.tag.case == pn.tag.case and p.tag.number == pn.tag.number), None)
    if pa is None:
        return phrase
    number = pn.tag.number or "sing"
    agree = {"nomn", number} | ({pn.tag.gender} if number == "sing" and pn.tag.gender else set())
    new_noun, new_adj = pn.inflect({"nomn", number}), pa.inflect(agree)
    if new_noun is None or new_adj is None:
        return phrase
    out = f"{new_adj.word} {new_noun.word}"
    return out[:1].upper() + out[1:] if phrase[:1].isupper() else out


def build_vocabulary(
    analysed: Sequence[str], min_df: int | float = 2, max_df: int | float = 0.5
) -> list[str]:
    """Sorted 1-2-gram terms kept at article level (`min_df` / `max_df` count documents).

    A corpus too small for the thresholds falls back to every term (logged); a corpus with no
    terms at all gives an empty list.
    """
    for lo, hi in ((min_df, max_df), (1, 1.0)):
        cv = CountVectorizer(
            token_pattern=TERM_PATTERN, lowercase=False, ngram_range=NGRAM_RANGE,
            min_df=lo, max_df=hi,
        )
        try:
            cv.fit(analysed)
        except ValueError as exc:  # empty vocabulary or max_df below min_df on a tiny corpus
            log.info("topic vocabulary: min_df=%s max_df=%s too strict (%s)", lo, hi, exc)
            continue
        return sorted(cv.vocabulary_)
    log.warning("topic vocabulary is empty: the documents hold only stop words or no words")
    return []


def make_vectorizer(vocabulary: Sequence[str]) -> CountVectorizer:
    """A CountVectorizer over analysed documents with a fixed article-level vocabulary."""
    if not vocabulary:
        raise ValueError("empty topic vocabulary: build_vocabulary found no terms")
    return CountVectorizer(
        token_pattern=TERM_PATTERN, lowercase=False, ngram_range=NGRAM_RANGE,
        vocabulary={t: i for i, t in enumerate(vocabulary)},
    )
