"""Readers for the raw formats a crawler leaves: JSONL, CSV (UTF-8 or cp1251) and saved HTML pages.

Each reader yields `RawRecord`s (a flat dict of the record's fields plus where it came from) or
`Rejected` items for lines that cannot be read at all; field-level checks happen in `ingest`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trafilatura
from lxml import html as lxml_html

JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
HTML_SUFFIXES = (".html", ".htm")
SUPPORTED = JSONL_SUFFIXES + CSV_SUFFIXES + HTML_SUFFIXES


@dataclass
class RawRecord:
    fields: dict[str, Any]
    source_file: str
    line: int  # 1-based line (JSONL), row (CSV, header = 1) or 0 (HTML page)


@dataclass
class Rejected:
    source_file: str
    line: int
    reason: str
    raw: str = field(default="")


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else cp1251: the two encodings Kazakhstani crawls leave.

    A UTF-8 file with a few broken bytes (a truncated crawl) stays UTF-8 with U+FFFD in place of
    them: reading it as cp1251 would garble every Kazakh letter in the file.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8-sig", errors="replace")
    if text.count("\ufffd") <= max(3, len(text) // 1000):
        return text
    return data.decode("cp1251", errors="replace")


def list_raw_files(raw_dir: Path) -> list[Path]:
    """Every readable raw file under `raw_dir`, sorted for deterministic order."""
    if not raw_dir.is_dir():
        raise FileNotFoundError(
            f"папка с исходными данными не найдена: {raw_dir} "
            "(параметр ingest.raw_dir в params.yaml)"
        )
    return sorted(p for p in raw_dir.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)


def read_file(path: Path, rel: str) -> Iterator[RawRecord | Rejected]:
    """Dispatch on the file's suffix."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from read_jsonl(path.read_bytes(), rel)
    elif suffix in CSV_SUFFIXES:
        yield from read_csv(path.read_bytes(), rel)
    else:
        yield read_html(path.read_bytes(), rel)


def read_jsonl(data: bytes, rel: str) -> Iterator[RawRecord | Rejected]:
    # split on "\n" only: JSON strings may hold U+2028 and other characters splitlines() breaks on
    for lineno, line in enumerate(decode(data).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejected(
                rel, lineno, f"строка не читается как JSON (обрезана?): {exc.msg}", line[:500]
            )
            continue
        if not isinstance(obj, dict):
            yield Rejected(rel, lineno, "строка JSON не является объектом", line[:500])
            continue
        yield RawRecord(obj, rel, lineno)


def read_csv(data: bytes, rel: str) -> Iterator[RawRecord | Rejected]:
    text = decode(data)
    csv.field_size_limit(sys.maxsize)  # long article bodies exceed the default 131,072 chars
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        yield Rejected(rel, 1, "CSV без строки заголовков")
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # one broken row; the reader goes on with the next one
            yield Rejected(rel, reader.line_num, f"строка CSV повреждена: {exc}")
            continue
        if None in row:  # more cells than header columns
            yield Rejected(rel, reader.line_num, "в строке CSV больше ячеек, чем в заголовке",
                           json.dumps(row, ensure_ascii=False, default=str)[:500])
            continue
        yield RawRecord({k.strip(): v for k, v in row.items() if k}, rel, reader.line_num)


def _meta(tree: Any, xpath: str) -> str | None:
    found = tree.xpath(xpath)
    return str(found[0]).strip() if found else None


def read_html(data: bytes, rel: str) -> RawRecord | Rejected:
    """One saved page: URL, title and date from its head, body text through trafilatura."""
    text = decode(data)
    try:
        tree = lxml_html.fromstring(text)
    except (ValueError, lxml_html.etree.ParserError) as exc:
        return Rejected(rel, 0, f"HTML не разбирается: {exc}")
    url = _meta(tree, '//link[@rel="canonical"]/@href') or _meta(
        tree, '//meta[@property="og:url"]/@content'
    )
    title = _meta(tree, '//meta[@property="og:title"]/@content') or _meta(tree, "//title/text()")
    published = _meta(tree, '//meta[@property="article:published_time"]/@content') or _meta(
        tree, "//time/@datetime"
    )
    body = trafilatura.extract(text, include_comments=False, include_tables=False, fast=True)
    fields = {"url": url, "title": title, "text": body or "", "published": published}
    site = _meta(tree, '//meta[@property="og:site_name"]/@content')
    if site:
        fields["site_name"] = site
    return RawRecord(fields, rel, 0)
