"""The entities stage: extract() on tiny frames, run() round trip, and the evaluator's pieces."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline import schema
from pipeline.config import ConfigError, EntitiesParams, Params
from pipeline.entities import (
    NatashaNER,
    extract,
    extract_parallel,
    person_name,
    refine_ru_orgs,
    run,
)
from pipeline.eval_entities import (
    _brat_spans,
    load_link_set,
    load_nerel,
    outermost,
    pipeline_predictor,
    score_links,
    score_ner,
)
from pipeline.gazetteer import KB_FILE, Gazetteer
from pipeline.io import read_table, write_table
from pipeline.paths import Paths
from pipeline.text import sentence_spans

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
NEREL = SHARED / "datasets" / "nerel_v1_1"

TEXTS = {
    "ru_city": "Аким города Алматы Ерболат Досаев встретился с жителями. "
               "Акимат Медеуского района обещал ремонт.",
    "kk_city": "Медеу ауданының әкімдігі жаңа мектеп салады.",
    "ru_other": "В Астане прошёл форум. Управление образования отчиталось о ремонте школ.",
    "ru_region": "Акимат Алматинской области переехал в Конаев. Акимат обещал дороги.",
    "empty": "",
}
LANGS = {"kk_city": "kk"}


@pytest.fixture(scope="session")
def gaz() -> Gazetteer:
    return Gazetteer.from_yaml(KB_FILE)


@pytest.fixture(scope="session")
def natasha() -> NatashaNER:
    return NatashaNER()


class FakeNER:
    """Tags the first word of every text as PER and counts the texts it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        self.seen += texts
        return [[(0, t.find(" "), "PER")] if " " in t else [] for t in texts]


def frames(texts: dict[str, str] = TEXTS) -> tuple[pd.DataFrame, pd.DataFrame]:
    docs = pd.DataFrame({
        "doc_id": list(texts), "text": list(texts.values()),
        "published_utc": pd.to_datetime(["2026-04-01"] * len(texts), utc=True),
    })
    rows = [(d, i, s, e, LANGS.get(d, "ru")) for d, t in texts.items()
            for i, (s, e) in enumerate(sentence_spans(t))]
    sents = pd.DataFrame(rows, columns=["doc_id", "sent_id", "start", "end", "lang"])
    return docs, sents


def full_documents(docs: pd.DataFrame) -> pd.DataFrame:
    out = docs.copy()
    n = len(out)
    for col, value in [("url", ""), ("site", "test"), ("kind", "article"), ("title", ""),
                       ("week", "2026-W14"), ("views", 0), ("content_hash", ""),
                       ("is_near_duplicate", False), ("copies", 1), ("source_file", "t")]:
        out[col] = [value] * n
    out["story_id"] = out["doc_id"]
    return out


def test_extract_gazetteer_only(gaz: Gazetteer) -> None:
    docs, sents = frames()
    mentions, ents = extract(docs, sents, gaz, None)
    bodies = mentions[mentions["label"] == "BODY"]
    assert list(zip(bodies["doc_id"], bodies["body_id"], bodies["text"], strict=True)) == [
        ("ru_city", "almaty_akim", "Аким города Алматы"),
        ("ru_city", "akimat_medeu", "Акимат Медеуского района"),
        ("kk_city", "akimat_medeu", "Медеу ауданының әкімдігі"),
    ]
    region = mentions[mentions["body_id"] == "almaty_region_akimat"]
    assert list(region["label"]) == ["ORG", "ORG"]  # the trap and its follow-up, never BODY
    assert set(mentions["source"]) == {"gazetteer"}
    row = ents.set_index("doc_id")
    assert row.loc["ru_city", "almaty_related"]
    assert list(row.loc["ru_city", "bodies"]) == ["almaty_akim", "akimat_medeu"]
    assert list(row.loc["kk_city", "bodies"]) == ["akimat_medeu"]
    assert not row.loc["ru_other", "almaty_related"]
    assert not row.loc["ru_region", "almaty_related"]
    assert list(row.loc["ru_region", "bodies"]) == []
    assert row.loc["empty", "n_mentions"] == 0
    assert list(ents["doc_id"]) == list(TEXTS)


