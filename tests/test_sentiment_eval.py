"""`kaznet evaluate sentiment`: argument handling and the pure metric helpers (no heavy runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import eval_sentiment


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
