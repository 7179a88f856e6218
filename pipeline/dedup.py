"""Exact-duplicate keys and near-duplicate stories (MinHash LSH over word shingles)."""

from __future__ import annotations

import hashlib
import re

import numpy as np
from datasketch import MinHash, MinHashLSH

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
MIN_WORDS_FOR_STORY = 30  # shorter texts (comments, briefs) are not clustered into stories


def normalise_for_hash(text: str) -> str:
    """Case, punctuation and whitespace do not make a copy a different text."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def content_hash(title: str, text: str) -> str:
    return hashlib.sha1(normalise_for_hash(f"{title}\n{text}").encode()).hexdigest()[:16]


def _shingles(words: list[str], k: int = 5) -> set[bytes]:
    return {" ".join(words[i : i + k]).encode() for i in range(max(1, len(words) - k + 1))}


def story_ids(
    doc_ids: list[str], texts: list[str], threshold: float, num_perm: int, seed: int
) -> list[str]:
    """Cluster near-duplicate texts; each document gets the id of its cluster's first member.

    Documents must come in publication order so the first member is the earliest copy. Texts with
    fewer than MIN_WORDS_FOR_STORY words form stories of their own.
    """
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    parent = list(range(len(doc_ids)))
    hashes: dict[int, MinHash] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, text in enumerate(texts):
        words = normalise_for_hash(text).split()
        if len(words) < MIN_WORDS_FOR_STORY:
            continue
        mh = MinHash(num_perm=num_perm, seed=seed)
        mh.update_batch(list(_shingles(words)))
        for key in lsh.query(mh):
            j = int(key)
            if mh.jaccard(hashes[j]) < threshold:  # LSH candidates include false positives
                continue
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)  # the earlier document stays the root
        lsh.insert(str(i), mh)
        hashes[i] = mh
    roots = np.array([find(i) for i in range(len(doc_ids))])
    return [doc_ids[r] for r in roots]
