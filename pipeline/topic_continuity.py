"""Topic continuity across weekly runs: a registry of known topics, stable ids and weekly flags.

Every weekly run refits the topic model, so its raw topic numbers mean nothing from one run to the
next. The registry (`models/topics/registry/registry.json`, a persisted DVC output) remembers each
topic ever shown: a stable id, its label, the c-TF-IDF weights of its top terms, and the first and
last week it held documents. After a fit, each new topic is matched to a known one by the cosine
similarity of their term weights (Hungarian assignment, pairs below `threshold` stay unmatched);
the rest get fresh ids that are never reused. Term weights are used rather than embedding
centroids because the default tfidf embedder is refitted per run: its vector spaces differ from
run to run, while lemmas do not.

Per week each topic is flagged `new` (its first week ever), `growing`, `shrinking`, `stable`, or
`vanished` (a row with no documents, the week after its last documents). `with_status` writes the
flags into TOPIC_WEEKS itself (its `status` column), for every week of the table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linear_sum_assignment

from pipeline.io import write_json

log = logging.getLogger(__name__)

OUTLIER = -1
REGISTRY_FORMAT = 1
REGISTRY_FILE = "registry.json"
SIGNATURE_TERMS = 30
STATUSES = ("new", "growing", "shrinking", "stable", "vanished")
STATUS_COLUMNS = ["week", "topic_id", "n_docs", "prev_docs", "status"]
TOPIC_WEEK_COLUMNS = ("week", "topic_id", "n_docs", "n_docs_almaty", "status")  # schema.TOPIC_WEEKS

Signature = dict[str, float]


class RegistryError(ValueError):
    """The registry on disk cannot be read."""


@dataclass(frozen=True)
class KnownTopic:
    """One topic of the registry."""

    topic_id: int
    label: str
    weights: Signature
    first_week: str | None = None
    last_week: str | None = None
    runs_seen: int = 1


@dataclass(frozen=True)
class TopicRegistry:
    """Known topics by stable id; `next_id` is the id the next new topic gets."""

    topics: tuple[KnownTopic, ...] = field(default_factory=tuple)
    next_id: int = 0

    def by_id(self) -> dict[int, KnownTopic]:
        return {t.topic_id: t for t in self.topics}


# -- signatures ---------------------------------------------------------------------------------
def topic_signatures(
    counts, topic_ids: Sequence[int], vocabulary: Sequence[str], top_n: int = SIGNATURE_TERMS
) -> dict[int, Signature]:
    """c-TF-IDF weights of each topic's `top_n` terms, L2-normalised (outliers left out).

    Args:
        counts: a (documents x vocabulary) sparse count matrix of the clustered documents.
        topic_ids: the topic of each row.
        vocabulary: the term of each column.
        top_n: terms kept per topic.
    """
    topic_ids = np.asarray(topic_ids, dtype=int)
    if counts.shape[0] != len(topic_ids) or counts.shape[1] != len(vocabulary):
        raise ValueError(f"counts {counts.shape} do not fit {len(topic_ids)} topic ids and "
                         f"{len(vocabulary)} terms")
    ids = sorted(t for t in set(topic_ids.tolist()) if t != OUTLIER)
    if not ids:
        return {}
    docs = np.flatnonzero(topic_ids != OUTLIER)
    rows = np.searchsorted(np.array(ids), topic_ids[docs])
    member = sparse.csr_matrix((np.ones(len(docs)), (rows, docs)),
                               shape=(len(ids), len(topic_ids)))
    tf = sparse.csr_matrix(member @ sparse.csr_matrix(counts, dtype=float))  # topics x terms
    tf = sparse.diags(1.0 / np.maximum(np.asarray(tf.sum(axis=1)).ravel(), 1.0)) @ tf
    term_mass = np.asarray(tf.sum(axis=0)).ravel()
    idf = np.log1p((tf.sum() / len(ids)) / np.maximum(term_mass, 1e-12))  # BERTopic's idf
    weights = sparse.csr_matrix(tf @ sparse.diags(idf))
    out: dict[int, Signature] = {}
    for i, t in enumerate(ids):
        lo, hi = weights.indptr[i], weights.indptr[i + 1]
        data, cols = weights.data[lo:hi], weights.indices[lo:hi]
        top = [k for k in np.lexsort((cols, -data))[:top_n] if data[k] > 0]
        norm = math.sqrt(sum(float(data[k]) ** 2 for k in top)) or 1.0
        out[t] = {vocabulary[cols[k]]: round(float(data[k] / norm), 6) for k in top}
    return out


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine similarity of two sparse term-weight vectors (0 when either is empty)."""
    if len(a) > len(b):
        a, b = b, a
    dot = sum(w * b.get(term, 0.0) for term, w in a.items())
    na = math.sqrt(sum(w * w for w in a.values()))
    nb = math.sqrt(sum(w * w for w in b.values()))
    return dot / (na * nb) if na and nb else 0.0


