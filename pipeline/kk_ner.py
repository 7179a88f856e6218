"""Kazakh NER: a small spaCy CNN trained on KazNERD (CC BY 4.0), with load/evaluate helpers.

No Kazakh NER ships offline, so we train our own on `spacy.blank("xx")` (there is no Kazakh
language class). `KazakhNER(folder)` is the callable the entities stage uses:
`ner(texts) -> [[(start, end, label), ...], ...]` with labels PER, ORG, GPE, LOC and the other
KazNERD classes (the caller keeps what it needs).

Text is normalised before tagging: Latin look-alikes inside Cyrillic words are fixed ("Iшкi" ->
"Ішкі"), letter for letter, so offsets are kept. Russian letters typed for Kazakh ones
("каласынын") are left alone. The tokeniser keeps hyphenated words whole, as KazNERD does.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipeline.gazetteer import normalize_word
from pipeline.scoring import prf

log = logging.getLogger(__name__)

# KazNERD class -> our label; classes not listed keep their KazNERD name.
LABEL_MAP = {"PERSON": "PER", "ORGANISATION": "ORG", "GPE": "GPE", "LOCATION": "LOC"}
MAIN_LABELS = ("PER", "ORG", "GPE", "LOC")
CONFIG_FILE = Path(__file__).resolve().parent.parent / "configs" / "kk_ner.cfg"
KAZNERD_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "kaznerd"
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

Sentence = list[tuple[str, str]]  # (token, IOB2 tag)
Span = tuple[int, int, str]


# ---- the embedding layer (referenced by configs/kk_ner.cfg) ---------------------------------
def _register() -> None:
    import spacy
    from thinc.api import Maxout, chain, concatenate, with_array

    @spacy.registry.architectures("kaznet.KkCharHashEmbed.v1")
    def kk_char_hash_embed(width: int, attrs: list[str], rows: list[int], n_char_dims: int,
                           n_chars: int) -> Any:
        """MultiHashEmbed(attrs) + UTF-8 byte embeddings of the word's ends, mixed by a Maxout."""
        from spacy.ml._character_embed import CharacterEmbed
        from spacy.ml.models.tok2vec import MultiHashEmbed

        words = MultiHashEmbed(width=width, attrs=attrs, rows=rows,
                               include_static_vectors=False)
        chars = CharacterEmbed(nM=n_char_dims, nC=n_chars)
        mix = Maxout(width, width + n_char_dims * n_chars, nP=3, normalize=True, dropout=0.0)
        return chain(concatenate(words, chars), with_array(mix))


_register()


# ---- data -----------------------------------------------------------------------------------
def read_iob2(path: str | Path) -> list[Sentence]:
    """Sentences of a CoNLL/IOB2 file ("token TAG" per line, blank line between sentences)."""
    out: list[Sentence] = []
    cur: Sentence = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    out.append(cur)
                cur = []
                continue
            token, _, tag = line.rpartition(" ")
            if not token or not (tag == "O" or tag[:2] in ("B-", "I-")):
                raise ValueError(f"{path}:{n}: expected 'token TAG' with an IOB2 tag, "
                                 f"got {line!r}")
            cur.append((token, tag))
    if cur:
        out.append(cur)
    return out


def iob_spans(tags: Sequence[str]) -> list[Span]:
    """(first token, end token, label) per entity; a stray I- starts a new entity."""
    spans: list[Span] = []
    start, label = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        kind, name = tag[:1], LABEL_MAP.get(tag[2:], tag[2:])
        if start >= 0 and (kind != "I" or name != label):
            spans.append((start, i, label))
            start = -1
        if kind == "B" or (kind == "I" and start < 0):
            start, label = i, name
    return spans


def block_split(sents: list[Sentence], dev_blocks: int = 1, n_blocks: int = 20
                ) -> tuple[list[Sentence], list[Sentence]]:
    """Train and dev sets: the last `dev_blocks` of `n_blocks` contiguous blocks are dev.

    KazNERD keeps a document's sentences together, and the same sentence may occur more than
    once: a random dev slice would share sentences with train. Train sentences that also occur
    in dev are dropped from train.
    """
    if not sents:
        raise ValueError("block_split: no sentences")
    cut = len(sents) - len(sents) * dev_blocks // n_blocks
    train, dev = sents[:cut], sents[cut:]
    seen = {tuple(t for t, _ in s) for s in dev}
    return [s for s in train if tuple(t for t, _ in s) not in seen], dev


