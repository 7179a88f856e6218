"""`kaznet evaluate sentiment`: the sentiment back-ends on public labelled sets in ../shared.

- RuSentNE-2023 (ru, entity-targeted news): train on train_data, test on validation_data_labeled.
- KazSAnDRA polarity test (kk reviews, document level, no neutral class): never trained on; the
  models are the RuSentNE one (zero-shot), the lexicon, and one trained on a sample of its own
  balanced train split. Reported: pos+neg macro-F1 of 3-class predictions, and polarity macro-F1
  of the arg-max over negative vs positive only.
- KRND sample (ru Kazakhstani news, document level): stratified 5-fold cross-validation.
Subsamples are seeded and reported in the output.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from pipeline import labels
from pipeline.config import load_params
from pipeline.schema import SENTIMENT_LABELS
from pipeline.sentiment_model import SentimentModel
from pipeline.train_sentiment import examples_of, make_model, sentiment_metrics

log = logging.getLogger(__name__)

STEPS = ("rusentne", "kazsandra", "krnd")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `kaznet evaluate sentiment`."""
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--shared", help="datasets folder (default: ../shared/datasets)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma list of {STEPS}")
    parser.add_argument("--kazsandra-test", type=int, default=4000, help="test rows sampled")
    parser.add_argument("--kazsandra-train", type=int, default=8000, help="train rows sampled")
    parser.add_argument("--backends", default="embed_logreg,lexicon", help="comma list")


def _scored(model: SentimentModel, df: pd.DataFrame) -> tuple[np.ndarray, float]:
    """(probabilities, examples per second)."""
    t0 = time.perf_counter()
    proba = model.predict_proba(examples_of(df))
    return proba, len(df) / max(time.perf_counter() - t0, 1e-9)


def _argmax(proba: np.ndarray) -> list[str]:
    return [SENTIMENT_LABELS[i] for i in proba.argmax(axis=1)]


def _model(backend: str, root: Path) -> SentimentModel:
    params = load_params(root)
    params = replace(params, train_sentiment=replace(params.train_sentiment, model=backend))
    return make_model(params, root)


def _sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """A stratified (by label) seeded sample of about n rows; all rows when n <= 0 or n >= len."""
    if n <= 0 or n >= len(df):
        return df
    frac = n / len(df)
    return (
        df.groupby("label", group_keys=False)
        .sample(frac=frac, random_state=seed)
        .reset_index(drop=True)
    )


def eval_rusentne(shared: Path, backends: list[str], root: Path) -> dict[str, Any]:
    """Train on RuSentNE train, report on its labelled validation split."""
    folder = shared / "rusentne2023"
    train = labels.validate_labels(labels.import_rusentne(folder / "train_data.csv"), "train")[0]
    test = labels.validate_labels(
        labels.import_rusentne(folder / "validation_data_labeled.csv"), "validation"
    )[0]
    out: dict[str, Any] = {"n_train": len(train), "n_test": len(test)}
    for backend in backends:
        model = _model(backend, root)
        t0 = time.perf_counter()
        model.fit(examples_of(train), train["label"].tolist())
        fit_s = time.perf_counter() - t0
        proba, per_s = _scored(model, test)
        m = sentiment_metrics(test["label"], _argmax(proba))
        m.update(fit_seconds=round(fit_s, 1), mentions_per_second=round(per_s))
        out[backend] = m
    return out


def _polarity_f1(y_true: pd.Series, proba: np.ndarray) -> float:
    neg, pos = SENTIMENT_LABELS.index("negative"), SENTIMENT_LABELS.index("positive")
    pred = np.where(proba[:, pos] >= proba[:, neg], "positive", "negative")
    return round(float(f1_score(y_true, pred, average="macro")), 4)


