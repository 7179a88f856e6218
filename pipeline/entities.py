"""The `entities` stage: city bodies (gazetteer, Russian and Kazakh) and PER/ORG/LOC (natasha).

Reads DOCUMENTS and SENTENCES, writes MENTIONS and DOC_ENTITIES.

- Every sentence goes through the gazetteer (it is language-agnostic: Russian lemmas and Kazakh
  stems). A document with no trigger word costs one regex search.
- natasha NER runs on the Russian sentences of Almaty-related documents (`ner_scope: almaty`;
  with `ner_context: N` only those within N sentences of a body or Almaty place) or on every
  Russian sentence (`all`). Kazakh sentences of the same scope go to our Kazakh model
  (`pipeline.kk_ner`, source `kk_ner`; its GPE becomes LOC). Without that model they get
  gazetteer mentions only.
- Mentions of the trap body (the Almaty *region* akimat) are written with label ORG and their
  body_id, so they stay visible but never count as a city body.
- natasha's ORG spans are refined with general Russian rules (`refine_ru_orgs`: organisation
  head nouns with their genitive chains, "Name (ABBR)", legal form + quoted name).
- natasha ORG/LOC spans that overlap a gazetteer span are dropped (the gazetteer span, with its
  canonical id, is the better description of the same words).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from pipeline import schema
from pipeline.config import ConfigError, Params
from pipeline.dates import ALMATY
from pipeline.gazetteer import DocLinks, Gazetteer
from pipeline.io import read_table, write_json, write_jsonl, write_table
from pipeline.kazakh_names import kazakh_person_name
from pipeline.paths import Paths

log = logging.getLogger(__name__)

# ner(texts) -> one list of (start, end, label) per text; label in PER | ORG | LOC
NER = Callable[[list[str]], list[list[tuple[int, int, str]]]]
NER_LABELS = ("PER", "ORG", "LOC")
# label of the Kazakh model -> MENTIONS label (others are dropped)
KK_LABELS = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "GPE": "LOC"}
NER_SCOPES = ("almaty", "all")
SKIPPED_FILE = "entities_skipped.jsonl"
_NER_BATCH = 64


class NatashaNER:
    """natasha's news NER (slovnet + navec, shipped inside the wheel), loaded once.

    With a pymorphy3 `morph`, its ORG spans are refined by `refine_ru_orgs` (the pipeline's
    Russian NER); without, it is plain natasha (the baseline of `kaznet evaluate entities`).
    """

    def __init__(self, morph: Any | None = None) -> None:
        from natasha import NewsEmbedding, NewsNERTagger

        self.tagger = NewsNERTagger(NewsEmbedding())
        self.morph = morph

    def __call__(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        out = [[(s.start, s.stop, s.type) for s in markup.spans]
               for markup in self.tagger.map(texts)]
        if self.morph is None:
            return out
        return [refine_ru_orgs(text, spans, self.morph)
                for text, spans in zip(texts, out, strict=True)]


@dataclass
class _Doc:
    doc_id: str
    text: str
    date: str | None
    sentences: list[tuple[int, int, int, str]]  # (sent_id, start, end, lang)


def extract(
    documents: pd.DataFrame,
    sentences: pd.DataFrame,
    gazetteer: Gazetteer,
    ner: NER | None,
    ner_scope: str = "almaty",
    skipped: list[dict[str, Any]] | None = None,
    ner_context: int = -1,
    kk_ner: NER | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """City-body and NER mentions of `documents`, and one summary row per document.

    Args:
        documents: a DOCUMENTS frame (doc_id, text, published_utc are used).
        sentences: a SENTENCES frame: offsets into documents.text and a lang per sentence.
        gazetteer: the compiled knowledge base.
        ner: natasha-like NER callable, or None for gazetteer only.
        ner_scope: "almaty" (NER only on Almaty-related documents) or "all" (every Russian
            sentence of every document).
        skipped: if given, sentences set aside (bad offsets, unknown doc) are appended here.
        ner_context: with scope "almaty", NER only the sentences within this many sentences of
            a city body or Almaty place (-1: every sentence of those documents).
        kk_ner: Kazakh NER callable (`pipeline.kk_ner.KazakhNER`) for sentences with lang
            "kk", or None for gazetteer only.

    Returns:
        (MENTIONS frame, DOC_ENTITIES frame).
    """
    _check_inputs(documents, sentences, ner_scope)
    docs = _assemble(documents, sentences, skipped if skipped is not None else [])
    mention_rows: list[dict[str, Any]] = []
    entity_rows: list[dict[str, Any]] = []
    linked = [(doc, gazetteer.link(doc.text, doc.sentences, doc.date)) for doc in docs]
    ner_spans = _run_ner(linked, {"ru": ner, "kk": kk_ner}, ner_scope, ner_context)
    for doc, links in linked:
        rows = _body_rows(doc, links, gazetteer)
        rows += _ner_rows(doc, ner_spans.get(doc.doc_id, []), rows)
        rows.sort(key=lambda r: (r["start"], r["end"]))
        mention_rows += rows
        entity_rows.append(_doc_entity_row(doc, links, rows, gazetteer))
    return _frame(mention_rows, schema.MENTIONS), _frame(entity_rows, schema.DOC_ENTITIES)


def _check_inputs(documents: pd.DataFrame, sentences: pd.DataFrame, ner_scope: str) -> None:
    for frame, table in ((documents, schema.DOCUMENTS), (sentences, schema.SENTENCES)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"extract() needs a {table.name} DataFrame, got {type(frame).__name__}")
    need = {"doc_id", "text"} - set(documents.columns)
    need_s = {"doc_id", "sent_id", "start", "end", "lang"} - set(sentences.columns)
    if need or need_s:
        raise ValueError(f"missing columns: documents {sorted(need)}, sentences {sorted(need_s)}")
    if ner_scope not in NER_SCOPES:
        raise ConfigError(f"params.yaml [entities].ner_scope must be one of {NER_SCOPES}, "
                          f"got {ner_scope!r}")


def _assemble(documents: pd.DataFrame, sentences: pd.DataFrame,
              skipped: list[dict[str, Any]]) -> list[_Doc]:
    """Join sentences to their documents; bad sentences go to `skipped` with a reason."""
    docs: dict[str, _Doc] = {}
    dates = _dates(documents)
    for doc_id, text, date in zip(documents["doc_id"], documents["text"], dates, strict=True):
        docs[str(doc_id)] = _Doc(str(doc_id), text if isinstance(text, str) else "", date, [])
    ordered = sentences.sort_values(["doc_id", "sent_id"], kind="stable")
    for doc_id, sent_id, start, end, lang in zip(
        ordered["doc_id"], ordered["sent_id"], ordered["start"], ordered["end"], ordered["lang"],
        strict=True,
    ):
        doc = docs.get(str(doc_id))
        reason = _bad_sentence(doc, start, end)
        if reason:
            skipped.append({"doc_id": str(doc_id), "sent_id": int(sent_id), "reason": reason})
            continue
        doc.sentences.append((int(sent_id), int(start), int(end), str(lang)))
    if skipped:
        log.warning("entities: %d sentences set aside (bad offsets or unknown doc_id)",
                    len(skipped))
    return list(docs.values())


def _bad_sentence(doc: _Doc | None, start: Any, end: Any) -> str:
    if doc is None:
        return "doc_id not in documents"
    if pd.isna(start) or pd.isna(end):
        return "missing offsets"
    if not 0 <= int(start) < int(end) <= len(doc.text):
        return f"offsets {start}:{end} outside text of length {len(doc.text)}"
    return ""


def _dates(documents: pd.DataFrame) -> list[str | None]:
    """Almaty-local publication dates: what alias validity and officials' terms are dated in."""
    if "published_utc" not in documents.columns:
        return [None] * len(documents)
    stamps = pd.to_datetime(documents["published_utc"], utc=True, errors="coerce")
    local = stamps.dt.tz_convert(ALMATY)
    return [None if pd.isna(s) else s.strftime("%Y-%m-%d") for s in local]


