"""End-to-end tests of the report stage: tiny synthetic tables through `report.run` on tmp paths."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from docx import Document
from openpyxl import load_workbook

from pipeline import cli, io, report, schema
from pipeline.config import Params, ReportParams
from pipeline.paths import Paths
from pipeline.report_data import ReportError

SCRIPT_TITLE = '<script>alert("x")</script> Акимат & «ремонт»'
SITES = ["nur.kz", "tengrinews.kz", "zakon.kz", "total.kz"]
BODIES = ["akimat", "police", "dchs"]


def synthetic_tables(n_docs: int, weeks: list[str], seed: int = 7) -> dict[str, pd.DataFrame]:
    """Deterministic stage tables: documents over `weeks`, mentions, sentiment, topics."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"d{i:06d}" for i in range(n_docs)])
    mondays = [date.fromisocalendar(int(w[:4]), int(w[6:]), 1) for w in weeks]
    day = [
        mondays[i % len(weeks)] + timedelta(days=int(d))
        for i, d in enumerate(rng.integers(0, 7, n_docs))
    ]
    # 10:00 Almaty local = 05:00 UTC, so the UTC date equals the local date
    ts = pd.to_datetime([f"{d.isoformat()}T05:00:00" for d in day], utc=True)
    kind = np.where(rng.random(n_docs) < 0.8, "article", "comment")
    story = np.array([ids[i - i % 3] for i in range(n_docs)])
    story = np.where(kind == "comment", ids, story)
    titles = np.array([f"Новость {i}: акимат и дороги" for i in range(n_docs)], dtype=object)
    titles[1] = SCRIPT_TITLE  # week 2 of 3, the widest story of its week
    kind[1] = "article"
    docs = pd.DataFrame(
        {
            "doc_id": ids,
            "url": [f"https://{SITES[i % 4]}/news/{i}" for i in range(n_docs)],
            "site": [SITES[i % 4] for i in range(n_docs)],
            "kind": kind,
            "title": titles,
            "text": ["Текст."] * n_docs,
            "published_utc": ts,
            "week": [f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in day],
            "views": rng.integers(0, 5000, n_docs),
            "content_hash": ids,
            "story_id": story,
            "is_near_duplicate": story != ids,
            "copies": rng.integers(1, 3, n_docs),
            "source_file": "synthetic.jsonl",
        }
    )
    docs.loc[1, ["copies", "views"]] = [50, 1_000_000]
    langs = pd.DataFrame(
        {
            "doc_id": ids,
            "lang": rng.choice(["ru", "kk", "mixed"], n_docs, p=[0.7, 0.25, 0.05]),
            "confidence": 0.9,
            "share_ru": 0.5,
            "share_kk": 0.5,
        }
    )
    n_bodies = rng.integers(0, 3, n_docs)
    bodies = [list(rng.choice(BODIES, k, replace=False)) for k in n_bodies]
    persons = [
        ["Ерболат Досаев"] if b and k == "article" else []
        for b, k in zip(bodies, kind, strict=True)
    ]
    ents = pd.DataFrame(
        {
            "doc_id": ids,
            "almaty_related": rng.random(n_docs) < 0.6,
            "bodies": bodies,
            "persons": persons,
            "n_mentions": n_bodies.astype("int32"),
        }
    )
    m_doc = np.repeat(ids, n_bodies)
    m_body = [b for bs in bodies for b in bs]
    n_m = len(m_doc)
    mentions = pd.DataFrame(
        {
            "doc_id": m_doc,
            "sent_id": np.zeros(n_m, "int32"),
            "start": np.zeros(n_m, "int32"),
            "end": np.full(n_m, 6, "int32"),
            "text": "акимат",
            "label": "BODY",
            "body_id": m_body,
            "lang": "ru",
            "source": "gazetteer",
        }
    )
    labels = rng.choice(["negative", "neutral", "positive"], n_m, p=[0.4, 0.4, 0.2])
    sentiment = pd.DataFrame(
        {
            "doc_id": m_doc,
            "body_id": m_body,
            "start": np.zeros(n_m, "int32"),
            "end": np.full(n_m, 6, "int32"),
            "lang": "ru",
            "context": [
                f"Акимат опять не ответил, звоните +7 701 123 45 {i % 90 + 10}" for i in range(n_m)
            ],
            "label": labels,
            "p_negative": rng.random(n_m),
            "p_neutral": 0.2,
            "p_positive": 0.1,
        }
    )
    topic = rng.integers(-1, 6, n_docs).astype("int32")
    doc_topics = pd.DataFrame({"doc_id": ids, "topic_id": topic, "topic_prob": 0.8})
    topics = pd.DataFrame(
        {
            "topic_id": np.arange(-1, 6, dtype="int32"),
            "label": ["шум", "<script>alert(2)</script> $x$ дороги"]
            + [f"тема {t}: дороги и транспорт" for t in range(1, 6)],
            "top_words": [["слово", f"т{t}"] for t in range(-1, 6)],
            "keywords": [["слово", f"т{t}"] for t in range(-1, 6)],
            "size": [int((topic == t).sum()) for t in range(-1, 6)],
            "share": 0.1,
            "size_almaty": 0,
            "share_almaty": 0.0,
            "share_kk": 0.2,
            "example_titles": [["пример"] for _ in range(-1, 6)],
        }
    )
    tw = docs[["doc_id", "week"]].assign(topic_id=topic).groupby(["week", "topic_id"]).size()
    topic_weeks = tw.rename("n_docs").reset_index().assign(n_docs_almaty=0, status="stable")
    return {
        "documents": docs,
        "languages": langs,
        "doc_entities": ents,
        "mentions": mentions,
        "mention_sentiment": sentiment,
        "doc_topics": doc_topics,
        "topics": topics,
        "topic_weeks": topic_weeks,
    }


