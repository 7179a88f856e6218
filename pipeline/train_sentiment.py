"""Stage `train_sentiment`: train the target-level sentiment model on our labelled CSVs.

Reads every `data/raw/labeled/sentiment_*.csv`, sets bad rows aside in
`data/processed/labels_quarantine.jsonl`, splits by text (a sentence never lands on both sides),
stratified by label and language, trains, and writes `models/sentiment/` (+ model_card.md),
`metrics/sentiment.json`, `plots/sentiment_confusion.csv`, `plots/sentiment_per_language.csv`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold

from pipeline import io, labels
from pipeline.config import CONFIG_DIR, Params
from pipeline.paths import Paths
from pipeline.schema import SENTIMENT_LABELS
from pipeline.sentiment_model import (
    MODEL_FILE,
    VOCAB_FILE,
    WEIGHTS_FILE,
    Example,
    SentimentModel,
    build_model,
)

log = logging.getLogger(__name__)

MODEL_SUBDIR = "sentiment"
LEXICON_FILE = "sentiment_lexicon.yaml"
QUARANTINE_FILE = "labels_quarantine.jsonl"
POS_NEG = ("negative", "positive")
# Terms of the public sets our importers produce (source column -> licence note).
LICENSES = {
    "ours": "project's own labels",
    "rusentne2023": "MIT (RuSentNE-2023, dialogue-evaluation)",
    "kazsandra": "no licence stated (KazSAnDRA): internal use only, do not redistribute",
}


def examples_of(df: pd.DataFrame) -> list[Example]:
    """(text, target_start, target_end) tuples of a label frame."""
    return list(
        zip(df["text"], df["target_start"].astype(int), df["target_end"].astype(int), strict=True)
    )


def split(df: pd.DataFrame, test_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split grouped by text and stratified by label+lang; tiny sets train on everything."""
    n_splits = round(1 / test_share) if 0 < test_share < 1 else 0
    groups = df["text"].to_numpy()
    if n_splits < 2 or len(set(groups)) < n_splits:
        log.warning("too few labelled texts for a test split (%d): all go to training", len(df))
        return df, df.iloc[:0]
    strata = (df["label"] + "|" + df["lang"]).to_numpy()
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed % 2**32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        train_idx, test_idx = next(cv.split(np.zeros(len(df)), strata, groups))
    return df.iloc[train_idx].reset_index(drop=True), df.iloc[test_idx].reset_index(drop=True)


