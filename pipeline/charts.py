"""Report charts with matplotlib's object API (no pyplot state): inline SVG for HTML, PNG for DOCX.

SVG text stays text (`svg.fonttype: none`), so the HTML needs no fonts from anywhere; the XML
prolog, DOCTYPE and metadata block (which name w3.org/purl.org URLs) are stripped.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.report_data import Chart

COLORS = {"neg": "#c0392b", "neu": "#b0b7bf", "pos": "#27ae60"}
PALETTE = ["#2e6da4", "#e67e22", "#16a085", "#8e44ad", "#c0392b", "#7f8c8d", "#d4ac0d", "#2c3e50"]
_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "kaznet-report",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_MAX_BARS = 15
_LABEL_CHARS = 42


def _label(value: object) -> str:
    """Short, mathtext-safe axis label from crawled text."""
    text = " ".join(str(value).split())
    if len(text) > _LABEL_CHARS:
        text = text[: _LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def _headers(cols: list[str], texts: Mapping) -> list[str]:
    return [_label(texts.get("columns", {}).get(c, c)) for c in cols]


def _y_columns(df: pd.DataFrame, chart: Chart) -> list[str]:
    if chart.y:
        return list(chart.y)
    return [c for c in df.columns if c != chart.x and pd.api.types.is_numeric_dtype(df[c])]


def _draw(fig: Figure, df: pd.DataFrame, chart: Chart, texts: Mapping) -> None:
    ax = fig.add_subplot(1, 1, 1)
    ys = _y_columns(df, chart)
    if chart.kind in ("barh", "stackh"):
        data = df.head(_MAX_BARS).iloc[::-1]
        labels = [_label(v) for v in data[chart.x]]
        pos = list(range(len(labels)))  # positions, not categories: equal labels stay apart
        left = pd.Series(0.0, index=data.index)
        for i, col in enumerate(ys):
            values = data[col].astype(float).fillna(0)
            ax.barh(
                pos,
                values,
                left=left if chart.kind == "stackh" else None,
                color=COLORS.get(col, PALETTE[i % len(PALETTE)]),
                label=_headers([col], texts)[0],
            )
            left = left + values
        ax.set_yticks(pos, labels)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.5 publications
        if len(ys) > 1:
            fig.legend(loc="outside right upper", frameon=False)
        return
    x = df[chart.x]
    if pd.api.types.is_datetime64_any_dtype(x):
        labels = [pd.Timestamp(v).strftime("%d.%m") for v in x]
    else:
        labels = [_label(v) for v in x]
    positions = range(len(labels))
    for i, col in enumerate(ys):
        values = df[col].astype(float).fillna(0).to_numpy()
        color = PALETTE[i % len(PALETTE)]
        name = _headers([col], texts)[0]
        if chart.kind == "bar":
            ax.bar(positions, values, color=color, label=name)
        else:
            ax.plot(positions, values, marker="o", color=color, label=name)
    step = max(1, len(labels) // 14)
    ax.set_xticks(list(positions)[::step], labels[::step], rotation=30 if len(labels) > 7 else 0)
    if len(ys) > 1:
        fig.legend(loc="outside right upper", frameon=False, fontsize=8)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # every chart counts something


def _figure(df: pd.DataFrame, chart: Chart, texts: Mapping) -> Figure:
    rows = min(len(df), _MAX_BARS)
    height = 0.6 + 0.3 * rows if chart.kind in ("barh", "stackh") else 3.2
    fig = Figure(figsize=(8, max(2.4, height)), layout="constrained")
    _draw(fig, df, chart, texts)
    return fig


def _clean_svg(svg: str) -> str:
    svg = svg[svg.find("<svg") :]
    return re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)


def svg(df: pd.DataFrame, chart: Chart, texts: Mapping) -> str:
    """The chart as an inline `<svg>` element (no prolog, no external references)."""
    if df.empty:
        return ""
    with matplotlib.rc_context(_RC):
        buf = io.StringIO()
        _figure(df, chart, texts).savefig(buf, format="svg", metadata={"Date": None})
    return _clean_svg(buf.getvalue())


def png(df: pd.DataFrame, chart: Chart, texts: Mapping, dpi: int = 110) -> bytes:
    """The chart as PNG bytes (for DOCX)."""
    if df.empty:
        return b""
    with matplotlib.rc_context(_RC):
        buf = io.BytesIO()
        _figure(df, chart, texts).savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
