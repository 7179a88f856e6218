"""Benchmark the topics stage core on a large corpus: seconds per step and peak memory (RSS).

Builds N documents (default 20,000) from the real articles under ../shared/datasets (Tengrinews
week + KRND sample), repeated with light random edits (sentences and words dropped, seeded), spread
over four ISO weeks, and runs `fit_weekly_topics` with the configured embedder, as `kaznet topics`
would. A benchmark, not a test: it asserts nothing. Run it alone (2 cores): it takes minutes.

`--kk-share S` makes that share of the documents Kazakh (pseudo-articles of 8 consecutive
sentences of the KEKC government-news corpus, edited the same way), so the cross-lingual step
(multilingual e5 on every Kazakh document and a sample per topic) is measured as on a real week;
its e5 vectors go to an empty temporary cache, i.e. the cost of a first run.

    flock /tmp/heavy.lock python scripts/bench_topics.py [--docs 20000] [--kk-share 0.2] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import sys
import tempfile
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
from pipeline.topics import OUTLIER, fit_weekly_topics, multilingual_embedder  # noqa: E402

WEEKS = ("2024-W14", "2024-W15", "2024-W16", "2024-W17")
KEKC = ("datasets/kekc_kk_en_govnews/primeminister_kz_corpus.tsv",
        "datasets/kekc_kk_en_govnews/economy_gov_kz_corpus.tsv")
KK_SENTENCES_PER_DOC = 8


def _edit(text: str, rng: random.Random) -> str:
    """Drop about a fifth of the sentences and a tenth of the words (keeps at least one)."""
    sentences = [s for s in text.split(". ") if s]
    kept = [s for s in sentences if rng.random() > 0.2] or sentences[:1]
    words = " ".join(kept).split()
    return " ".join(w for w in words if rng.random() > 0.1) or text


def make_corpus(base: pd.DataFrame, n_docs: int, seed: int = 0, lang: str = "ru",
                prefix: str = "bench") -> pd.DataFrame:
    """`n_docs` documents: the originals first, then edited copies, round-robin."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_docs):
        src = base.iloc[i % len(base)]
        copy = i // len(base)
        rows.append({
            "doc_id": f"{prefix}-{i:06d}",
            "title": src["title"] if copy == 0 else _edit(src["title"], rng),
            "text": src["text"] if copy == 0 else _edit(src["text"], rng),
            "week": WEEKS[i % len(WEEKS)],
            "lang": lang,
        })
    return pd.DataFrame(rows)


def kazakh_base(shared: Path) -> pd.DataFrame:
    """Kazakh pseudo-articles: runs of consecutive KEKC sentences (title = the first one)."""
    sentences: list[str] = []
    for rel in KEKC:
        with open(shared / rel, encoding="utf-8") as f:
            sentences += [line.split("\t", 1)[0].strip() for line in f if line.strip()]
    k = KK_SENTENCES_PER_DOC
    docs = [sentences[i:i + k] for i in range(0, len(sentences) - k + 1, k)]
    return pd.DataFrame({"title": [d[0] for d in docs],
                         "text": [". ".join(d[1:]) for d in docs]})


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(n_docs: int, kk_share: float = 0.0) -> dict:
    params = load_params(ROOT)
    shared = ROOT.parent / "shared"
    files = [shared / p for p in DEFAULT_DATA]
    missing = [str(f) for f in files + [shared / p for p in KEKC if kk_share > 0]
               if not f.exists()]
    if missing:
        raise SystemExit(f"no data at {missing}: this benchmark needs ../shared/datasets")
    n_kk = round(n_docs * kk_share)
    out: dict = {"n_docs": n_docs, "n_kk_docs": n_kk, "rss_mb": {}}
    t = time.perf_counter()
    docs = make_corpus(load_corpus(files), n_docs - n_kk, params.seed)
    if n_kk:
        kk = make_corpus(kazakh_base(shared), n_kk, params.seed, lang="kk", prefix="bench-kk")
        docs = pd.concat([docs, kk], ignore_index=True)
    analyzer = TopicAnalyzer(load_stopwords(ROOT))
    out["rss_mb"]["after_load"] = round(_rss_mb(), 1)
    out["load_seconds"] = round(time.perf_counter() - t, 1)
    embedder = make_embedder(params.topics, params.seed, analyzer, root=ROOT,
                             cache_dir=None if params.topics.embedder == "tfidf" else
                             ROOT / "models" / "topics" / "embedding_cache")
    with tempfile.TemporaryDirectory() as cache:
        multilingual = (multilingual_embedder(params.topics, Path(cache))
                        if n_kk and params.topics.crosslingual_align else None)
        t = time.perf_counter()
        fit = fit_weekly_topics(docs, embedder, params.topics, TopicRegistry(),
                                seed=params.seed, analyzer=analyzer, multilingual=multilingual)
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
    parser.add_argument("--kk-share", type=float, default=0.0,
                        help="share of Kazakh documents (cross-lingual step measured)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = bench(args.docs, args.kk_share)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
