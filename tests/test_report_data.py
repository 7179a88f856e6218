"""Pure figures of the report: weeks, indices, tables, privacy of the rows, defensive config."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest

from pipeline import io, schema
from pipeline.config import ReportParams
from pipeline.report import body_names, load_texts, not_city_bodies
from pipeline.report_data import (
    Inputs,
    ReportError,
    build_report,
    coverage,
    default_week,
    evidence,
    format_cell,
    net_index,
    parse_week,
    prepare,
    resolve_weeks,
    russian_common_word,
    shift_week,
    tidy_topic_label,
    top_officials,
    weeks_between,
)

TEXTS = load_texts("ru")


def _doc(
    doc_id: str,
    when: str,
    kind: str = "article",
    site: str = "nur.kz",
    title: str = "Заголовок",
    persons: list[str] | None = None,
    bodies: list[str] | None = None,
) -> dict:
    ts = pd.Timestamp(when, tz="Asia/Almaty").tz_convert("UTC")
    local = ts.tz_convert("Asia/Almaty")
    year, week, _ = local.isocalendar()
    return {
        "doc_id": doc_id,
        "url": f"https://{site}/{doc_id}",
        "site": site,
        "kind": kind,
        "title": title,
        "text": "т",
        "published_utc": ts,
        "week": f"{year}-W{week:02d}",
        "views": 10,
        "content_hash": doc_id,
        "story_id": doc_id,
        "is_near_duplicate": False,
        "copies": 1,
        "source_file": "f",
        "persons": persons or [],
        "bodies": bodies or [],
    }


def make_inputs(docs: list[dict], sentiment: list[dict] = (), **extra) -> Inputs:
    d = pd.DataFrame(docs)
    empty = {
        name: io.empty_frame(t)
        for name, t in {
            "languages": schema.LANGUAGES,
            "mentions": schema.MENTIONS,
            "doc_topics": schema.DOC_TOPICS,
            "topics": schema.TOPICS,
            "topic_weeks": schema.TOPIC_WEEKS,
        }.items()
    }
    ents = pd.DataFrame(
        {
            "doc_id": d["doc_id"],
            "almaty_related": True,
            "bodies": d["bodies"],
            "persons": d["persons"],
            "n_mentions": 0,
        }
    )
    sent = pd.DataFrame(list(sentiment), columns=schema.MENTION_SENTIMENT.columns)
    return Inputs(
        documents=d.drop(columns=["persons", "bodies"]),
        doc_entities=ents,
        mention_sentiment=sent,
        **{**empty, **extra},
        body_names={"akimat": "Акимат Алматы"},
        site_names={"nur.kz": "NUR.KZ"},
    )


@pytest.mark.parametrize("week", ["2026-14", "2026-W5", "W14-2026", "2025-W53", "", "2026-W00"])
def test_bad_week_labels(week: str) -> None:
    with pytest.raises(ReportError):
        parse_week(week)


@pytest.mark.parametrize(
    ("week", "n", "expected"),
    [("2026-W01", -1, "2025-W52"), ("2026-W53", 1, "2027-W01"), ("2026-W14", -2, "2026-W12")],
)
def test_shift_week_across_years(week: str, n: int, expected: str) -> None:
    assert shift_week(week, n) == expected


def test_weeks_between() -> None:
    assert weeks_between("2025-W52", "2026-W02") == ["2025-W52", "2026-W01", "2026-W02"]
    with pytest.raises(ReportError, match="позже"):
        weeks_between("2026-W03", "2026-W01")


@pytest.mark.parametrize(
    ("dates", "today", "expected"),
    [
        (["2026-03-24 10:00", "2026-04-05 12:00"], "2026-04-05", "2026-W13"),  # Sunday: still open
        (["2026-03-24 10:00", "2026-04-05 12:00"], "2026-04-06", "2026-W14"),  # Monday: W14 is over
        (["2026-03-30 10:00", "2026-04-06 09:00"], "2026-04-06", "2026-W14"),  # Monday of W15
        (["2026-04-01 10:00", "2026-04-02 10:00"], "2026-04-02", "2026-W14"),  # only one week
        (["2026-04-05 12:00", "2026-04-06 00:30"], "2026-04-06", "2026-W14"),  # 00:30 Almaty
        (["2026-03-24 10:00", "2026-04-05 12:00"], "2026-11-26", "2026-W14"),  # an old crawl
    ],
)
def test_default_week(dates: list[str], today: str, expected: str) -> None:
    inputs = make_inputs([_doc(f"d{i}", d) for i, d in enumerate(dates)])
    f = prepare(inputs)
    assert default_week(f.docs, date.fromisoformat(today)) == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["positive", "negative", "neutral", "neutral"], 0.0),
        (["negative"] * 3, -1.0),
        (["positive", "neutral"], 0.5),
    ],
)
def test_net_index(labels: list[str], expected: float) -> None:
    assert net_index(pd.Series(labels)) == pytest.approx(expected)


def test_net_index_empty_is_nan() -> None:
    assert math.isnan(net_index(pd.Series([], dtype=str)))


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (1234567, "int", "1\u00a0234\u00a0567"),
        (0.125, "pct", "12,5%"),
        (-0.254, "net", "-0,25"),
        (0.5, "signed_pct", "+50%"),
        (float("nan"), "int", "–"),
        (pd.Timestamp("2026-04-05"), "date", "05.04.2026"),
        ("<b>", "text", "<b>"),
        (2.5, "pp", "+2,5\u00a0п.п."),
    ],
)
def test_format_cell(value: object, kind: str, expected: str) -> None:
    assert format_cell(value, kind) == expected


@pytest.mark.parametrize(
    ("raw", "lang", "expected"),
    [
        (
            {"bodies": [{"id": "akimat", "ru": "Акимат", "kk": "Әкімдік"}]},
            "kk",
            {"akimat": "Әкімдік"},
        ),
        (
            [{"id": "akimat", "names": {"ru": ["Акимат", "акимата"], "kk": []}}],
            "kk",
            {"akimat": "Акимат"},
        ),
        ({"bodies": {"police": {"name_ru": "ДП Алматы"}}}, "ru", {"police": "ДП Алматы"}),
        ({"bodies": [{"id": "dchs"}, {"no_id": 1}, "junk"]}, "ru", {"dchs": "dchs"}),
        (None, "ru", {}),
    ],
)
def test_body_names_defensive(raw: object, lang: str, expected: dict) -> None:
    assert body_names(raw, lang) == expected


def test_region_bodies_are_not_city_bodies() -> None:
    raw = {
        "bodies": [
            {"id": "almaty_akimat", "ru": "акимат города Алматы"},
            {"id": "region_akimat", "ru": "акимат области", "city_body": False},
        ]
    }
    assert not_city_bodies(raw) == {"region_akimat"}
    assert body_names(raw, "ru")["almaty_akimat"] == "Акимат города Алматы"
    docs = [_doc("a1", "2026-04-01 10:00")]
    sent = [_neg("a1", "акимат области", 0.9) | {"body_id": "region_akimat"}]
    inputs = make_inputs(docs, sent)
    assert len(prepare(inputs).sentiment) == 1
    inputs = Inputs(**{**inputs.__dict__, "not_city_bodies": not_city_bodies(raw)})
    assert prepare(inputs).sentiment.empty


def _neg(doc_id: str, context: str, p: float) -> dict:
    return {
        "doc_id": doc_id,
        "body_id": "akimat",
        "start": 0,
        "end": 5,
        "lang": "ru",
        "context": context,
        "label": "negative",
        "p_negative": p,
        "p_neutral": 0.0,
        "p_positive": 0.0,
    }


def test_evidence_masks_and_hides_comment_authors() -> None:
    docs = [
        _doc("a1", "2026-04-01 10:00", title="Акимат снова"),
        _doc("c1", "2026-04-01 11:00", kind="comment", title="Марат_1990"),
    ]
    docs[1]["author"] = "Марат Иванов"  # a crawler may leave one: never shown
    sent = [
        _neg("a1", "Акимат молчит, ИИН 870101300123", 0.7),
        _neg("c1", "Акимат позор, пишите marat@mail.ru", 0.9),
    ]
    f = prepare(make_inputs(docs, sent))
    ev = evidence(f, ["2026-W14"], {"akimat": "Акимат Алматы"}, 10, "комментарий читателя")
    assert ev["title"].tolist() == ["комментарий читателя", "Акимат снова"]
    assert ev["body"].tolist() == ["Акимат Алматы"] * 2
    flat = ev.astype(str).to_string()
    assert "Марат" not in flat and "870101300123" not in flat and "marat@" not in flat
    assert "author" not in f.docs.columns


def test_officials_need_articles_and_bodies() -> None:
    docs = [
        _doc("a1", "2026-04-01", persons=["Ерболат Досаев"], bodies=["akimat"]),
        _doc("a2", "2026-04-02", persons=["Ерболат Досаев", "Иван Петров"]),
        _doc("a3", "2026-04-03", persons=["Иван Петров"]),  # two articles, never beside a body
        _doc("c1", "2026-04-01", kind="comment", persons=["Асель К"], bodies=["akimat"]),
        _doc("c2", "2026-04-02", kind="comment", persons=["Асель К"], bodies=["akimat"]),
        _doc("a4", "2026-04-02", persons=["Один Раз"], bodies=["akimat"]),
    ]
    f = prepare(make_inputs(docs))
    out = top_officials(f, ["2026-W14"], ReportParams())
    assert out["person"].tolist() == ["Ерболат Досаев"]


def test_new_negative_topic_reaches_attention_list() -> None:
    docs = [_doc(f"o{i}", "2026-03-24 10:00") for i in range(4)]  # W13: topic 0 only
    docs += [_doc(f"n{i}", "2026-04-01 10:00") for i in range(4)]  # W14: new topic 1
    sent = [_neg(f"n{i}", "Акимат не убрал снег", 0.8) for i in range(4)]
    doc_topics = pd.DataFrame(
        {"doc_id": [d["doc_id"] for d in docs], "topic_id": [0] * 4 + [1] * 4, "topic_prob": 0.9}
    )
    topics = pd.DataFrame(
        {
            "topic_id": [0, 1],
            "label": ["парки", "снег на дорогах"],
            "top_words": [["парк"], ["снег", "уборка"]],
            "keywords": [["парк"], ["снег", "уборка"]],
            "size": [4, 4],
            "share": 0.5,
            "size_almaty": [4, 4],
            "share_almaty": 0.5,
            "share_kk": 0.0,
            "example_titles": [[], []],
        }
    )
    inputs = make_inputs(docs, sent, doc_topics=doc_topics, topics=topics)
    report = build_report(inputs, "weekly", ["2026-W14"], ReportParams(), TEXTS)
    new = next(s.table for s in report.sections if s.key == "new_topics")
    assert new["label"].tolist() == ["снег на дорогах"] and new["status"].iloc[0] == "новая"
    assert any("Новая тема" in a and "снег на дорогах" in a for a in report.attention)
    topics_tab = next(s.table for s in report.sections if s.key == "topics")
    assert topics_tab.set_index("topic_id").loc[1, "neg"] == 4


def test_empty_week_sections_do_not_crash() -> None:
    inputs = make_inputs([_doc("a1", "2026-04-01 10:00")])
    report = build_report(inputs, "weekly", ["2026-W14"], ReportParams(), TEXTS)
    assert report.headline.set_index("metric_key").loc["documents", "value"] == 1
    assert report.attention  # at least the "nothing notable" line
    assert math.isnan(report.headline.set_index("metric_key").loc["net_sentiment", "value"])


# ----------------------------------------------------------------------------- periods "all"


@pytest.mark.parametrize(
    ("week_from", "week_to", "expected"),
    [
        ("all", "all", ["2026-W12", "2026-W13", "2026-W14"]),
        ("ALL", None, ["2026-W12", "2026-W13", "2026-W14"]),
        ("2026-W13", "all", ["2026-W13", "2026-W14"]),
        ("all", "2026-W12", ["2026-W12"]),
    ],
)
def test_resolve_weeks_all(week_from: str, week_to: str | None, expected: list[str]) -> None:
    docs = [_doc(f"d{i}", day) for i, day in enumerate(["2026-03-16", "2026-03-31", "2026-04-02"])]
    frames = prepare(make_inputs(docs))
    assert resolve_weeks(frames.docs, None, week_from, week_to) == ("period", expected)


def test_resolve_weeks_all_needs_data() -> None:
    frames = prepare(make_inputs([_doc("d1", "2026-03-16")]))
    with pytest.raises(ReportError, match="нет данных"):
        resolve_weeks(frames.docs.iloc[:0], None, "all", "all")


# ----------------------------------------------------------------------------- partial weeks


@pytest.mark.parametrize(
    ("cur_days", "prev_days", "expected"),
    [
        (range(7), range(7), []),
        (range(5), range(7), ["Данные за 5 из 7 дней: нет публикаций за 04.04, 05.04"]),
        ([0], range(7), ["Данные за 1 из 7 дней"]),
        (range(7), range(3), ["В прошлом периоде данные за 3 из 7 дней"]),
        (range(7), [], ["За прошлый период данных нет"]),
        ([2, 6], [1], ["за 2 из 7 дней: нет публикаций за 30.03, 31.03, 02.04", "за 1 из 7"]),
    ],
)
def test_coverage_warns_about_partial_weeks(
    cur_days: range, prev_days: range, expected: list[str]
) -> None:
    """W14 starts on Monday 30.03.2026, W13 on 23.03; 02:30 in Almaty is the day before in UTC."""
    w14, w13 = date(2026, 3, 30), date(2026, 3, 23)
    docs = [_doc(f"c{d}", f"{w14 + timedelta(days=d)} 02:30") for d in cur_days]
    docs += [_doc(f"p{d}", f"{w13 + timedelta(days=d)} 12:00") for d in prev_days]
    f = prepare(make_inputs(docs))
    out = coverage(f, ["2026-W14"], ["2026-W13"], TEXTS)
    assert len(out) == len(expected)
    for line, part in zip(out, expected, strict=True):
        assert part in line


def test_partial_week_reaches_report() -> None:
    docs = [_doc("a1", "2026-04-01 10:00"), _doc("a2", "2026-03-25 10:00")]
    report = build_report(make_inputs(docs), "weekly", ["2026-W14"], ReportParams(), TEXTS)
    assert any("Данные за 1 из 7 дней" in c for c in report.coverage)
    assert any("в прошлом периоде данные за 1 из 7" in c.lower() for c in report.coverage)


# ----------------------------------------------------------------------------- topic labels


@pytest.fixture(scope="session")
def is_common():
    pymorphy3 = pytest.importorskip("pymorphy3")
    return russian_common_word(pymorphy3.MorphAnalyzer())


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Переведут ТЭЦ, газ Обещают", "Переведут ТЭЦ · газ обещают"),  # verb lowered, ТЭЦ kept
        ("Детские сады, Родитель", "Детские сады · родитель"),
        ("Алматы Қонаев, что-то начали", "Алматы Қонаев · что-то начали"),  # place names kept
        ("Телефон нөмірі, Жедел жәрдемді", "Телефон нөмірі · Жедел жәрдемді"),  # Kazakh: as is
        ("Досаев, Ремонт", "Досаев · ремонт"),  # surname kept
        ("Ремонт на Абая, Медеу", "Ремонт на Абая · Медеу"),
        ("Аварийных домов, аварийных", "Аварийных домов"),  # contained keyphrase dropped
        ("дым, Мониторинга воздуха дым", "Мониторинга воздуха дым"),
        ("  Пробки ,  Сайран  ", "Пробки · Сайран"),
        ("ыстық су", "Ыстық су"),
        ("", ""),
        (None, ""),
    ],
)
def test_tidy_topic_label(label: object, expected: str, is_common) -> None:
    assert tidy_topic_label(label, is_common) == expected


def test_tidy_topic_label_without_morphology_keeps_case() -> None:
    assert tidy_topic_label("Переведут ТЭЦ, газ Обещают") == "Переведут ТЭЦ · газ Обещают"


def test_topic_example_is_an_article_title_never_a_comment() -> None:
    docs = [
        _doc("a1", "2026-04-01 10:00", title="Реновация: список домов +7 701 123 45 67"),
        _doc("c1", "2026-04-01 11:00", kind="comment", title="Мой дом, звоните Асель"),
        _doc("c2", "2026-04-02 11:00", kind="comment", title="Только комментарии"),
    ]
    docs[1]["views"] = docs[2]["views"] = 10_000  # more read than the article, still hidden
    doc_topics = pd.DataFrame(
        {"doc_id": ["a1", "c1", "c2"], "topic_id": [0, 0, 1], "topic_prob": 0.9}
    )
    topics = pd.DataFrame(
        {
            "topic_id": [0, 1],
            "label": ["Аварийных домов, жилье", "Согласен автором"],
            "top_words": [["дом"], ["автор"]],
            "keywords": [["дом"], ["автор"]],
            "size": [2, 1],
            "share": 0.5,
            "size_almaty": [2, 1],
            "share_almaty": 0.5,
            "share_kk": 0.0,
            "example_titles": [[], []],
        }
    )
    inputs = make_inputs(docs, doc_topics=doc_topics, topics=topics)
    report = build_report(inputs, "weekly", ["2026-W14"], ReportParams(), TEXTS)
    tab = next(s.table for s in report.sections if s.key == "topics").set_index("topic_id")
    assert tab.loc[0, "example_1"] == "Реновация: список домов [телефон]"
    assert tab.loc[0, "url_1"] == "https://nur.kz/a1" and tab.loc[0, "example_2"] == ""
    assert tab.loc[1, "example_1"] == "" and tab.loc[1, "url_1"] == ""