TABLES = {
    "documents": schema.DOCUMENTS,
    "languages": schema.LANGUAGES,
    "doc_entities": schema.DOC_ENTITIES,
    "mentions": schema.MENTIONS,
    "mention_sentiment": schema.MENTION_SENTIMENT,
    "doc_topics": schema.DOC_TOPICS,
    "topics": schema.TOPICS,
    "topic_weeks": schema.TOPIC_WEEKS,
}


def write_tables(paths: Paths, tables: dict[str, pd.DataFrame]) -> None:
    for name, df in tables.items():
        io.write_table(df, paths.table(TABLES[name]), TABLES[name])


WEEKS = ["2026-W12", "2026-W13", "2026-W14"]


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return synthetic_tables(240, WEEKS)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, data: dict[str, pd.DataFrame]) -> Paths:
    paths = Paths(tmp_path_factory.mktemp("proj"))
    write_tables(paths, data)
    report.run(Params(), paths, week="2026-W13")
    return paths


def test_outputs_exist(project: Paths) -> None:
    for ext in ("html", "xlsx", "docx"):
        assert (project.reports / "weekly" / f"weekly_2026-W13.{ext}").stat().st_size > 1000
    assert (project.reports / "weekly" / "latest.html").read_bytes() == (
        project.reports / "weekly" / "weekly_2026-W13.html"
    ).read_bytes()
    assert not list(project.reports.rglob(".*"))  # no temp files left


def test_html_escapes_script_title(project: Paths) -> None:
    html = (project.reports / "weekly" / "weekly_2026-W13.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in html  # story title, as text
    assert "&lt;script&gt;alert(2)" in html  # topic label, in the table and the SVG chart
    assert "<script" not in html.lower()


def test_html_references_only_article_links(project: Paths, data: dict) -> None:
    html = (project.reports / "weekly" / "weekly_2026-W13.html").read_text(encoding="utf-8")
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    external = {r for r in refs if re.match(r"https?:", r, re.I)}
    assert external  # the evidence and story links are there
    assert external <= set(data["documents"]["url"])
    assert all(r.startswith(("#", "http")) for r in refs)
    assert "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(?!#)", html)  # only clip-path url(#id) inside SVG


def test_html_first_screen(project: Paths) -> None:
    html = (project.reports / "weekly" / "weekly_2026-W13.html").read_text(encoding="utf-8")
    head = html[: html.index("<nav>")]
    for text in (
        "Публикаций",
        "Доля об Алматы",
        "На что обратить внимание",
        "сформирован автоматически",
        "<svg",
    ):
        assert text in head or text in html, text
    assert "[телефон]" in html and "701 123 45" not in html