def sentiment_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], langs: Sequence[str] | None = None
) -> dict[str, Any]:
    """Macro-F1 (3 classes and pos+neg), per-class P/R/F1/support, and the same per language."""
    y_true, y_pred = list(y_true), list(y_pred)
    out: dict[str, Any] = {"n": len(y_true)}
    if not y_true:
        return out
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=list(SENTIMENT_LABELS), zero_division=0
    )
    out["macro_f1"] = round(float(np.mean(f)), 4)
    out["macro_f1_pos_neg"] = round(
        float(f1_score(y_true, y_pred, labels=list(POS_NEG), average="macro", zero_division=0)), 4
    )
    out["accuracy"] = round(float(np.mean(np.array(y_true) == np.array(y_pred))), 4)
    out["per_class"] = {
        c: {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i, c in enumerate(SENTIMENT_LABELS)
    }
    if langs is not None:
        langs = list(langs)
        out["per_language"] = {
            lang: sentiment_metrics(
                [t for t, g in zip(y_true, langs, strict=True) if g == lang],
                [q for q, g in zip(y_pred, langs, strict=True) if g == lang],
            )
            for lang in sorted(set(langs))
        }
    return out


def predict_labels(model: SentimentModel, examples: Sequence[Example]) -> list[str]:
    """Arg-max labels of a model's probabilities."""
    proba = model.predict_proba(examples)
    return [SENTIMENT_LABELS[i] for i in proba.argmax(axis=1)]


def make_model(params: Params, root: Path) -> SentimentModel:
    """An untrained model from the `train_sentiment` params."""
    p = params.train_sentiment
    return build_model(
        p.model,
        embedder=p.embedder,
        C=p.C,
        class_weight=p.class_weight,
        window_words=p.window_words,
        seed=params.seed,
        lexicon_path=root / CONFIG_DIR / LEXICON_FILE,
    )


def train_and_evaluate(
    df: pd.DataFrame, model: SentimentModel, test_share: float, seed: int
) -> tuple[SentimentModel, dict[str, Any], pd.DataFrame]:
    """Split, fit on train, score on test. Returns (model, metrics, test frame with `predicted`)."""
    train, test = split(df, test_share, seed)
    model.fit(examples_of(train), train["label"].tolist())
    test = test.assign(predicted=predict_labels(model, examples_of(test)) if len(test) else [])
    metrics = sentiment_metrics(test["label"], test["predicted"], test["lang"])
    metrics.update(n_train=len(train), n_test=len(test), backend=model.backend)
    return model, metrics, test


def model_card(
    df: pd.DataFrame, metrics: dict[str, Any], params: Params, n_quarantined: int
) -> str:
    """Markdown: data, licences, settings and metrics per language."""
    p = params.train_sentiment
    counts = df.groupby(["source", "lang", "label"]).size().unstack("label", fill_value=0)
    lines = [
        "# Sentiment model (target level, city bodies)",
        "",
        f"Back-end `{p.model}` (embedder `{p.embedder}`, C={p.C}, class_weight={p.class_weight}, "
        f"window_words={p.window_words}, seed={params.seed}). "
        "Retrain: `dvc repro train_sentiment`.",
        "",
        "## Data",
        f"{len(df)} labelled targets from `data/raw/labeled/sentiment_*.csv`; {n_quarantined} rows "
        "set aside (see data/processed/labels_quarantine.jsonl).",
        "",
        "| source | lang | " + " | ".join(counts.columns) + " |",
        "|---|---|" + "---:|" * len(counts.columns),
    ]
    lines += [
        f"| {s} | {lg} | " + " | ".join(str(v) for v in row) + " |"
        for (s, lg), row in zip(counts.index, counts.to_numpy(), strict=True)
    ]
    lines += ["", "## Licences"]
    lines += [
        f"- `{s}`: {LICENSES.get(s, 'unknown: check before use')}"
        for s in sorted(set(df["source"]))
    ]
    lines += [
        "",
        f"## Metrics (held-out split, n_train={metrics['n_train']}, n_test={metrics['n_test']})",
        "",
        "| lang | n | macro-F1 | macro-F1 pos+neg |",
        "|---|---:|---:|---:|",
    ]
    rows = [("all", metrics), *sorted((metrics.get("per_language") or {}).items())]
    lines += [
        f"| {lg} | {m.get('n', 0)} | {m.get('macro_f1', '-')} | {m.get('macro_f1_pos_neg', '-')} |"
        for lg, m in rows
    ]
    lines += [
        "",
        "Caveats: small test sets give wide confidence intervals; public sets differ in "
        "genre from posts about Almaty's bodies.",
        "",
    ]
    return "\n".join(lines)


def _write_plots(test: pd.DataFrame, metrics: dict[str, Any], paths: Paths) -> None:
    confusion = pd.DataFrame({"actual": test["label"], "predicted": test["predicted"]})
    io.write_text(paths.plots / "sentiment_confusion.csv", confusion.to_csv(index=False))
    per_lang = pd.DataFrame(
        [
            {
                "lang": lg,
                "n": m.get("n", 0),
                "macro_f1": m.get("macro_f1"),
                "macro_f1_pos_neg": m.get("macro_f1_pos_neg"),
            }
            for lg, m in sorted((metrics.get("per_language") or {}).items())
        ],
        columns=["lang", "n", "macro_f1", "macro_f1_pos_neg"],
    )
    io.write_text(paths.plots / "sentiment_per_language.csv", per_lang.to_csv(index=False))


def run(params: Params, paths: Paths) -> None:
    """Train on data/raw/labeled/sentiment_*.csv and write the model, metrics and plots."""
    df, bad = labels.read_labeled_dir(paths.labeled)
    io.write_jsonl(paths.processed / QUARANTINE_FILE, bad)
    if bad:
        log.warning("%d label rows set aside in %s", len(bad), paths.processed / QUARANTINE_FILE)
    if df.empty:
        raise ValueError(
            f"нет размеченных примеров в {paths.labeled}/{labels.LABELED_GLOB}: добавьте разметку "
            "или импортируйте её (kaznet labels import ...)"
        )
    log.info("training %s on %d labelled targets", params.train_sentiment.model, len(df))
    model, metrics, test = train_and_evaluate(
        df, make_model(params, paths.root), params.train_sentiment.test_share, params.seed
    )
    model_dir = paths.models / MODEL_SUBDIR
    for name in (MODEL_FILE, WEIGHTS_FILE, VOCAB_FILE):  # no stale files of another back-end
        (model_dir / name).unlink(missing_ok=True)
    model.save(model_dir)
    io.write_text(model_dir / "model_card.md", model_card(df, metrics, params, len(bad)))
    io.write_json(paths.metrics / "sentiment.json", metrics)
    _write_plots(test, metrics, paths)
    log.info(
        "sentiment macro-F1 %s (pos+neg %s) on %d test targets",
        metrics.get("macro_f1"),
        metrics.get("macro_f1_pos_neg"),
        metrics["n_test"],
    )