@pytest.mark.parametrize(("scope", "expected_docs"), [("almaty", {"ru_city"}),
                                                     ("all", {"ru_city", "ru_other",
                                                              "ru_region"})])
def test_ner_scope_and_russian_sentences_only(gaz: Gazetteer, scope: str,
                                              expected_docs: set[str]) -> None:
    docs, sents = frames()
    ner = FakeNER()
    mentions, _ = extract(docs, sents, gaz, ner, scope)
    per = mentions[mentions["source"] == "natasha"]
    assert set(per["doc_id"]) == expected_docs
    assert not any("ауданының" in t for t in ner.seen)  # Kazakh sentences never reach NER


@pytest.mark.parametrize(("context", "n_sentences"), [(-1, 4), (0, 1), (1, 2)])
def test_ner_context_limits_sentences(gaz: Gazetteer, context: int, n_sentences: int) -> None:
    text = ("Погода будет тёплой. Курс тенге вырос. Нефть дешевеет. "
            "Акимат Алматы объявил тендер.")
    docs, sents = frames({"d": text})
    ner = FakeNER()
    extract(docs, sents, gaz, ner, "almaty", ner_context=context)
    assert len(ner.seen) == n_sentences


def test_natasha_persons_and_overlap_with_bodies(gaz: Gazetteer, natasha: NatashaNER) -> None:
    docs, sents = frames({"d": TEXTS["ru_city"]})
    mentions, ents = extract(docs, sents, gaz, natasha)
    labels = dict(zip(mentions["text"], mentions["label"], strict=True))
    assert labels["Ерболат Досаев"] == "PER"
    assert labels["Аким города Алматы"] == "BODY"
    # natasha's LOC "Алматы" inside the body span is dropped
    assert not ((mentions["text"] == "Алматы") & (mentions["source"] == "natasha")).any()
    assert list(ents.loc[0, "persons"]) == ["Ерболат Досаев"]
    assert ents.loc[0, "n_mentions"] == len(mentions)


@pytest.mark.parametrize(
    ("span", "name"),
    # an unknown first name ("Касым-Жомарта") stays as written; the surname is still normalised
    [("Ерболата Досаева", "Ерболат Досаев"), ("Касым-Жомарта Токаева", "Касым-Жомарта Токаев"),
     ("Досаевым", "Досаев"), ("Анны Токаевой", "Анна Токаева"), ("Анна Токаева", "Анна Токаева")],
)
def test_person_name_is_nominative(gaz: Gazetteer, span: str, name: str) -> None:
    assert person_name(span, gaz.lem.morph) == name


def test_bad_sentences_are_set_aside_with_a_reason(gaz: Gazetteer) -> None:
    docs, sents = frames({"a": "Акимат Алматы ответил."})
    bad = pd.DataFrame([("a", 7, 0, 999, "ru"), ("ghost", 0, 0, 5, "ru"), ("a", 8, 5, 5, "ru")],
                       columns=sents.columns)
    skipped: list[dict] = []
    mentions, _ = extract(docs, pd.concat([sents, bad]), gaz, None, skipped=skipped)
    assert len(mentions) == 1
    assert sorted(s["reason"].split(" ")[0] for s in skipped) == ["doc_id", "offsets", "offsets"]


def test_bad_input_is_refused(gaz: Gazetteer) -> None:
    docs, sents = frames()
    with pytest.raises(TypeError, match="DataFrame"):
        extract(docs["text"].tolist(), sents, gaz, None)
    with pytest.raises(ValueError, match="missing columns"):
        extract(docs.drop(columns=["text"]), sents, gaz, None)
    with pytest.raises(ConfigError, match="ner_scope"):
        extract(docs, sents, gaz, None, ner_scope="kazakhstan")


