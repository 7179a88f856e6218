"""Stage 1, ingest: raw crawl exports -> one clean, dated, site-attributed, de-duplicated table.

Every input record ends in exactly one of three places: the documents table, the exact-duplicate
count (folded into the kept copy's `copies`), or the quarantine file with its reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from tqdm import tqdm

from pipeline import io, schema
from pipeline.cleaning import clean_text, clean_title
from pipeline.config import IngestParams, Params, Source, load_sources
from pipeline.dates import DateError, iso_week, parse_date
from pipeline.dedup import content_hash, story_ids
from pipeline.paths import Paths
from pipeline.raw_readers import RawRecord, Rejected, list_raw_files, read_file

log = logging.getLogger(__name__)

ALIASES = {
    "url": ("url", "page_url", "link"),
    "title": ("title", "headline"),
    "text": ("text", "content", "body"),
    "published": ("published", "published_at", "datetime", "date", "date_txt", "pubdate"),
    "views": ("views", "views_count"),
}
KINDS = ("article", "comment")


@dataclass(frozen=True)
class IngestResult:
    documents: pd.DataFrame
    quarantine: list[dict[str, Any]]
    counts: dict[str, int]


def _first(fields: dict[str, Any], name: str) -> Any:
    for key in ALIASES.get(name, (name,)):
        value = fields.get(key)
        if value is not None and str(value).strip() != "":
            return value
    return None


_TRACKING = ("utm_", "fbclid", "gclid", "yclid", "_openstat", "from", "ref")


def normalise_url(url: str) -> str:
    """Scheme-less, lower-case host without www, no trailing slash, no tracking parameters.

    The query stays (many sites address articles as "/?a=123"); its parameters are sorted.
    """
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    path = parts.path.rstrip("/")
    params = sorted(
        p for p in parts.query.split("&") if p and not p.split("=")[0].lower().startswith(_TRACKING)
    )
    query = f"?{'&'.join(params)}" if params else ""
    frag = f"#{parts.fragment}" if parts.fragment.startswith("comment") else ""
    return f"{host}{path}{query}{frag}"


def site_of(url: str, sources: Iterable[Source], declared: str | None = None) -> str:
    """The source id whose domain (or a parent domain of the URL's host) matches; else `other`."""
    host = urlsplit(url.strip()).netloc.lower().split(":")[0].removeprefix("www.")
    for source in sources:
        for domain in source.domains:
            if host == domain or host.endswith("." + domain):
                return source.id
    if declared:
        for source in sources:
            if declared.strip().lower() in {source.id, source.name.lower(), *source.domains}:
                return source.id
    return "other"


def _published(fields: dict[str, Any]) -> Any:
    errors = []
    for key in ALIASES["published"]:
        value = fields.get(key)
        if value is None or str(value).strip() == "":
            continue
        try:
            return parse_date(str(value), fields.get("crawled_at"))
        except DateError as exc:
            errors.append(str(exc))
    raise DateError("; ".join(errors) or "нет даты публикации")


def _views(value: Any) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return max(0, int(float(str(value).replace(" ", "").replace("\u00a0", ""))))
    except ValueError:
        return None


def parse_record(rec: RawRecord, sources: tuple[Source, ...], p: IngestParams) -> dict | Rejected:
    """Validate and normalise one raw record into a document row, or reject it with a reason."""
    f = rec.fields
    raw = str(f)[:500]
    url = _first(f, "url")
    if not url or not str(url).startswith(("http://", "https://")):
        return Rejected(rec.source_file, rec.line, "нет корректного url", raw)
    text = clean_text(str(_first(f, "text") or ""))
    if len(text) < p.min_text_chars:
        return Rejected(
            rec.source_file, rec.line, f"пустой или слишком короткий текст ({len(text)} симв.)", raw
        )
    kind = str(f.get("kind") or "article").strip().lower()
    if kind not in KINDS:
        return Rejected(
            rec.source_file,
            rec.line,
            f"неизвестный kind {kind!r} (ожидается article или comment)",
            raw,
        )
    try:
        published = _published(f)
    except DateError as exc:
        return Rejected(rec.source_file, rec.line, f"дата: {exc}", raw)
    url = str(url).strip()
    return {
        "doc_id": hashlib.sha1(normalise_url(url).encode()).hexdigest()[:16],
        "url": url,
        "site": site_of(url, sources, f.get("site") or f.get("site_name")),
        "kind": kind,
        "title": clean_title(str(_first(f, "title") or "")),
        "text": text[: p.max_text_chars],
        "truncated": len(text) > p.max_text_chars,
        "published_utc": published,
        "views": _views(_first(f, "views")),
        "parent_url": str(f.get("parent_url") or ""),
        "source_file": rec.source_file,
        "line": rec.line,
    }


def build_documents(
    rows: list[dict], p: IngestParams, seed: int
) -> tuple[pd.DataFrame, list[dict[str, Any]], int]:
    """Drop exact duplicates (same URL, or same text of the same kind), cluster near-duplicates.

    Returns the documents frame, the duplicate records (for the log) and the duplicate count.
    """
    if not rows:
        return io.empty_frame(schema.DOCUMENTS), [], 0
    df = pd.DataFrame(rows)
    df["content_hash"] = [content_hash(t, x) for t, x in zip(df["title"], df["text"], strict=True)]
    df = df.sort_values(["published_utc", "source_file", "line"], kind="stable").reset_index(
        drop=True
    )
    # comments are copies only under the same article; articles are copies anywhere
    df["dup_key"] = (
        df["kind"]
        + "|"
        + df["content_hash"]
        + "|"
        + df["parent_url"].where(df["kind"] == "comment", "")
    )
    same_url = df.duplicated("doc_id", keep="first")
    same_text = df.duplicated("dup_key", keep="first") & ~same_url
    dropped = df[same_url | same_text]
    duplicates = [
        {
            "source_file": r.source_file,
            "line": int(r.line),
            "doc_id": r.doc_id,
            "reason": "тот же url" if same_url[i] else "точная копия текста",
        }
        for i, r in dropped.iterrows()
    ]
    kept = df[~(same_url | same_text)].copy()
    copies = df[~same_url].groupby("dup_key").size()
    kept["copies"] = kept["dup_key"].map(copies).astype("int64")
    kept["story_id"] = story_ids(
        kept["doc_id"].tolist(),
        kept["text"].where(kept["kind"] == "article", "").tolist(),  # titles get rewritten
        p.near_dup_threshold,
        p.num_perm,
        seed,
    )
    kept["is_near_duplicate"] = kept["story_id"] != kept["doc_id"]
    kept["week"] = [iso_week(ts) for ts in kept["published_utc"]]
    kept["views"] = kept["views"].astype("Int64")
    kept = kept.sort_values(["published_utc", "doc_id"], kind="stable").reset_index(drop=True)
    return kept[schema.DOCUMENTS.columns], duplicates, len(dropped)


def ingest(raw_dir: Any, sources: tuple[Source, ...], p: IngestParams, seed: int) -> IngestResult:
    """Read every raw file under `raw_dir` and build the documents table (pure of writes)."""
    files = list_raw_files(raw_dir)
    if not files:
        raise FileNotFoundError(f"в {raw_dir} нет файлов .jsonl, .csv или .html")
    rows: list[dict] = []
    quarantine: list[dict[str, Any]] = []
    n_in = 0
    for path in tqdm(files, desc="ingest", unit="file", disable=None):
        rel = str(path.relative_to(raw_dir))
        for item in read_file(path, rel):
            n_in += 1
            if isinstance(item, RawRecord):
                item = parse_record(item, sources, p)
            if isinstance(item, Rejected):
                quarantine.append(
                    {
                        "source_file": item.source_file,
                        "line": item.line,
                        "reason": item.reason,
                        "raw": item.raw,
                    }
                )
            else:
                rows.append(item)
    documents, duplicates, n_dup = build_documents(rows, p, seed)
    counts = {
        "records_in": n_in,
        "kept": len(documents),
        "exact_duplicates": n_dup,
        "quarantined": len(quarantine),
        "near_duplicates": int(documents["is_near_duplicate"].sum()) if len(documents) else 0,
        "truncated": int(sum(r["truncated"] for r in rows)),
        "files": len(files),
    }
    if counts["records_in"] != counts["kept"] + counts["exact_duplicates"] + counts["quarantined"]:
        raise RuntimeError(f"ingest lost records: {counts}")
    for dup in duplicates:
        log.debug("duplicate %s:%s (%s)", dup["source_file"], dup["line"], dup["reason"])
    return IngestResult(documents, quarantine, counts)


def run(params: Params, paths: Paths) -> None:
    raw_dir = paths.resolve(params.ingest.raw_dir)
    result = ingest(raw_dir, load_sources(paths.root), params.ingest, params.seed)
    io.write_table(result.documents, paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    io.write_jsonl(paths.quarantine, result.quarantine)
    io.write_json(paths.metrics / "ingest.json", result.counts)
    c = result.counts
    log.info(
        "ingest: %d records in = %d kept + %d exact duplicates + %d quarantined "
        "(%d near-duplicates marked); quarantine: %s",
        c["records_in"],
        c["kept"],
        c["exact_duplicates"],
        c["quarantined"],
        c["near_duplicates"],
        paths.quarantine,
    )
