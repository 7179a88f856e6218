"""Ingest: dates, cleaning, site mapping, readers, duplicates and quarantine."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pandas as pd
import pytest

from pipeline import io, schema
from pipeline.cleaning import clean_text
from pipeline.config import ROOT, IngestParams, load_params, load_sources
from pipeline.dates import DateError, iso_week, parse_date, week_bounds
from pipeline.ingest import ingest, normalise_url, run, site_of
from pipeline.paths import Paths

SOURCES = load_sources()
P = IngestParams(min_text_chars=3)


@pytest.mark.parametrize(
    ("value", "crawled", "expected_utc"),
    [
        ("2026-10-05T10:00:00+05:00", None, "2026-10-05T05:00"),
        ("2026-10-05T10:00:00Z", None, "2026-10-05T10:00"),
        ("2026-10-05T10:00:00", None, "2026-10-05T05:00"),  # no offset = Almaty local
        ("12 апреля 2026 06:42", None, "2026-04-12T01:42"),
        ("3 мая 2026", None, "2026-05-02T19:00"),
        ("5 марта 2026 г. в 10:00", None, "2026-03-05T05:00"),
        ("2026 жылғы 12 қазан, 10:15", None, "2026-10-12T05:15"),
        ("2026 жылгы 1 караша 08:00", None, "2026-11-01T03:00"),  # Kazakh without its letters
        ("12.10.2026 10:15", None, "2026-10-12T05:15"),
        ("Сегодня, 10:15", "2026-10-05T12:00:00+05:00", "2026-10-05T05:15"),
        ("Вчера, 22:40", "2026-10-05T12:00:00+05:00", "2026-10-04T17:40"),
        ("Бүгін, 09:00", "2026-10-05T12:00:00+05:00", "2026-10-05T04:00"),
        ("Кеше, 23:30", "2026-10-05T01:00:00+05:00", "2026-10-04T18:30"),
    ],
)
def test_parse_date(value: str, crawled: str | None, expected_utc: str) -> None:
    got = parse_date(value, crawled)
    assert got.tzinfo is not None
    assert got.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") == expected_utc


@pytest.mark.parametrize(
    "value", ["", "вчера", "31 февраля 2026", "когда-то давно", "2026-13-01", "12 брумера 2026"]
)
def test_parse_date_rejects(value: str) -> None:
    with pytest.raises(DateError):
        parse_date(value)


def test_iso_week_uses_almaty_local_date() -> None:
    # Sunday 23:30 UTC is already Monday in Almaty (UTC+5)
    assert iso_week(datetime(2026, 10, 4, 20, 0, tzinfo=UTC)) == "2026-W41"
    assert week_bounds("2026-W41")[0].isoformat() == "2026-10-05"
    with pytest.raises(ValueError, match="ГГГГ-Wнн"):
        week_bounds("41/2026")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("в управлении полиции.Автомобиль нашли", "в управлении полиции. Автомобиль нашли"),
        ("заявили в акимата АлматыНурлан Серікұлы", "заявили в акимата Алматы\nНурлан Серікұлы"),
        ("передаетTengrinews.kz.Продолжение", "передает Tengrinews.kz. Продолжение"),
        ("&laquo;Алматы Су&raquo;&nbsp;сообщает", "«Алматы Су» сообщает"),
        ("&amp;quot;двойное&amp;quot;", '"двойное"'),
        ("т.е. 3.5 млн на nur.kz", "т.е. 3.5 млн на nur.kz"),
        ("әкімдігі\u200bнің  \t жұмысы", "әкімдігінің жұмысы"),
        ("  абзац один\r\n\r\n  абзац два ", "абзац один\nабзац два"),
        ("ЖК «Алатау» и iPhone", "ЖК «Алатау» и iPhone"),
        ("передает Tengrinews.kzсо ссылкой", "передает Tengrinews.kz со ссылкой"),
        ("район Алматы15 апреля 2024 16:45", "район Алматы\n15 апреля 2024 16:45"),
        ("в 15 апреля 2024 и Алматы 15 км", "в 15 апреля 2024 и Алматы 15 км"),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://www.nur.kz/society/1-x/", "nur.kz"),
        ("https://kaz.nur.kz/society/1-x/", "nur.kz"),
        ("https://tengrinews.kz/kazakhstan_news/x-1/", "tengrinews.kz"),
        ("https://news.gazeta.kz/art/1", "news.gazeta.kz"),
        ("http://altyn-orda.kz/x", "altyn-orda.kz"),
        ("https://example.com/x", "other"),
        ("https://notnur.kz/x", "other"),
    ],
)
def test_site_of(url: str, site: str) -> None:
    assert site_of(url, SOURCES) == site


def test_normalise_url_ignores_scheme_www_tracking() -> None:
    assert normalise_url("https://www.Nur.kz/a/b/?utm_source=x") == normalise_url("http://nur.kz/a/b")
    # query-addressed articles stay distinct
    assert normalise_url("https://nomad.su/?a=3-1") != normalise_url("https://nomad.su/?a=3-2")
    assert normalise_url("https://x.kz/?b=2&a=1&fbclid=z") == normalise_url("https://x.kz/?a=1&b=2")


def _article(url: str, text: str, published: str = "2026-10-05T10:00:00+05:00", **kw) -> dict:
    return {
        "url": url,
        "title": kw.pop("title", "Заголовок"),
        "text": text,
        "published": published,
        **kw,
    }


LONG = (
    "Акимат Алматы сообщил о ремонте дорог в Бостандыкском районе. Работы начнутся в понедельник "
    "и продлятся две недели. Водителей просят заранее выбирать пути объезда и следить за знаками. "
    "В управлении городской мобильности добавили, что автобусные маршруты временно изменятся. "
    "Жители района жалуются на пробки, которые уже образовались на соседних улицах города."
)


def _write(tmp_path, name: str, content: str | bytes) -> None:
    path = tmp_path / "raw" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


def test_ingest_accounts_for_every_record(tmp_path) -> None:
    rows = [
        _article("https://www.nur.kz/a/1/", LONG),
        _article("https://zakon.kz/a/2/", LONG, published="6 октября 2026 09:00"),  # exact repost
        _article("https://total.kz/a/3/", LONG.replace("две недели", "три недели"), title="Другой"),
        _article("https://nur.kz/a/1", LONG),  # same URL again
        _article("https://bnews.kz/a/4/", ""),  # empty body
        {"title": "без url", "text": LONG, "published": "2026-10-05"},
        _article("https://bnews.kz/a/5/", "Текст", published="когда-то"),
        _article(
            "https://bnews.kz/a/6/",
            "Комментарий читателя",
            kind="comment",
            author="nick123",
            parent_url="https://www.nur.kz/a/1/",
        ),
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines.insert(3, '{"url": "https://nur.kz/a/9", "text": "обрез')  # truncated line
    lines.append("[1, 2, 3]")
    _write(tmp_path, "nur/2026-W41.jsonl", "\n".join(lines) + "\n")
    result = ingest(tmp_path / "raw", SOURCES, P, seed=1)
    c = result.counts
    assert c["records_in"] == 10
    assert c["records_in"] == c["kept"] + c["exact_duplicates"] + c["quarantined"]
    assert c["exact_duplicates"] == 2 and c["quarantined"] == 5 and c["kept"] == 3
    reasons = " | ".join(q["reason"] for q in result.quarantine)
    for fragment in ("JSON", "url", "короткий", "дата", "объектом"):
        assert fragment in reasons
    assert all({"source_file", "line", "reason"} <= set(q) for q in result.quarantine)
    docs = result.documents
    first = docs[docs["url"] == "https://www.nur.kz/a/1/"].iloc[0]
    assert first["copies"] == 2 and not first["is_near_duplicate"]
    near = docs[docs["url"] == "https://total.kz/a/3/"].iloc[0]
    assert near["is_near_duplicate"] and near["story_id"] == first["doc_id"]
    assert "author" not in docs.columns and "nick123" not in docs.to_string()
    assert list(docs.columns) == schema.DOCUMENTS.columns


def test_ingest_reads_csv_cp1251_and_html(tmp_path) -> None:
    csv_text = "url,title,text,published,views\n" + (
        f'https://zonakz.net/x/1,"Тарифы растут","{LONG}",12.10.2026 10:15,1 200\n'
    )
    _write(tmp_path, "export.csv", csv_text.encode("cp1251"))
    page = f"""<html><head><title>Сайт</title>
    <link rel="canonical" href="https://total.kz/ru/news/1"/>
    <meta property="og:title" content="Смог над Алматы"/>
    <meta property="article:published_time" content="2026-10-13T08:00:00+05:00"/></head>
    <body><nav><a href="/">Главная</a> | <a href="/ru">Новости</a></nav>
    <div class="ad">Реклама: купите квартиру!</div>
    <article><h1>Смог над Алматы</h1><p>{LONG}</p><p>{LONG[:200]}</p></article>
    <footer>© Total.kz 2026</footer></body></html>"""
    _write(tmp_path, "html/page.html", page)
    result = ingest(tmp_path / "raw", SOURCES, P, seed=1)
    docs = result.documents.set_index("site")
    assert docs.loc["zonakz.net", "title"] == "Тарифы растут"
    assert docs.loc["zonakz.net", "views"] == 1200
    assert docs.loc["total.kz", "title"] == "Смог над Алматы"
    assert "Реклама" not in docs.loc["total.kz", "text"]
    assert "Акимат Алматы" in docs.loc["total.kz", "text"]
    assert docs.loc["total.kz", "week"] == "2026-W42"


def test_ingest_missing_or_empty_dir(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="ingest.raw_dir"):
        ingest(tmp_path / "nope", SOURCES, P, seed=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="нет файлов"):
        ingest(tmp_path / "empty", SOURCES, P, seed=1)


def test_run_writes_tables_atomically_and_deterministically(tmp_path) -> None:
    rows = [_article(f"https://nur.kz/a/{i}/", f"{LONG} Номер {i}.") for i in range(5)]
    _write(tmp_path, "raw/a.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    (tmp_path / "params.yaml").write_text("ingest:\n  raw_dir: raw/raw\n")
    (tmp_path / "configs").mkdir()
    shutil.copy(ROOT / "configs" / "sources.yaml", tmp_path / "configs" / "sources.yaml")
    paths = Paths(tmp_path)
    run(load_params(tmp_path), paths)
    first = paths.table(schema.DOCUMENTS).read_bytes()
    run(load_params(tmp_path), paths)
    assert paths.table(schema.DOCUMENTS).read_bytes() == first
    docs = io.read_table(paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    assert len(docs) == 5 and docs["story_id"].nunique() == 1  # near-identical texts: one story
    assert json.loads((paths.metrics / "ingest.json").read_text())["kept"] == 5
    assert not [
        p for p in paths.processed.iterdir() if p.name.startswith(".")
    ]  # no temp files left
    assert isinstance(docs["published_utc"].iloc[0], pd.Timestamp)


def test_sample_corpus_dirt_is_found() -> None:
    """Every planted near-duplicate is marked and every exact repost folded (data/raw/sample)."""
    sample = ROOT / "data" / "raw" / "sample"
    manifest = pd.DataFrame(json.loads((sample / "MANIFEST.json").read_text())["documents"])
    params = load_params()
    result = ingest(sample, SOURCES, params.ingest, params.seed)
    docs = result.documents
    tagged = manifest["tags"].map(set)
    planted = set(manifest.loc[tagged.map(lambda t: "near_duplicate" in t), "url"])
    marked = set(docs.loc[docs["is_near_duplicate"], "url"])
    assert planted and planted == marked
    reposts = set(manifest.loc[tagged.map(lambda t: "exact_repost" in t), "url"])
    assert reposts and not reposts & set(docs["url"])
    assert len(set(docs["url"])) == len(docs)


def test_readers_survive_long_fields_line_separators_and_broken_bytes(tmp_path) -> None:
    long_body = "Акимат " + "слово " * 30000  # > csv's default 131,072-char field limit
    rows = "url,title,text,published\n" + "".join(
        f'https://total.kz/x/{i},T{i},"{long_body if i == 1 else LONG}",2026-10-05\n'
        for i in range(3)
    )
    _write(tmp_path, "a.csv", rows)
    sep = json.dumps(_article("https://nur.kz/a/1/", LONG + " строка\u2028вторая"),
                     ensure_ascii=False)
    _write(tmp_path, "b.jsonl", sep + "\n")
    kk = json.dumps(_article("https://nur.kz/a/2/", "Әкімдік хабарлады. " + LONG),
                    ensure_ascii=False).encode()
    _write(tmp_path, "c.jsonl", kk + b"\n" + b'{"url": "https://nur.kz/a/3/", "text": "\xd0\n')
    result = ingest(tmp_path / "raw", SOURCES, P, seed=1)
    docs = result.documents.set_index("url")
    assert len(docs.filter(like="total.kz", axis=0)) == 3  # no row lost after the long one
    assert "Әкімдік хабарлады" in docs.loc["https://nur.kz/a/2/", "text"]
    assert "https://nur.kz/a/1/" in docs.index
    assert result.counts["quarantined"] == 1  # only the truncated line
