"""`kaznet evaluate language`: ru / kk accuracy of each language back-end on lingua's test data.

The data folder holds `sentences/`, `word-pairs/` and `single-words/`, each with `ru.txt` and
`kk.txt` (one item per line; the file name is the label). See its SOURCE.md.

`--comments [PATH]` instead runs the stage core on unlabelled reader comments (a Parquet file with
a `text` column, by default the Tengrinews comments) and prints how many got each label; no text
is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import ROOT, LanguageParams
from pipeline.language import BACKENDS, OTHER, LanguageDetector, build_detector, detect_frame

log = logging.getLogger(__name__)

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "lingua_kk_ru_langid"
DEFAULT_COMMENTS = (
    ROOT.parent / "shared" / "datasets" / "tengrinews_comments_2024_04" / "comments.parquet"
)
DOC_LABELS = ("ru", "kk", "mixed", "other")
LENGTHS = ("sentences", "word-pairs", "single-words")
LANGS = ("ru", "kk")
# Accuracy the default back-end must reach (per length, per language).
TARGETS = {
    "sentences": {"ru": 0.999, "kk": 0.999},
    "word-pairs": {"ru": 0.990, "kk": 0.990},
    "single-words": {"ru": 0.985, "kk": 0.930},
}


def load_data(folder: str | Path) -> dict[str, dict[str, list[str]]]:
    """{length: {lang: items}}; raises FileNotFoundError with a bilingual hint when absent."""
    folder = Path(folder)
    missing = [
        f"{n}/{lang}.txt"
        for n in LENGTHS
        for lang in LANGS
        if not (folder / n / f"{lang}.txt").is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"Нет данных для оценки языка: в {folder} не хватает {', '.join(missing)}. "
            f"Укажите папку через --data. / Language test data missing in {folder}: "
            f"{', '.join(missing)}; pass the folder with --data."
        )
    return {
        n: {
            lang: [
                x for x in (folder / n / f"{lang}.txt").read_text("utf-8").splitlines() if x.strip()
            ]
            for lang in LANGS
        }
        for n in LENGTHS
    }


def evaluate(detector: LanguageDetector, data: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
    """Accuracy per length and language, a confusion table (true -> predicted) and texts/s."""
    accuracy: dict[str, dict[str, float]] = {}
    confusion = {t: {p: 0 for p in (*LANGS, OTHER)} for t in LANGS}
    n_texts, seconds = 0, 0.0
    for length, by_lang in data.items():
        accuracy[length] = {}
        for lang, items in by_lang.items():
            start = time.perf_counter()
            guesses = detector.detect(items)
            seconds += time.perf_counter() - start
            n_texts += len(items)
            for g in guesses:
                confusion[lang][g.lang if g.lang in confusion[lang] else OTHER] += 1
            right = sum(g.lang == lang for g in guesses)
            accuracy[length][lang] = round(right / len(items), 4) if items else 0.0
    return {
        "accuracy": accuracy,
        "confusion": confusion,
        "texts_per_s": round(n_texts / seconds) if seconds else 0,
        "n_texts": n_texts,
    }


def load_comments(path: str | Path) -> pd.DataFrame:
    """Comments as a DOCUMENTS-like frame (doc_id, title, text); bilingual error when absent."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Нет файла комментариев {path}; укажите его после --comments. / "
            f"No comments file at {path}; pass it after --comments."
        )
    raw = pd.read_parquet(path)
    if "text" not in raw.columns:
        raise ValueError(f"{path}: a `text` column is required, found {list(raw.columns)}")
    ids = raw["id"].astype(str) if "id" in raw.columns else pd.Series(range(len(raw))).astype(str)
    return pd.DataFrame({"doc_id": ids.to_numpy(), "title": "", "text": raw["text"].to_numpy()})


