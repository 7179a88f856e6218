"""Language stage: back-ends on hard Russian/Kazakh cases, document and sentence labels, run()."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline import io, schema
from pipeline.config import LanguageParams, Params
from pipeline.language import (
    KazEvidenceDetector,
    _plainly_russian,
    build_detector,
    clear_caches,
    detect_document,
    detect_frame,
    evidence,
    run,
)
from pipeline.paths import Paths

PARAMS = LanguageParams()


@pytest.fixture(scope="session")
def hybrid():
    return build_detector("hybrid", PARAMS)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Алматы қаласының әкімдігі жаңа саябақ ашты.", "kk"),
        # Kazakh typed without Kazakh letters
        ("Алматы каласынын акимдиги жане тургындар жиналысы откизди", "kk"),
        ("бул жерде жол жок, ушин не истейди акимдик", "kk"),
        ("Алматы каласы жане облысы", "kk"),
        # Latin look-alikes (i for і)
        ("Бiз бүгiн Алматыда болдық", "kk"),
        # Russian with Kazakh place names
        ("В выходные мы поднялись на Медеу и Көктөбе.", "ru"),
        ("Поехали на Көктөбе.", "ru"),
        ("Жители района Медеу жалуются на пробки.", "ru"),
        ("Аким Алматы провел встречу с жителями Алатауского района.", "ru"),
        # a mixed sentence with more Kazakh than Russian
        ("Сегодня в Алматы открылась новая школа, бұл өте жақсы жаңалық!", "kk"),
        # look-alike languages and non-Cyrillic text
        ("Київ є столицею України, і це велике місто.", "other"),
        ("Він сказав, що ми підемо додому завтра.", "other"),
        ("Бишкек шаарында жаңы мектеп ачылды, бүгүн окуучулар келишти.", "other"),
        ("Мінск — сталіца Беларусі, і ў горадзе шмат людзей.", "other"),
        ("София е столицата на България и най-големият град в страната.", "other"),
        ("Београд је главни град Србије.", "other"),
        ("The city council approved the new budget today.", "other"),
    ],
)
def test_hybrid_hard_cases(hybrid, text, lang):
    assert hybrid.detect([text])[0].lang == lang


@pytest.mark.parametrize(
    "text", ["", "   \n", "😀😀🎉", "12345 67 89", "https://example.com/a?b=1"]
)
@pytest.mark.parametrize("backend", ["hybrid", "lingua", "fasttext", "kazletters"])
def test_degenerate_text_is_other_with_zero_confidence(hybrid, backend, text):
    detector = hybrid if backend == "hybrid" else build_detector(backend, PARAMS)
    guess = detector.detect([text])[0]
    assert (guess.lang, guess.confidence) == ("other", 0.0)


@pytest.mark.parametrize(
    ("text", "kk_more"),
    [
        ("жане бул ушин", True),
        ("горизонтальды вертикальды", True),
        ("каласынын тургындары", True),
        ("сообщает пресс-служба городского акимата", False),
        ("который был открыт в прошлом году", False),
    ],
)
def test_evidence_direction(text, kk_more):
    ev = evidence(text)
    assert (ev.kk_score > ev.ru_score) is kk_more


def test_kazletters_backend_is_rules_only():
    det = KazEvidenceDetector(kk_letter_share=0.2)
    assert [g.lang for g in det.detect(["Бұл өте жақсы", "Это очень хорошо сделано"])] == [
        "kk",
        "ru",
    ]


def test_unknown_backend_fails_clearly():
    with pytest.raises(ValueError, match="unknown back-end"):
        build_detector("langdetect", PARAMS)


@pytest.mark.parametrize(
    ("title", "text", "lang", "sentence_langs"),
    [
        (
            "",
            "Алматы қаласында жаңа мектеп ашылды. Школа рассчитана на 600 мест и откроется в "
            "сентябре.",
            "mixed",
            ["kk", "ru"],
        ),
        # the short weak "Керемет!" borrows the document's Kazakh
        (
            "",
            "Алматы қаласының әкімдігі жаңа саябақ ашты. Керемет! Саябақ қаланың орталығында "
            "орналасқан.",
            "kk",
            ["kk", "kk", "kk"],
        ),
        (
            "Новости Алматы",
            "В Медеуском районе отремонтировали дорогу. Жители довольны. Ок.",
            "ru",
            ["ru", "ru", "ru"],
        ),
        ("", "https://tengrinews.kz/news/1", "other", ["other"]),
        ("", "😀😀😀 🎉", "other", ["other"]),
        ("", "", "other", []),
        (None, None, "other", []),
    ],
)
def test_detect_document(hybrid, title, text, lang, sentence_langs):
    doc = detect_document(title, text, hybrid, PARAMS)
    assert doc.lang == lang
    assert [s[2] for s in doc.sentences] == sentence_langs
    assert 0.0 <= doc.confidence <= 1.0
    assert 0.0 <= doc.share_ru + doc.share_kk <= 1.0 + 1e-9
    if lang == "other" and not (title or "").strip():
        assert doc.confidence == 0.0


def test_document_shares_and_sample_bound(hybrid):
    kk = "Алматы қаласының әкімдігі жаңа саябақ ашты. " * 3
    ru = "Школа рассчитана на шестьсот мест и откроется в сентябре. " * 30
    params = LanguageParams(sample_chars=len(kk))
    doc = detect_document("", kk + ru, hybrid, params)
    assert (doc.lang, doc.share_kk) == ("kk", 1.0)  # the sample holds only the Kazakh head
    assert {s[2] for s in doc.sentences} == {"kk", "ru"}  # every sentence is still labelled


def test_detect_frame_rejects_missing_columns(hybrid):
    with pytest.raises(ValueError, match="lacks columns"):
        detect_frame(pd.DataFrame({"doc_id": ["a"]}), hybrid, PARAMS)


def test_detect_frame_is_deterministic(hybrid):
    docs = pd.DataFrame(
        {
            "doc_id": ["a", "b"],
            "title": ["Жаңалықтар", None],
            "text": ["Бүгін Алматыда қар жауды. Жолдар тайғақ.", "Сегодня в Алматы снег."],
        }
    )
    first = detect_frame(docs, hybrid, PARAMS)
    second = detect_frame(docs, hybrid, PARAMS)
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)


def _documents(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    n = len(rows)
    return pd.DataFrame(
        {
            "doc_id": [r[0] for r in rows],
            "url": [f"https://example.kz/{r[0]}" for r in rows],
            "site": ["other"] * n,
            "kind": ["article"] * n,
            "title": [r[1] for r in rows],
            "text": [r[2] for r in rows],
            "published_utc": pd.to_datetime(["2026-04-01T10:00:00Z"] * n, utc=True),
            "week": ["2026-W14"] * n,
            "views": [1] * n,
            "content_hash": [r[0] for r in rows],
            "story_id": [r[0] for r in rows],
            "is_near_duplicate": [False] * n,
            "copies": [1] * n,
            "source_file": ["test.jsonl"] * n,
        }
    )


def test_run_round_trip(tmp_path):
    paths = Paths(tmp_path)
    rows = [
        ("ru1", "Пробки в Алматы", "Утром на Аль-Фараби образовалась пробка. Водители недовольны."),
        ("kk1", "Алматы жаңалықтары", "Алматыда жаңа мектеп ашылды. Оқушылар қуанышты."),
        ("mx1", "", "Алматыда жаңа мектеп ашылды. Школа откроется в сентябре для всех детей."),
        ("em1", "", ""),
    ]
    io.write_table(_documents(rows), paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    run(Params(), paths)
    langs = io.read_table(paths.table(schema.LANGUAGES), schema.LANGUAGES)
    sents = io.read_table(paths.table(schema.SENTENCES), schema.SENTENCES)
    assert dict(zip(langs["doc_id"], langs["lang"], strict=True)) == {
        "ru1": "ru",
        "kk1": "kk",
        "mx1": "mixed",
        "em1": "other",
    }
    texts = dict((r[0], r[2]) for r in rows)
    for row in sents.itertuples():
        assert 0 <= row.start < row.end <= len(texts[row.doc_id])
        assert row.lang in {"ru", "kk", "other"}
    assert list(sents[sents.doc_id == "mx1"]["lang"]) == ["kk", "ru"]
    assert list(sents[sents.doc_id == "kk1"]["sent_id"]) == [0, 1]


# Comment-style examples written for these tests (not taken from any dataset).
@pytest.mark.parametrize(
    ("text", "lang"),
    [
        # Kazakh typed without Kazakh letters, with ы and no Russian function word
        ("Иманды болсын", "kk"),
        ("Алла разы болсын!", "kk"),
        ("Колдаймын", "kk"),
        ("дурыс айтасыз", "kk"),
        ("Жана Казахстан", "kk"),
        # frequent Russian one-word reactions
        ("Ужас", "ru"),
        ("ужас!", "ru"),
        ("Позор", "ru"),
        ("дай бог здоровья", "ru"),
        # Russian sentences that name Kazakh places or people in Kazakh spelling
        ("В Қызылорде вчера открыли новый мост через реку.", "ru"),
        ("Жители Шымкента и Өскемена недовольны ростом цен на газ.", "ru"),
        ("Депутат Ерғали встретился с жителями микрорайона вчера вечером.", "ru"),
        # mixed comments: a Russian and a Kazakh sentence
        ("Очень жаль ребёнка. Иманды болсын.", "mixed"),
        ("Рахмет, жігіттер! Вы настоящие герои.", "mixed"),
    ],
)
def test_comment_style_documents(hybrid, text, lang):
    assert detect_document("", text, hybrid, PARAMS).lang == lang


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("Сегодня в городе было очень тепло.", True),
        ("Мы вышли на улицу и увидели снег.", True),
        ("Иманды болсын", False),  # no Russian function word
        ("В Қызылорде тепло и солнечно было.", False),  # a Kazakh letter
        ("Бул жерде жол жок, что было.", False),  # a Kazakh word typed in Russian letters
        ("Вiн сказав, що ми були вдома.", False),  # a Latin look-alike letter
        ("Він пішов на роботу.", False),  # no ы/э/ё
    ],
)
def test_plain_russian_quick_reject(text, plain):
    assert _plainly_russian(text) is plain


def test_word_evidence_is_cached_and_clearable():
    clear_caches()
    first = evidence("Алматы каласынын тургындары жиналды")
    assert evidence("Алматы каласынын тургындары жиналды") == first
    clear_caches()
    assert evidence("Алматы каласынын тургындары жиналды") == first
