"""Benchmark every stage: wall seconds, documents per second and peak memory (RSS).

Runs the pipeline stage by stage, each in a fresh process, on the sample corpus and, when it exists,
on the real Tengrinews week in ../shared/datasets. Prints a table per corpus (and --json writes the
figures as one JSON object). A benchmark, not a test: it asserts nothing.

    python scripts/bench.py [--corpus sample|tengrinews|combined|all] [--json]

`combined` is the sample and the Tengrinews week together (about 1,400 documents).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
STAGES = ["ingest", "language", "entities", "topics", "train-sentiment", "sentiment", "report"]
_WRAPPER = (
    "import resource, sys\n"
    "from pipeline.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print('BENCH_MAXRSS_KB', rss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def _project(raw_dir: Path) -> Path:
    proj = Path(tempfile.mkdtemp(prefix="kaznet-bench-"))
    shutil.copytree(ROOT / "configs", proj / "configs")
    shutil.copytree(ROOT / "data" / "raw" / "labeled", proj / "data" / "raw" / "labeled")
    # the shipped models: without them entities would skip Kazakh NER and flatter its speed
    for name in ("kk_ner", "kk_ner_e5", "sentiment"):
        shutil.copytree(ROOT / "models" / name, proj / "models" / name)
    params = (ROOT / "params.yaml").read_text(encoding="utf-8")
    params = params.replace("raw_dir: data/raw/sample", f"raw_dir: {raw_dir}")
    (proj / "params.yaml").write_text(params, encoding="utf-8")
    return proj


def _run_stage(proj: Path, stage: str) -> tuple[float, float]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "--root", str(proj), stage],
        capture_output=True,
        text=True,
        env=dict(os.environ, DVC_NO_ANALYTICS="1"),
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{out.stderr[-3000:]}")
    rss = [ln for ln in out.stderr.splitlines() if ln.startswith("BENCH_MAXRSS_KB")]
    return seconds, int(rss[-1].split()[1]) / 1024 if rss else float("nan")


def bench(name: str, raw_dir: Path) -> dict:
    proj = _project(raw_dir)
    try:
        figures = {}
        for stage in STAGES:
            seconds, rss_mb = _run_stage(proj, stage)
            figures[stage] = {"seconds": round(seconds, 2), "peak_rss_mb": round(rss_mb, 1)}
        import pandas as pd

        n_docs = len(pd.read_parquet(proj / "data" / "processed" / "documents.parquet"))
        n_ment = len(pd.read_parquet(proj / "data" / "processed" / "mention_sentiment.parquet"))
        for f in figures.values():
            f["docs_per_s"] = round(n_docs / f["seconds"], 1) if f["seconds"] else None
        run = proj / "metrics" / "entities_run.json"
        if run.is_file():  # the stage's own rate, loading excluded (what the target speaks of)
            in_stage = json.loads(run.read_text(encoding="utf-8"))
            figures["entities"]["in_stage_docs_per_s"] = in_stage.get("docs_per_s")
        return {
            "corpus": name,
            "documents": n_docs,
            "city_body_mentions": n_ment,
            "stages": figures,
        }
    finally:
        shutil.rmtree(proj, ignore_errors=True)


def _combined(*folders: Path) -> Path:
    """A raw folder linking every file of `folders`: over 500 documents, so the entities stage
    runs its chunks in parallel as on a real week (a single chunk stays in one process)."""
    out = Path(tempfile.mkdtemp(prefix="kaznet-bench-raw-"))
    for i, folder in enumerate(folders):
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.suffix in (".jsonl", ".csv", ".html"):
                link = out / str(i) / f.relative_to(folder)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(f.resolve())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=["sample", "tengrinews", "combined", "all"],
                    default="all")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    sample = ROOT / "data" / "raw" / "sample"
    corpora = {"sample": sample}
    tengri = SHARED / "tengrinews_articles_2024_04"
    if tengri.is_dir():
        corpora["tengrinews"] = tengri
        if args.corpus in ("combined", "all"):
            corpora["combined"] = _combined(sample, tengri)
    elif args.corpus in ("tengrinews", "combined"):
        raise SystemExit(f"{tengri} is absent")
    try:
        chosen = corpora if args.corpus == "all" else {args.corpus: corpora[args.corpus]}
        results = [bench(name, path) for name, path in chosen.items()]
    finally:
        if "combined" in corpora:
            shutil.rmtree(corpora["combined"], ignore_errors=True)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    for r in results:
        print(
            f"\n{r['corpus']}: {r['documents']} documents, "
            f"{r['city_body_mentions']} city-body mentions"
        )
        print("seconds: wall time of a fresh process per stage, imports and model loading included")
        print(f"{'stage':<16}{'seconds':>9}{'docs/s':>10}{'peak MB':>10}")
        for stage, f in r["stages"].items():
            print(
                f"{stage:<16}{f['seconds']:>9.2f}{f['docs_per_s']:>10.1f}{f['peak_rss_mb']:>10.0f}"
            )
        in_stage = r["stages"].get("entities", {}).get("in_stage_docs_per_s")
        if in_stage is not None:
            print(f"entities in-stage (models loaded, as the stage reports it): {in_stage} docs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
