"""The report's topic views: Almaty-only beside all documents, weekly flags, topics CSV export."""

from __future__ import annotations

import csv
import io as _io
from dataclasses import replace

import pandas as pd
import pytest
from openpyxl import load_workbook

from pipeline import io, schema
from pipeline.config import ReportParams
from pipeline.report import load_texts, write_report
from pipeline.report_csv import (
    BOM,
    CSV_COLUMNS,
    escape_formula,
    to_csv_text,
    topics_export,
    write_topics_csv,
)
from pipeline.report_data import Inputs, build_report, prepare, topics_table

TEXTS = load_texts("ru")
W13, W14 = "2026-W13", "2026-W14"
DAY = {W13: "2026-03-25 10:00", W14: "2026-04-01 10:00"}


def _inputs(rows: list[tuple], topic_weeks: pd.DataFrame | None = None, sentiment=()) -> Inputs:
    """rows: (doc_id, week, topic_id, almaty_related, lang, site, title)."""
    docs, ents, langs, dts = [], [], [], []
    for doc_id, week, topic, almaty, lang, site, title in rows:
        ts = pd.Timestamp(DAY[week], tz="Asia/Almaty").tz_convert("UTC")
        docs.append({"doc_id": doc_id, "url": f"https://{site}/{doc_id}", "site": site,
                     "kind": "article", "title": title, "text": "т", "published_utc": ts,
                     "week": week, "views": int(doc_id[-1:].isdigit() and doc_id[-1]) or 1,
                     "content_hash": doc_id, "story_id": doc_id, "is_near_duplicate": False,
                     "copies": 1, "source_file": "f"})
        ents.append({"doc_id": doc_id, "almaty_related": almaty, "bodies": [], "persons": [],
                     "n_mentions": 0})
        langs.append({"doc_id": doc_id, "lang": lang, "confidence": 1.0, "share_ru": 0.0,
                      "share_kk": 0.0})
        dts.append({"doc_id": doc_id, "topic_id": topic, "topic_prob": 0.9})
    ids = sorted({r[2] for r in rows})
    topics = pd.DataFrame({"topic_id": ids, "label": [f"Тема {i}" for i in ids],
                           "top_words": [["акимдик", "жол"] for _ in ids],
                           "keywords": [["әкімдік", "жол"] for _ in ids], "size": 1,
                           "share": 0.1, "size_almaty": 0, "share_almaty": 0.0,
                           "share_kk": 0.0, "example_titles": [[] for _ in ids]})
    empty = io.empty_frame(schema.TOPIC_WEEKS)
    return Inputs(
        documents=pd.DataFrame(docs), languages=pd.DataFrame(langs),
        doc_entities=pd.DataFrame(ents), mentions=io.empty_frame(schema.MENTIONS),
        doc_topics=pd.DataFrame(dts), topics=topics,
        topic_weeks=empty if topic_weeks is None else topic_weeks,
        mention_sentiment=pd.DataFrame(list(sentiment), columns=schema.MENTION_SENTIMENT.columns),
        site_names={"nur.kz": "NUR.KZ", "tengrinews.kz": "Tengrinews"},
    )


# W13: topic 0 (4 docs, 2 about Almaty), topic 1 (3 docs) -> W14: topic 0 grows, 1 vanishes,
# topic 2 is new; only one W14 document is about Almaty.
ROWS = (
    [(f"a{i}", W13, 0, i < 2, "ru", "nur.kz", f"Дороги {i}") for i in range(4)]
    + [(f"b{i}", W13, 1, False, "kk", "tengrinews.kz", f"Мектеп {i}") for i in range(3)]
    + [(f"c{i}", W14, 0, i == 0, "ru", "nur.kz" if i % 2 else "tengrinews.kz", f"Пробки {i}")
       for i in range(9)]
    + [(f"d{i}", W14, 2, False, "kk", "nur.kz", f"Су тасқыны {i}") for i in range(4)]
)


@pytest.fixture(scope="module")
def frames():
    return prepare(_inputs(ROWS))


