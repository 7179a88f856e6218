"""Kazakh NER: KazNERD reading, span conversion, block split, normalisation, the shipped model."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import kk_ner

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
KAZNERD = SHARED / "datasets" / "kaznerd"
MODEL = ROOT / "models" / "kk_ner"


def _sent(words: str, tags: str) -> kk_ner.Sentence:
    return list(zip(words.split(), tags.split(), strict=True))


@pytest.fixture(scope="session")
def model() -> kk_ner.KazakhNER:
    if not (MODEL / "config.cfg").is_file():
        pytest.skip("models/kk_ner is absent (python -m pipeline.train_kk_ner)")
    return kk_ner.KazakhNER(MODEL)


# ---- data ---------------------------------------------------------------------------------------
def test_read_iob2(tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("Ерболат B-PERSON\nДосаев I-PERSON\nкелді O\n\n\nАлматыда B-GPE\n",
                 encoding="utf-8")
    assert kk_ner.read_iob2(f) == [
        [("Ерболат", "B-PERSON"), ("Досаев", "I-PERSON"), ("келді", "O")],
        [("Алматыда", "B-GPE")],
    ]


@pytest.mark.parametrize("line", ["Алматы", "Алматы X-GPE", "Алматы GPE", " B-GPE"])
def test_read_iob2_refuses_bad_lines(tmp_path: Path, line: str) -> None:
    f = tmp_path / "bad.txt"
    f.write_text(f"Ол O\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt:2"):
        kk_ner.read_iob2(f)


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        ("B-PERSON I-PERSON O", [(0, 2, "PER")]),
        ("B-ORGANISATION I-ORGANISATION I-ORGANISATION", [(0, 3, "ORG")]),
        ("B-GPE B-GPE O", [(0, 1, "GPE"), (1, 2, "GPE")]),  # two entities side by side
        ("O I-LOCATION I-LOCATION", [(1, 3, "LOC")]),  # a stray I- starts an entity
        ("B-GPE I-PERSON", [(0, 1, "GPE"), (1, 2, "PER")]),  # I- of another class
        ("B-DATE O B-POSITION", [(0, 1, "DATE"), (2, 3, "POSITION")]),  # others keep names
        ("O O", []),
    ],
)
def test_iob_spans(tags: str, spans: list[tuple[int, int, str]]) -> None:
    assert kk_ner.iob_spans(tags.split()) == spans


def test_block_split_keeps_blocks_and_drops_shared_sentences() -> None:
    sents = [_sent(f"сөз{i} келді", "O O") for i in range(40)]
    sents[3] = sents[39]  # the same sentence in train and in dev
    train, dev = kk_ner.block_split(sents, dev_blocks=1, n_blocks=10)
    assert dev == sents[36:]  # one contiguous block at the end, not a random slice
    assert len(train) == 35 and sents[39] not in train
    with pytest.raises(ValueError, match="no sentences"):
        kk_ner.block_split([])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Алматы қаласының Iшкi саясат", "Алматы қаласының Ішкі саясат"),  # Latin i for і
        ("Аkимат Medeu", "Акимат Medeu"),  # only words with Cyrillic letters change
        ("COVID-19 жағдайы", "COVID-19 жағдайы"),  # a Latin word stays Latin
        ("", ""),
    ],
)
def test_normalize_fixes_lookalikes_and_keeps_offsets(text: str, expected: str) -> None:
    assert kk_ner.normalize(text) == expected
    assert len(kk_ner.normalize(text)) == len(text)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Қасым-Жомарт Тоқаев", ["Қасым-Жомарт", "Тоқаев"]),
        ("«Алматы Су» ЖШС-нің", ["«", "Алматы", "Су", "»", "ЖШС-нің"]),
        ("2020-2021 жылы", ["2020", "-", "2021", "жылы"]),  # number ranges still split
    ],
)
def test_tokeniser_keeps_hyphenated_words(text: str, tokens: list[str]) -> None:
    import spacy

    nlp = kk_ner.keep_hyphenated_words(spacy.blank("xx"))
    assert [t.text for t in nlp(text)] == tokens


def test_missing_model_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train_kk_ner"):
        kk_ner.KazakhNER(tmp_path / "nothing")


def test_train_save_load_round_trip(tmp_path: Path) -> None:
    sents = [_sent("Ерболат Досаев Алматыға келді .", "B-PERSON I-PERSON B-GPE O O"),
             _sent("Медеу ауданында жол жөнделді .", "B-LOCATION O O O O")] * 4
    nlp, history = kk_ner.train(sents, sents[:2], epochs=2, max_seconds=60, seed=1)
    assert [h["epoch"] for h in history] == [1, 2] and "dev_micro_f1" in history[0]
    kk_ner.save(nlp, tmp_path / "m")
    ner = kk_ner.KazakhNER(tmp_path / "m")
    assert set(ner.nlp.get_pipe("ner").labels) == {"PER", "GPE", "LOC"}
    out = ner(["Ерболат Досаев Алматыға келді .", ""])
    assert len(out) == 2 and out[1] == []
    assert all(0 <= s < e <= 31 for s, e, _ in out[0])


def test_score_counts_exact_spans(model: kk_ner.KazakhNER) -> None:
    ex = kk_ner.to_examples(model.nlp, [_sent("Ерболат Досаев келді", "B-PERSON I-PERSON O")])
    r = kk_ner.score(model.nlp, ex)
    assert r["micro"]["tp"] + r["micro"]["fn"] == 1


# ---- the shipped model --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "span", "label"),
    [
        ("Алматы қаласының әкімі Ерболат Досаев жиналыс өткізді .", "Ерболат Досаев", "PER"),
        ("Қазақстан мен Қытай арасындағы сауда өсті .", "Қытай", "GPE"),
        ("Ерболат Досаевтың айтуынша, метро салынады.", "Ерболат Досаевтың", "PER"),
        ("Іле Алатауы ұлттық паркінде өрт шықты.", "Іле Алатауы", "LOC"),
        # the tokeniser keeps hyphenated names whole, as KazNERD does
        ("Мемлекет басшысы Қасым-Жомарт Тоқаев сөз сөйледі.", "Қасым-Жомарт Тоқаев", "PER"),
        ("Бүгін Алматыда жаңа мектеп ашылды .", "Алматыда", "GPE"),
        ("Бүгін Aлматыда жаңа мектеп ашылды .", "Aлматыда", "GPE"),  # Latin A
    ],
)
def test_shipped_model_finds_entities(model: kk_ner.KazakhNER, text: str, span: str,
                                      label: str) -> None:
    found = {(text[s:e], lab) for s, e, lab in model([text])[0]}
    assert (span, label) in found, found


def test_shipped_model_is_small_and_has_a_card() -> None:
    if not MODEL.is_dir():
        pytest.skip("models/kk_ner is absent")
    size = sum(f.stat().st_size for f in MODEL.rglob("*") if f.is_file())
    assert size <= 10 * 1024 * 1024
    assert not list(MODEL.rglob("*.pkl")) and not list(MODEL.rglob("*.pickle"))
    card = (MODEL / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in card and "KazNERD" in card


@pytest.mark.shared
def test_kaznerd_test_slice_scores(model: kk_ner.KazakhNER) -> None:
    if not (KAZNERD / "IOB2_test.txt").is_file():
        pytest.skip("../shared/datasets/kaznerd is absent")
    sents = kk_ner.read_iob2(KAZNERD / "IOB2_test.txt")[:2000]
    r = kk_ner.score(model.nlp, kk_ner.to_examples(model.nlp, sents))
    assert r["PER"]["f1"] >= 0.8 and r["GPE"]["f1"] >= 0.8 and r["micro"]["f1"] >= 0.75, r
