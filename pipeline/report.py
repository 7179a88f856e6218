"""The report stage: read the stage tables, build the weekly or period report, write
`reports/weekly/weekly_<week>.html|.xlsx|.docx` and `weekly_<week>_topics.csv` (or
`reports/period/period_<from>_<to>.*`), and `latest.html` in each folder (a copy of its newest
HTML report). The two folders are the outputs of the `report` and `report_period` DVC stages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import yaml

from pipeline import io, schema
from pipeline.config import ROOT, ConfigError, Params, load_sources
from pipeline.paths import Paths
from pipeline.report_csv import write_topics_csv
from pipeline.report_data import (
    ALL_WEEKS,
    Inputs,
    Report,
    ReportError,
    build_report,
    prepare,
    resolve_weeks,
    russian_common_word,
    tidy_topic_labels,
)
from pipeline.report_docx import write_docx
from pipeline.report_html import render_html, report_subtitle, report_title
from pipeline.report_xlsx import write_xlsx

log = logging.getLogger(__name__)
TEXTS_FILE = "report_texts.yaml"
BODIES_FILE = "city_bodies.yaml"
REPORT_DIRS = {"weekly": "weekly", "period": "period"}  # kind -> folder under reports/
_OPTIONAL = {
    "languages": schema.LANGUAGES,
    "doc_entities": schema.DOC_ENTITIES,
    "mentions": schema.MENTIONS,
    "doc_topics": schema.DOC_TOPICS,
    "topics": schema.TOPICS,
    "topic_weeks": schema.TOPIC_WEEKS,
    "mention_sentiment": schema.MENTION_SENTIMENT,
}


def _config_file(root: Path, name: str) -> Path | None:
    """configs/<name> under the project root, else the one shipped with the package."""
    for base in (root, ROOT):
        path = base / "configs" / name
        if path.exists():
            return path
    return None


def _yaml(path: Path | None) -> Any:
    if path is None:
        return None
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_texts(lang: str, root: Path = ROOT) -> dict[str, Any]:
    """The report's fixed texts in `lang` (ru | kk) from configs/report_texts.yaml."""
    raw = _yaml(_config_file(root, TEXTS_FILE))
    if not isinstance(raw, dict):
        raise ConfigError(f"configs/{TEXTS_FILE} отсутствует или пуст: восстановите его из git")
    if lang not in raw:
        raise ConfigError(f"нет текстов отчёта для языка {lang!r}; есть: {sorted(raw)}")
    return raw[lang]