# -- alignment ----------------------------------------------------------------------------------
def align_topics(
    signatures: Mapping[int, Signature],
    sizes: Mapping[int, int],
    labels: Mapping[int, str],
    registry: TopicRegistry,
    threshold: float,
) -> dict[int, int]:
    """Fitted topic id -> stable id; -1 stays -1.

    Known topics are matched by a Hungarian assignment on term-weight cosine similarity; a pair
    below `threshold` is no match. Unmatched topics get `registry.next_id`, `next_id + 1`, ... in
    the order (size descending, label, fitted id), so an empty registry numbers topics by size.
    """
    fitted = [t for t in sizes if t != OUTLIER and sizes[t] > 0]
    known = list(registry.topics)
    mapping: dict[int, int] = {OUTLIER: OUTLIER}
    if fitted and known:
        sim = np.array([[cosine(signatures.get(t, {}), k.weights) for k in known] for t in fitted])
        rows, cols = linear_sum_assignment(-sim)
        for r, c in zip(rows, cols, strict=True):
            if sim[r, c] >= threshold:
                mapping[fitted[r]] = known[c].topic_id
    fresh = sorted((t for t in fitted if t not in mapping),
                   key=lambda t: (-int(sizes[t]), labels.get(t, ""), t))
    mapping.update({t: registry.next_id + i for i, t in enumerate(fresh)})
    log.info("topic registry: %d of %d topics matched known ones, %d new", len(fitted) - len(fresh),
             len(fitted), len(fresh))
    return mapping


def update_registry(
    registry: TopicRegistry,
    signatures: Mapping[int, Signature],
    labels: Mapping[int, str],
    topic_weeks: pd.DataFrame,
) -> TopicRegistry:
    """The registry after a run: signatures, labels and weeks are keyed by stable id already.

    Matched topics take this run's label and weights; known topics absent from this run stay, so
    that they can be matched again later.
    """
    seen = topic_weeks[(topic_weeks["n_docs"] > 0) & topic_weeks["week"].notna()]
    weeks = seen.groupby("topic_id")["week"].agg(["min", "max"])
    by_id = registry.by_id()
    for t, sig in signatures.items():
        if t == OUTLIER:
            continue
        first = weeks["min"].get(t)
        last = weeks["max"].get(t)
        old = by_id.get(t)
        if old is None:
            by_id[t] = KnownTopic(int(t), labels.get(t, ""), dict(sig), first, last, 1)
        else:
            by_id[t] = replace(old, label=labels.get(t, old.label), weights=dict(sig),
                               first_week=_min_week(old.first_week, first),
                               last_week=_max_week(old.last_week, last),
                               runs_seen=old.runs_seen + 1)
    next_id = max([registry.next_id] + [t + 1 for t in by_id])
    return TopicRegistry(tuple(by_id[t] for t in sorted(by_id)), next_id)


def _min_week(a: str | None, b: str | None) -> str | None:
    return min((w for w in (a, b) if w), default=None)


def _max_week(a: str | None, b: str | None) -> str | None:
    return max((w for w in (a, b) if w), default=None)


# -- weekly flags -------------------------------------------------------------------------------
def weekly_status(
    topic_weeks: pd.DataFrame,
    registry: TopicRegistry,
    ratio: float = 1.5,
    min_docs: int = 3,
) -> pd.DataFrame:
    """Per (week, topic): n_docs, prev_docs (the previous week in the data) and a status.

    `new`: the topic's first week, counting weeks the registry saw before this run. `growing` /
    `shrinking`: at least `ratio` times more / fewer documents than the previous week and at least
    `min_docs` apart (never in the first week of the data, whose previous week is unknown).
    `vanished`: a row with no documents, the week after the topic had some. The outlier topic is
    left out.
    """
    tw = topic_weeks[(topic_weeks["topic_id"] != OUTLIER) & topic_weeks["week"].notna()]
    if tw.empty:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in zip(
            STATUS_COLUMNS, ("object", "int32", "int64", "int64", "object"), strict=True)})
    grid = (tw.pivot_table(index="topic_id", columns="week", values="n_docs", aggfunc="sum",
                           fill_value=0).sort_index().sort_index(axis=1))
    prev = grid.shift(1, axis=1, fill_value=0)
    known_first = {t.topic_id: t.first_week for t in registry.topics}
    rows = []
    for topic in grid.index:
        first_here = grid.columns[grid.loc[topic].to_numpy() > 0].min()
        first = _min_week(known_first.get(int(topic)), first_here)
        for k, week in enumerate(grid.columns):
            n, p = int(grid.at[topic, week]), int(prev.at[topic, week])
            status = _status(n, p, week == first, ratio, min_docs)
            if k == 0 and status in ("growing", "shrinking"):
                status = "stable"  # the week before the data is unknown: no trend
            if status:
                rows.append((week, int(topic), n, p, status))
    out = pd.DataFrame(rows, columns=STATUS_COLUMNS).sort_values(["week", "topic_id"])
    return out.astype({"topic_id": "int32", "n_docs": "int64", "prev_docs": "int64"}).reset_index(
        drop=True)


