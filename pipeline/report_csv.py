"""The report's topics as CSV (`<report name>_topics.csv` beside the HTML/XLSX/DOCX files).

One row per topic of the all-documents view (vanished topics included), with the Almaty-only
counts beside: id, label, keywords, size, share, trend vs the previous period (absolute, per cent
and a status code), language mix, sentiment toward city bodies (neg/neu/pos mention counts),
sites, and three example headlines with their links. Column names and status codes are stable
identifiers (for scripts); labels and titles are shown as published.

UTF-8 with a BOM so that Excel opens Cyrillic correctly; comma-separated (RFC 4180). Crawled text
is untrusted: a text cell starting with = + - @ (or a tab / carriage return) gets a leading
apostrophe so that a spreadsheet never runs it as a formula (CSV injection). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.report_data import EXAMPLE_COLUMNS, Report

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = [
    "topic_id",
    "label",
    "keywords",
    "size",
    "share",
    "size_almaty",
    "share_almaty",
    "prev_size",
    "change",
    "change_pct",
    "status",
    "share_ru",
    "share_kk",
    "share_mixed",
    "neg",
    "neu",
    "pos",
    "n_sites",
    "sites",
    *EXAMPLE_COLUMNS,
]
_RENAME = {"n_docs": "size", "prev_docs": "prev_size", "change_docs": "change"}


def escape_formula(value: object) -> object:
    """`value` safe for a spreadsheet cell: text starting with = + - @ is prefixed with "'"."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def topics_export(topics: pd.DataFrame, topics_almaty: pd.DataFrame) -> pd.DataFrame:
    """The CSV rows: the all-documents topics table with the Almaty view's size and share."""
    out = topics.rename(columns=_RENAME).copy()
    out["status"] = out["_status"] if "_status" in out.columns else out["status"]
    almaty = topics_almaty.set_index("topic_id")
    out["size_almaty"] = out["topic_id"].map(almaty["n_docs"]).fillna(0).astype("int64")
    out["share_almaty"] = out["topic_id"].map(almaty["share"]).fillna(0.0).astype(float)
    return out[CSV_COLUMNS].reset_index(drop=True)


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float):
        return repr(round(value, 6))
    return escape_formula(value)


def to_csv_text(df: pd.DataFrame) -> str:
    """`df` as CSV text (no BOM), formula-escaped, NaN as empty cells."""
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([escape_formula(str(c)) for c in df.columns])
    for rec in df.itertuples(index=False, name=None):
        writer.writerow([_cell(v) for v in rec])
    return buf.getvalue()


def write_topics_csv(report: Report, out_dir: Path) -> Path | None:
    """Write `<report name>_topics.csv` atomically; None when the report has no topics sections."""
    tables = {s.key: s.table for s in report.sections}
    if "topics" not in tables or "topics_almaty" not in tables:
        return None
    path = out_dir / f"{report.name}_topics.csv"
    text = to_csv_text(topics_export(tables["topics"], tables["topics_almaty"]))
    io.write_bytes(path, (BOM + text).encode("utf-8"))
    return path
