"""The committed synthetic sample (data/raw) is complete, consistent with its manifest and
reproducible byte for byte by scripts/make_sample_data.py."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
SAMPLE = RAW / "sample"
LABELED = RAW / "labeled" / "sentiment_ours.csv"
SITES = {"nur.kz", "yvision.kz", "namba.net", "tengrinews.kz", "zakon.kz", "nomad.su",
         "bnews.kz", "total.kz", "altyn-orda.kz", "news.gazeta.kz", "zonakz.net"}
WEEKS = [f"2026-W{n}" for n in range(40, 48)]
CANONICAL = {
    "almaty_akimat", "almaty_akim", "almaty_deputy_akim", "almaty_maslikhat",
    "akimat_alatau", "akimat_almaly", "akimat_auezov", "akimat_bostandyk", "akimat_zhetysu",
    "akimat_medeu", "akimat_nauryzbay", "akimat_turksib", "dept_mobility", "dept_energy",
    "dept_health", "dept_education", "dept_ecology", "dept_housing", "dept_green",
    "dept_construction", "dept_culture", "police_almaty", "dchs_almaty", "almaty_su",
    "almaty_teplo", "alatau_zharyk", "almatyelektrotrans", "onay", "almaty_metro",
    "almaty_tazalyk",
}
KAZAKH = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")


@pytest.fixture(scope="session")
def gen():
    """The generator script, imported as a module."""
    spec = importlib.util.spec_from_file_location("make_sample_data",
                                                  ROOT / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_sample_data"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads((SAMPLE / "MANIFEST.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def docs(manifest) -> list[dict]:
    return [e for e in manifest["documents"] if "kind" in e]


@pytest.fixture(scope="session")
def texts(manifest) -> dict[tuple[str, int], str]:
    """Body text of every JSONL and CSV record, keyed by (file, line)."""
    out: dict[tuple[str, int], str] = {}
    for path in sorted(SAMPLE.glob("jsonl/*/*.jsonl")):
        rel = path.relative_to(SAMPLE).as_posix()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[(rel, n)] = rec.get("text") or rec.get("content") or rec.get("body") or ""
    for path in sorted(SAMPLE.glob("csv/*.csv")):
        rel = path.relative_to(SAMPLE).as_posix()
        enc = "cp1251" if "cp1251" in path.name else "utf-8"
        rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode(enc))))
        for n, row in enumerate(rows, 2):
            out[(rel, n)] = row["text"]
    return out


@pytest.fixture(scope="session")
def labeled() -> list[dict]:
    with LABELED.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------ corpus


def test_files_exist_in_every_format():
    assert len(list(SAMPLE.glob("jsonl/*/*.jsonl"))) >= 60
    assert {p.parent.name for p in SAMPLE.glob("jsonl/*/*.jsonl")} <= SITES
    assert sorted(p.name for p in SAMPLE.glob("csv/*.csv")) == [
        "news_gazeta_kz_export_cp1251.csv", "total_kz_export_utf8.csv"]
    assert 35 <= len(list(SAMPLE.glob("html/*/*.html"))) <= 45
    size = sum(p.stat().st_size for p in RAW.rglob("*") if p.is_file())
    assert size < 4_000_000


def test_counts_per_site_week_kind(docs):
    assert len(docs) >= 560
    assert set(Counter(d["site"] for d in docs)) == SITES
    weeks = Counter(d["week"] for d in docs)
    assert sorted(weeks) == WEEKS
    assert min(weeks.values()) >= 50
    kinds = Counter(d["kind"] for d in docs)
    assert kinds["article"] >= 300 and kinds["comment"] >= 300


def test_language_mix(docs):
    share = {k: v / len(docs) for k, v in Counter(d["lang"] for d in docs).items()}
    assert 0.5 <= share["ru"] <= 0.7
    assert 0.22 <= share["kk"] <= 0.38
    assert 0.05 <= share["mixed"] <= 0.15
    assert sum(d["kk_translit"] for d in docs) >= 15


def test_language_truth_matches_letters(docs, texts):
    """ru texts have no Kazakh letters; kk texts have them unless typed without them."""
    checked = Counter()
    mixed_with_letters = 0
    for d in docs:
        text = texts.get((d["file"], d["line"]))
        if text is None or "very_short" in d["tags"] or not text.strip():
            continue
        has_kk = bool(KAZAKH & set(text))
        if d["lang"] == "ru":
            assert not has_kk, d["url"]
        elif d["lang"] == "kk":
            assert has_kk != d["kk_translit"], d["url"]
        else:
            mixed_with_letters += has_kk
        checked[d["lang"]] += 1
    assert mixed_with_letters >= 0.7 * checked["mixed"]


def test_manifest_points_at_the_right_lines(manifest):
    """Every manifest row names its line; bad lines are exactly the ones that do not parse."""
    lines = {p.relative_to(SAMPLE).as_posix(): p.read_text(encoding="utf-8").splitlines()
             for p in SAMPLE.glob("jsonl/*/*.jsonl")}
    assert sum(len(v) for v in lines.values()) == sum(
        1 for e in manifest["documents"] if e["file"].startswith("jsonl/"))
    for e in manifest["documents"]:
        if not e["file"].startswith("jsonl/"):
            continue
        line = lines[e["file"]][e["line"] - 1]
        if {"truncated_json", "not_json"} & set(e["tags"]):
            with pytest.raises(json.JSONDecodeError):
                json.loads(line)
        else:
            assert json.loads(line).get("url") == (e["url"] if e["url"] is not None else
                                                   json.loads(line).get("url"))


@pytest.mark.parametrize(("tag", "at_least"), [
    ("exact_repost", 10), ("near_duplicate", 6), ("recrawl_same_url", 2), ("empty_body", 3),
    ("truncated_json", 1), ("not_json", 1), ("no_url", 2), ("html_entities", 8),
    ("glued_sentences", 6), ("glued_caption", 2), ("very_long", 1), ("very_short", 5),
    ("pii", 6),
])
def test_planted_dirt(manifest, tag, at_least):
    assert manifest["summary"]["dirt"].get(tag, 0) >= at_least


def test_reposts_are_identical_and_near_duplicates_are_close(gen, manifest, texts):
    by_url = {e["url"]: e for e in manifest["documents"] if e.get("url")}
    for e in manifest["documents"]:
        if {"exact_repost", "near_duplicate"} & set(e["tags"]):
            orig = by_url[e["dup_of"]]
            a, b = texts[(orig["file"], orig["line"])], texts[(e["file"], e["line"])]
            assert e["url"] != orig["url"]
            if "exact_repost" in e["tags"]:
                assert a == b
            else:
                assert a != b and gen.shingle_jaccard(a, b) >= 0.8


def test_long_and_short_texts(docs, texts):
    lengths = {t: [len(texts.get((d["file"], d["line"]), "")) for d in docs if t in d["tags"]]
               for t in ("very_long", "very_short")}
    assert max(lengths["very_long"]) >= 55_000
    assert max(lengths["very_short"]) < 20
    articles = [len(texts[(d["file"], d["line"])]) for d in docs
                if d["kind"] == "article" and not d["tags"] and (d["file"], d["line"]) in texts]
    assert 400 <= min(articles) and max(articles) <= 3000


def test_trends_and_traps(manifest):
    by_week = manifest["summary"]["by_theme_week"]
    assert sum(by_week["heating_failure"][:6]) == 0 and min(by_week["heating_failure"][6:]) > 0
    assert sum(by_week["smog"][6:]) > 2 * sum(by_week["smog"][:2])
    assert sum(by_week["events"][6:]) < sum(by_week["events"][:2])
    assert sum(by_week["region"]) >= 10
    traps = [m for d in manifest["documents"] for m in d.get("mentions", [])
             if m[0] == "almaty_region_akimat"]
    assert traps and all(m[1] == "trap" for m in traps)


def test_cp1251_export_is_not_utf8():
    raw = (SAMPLE / "csv" / "news_gazeta_kz_export_cp1251.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    header = raw.decode("cp1251").splitlines()[0]
    assert header.split(",")[:4] == ["site", "url", "title", "text"]


def test_html_pages_extract_without_boilerplate():
    trafilatura = pytest.importorskip("trafilatura")
    for page in sorted(SAMPLE.glob("html/*/*.html")):
        html = page.read_text(encoding="utf-8")
        body = trafilatura.extract(html) or ""
        meta = trafilatura.extract_metadata(html)
        assert len(body) >= 300, page.name
        for boilerplate in ("Кредит наличными", "Все права защищены", "Читайте также"):
            assert boilerplate not in body, page.name
        assert meta.url and meta.url.startswith("https://"), page.name


# ------------------------------------------------------------------------------ labelled


def test_labeled_columns_and_counts(labeled):
    assert list(labeled[0]) == ["id", "text", "target_start", "target_end", "body_id",
                                "label", "lang", "source"]
    assert len(labeled) >= 700
    assert len({r["id"] for r in labeled}) == len(labeled)
    assert {r["source"] for r in labeled} == {"ours"}
    assert {r["body_id"] for r in labeled} <= CANONICAL
    langs = Counter(r["lang"] for r in labeled)
    assert set(langs) == {"ru", "kk"} and 0.55 <= langs["ru"] / len(labeled) <= 0.75
    labels = Counter(r["label"] for r in labeled)
    assert set(labels) == {"negative", "neutral", "positive"}
    assert min(labels.values()) >= 0.25 * len(labeled)


def test_labeled_offsets_are_valid(labeled):
    for r in labeled:
        start, end = int(r["target_start"]), int(r["target_end"])
        span = r["text"][start:end]
        assert 0 <= start < end <= len(r["text"]), r["id"]
        assert span == span.strip() and len(span) >= 2, r["id"]


def test_two_bodies_with_different_stance(labeled):
    by_text: dict[str, list[dict]] = {}
    for r in labeled:
        by_text.setdefault(r["text"], []).append(r)
    pairs = [rows for rows in by_text.values() if len(rows) == 2]
    assert len(pairs) >= 40
    assert all(rows[0]["body_id"] != rows[1]["body_id"] for rows in pairs)
    assert sum(rows[0]["label"] != rows[1]["label"] for rows in pairs) == len(pairs)


@pytest.mark.parametrize(("form", "lang"), [
    ("акимату", "ru"), ("акиматом", "ru"), ("акимате", "ru"), ("управления", "ru"),
    ("Медеуского района", "ru"), ("ДЧС", "ru"), ("АлТС", "ru"), ("Алматы Су", "ru"),
    ("әкімдігінің", "kk"), ("әкімдігіне", "kk"), ("әкімдігімен", "kk"), ("басқармасы", "kk"),
    ("ауданының әкімдігі", "kk"), ("мәслихат", "kk"), ("қала әкімі", "kk"),
])
def test_inflected_target_forms_are_covered(labeled, form, lang):
    spans = [r["text"][int(r["target_start"]):int(r["target_end"])] for r in labeled
             if r["lang"] == lang]
    assert any(form in s for s in spans)


@pytest.mark.parametrize(("phrase", "label"), [
    ("не справил", "negative"), ("не смог", "negative"), ("шеше алмай", "negative"),
    ("орындамады", "negative"), ("алғыс айтты", "positive"), ("поблагодарили", "positive"),
])
def test_negation_and_clear_cues(labeled, phrase, label):
    rows = [r for r in labeled if phrase in r["text"]]
    assert rows and Counter(r["label"] for r in rows).most_common(1)[0][0] == label


# ------------------------------------------------------------------------------ generator


def test_regeneration_is_byte_identical(gen, tmp_path):
    gen.generate(tmp_path)
    new = {p.relative_to(tmp_path / "sample").as_posix(): p
           for p in (tmp_path / "sample").rglob("*") if p.is_file()}
    old = {p.relative_to(SAMPLE).as_posix(): p for p in SAMPLE.rglob("*") if p.is_file()}
    assert sorted(new) == sorted(old)
    for rel, path in new.items():
        assert path.read_bytes() == old[rel].read_bytes(), rel
    assert (tmp_path / "labeled" / "sentiment_ours.csv").read_bytes() == LABELED.read_bytes()


@pytest.mark.parametrize(("template", "body", "ok"), [
    ("Об этом сообщили в {B:prep}.", "almaty_akim", False),
    ("Об этом сообщили в {B:prep}.", "almaty_akimat", True),
    ("Жители возмущены бездействием {B:gen}.", "almaty_deputy_akim", True),
    ("{B:loc} {topic} туралы брифинг өтті.", "almaty_akim", False),
])
def test_person_roles_avoid_institution_templates(gen, template, body, ok):
    assert gen.fits(template, "B", body) is ok


def test_unknown_date_style_is_rejected(gen):
    with pytest.raises(ValueError):
        gen.fmt_date(gen.WEEK0, "unix", "ru")
