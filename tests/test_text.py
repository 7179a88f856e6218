"""Sentence splitter: razdel's rules, Kazakh abbreviations, agreement with razdel on real news."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.text import boundary_agreement, razdel_spans, sentence_spans

SHARED = Path(__file__).resolve().parents[2] / "shared"
ARTICLES = SHARED / "datasets" / "tengrinews_articles_2024_04" / "articles.jsonl"


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Привет. Как дела?", ["Привет.", "Как дела?"]),
        ("Это т.е. пример. И т.д. Далее", ["Это т.е. пример.", "И т.д.", "Далее"]),
        ("В 2024 г. было тепло. Потом нет.", ["В 2024 г. было тепло.", "Потом нет."]),
        ("Встреча на ул. Абая прошла. Всё.", ["Встреча на ул. Абая прошла.", "Всё."]),
        ("Парк им. Горького открыт.", ["Парк им. Горького открыт."]),
        ("Проф. Иванов и др. учёные. Да.", ["Проф. Иванов и др. учёные.", "Да."]),
        ("Бюджет 5 млн. тенге. Дорого.", ["Бюджет 5 млн. тенге.", "Дорого."]),
        ("А. Б. Иванов пришёл.", ["А. Б. Иванов пришёл."]),
        ("Цена 3.5 тыс. Пишет nur.kz сегодня.", ["Цена 3.5 тыс.", "Пишет nur.kz сегодня."]),
        ('Он сказал: "Иди." Потом ушёл.', ['Он сказал: "Иди."', "Потом ушёл."]),
        ("«Всё хорошо!» Так и есть.", ["«Всё хорошо!»", "Так и есть."]),
        ("Вот (см. рис. 1). Далее", ["Вот (см. рис. 1).", "Далее"]),
        ("Что? Нет... Да!", ["Что?", "Нет...", "Да!"]),
        ("Ура :) Завтра выходной.", ["Ура :)", "Завтра выходной."]),
        ("- Привет! - сказал он.", ["- Привет! - сказал он."]),
        ("Итак: 1. Первое. 2. Второе.", ["Итак: 1.", "Первое.", "2. Второе."]),
        # glued paragraphs (no space after the full stop) stay together, as in razdel
        ("Он пришёл.А потом ушёл.", ["Он пришёл.А потом ушёл."]),
        # Kazakh: "Алматы қ." (қаласы) and "Абай көш." (көшесі) do not end a sentence
        ("Алматы қ. Медеу ауданында жол жөнделді.", ["Алматы қ. Медеу ауданында жол жөнделді."]),
        (
            "Абай көш. Жаңа бағдаршам қойылды. Рахмет!",
            ["Абай көш. Жаңа бағдаршам қойылды.", "Рахмет!"],
        ),
        (
            "Мектептер, ауруханалар т.б. салынды. Жақсы.",
            ["Мектептер, ауруханалар т.б. салынды.", "Жақсы."],
        ),
        ("  \n Бір сөйлем.  ", ["Бір сөйлем."]),
    ],
)
def test_sentence_spans_cases(text, expected):
    assert _sentences(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t", None])
def test_empty_text_has_no_sentences(text):
    assert sentence_spans(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Сегодня в Алматы тепло. Завтра похолодает до 5 град. Ночью заморозки!",
        "Он ушёл... И не вернулся?! Странно; никто не знает. Почему?",
        'Аким сказал: "Работы завершат к маю". Жители не верят (и зря). Ждём.',
        "См. стр. 5. Т. е. всё ясно. Акад. Сатпаев жил на пр. Абая, д. 10.",
        "Бүгін Алматыда қар жауды. Жолдар тайғақ! Абай болыңыз.",
    ],
)
def test_matches_razdel_on_plain_text(text):
    assert sentence_spans(text) == razdel_spans(text)


def test_spans_index_into_text_and_do_not_overlap():
    text = "Первое предложение.  Второе!\nТретье? «Четвёртое». Пятое"
    spans = sentence_spans(text)
    assert all(text[a:b] == text[a:b].strip() and a < b for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))


@pytest.mark.shared
@pytest.mark.skipif(not ARTICLES.is_file(), reason="../shared/datasets is absent")
def test_agrees_with_razdel_on_tengrinews_articles():
    lines = ARTICLES.read_text("utf-8").split("\n")
    texts = [json.loads(line)["content"] for line in lines if line.strip()]
    n_ref, n_ours, shared = boundary_agreement(texts)
    assert n_ref > 1000
    assert shared / n_ref >= 0.98 and shared / n_ours >= 0.98
