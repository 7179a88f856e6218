"""Benchmark the language stage core: documents per second of `detect_frame` and of the splitter.

Reads the Tengrinews articles (title/content) from ../shared/datasets, repeats them to about
`--docs` documents and times, on one process:

- `sentence_spans` alone over every body text;
- `detect_frame` (the whole stage core, default `hybrid` back-end; model loading not timed),
  on the unique articles first (this pass also pays for lazily loaded models), again on them with
  the word cache cleared ("cold"), and on the repeated set.

Pin it to one core for the figure the issue asks for, and keep heavy jobs apart:

    flock /tmp/heavy.lock taskset -c 0 .venv/bin/python scripts/bench_language.py

A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import language  # noqa: E402
from pipeline.config import LanguageParams  # noqa: E402
from pipeline.text import sentence_spans  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "datasets" / "tengrinews_articles_2024_04" / "articles.jsonl"


def load_articles(path: Path) -> pd.DataFrame:
    """Articles as a DOCUMENTS-like frame (doc_id, title, text)."""
    raw = pd.read_json(path, lines=True, dtype=False)
    return pd.DataFrame(
        {"doc_id": raw["page_id"].astype(str), "title": raw["title"], "text": raw["content"]}
    )


def repeat(docs: pd.DataFrame, n: int) -> pd.DataFrame:
    """`docs` tiled to `n` rows with unique ids."""
    out = pd.concat([docs] * (n // len(docs) + 1), ignore_index=True).iloc[:n].copy()
    out["doc_id"] = [f"{d}-{i}" for i, d in enumerate(out["doc_id"])]
    return out


def _rate(n: int, fn) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--backend", default="hybrid", choices=language.BACKENDS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        sys.stderr.write(f"no data at {args.data}\n")
        return 2
    params = LanguageParams(backend=args.backend)
    unique = load_articles(args.data)
    docs = repeat(unique, args.docs)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

    start = time.perf_counter()
    detector = language.build_detector(args.backend, params)
    load_s = time.perf_counter() - start

    texts = list(docs["text"])
    split = _rate(len(texts), lambda: [sentence_spans(t) for t in texts])
    first = _rate(len(unique), lambda: language.detect_frame(unique, detector, params))
    language.clear_caches()
    cold = _rate(len(unique), lambda: language.detect_frame(unique, detector, params))
    full = _rate(len(docs), lambda: language.detect_frame(docs, detector, params))
    result = {
        "documents": len(docs),
        "unique_documents": len(unique),
        "cores": cores,
        "load_s": round(load_s, 2),
        "splitter_docs_per_s": round(split),
        "detect_frame_first_pass_docs_per_s": round(first),
        "detect_frame_cold_docs_per_s": round(cold),
        "detect_frame_docs_per_s": round(full),
    }
    if args.json:
        print(json.dumps(result))
    else:
        note = "" if len(cores) == 1 else "  (not pinned: run under `taskset -c 0`)"
        print(f"cores {cores}{note}")
        print(
            f"documents {len(docs)} ({len(unique)} unique articles repeated); load {load_s:.1f} s"
        )
        print(f"sentence_spans            {split:10.0f} docs/s")
        print(f"detect_frame, first pass  {first:10.0f} docs/s  (unique; lazy model loads)")
        print(f"detect_frame, cold unique {cold:10.0f} docs/s  (unique; word cache cleared)")
        print(f"detect_frame, repeated    {full:10.0f} docs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