def _sheet_rows(ws) -> tuple[list[str], list[tuple]]:
    rows = list(ws.iter_rows(values_only=True))
    return list(rows[0]), rows[1:]


def test_xlsx_totals_match_inputs(project: Paths, data: dict) -> None:
    wb = load_workbook(project.reports / "weekly" / "weekly_2026-W13.xlsx")
    docs = data["documents"]
    n_week = int((docs["week"] == "2026-W13").sum())
    head, rows = _sheet_rows(wb["По дням"])
    assert sum(r[head.index("Публикаций")] for r in rows) == n_week
    assert all(isinstance(r[head.index("Дата")], (date, pd.Timestamp)) for r in rows)
    head, rows = _sheet_rows(wb["По сайтам"])
    assert sum(r[head.index("Публикаций")] for r in rows) == n_week
    head, rows = _sheet_rows(wb["Тональность органов"])
    week_docs = set(docs.loc[docs["week"] == "2026-W13", "doc_id"])
    sent = data["mention_sentiment"]
    assert sum(r[head.index("Упоминаний с оценкой")] for r in rows) == int(
        sent["doc_id"].isin(week_docs).sum()
    )
    assert wb["По дням"].freeze_panes == "A2"
    head, rows = _sheet_rows(wb["Сводка"])
    assert rows[0][1] == n_week and isinstance(rows[0][1], int)


def test_xlsx_formula_text_stays_text(tmp_path, data: dict) -> None:
    tables = {k: v.copy() for k, v in data.items()}
    tables["documents"].loc[0, "title"] = '=HYPERLINK("http://evil","x")'
    paths = Paths(tmp_path)
    write_tables(paths, tables)
    report.run(Params(), paths, week="2026-W12")
    wb = load_workbook(paths.reports / "weekly" / "weekly_2026-W12.xlsx")
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]


def test_docx_opens(project: Paths) -> None:
    doc = Document(str(project.reports / "weekly" / "weekly_2026-W13.docx"))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "На что обратить внимание" in text
    assert len(doc.tables) >= 8
    assert doc.inline_shapes  # charts as pictures


def test_missing_week_lists_existing(tmp_path, data: dict) -> None:
    paths = Paths(tmp_path)
    write_tables(paths, data)
    with pytest.raises(ReportError, match="2026-W12, 2026-W13, 2026-W14"):
        report.run(Params(), paths, week="2026-W30")
    with pytest.raises(ReportError, match="не в формате"):
        report.run(Params(), paths, week="14-2026")
    with pytest.raises(ReportError, match="Недели, за которые есть данные"):
        report.run(Params(), paths, week_from="2025-W01", week_to="2025-W05")


def test_default_week_is_latest_complete(tmp_path, data: dict) -> None:
    paths = Paths(tmp_path)
    write_tables(paths, data)
    report.run(Params(), paths)
    # the data ends inside 2026-W14, a week long over by now: it is the latest complete week
    written = [p.name for p in (paths.reports / "weekly").glob("weekly_*.html")]
    assert written == ["weekly_2026-W14.html"]


def test_kazakh_fixed_texts(tmp_path, data: dict) -> None:
    paths = Paths(tmp_path)
    write_tables(paths, data)
    report.run(Params(), paths, week="2026-W14", lang="kk")
    html = (paths.reports / "weekly" / "weekly_2026-W14.html").read_text(encoding="utf-8")
    assert "Апталық талдамалық есеп" in html and "Назар аударатын жайттар" in html
    assert "Еженедельный" not in html and '<html lang="kk">' in html
    wb = load_workbook(paths.reports / "weekly" / "weekly_2026-W14.xlsx")
    assert "Жиынтық" in wb.sheetnames


