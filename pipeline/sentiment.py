"""Stage `sentiment`: label each mention of a city body negative / neutral / positive.

The context of a mention is its sentence plus `context_sentences` neighbours on each side; the
mention's offsets in MENTION_SENTIMENT are relative to that context. `aggregate` sums the labels
per body and ISO week for the report.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pipeline import io, schema
from pipeline.config import Params
from pipeline.paths import Paths
from pipeline.sentiment_model import SentimentModel, load_model

log = logging.getLogger(__name__)

QUARANTINE_FILE = "sentiment_quarantine.jsonl"
_PROB_COLUMNS = ["p_negative", "p_neutral", "p_positive"]


def _sentence_index(sentences: pd.DataFrame) -> dict[str, tuple[list[int], list[int], list[str]]]:
    """doc_id -> (starts, ends, langs) of its sentences in text order."""
    out = {}
    for doc_id, g in sentences.sort_values(["doc_id", "start"]).groupby("doc_id", sort=False):
        out[doc_id] = (
            g["start"].astype(int).tolist(),
            g["end"].astype(int).tolist(),
            g["lang"].astype(str).tolist(),
        )
    return out


def _context(
    text: str, spans: tuple[list[int], list[int], list[str]], start: int, end: int, k: int
) -> tuple[int, int, str] | None:
    """(context start, context end, sentence lang) around a mention; None if no sentence has it."""
    starts, ends, langs = spans
    i = bisect.bisect_right(starts, start) - 1
    if i < 0 or ends[i] <= start:
        return None
    lo, hi = max(0, i - k), min(len(starts) - 1, i + k)
    return starts[lo], max(ends[hi], end), langs[i]


def build_contexts(
    mentions: pd.DataFrame, documents: pd.DataFrame, sentences: pd.DataFrame, context_sentences: int
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rows (doc_id, body_id, start, end, lang, context) for BODY mentions, plus set-aside ones."""
    bodies = mentions[mentions["label"] == "BODY"]
    texts = dict(zip(documents["doc_id"], documents["text"], strict=True))
    index = _sentence_index(sentences)
    rows, bad = [], []
    for m in bodies.to_dict("records"):
        text, spans = texts.get(m["doc_id"]), index.get(m["doc_id"])
        start, end = int(m["start"]), int(m["end"])
        reason = None
        if text is None:
            reason = "document not in DOCUMENTS"
        elif not 0 <= start < end <= len(text):
            reason = f"bad offsets {start}:{end} for a text of {len(text)} chars"
        elif spans is None or (ctx := _context(text, spans, start, end, context_sentences)) is None:
            reason = "no sentence holds the mention"
        if reason:
            bad.append(
                dict(
                    zip(
                        schema.QUARANTINE_FIELDS,
                        ("mentions", -1, reason, {k: str(v) for k, v in m.items()}),
                        strict=True,
                    )
                )
            )
            continue
        lo, hi, sent_lang = ctx
        lang = m.get("lang") if isinstance(m.get("lang"), str) and m.get("lang") else sent_lang
        rows.append(
            {
                "doc_id": m["doc_id"],
                "body_id": m["body_id"],
                "start": start - lo,
                "end": end - lo,
                "lang": lang,
                "context": text[lo:hi],
            }
        )
    cols = ["doc_id", "body_id", "start", "end", "lang", "context"]
    return pd.DataFrame(rows, columns=cols), bad


def score_mentions(
    mentions: pd.DataFrame,
    documents: pd.DataFrame,
    sentences: pd.DataFrame,
    model: SentimentModel,
    context_sentences: int = 1,
    batch_size: int = 64,
) -> pd.DataFrame:
    """MENTION_SENTIMENT rows for every BODY mention (unplaceable ones are logged and skipped)."""
    ctx, bad = build_contexts(mentions, documents, sentences, context_sentences)
    if bad:
        log.warning(
            "%d BODY mentions could not be placed in a sentence: %s", len(bad), bad[0]["reason"]
        )
    return _score(ctx, model, batch_size)


