"""Topic registry: signatures, Hungarian alignment, weekly flags, persistence, two weekly fits."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix

from pipeline.config import TopicsParams
from pipeline.embeddings import TfidfEmbedder
from pipeline.topic_continuity import (
    KnownTopic,
    RegistryError,
    TopicRegistry,
    align_topics,
    cosine,
    load_registry,
    save_registry,
    topic_signatures,
    update_registry,
    weekly_status,
    with_status,
)
from pipeline.topic_words import TopicAnalyzer, load_stopwords
from pipeline.topics import OUTLIER, fit_weekly_topics

SEED = 20260101
PARAMS = TopicsParams(min_cluster_size=8, min_samples=3, umap_neighbors=10, svd_components=20,
                      cluster_selection="eom")
THEMES = {
    "roads": ("ru", "пробки дорога дороги ремонт светофор водитель водители автобус улица развязка "
                    "трамвай перекрёсток асфальт"),
    "air": ("ru", "смог смогом воздух выбросы ТЭЦ экология загрязнение газ уголь фильтры дышать "
                  "качество воздуха"),
    "school": ("kk", "мектеп мектептерде оқушы оқушылар мұғалім сабақ білім сынып оқулық емтихан "
                     "ұстаз бағдарлама"),
    "flood": ("kk", "су тасқыны өзен өзеннің құтқарушылар көктем жаңбыр көпір тұрғындар эвакуация "
                    "судың апат"),
}


def corpus(themes: list[str], weeks: list[str], n_per_theme: int = 30, seed: int = 1):
    rng = random.Random(seed)
    rows = []
    for theme in themes:
        lang, vocab = THEMES[theme]
        words = vocab.split()
        for i in range(n_per_theme):
            w = rng.sample(words, 7)
            rows.append({"doc_id": f"{seed}-{theme}-{i:03d}", "title": " ".join(w[:3]),
                         "text": " ".join(w[3:]) + ". " + " ".join(rng.sample(words, 6)) + ".",
                         "lang": lang, "week": weeks[i % len(weeks)], "theme": theme})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def analyzer() -> TopicAnalyzer:
    return TopicAnalyzer(load_stopwords())


def _fit(df, analyzer, registry):
    return fit_weekly_topics(df, TfidfEmbedder(analyzer, PARAMS.svd_components, SEED), PARAMS,
                             registry, seed=SEED, analyzer=analyzer)


def _theme_ids(fit, df) -> dict[str, int]:
    merged = fit.doc_topics.merge(df[["doc_id", "theme"]], on="doc_id")
    merged = merged[merged["topic_id"] != OUTLIER]
    return merged.groupby("theme")["topic_id"].agg(lambda s: int(s.mode()[0])).to_dict()


# -- two weekly runs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_runs(analyzer):
    week1 = corpus(["roads", "air", "school"], ["2026-W10", "2026-W11"], seed=1)
    first = _fit(week1, analyzer, TopicRegistry())
    # the next run: roads are gone, a flood appears, other articles on air and school
    week2 = corpus(["air", "school", "flood"], ["2026-W11", "2026-W12"], n_per_theme=40, seed=2)
    second = _fit(week2, analyzer, first.registry)
    return week1, first, week2, second


def test_known_topics_keep_their_ids_across_runs(two_runs):
    week1, first, week2, second = two_runs
    ids1, ids2 = _theme_ids(first, week1), _theme_ids(second, week2)
    assert sorted(ids1.values()) == [0, 1, 2]
    assert ids2["air"] == ids1["air"] and ids2["school"] == ids1["school"]
    assert ids2["flood"] == 3  # a fresh id, never a reused one
    assert set(second.topics["topic_id"]) - {OUTLIER} == set(ids2.values())


def test_registry_after_two_runs(two_runs):
    week1, first, week2, second = two_runs
    reg = second.registry.by_id()
    ids1 = _theme_ids(first, week1)
    assert second.registry.next_id == 4 and sorted(reg) == [0, 1, 2, 3]
    roads = reg[ids1["roads"]]  # not seen this run: kept, so that it can come back
    assert roads.runs_seen == 1 and roads.last_week == "2026-W11"
    air = reg[ids1["air"]]
    assert air.runs_seen == 2 and (air.first_week, air.last_week) == ("2026-W10", "2026-W12")
    assert "смог" in air.weights or "воздух" in air.weights


def test_weekly_flags_of_the_second_run(two_runs):
    week1, first, _, second = two_runs
    status = second.topic_weeks.set_index(["week", "topic_id"])["status"]
    air = _theme_ids(first, week1)["air"]
    assert status[("2026-W11", air)] != "new"  # the registry saw it in W10 already
    assert status[("2026-W11", 3)] == "new"  # the flood
    real = second.topic_weeks[second.topic_weeks["topic_id"] != OUTLIER]
    assert set(real["status"]) <= {"new", "growing", "shrinking", "stable", "vanished"}


def test_rerun_with_the_same_registry_is_identical(two_runs, analyzer):
    _, first, week2, second = two_runs
    again = _fit(week2.sample(frac=1.0, random_state=5), analyzer, first.registry)
    pd.testing.assert_frame_equal(second.doc_topics, again.doc_topics)
    pd.testing.assert_frame_equal(second.topic_weeks, again.topic_weeks)
    assert second.registry == again.registry


# -- signatures and alignment ---------------------------------------------------------------------
def test_signatures_weight_distinctive_terms():
    vocab = ["акимат", "дорога", "смог"]
    counts = csr_matrix(np.array([[1, 3, 0], [1, 2, 0], [1, 0, 4], [5, 5, 5]]))
    sigs = topic_signatures(counts, [0, 0, 1, OUTLIER], vocab, top_n=2)
    assert set(sigs) == {0, 1}  # outliers have no signature
    assert list(sigs[0]) == ["дорога", "акимат"] and list(sigs[1]) == ["смог", "акимат"]
    for sig in sigs.values():
        assert sum(w * w for w in sig.values()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        topic_signatures(counts, [0, 1], vocab)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ({"смог": 1.0}, {"смог": 2.0}, 1.0),
        ({"смог": 1.0}, {"дорога": 1.0}, 0.0),
        ({"смог": 1.0, "тэц": 1.0}, {"смог": 1.0}, 2 ** -0.5),
        ({}, {"смог": 1.0}, 0.0),  # empty signature: no match, no crash
    ],
)
def test_cosine(a, b, expected):
    assert cosine(a, b) == pytest.approx(expected)


def _known(tid: int, **weights: float) -> KnownTopic:
    return KnownTopic(tid, f"тема {tid}", weights, "2026-W01", "2026-W01")


@pytest.mark.parametrize(
    "signatures, sizes, expected",
    [
        # same topics in another order and size: ids follow the words, not the size
        ({0: {"смог": 1.0}, 1: {"дорога": 1.0}}, {0: 5, 1: 9}, {0: 7, 1: 3}),
        # below the threshold: a fresh id from next_id; the bigger new topic first
        ({0: {"мектеп": 1.0}, 1: {"су": 1.0}}, {0: 4, 1: 6}, {0: 11, 1: 10}),
        # two candidates for one known topic: the closer wins, the other is new
        ({0: {"смог": 0.8, "газ": 0.6}, 1: {"смог": 1.0}}, {0: 5, 1: 5}, {0: 10, 1: 7}),
        # the outlier topic stays -1
        ({0: {"дорога": 1.0}}, {OUTLIER: 3, 0: 5}, {OUTLIER: OUTLIER, 0: 3}),
    ],
)
def test_align_topics(signatures, sizes, expected):
    registry = TopicRegistry((_known(3, дорога=1.0), _known(7, смог=1.0)), next_id=10)
    labels = {t: f"метка {t}" for t in sizes}
    got = align_topics(signatures, sizes, labels, registry, threshold=0.3)
    assert {t: got[t] for t in expected} == expected


def test_empty_registry_numbers_topics_by_size_then_label():
    got = align_topics({}, {0: 3, 1: 8, 2: 3}, {0: "Б", 1: "В", 2: "А"}, TopicRegistry(), 0.3)
    assert got == {OUTLIER: OUTLIER, 1: 0, 2: 1, 0: 2}


def test_update_registry_keeps_ids_monotonic():
    registry = TopicRegistry((_known(0, смог=1.0),), next_id=5)
    weeks = pd.DataFrame({"week": ["2026-W02", "2026-W03"], "topic_id": [5, 5], "n_docs": [2, 0]})
    out = update_registry(registry, {5: {"су": 1.0}}, {5: "Паводок"}, weeks)
    assert out.next_id == 6 and [t.topic_id for t in out.topics] == [0, 5]
    assert out.by_id()[5].last_week == "2026-W02"  # a week with no documents does not count


# -- weekly flags ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "counts, known_first, expected",
    [
        ([0, 4, 9], None, [None, "new", "growing"]),
        ([10, 4, 4], None, ["new", "shrinking", "stable"]),
        ([5, 0, 2], None, ["new", "vanished", "stable"]),  # back after a gap: not new again
        ([3, 4, 0], "2026-W01", ["stable", "stable", "vanished"]),  # known since W01: not new
        ([2, 4, 5], None, ["new", "stable", "stable"]),  # +2 is below trend_min_docs
    ],
)
def test_weekly_status(counts, known_first, expected):
    weeks = ["2026-W10", "2026-W11", "2026-W12"]
    tw = pd.DataFrame({"week": weeks + weeks, "topic_id": [4] * 3 + [9] * 3,
                       "n_docs": counts + [1, 1, 1]})
    registry = TopicRegistry((KnownTopic(4, "x", {}, known_first, known_first),) if known_first
                             else (), next_id=10)
    got = weekly_status(tw, registry, ratio=1.5, min_docs=3)
    mine = got[got["topic_id"] == 4].set_index("week")["status"]
    assert [mine.get(w) for w in weeks] == expected
    assert got.loc[got["topic_id"] == 4, "n_docs"].sum() == sum(counts)


# -- the status column of TOPIC_WEEKS -------------------------------------------------------------
W = ["2026-W10", "2026-W11", "2026-W12"]


@pytest.mark.parametrize(
    "counts, almaty, expected",
    [
        # new in the first week of the data, then gone: one `vanished` row, then nothing
        ([5, 0, 0], [2, 0, 0], [(5, 2, "new"), (0, 0, "vanished"), None]),
        # absent in the first week, new in the second, grows in the third
        ([0, 4, 9], [0, 0, 9], [None, (4, 0, "new"), (9, 9, "growing")]),
        # shrinks, then vanishes in the last week
        ([10, 4, 0], [0, 0, 0], [(10, 0, "new"), (4, 0, "shrinking"), (0, 0, "vanished")]),
        # back after a gap is not new again
        ([5, 0, 2], [5, 0, 1], [(5, 5, "new"), (0, 0, "vanished"), (2, 1, "stable")]),
    ],
)
def test_with_status_flags_every_week(counts, almaty, expected):
    rows = [(w, 7, n, a) for w, n, a in zip(W, counts, almaty, strict=True) if n]
    rows += [(w, 1, 3, 0) for w in W] + [(w, OUTLIER, 2, 1) for w in W]
    tw = pd.DataFrame(rows, columns=["week", "topic_id", "n_docs", "n_docs_almaty"])
    got = with_status(tw, TopicRegistry(), ratio=1.5, min_docs=3)
    assert list(got.columns) == ["week", "topic_id", "n_docs", "n_docs_almaty", "status"]
    mine = got[got["topic_id"] == 7].set_index("week")
    for week, want in zip(W, expected, strict=True):
        if want is None:
            assert week not in mine.index
        else:
            assert tuple(mine.loc[week, ["n_docs", "n_docs_almaty", "status"]]) == want
    assert got.loc[got["topic_id"] == 1, "status"].tolist() == ["new", "stable", "stable"]
    assert got.loc[got["topic_id"] == OUTLIER, "status"].isna().all()  # no flag for -1
    assert got[["n_docs", "n_docs_almaty"]].sum().tolist() == [sum(counts) + 15, sum(almaty) + 3]


def test_with_status_is_deterministic_and_replaces_a_stale_status():
    tw = pd.DataFrame({"week": ["2026-W11", "2026-W10", "2026-W10"], "topic_id": [2, 2, 0],
                       "n_docs": [1, 6, 4], "n_docs_almaty": [0, 1, 4], "status": ["x"] * 3})
    first = with_status(tw, TopicRegistry())
    again = with_status(tw.sample(frac=1.0, random_state=1), TopicRegistry())
    pd.testing.assert_frame_equal(first, again)
    assert first["status"].tolist() == ["new", "new", "vanished", "shrinking"]
    assert first["week"].tolist() == ["2026-W10", "2026-W10", "2026-W11", "2026-W11"]
    empty = with_status(tw.iloc[:0], TopicRegistry())
    assert empty.empty and list(empty.columns)[-1] == "status"


def test_with_status_remembers_registry_weeks():
    tw = pd.DataFrame({"week": ["2026-W10"], "topic_id": [4], "n_docs": [6], "n_docs_almaty": [0]})
    known = TopicRegistry((KnownTopic(4, "x", {}, "2026-W02", "2026-W05"),), next_id=5)
    assert with_status(tw, known)["status"].tolist() == ["stable"]  # seen in an earlier run
    assert with_status(tw, TopicRegistry())["status"].tolist() == ["new"]


def test_weekly_status_ignores_outliers_and_empty_input():
    tw = pd.DataFrame({"week": ["2026-W10"], "topic_id": [OUTLIER], "n_docs": [7]})
    assert weekly_status(tw, TopicRegistry()).empty


# -- persistence ----------------------------------------------------------------------------------
def test_registry_round_trip_is_byte_stable(tmp_path):
    registry = TopicRegistry((_known(0, смог=0.6, тэц=0.8), _known(4, әкімдік=1.0)), next_id=6)
    save_registry(registry, tmp_path / "a")
    assert load_registry(tmp_path / "a") == registry
    save_registry(load_registry(tmp_path / "a"), tmp_path / "b")
    assert (tmp_path / "a" / "registry.json").read_bytes() == (
        tmp_path / "b" / "registry.json").read_bytes()
    assert load_registry(tmp_path / "missing") == TopicRegistry()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": 99, "next_id": 0, "topics": []}',  # a future format
        '{"format": 1, "next_id": 1, "topics": [{"topic_id": 3, "label": "x", "weights": {}}]}',
        '{"format": 1, "next_id": 5, "topics": [{"topic_id": 1, "label": "x"}]}',  # no weights
        '["a list"]',
    ],
)
def test_bad_registry_is_refused_with_advice(tmp_path, content):
    (tmp_path / "registry.json").write_text(content, encoding="utf-8")
    with pytest.raises(RegistryError, match="delete the folder"):
        load_registry(tmp_path)
