"""Every table passed between stages: its columns, dtypes and schema version.

A stage declares what it reads and writes by naming tables here; `io.write_table` refuses a frame
that does not match, and `io.read_table` checks the version stamped in the parquet metadata so a
stale output from an older pipeline fails with a message that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = "2"  # 2: TOPICS size_almaty/share_almaty, TOPIC_WEEKS n_docs_almaty/status


@dataclass(frozen=True)
class Table:
    """A named table with its arrow schema and the file it lives in under `data/processed/`."""

    name: str
    filename: str
    schema: pa.Schema

    @property
    def columns(self) -> list[str]:
        return self.schema.names


_TS = pa.timestamp("us", tz="UTC")

DOCUMENTS = Table(
    "documents",
    "documents.parquet",
    pa.schema(
        [
            ("doc_id", pa.string()),  # stable id: hash of the normalised URL (or content if no URL)
            ("url", pa.string()),
            ("site", pa.string()),  # site id from configs/sources.yaml, "other" if unknown
            ("kind", pa.string()),  # article | comment
            ("title", pa.string()),
            ("text", pa.string()),  # cleaned body, sentence boundaries repaired
            ("published_utc", _TS),
            ("week", pa.string()),  # ISO week of the Almaty-local date, e.g. 2026-W14
            ("views", pa.int64()),
            ("content_hash", pa.string()),
            ("story_id", pa.string()),  # near-duplicate cluster id (the first doc's id)
            ("is_near_duplicate", pa.bool_()),  # not the earliest copy of its story
            ("copies", pa.int64()),  # exact reposts folded into this document
            ("source_file", pa.string()),
        ]
    ),
)

LANGUAGES = Table(
    "languages",
    "languages.parquet",
    pa.schema(
        [
            ("doc_id", pa.string()),
            ("lang", pa.string()),  # ru | kk | mixed | other
            ("confidence", pa.float64()),
            ("share_ru", pa.float64()),
            ("share_kk", pa.float64()),
        ]
    ),
)

SENTENCES = Table(
    "sentences",
    "sentences.parquet",
    pa.schema(
        [
            ("doc_id", pa.string()),
            ("sent_id", pa.int32()),
            ("start", pa.int32()),  # character offsets into documents.text
            ("end", pa.int32()),
            ("lang", pa.string()),  # ru | kk | other
        ]
    ),
)

MENTIONS = Table(
    "mentions",
    "mentions.parquet",
    pa.schema(
        [
            ("doc_id", pa.string()),
            ("sent_id", pa.int32()),
            ("start", pa.int32()),
            ("end", pa.int32()),
            ("text", pa.string()),
            ("label", pa.string()),  # BODY | PER | ORG | LOC
            ("body_id", pa.string()),  # canonical id from configs/city_bodies.yaml, null otherwise
            ("lang", pa.string()),
            ("source", pa.string()),  # gazetteer | natasha | kk_ner
        ]
    ),
)

DOC_ENTITIES = Table(
    "doc_entities",
    "doc_entities.parquet",
    pa.schema(
        [
            ("doc_id", pa.string()),
            ("almaty_related", pa.bool_()),
            ("bodies", pa.list_(pa.string())),  # distinct canonical ids mentioned
            ("persons", pa.list_(pa.string())),
            ("n_mentions", pa.int32()),
        ]
    ),
)

DOC_TOPICS = Table(
    "doc_topics",
    "doc_topics.parquet",
    pa.schema(
        [
            ("doc_id", pa.string()),
            ("topic_id", pa.int32()),  # -1 is the outlier topic
            ("topic_prob", pa.float64()),
        ]
    ),
)

TOPICS = Table(
    "topics",
    "topics.parquet",
    pa.schema(
        [
            ("topic_id", pa.int32()),
            ("label", pa.string()),
            ("top_words", pa.list_(pa.string())),  # analysed terms (lemmas, Kazakh match keys)
            ("keywords", pa.list_(pa.string())),  # the same words as written, for reports
            ("size", pa.int64()),
            ("share", pa.float64()),
            ("size_almaty", pa.int64()),  # the topic's documents that are almaty_related
            ("share_almaty", pa.float64()),  # size_almaty / all almaty_related docs (0 if none)
            ("share_kk", pa.float64()),
            ("example_titles", pa.list_(pa.string())),
        ]
    ),
)

TOPIC_WEEKS = Table(
    "topic_weeks",
    "topic_weeks.parquet",
    pa.schema(
        [
            ("week", pa.string()),
            ("topic_id", pa.int32()),
            ("n_docs", pa.int64()),  # 0 on a `vanished` row
            ("n_docs_almaty", pa.int64()),  # of which almaty_related
            ("status", pa.string()),  # new | growing | shrinking | stable | vanished; null for -1
        ]
    ),
)

MENTION_SENTIMENT = Table(
    "mention_sentiment",
    "mention_sentiment.parquet",
    pa.schema(
        [
            ("doc_id", pa.string()),
            ("body_id", pa.string()),
            ("start", pa.int32()),
            ("end", pa.int32()),
            ("lang", pa.string()),
            ("context", pa.string()),  # the sentence(s) the label was read from
            ("label", pa.string()),  # negative | neutral | positive
            ("p_negative", pa.float64()),
            ("p_neutral", pa.float64()),
            ("p_positive", pa.float64()),
        ]
    ),
)

QUARANTINE_FIELDS = ("source_file", "line", "reason", "raw")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
