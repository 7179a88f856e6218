"""Kazakh person names back to their dictionary form."""

import pytest

from pipeline.kazakh_names import kazakh_person_name


@pytest.mark.parametrize(
    ("span", "name"),
    [
        ("Ерболат Досаевтың", "Ерболат Досаев"),  # genitive on the last word only
        ("Ерболат Досаевқа", "Ерболат Досаев"),  # dative
        ("Досаевты", "Досаев"),  # accusative
        ("Досаевпен", "Досаев"),  # instrumental
        ("Досаевтан", "Досаев"),  # ablative
        ("Досаевтын", "Досаев"),  # genitive typed without Kazakh letters
        ("Досаевтин", "Досаев"),
        ("Сағынтаеваның", "Сағынтаева"),  # feminine surname
        ("Асқарға", "Асқар"),  # first name: the ending holds a Kazakh letter
        ("Айгерімді", "Айгерім"),
        ("Бауыржан Байбек", "Бауыржан Байбек"),  # nothing to cut
        ("Қасым-Жомарт Тоқаевтың", "Қасым-Жомарт Тоқаев"),
        ("Ольга", "Ольга"),  # "-га" without a surname left stays
        ("Путин", "Путин"),  # "-тин" would leave two letters
        ("Калинин", "Калинин"),  # "-нин" leaves no surname
        ("ерболат досаевтың", "Ерболат Досаев"),  # capitalised for counting
        ("ЕРБОЛАТ ДОСАЕВТЫҢ", "Ерболат Досаев"),  # upper case counts as the same person
        ("ҚАСЫМ-ЖОМАРТ ТОҚАЕВ", "Қасым-Жомарт Тоқаев"),
        ("", ""),
    ],
)
def test_kazakh_person_name(span: str, name: str) -> None:
    assert kazakh_person_name(span) == name