def with_status(
    topic_weeks: pd.DataFrame,
    registry: TopicRegistry,
    ratio: float = 1.5,
    min_docs: int = 3,
) -> pd.DataFrame:
    """TOPIC_WEEKS with its `status` column: `weekly_status` for every week of the table.

    A topic absent from a week it followed a week with documents gets a `vanished` row (n_docs 0,
    n_docs_almaty 0). The outlier topic (-1) keeps its rows with a null status. Rows are sorted by
    (week, topic_id): the same counts and registry give the same table.
    """
    counts = topic_weeks.drop(columns=["status"], errors="ignore")
    if "n_docs_almaty" not in counts.columns:
        counts = counts.assign(n_docs_almaty=0)
    flags = weekly_status(counts, registry, ratio, min_docs)[["week", "topic_id", "status"]]
    out = counts.merge(flags.astype({"topic_id": "int32"}), on=["week", "topic_id"], how="outer")
    out["n_docs"] = out["n_docs"].fillna(0)
    out["n_docs_almaty"] = out["n_docs_almaty"].fillna(0)
    out["status"] = out["status"].astype(object).where(out["status"].notna(), None)
    out = out.sort_values(["week", "topic_id"], ignore_index=True)
    return out.astype({"week": str, "topic_id": "int32", "n_docs": "int64",
                       "n_docs_almaty": "int64"})[list(TOPIC_WEEK_COLUMNS)]


def trend_status(n: int, prev: int, first: bool, ratio: float, min_docs: int) -> str | None:
    """The flag of one topic in one period: `_status` for callers outside this module."""
    return _status(n, prev, first, ratio, min_docs)


def _status(n: int, prev: int, first: bool, ratio: float, min_docs: int) -> str | None:
    if n == 0:
        return "vanished" if prev > 0 else None
    if first:
        return "new"
    if n >= ratio * prev and n - prev >= min_docs:
        return "growing"
    if prev >= ratio * n and prev - n >= min_docs:
        return "shrinking"
    return "stable"


# -- persistence --------------------------------------------------------------------------------
def load_registry(folder: str | Path) -> TopicRegistry:
    """The registry under `folder`, or an empty one when there is none yet."""
    path = Path(folder) / REGISTRY_FILE
    if not path.exists():
        return TopicRegistry()
    import json

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != REGISTRY_FORMAT:
            raise RegistryError(f"format {raw.get('format')!r}, expected {REGISTRY_FORMAT}")
        topics = tuple(
            KnownTopic(int(t["topic_id"]), str(t["label"]),
                       {str(k): float(v) for k, v in t["weights"].items()},
                       t.get("first_week"), t.get("last_week"), int(t.get("runs_seen", 1)))
            for t in raw["topics"]
        )
        registry = TopicRegistry(topics, int(raw["next_id"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RegistryError(
            f"Реестр тем {path} повреждён ({exc}); удалите папку, чтобы начать нумерацию заново "
            f"(topic registry {path} is unreadable: delete the folder to start ids afresh)"
        ) from exc
    ids = [t.topic_id for t in topics]
    if len(set(ids)) != len(ids) or any(i < 0 or i >= registry.next_id for i in ids):
        raise RegistryError(f"topic registry {path}: duplicate ids or ids >= next_id; "
                            "delete the folder to start ids afresh")
    return registry


def save_registry(registry: TopicRegistry, folder: str | Path) -> None:
    """Write the registry as JSON, atomically; sorted keys: equal registries, equal bytes."""
    write_json(Path(folder) / REGISTRY_FILE, {
        "format": REGISTRY_FORMAT,
        "next_id": registry.next_id,
        "topics": [
            {"topic_id": t.topic_id, "label": t.label, "first_week": t.first_week,
             "last_week": t.last_week, "runs_seen": t.runs_seen, "weights": t.weights}
            for t in registry.topics
        ],
    })
