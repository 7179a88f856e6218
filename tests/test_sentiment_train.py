"""Stage `train_sentiment`: split, metrics, and run() on a temp project with tiny labelled CSVs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from pipeline import train_sentiment as ts
from pipeline.config import Params
from pipeline.paths import Paths
from pipeline.sentiment_model import load_model

ROOT = Path(__file__).resolve().parents[1]

RU = {
    "positive": ["{} быстро отремонтировал дорогу на Абая", "{} помог жителям после ливня"],
    "negative": ["{} опять провалил ремонт дорог", "{} игнорирует жалобы жителей"],
    "neutral": ["{} сообщил о графике работы", "{} провел заседание во вторник"],
}
KK = {
    "positive": ["{} жақсы жұмыс істеді", "{} тұрғындарға көмектесті"],
    "negative": ["{} жұмысы нашар", "{} шағымдарды елемейді"],
    "neutral": ["{} мәлімдеме жасады", "{} отырыс өткізді"],
}
BODIES = {"ru": ["Акимат", "Полиция", "Маслихат", "ДЧС"], "kk": ["Әкімдік", "Полиция", "Мәслихат"]}


def labelled_rows() -> list[dict[str, object]]:
    rows = []
    for lang, templates in (("ru", RU), ("kk", KK)):
        for label, texts in templates.items():
            for t in texts:
                for body in BODIES[lang]:
                    text = t.format(body)
                    rows.append(
                        {
                            "id": f"ours:{len(rows)}",
                            "text": text,
                            "target_start": 0,
                            "target_end": len(body),
                            "body_id": body.lower(),
                            "label": label,
                            "lang": lang,
                            "source": "ours",
                        }
                    )
    return rows


@pytest.fixture()
def project(tmp_path: Path) -> Paths:
    (tmp_path / "configs").mkdir()
    shutil.copy(ROOT / "configs" / "sentiment_lexicon.yaml", tmp_path / "configs")
    labeled = tmp_path / "data" / "raw" / "labeled"
    labeled.mkdir(parents=True)
    rows = labelled_rows()
    rows.append({**rows[0], "id": "bad:1", "label": "хорошо"})
    rows.append({**rows[0], "id": "bad:2", "target_end": 999})
    pd.DataFrame(rows).to_csv(labeled / "sentiment_ours.csv", index=False)
    return Paths(tmp_path)


def test_split_is_grouped_stratified_and_seeded() -> None:
    df = pd.DataFrame(labelled_rows())
    df = pd.concat([df, df.assign(id=df["id"] + "b", target_start=0)], ignore_index=True)
    train, test = ts.split(df, 0.25, seed=5)
    assert not set(train["text"]) & set(test["text"])  # one text never on both sides
    assert set(test["label"]) == {"negative", "neutral", "positive"}
    assert set(test["lang"]) == {"ru", "kk"}
    again = ts.split(df, 0.25, seed=5)[1]
    assert test["id"].tolist() == again["id"].tolist()


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_split_degenerate_share_trains_on_everything(share: float) -> None:
    df = pd.DataFrame(labelled_rows())
    train, test = ts.split(df, share, seed=1)
    assert len(train) == len(df) and test.empty


def test_sentiment_metrics_known_values() -> None:
    y = ["negative", "negative", "neutral", "positive"]
    p = ["negative", "neutral", "neutral", "positive"]
    m = ts.sentiment_metrics(y, p, ["ru", "ru", "kk", "kk"])
    assert m["per_class"]["negative"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": 0.6667,
        "support": 2,
    }
    assert m["macro_f1_pos_neg"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert m["per_language"]["kk"]["macro_f1"] == pytest.approx(2 / 3, abs=1e-4)  # no negatives
    assert m["per_language"]["ru"]["n"] == 2


def test_run_round_trip(project: Paths) -> None:
    ts.run(Params(), project)
    metrics = json.loads((project.metrics / "sentiment.json").read_text(encoding="utf-8"))
    assert metrics["n_train"] + metrics["n_test"] == len(labelled_rows())
    assert {"macro_f1", "macro_f1_pos_neg", "per_class", "per_language"} <= set(metrics)
    assert set(metrics["per_language"]) == {"ru", "kk"}
    confusion = pd.read_csv(project.plots / "sentiment_confusion.csv")
    assert (
        list(confusion.columns) == ["actual", "predicted"] and len(confusion) == metrics["n_test"]
    )
    per_lang = pd.read_csv(project.plots / "sentiment_per_language.csv")
    assert per_lang["lang"].tolist() == ["kk", "ru"]
    quarantine = (project.processed / ts.QUARANTINE_FILE).read_text(encoding="utf-8").splitlines()
    reasons = sorted(json.loads(line)["reason"].split(" ")[0] for line in quarantine)
    assert reasons == ["bad", "unknown"]
    card = (project.models / "sentiment" / "model_card.md").read_text(encoding="utf-8")
    assert "| ours | kk |" in card and "macro-F1" in card
    model = load_model(project.models / "sentiment")
    p = model.predict_proba([("Полиция помог жителям после ливня", 0, 7)])
    assert p.shape == (1, 3)


def test_run_switching_backend_leaves_no_stale_files(project: Paths) -> None:
    ts.run(Params(), project)
    assert (project.models / "sentiment" / "weights.npz").exists()
    params = Params()
    ts.run(
        replace(params, train_sentiment=replace(params.train_sentiment, model="lexicon")), project
    )
    files = sorted(f.name for f in (project.models / "sentiment").iterdir())
    assert files == ["model.json", "model_card.md"]
    assert load_model(project.models / "sentiment").backend == "lexicon"


def test_run_without_labels_explains(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kaznet labels import"):
        ts.run(Params(), Paths(tmp_path))
