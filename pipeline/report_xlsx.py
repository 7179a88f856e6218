"""The report as an XLSX workbook: a summary sheet, then one sheet per table.

Numbers stay numbers (with a display format), dates are dates, the header row is frozen and
filtered, widths follow the content. Crawled strings that begin with "=" are stored as text,
never as formulas, and characters XML cannot hold are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.privacy import safe_url
from pipeline.report_data import Report, column_kind

NUMBER_FORMATS = {
    "int": "#,##0",
    "pct": "0.0%",
    "signed_pct": "+0%;-0%;0%",
    "pct_change": "+0%;-0%;0%",
    "pp": '+0.0" п.п.";-0.0" п.п.";0.0',
    "net": "+0.00;-0.00;0.00",
    "delta": "+0.00;-0.00;0.00",
    "prob": "0.00",
    "date": "DD.MM.YYYY",
}
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")


def excel_value(value: Any) -> Any:
    """A cell value openpyxl writes with a real type: int, float, date, str or None."""
    if value is None or (not isinstance(value, (list, tuple, np.ndarray)) and pd.isna(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, pd.Timestamp):
        value = value.tz_localize(None) if value.tzinfo else value
        return value.date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        value = ", ".join(map(str, value))
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _put(ws: Worksheet, row: int, col: int, value: Any, kind: str) -> None:
    cell = ws.cell(row=row, column=col, value=excel_value(value))
    if isinstance(cell.value, str) and cell.value.startswith("="):
        cell.data_type = "s"  # crawled text, never a formula
    if kind == "url" and isinstance(cell.value, str) and safe_url(cell.value):
        cell.hyperlink = cell.value
    elif kind in NUMBER_FORMATS and cell.value is not None and not isinstance(cell.value, str):
        cell.number_format = NUMBER_FORMATS[kind]


def _sheet_name(name: str, used: set[str]) -> str:
    base = _BAD_SHEET_CHARS.sub("-", name).strip("'")[:31] or "Sheet"
    out, i = base, 2
    while out.lower() in used:
        out = f"{base[:28]} {i}"
        i += 1
    used.add(out.lower())
    return out


def _header(ws: Worksheet, headers: list[str]) -> None:
    for j, h in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=j, value=excel_value(h))
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"


def _widths(ws: Worksheet, headers: list[str], df: pd.DataFrame) -> None:
    for j, (h, col) in enumerate(zip(headers, df.columns, strict=True), start=1):
        longest = max((len(str(v)) for v in df[col].head(200)), default=0)
        width = max(len(str(h)), longest, 8)
        ws.column_dimensions[get_column_letter(j)].width = min(width + 2, 60)


def write_table_sheet(ws: Worksheet, df: pd.DataFrame, texts: Mapping, max_rows: int) -> None:
    """One table on a sheet: header, typed cells with formats, frozen header, widths."""
    df = df[[c for c in df.columns if not str(c).startswith("_")]].head(max_rows)
    headers = [str(texts["columns"].get(c, c)) for c in df.columns]
    _header(ws, headers)
    kinds = [column_kind(str(c)) for c in df.columns]
    for i, rec in enumerate(df.itertuples(index=False, name=None), start=2):
        for j, (value, kind) in enumerate(zip(rec, kinds, strict=True), start=1):
            _put(ws, i, j, value, kind)
    if len(df):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(df) + 1}"
    _widths(ws, headers, df)


def _summary(ws: Worksheet, report: Report, texts: Mapping, title: str) -> None:
    cols = ["metric", "value", "previous", "change"]
    _header(ws, [texts["columns"][c] for c in cols])
    for i, row in enumerate(report.headline.to_dict("records"), start=2):
        _put(ws, i, 1, row["metric"], "text")
        _put(ws, i, 2, row["value"], row["_fmt"])
        _put(ws, i, 3, row["previous"], row["_fmt"])
        _put(ws, i, 4, row["change"], row["_chg_fmt"])
    r = len(report.headline) + 3
    ws.cell(row=r, column=1, value=excel_value(title)).font = Font(bold=True)
    ws.cell(row=r + 1, column=1, value=excel_value(texts["attention_title"])).font = Font(bold=True)
    ws.cell(row=r + 2, column=1, value=excel_value(texts["attention_note"])).font = Font(
        italic=True
    )
    for k, item in enumerate([*report.coverage, *report.attention, *report.notes]):
        _put(ws, r + 3 + k, 1, item, "text")
    ws.column_dimensions["A"].width = 48
    for letter in "BCD":
        ws.column_dimensions[letter].width = 16


def write_xlsx(report: Report, texts: Mapping, title: str, path: Path, max_rows: int) -> None:
    """Save the workbook to `path` (the caller makes it atomic)."""
    wb = Workbook()
    used: set[str] = set()
    ws = wb.active
    ws.title = _sheet_name(texts["summary_sheet"], used)
    _summary(ws, report, texts, title)
    for section in report.sections:
        meta = texts["sections"][section.key]
        sheet = wb.create_sheet(_sheet_name(meta.get("sheet") or meta["title"], used))
        write_table_sheet(sheet, section.table, texts, max_rows)
    wb.save(path)
