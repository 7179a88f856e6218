"""Privacy rules of the reports: contact data masked, readers' comments never shown by author."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.privacy import (
    EMAIL_MASK,
    IIN_MASK,
    PHONE_MASK,
    drop_author_fields,
    mask_pii,
    mask_series,
    publication_title,
    publication_titles,
    safe_url,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Звоните +7 701 123 45 67!", f"Звоните {PHONE_MASK}!"),
        ("звоните 701 123 45 67", f"звоните {PHONE_MASK}"),
        ("мой номер 7011234567.", f"мой номер {PHONE_MASK}."),
        ("тел. (701) 123-45-67", f"тел. {PHONE_MASK}"),
        ("ИИН 900101 300123 указан", f"ИИН {IIN_MASK} указан"),
        ("+7 (701) 123-45-67", PHONE_MASK),
        ("приёмная 8 (727) 272-12-34", f"приёмная {PHONE_MASK}"),
        ("87011234567 – мой номер", f"{PHONE_MASK} – мой номер"),
        ("+77011234567", PHONE_MASK),
        ("8-701-123-45-67", PHONE_MASK),
        ("+7 727 2 72 12 34", PHONE_MASK),
        ("Қоңырау шалыңыз: 8 777 123 4567", f"Қоңырау шалыңыз: {PHONE_MASK}"),
        ("тел.: 272-12-34", f"тел.: {PHONE_MASK}"),
        (
            "пишите ivan.petrov@mail.ru или info@akimat.almaty.kz",
            f"пишите {EMAIL_MASK} или {EMAIL_MASK}",
        ),
        ("aruzhan_k87@gmail.com", EMAIL_MASK),
        ("ИИН 870101300123", f"ИИН {IIN_MASK}"),
        ("ЖСН: 990214450789.", f"ЖСН: {IIN_MASK}."),
        ("ИИН870101300123", f"ИИН{IIN_MASK}"),
    ],
)
def test_masks_contacts_and_iin(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Бюджет 80 000 000 000 тенге",
        "сумма 7 750 000 000 тенге",
        "Бюджет 7 700 000 000 тенге",
        "Дата 2026-04-05, 13 апреля 2026 года",
        "В городе 2 228 675 жителей",
        "ул. Абая 150/230, дом 8",
        "номер дела 12345678901234",  # 14 digits: not an IIN
        "Аким Алматы Ерболат Досаев",  # officials stay named
        "әкімдігінің 2026 жылғы жоспары",
    ],
)
def test_leaves_ordinary_numbers(text: str) -> None:
    assert mask_pii(text) == text


@pytest.mark.parametrize("value", [None, float("nan"), pd.NA])
def test_missing_text_is_empty(value: object) -> None:
    assert mask_pii(value) == ""


def test_series_matches_scalar() -> None:
    texts = ["ИИН 870101300123", None, "8 (727) 272-12-34", "просто текст"]
    assert mask_series(pd.Series(texts, dtype="str")).tolist() == [mask_pii(t) for t in texts]


@pytest.mark.parametrize(
    ("title", "kind", "expected"),
    [
        ("Марат_1990 пишет: звоните 87011234567", "comment", "комментарий читателя"),
        ("Акимат ответил, тел. 87011234567", "article", f"Акимат ответил, тел. {PHONE_MASK}"),
        (None, "article", ""),
    ],
)
def test_publication_title(title: object, kind: str, expected: str) -> None:
    assert publication_title(title, kind, "комментарий читателя") == expected
    got = publication_titles(pd.Series([title]), pd.Series([kind]), "комментарий читателя")
    assert got.tolist() == [expected]


def test_author_columns_dropped() -> None:
    df = pd.DataFrame(columns=["doc_id", "author", "user_name", "commenter_nick", "Email", "title"])
    assert list(drop_author_fields(df).columns) == ["doc_id", "title"]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://tengrinews.kz/news/1", True),
        ("http://nur.kz/a?b=1&c=2", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("/relative/path", False),
        ('https://x.kz/"onmouseover="alert(1)', False),
        (None, False),
    ],
)
def test_safe_url(url: object, ok: bool) -> None:
    assert (safe_url(url) == url) is ok
    assert ok or safe_url(url) == ""