def _ner_sentences(doc: _Doc, links: DocLinks, scope: str, context: int) -> list[int]:
    """Positions in doc.sentences that NER should read."""
    if scope == "all" or (links.almaty_related and context < 0):
        return list(range(len(doc.sentences)))
    if not links.almaty_related:
        return []
    hits = [link.start for link in links.links] + [s for s, _ in links.almaty_places]
    near: set[int] = set()
    for pos, (_, start, end, _) in enumerate(doc.sentences):
        if any(start <= h < end for h in hits):
            near.update(range(pos - context, pos + context + 1))
    return sorted(p for p in near if 0 <= p < len(doc.sentences))


def _run_ner(linked: list[tuple[_Doc, DocLinks]], models: dict[str, NER | None], scope: str,
             context: int) -> dict[str, list[tuple[int, int, int, str, str]]]:
    """(sent_id, start, end, label, lang) per doc, document offsets; each language its model."""
    out: dict[str, list[tuple[int, int, int, str, str]]] = {}
    for lang, ner in models.items():
        if ner is None:
            continue
        jobs: list[tuple[str, int, int]] = []  # (doc_id, sent_id, sentence start)
        texts: list[str] = []
        for doc, links in linked:
            for pos in _ner_sentences(doc, links, scope, context):
                sent_id, start, end, sent_lang = doc.sentences[pos]
                if sent_lang == lang:
                    jobs.append((doc.doc_id, sent_id, start))
                    texts.append(doc.text[start:end])
        for i in range(0, len(texts), _NER_BATCH):
            for (doc_id, sent_id, offset), spans in zip(
                jobs[i:i + _NER_BATCH], ner(texts[i:i + _NER_BATCH]), strict=True
            ):
                out.setdefault(doc_id, []).extend(
                    (sent_id, offset + s, offset + e, _label(lang, label), lang)
                    for s, e, label in spans if _label(lang, label)
                )
    return out