def test_period_report(tmp_path, data: dict) -> None:
    paths = Paths(tmp_path)
    write_tables(paths, data)
    report.run(Params(), paths, week_from="2026-W12", week_to="2026-W14")
    stem = "period_2026-W12_2026-W14"
    html = (paths.reports / "period" / f"{stem}.html").read_text(encoding="utf-8")
    assert "Динамика по неделям" in html and "Рейтинг органов по неделям" in html
    wb = load_workbook(paths.reports / "period" / f"{stem}.xlsx")
    head, rows = _sheet_rows(wb["Динамика"])
    assert [r[0] for r in rows] == WEEKS
    assert sum(r[head.index("Публикаций")] for r in rows) == len(data["documents"])
    assert not (paths.reports / "weekly").exists()  # the weekly stage's output is untouched
    assert (paths.reports / "period" / "latest.html").read_bytes() == html.encode("utf-8")


def test_week_and_period_together_rejected(tmp_path, data: dict) -> None:
    paths = Paths(tmp_path)
    write_tables(paths, data)
    with pytest.raises(ReportError, match="либо --week"):
        report.run(Params(), paths, week="2026-W13", week_from="2026-W12")


def test_missing_optional_tables_still_report(tmp_path, data: dict) -> None:
    paths = Paths(tmp_path)
    write_tables(paths, {"documents": data["documents"]})
    report.run(Params(report=ReportParams(lang="ru")), paths, week="2026-W13")
    html = (paths.reports / "weekly" / "weekly_2026-W13.html").read_text(encoding="utf-8")
    assert "Ограничения данных" in html and "mention_sentiment" in html


def test_no_documents_table_is_actionable(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="documents"):
        report.run(Params(), Paths(tmp_path), week="2026-W13")


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--period", "all"],
        ["report", "--from", "all", "--to", "all"],
        ["report", "--from", "2026-W12", "--to", "all"],
    ],
)
def test_cli_period_all(tmp_path, data: dict, argv: list[str]) -> None:
    paths = Paths(tmp_path)
    write_tables(paths, data)
    assert cli.main(["--root", str(tmp_path), *argv]) == 0
    out = paths.reports / "period"
    assert sorted(p.name for p in out.glob("*.html")) == [
        "latest.html",
        "period_2026-W12_2026-W14.html",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period": "2026-W12"}, "только 'all'"),
        ({"period": "all", "week": "2026-W13"}, "либо --period all"),
        ({"period": "all", "week_from": "2026-W12"}, "либо --period all"),
        ({"week_from": "2026-W14", "week_to": "all", "week": "2026-W13"}, "либо --week"),
    ],
)
def test_period_arguments_rejected(tmp_path, data: dict, kwargs: dict, message: str) -> None:
    paths = Paths(tmp_path)
    write_tables(paths, data)
    with pytest.raises(ReportError, match=message):
        report.run(Params(), paths, **kwargs)


def test_cli_bad_period_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--root", str(tmp_path), "report", "--period", "last"])


def test_partial_week_is_said_in_headline(tmp_path, data: dict) -> None:
    tables = {k: v.copy() for k, v in data.items()}
    docs = tables["documents"]
    day = docs["published_utc"].dt.tz_convert("Asia/Almaty").dt.date
    keep = (docs["week"] != "2026-W13") | (day <= date(2026, 3, 27))  # Mon 23.03 .. Fri 27.03
    tables["documents"] = docs[keep].reset_index(drop=True)
    paths = Paths(tmp_path)
    write_tables(paths, tables)
    report.run(Params(), paths, week="2026-W13")
    html = (paths.reports / "weekly" / "weekly_2026-W13.html").read_text(encoding="utf-8")
    head = html[: html.index('id="headline"')]
    assert "Данные за 5 из 7 дней: нет публикаций за 28.03, 29.03" in head
    wb = load_workbook(paths.reports / "weekly" / "weekly_2026-W13.xlsx")
    summary = [c for row in wb["Сводка"].iter_rows(values_only=True) for c in row if c]
    assert any("Данные за 5 из 7 дней" in str(c) for c in summary)
    # the next week is compared with the partial one: the headline says that too
    report.run(Params(), paths, week="2026-W14")
    html = (paths.reports / "weekly" / "weekly_2026-W14.html").read_text(encoding="utf-8")
    assert "В прошлом периоде данные за 5 из 7 дней" in html


def test_full_week_has_no_coverage_warning(project: Paths) -> None:
    html = (project.reports / "weekly" / "weekly_2026-W13.html").read_text(encoding="utf-8")
    assert 'id="coverage"' not in html and "из 7 дней" not in html
