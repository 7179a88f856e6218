"""The Kazakh suffix stripper: inflected forms and both spellings meet their base word."""

from __future__ import annotations

import pytest

from pipeline.kazakh_stem import fold, same_stem, stem_phrase, stems


@pytest.mark.parametrize(
    ("form", "base"),
    [
        ("әкімдігі", "әкімдік"),
        ("әкімдігінің", "әкімдік"),
        ("әкімдігімен", "әкімдік"),
        ("әкімдігіне", "әкімдік"),
        ("әкімдігінде", "әкімдік"),
        ("әкімдікке", "әкімдік"),
        ("әкімдіктің", "әкімдік"),
        ("әкімдіктері", "әкімдік"),
        ("басқармасы", "басқарма"),
        ("басқармасының", "басқарма"),
        ("басқармасына", "басқарма"),
        ("басқармасымен", "басқарма"),
        ("ауданының", "аудан"),
        ("ауданы", "аудан"),
        ("ауданда", "аудан"),
        ("қаласының", "қала"),
        ("қаласы", "қала"),
        ("қаладағы", "қала"),
        ("әкімінің", "әкім"),
        ("әкімнің", "әкім"),
        ("мәслихатының", "мәслихат"),
        ("департаментінің", "департамент"),
        ("орынбасары", "орынбасар"),
        ("Алматының", "Алматы"),
        ("Алматыда", "Алматы"),
        # typed without Kazakh letters, or with a Latin i
        ("акимдигинин", "әкімдік"),
        ("акимдиги", "әкімдік"),
        ("баскармасынын", "басқарма"),
        ("ауданынын", "аудан"),
        ("каласынын", "қала"),
        ("әкiмдiгi", "әкімдік"),
        ("маслихаты", "мәслихат"),
    ],
)
def test_inflected_form_meets_base(form: str, base: str) -> None:
    assert same_stem(form, base), (form, sorted(stems(form)), sorted(stems(base)))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("әкім", "әкімдік"),  # the akim is not the akimat
        ("әкімі", "әкімдігі"),
        ("қала", "қалалық"),
        ("аудан", "облыс"),
        ("басқарма", "департамент"),
        ("Медеу", "Түрксіб"),
    ],
)
def test_different_words_stay_apart(a: str, b: str) -> None:
    assert not same_stem(a, b)


@pytest.mark.parametrize("abbr", ["ТЖД", "АЖК", "ПД", "АлТС"])
def test_abbreviations_are_only_folded(abbr: str) -> None:
    assert stems(abbr) == frozenset({fold(abbr)})


@pytest.mark.parametrize(
    ("word", "folded"),
    [("Әкімдігі", "акимдиги"), ("ҚАЛА", "кала"), ("әкiмдiк", "акимдик"), ("Өскемен", "оскемен")],
)
def test_fold_maps_kazakh_letters_and_lookalikes(word: str, folded: str) -> None:
    assert fold(word) == folded


def test_stems_never_shorter_than_three_letters() -> None:
    assert all(len(s) >= 3 for s in stems("ауданнан"))
    assert "ау" not in stems("аудан")


def test_empty_word_has_no_stems() -> None:
    assert stems("") == frozenset()


@pytest.mark.parametrize("text", ["", "123 456", "  ", "—, !"])
def test_text_without_words_has_no_stems(text: str) -> None:
    assert stem_phrase(text) == []


def test_stem_phrase_keeps_word_order() -> None:
    keys = stem_phrase("Медеу ауданының әкімдігі")
    assert len(keys) == 3
    assert "медеу" in keys[0] and "аудан" in keys[1] and "акимдик" in keys[2]