@pytest.mark.parametrize(
    "almaty, expected",
    [
        # all documents: (topic, n_docs, share, prev, change, status code)
        (False, [(0, 9, 9 / 13, 4, 5, "growing"), (2, 4, 4 / 13, 0, 4, "new"),
                 (1, 0, 0.0, 3, -3, "vanished")]),
        # Almaty only: the same topic ids, counted on the Almaty subset
        (True, [(0, 1, 1.0, 2, -1, "stable")]),
    ],
)
def test_views_and_flags(frames, almaty, expected):
    tab = topics_table(frames, [W14], [W13], almaty=almaty, params=ReportParams(), texts=TEXTS)
    cols = ["topic_id", "n_docs", "share", "prev_docs", "change_docs", "_status"]
    got = [tuple(r) for r in tab[cols].itertuples(index=False, name=None)]
    expected = [(t, n, pytest.approx(sh), p, c, st) for t, n, sh, p, c, st in expected]
    assert got == expected
    if not almaty:
        assert tab.set_index("topic_id").loc[1, "status"] == "исчезла"
        assert tab.set_index("topic_id").loc[2, "share_kk"] == 1.0
        assert tab.set_index("topic_id").loc[0, "sites"] == "Tengrinews 5, NUR.KZ 4"
        assert tab.set_index("topic_id").loc[0, "n_sites"] == 2


def test_examples_are_three_most_read_with_links(frames):
    tab = topics_table(frames, [W14], [W13]).set_index("topic_id")
    assert [tab.loc[0, f"example_{i}"] for i in (1, 2, 3)] == ["Пробки 8", "Пробки 7", "Пробки 6"]
    assert tab.loc[0, "url_1"] == "https://tengrinews.kz/c8"
    almaty = topics_table(frames, [W14], [W13], almaty=True).set_index("topic_id")
    assert almaty.loc[0, "example_1"] == "Пробки 0" and almaty.loc[0, "example_2"] == ""


def test_week_without_almaty_documents():
    rows = [(f"x{i}", W14, 0, False, "ru", "nur.kz", f"Новость {i}") for i in range(3)]
    report = build_report(_inputs(rows), "weekly", [W14], ReportParams(), TEXTS)
    keys = [s.key for s in report.sections]
    assert keys.index("topics_almaty") == keys.index("topics") - 1  # the main table comes first
    almaty = next(s.table for s in report.sections if s.key == "topics_almaty")
    assert almaty.empty
    tables = {s.key: s.table for s in report.sections}
    out = topics_export(tables["topics"], tables["topics_almaty"])
    assert out[["size", "size_almaty", "share_almaty"]].values.tolist() == [[3, 0, 0.0]]


def test_stage_flags_are_used_for_the_weekly_all_documents_view():
    tw = pd.DataFrame({"week": [W13, W14, W14], "topic_id": [0, 0, 2], "n_docs": [4, 9, 4],
                       "n_docs_almaty": [2, 1, 0], "status": ["stable", "stable", "stable"]})
    inputs = _inputs(ROWS, topic_weeks=tw)
    f = prepare(inputs)
    tab = topics_table(f, [W14], [W13]).set_index("topic_id")
    assert tab["_status"].isna().sum() == 0
    # topic 1 has no staged W14 row: the stage and the report disagree, so the report computes
    assert tab.loc[1, "_status"] == "vanished" and tab.loc[0, "_status"] == "growing"
    tw = pd.concat([tw, pd.DataFrame({"week": [W14], "topic_id": [1], "n_docs": [0],
                                      "n_docs_almaty": [0], "status": ["vanished"]})])
    tab = topics_table(prepare(_inputs(ROWS, topic_weeks=tw)), [W14], [W13]).set_index("topic_id")
    assert tab.loc[0, "_status"] == "stable"  # the stage's flag (it knows earlier runs)
    # doc_topics empty: the counts come from TOPIC_WEEKS, the Almaty ones from n_docs_almaty
    bare = prepare(replace(_inputs(ROWS, topic_weeks=tw),
                           doc_topics=io.empty_frame(schema.DOC_TOPICS)))
    almaty = topics_table(bare, [W14], [W13], almaty=True).set_index("topic_id")
    assert almaty.loc[0, ["n_docs", "prev_docs"]].tolist() == [1, 2]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"),
        ("+7 701 000 00 00", "'+7 701 000 00 00"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Әкімдік = мэрия", "Әкімдік = мэрия"),  # only a leading sign is dangerous
        ("", ""),
        (-3, -3),  # numbers stay numbers
        (0.25, 0.25),
        (None, None),
    ],
)
def test_escape_formula(value, expected):
    assert escape_formula(value) == expected


