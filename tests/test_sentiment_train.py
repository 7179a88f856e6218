"""Stage `train_sentiment`: split, metrics, and run() on a temp project with tiny labelled CSVs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import train_sentiment as ts
from pipeline.config import Params
from pipeline.paths import Paths
from pipeline.sentiment_model import EmbedLogReg, load_model

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


def test_split_keeps_templates_apart_and_is_seeded() -> None:
    df = pd.DataFrame(labelled_rows())
    df = pd.concat([df, df.assign(id=df["id"] + "b", target_start=0)], ignore_index=True)
    train, test = ts.split(df, 0.25, seed=5)
    assert not set(train["text"]) & set(test["text"])  # one text never on both sides
    skel = lambda d: {ts.skeleton(*x) for x in ts.examples_of(d)}  # noqa: E731
    assert not skel(train) & skel(test)  # nor one template filled with another body
    assert len(test) and len(train)
    again = ts.split(df, 0.25, seed=5)[1]
    assert test["id"].tolist() == again["id"].tolist()


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_split_degenerate_share_trains_on_everything(share: float) -> None:
    df = pd.DataFrame(labelled_rows())
    train, test = ts.split(df, share, seed=1)
    assert len(train) == len(df) and test.empty


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        (
            "Жители поблагодарили Акимат Бостандыкского района за ремонт 5 дворов.",
            "Акимат Бостандыкского района",
            "<name> поблагодарили <t> за ремонт <num> дворов",
        ),
        (  # only the target's sentence counts; ё folded
            "Вчера был дождь. Полиция ещё не ответила! Читатели пишут.",
            "Полиция",
            "<t> еще не ответила",
        ),
        (
            "Алатау ауданының әкімдігі 2024 жылы жолды жөндеді.",
            "Алатау ауданының әкімдігі",
            "<t> <num> жылы жолды жөндеді",
        ),
        ("Әкімдік", "Әкімдік", "<t>"),  # document-level: the whole text is the target
    ],
)
def test_skeleton_masks_target_names_and_numbers(text: str, target: str, expected: str) -> None:
    start = text.index(target)
    assert ts.skeleton(text, start, start + len(target)) == expected


def _row(text: str, target: str, label: str = "negative") -> dict[str, object]:
    start = text.index(target)
    return {"text": text, "target_start": start, "target_end": start + len(target), "label": label}


def test_leak_groups_join_template_fills_and_shared_texts() -> None:
    rows = [
        _row("Жители возмущены бездействием акимата Алматы.", "акимата Алматы"),
        _row("Жители возмущены бездействием Полиции.", "Полиции"),  # same template
        _row("Полиция помогла жителям, а акимат провалил ремонт.", "Полиция", "positive"),
        _row("Полиция помогла жителям, а акимат провалил ремонт.", "акимат"),  # same text
        _row("Мәслихат шешім қабылдады.", "Мәслихат", "neutral"),  # unrelated
    ]
    g = ts.leak_groups(pd.DataFrame(rows), 0.5)
    assert g[0] == g[1] and g[2] == g[3]
    assert len({g[0], g[2], g[4]}) == 3
    by_text_only = ts.leak_groups(pd.DataFrame(rows), 2.0)
    assert by_text_only[0] != by_text_only[1] and by_text_only[2] == by_text_only[3]


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
    assert metrics["n_train"] == metrics["n_test"] == len(labelled_rows())  # out-of-fold CV
    assert metrics["cv_folds"] == 5 and metrics["n_groups"] == 12  # 12 templates
    assert {"macro_f1", "macro_f1_pos_neg", "per_class", "per_language"} <= set(metrics)
    assert set(metrics["per_language"]) == {"ru", "kk"}
    confusion = pd.read_csv(project.plots / "sentiment_confusion.csv")
    assert (
        list(confusion.columns) == ["actual", "predicted"] and len(confusion) == metrics["n_test"]
    )
    per_lang = pd.read_csv(project.plots / "sentiment_per_language.csv")
    assert per_lang["lang"].tolist() == ["kk", "ru"]
    calibration = pd.read_csv(project.plots / ts.CALIBRATION_PLOT)
    assert calibration["n"].sum() == metrics["n_test"] and 0 <= metrics["ece"] <= 1
    quarantine = (project.processed / ts.QUARANTINE_FILE).read_text(encoding="utf-8").splitlines()
    reasons = sorted(json.loads(line)["reason"].split(" ")[0] for line in quarantine)
    assert reasons == ["bad", "unknown"]
    card = (project.models / ts.MODEL_SUBDIR / "model_card.md").read_text(encoding="utf-8")
    assert "| ours | kk |" in card and "macro-F1" in card and "grouped 5-fold" in card
    assert (project.models / ts.CACHE_SUBDIR / "README.txt").exists()  # the DVC out exists
    model = load_model(project.models / ts.MODEL_SUBDIR)
    p = model.predict_proba([("Полиция помог жителям после ливня", 0, 7)])
    assert p.shape == (1, 3)


def test_run_switching_backend_leaves_no_stale_files(project: Paths) -> None:
    ts.run(Params(), project)
    assert (project.models / ts.MODEL_SUBDIR / "weights.npz").exists()
    params = Params()
    ts.run(
        replace(params, train_sentiment=replace(params.train_sentiment, model="lexicon")), project
    )
    files = sorted(f.name for f in (project.models / ts.MODEL_SUBDIR).iterdir())
    assert files == ["model.json", "model_card.md"]
    assert load_model(project.models / ts.MODEL_SUBDIR).backend == "lexicon"


def test_run_without_labels_explains(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kaznet labels import"):
        ts.run(Params(), Paths(tmp_path))


def test_extra_label_dirs_are_read(
    project: Paths, tmp_path_factory: pytest.TempPathFactory
) -> None:
    extra = tmp_path_factory.mktemp("extra")
    rows = [
        {**r, "id": f"rusentne:{i}", "source": "rusentne2023", "lang": "ru"}
        for i, r in enumerate(labelled_rows()[:6])
    ]
    pd.DataFrame(rows).to_csv(extra / "sentiment_rusentne.csv", index=False)
    df, bad = ts.read_training_labels(project.labeled, [str(extra)], project.root)
    assert len(df) == len(labelled_rows()) + 6
    assert "rusentne2023" in set(df["source"]) and len(bad) == 2
    assert df["extra"].sum() == 6
    _, metrics, scored = ts.train_and_evaluate(df, lambda: EmbedLogReg(), 3, 0)
    assert metrics["n_extra"] == 6 and metrics["n_train"] == len(df)
    assert len(scored) == len(labelled_rows()) and not scored["extra"].any()  # only ours tested


@pytest.mark.parametrize("extra", ["../no_such_folder", "data/raw"])  # missing; no CSVs there
def test_missing_extra_label_dir_explains(project: Paths, extra: str) -> None:
    params = Params()
    params = replace(
        params, train_sentiment=replace(params.train_sentiment, extra_label_dirs=(extra,))
    )
    with pytest.raises(FileNotFoundError, match="extra_label_dirs.*kaznet labels import"):
        ts.run(params, project)


@pytest.mark.parametrize(
    ("labels_true", "proba", "ece"),
    [
        # confident and right: no gap
        (["positive", "negative"], [[0, 0, 1.0], [1.0, 0, 0]], 0.0),
        # confident and wrong: the whole gap
        (["negative", "positive"], [[0, 0, 1.0], [1.0, 0, 0]], 1.0),
        # 0.6 confident, right half of the time: gap 0.1
        (["positive", "negative"], [[0.2, 0.2, 0.6], [0.2, 0.2, 0.6]], 0.1),
        ([], np.zeros((0, 3)), 0.0),
    ],
)
def test_calibration_table_and_ece(labels_true: list[str], proba: list, ece: float) -> None:
    from pipeline.train_sentiment import calibration_table, expected_calibration_error

    table = calibration_table(labels_true, np.array(proba, dtype=float))
    assert len(table) == 10 and table["n"].sum() == len(labels_true)
    assert expected_calibration_error(table) == pytest.approx(ece)


@pytest.mark.parametrize(
    ("changes", "command"),
    [
        ({}, "dvc exp run"),
        ({"model": "transformer", "cv_folds": 0, "extra_label_dirs": ("../labels/rusentne",)},
         "dvc exp run -S train_sentiment.model=transformer -S train_sentiment.cv_folds=0 "
         "-S 'train_sentiment.extra_label_dirs=[\"../labels/rusentne\"]'"),
        ({"model": "transformer", "transformer": {"trainable_layers": 4, "epochs": 6,
                                                  "kk_blend": 0.6, "seed": 1}},
         "dvc exp run -S train_sentiment.model=transformer "
         "-S train_sentiment.transformer.kk_blend=0.6 "
         "-S train_sentiment.transformer.trainable_layers=4"),
        ({"transformer": {"trainable_layers": 4}}, "dvc exp run"),  # not the transformer model
    ],
)
def test_retrain_command_spells_out_the_changed_settings(changes: dict, command: str) -> None:
    params = Params()
    params = replace(params, train_sentiment=replace(params.train_sentiment, **changes))
    assert ts.retrain_command(params) == command