def comment_summary(
    comments: pd.DataFrame, detector: LanguageDetector, params: LanguageParams | None = None
) -> dict[str, Any]:
    """Documents and sentences per label over `comments` (doc_id, title, text); no texts."""
    start = time.perf_counter()
    docs, sents = detect_frame(comments, detector, params or LanguageParams())
    seconds = time.perf_counter() - start
    counts = docs["lang"].value_counts()
    sent_counts = sents["lang"].value_counts()
    return {
        "n_comments": len(docs),
        "labels": {k: int(counts.get(k, 0)) for k in DOC_LABELS},
        "sentence_labels": {k: int(sent_counts.get(k, 0)) for k in (*LANGS, OTHER)},
        "comments_per_s": round(len(docs) / seconds) if seconds else 0,
    }


def meets_targets(accuracy: dict[str, dict[str, float]]) -> bool:
    return all(accuracy[n][lang] >= t for n, row in TARGETS.items() for lang, t in row.items())


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """Side-by-side accuracy, confusion and speed of each back-end, as plain text."""
    names = list(results)
    width = max(12, *(len(n) + 2 for n in names))
    lines = ["accuracy".ljust(20) + "".join(n.rjust(width) for n in names)]
    for length in LENGTHS:
        for lang in LANGS:
            row = f"{length} {lang}".ljust(20)
            row += "".join(
                f"{results[n]['accuracy'][length][lang]:.2%}".rjust(width) for n in names
            )
            target = TARGETS[length][lang]
            lines.append(f"{row}   (target {target:.1%})")
    lines.append(
        "texts/s".ljust(20) + "".join(str(results[n]["texts_per_s"]).rjust(width) for n in names)
    )
    lines.append(
        "load s".ljust(20) + "".join(f"{results[n]['load_s']:.1f}".rjust(width) for n in names)
    )
    for n in names:
        lines.append(f"\nconfusion {n} (rows: true, columns: predicted)")
        lines.append("".ljust(8) + "".join(p.rjust(8) for p in (*LANGS, OTHER)))
        for t, row in results[n]["confusion"].items():
            lines.append(t.ljust(8) + "".join(str(row[p]).rjust(8) for p in (*LANGS, OTHER)))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default=str(DEFAULT_DATA),
        help="folder with sentences/, word-pairs/, single-words/ (ru.txt, kk.txt)",
    )
    parser.add_argument(
        "--backend",
        default="all",
        choices=[*BACKENDS, "all"],
        help="back-end to measure, or all of them side by side (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--comments",
        nargs="?",
        const=str(DEFAULT_COMMENTS),
        default=None,
        metavar="PATH",
        help="instead: count labels over unlabelled comments (Parquet with a text column; "
        "default: the Tengrinews comments)",
    )


def _main_comments(args: argparse.Namespace) -> int:
    comments = load_comments(args.comments)
    backend = "hybrid" if args.backend == "all" else args.backend
    summary = comment_summary(comments, build_detector(backend))
    summary = {"comments": str(args.comments), "backend": backend, **summary}
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    n = summary["n_comments"]
    lines = [f"comments {n} ({backend}): {args.comments}"]
    for label, count in summary["labels"].items():
        lines.append(f"{label.ljust(8)}{count:8d}  {count / n if n else 0.0:7.2%}")
    lines.append(
        "sentences " + ", ".join(f"{k} {v}" for k, v in summary["sentence_labels"].items())
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def main(args: argparse.Namespace) -> int:
    if getattr(args, "comments", None):
        return _main_comments(args)
    data = load_data(args.data)
    names = list(BACKENDS) if args.backend == "all" else [args.backend]
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        start = time.perf_counter()
        detector = build_detector(name)
        load_s = time.perf_counter() - start
        results[name] = {**evaluate(detector, data), "load_s": round(load_s, 2)}
        results[name]["meets_targets"] = meets_targets(results[name]["accuracy"])
        log.info("language %s: %s texts/s", name, results[name]["texts_per_s"])
    if args.json:
        json.dump(
            {"data": str(args.data), "targets": TARGETS, "backends": results},
            sys.stdout,
            ensure_ascii=False,
        )
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(results) + "\n")
    return 0