def test_output_frames_match_the_schema(gaz: Gazetteer, tmp_path: Path) -> None:
    docs, sents = frames()
    mentions, ents = extract(docs, sents, gaz, FakeNER(), "all")
    write_table(mentions, tmp_path / "m.parquet", schema.MENTIONS)
    write_table(ents, tmp_path / "e.parquet", schema.DOC_ENTITIES)
    empty_m, empty_e = extract(docs.iloc[:0], sents.iloc[:0], gaz, None)
    assert list(empty_m.columns) == schema.MENTIONS.columns and empty_e.empty


def test_parallel_matches_serial(gaz: Gazetteer) -> None:
    docs, sents = frames()
    serial = extract(docs, sents, gaz, FakeNER(), "all")
    parallel = extract_parallel(docs, sents, gaz, FakeNER(), "all", workers=2, chunk_docs=2)
    for a, b in zip(serial, parallel, strict=True):
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_run_round_trip(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    shutil.copy(KB_FILE, tmp_path / "configs" / "city_bodies.yaml")
    paths = Paths(tmp_path)
    docs, sents = frames()
    write_table(full_documents(docs), paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    write_table(sents.astype({"sent_id": "int32", "start": "int32", "end": "int32"}),
                paths.table(schema.SENTENCES), schema.SENTENCES)
    params = Params(entities=EntitiesParams(use_ner=True, ner_scope="almaty", workers=1))
    run(params, paths)
    mentions = read_table(paths.table(schema.MENTIONS), schema.MENTIONS)
    ents = read_table(paths.table(schema.DOC_ENTITIES), schema.DOC_ENTITIES)
    assert set(mentions.loc[mentions["label"] == "BODY", "body_id"]) == {"almaty_akim",
                                                                         "akimat_medeu"}
    assert "PER" in set(mentions["label"])
    assert len(ents) == len(TEXTS)
    assert (paths.metrics / "entities_run.json").exists()


def test_run_without_inputs_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run the stage"):
        run(Params(), Paths(tmp_path))


# ---- evaluator pieces --------------------------------------------------------------------------
def test_labelled_link_set_size_and_targets(gaz: Gazetteer) -> None:
    items = load_link_set(ROOT / "data" / "raw" / "labeled" / "city_body_links.jsonl")
    assert sum(i["lang"] == "ru" for i in items) >= 150
    assert sum(i["lang"] == "kk" for i in items) >= 60
    assert sum(not i["gold"] for i in items) >= 30  # negatives
    result = score_links(items, gaz)
    for lang in ("ru", "kk"):
        assert result[lang]["precision"] >= 0.95, result["errors"]
        assert result[lang]["recall"] >= 0.90, result["errors"]
        assert result[lang]["trap_errors"] == 0


def test_score_links_counts_errors(gaz: Gazetteer) -> None:
    items = [
        {"id": "x", "lang": "ru", "text": "Акимат Алматы ответил.",
         "gold": [{"start": 0, "end": 13, "body_id": "almaty_akimat"}]},
        {"id": "y", "lang": "ru", "text": "Жители Алматы ждут ответа.",
         "gold": [{"start": 7, "end": 13, "body_id": "almaty_akimat"}]},  # deliberately wrong
    ]
    r = score_links(items, gaz)["ru"]
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 1)


def test_brat_parsing_and_outermost_spans() -> None:
    ann = ["T1\tORGANIZATION 0 33\tДепартамент полиции города Москвы\n",
           "T2\tCITY 27 33\tМосквы\n", "T3\tPERSON 40 52\tИван Петров\n",
           "T4\tPROFESSION 60 70\tврач\n", "T5\tPERSON 80 84;90 95\tразрыв\n",
           "R1\tWORKPLACE Arg1:T3 Arg2:T1\n"]
    spans = _brat_spans(ann)
    assert spans == {(0, 33, "ORG"), (27, 33, "LOC"), (40, 52, "PER")}
    assert outermost(spans) == {(0, 33, "ORG"), (40, 52, "PER")}


def test_score_ner_exact_spans() -> None:
    docs = [("текст", {(0, 5, "PER"), (10, 15, "LOC")})]
    r = score_ner(docs, lambda _: {(0, 5, "PER"), (10, 14, "LOC")})
    assert r["PER"]["f1"] == 1.0 and r["LOC"]["tp"] == 0 and r["micro"]["fp"] == 1


@pytest.mark.shared
def test_nerel_test_split_loads() -> None:
    if not NEREL.is_dir():
        pytest.skip("../shared/datasets/nerel_v1_1 is absent")
    docs = load_nerel(NEREL)
    assert len(docs) == 93
    assert all(isinstance(t, str) and gold for t, gold in docs[:5])


def test_cli_evaluator_without_nerel(capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline import eval_entities

    parser = argparse.ArgumentParser()
    eval_entities.add_arguments(parser)
    args = parser.parse_args(["--no-nerel", "--no-kaznerd", "--errors", "0"])
    args.root = str(ROOT)
    assert eval_entities.main(args) == 0
    out = capsys.readouterr().out
    assert "linking ru" in out and "NEREL: skipped" in out
    assert "KazNERD kk_ner: skipped (disabled)" in out


def test_kaznerd_evaluation_skips_with_a_reason(tmp_path: Path) -> None:
    from pipeline.eval_entities import evaluate_kk_ner

    model = ROOT / "models" / "kk_ner"
    assert evaluate_kk_ner(model, None) == {"skipped": "disabled"}
    assert "not found" in evaluate_kk_ner(model, tmp_path)["skipped"]
    (tmp_path / "IOB2_test.txt").write_text("Алматы B-GPE\n", encoding="utf-8")
    assert "no model" in evaluate_kk_ner(tmp_path / "none", tmp_path)["skipped"]


def test_kaznerd_evaluation_on_a_tiny_file(tmp_path: Path) -> None:
    from pipeline.eval_entities import evaluate_kk_ner

    model = ROOT / "models" / "kk_ner"
    if not (model / "config.cfg").is_file():
        pytest.skip("models/kk_ner is absent")
    (tmp_path / "IOB2_test.txt").write_text(
        "Ерболат B-PERSON\nДосаев I-PERSON\nкелді O\n. O\n", encoding="utf-8")
    r = evaluate_kk_ner(model, tmp_path)
    assert r["sentences"] == 1 and r["scores"]["PER"]["tp"] == 1 and r["sentences_per_s"] > 0


# ---- Kazakh NER in the stage --------------------------------------------------------------------
class FakeKkNER:
    """Tags "Досаев" as PER, "Алматыда" as GPE and "бүгін" as DATE; counts the texts it saw."""

    TAGS = {"Досаев": "PER", "Алматыда": "GPE", "бүгін": "DATE"}

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        self.seen += texts
        return [[(t.find(w), t.find(w) + len(w), lab) for w, lab in self.TAGS.items() if w in t]
                for t in texts]


KK_TEXTS = {
    "kk": "Ерболат Досаев бүгін Алматыда жиналыс өткізді. Медеу ауданының әкімдігі жаңа "
          "мектеп салады.",
    "ru": "Досаев приехал в Алматы. Акимат Алматы объявил тендер.",
}


def test_kazakh_sentences_go_to_the_kazakh_model(gaz: Gazetteer) -> None:
    docs, sents = frames(KK_TEXTS)
    sents["lang"] = sents["doc_id"].map({"kk": "kk", "ru": "ru"})
    ru, kk = FakeNER(), FakeKkNER()
    mentions, _ = extract(docs, sents, gaz, ru, "all", kk_ner=kk)
    assert kk.seen and all("ауданы" in t or "Досаев" in t for t in kk.seen)
    assert not any("приехал" in t for t in kk.seen) and not any("өткізді" in t for t in ru.seen)
    got = mentions[mentions["source"] == "kk_ner"]
    rows = set(zip(got["text"], got["label"], got["lang"], strict=True))
    # GPE becomes LOC; DATE is not a pipeline label and is dropped
    assert rows == {("Досаев", "PER", "kk"), ("Алматыда", "LOC", "kk")}
    assert set(mentions.loc[mentions["source"] == "natasha", "lang"]) == {"ru"}


def test_kazakh_model_spans_overlapping_a_body_are_dropped(gaz: Gazetteer) -> None:
    class OrgOnBody:
        def __call__(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
            return [[(0, 24, "ORG")] if t.startswith("Медеу") else [] for t in texts]

    docs, sents = frames({"kk": KK_TEXTS["kk"]})
    sents["lang"] = "kk"
    mentions, _ = extract(docs, sents, gaz, None, "all", kk_ner=OrgOnBody())
    assert list(mentions["source"]) == ["gazetteer"]  # the gazetteer's body span wins


def test_missing_kazakh_model_warns_and_continues(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from pipeline.entities import load_kk_ner

    with caplog.at_level("WARNING"):
        assert load_kk_ner(tmp_path / "models" / "kk_ner") is None
    assert "gazetteer only" in caplog.text


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("ru", "Управление внутренней политики города Алматы провело встречу.",
         "Управление внутренней политики города Алматы"),
        ("ru", "Сотрудники управления внутренней политики Алматы провели форум.",
         "управления внутренней политики Алматы"),
        ("ru", "В УВП Алматы рассказали о планах.", "УВП Алматы"),
        ("ru", "Представители УВП г. Алматы встретились с молодёжью.", "УВП г. Алматы"),
        ("kk", "Алматы қаласының Ішкі саясат басқармасының өкілдері келді.",
         "Алматы қаласының Ішкі саясат басқармасының"),
        ("kk", "Алматы каласынын Ишки саясат баскармасы жастармен кездести.",
         "Алматы каласынын Ишки саясат баскармасы"),  # typed without Kazakh letters
        ("kk", "Алматы қаласының Iшкi саясат басқармасы жиын өткізді.",
         "Алматы қаласының Iшкi саясат басқармасы"),  # Latin i
        # not the Almaty body: another city, lower-case abbreviation, the police (УВД)
        ("ru", "УВП Шымкента провело встречу.", None),
        ("ru", "В Астане управление внутренней политики провело форум.", None),
        ("ru", "Увп провело встречу в Алматы.", None),
        ("ru", "Управление внутренних дел Алматы сообщило.", None),
        ("kk", "Шымкент қаласының Ішкі саясат басқармасы жиын өткізді.", None),
    ],
)
def test_internal_policy_department(gaz: Gazetteer, lang: str, text: str,
                                    expected: str | None) -> None:
    sents = [(i, s, e, lang) for i, (s, e) in enumerate(sentence_spans(text))]
    found = [(text[k.start:k.end], k.body_id) for k in gaz.link(text, sents).links
             if k.body_id == "dept_internal_policy"]
    assert found == ([(expected, "dept_internal_policy")] if expected else [])


# ---- Russian ORG refinement -----------------------------------------------------------------
def _offsets(text: str, spans: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    out = []
    for part, label in spans:
        start = text.index(part)
        out.append((start, start + len(part), label))
    return out


ORG_CASES = [
    # (text, natasha-like input spans, expected ORG texts)
    ("Министерство здравоохранения объявило карантин.", [], ["Министерство здравоохранения"]),
    ("Верховный суд Казахстана отменил приговор.",
     [("Верховный суд", "ORG"), ("Казахстана", "LOC")], ["Верховный суд Казахстана"]),
    ("Маслихат города Алматы утвердил бюджет.", [("Алматы", "LOC")],
     ["Маслихат города Алматы"]),
    ("Департамент полиции Алматы сообщил о задержании.", [("Алматы", "LOC")],
     ["Департамент полиции Алматы"]),
    ("Управление по Алматинской области сообщило о проверке.",
     [("Алматинской области", "LOC")], ["Управление по Алматинской области"]),
    ("Сотрудники ТОО «Алатау Жарык» вышли на линию.", [("ТОО «Алатау Жарык»", "ORG")],
     ["Алатау Жарык"]),
    ("Договор подписал АО «Казахтелеком».", [], ["Казахтелеком"]),
    ("Агентство по делам государственной службы (АДГС) провело проверку.",
     [("Агентство по делам государственной службы (АДГС)", "ORG")],
     ["Агентство по делам государственной службы", "АДГС"]),
    ('Заявление партии "Аманат" опубликовано.', [('партии "Аманат', "ORG")],
     ['партии "Аманат"']),
    ("Полиция начала проверку.", [], ["Полиция"]),
    ("Жители критиковали свое правительство.", [], ["правительство"]),
    ("Об этом сообщили СМИ.", [("СМИ", "ORG")], []),
    ("Он дал совет соседу.", [], []),
    ("Новый банк открылся вчера.", [], []),
    ("Банк Ивана Петрова закрылся.", [("Ивана Петрова", "PER")], []),
    ("", [], []),
]


@pytest.mark.parametrize(("text", "spans", "orgs"), ORG_CASES)
def test_refine_ru_orgs(gaz: Gazetteer, text: str, spans: list[tuple[str, str]],
                        orgs: list[str]) -> None:
    got = refine_ru_orgs(text, _offsets(text, spans), gaz.lem.morph)
    assert sorted(text[s:e] for s, e, lab in got if lab == "ORG") == sorted(orgs)


def test_refine_ru_orgs_keeps_persons_and_free_places(gaz: Gazetteer) -> None:
    text = "Ерлан Карин прилетел в Астану, а Банк Ивана Петрова закрылся."
    spans = _offsets(text, [("Ерлан Карин", "PER"), ("Астану", "LOC"),
                            ("Ивана Петрова", "PER")])
    assert refine_ru_orgs(text, spans, gaz.lem.morph) == sorted(spans)


def test_refine_ru_orgs_places_absorbed_into_an_org_are_not_places(gaz: Gazetteer) -> None:
    text = "Верховный суд Казахстана отменил приговор."
    got = refine_ru_orgs(text, _offsets(text, [("Казахстана", "LOC")]), gaz.lem.morph)
    assert [lab for *_, lab in got] == ["ORG"]


def test_natasha_with_morph_refines_orgs(gaz: Gazetteer, natasha: NatashaNER) -> None:
    text = "Министерство здравоохранения Казахстана объявило карантин."
    plain = {text[s:e] for s, e, lab in natasha([text])[0] if lab == "ORG"}
    refined = NatashaNER.__new__(NatashaNER)
    refined.tagger, refined.morph = natasha.tagger, gaz.lem.morph
    got = {text[s:e] for s, e, lab in refined([text])[0] if lab == "ORG"}
    assert got == {"Министерство здравоохранения Казахстана"}
    assert plain != got


def test_pipeline_predictor_counts_city_bodies_as_org(gaz: Gazetteer,
                                                      natasha: NatashaNER) -> None:
    text = "Акимат Медеуского района обещал ремонт дорог."
    got = pipeline_predictor(natasha, gaz)(text)
    assert (0, len("Акимат Медеуского района"), "ORG") in got
    assert not any(lab == "LOC" and s < 24 for s, _, lab in got)


def test_publication_dates_are_almaty_local() -> None:
    from pipeline.entities import _dates

    docs = pd.DataFrame({"published_utc": pd.to_datetime(["2026-10-31T21:30:00Z"], utc=True)})
    assert _dates(docs) == ["2026-11-01"]  # 02:30 on 1 November in Almaty


def test_kazakh_persons_are_counted_in_dictionary_form(gaz: Gazetteer) -> None:
    class Inflected:
        def __call__(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
            w = "Ерболат Досаевтың"
            return [[(t.find(w), t.find(w) + len(w), "PER")] if w in t else [] for t in texts]

    text = "Ерболат Досаевтың сөзінше, Медеу ауданының әкімдігі мектеп салады."
    docs, sents = frames({"kk": text})
    sents["lang"] = "kk"
    _, ents = extract(docs, sents, gaz, FakeNER(), "all", kk_ner=Inflected())
    assert list(ents.loc[0, "persons"]) == ["Ерболат Досаев"]