def test_csv_escapes_crawled_titles_and_keeps_negative_numbers():
    rows = [(f"e{i}", W13, 0, True, "ru", "nur.kz", "x") for i in range(5)]
    rows += [("e9", W14, 0, True, "ru", "nur.kz", "=cmd|' /C calc'!A0"),
             ("e8", W14, 0, True, "ru", "nur.kz", "@акимат"),
             ("e7", W14, 0, True, "kk", "nur.kz", "-қала")]
    inputs = _inputs(rows)
    inputs.topics.loc[0, "label"] = "+Тема"
    report = build_report(inputs, "weekly", [W14], ReportParams(), TEXTS)
    tables = {s.key: s.table for s in report.sections}
    text = to_csv_text(topics_export(tables["topics"], tables["topics_almaty"]))
    rec = next(csv.DictReader(_io.StringIO(text)))
    assert rec["label"] == "'+Тема"
    assert [rec[f"example_{i}"] for i in (1, 2, 3)] == ["'=cmd|' /C calc'!A0", "'@акимат",
                                                         "'-қала"]
    assert rec["change"] == "-2" and rec["status"] == "stable"  # 3 vs 5: below min docs apart


def test_csv_round_trips_cyrillic_and_kazakh(tmp_path):
    rows = [(f"k{i}", W14, 0, i < 2, "kk", "nur.kz", f"Алматы әкімдігі: өзен {i} «ұлттық»")
            for i in range(4)]
    inputs = _inputs(rows)
    inputs.topics.loc[0, "label"] = "Су тасқыны, әкімдік · ЖКХ"
    report = build_report(inputs, "weekly", [W14], ReportParams(), TEXTS)
    path = write_topics_csv(report, tmp_path)
    assert path.name == f"weekly_{W14}_topics.csv"
    raw = path.read_bytes()
    assert raw.startswith(BOM.encode("utf-8")) and raw.count(BOM.encode("utf-8")) == 1
    back = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    assert list(back.columns) == CSV_COLUMNS
    assert back.loc[0, "label"] == "Су тасқыны, әкімдік · ЖКХ"
    assert back.loc[0, "keywords"] == "әкімдік, жол"
    assert back.loc[0, "example_1"].startswith("Алматы әкімдігі: өзен 3")
    assert (back.loc[0, "size"], back.loc[0, "size_almaty"]) == (4, 2)
    assert back.loc[0, "share_almaty"] == 1.0 and back.loc[0, "share_kk"] == 1.0


def test_write_report_writes_csv_and_almaty_sheet(tmp_path):
    report = build_report(_inputs(ROWS), "weekly", [W14], ReportParams(), TEXTS)
    written = write_report(report, TEXTS, "ru", tmp_path, 100)
    assert {p.suffix for p in written} == {".html", ".xlsx", ".docx", ".csv"}
    html = (tmp_path / f"weekly_{W14}.html").read_text(encoding="utf-8")
    main, other = "Темы среди публикаций об Алматы", "Темы среди всех публикаций"
    assert html.index(f"<h2>{main}</h2>") < html.index(f"<h2>{other}</h2>")
    wb = load_workbook(tmp_path / f"weekly_{W14}.xlsx")
    assert wb.sheetnames.index("Темы об Алматы") < wb.sheetnames.index("Темы")
    header = [c.value for c in wb["Темы"][1]]
    assert {"Статус", "Пример 3", "Ссылка 3", "Изменение, публ."} <= set(header)
    links = [c.hyperlink.target for c in wb["Темы"][2] if c.hyperlink is not None]
    assert len(links) == 3 and all(u.startswith("https://") for u in links)
