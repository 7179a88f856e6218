"""Benchmark the topics stage core on a large corpus: seconds per step and peak memory (RSS).

Builds N documents (default 20,000) from the real articles under ../shared/datasets (Tengrinews
week + KRND sample), repeated with light random edits (sentences and words dropped, seeded), spread
over four ISO weeks, and runs `fit_weekly_topics` with the configured embedder, as `kaznet topics`
would. A benchmark, not a test: it asserts nothing. Run it alone (2 cores): it takes minutes.

    flock /tmp/heavy.lock python scripts/bench_topics.py [--docs 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import load_params  # noqa: E402
from pipeline.embeddings import make_embedder  # noqa: E402
from pipeline.eval_topics import DEFAULT_DATA, load_corpus  # noqa: E402
from pipeline.topic_continuity import TopicRegistry  # noqa: E402
from pipeline.topic_words import TopicAnalyzer, load_stopwords  # noqa: E402
from pipeline.topics import OUTLIER, fit_weekly_topics  # noqa: E402

WEEKS = ("2024-W14", "2024-W15", "2024-W16", "2024-W17")


def _edit(text: str, rng: random.Random) -> str:
    """Drop about a fifth of the sentences and a tenth of the words (keeps at least one)."""
    sentences = [s for s in text.split(". ") if s]
    kept = [s for s in sentences if rng.random() > 0.2] or sentences[:1]
    words = " ".join(kept).split()
    return " ".join(w for w in words if rng.random() > 0.1) or text


def make_corpus(base: pd.DataFrame, n_docs: int, seed: int = 0) -> pd.DataFrame:
    """`n_docs` documents: the originals first, then edited copies, round-robin."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_docs):
        src = base.iloc[i % len(base)]
        copy = i // len(base)
        rows.append({
            "doc_id": f"bench-{i:06d}",
            "title": src["title"] if copy == 0 else _edit(src["title"], rng),
            "text": src["text"] if copy == 0 else _edit(src["text"], rng),
            "week": WEEKS[i % len(WEEKS)],
            "lang": "ru",
        })
    return pd.DataFrame(rows)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(n_docs: int) -> dict:
    params = load_params(ROOT)
    files = [ROOT.parent / "shared" / p for p in DEFAULT_DATA]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise SystemExit(f"no data at {missing}: this benchmark needs ../shared/datasets")
    out: dict = {"n_docs": n_docs, "rss_mb": {}}
    t = time.perf_counter()
    docs = make_corpus(load_corpus(files), n_docs, params.seed)
    analyzer = TopicAnalyzer(load_stopwords(ROOT))
    out["rss_mb"]["after_load"] = round(_rss_mb(), 1)
    out["load_seconds"] = round(time.perf_counter() - t, 1)
    embedder = make_embedder(params.topics, params.seed, analyzer, root=ROOT,
                             cache_dir=None if params.topics.embedder == "tfidf" else
                             ROOT / "models" / "topics" / "embedding_cache")
    t = time.perf_counter()
    fit = fit_weekly_topics(docs, embedder, params.topics, TopicRegistry(), seed=params.seed,
                            analyzer=analyzer)
    out["fit_seconds"] = round(time.perf_counter() - t, 1)
    out["rss_mb"]["peak"] = round(_rss_mb(), 1)
    real = fit.topics[fit.topics["topic_id"] != OUTLIER]
    out.update({
        "embedder": embedder.name, "n_topics": len(real),
        "outlier_share_before": round(fit.outliers_before / n_docs, 4),
        "outlier_share_after": round(fit.outliers_after / n_docs, 4),
        "largest_topic_share": round(float(real["share"].max()) if len(real) else 0.0, 4),
    })
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = bench(args.docs)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