def normalize(text: str) -> str:
    """Fix Latin look-alike letters inside Cyrillic words; keeps every offset."""
    return _WORD.sub(lambda m: normalize_word(m.group()), text)


def keep_hyphenated_words(nlp: Any) -> Any:
    """Stop the tokeniser splitting "Қасым-Жомарт", "ЖШС-нің": KazNERD keeps them whole."""
    from spacy.lang.char_classes import HYPHENS
    from spacy.util import compile_infix_regex

    infixes = [x for x in nlp.Defaults.infixes if HYPHENS not in x]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    return nlp


def _doc(nlp: Any, words: Sequence[str]) -> Any:
    from spacy.tokens import Doc

    return Doc(nlp.vocab, words=[normalize_word(w) for w in words])


def to_examples(nlp: Any, sents: Iterable[Sentence]) -> list[Any]:
    """spaCy Examples (gold tokenisation) of IOB2 sentences."""
    from spacy.tokens import Span as SpacySpan
    from spacy.training import Example

    out = []
    for sent in sents:
        words = [t for t, _ in sent]
        ref = _doc(nlp, words)
        spans = iob_spans([t for _, t in sent])
        ref.ents = [SpacySpan(ref, s, e, label=lab) for s, e, lab in spans]
        out.append(Example(_doc(nlp, words), ref))
    return out


# ---- training -------------------------------------------------------------------------------
def build(config_path: str | Path = CONFIG_FILE, seed: int = 20260101) -> Any:
    """A blank pipeline from the config file."""
    from spacy.util import fix_random_seed, load_config, load_model_from_config

    fix_random_seed(seed)
    config = load_config(config_path, overrides={"system.seed": seed})
    return keep_hyphenated_words(load_model_from_config(config, auto_fill=True, validate=True))


