"""The report as a DOCX document (python-docx): the same sections, tables and PNG charts."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from docx import Document
from docx.document import Document as DocumentType
from docx.shared import Cm, Pt

from pipeline import charts
from pipeline.report_data import Report, Section, column_kind, format_cell
from pipeline.report_html import HIDDEN

# characters XML 1.0 cannot hold (python-docx raises on them)
_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: object) -> str:
    return _XML_BAD.sub("", str(text))


def _table(doc: DocumentType, df: pd.DataFrame, texts: Mapping, rows: int) -> None:
    cols = [c for c in df.columns if c not in HIDDEN and not str(c).startswith("_")]
    if df.empty:
        doc.add_paragraph(_clean(texts["empty"]))
        return
    shown = df[cols].head(rows)
    table = doc.add_table(rows=len(shown) + 1, cols=len(cols))
    table.style = "Table Grid"
    cells = table._cells  # flat row-major list: much faster than row.cells per row
    for j, c in enumerate(cols):
        cells[j].paragraphs[0].add_run(_clean(texts["columns"].get(c, c))).bold = True
    kinds = [column_kind(str(c)) for c in cols]
    for i, rec in enumerate(shown.itertuples(index=False, name=None), start=1):
        for j, (value, kind) in enumerate(zip(rec, kinds, strict=True)):
            text = "" if kind == "url" and pd.isna(value) else format_cell(value, kind)
            cells[i * len(cols) + j].text = _clean(text)
    for cell in cells:
        for p in cell.paragraphs:
            for run in p.runs:
                run.font.size = Pt(8)
    if len(df) > rows:
        doc.add_paragraph(_clean(texts["more_rows"].format(shown=rows, total=len(df))))


def _section(doc: DocumentType, section: Section, texts: Mapping) -> None:
    meta = texts["sections"][section.key]
    doc.add_heading(_clean(meta["title"]), level=2)
    if meta.get("note"):
        doc.add_paragraph().add_run(_clean(meta["note"])).italic = True
    if section.chart is not None and not section.table.empty:
        image = charts.png(section.table, section.chart, texts)
        if image:
            doc.add_picture(io.BytesIO(image), width=Cm(16))
    _table(doc, section.table, texts, section.show_rows)


def _headline(doc: DocumentType, report: Report, texts: Mapping) -> None:
    doc.add_heading(_clean(texts["headline_title"]), level=2)
    cols = ["metric", "value", "previous", "change"]
    table = doc.add_table(rows=len(report.headline) + 1, cols=4)
    table.style = "Table Grid"
    for j, c in enumerate(cols):
        table.cell(0, j).text = _clean(texts["columns"][c])
    for i, row in enumerate(report.headline.to_dict("records"), start=1):
        values = [
            str(row["metric"]),
            format_cell(row["value"], row["_fmt"]),
            format_cell(row["previous"], row["_fmt"]),
            format_cell(row["change"], row["_chg_fmt"]),
        ]
        for j, v in enumerate(values):
            table.cell(i, j).text = _clean(v)


def write_docx(report: Report, texts: Mapping, title: str, subtitle: str, path: Path) -> None:
    """Save the DOCX report to `path` (the caller makes it atomic)."""
    doc = Document()
    doc.add_heading(_clean(title), level=1)
    doc.add_paragraph(_clean(subtitle))
    for warning in report.coverage:
        doc.add_paragraph().add_run(_clean(warning)).bold = True
    _headline(doc, report, texts)
    doc.add_heading(_clean(texts["attention_title"]), level=2)
    doc.add_paragraph().add_run(_clean(texts["attention_note"])).italic = True
    for item in report.attention:
        doc.add_paragraph(_clean(item), style="List Bullet")
    if report.notes:
        doc.add_heading(_clean(texts["notes_title"]), level=2)
        for note in report.notes:
            doc.add_paragraph(_clean(note), style="List Bullet")
    for section in report.sections:
        _section(doc, section, texts)
    doc.add_paragraph(_clean(texts["privacy_note"]))
    doc.save(str(path))