def eval_kazsandra(
    shared: Path, backends: list[str], root: Path, n_test: int, n_train: int, seed: int
) -> dict[str, Any]:
    """KazSAnDRA PC test (sampled): zero-shot models and one trained on its train split."""
    folder = shared / "kazsandra"
    test = _sample(
        labels.validate_labels(labels.import_kazsandra(folder / "05_pc_test.zip"), "test")[0],
        n_test,
        seed,
    )
    out: dict[str, Any] = {"n_test": len(test), "test_sampled_from": 16797}
    models: dict[str, SentimentModel] = {}
    rus = shared / "rusentne2023" / "train_data.csv"
    ru_train = labels.validate_labels(labels.import_rusentne(rus), "train")[0]
    for backend in backends:
        model = _model(backend, root)
        models[f"{backend}_rusentne"] = model.fit(examples_of(ru_train), ru_train["label"].tolist())
    if "embed_logreg" in backends:
        kz = _sample(
            labels.validate_labels(
                labels.import_kazsandra(folder / "03_pc_train_rus.zip"), "train"
            )[0],
            n_train,
            seed,
        )
        model = _model("embed_logreg", root)
        models["embed_logreg_kazsandra_train"] = model.fit(examples_of(kz), kz["label"].tolist())
        out["n_train_kazsandra"] = len(kz)
    for name, model in models.items():
        proba, per_s = _scored(model, test)
        m = sentiment_metrics(test["label"], _argmax(proba))
        out[name] = {
            "macro_f1_pos_neg": m["macro_f1_pos_neg"],
            "polarity_macro_f1": _polarity_f1(test["label"], proba),
            "share_predicted_neutral": round(float(np.mean(proba.argmax(axis=1) == 1)), 4),
            "per_class": {c: m["per_class"][c] for c in ("negative", "positive")},
            "mentions_per_second": round(per_s),
        }
    return out


def eval_krnd(shared: Path, backends: list[str], root: Path, seed: int) -> dict[str, Any]:
    """KRND 414-article sample: document-level labels, stratified 5-fold CV."""
    raw = pd.read_csv(
        shared / "krnd_kaggle_ru_news_sample" / "example.csv", dtype=str, keep_default_na=False
    )
    df = pd.DataFrame({"text": raw["text"], "label": raw["sentiment"].str.strip(), "lang": "ru"})
    df = df[(df["text"].str.strip() != "") & df["label"].isin(SENTIMENT_LABELS)].reset_index(
        drop=True
    )
    df["target_start"], df["target_end"] = 0, df["text"].str.len()
    out: dict[str, Any] = {"n": len(df), "folds": 5}
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed % 2**32)
    for backend in backends:
        pred = np.empty(len(df), dtype=object)
        for tr, te in cv.split(df, df["label"]):
            model = _model(backend, root)
            model.fit(examples_of(df.iloc[tr]), df["label"].iloc[tr].tolist())
            pred[te] = _argmax(model.predict_proba(examples_of(df.iloc[te])))
        out[backend] = sentiment_metrics(df["label"], list(pred))
    return out


def evaluate(
    shared: Path,
    root: Path,
    steps: list[str],
    backends: list[str],
    kazsandra_test: int = 4000,
    kazsandra_train: int = 8000,
) -> dict[str, Any]:
    """Run the chosen evaluation steps; returns a JSON-ready dict."""
    seed = load_params(root).seed
    out: dict[str, Any] = {}
    if "rusentne" in steps:
        out["rusentne"] = eval_rusentne(shared, backends, root)
    if "kazsandra" in steps:
        out["kazsandra_pc"] = eval_kazsandra(
            shared, backends, root, kazsandra_test, kazsandra_train, seed
        )
    if "krnd" in steps:
        out["krnd_5fold"] = eval_krnd(shared, backends, root, seed)
    return out


def _print_table(results: dict[str, Any]) -> None:
    for dataset, res in results.items():
        print(
            f"== {dataset}: "
            + ", ".join(f"{k}={v}" for k, v in res.items() if not isinstance(v, dict))
        )
        for name, m in res.items():
            if isinstance(m, dict):
                figures = {k: v for k, v in m.items() if not isinstance(v, dict)}
                print(f"   {name:32s} " + "  ".join(f"{k}={v}" for k, v in figures.items()))


def main(args: argparse.Namespace) -> int:
    """Entry point of `kaznet evaluate sentiment`."""
    root = Path(getattr(args, "root", ".")).resolve()
    shared = Path(args.shared) if args.shared else root.parent / "shared" / "datasets"
    if not shared.is_dir():
        log.error("нет папки с данными для оценки: %s (укажите --shared)", shared)
        return 2
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        log.error("unknown steps %s: use %s", unknown, ",".join(STEPS))
        return 2
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = evaluate(shared, root, steps, backends, args.kazsandra_test, args.kazsandra_train)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        _print_table(results)
    return 0