def train(train_sents: list[Sentence], dev_sents: list[Sentence], *, epochs: int = 30,
          max_seconds: float = 720.0, seed: int = 20260101, dropout: float = 0.2,
          learn_rate: float = 0.002, weight_decay: float = 1e-6,
          config_path: str | Path = CONFIG_FILE
          ) -> tuple[Any, list[dict[str, Any]]]:
    """Train the pipeline for a fixed schedule; returns (nlp, per-epoch log).

    The epoch count is fixed up front, except that after the first epoch it is cut to what
    fits in `max_seconds`; the learning rate then decays linearly to 10% over those epochs.
    If the machine slows down, training stops once the next epoch would end past
    1.1 x `max_seconds` (a hard wall-clock cap on a shared machine).
    The last model is kept (dev is only logged, never used to pick a checkpoint).
    """
    from spacy.util import compounding, fix_random_seed, minibatch
    from thinc.api import Adam

    if not train_sents:
        raise ValueError("train: no training sentences")
    nlp = build(config_path, seed)
    examples = to_examples(nlp, train_sents)
    dev = to_examples(nlp, dev_sents)
    optimizer = nlp.initialize(lambda: examples, sgd=Adam(
        learn_rate, L2=weight_decay, L2_is_weight_decay=True, grad_clip=1.0, use_averages=True))
    fix_random_seed(seed)
    rng = random.Random(seed)
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    planned, step, warmup = epochs, 0, 200
    epoch = 0
    while epoch < planned:
        rng.shuffle(examples)
        losses: dict[str, float] = {}
        for batch in minibatch(examples, size=compounding(16.0, 64.0, 1.001)):
            step += 1
            decay = max(0.1, 1.0 - epoch / planned)
            optimizer.learn_rate = learn_rate * min(1.0, step / warmup) * decay
            nlp.update(batch, drop=dropout, sgd=optimizer, losses=losses)
        epoch += 1
        elapsed = time.perf_counter() - t0
        if epoch == 1:
            planned = max(1, min(epochs, int(max_seconds // elapsed)))
            log.info("kk_ner: %.0f s per epoch, %d epochs planned", elapsed, planned)
        loss = round(float(losses.get("ner", 0.0)), 1)
        row = {"epoch": epoch, "seconds": round(elapsed, 1), "loss": loss,
               **({"dev_micro_f1": score(nlp, dev)["micro"]["f1"]} if dev else {})}
        history.append(row)
        log.info("kk_ner: %s", row)
        if epoch < planned and elapsed * (epoch + 1) / epoch > max_seconds * 1.1:
            log.warning("kk_ner: stopping after epoch %d of %d: the machine is slower than the "
                        "first epoch promised (%.0f s spent)", epoch, planned, elapsed)
            break
    return nlp, history


def save(nlp: Any, folder: str | Path) -> None:
    """Write the pipeline with only the strings it needs (labels; features are hashed)."""
    labels = list(nlp.get_pipe("ner").labels)
    nlp.vocab.strings._reset_and_load(labels)
    nlp.meta.update(name="kaznet_kk_ner", version="1.0.0", license="CC BY 4.0",
                    description="Kazakh NER trained on KazNERD (Yeshpanov et al., LREC 2022, "
                                "CC BY 4.0); see MODEL_CARD.md")
    nlp.to_disk(folder)


# ---- evaluation and use ---------------------------------------------------------------------
def score(nlp: Any, examples: Sequence[Any], labels: Iterable[str] = MAIN_LABELS
          ) -> dict[str, dict[str, float | int]]:
    """Exact-span P/R/F1 per label (on the gold tokenisation) and micro over `labels`."""
    labels = tuple(labels)
    c: Counter[str] = Counter()
    preds = nlp.pipe([_doc(nlp, [t.text for t in ex.reference]) for ex in examples],
                     batch_size=256)
    for ex, pred in zip(examples, preds, strict=True):
        gold = {(e.start, e.end, e.label_) for e in ex.reference.ents}
        got = {(e.start, e.end, e.label_) for e in pred.ents}
        for lab in {s[2] for s in gold | got}:
            g, p = {s for s in gold if s[2] == lab}, {s for s in got if s[2] == lab}
            c[lab, "tp"] += len(g & p)
            c[lab, "fp"] += len(p - g)
            c[lab, "fn"] += len(g - p)
    found = sorted({lab for lab, _ in c})
    out = {lab: prf(c[lab, "tp"], c[lab, "fp"], c[lab, "fn"]) for lab in found}
    out["micro"] = prf(*(sum(c[lab, k] for lab in labels) for k in ("tp", "fp", "fn")))
    out["micro_all"] = prf(*(sum(c[lab, k] for lab in found) for k in ("tp", "fp", "fn")))
    return out


def evaluate_kaznerd(nlp: Any, path: str | Path) -> dict[str, Any]:
    """Scores on a KazNERD file, plus raw-text speed (tokeniser included)."""
    sents = read_iob2(path)
    examples = to_examples(nlp, sents)
    result: dict[str, Any] = {"sentences": len(sents), "scores": score(nlp, examples)}
    texts = [" ".join(t for t, _ in s) for s in sents[:2000]]
    t0 = time.perf_counter()
    for _ in nlp.pipe((normalize(t) for t in texts), batch_size=256):
        pass
    result["sentences_per_s"] = round(len(texts) / (time.perf_counter() - t0), 1)
    return result


class KazakhNER:
    """The trained Kazakh NER, loaded once: `ner(texts)` -> character spans per text."""

    def __init__(self, folder: str | Path) -> None:
        import spacy

        folder = Path(folder)
        if not (folder / "config.cfg").is_file():
            raise FileNotFoundError(
                f"{folder}: no Kazakh NER model; train it with `python -m pipeline.train_kk_ner` "
                f"(see models/kk_ner/MODEL_CARD.md)")
        self.nlp = keep_hyphenated_words(spacy.load(folder))

    def __call__(self, texts: list[str]) -> list[list[Span]]:
        docs = self.nlp.pipe((normalize(t) for t in texts), batch_size=64)
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]