def _label(lang: str, label: str) -> str:
    """The MENTIONS label of a model label ("" = not kept)."""
    if lang == "kk":
        return KK_LABELS.get(label, "")
    return label if label in NER_LABELS else ""


def _body_rows(doc: _Doc, links: DocLinks, gazetteer: Gazetteer) -> list[dict[str, Any]]:
    return [
        {
            "doc_id": doc.doc_id, "sent_id": link.sent_id, "start": link.start, "end": link.end,
            "text": doc.text[link.start:link.end],
            "label": "BODY" if link.city_body else "ORG",
            "body_id": link.body_id, "lang": link.lang, "source": "gazetteer",
        }
        for link in links.links
    ]


def _ner_rows(doc: _Doc, spans: Iterable[tuple[int, int, int, str, str]],
              body_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    taken = [(r["start"], r["end"]) for r in body_rows]
    rows = []
    for sent_id, start, end, label, lang in spans:
        if label != "PER" and any(start < e and s < end for s, e in taken):
            continue
        rows.append({
            "doc_id": doc.doc_id, "sent_id": sent_id, "start": start, "end": end,
            "text": doc.text[start:end], "label": label, "body_id": None, "lang": lang,
            "source": "natasha" if lang == "ru" else "kk_ner",
        })
    return rows


def _doc_entity_row(doc: _Doc, links: DocLinks, rows: Sequence[dict[str, Any]],
                    gazetteer: Gazetteer) -> dict[str, Any]:
    bodies = list(dict.fromkeys(k.body_id for k in links.links if k.city_body))
    persons = list(dict.fromkeys(
        kazakh_person_name(r["text"]) if r["lang"] == "kk"
        else person_name(r["text"], gazetteer.lem.morph)
        for r in rows if r["label"] == "PER"
    ))
    return {
        "doc_id": doc.doc_id, "almaty_related": links.almaty_related, "bodies": bodies,
        "persons": [p for p in persons if p], "n_mentions": len(rows),
    }


def person_name(text: str, morph: Any) -> str:
    """A person span in the nominative, for counting ("Ерболата Досаева" -> "Ерболат Досаев").

    The gender of the first name (when pymorphy3 knows it) picks the surname reading, so
    "Анна Токаева" stays feminine; otherwise an inflected reading beats a nominative one.
    """
    words = text.split()
    readings = [[p for p in morph.parse(w) if {"Name", "Surn", "Patr"} & set(p.tag.grammemes)]
                for w in words]
    gender = next((p.tag.gender for rs in readings for p in rs if "Name" in p.tag), None)
    out = []
    for word, named in zip(words, readings, strict=True):
        if not named:
            form = word.lower()
        else:
            named.sort(key=lambda p: (gender is not None and p.tag.gender != gender,
                                      gender is None and p.tag.case == "nomn"))
            form = named[0].normal_form
        out.append("-".join(part[:1].upper() + part[1:] for part in form.split("-")))
    return " ".join(out)


# ---- Russian ORG refinement (post-processing of natasha spans) --------------------------------
# natasha misses generic organisation names ("министерство здравоохранения", "полиция") and cuts
# names short ("Верховный суд" + "Испании"). These rules are general Russian grammar, not lists
# of Almaty bodies. Lemmas of organisation-type head nouns:
ORG_HEADS = frozenset({
    "министерство", "комитет", "департамент", "управление", "агентство", "суд", "партия",
    "компания", "банк", "университет", "институт", "академия", "прокуратура", "служба",
    "совет", "парламент", "правительство", "мэрия", "акимат", "маслихат", "полиция",
    "инспекция", "фонд", "корпорация", "холдинг", "концерн", "ассоциация", "союз", "собрание",
    "федерация", "комиссия", "палата", "администрация", "кабмин", "дума", "секретариат",
    "факультет", "колледж",
})
# continuations after "по" ("управление по Алматинской области", "суд по правам человека")
ORG_PO_HEADS = frozenset({"министерство", "комитет", "департамент", "управление", "агентство",
                          "суд", "служба", "инспекция", "комиссия"})
# ... of which these name an organisation even alone ("правительство заявило").
ORG_STANDALONE = frozenset({"правительство", "парламент", "мэрия", "акимат", "маслихат",
                            "полиция", "прокуратура", "кабмин"})
# Legal forms before a quoted name: the organisation is the quoted name (as NEREL marks it).
LEGAL_FORMS = frozenset({"АО", "ТОО", "ООО", "ПАО", "ОАО", "ЗАО", "НАО", "КГП", "РГП", "ГКП",
                         "КГУ", "ГУ", "ИП", "НП", "АНО", "ФГУП", "МУП", "ГУП", "УК", "ОО", "РОО"})
GENERIC_ORG = frozenset({"СМИ"})  # natasha tags these ORG; they name no organisation
_TOKEN = re.compile(r"«[^«»\n]{1,80}»|\"[^\"\n]{1,80}\"|“[^“”\n]{1,80}”|[\w-]+|\S")
_ABBR = re.compile(r"(?P<name>\S.*?)\s+\((?P<abbr>[A-ZА-ЯЁ][\w-]{1,11})\)", re.DOTALL)
_QUOTES = "«\"“"
_CYR = re.compile("[А-ЯЁ]")
_VAGUE_ADJ = frozenset({"новый", "старый", "хороший", "плохой", "крупный", "большой", "малый",
                        "небольшой", "данный", "другой", "каждый", "любой", "многий", "различный",
                        "некоторый", "сам", "весь", "бывший", "нынешний", "известный"})
_HEAD_PREFIX = re.compile("|".join(sorted({h[:4] for h in ORG_HEADS})))
_NAME_POS = frozenset({"NOUN", "ADJF", "PRTF", "NUMR"})


def refine_ru_orgs(text: str, spans: Iterable[tuple[int, int, str]], morph: Any
                   ) -> list[tuple[int, int, str]]:
    """natasha spans of `text` with ORG spans added, extended, split and trimmed.

    - "Name (ABBR)" becomes two ORG spans; "ООО «Name»" becomes "Name"; "СМИ" is dropped.
    - An organisation-type head noun (pymorphy3 lemma in ORG_HEADS) with the adjectives that
      agree with it on the left and a genitive chain on the right (words, or LOC/ORG spans
      that can be genitive) becomes one ORG span ("Верховный суд Испании",
      "министерство здравоохранения"); it replaces the spans it covers.
    - A quoted name after a legal form ("АО «Name»") becomes an ORG span.
    - ORG + a genitive LOC span right after it is one ORG ("Палаты представителей США").
    Only ORG spans are added or changed; PER spans are never touched, LOC spans only when an
    ORG span takes them in.
    """
    out = []
    for s in spans:
        if s[2] == "ORG" and text[s[0]:s[1]] in GENERIC_ORG:
            continue
        out += [_trim_legal_form(text, p) for p in _split_abbreviation(text, _tidy(text, s))]
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    for cand in _quoted_orgs(tokens) + _head_noun_orgs(text, tokens, out, morph):
        out = _add_candidate(out, cand)
    return _merge_place_tails(text, sorted(set(out)), morph)


def _merge_place_tails(text: str, spans: list[tuple[int, int, str]], morph: Any
                       ) -> list[tuple[int, int, str]]:
    """ORG + " " + a genitive LOC span is one ORG ("Палаты представителей" + "США")."""
    out: list[tuple[int, int, str]] = []
    for span in spans:
        prev = out[-1] if out else None
        if (prev and prev[2] == "ORG" and span[2] == "LOC" and text[prev[1]:span[0]] == " "
                and _genitive(morph, text[span[0]:span[1]].split()[0], allow_caps=True)):
            out[-1] = (prev[0], span[1], "ORG")
        else:
            out.append(span)
    return out


def _tidy(text: str, span: tuple[int, int, str]) -> tuple[int, int, str]:
    """Balance the quotes of an ORG span and drop a sentence-final full stop."""
    s, e, label = span
    if label != "ORG" or e - s < 2:
        return span
    if text[e - 1] == "." and text[e - 5:e - 1].isalpha() and text[e - 2].islower():
        e -= 1
    part = text[s:e]
    if part.count('"') % 2:
        if part.endswith('"'):
            e -= 1
        elif text[e:e + 1] == '"':
            e += 1
    if part.count("«") > part.count("»") and text[e:e + 1] == "»":
        e += 1
    elif part.endswith("»") and part.count("»") > part.count("«"):
        e -= 1
    return (s, e, label)


def _split_abbreviation(text: str, span: tuple[int, int, str]) -> list[tuple[int, int, str]]:
    m = _ABBR.fullmatch(text, span[0], span[1]) if span[2] == "ORG" else None
    if not m:
        return [span]
    return [(m.start("name"), m.end("name"), "ORG"), (m.start("abbr"), m.end("abbr"), "ORG")]


def _trim_legal_form(text: str, span: tuple[int, int, str]) -> tuple[int, int, str]:
    words = text[span[0]:span[1]].split(" ")
    if span[2] != "ORG" or words[0] not in LEGAL_FORMS:
        return span
    start = span[0]
    for w in words:
        if w not in LEGAL_FORMS:
            break
        start += len(w) + 1
    if start < span[1] - 2 and text[start] in _QUOTES and text[span[1] - 1] in "»\"”":
        return (start + 1, span[1] - 1, "ORG")
    return span


def _quoted_orgs(tokens: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    out = []
    for (_, _, prev), (s, e, tok) in zip(tokens, tokens[1:], strict=False):
        if tok[0] in _QUOTES and len(tok) > 2 and prev in LEGAL_FORMS:
            out.append((s + 1, e - 1, "ORG"))
    return out


def _parses(morph: Any, word: str) -> list[Any]:
    return morph.parse(word) if word[:1].isalpha() else []


def _head_noun_orgs(text: str, tokens: list[tuple[int, int, str]],
                    spans: list[tuple[int, int, str]], morph: Any
                    ) -> list[tuple[int, int, str]]:
    starts = {s: (s, e, lab) for s, e, lab in spans if lab in ("LOC", "ORG")}
    out = []
    for i, (_, e, word) in enumerate(tokens):
        if not _HEAD_PREFIX.match(word.lower().rsplit("-", 1)[-1]):
            continue  # cheap filter before pymorphy3
        head = next((p for p in _parses(morph, word) if "NOUN" in p.tag
                     and p.normal_form.rsplit("-", 1)[-1] in ORG_HEADS), None)
        if head is None:
            continue
        first, left = i, False
        while first > 0 and _joined(text, tokens[first - 1], tokens[first]) and _agrees(
                morph, tokens[first - 1][2], head):
            first, left = first - 1, True
        end, j = e, i + 1
        while j < len(tokens) and _joined(text, tokens[j - 1], tokens[j]):
            nxt = starts.get(tokens[j][0])
            if nxt and _genitive(morph, text[nxt[0]:nxt[1]].split()[0], allow_caps=True):
                end = nxt[1]
                j = next((k for k in range(j, len(tokens)) if tokens[k][0] >= end), len(tokens))
                continue
            if tokens[j][2] == "по" and head.normal_form in ORG_PO_HEADS:
                po_end, j = _po_phrase(text, tokens, j, starts, morph)
                if po_end is None:
                    break
                end = po_end
                continue
            if not _genitive(morph, tokens[j][2]):
                break
            if any("NOUN" in p.tag for p in _parses(morph, tokens[j][2])):
                end = tokens[j][1]
            j += 1
        start = tokens[first][0]
        named = end > e or head.normal_form in ORG_STANDALONE or (
            left and text[start].isupper())
        if named:
            out.append((start, end, "ORG"))
    return out


def _agrees(morph: Any, word: str, head: Any) -> bool:
    """An adjective in the head's case and number ("Верховный суд"; not "новый", "свой")."""
    if not word[:1].isupper() and any("PRTF" in p.tag for p in _parses(morph, word)[:1]):
        return False  # "созданном комитете": a participle, not part of the name
    return any({"ADJF", "PRTF"} & p.tag.grammemes and not {"Apro", "Supr"} & p.tag.grammemes
               and p.normal_form not in _VAGUE_ADJ and p.tag.case == head.tag.case
               and p.tag.number == head.tag.number for p in _parses(morph, word))


def _po_phrase(text: str, tokens: list[tuple[int, int, str]], j: int,
               starts: dict[int, tuple[int, int, str]], morph: Any) -> tuple[int | None, int]:
    """End offset and next token of "по" + a dative phrase or a LOC span, else (None, j)."""
    end, k = None, j + 1
    while k < len(tokens) and _joined(text, tokens[k - 1], tokens[k]):
        nxt = starts.get(tokens[k][0])
        if nxt and nxt[2] == "LOC":
            end = nxt[1]
            k = next((n for n in range(k, len(tokens)) if tokens[n][0] >= end), len(tokens))
            break
        parses = _parses(morph, tokens[k][2])
        if not parses or parses[0].tag.POS not in _NAME_POS or not any(
                p.tag.case == "datv" for p in parses):
            break
        if any("NOUN" in p.tag and p.tag.case == "datv" for p in parses):
            end = tokens[k][1]
        k += 1
    return (end, k) if end is not None else (None, j)


def _joined(text: str, a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    """Tokens separated by a single space (no punctuation, no line break)."""
    return text[a[1]:b[0]] == " "


def _genitive(morph: Any, word: str, allow_caps: bool = False) -> bool:
    if allow_caps and word.isupper() and len(word) > 1 and _CYR.search(word):
        return True  # Cyrillic abbreviations are indeclinable ("МАГАТЭ", "СССР")
    parses = _parses(morph, word)
    if allow_caps and parses and "Fixd" in parses[0].tag and "Geox" in parses[0].tag:
        return True  # indeclinable place names ("Мали", "Того")
    if any(p.tag.POS == "VERB" for p in parses):
        return False  # "полиция начала": a verb, not a genitive noun
    return bool(parses) and parses[0].tag.POS in _NAME_POS and any(
        p.tag.case == "gent" and p.tag.POS in _NAME_POS for p in parses)


def _add_candidate(spans: list[tuple[int, int, str]], cand: tuple[int, int, str]
                   ) -> list[tuple[int, int, str]]:
    """Add an ORG candidate unless an existing span holds it or crosses it; drop what it holds."""
    s, e, _ = cand
    for a, b, lab in spans:
        inside = s <= a and b <= e
        if (a < e and s < b) and (not inside or lab == "PER" or (a, b) == (s, e)):
            return spans
    return [x for x in spans if not (s <= x[0] and x[1] <= e)] + [cand]


def _frame(rows: list[dict[str, Any]], table: schema.Table) -> pd.DataFrame:
    arrow = table.schema
    if not rows:
        return arrow.empty_table().to_pandas()
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=arrow).to_pandas()


# ---- parallel shell ---------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(gazetteer: Gazetteer, ner: NER | None, scope: str, context: int,
                 kk_ner: NER | None = None) -> None:
    if "torch" in sys.modules:  # one thread per forked worker: the workers already fill the cores
        sys.modules["torch"].set_num_threads(1)
    _WORKER.update(gazetteer=gazetteer, ner=ner, scope=scope, context=context, kk_ner=kk_ner)


def _work(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame,
                                                              list[dict[str, Any]]]:
    skipped: list[dict[str, Any]] = []
    mentions, doc_entities = extract(chunk[0], chunk[1], _WORKER["gazetteer"], _WORKER["ner"],
                                     _WORKER["scope"], skipped, _WORKER["context"],
                                     _WORKER.get("kk_ner"))
    return mentions, doc_entities, skipped


def extract_parallel(
    documents: pd.DataFrame, sentences: pd.DataFrame, gazetteer: Gazetteer, ner: NER | None,
    ner_scope: str = "almaty", workers: int = 2, chunk_docs: int = 500,
    skipped: list[dict[str, Any]] | None = None, ner_context: int = -1,
    kk_ner: NER | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`extract` over chunks of documents in `workers` forked processes (models shared)."""
    chunks = _chunks(documents, sentences, chunk_docs)
    if workers <= 1 or len(chunks) <= 1:
        results = [extract(d, s, gazetteer, ner, ner_scope, skipped, ner_context, kk_ner)
                   for d, s in
                   tqdm(chunks, desc="entities", unit="chunk", disable=len(chunks) < 2)]
    else:
        ctx = get_context("fork")  # the children inherit the loaded models; nothing is pickled
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(gazetteer, ner, ner_scope, ner_context, kk_ner)
                                 ) as pool:
            results = []
            for mentions, doc_entities, bad in tqdm(pool.map(_work, chunks), total=len(chunks),
                                                    desc="entities", unit="chunk"):
                results.append((mentions, doc_entities))
                if skipped is not None:
                    skipped.extend(bad)
    if not results:
        return _frame([], schema.MENTIONS), _frame([], schema.DOC_ENTITIES)
    return (pd.concat([r[0] for r in results], ignore_index=True),
            pd.concat([r[1] for r in results], ignore_index=True))


def _chunks(documents: pd.DataFrame, sentences: pd.DataFrame, size: int
            ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    out = []
    by_doc = sentences.groupby("doc_id", sort=False).indices if len(sentences) else {}
    for i in range(0, len(documents), size):
        part = documents.iloc[i:i + size]
        idx = [j for d in part["doc_id"] for j in by_doc.get(d, [])]
        out.append((part, sentences.iloc[sorted(idx)]))
    known = set(documents["doc_id"])
    orphans = sentences[~sentences["doc_id"].isin(known)] if len(sentences) else sentences
    if len(orphans) and out:
        out[-1] = (out[-1][0], pd.concat([out[-1][1], orphans]))
    return out


def load_kk_ner(folder: Path, backend: str = "spacy") -> NER | None:
    """The Kazakh NER model (`backend` spacy or e5), or None (with a warning) when its folder
    is missing."""
    if backend == "e5":
        from pipeline.kk_ner_e5 import HEADER_FILE, KazakhNERE5

        if not (folder / HEADER_FILE).is_file():
            log.warning("entities: no e5 Kazakh NER model in %s; Kazakh sentences get the "
                        "gazetteer only (train it: python -m pipeline.kk_ner_e5 train)", folder)
            return None
        return KazakhNERE5(folder)
    if backend != "spacy":
        raise ConfigError(f"entities.kk_ner_backend: {backend!r}; допустимы e5 или spacy")
    if not (folder / "config.cfg").is_file():
        log.warning("entities: no Kazakh NER model in %s; Kazakh sentences get the gazetteer "
                    "only (train it: python -m pipeline.train_kk_ner)", folder)
        return None
    from pipeline.kk_ner import KazakhNER

    return KazakhNER(folder)


def run(params: Params, paths: Paths) -> None:
    """Read DOCUMENTS + SENTENCES, write MENTIONS + DOC_ENTITIES (and a skipped-rows file)."""
    cfg = params.entities
    documents = read_table(paths.table(schema.DOCUMENTS), schema.DOCUMENTS)
    sentences = read_table(paths.table(schema.SENTENCES), schema.SENTENCES)
    gazetteer = Gazetteer.from_yaml(paths.root / "configs" / "city_bodies.yaml")
    ner = NatashaNER(gazetteer.lem.morph) if cfg.use_ner else None
    folder = cfg.kk_ner_e5_model if cfg.kk_ner_backend == "e5" else cfg.kk_ner_model
    kk_ner = load_kk_ner(paths.root / folder, cfg.kk_ner_backend) if cfg.use_ner else None
    skipped: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    mentions, doc_entities = extract_parallel(documents, sentences, gazetteer, ner,
                                              cfg.ner_scope, cfg.workers, skipped=skipped,
                                              ner_context=cfg.ner_context, kk_ner=kk_ner)
    seconds = time.perf_counter() - t0
    write_table(mentions, paths.table(schema.MENTIONS), schema.MENTIONS)
    write_table(doc_entities, paths.table(schema.DOC_ENTITIES), schema.DOC_ENTITIES)
    write_jsonl(paths.processed / SKIPPED_FILE, skipped)
    summary = {
        "documents": len(documents), "seconds": round(seconds, 2),
        "docs_per_s": round(len(documents) / seconds, 1) if seconds > 0 else None,
        "almaty_related": int(doc_entities["almaty_related"].sum()) if len(doc_entities) else 0,
        "body_mentions": int((mentions["label"] == "BODY").sum()) if len(mentions) else 0,
        "skipped_sentences": len(skipped),
    }
    write_json(paths.metrics / "entities_run.json", summary)
    log.info("entities: %s", summary)