def _first(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return str(value).strip() if isinstance(value, (str, int)) and str(value).strip() else None


def _name_of(item: Mapping[str, Any], lang: str) -> str | None:
    for key in (lang, f"name_{lang}"):
        if _first(item.get(key)):
            return _first(item.get(key))
    for key in ("names", "name"):
        sub = item.get(key)
        if isinstance(sub, Mapping) and _first(sub.get(lang)):
            return _first(sub.get(lang))
    return None


def body_names(raw: Any, lang: str) -> dict[str, str]:
    """id -> display name from city_bodies.yaml, read defensively (the id when no name)."""
    items = raw.get("bodies", raw) if isinstance(raw, Mapping) else raw
    if isinstance(items, Mapping):
        items = [{"id": k, **(v if isinstance(v, Mapping) else {})} for k, v in items.items()]
    out: dict[str, str] = {}
    for item in items or []:
        if not isinstance(item, Mapping) or not item.get("id"):
            continue
        bid = str(item["id"])
        name = _name_of(item, lang) or _name_of(item, "ru") or _first(item.get("name"))
        out[bid] = name[:1].upper() + name[1:] if name else bid
    return out


def not_city_bodies(raw: Any) -> frozenset[str]:
    """Ids that city_bodies.yaml marks `city_body: false` (e.g. the Almaty region's akimat)."""
    items = raw.get("bodies", raw) if isinstance(raw, Mapping) else raw
    if isinstance(items, Mapping):
        items = [{"id": k, **(v if isinstance(v, Mapping) else {})} for k, v in items.items()]
    return frozenset(
        str(item["id"])
        for item in items or []
        if isinstance(item, Mapping) and item.get("id") and item.get("city_body") is False
    )


def _site_names(root: Path) -> dict[str, str]:
    for base in (root, ROOT):
        try:
            return {s.id: s.name for s in load_sources(base)}
        except ConfigError:
            continue
    return {}


def read_inputs(paths: Paths, lang: str) -> Inputs:
    """Read the stage tables (documents required, the rest empty with a warning when absent)."""
    documents = io.read_table(paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    tables: dict[str, pd.DataFrame] = {}
    for name, table in _OPTIONAL.items():
        path = paths.table(table)
        if path.exists():
            tables[name] = io.read_table(path, table)
        else:
            log.warning("%s is missing: the report's %s sections stay empty", path, name)
            tables[name] = io.empty_frame(table)
    bodies_file = _config_file(paths.root, BODIES_FILE)
    if bodies_file is None:
        log.warning("configs/%s is missing: city bodies are shown by their ids", BODIES_FILE)
    bodies = _yaml(bodies_file)
    return Inputs(
        documents=documents,
        **tables,
        body_names=body_names(bodies, lang),
        site_names=_site_names(paths.root),
        not_city_bodies=not_city_bodies(bodies),
    )


def report_dir(paths: Paths, kind: str) -> Path:
    """Folder of a report kind: reports/weekly or reports/period (one DVC output each)."""
    return paths.reports / REPORT_DIRS[kind]


def common_word_check() -> Callable[[str], bool] | None:
    """pymorphy3's "is this an ordinary Russian word" for topic labels; None when not installed."""
    try:
        import pymorphy3
    except ImportError:
        log.warning("pymorphy3 is not installed: topic labels keep their capital letters")
        return None
    return russian_common_word(pymorphy3.MorphAnalyzer())


def write_report(
    report: Report, texts: Mapping, lang: str, out_dir: Path, xlsx_rows: int
) -> list[Path]:
    """Write the HTML, XLSX, DOCX and topics CSV files atomically; returns their paths."""
    now = datetime.now(ZoneInfo("Asia/Almaty")).strftime("%d.%m.%Y %H:%M")
    title, subtitle = report_title(report, texts), report_subtitle(report, texts)
    html_path = out_dir / f"{report.name}.html"
    xlsx_path = out_dir / f"{report.name}.xlsx"
    docx_path = out_dir / f"{report.name}.docx"
    io.write_text(html_path, render_html(report, texts, lang, now))
    with io.atomic_path(xlsx_path, suffix=".xlsx") as tmp:
        write_xlsx(report, texts, title, tmp, xlsx_rows)
    with io.atomic_path(docx_path, suffix=".docx") as tmp:
        write_docx(report, texts, title, subtitle, tmp)
    csv_path = write_topics_csv(report, out_dir)
    return [html_path, xlsx_path, docx_path, *([csv_path] if csv_path else [])]


def update_latest(out_dir: Path, kind: str = "weekly") -> Path | None:
    """Copy the newest `<kind>_*.html` report in `out_dir` to `out_dir/latest.html`."""
    found = sorted(out_dir.glob(f"{kind}_*.html"), key=lambda p: p.stem)
    if not found:
        return None
    latest = out_dir / "latest.html"
    io.write_bytes(latest, found[-1].read_bytes())
    return latest


def _period_args(
    period: str | None, week: str | None, week_from: str | None, week_to: str | None
) -> tuple[str | None, str | None]:
    """--period all means --from all --to all (every week of the data)."""
    if period is None:
        return week_from, week_to
    if period.strip().lower() != ALL_WEEKS:
        raise ReportError(
            f"--period принимает только {ALL_WEEKS!r}; для другого периода укажите --from и --to"
        )
    if week or week_from or week_to:
        raise ReportError("укажите либо --period all, либо --week или --from/--to")
    return ALL_WEEKS, ALL_WEEKS


def run(
    params: Params,
    paths: Paths,
    week: str | None = None,
    week_from: str | None = None,
    week_to: str | None = None,
    lang: str | None = None,
    period: str | None = None,
) -> None:
    """Build and write the weekly report for `week` or the period report `week_from`..`week_to`.

    `week_from`/`week_to` may be "all" (the first/last week with data); `period="all"` is both.
    """
    started = time.perf_counter()
    week_from, week_to = _period_args(period, week, week_from, week_to)
    lang = lang or params.report.lang
    texts = load_texts(lang, paths.root)
    inputs = read_inputs(paths, lang)
    inputs = replace(inputs, topics=tidy_topic_labels(inputs.topics, common_word_check()))
    frames = prepare(inputs)
    kind, weeks = resolve_weeks(frames.docs, week, week_from, week_to)
    log.info(
        "building the %s report for %s (%d documents in the data)",
        kind,
        " – ".join(dict.fromkeys([weeks[0], weeks[-1]])),
        len(frames.docs),
    )
    report = build_report(inputs, kind, weeks, params.report, texts, frames)
    out_dir = report_dir(paths, kind)
    written = write_report(report, texts, lang, out_dir, params.report.xlsx_max_rows)
    update_latest(out_dir, kind)
    log.info(
        "wrote %s in %.1f s", ", ".join(p.name for p in written), time.perf_counter() - started
    )


__all__ = [
    "ReportError",
    "body_names",
    "load_texts",
    "read_inputs",
    "report_dir",
    "run",
    "update_latest",
    "write_report",
]
