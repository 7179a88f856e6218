"""Stage `sentiment`: contexts around BODY mentions, scoring, run() and weekly aggregation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io, schema, sentiment
from pipeline.config import Params
from pipeline.paths import Paths
from pipeline.sentiment_model import LexiconModel, load_lexicon_config

ROOT = Path(__file__).resolve().parents[1]

DOC1 = "Вчера прошел ливень. Акимат быстро помог жителям. Полиция опять не помогла. Конец."
DOC2 = "Әкімдік жұмысы жақсы емес. Тағы бір сөйлем."


@pytest.fixture(scope="module")
def model() -> LexiconModel:
    return LexiconModel(load_lexicon_config(ROOT / "configs" / "sentiment_lexicon.yaml"))


def _spans(doc_id: str, text: str, lang: str) -> list[dict[str, object]]:
    from pipeline.text import sentence_spans

    return [
        {"doc_id": doc_id, "sent_id": i, "start": s, "end": e, "lang": lang}
        for i, (s, e) in enumerate(sentence_spans(text))
    ]


def _mention(
    doc_id: str,
    text: str,
    surface: str,
    label: str = "BODY",
    body: str | None = "akimat",
    lang: str = "ru",
) -> dict[str, object]:
    start = text.index(surface)
    return {
        "doc_id": doc_id,
        "sent_id": 0,
        "start": start,
        "end": start + len(surface),
        "text": surface,
        "label": label,
        "body_id": body,
        "lang": lang,
        "source": "gazetteer",
    }


@pytest.fixture()
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    documents = pd.DataFrame(
        {
            "doc_id": ["d1", "d2"],
            "url": ["u1", "u2"],
            "site": ["tengrinews", "kaz"],
            "kind": ["article", "comment"],
            "title": ["t1", "t2"],
            "text": [DOC1, DOC2],
            "published_utc": pd.to_datetime(["2026-01-01", "2026-01-08"], utc=True),
            "week": ["2026-W01", "2026-W02"],
            "views": [1, 2],
            "content_hash": ["h1", "h2"],
            "story_id": ["d1", "d2"],
            "is_near_duplicate": [False, False],
            "copies": [0, 0],
            "source_file": ["f", "f"],
        }
    )
    sentences = pd.DataFrame(_spans("d1", DOC1, "ru") + _spans("d2", DOC2, "kk"))
    mentions = pd.DataFrame(
        [
            _mention("d1", DOC1, "Акимат"),
            _mention("d1", DOC1, "Полиция", body="police"),
            _mention("d1", DOC1, "ливень", label="LOC", body=None),  # not a body: skipped
            _mention("d2", DOC2, "Әкімдік", lang="kk"),
            _mention("d9", DOC1, "Акимат"),  # unknown document: set aside
        ]
    )
    return mentions, documents, sentences


@pytest.mark.parametrize("k", [0, 1])
def test_contexts_rebase_offsets(frames, k: int) -> None:
    mentions, documents, sentences = frames
    ctx, bad = sentiment.build_contexts(mentions, documents, sentences, k)
    assert len(ctx) == 3 and [b["reason"] for b in bad] == ["document not in DOCUMENTS"]
    for row in ctx.itertuples():
        assert row.context[row.start : row.end] in {"Акимат", "Полиция", "Әкімдік"}
    akimat = ctx.iloc[0]["context"]
    if k == 0:
        assert akimat == "Акимат быстро помог жителям."
    else:
        assert akimat.startswith("Вчера прошел ливень.") and akimat.endswith("не помогла.")


def test_mention_outside_any_sentence_is_set_aside(frames) -> None:
    mentions, documents, sentences = frames
    sentences = sentences[~((sentences["doc_id"] == "d1") & (sentences["sent_id"] == 1))]
    _, bad = sentiment.build_contexts(mentions, documents, sentences, 1)
    assert "no sentence holds the mention" in {b["reason"] for b in bad}


def test_bad_mention_offsets_are_set_aside(frames) -> None:
    mentions, documents, sentences = frames
    mentions = mentions.copy()
    mentions.loc[0, "end"] = 10_000
    _, bad = sentiment.build_contexts(mentions, documents, sentences, 1)
    assert any(b["reason"].startswith("bad offsets") for b in bad)


@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_score_mentions_labels_each_body(frames, model, batch_size: int) -> None:
    out = sentiment.score_mentions(*frames, model, context_sentences=0, batch_size=batch_size)
    assert list(out.columns) == schema.MENTION_SENTIMENT.columns
    assert out["label"].tolist() == ["positive", "negative", "negative"]
    probs = out[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    io.to_arrow(out, schema.MENTION_SENTIMENT)  # dtypes match the schema


def test_score_mentions_without_bodies_gives_empty_table(frames, model) -> None:
    mentions, documents, sentences = frames
    out = sentiment.score_mentions(
        mentions[mentions["label"] != "BODY"], documents, sentences, model
    )
    assert out.empty and list(out.columns) == schema.MENTION_SENTIMENT.columns


def test_run_round_trip(frames, model, tmp_path: Path) -> None:
    mentions, documents, sentences = frames
    paths = Paths(tmp_path)
    io.write_table(mentions, paths.table(schema.MENTIONS), schema.MENTIONS)
    io.write_table(documents, paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    io.write_table(sentences, paths.table(schema.SENTENCES), schema.SENTENCES)
    model.save(paths.models / "sentiment")
    sentiment.run(Params(), paths)
    out = io.read_table(paths.table(schema.MENTION_SENTIMENT), schema.MENTION_SENTIMENT)
    assert len(out) == 3 and set(out["body_id"]) == {"akimat", "police"}
    bad = (paths.processed / sentiment.QUARANTINE_FILE).read_text(encoding="utf-8").splitlines()
    assert json.loads(bad[0])["raw"]["doc_id"] == "d9"


def test_run_without_model_says_retrain(frames, tmp_path: Path) -> None:
    mentions, documents, sentences = frames
    paths = Paths(tmp_path)
    io.write_table(mentions, paths.table(schema.MENTIONS), schema.MENTIONS)
    io.write_table(documents, paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    io.write_table(sentences, paths.table(schema.SENTENCES), schema.SENTENCES)
    with pytest.raises(ValueError, match="dvc repro train_sentiment"):
        sentiment.run(Params(), paths)


# ------------------------------------------------------------------ aggregation


@pytest.mark.parametrize(
    ("week", "shift", "expected"),
    [
        ("2026-W14", -1, "2026-W13"),
        ("2026-W01", -1, "2025-W52"),
        ("2020-W53", 1, "2021-W01"),
        ("2021-W01", -1, "2020-W53"),
    ],
)
def test_shift_week_crosses_years(week: str, shift: int, expected: str) -> None:
    assert sentiment.shift_week(week, shift) == expected


def test_aggregate_counts_net_index_and_change() -> None:
    docs = pd.DataFrame(
        {
            "doc_id": ["a", "b", "c", "dup"],
            "week": ["2025-W52", "2026-W01", "2026-W01", "2026-W01"],
            "is_near_duplicate": [False, False, False, True],
        }
    )
    ms = pd.DataFrame(
        {
            "doc_id": ["a", "a", "b", "b", "c", "dup", "c"],
            "body_id": ["akimat", "akimat", "akimat", "akimat", "akimat", "akimat", "police"],
            "label": [
                "negative",
                "negative",
                "positive",
                "neutral",
                "negative",
                "positive",
                "positive",
            ],
        }
    )
    out = sentiment.aggregate(ms, docs)
    rows = {(r.body_id, r.week): r for r in out.itertuples()}
    w52, w01 = rows[("akimat", "2025-W52")], rows[("akimat", "2026-W01")]
    assert (w52.n, w52.negative, w52.net_index) == (2, 2, -1.0) and np.isnan(w52.net_change)
    assert (w01.n, w01.positive, w01.neutral, w01.negative) == (3, 1, 1, 1)  # dup excluded
    assert w01.net_index == 0.0 and w01.net_change == 1.0
    assert np.isnan(rows[("police", "2026-W01")].net_change)  # no previous week for police


def test_aggregate_empty() -> None:
    docs = pd.DataFrame({"doc_id": [], "week": [], "is_near_duplicate": []})
    out = sentiment.aggregate(io.empty_frame(schema.MENTION_SENTIMENT), docs)
    assert out.empty and "net_index" in out.columns