def _score(ctx: pd.DataFrame, model: SentimentModel, batch_size: int) -> pd.DataFrame:
    if ctx.empty:
        return io.empty_frame(schema.MENTION_SENTIMENT)
    examples = list(zip(ctx["context"], ctx["start"], ctx["end"], strict=True))
    step = max(1, int(batch_size))
    batches = [
        model.predict_proba(examples[i : i + step])
        for i in tqdm(
            range(0, len(examples), step),
            desc="sentiment",
            unit="batch",
            disable=len(examples) <= step,
        )
    ]
    proba = np.vstack(batches)
    out = ctx.copy()
    out[_PROB_COLUMNS] = proba
    out["label"] = [schema.SENTIMENT_LABELS[i] for i in proba.argmax(axis=1)]
    out["start"] = out["start"].astype("int32")
    out["end"] = out["end"].astype("int32")
    return out[schema.MENTION_SENTIMENT.columns].reset_index(drop=True)


def shift_week(week: str, weeks: int) -> str:
    """The ISO week `weeks` after `week` ("2026-W01", -1 -> "2025-W52")."""
    year, w = week.split("-W")
    monday = dt.date.fromisocalendar(int(year), int(w), 1) + dt.timedelta(weeks=weeks)
    y, nw, _ = monday.isocalendar()
    return f"{y}-W{nw:02d}"


def aggregate(
    mention_sentiment: pd.DataFrame, documents: pd.DataFrame, exclude_near_duplicates: bool = True
) -> pd.DataFrame:
    """Per body and ISO week: counts per class, n, net index (pos-neg)/n, change vs previous week.

    `net_change` is NaN when the body had no mentions in the week before.
    """
    cols = ["body_id", "week", "n", *schema.SENTIMENT_LABELS, "net_index", "net_change"]
    if mention_sentiment.empty or documents.empty:
        return pd.DataFrame(columns=cols)
    docs = documents[["doc_id", "week", "is_near_duplicate"]]
    if exclude_near_duplicates:
        docs = docs[~docs["is_near_duplicate"].fillna(False).astype(bool)]
    df = mention_sentiment.merge(docs[["doc_id", "week"]], on="doc_id", how="inner")
    if df.empty:
        return pd.DataFrame(columns=cols)
    counts = (
        df.groupby(["body_id", "week", "label"])
        .size()
        .unstack("label", fill_value=0)
        .reindex(columns=list(schema.SENTIMENT_LABELS), fill_value=0)
        .reset_index()
    )
    counts.columns.name = None
    counts["n"] = counts[list(schema.SENTIMENT_LABELS)].sum(axis=1)
    counts["net_index"] = (counts["positive"] - counts["negative"]) / counts["n"]
    prev = counts[["body_id", "week", "net_index"]].rename(columns={"net_index": "prev_net"})
    prev["week"] = [shift_week(w, 1) for w in prev["week"]]
    counts = counts.merge(prev, on=["body_id", "week"], how="left")
    counts["net_change"] = counts["net_index"] - counts["prev_net"]
    return counts[cols].sort_values(["week", "body_id"]).reset_index(drop=True)


def run(params: Params, paths: Paths) -> None:
    """Read MENTIONS, DOCUMENTS, SENTENCES; score BODY mentions; write MENTION_SENTIMENT."""
    mentions = io.read_table(paths.table(schema.MENTIONS), schema.MENTIONS)
    documents = io.read_table(paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    sentences = io.read_table(paths.table(schema.SENTENCES), schema.SENTENCES)
    model = load_model(paths.root / params.sentiment.model_dir)
    ctx, bad = build_contexts(
        mentions, documents, sentences, params.train_sentiment.context_sentences
    )
    io.write_jsonl(paths.processed / QUARANTINE_FILE, bad)
    if bad:
        log.warning("%d BODY mentions set aside in %s", len(bad), paths.processed / QUARANTINE_FILE)
    log.info("scoring %d BODY mentions with %s", len(ctx), model.backend)
    out = _score(ctx, model, params.sentiment.batch_size)
    io.write_table(out, paths.table(schema.MENTION_SENTIMENT), schema.MENTION_SENTIMENT)
    log.info("labels: %s", out["label"].value_counts().to_dict())
