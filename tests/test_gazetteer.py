"""The city-body gazetteer: inflection, word order, both languages, traps, follow-ups."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipeline.gazetteer import KB_FILE, Gazetteer, KnowledgeBaseError, Lemmatizer
from pipeline.text import sentence_spans

CANONICAL_IDS = {
    "almaty_akimat", "almaty_akim", "almaty_deputy_akim", "almaty_maslikhat",
    "akimat_alatau", "akimat_almaly", "akimat_auezov", "akimat_bostandyk", "akimat_zhetysu",
    "akimat_medeu", "akimat_nauryzbay", "akimat_turksib",
    "dept_mobility", "dept_energy", "dept_health", "dept_education", "dept_ecology",
    "dept_housing", "dept_green", "dept_construction", "dept_culture", "dept_internal_policy",
    "police_almaty", "dchs_almaty",
    "almaty_su", "almaty_teplo", "alatau_zharyk", "almatyelektrotrans", "onay", "almaty_metro",
    "almaty_tazalyk", "almaty_region_akimat", "transport_police",
}


@pytest.fixture(scope="session")
def kb() -> dict:
    return yaml.safe_load(KB_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def lemmatizer() -> Lemmatizer:
    return Lemmatizer()


@pytest.fixture(scope="session")
def gaz(kb: dict, lemmatizer: Lemmatizer) -> Gazetteer:
    return Gazetteer(kb, lemmatizer)


def links(gaz: Gazetteer, text: str, lang: str = "ru", date: str | None = None
          ) -> list[tuple[str, str]]:
    sents = [(i, s, e, lang) for i, (s, e) in enumerate(sentence_spans(text))]
    return [(text[k.start:k.end], k.body_id) for k in gaz.link(text, sents, date).links]


def test_knowledge_base_has_exactly_the_canonical_ids(gaz: Gazetteer) -> None:
    assert set(gaz.bodies) == CANONICAL_IDS
    assert not gaz.is_city_body("almaty_region_akimat")
    assert not gaz.is_city_body("transport_police")
    assert gaz.is_city_body("almaty_akimat")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Акимат Медеуского района сообщил о ремонте.",
         [("Акимат Медеуского района", "akimat_medeu")]),
        ("Жалоба ушла в акимат района Медеу.", [("акимат района Медеу", "akimat_medeu")]),
        ("Медеуский районный акимат обещал ответить.",
         [("Медеуский районный акимат", "akimat_medeu")]),
        ("Решение акимата Алматы вызвало споры.", [("акимата Алматы", "almaty_akimat")]),
        ("Акиматом города принято решение.", [("Акиматом города", "almaty_akimat")]),
        ("В акимате г.Алматы прошло совещание.", [("акимате г.Алматы", "almaty_akimat")]),
        ("Брифинг провёл заместитель акима города Алматы.",
         [("заместитель акима города Алматы", "almaty_deputy_akim")]),
        ("Встреча с акимом Алматы прошла спокойно.", [("акимом Алматы", "almaty_akim")]),
        ("Депутаты маслихата Алматы обсудили тарифы.", [("маслихата Алматы", "almaty_maslikhat")]),
        ("Об этом сообщили в департаменте полиции Алматы.",
         [("департаменте полиции Алматы", "police_almaty")]),
        ("Спасатели ДЧС по городу Алматы эвакуировали туристов.",
         [("ДЧС по городу Алматы", "dchs_almaty")]),
        ("Аварию на сетях Алматинских тепловых сетей устранили.",
         [("Алматинских тепловых сетей", "almaty_teplo")]),
        ("АлТС и АЖК отключат тепло и свет.", [("АлТС", "almaty_teplo"), ("АЖК", "alatau_zharyk")]),
        ("Водители Алматыэлектротранса пожаловались на зарплаты.",
         [("Алматыэлектротранса", "almatyelektrotrans")]),
        ("Пассажиры алматинского метро жалуются на духоту.",
         [("алматинского метро", "almaty_metro")]),
        ("Заявку одобрили в управлении зелёной экономики города Алматы.",
         [("управлении зелёной экономики города Алматы", "dept_green")]),
        ("Что думает аkимат Алматы о парковках?", [("аkимат Алматы", "almaty_akimat")]),
        ("АКИМАТ ГОРОДА АЛМАТЫ ОБЪЯВИЛ О РЕМОНТЕ.", [("АКИМАТ ГОРОДА АЛМАТЫ", "almaty_akimat")]),
        ("ГКП «Алматы Су» промывает водопровод.", [("Алматы Су", "almaty_su")]),
    ],
)
def test_russian_inflection_and_word_order(gaz: Gazetteer, text: str, expected: list) -> None:
    assert links(gaz, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Медеу ауданының әкімдігі хабарлады.", [("Медеу ауданының әкімдігі", "akimat_medeu")]),
        ("Алматы қаласының әкімдігі жаңа жоба ұсынды.",
         [("Алматы қаласының әкімдігі", "almaty_akimat")]),
        ("Тұрғындар Алматы қаласының әкімдігіне шағым түсірді.",
         [("Алматы қаласының әкімдігіне", "almaty_akimat")]),
        ("Жоба Алматы қаласының әкімдігімен бірге жасалды.",
         [("Алматы қаласының әкімдігімен", "almaty_akimat")]),
        ("Алматы каласынын акимдиги жана жобаны усынды.",
         [("Алматы каласынын акимдиги", "almaty_akimat")]),
        ("Бостандык ауданынын акимдигинде жиналыс отти.",
         [("Бостандык ауданынын акимдигинде", "akimat_bostandyk")]),
        ("Алматы қаласының Білім басқармасының мәліметі бойынша.",
         [("Алматы қаласының Білім басқармасының", "dept_education")]),
        ("Алматы қаласы ТЖД туристерді құтқарды.", [("Алматы қаласы ТЖД", "dchs_almaty")]),
        ("Алматы қаласы әкімінің орынбасары брифинг өткізді.",
         [("Алматы қаласы әкімінің орынбасары", "almaty_deputy_akim")]),
        ("Алматы Тазалық қоқыс тасығыштарды көбейтеді.", [("Алматы Тазалық", "almaty_tazalyk")]),
        ("Онай картасын толтыру оңайлады.", [("Онай", "onay")]),
    ],
)
def test_kazakh_inflection_and_spellings(gaz: Gazetteer, text: str, expected: list) -> None:
    assert links(gaz, text, "kk") == expected


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Акимат Алматинской области переехал в Конаев.", "ru",
         [("Акимат Алматинской области", "almaty_region_akimat")]),
        ("Решение принял аким Алматинской области.", "ru",
         [("аким Алматинской области", "almaty_region_akimat")]),
        ("Алматы облысының әкімдігі Қонаевқа көшті.", "kk",
         [("Алматы облысының әкімдігі", "almaty_region_akimat")]),
        ("Қонаев қаласының әкімдігі жағалауды абаттандырады.", "kk",
         [("Қонаев қаласының әкімдігі", "almaty_region_akimat")]),
        # short names next to another city or the region are not Almaty bodies
        ("ДЧС по Алматинской области предупредил о лавинах.", "ru", []),
        ("Маслихат Алматинской области утвердил бюджет.", "ru", []),
        ("Акимат города Астаны объявил тендер.", "ru", []),
        ("Городской акимат Тараза отремонтировал мост.", "ru", []),
        ("В Шымкенте управление образования проверило школы.", "ru", []),
        ("Департамент полиции Алматинской области задержал браконьеров.", "ru", []),
        # the transport police at Almaty's airport is not the city's police department
        ("В аэропорту Алматы сотрудниками департамента полиции на транспорте задержан турист.",
         "ru", [("департамента полиции на транспорте", "transport_police")]),
        ("Алматы әуежайында көліктегі полиция департаменті қызметкерлері жолаушыны ұстады.",
         "kk", [("көліктегі полиция департаменті", "transport_police")]),
        ("Акимат Алматинского района Астаны благоустроил сквер.", "ru", []),
        ("Астана қаласының әкімдігі байқау жариялады.", "kk", []),
        ("Алматы облысы ТЖД көшкін қаупі туралы ескертті.", "kk", []),
        # places and look-alike words are not mentions
        ("Жители Алматы жалуются на смог.", "ru", []),
        ("Алматинская область лидирует по урожаю яблок.", "ru", []),
        ("В маслихатах страны прошли выборы.", "ru", []),
        ("Она сказала, что всё будет онай.", "ru", []),
        ("Бұл мәселені шешу оңай емес.", "kk", []),
        ("Оңай жол жоқ.", "kk", []),
        ("Министерство по чрезвычайным ситуациям объявило предупреждение.", "ru", []),
        # grammar shows a generic or another body
        ("Расходы покроют за счёт аппаратов районных акиматов.", "ru", []),
        ("Закон касается долгов акимата города республиканского значения.", "ru", []),
        ("Родители писали в региональные управления образования.", "ru", []),
        ("У здания областного акимата переложили бордюры.", "ru", []),
    ],
)
def test_traps_and_negatives(gaz: Gazetteer, text: str, lang: str, expected: list) -> None:
    found = links(gaz, text, lang)
    assert found == expected
    assert "almaty_akimat" not in {b for _, b in found}


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Акимат Медеуского района начал снос. Позже акимат уточнил сроки.", "ru",
         [("Акимат Медеуского района", "akimat_medeu"), ("акимат", "akimat_medeu")]),
        ("Управление образования города Алматы открыло линию. В управлении рассказали о ней.",
         "ru", [("Управление образования города Алматы", "dept_education"),
                ("управлении", "dept_education")]),
        ("Проект представил акимат Алматинской области. Ранее акимат обсуждал его.", "ru",
         [("акимат Алматинской области", "almaty_region_akimat"),
          ("акимат", "almaty_region_akimat")]),
        ("Медеу ауданының әкімдігі гараждарды бұзды. Кейін әкімдік мерзімін нақтылады.", "kk",
         [("Медеу ауданының әкімдігі", "akimat_medeu"), ("әкімдік", "akimat_medeu")]),
        ("Управление образования Алматы открыло линию. Дело ведёт местное управление "
         "внутренних дел.", "ru", [("Управление образования Алматы", "dept_education")]),
        ("Акимат Медеуского района ответил. Жителей отправили в акимат села Талдыбулак.", "ru",
         [("Акимат Медеуского района", "akimat_medeu")]),
        # no earlier full mention, or another city named since: no link
        ("Акимат рассмотрит обращение.", "ru", []),
        ("Управление пообещало разобраться.", "ru", []),
        ("Акимат Бостандыкского района провёл встречу. В Астане акимат объявил тендер.", "ru",
         [("Акимат Бостандыкского района", "akimat_bostandyk")]),
    ],
)
def test_follow_ups_refer_to_the_body_named_earlier(gaz: Gazetteer, text: str, lang: str,
                                                    expected: list) -> None:
    assert links(gaz, text, lang) == expected


@pytest.mark.parametrize("text", ["", "   ", "12345"])
def test_empty_text(gaz: Gazetteer, text: str) -> None:
    assert links(gaz, text) == []
    assert gaz.link(text, []).links == []


def test_document_without_trigger_is_not_lemmatised(kb: dict) -> None:
    fresh = Gazetteer(kb, Lemmatizer())
    text = "Курс тенге укрепился. Нефть подешевела на мировых рынках."
    assert links(fresh, text) == []
    assert fresh.lem._cache == {}


def test_almaty_related_from_places_and_bodies(gaz: Gazetteer) -> None:
    def related(text: str) -> bool:
        sents = [(i, s, e, "ru") for i, (s, e) in enumerate(sentence_spans(text))]
        return gaz.link(text, sents).almaty_related

    assert related("На Кок-Тобе открыли смотровую площадку.")
    assert related("Алматинцы вышли на субботник.")
    assert related("АлТС отключит воду.")
    assert not related("Акимат Алматинской области переехал в Конаев.")
    assert not related("В Астане прошёл форум.")


def test_former_names_link_only_while_valid(gaz: Gazetteer) -> None:
    name = "Управление пассажирского транспорта и автомобильных дорог города Алматы"
    text = name + " ответило."
    assert links(gaz, text, date="2019-05-01") == [(name, "dept_mobility")]
    assert links(gaz, text) == [(name, "dept_mobility")]  # undated: any name may link
    assert links(gaz, text, date="2025-05-01") == []


def test_fictional_holder_links_to_role_within_dates(kb: dict, lemmatizer: Lemmatizer) -> None:
    kb2 = copy.deepcopy(kb)
    akim = next(b for b in kb2["bodies"] if b["id"] == "almaty_akim")
    akim["holders"] = [{"name": "Тестбек Примеров", "valid_from": "2030-01-01",
                        "valid_to": "2031-12-31"}]
    gaz2 = Gazetteer(kb2, lemmatizer)
    text = "Тестбек Примеров встретился с жителями Алматы."
    assert links(gaz2, text, date="2030-06-01") == [("Тестбек Примеров", "almaty_akim")]
    assert links(gaz2, text, date="2035-06-01") == []


def test_shipped_kb_names_no_real_holders(kb: dict) -> None:
    for body in kb["bodies"]:
        assert not body.get("holders"), body["id"]
        assert not (body.get("head_role") or {}).get("holders"), body["id"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda kb: kb["bodies"].append(dict(kb["bodies"][0])), "duplicate id"),
        (lambda kb: kb["bodies"][0].update(type="ministry"), "unknown type"),
        (lambda kb: kb["bodies"][0].pop("name_ru"), "needs id, type"),
        (lambda kb: kb["bodies"][0].update(ru=["..."]), "empty name"),
    ],
)
def test_malformed_knowledge_base_is_rejected(kb: dict, lemmatizer: Lemmatizer, mutate,
                                              message: str) -> None:
    bad = copy.deepcopy(kb)
    mutate(bad)
    with pytest.raises(KnowledgeBaseError, match=message):
        Gazetteer(bad, lemmatizer)


def test_missing_or_wrong_kb_file(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="missing"):
        Gazetteer.from_yaml(tmp_path / "nope.yaml")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="bodies"):
        Gazetteer.from_yaml(wrong)
