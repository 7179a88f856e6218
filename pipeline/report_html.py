"""The report as one self-contained HTML file: inline CSS and SVG, no scripts, no network.

Every crawled string goes through `html.escape`; links are kept only when they are plain
http(s) URLs; a Content-Security-Policy forbids scripts and remote resources even if something
slipped through.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

import pandas as pd

from pipeline import charts
from pipeline.privacy import safe_url
from pipeline.report_data import Report, Section, column_kind, format_cell

HIDDEN = {"body_id", "metric_key", "example_2", "url_2", "example_3", "url_3"}  # XLSX only
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0 auto;
max-width:1180px;padding:16px 24px;color:#1d2733;background:#fff;line-height:1.4}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .3em;
border-bottom:2px solid #2e6da4;padding-bottom:.2em}
.sub,.note,footer{color:#5b6673;font-size:.9em}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.kpi{flex:1 1 200px;border:1px solid #d5dbe1;border-radius:6px;padding:10px 14px}
.kpi .v{font-size:1.8em;font-weight:600}.kpi .m{color:#5b6673;font-size:.85em}
.kpi .c{font-size:.9em}.kpi .h{color:#5b6673;font-size:.8em;margin-top:2px}
.up{color:#1e8449}.down{color:#b03a2e}
.coverage{background:#fdecea;border:1px solid #e6a19a;border-radius:6px;padding:6px 14px;
margin:10px 0;color:#7b241c}.coverage p{margin:.2em 0}
.attention{background:#fff8e6;border:1px solid #f0c36d;border-radius:6px;padding:4px 16px 10px}
.attention h2{border:none;margin-top:.6em}
.auto{display:inline-block;background:#f0c36d;color:#4a3500;font-size:.8em;border-radius:4px;
padding:1px 8px}
table{border-collapse:collapse;width:100%;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #d5dbe1;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#eef2f6}td.num{text-align:right;white-space:nowrap}
tr:nth-child(even) td{background:#f8fafc}figure{margin:.5em 0}figure svg{max-width:100%;height:auto}
nav ol{columns:2;font-size:.9em}.ctx{max-width:520px}
"""


def report_title(report: Report, texts: Mapping) -> str:
    if report.kind == "weekly":
        return texts["title_weekly"].format(week=report.weeks[0])
    return texts["title_period"].format(first=report.weeks[0], last=report.weeks[-1])


def report_subtitle(report: Report, texts: Mapping) -> str:
    prev = (
        report.prev_weeks[0]
        if len(report.prev_weeks) == 1
        else (f"{report.prev_weeks[0]} – {report.prev_weeks[-1]}")
    )
    return texts["subtitle"].format(
        start=report.start.strftime("%d.%m.%Y"), end=report.end.strftime("%d.%m.%Y"), prev=prev
    )


def _kpis(report: Report, texts: Mapping) -> str:
    """The headline cards; only the sentiment index is coloured (more or fewer publications is
    neither good nor bad news)."""
    previous = texts.get("previous_week", texts["previous"])
    previous = previous if report.kind == "weekly" else texts["previous"]
    cards = []
    for row in report.headline.to_dict("records"):
        change, fmt, chg = row["change"], row["_fmt"], row["_chg_fmt"]
        cls = ""
        if fmt == "net" and not pd.isna(change) and change != 0:
            cls = "up" if change > 0 else "down"
        hint = row.get("_hint") or ""
        cards.append(
            f'<div class="kpi"><div class="m">{escape(str(row["metric"]))}</div>'
            f'<div class="v">{escape(format_cell(row["value"], fmt))}</div>'
            + (f'<div class="h">{escape(hint)}</div>' if hint else "")
            + f'<div class="c {cls}">{escape(texts["change"])}: {escape(format_cell(change, chg))} '
            f'<span class="m">({escape(previous)}: '
            f"{escape(format_cell(row['previous'], fmt))})</span></div></div>"
        )
    return f'<section id="headline" class="kpis">{"".join(cards)}</section>'


def _coverage(report: Report) -> str:
    """Partial-data warnings right under the title, before any number is read."""
    if not report.coverage:
        return ""
    items = "".join(f"<p>{escape(s)}</p>" for s in report.coverage)
    return f'<section id="coverage" class="coverage" role="note">{items}</section>'


def _attention(report: Report, texts: Mapping) -> str:
    items = "".join(f"<li>{escape(s)}</li>" for s in report.attention)
    return (
        f'<section id="attention" class="attention"><h2>{escape(texts["attention_title"])}</h2>'
        f'<span class="auto">{escape(texts["attention_note"])}</span><ul>{items}</ul></section>'
    )


def _cell(value: object, col: str, texts: Mapping) -> str:
    kind = column_kind(col)
    if kind == "url":
        url = safe_url(value)
        if not url:
            return "<td></td>"
        return (
            f'<td><a href="{escape(url, quote=True)}" rel="noopener noreferrer nofollow" '
            f'target="_blank">{escape(texts["link"])}</a></td>'
        )
    text = escape(format_cell(value, kind))
    numeric = kind not in ("text", "date") or isinstance(value, (int, float))
    cls = (
        ' class="num"'
        if numeric and kind != "text"
        else (' class="ctx"' if col == "context" else "")
    )
    return f"<td{cls}>{text}</td>"


def table_html(df: pd.DataFrame, texts: Mapping, rows: int) -> str:
    """An escaped HTML table of the first `rows` rows, headers in the report language."""
    cols = [c for c in df.columns if c not in HIDDEN and not str(c).startswith("_")]
    if df.empty:
        return f'<p class="note">{escape(texts["empty"])}</p>'
    head = "".join(f"<th>{escape(str(texts['columns'].get(c, c)))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(_cell(v, c, texts) for c, v in zip(cols, rec, strict=True)) + "</tr>"
        for rec in df[cols].head(rows).itertuples(index=False, name=None)
    )
    more = ""
    if len(df) > rows:
        more = f'<p class="note">{escape(texts["more_rows"].format(shown=rows, total=len(df)))}</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _section(section: Section, texts: Mapping) -> str:
    meta = texts["sections"][section.key]
    parts = [f'<section id="{section.key}"><h2>{escape(meta["title"])}</h2>']
    if meta.get("note"):
        parts.append(f'<p class="note">{escape(meta["note"])}</p>')
    if section.chart is not None and not section.table.empty:
        parts.append(f"<figure>{charts.svg(section.table, section.chart, texts)}</figure>")
    parts.append(table_html(section.table, texts, section.show_rows))
    parts.append("</section>")
    return "".join(parts)


def render_html(report: Report, texts: Mapping, lang: str, generated_at: str) -> str:
    """The whole report as one HTML document (string)."""
    title = report_title(report, texts)
    toc = "".join(
        f'<li><a href="#{s.key}">{escape(texts["sections"][s.key]["title"])}</a></li>'
        for s in report.sections
    )
    notes = ""
    if report.notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
        notes = (
            f'<section id="notes"><h2>{escape(texts["notes_title"])}</h2><ul>{items}</ul></section>'
        )
    body = "".join(_section(s, texts) for s in report.sections)
    subtitle = report_subtitle(report, texts)
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(lang)}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p>'
        f"</header>{_coverage(report)}{_kpis(report, texts)}{_attention(report, texts)}{notes}"
        f"<nav><h2>{escape(texts['toc_title'])}</h2><ol>{toc}</ol></nav>{body}"
        f"<footer><p>{escape(texts['privacy_note'])}</p>"
        f"<p>{escape(texts['generated_at'].format(now=generated_at))}</p></footer></body></html>\n"
    )
