"""Link mentions of Almaty city bodies in Russian and Kazakh text to canonical ids.

The knowledge base (`configs/city_bodies.yaml`) is compiled into `Alias`es: one per name, each a
sequence of token *key sets* (Russian lemmas from pymorphy3, Kazakh suffix-stripped stems), so
"акиматом Медеуского района" and "Медеу ауданының әкімдігінде" match the names written once in
the base. A text token matches an alias position when their key sets meet.

Speed: `Gazetteer.link` first runs one regular expression of word prefixes over the folded
document; a document with no trigger costs nothing more. Only sentences that hold a trigger are
tokenised and lemmatised, and lemmas are cached per word form.

Rules on top of the longest match (see `_Resolver`):
- `bare` names ("управление образования", "ДЧС") exist in every city: they do not link when a
  capitalised word or another city/region is next to them, or when the last place named in the
  document is not Almaty.
- follow-ups ("акимат", "управление", "әкімдік", "басқарма") link to the last body of their types
  named earlier in the document, unless another city was named since.
- names with `valid_from`/`valid_to` link only for documents dated inside that range.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline import kazakh_stem
from pipeline.text import KAZAKH_LETTERS, LOOKALIKES, fix_lookalikes

log = logging.getLogger(__name__)

KB_FILE = Path(__file__).resolve().parent.parent / "configs" / "city_bodies.yaml"
BODY_TYPES = frozenset(
    {"akimat", "akim", "maslikhat", "district_akimat", "department", "police", "emergency",
     "city_company", "official_role", "region_body"}
)
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
_PREFILTER_FOLD = str.maketrans(
    {**{chr(k).lower(): v.lower() for k, v in LOOKALIKES.items()},
     "ә": "а", "ғ": "г", "қ": "к", "ң": "н", "ө": "о", "ұ": "у", "ү": "у", "һ": "х", "і": "и",
     "ё": "е"}
)
# Lower-case Latin letters typed for Cyrillic ones that pipeline.text leaves alone.
_MORE_LOOKALIKES = str.maketrans({"k": "к", "m": "м"})
# An adjective after a short name that makes it generic ("акимат города республиканского значения").
_GENERIC_AFTER = frozenset({"республиканский", "областной", "районный"})
_RANK = {"body": 0, "bare": 1, "place": 2, "followup": 3}


class KnowledgeBaseError(ValueError):
    """configs/city_bodies.yaml is malformed."""


@dataclass(frozen=True)
class Body:
    """One entry of the knowledge base."""

    id: str
    type: str
    parent: str | None
    name_ru: str
    name_kk: str
    city_body: bool = True
    role: bool = False


@dataclass(frozen=True)
class Alias:
    """One name, compiled: `kind` is body | bare | place | followup."""

    text: str
    lang: str
    kind: str
    keys: tuple[frozenset[str], ...]
    cased: tuple[bool, ...]  # surface must start with a capital
    kk_letters: tuple[bool, ...]  # the name's word has Kazakh letters (a cased word may too)
    caps: tuple[bool, ...]  # surface must hold two or more capitals (abbreviation)
    body_id: str | None = None
    almaty: bool = False  # places: an Almaty place (True) or another city/region (False)
    types: tuple[str, ...] = ()  # follow-ups: body types they refer back to
    valid_from: str | None = None
    valid_to: str | None = None


@dataclass(frozen=True)
class Link:
    """A linked span of the document (character offsets into the document text)."""

    sent_id: int
    start: int
    end: int
    body_id: str
    city_body: bool
    lang: str
    kind: str  # body | bare | followup


@dataclass
class DocLinks:
    """What the gazetteer found in one document."""

    links: list[Link] = field(default_factory=list)
    almaty_places: list[tuple[int, int]] = field(default_factory=list)

    @property
    def almaty_related(self) -> bool:
        return bool(self.almaty_places) or any(link.city_body for link in self.links)


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    surface: str


@dataclass(frozen=True)
class _Cand:
    t0: int
    t1: int
    alias: Alias


class Lemmatizer:
    """Russian lemmas (pymorphy3) and Kazakh stems of a word form, cached per surface form."""

    def __init__(self, morph: Any | None = None) -> None:
        if morph is None:
            import pymorphy3

            morph = pymorphy3.MorphAnalyzer()
        self.morph = morph
        self._cache: dict[str, frozenset[str]] = {}
        self._parses: dict[str, list[Any]] = {}

    def ru(self, word: str) -> frozenset[str]:
        """Russian keys: every normal form pymorphy3 offers, and the lower-cased form itself."""
        low = word.lower().replace("ё", "е")
        forms = {p.normal_form.replace("ё", "е") for p in self.morph.parse(low)}
        return frozenset({"r:" + low} | {"r:" + f for f in forms})

    @staticmethod
    def kk(word: str) -> frozenset[str]:
        """Kazakh keys: every stem reading of the word (both spellings give the same keys)."""
        return frozenset("k:" + s for s in kazakh_stem.stems(word))

    def keys(self, word: str) -> frozenset[str]:
        """Russian and Kazakh keys of `word` (the hot loop: cached)."""
        hit = self._cache.get(word)
        if hit is None:
            fixed = normalize_word(word)
            hit = self.ru(fixed) | self.kk(fixed)
            if len(self._cache) < 500_000:
                self._cache[word] = hit
        return hit

    def parses(self, word: str) -> list[Any]:
        """pymorphy3 readings of a word (cached; used by the context rules)."""
        hit = self._parses.get(word)
        if hit is None:
            hit = self._parses[word] = self.morph.parse(normalize_word(word).lower())
        return hit

    def plural_only(self, word: str, lemmas: frozenset[str]) -> bool:
        """Whether every reading of `word` as one of `lemmas` ("r:акимат") is plural."""
        mine = [p for p in self.parses(word) if "r:" + p.normal_form.replace("ё", "е") in lemmas]
        return bool(mine) and all("plur" in p.tag for p in mine)

    def ru_prefix(self, word: str) -> str:
        """The longest prefix every inflected form of a Russian word starts with (folded)."""
        low = word.lower().replace("ё", "е")
        if _is_caps(word):
            return fold_for_prefilter(low)  # abbreviations are not inflected in writing
        lexeme = self.morph.parse(low)[0].lexeme
        forms = {f.word.replace("ё", "е") for f in lexeme if not f.word.startswith("наи")}
        forms.add(low)
        return fold_for_prefilter(os.path.commonprefix(sorted(forms)))


def normalize_word(word: str) -> str:
    """Replace Latin look-alike letters inside a mostly Cyrillic word ("аkимат" -> "акимат")."""
    fixed = fix_lookalikes(word)
    if fixed.isascii():
        return fixed
    return fixed.translate(_MORE_LOOKALIKES)


def fold_for_prefilter(text: str) -> str:
    """Lower-case and fold Kazakh letters and Latin look-alikes (keeps lengths)."""
    return text.lower().translate(_PREFILTER_FOLD)


def tokenize(text: str, offset: int = 0) -> list[_Token]:
    """Alphabetic tokens with character offsets (plus `offset`)."""
    return [_Token(m.start() + offset, m.end() + offset, m.group()) for m in _TOKEN.finditer(text)]


def _is_caps(word: str) -> bool:
    return sum(ch.isupper() for ch in word) >= 2


class Gazetteer:
    """The compiled knowledge base: `link` finds city bodies and places in a document."""

    def __init__(self, kb: dict[str, Any], lemmatizer: Lemmatizer | None = None) -> None:
        self.lem = lemmatizer or Lemmatizer()
        self.bodies: dict[str, Body] = {}
        self.aliases: list[Alias] = []
        self._compile(kb)
        self._index: dict[str, list[Alias]] = {}
        for alias in self.aliases:
            for key in alias.keys[0]:
                self._index.setdefault(key, []).append(alias)
        self._starts = tuple(sorted({self._token_prefix(a, tokenize(a.text)[0].surface)
                                     for a in self.aliases}))
        main, context = self._triggers()
        self._main_re = _prefix_regex(main)
        self._context_re = _prefix_regex(context)

    # ---- building ---------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path = KB_FILE, lemmatizer: Lemmatizer | None = None
                  ) -> Gazetteer:
        """Load and compile a knowledge-base file."""
        path = Path(path)
        if not path.exists():
            raise KnowledgeBaseError(
                f"{path} is missing: restore configs/city_bodies.yaml from git"
            )
        with open(path, encoding="utf-8") as fh:
            kb = yaml.safe_load(fh)
        if not isinstance(kb, dict) or not isinstance(kb.get("bodies"), list):
            raise KnowledgeBaseError(f"{path}: expected a mapping with a 'bodies' list")
        return cls(kb, lemmatizer)

    def _compile(self, kb: dict[str, Any]) -> None:
        city = kb.get("city") or {}
        templates = kb.get("templates") or {}
        for i, raw in enumerate(kb["bodies"]):
            body = _body(raw, i)
            if body.id in self.bodies:
                raise KnowledgeBaseError(f"city_bodies.yaml: duplicate id {body.id!r}")
            self.bodies[body.id] = body
            for text, lang, kind, extra in _names(raw, city, templates):
                self._add(text, lang, kind, body_id=body.id, cased=bool(raw.get("cased")),
                          **extra)
        for lang_block, almaty in (("almaty", True), ("other", False)):
            block = (kb.get("places") or {}).get(lang_block) or {}
            for lang in ("ru", "kk"):
                for text in block.get(lang) or []:
                    self._add(text, lang, "place", almaty=almaty)
        for item in kb.get("followups") or []:
            self._add(item["text"], item["lang"], "followup", types=tuple(item["types"]))

    def _add(self, text: str, lang: str, kind: str, cased: bool = False, **extra: Any) -> None:
        toks = [t.surface for t in tokenize(text)]
        if not toks:
            raise KnowledgeBaseError(f"city_bodies.yaml: empty name {text!r}")
        key_of = self.lem.ru if lang == "ru" else self.lem.kk
        self.aliases.append(Alias(
            text=text, lang=lang, kind=kind,
            keys=tuple(key_of(t) for t in toks),
            cased=tuple(cased and t[:1].isupper() for t in toks),
            kk_letters=tuple(bool(KAZAKH_LETTERS.intersection(t)) for t in toks),
            caps=tuple(_is_caps(t) for t in toks),
            **extra,
        ))

    def _token_prefix(self, alias: Alias, tok: str) -> str:
        """A folded prefix that every inflected form of one word of `alias` starts with."""
        folded = fold_for_prefilter(tok)
        if any(alias.cased):
            pref = folded  # brand names: written as in the base
        elif alias.lang == "ru":
            pref = self.lem.ru_prefix(tok)
        else:
            pref = min(kazakh_stem.stems(tok), key=len)
            if pref[-1] in "кп" and not _is_caps(tok):
                pref = pref[:-1]  # may be written -г/-б before a vowel
        if len(pref) < 2 or not folded.startswith(pref):
            pref = folded[:2]
        return pref

    def _anchor(self, alias: Alias) -> str:
        """The longest word prefix that every form of the alias must contain (prefilter)."""
        return max((self._token_prefix(alias, t.surface) for t in tokenize(alias.text)), key=len)

    def _triggers(self) -> tuple[set[str], set[str]]:
        main: set[str] = set()
        context: set[str] = set()
        for alias in self.aliases:
            is_main = alias.kind in ("body", "bare") or (alias.kind == "place" and alias.almaty)
            (main if is_main else context).add(self._anchor(alias))
        return main, context

    # ---- linking ----------------------------------------------------------------------
    def link(self, text: str, sentences: Sequence[tuple[int, int, int, str]],
             date: str | None = None) -> DocLinks:
        """Find city bodies and Almaty places in one document.

        Args:
            text: the document text.
            sentences: (sent_id, start, end, lang) per sentence, offsets into `text`, in order.
            date: ISO date of the document ("2026-04-01"), to honour names' validity; None = any.
        """
        out = DocLinks()
        if not text or not sentences:
            return out
        folded = fold_for_prefilter(text)
        if not self._main_re.search(folded):
            return out
        resolver = _Resolver(self, out)
        for sent_id, start, end, lang in sentences:
            piece = folded[start:end]
            if not (self._main_re.search(piece) or self._context_re.search(piece)):
                continue
            tokens = tokenize(text[start:end], start)
            if tokens:
                chosen = self._select(self._candidates(tokens, date))
                resolver.sentence(sent_id, lang, tokens, chosen, text)
        return out

    def _candidates(self, tokens: list[_Token], date: str | None) -> list[_Cand]:
        # a word can start a name only if it starts like a name's first word: lemmatise those
        # (and the words after them, lazily) and nothing else -- pymorphy3 is the slow part
        keys: list[frozenset[str] | None] = [None] * len(tokens)

        def keys_at(j: int) -> frozenset[str]:
            k = keys[j]
            if k is None:
                k = keys[j] = self.lem.keys(tokens[j].surface)
            return k

        found: list[_Cand] = []
        for i, tok in enumerate(tokens):
            if not fold_for_prefilter(tok.surface).startswith(self._starts):
                continue
            first = keys_at(i)
            seen: set[int] = set()
            for k in first:
                for alias in self._index.get(k, ()):
                    if id(alias) in seen:
                        continue
                    seen.add(id(alias))
                    n = len(alias.keys)
                    if i + n > len(tokens) or not _valid(alias, date):
                        continue
                    if all(not keys_at(i + j).isdisjoint(alias.keys[j]) for j in range(1, n)) and \
                            _case_ok(alias, tokens[i:i + n]):
                        found.append(_Cand(i, i + n, alias))
        return found

    @staticmethod
    def _select(cands: list[_Cand]) -> list[_Cand]:
        """Longest first, then leftmost, then full names before bare names, places, follow-ups."""
        cands.sort(key=lambda c: (c.t0 - c.t1, c.t0, _RANK[c.alias.kind]))
        taken: set[int] = set()
        chosen = []
        for c in cands:
            span = range(c.t0, c.t1)
            if taken.isdisjoint(span):
                taken.update(span)
                chosen.append(c)
        return sorted(chosen, key=lambda c: c.t0)

    def is_city_body(self, body_id: str) -> bool:
        body = self.bodies.get(body_id)
        return bool(body and body.city_body)


class _Resolver:
    """Applies the context rules sentence by sentence, keeping the document's state."""

    def __init__(self, gaz: Gazetteer, out: DocLinks) -> None:
        self.gaz = gaz
        self.out = out
        self.last_place_almaty: bool | None = None
        self.last_foreign_pos = -1
        self.history: list[tuple[int, str]] = []  # (char position, body id) of linked bodies

    def sentence(self, sent_id: int, lang: str, tokens: list[_Token], chosen: list[_Cand],
                 text: str) -> None:
        safe = self._safe_tokens(chosen)
        foreign = self._foreign_tokens(chosen)
        for c in chosen:
            start, end = tokens[c.t0].start, tokens[c.t1 - 1].end
            a = c.alias
            if a.kind == "place":
                self.last_place_almaty = a.almaty
                if a.almaty:
                    self.out.almaty_places.append((start, end))
                else:
                    self.last_foreign_pos = start
                continue
            if a.kind in ("bare", "followup") and not (
                self._context_ok(c, tokens, safe, foreign, text)
                and self._grammar_ok(c, tokens, safe, text)
            ):
                continue
            body_id = a.body_id if a.kind != "followup" else self._refer_back(a.types)
            if body_id is None or (a.kind == "bare" and self.last_place_almaty is False):
                continue
            body = self.gaz.bodies[body_id]
            self.out.links.append(Link(sent_id, start, end, body_id, body.city_body, lang, a.kind))
            self.history.append((start, body_id))
            if a.kind == "body":
                self.last_place_almaty = body.city_body
                if not body.city_body:
                    self.last_foreign_pos = start

    @staticmethod
    def _safe_tokens(chosen: list[_Cand]) -> set[int]:
        """Tokens inside an Almaty place or a full Almaty body name."""
        out: set[int] = set()
        for c in chosen:
            if (c.alias.kind == "place" and c.alias.almaty) or c.alias.kind == "body":
                out.update(range(c.t0, c.t1))
        return out

    @staticmethod
    def _foreign_tokens(chosen: list[_Cand]) -> set[int]:
        out: set[int] = set()
        for c in chosen:
            if c.alias.kind == "place" and not c.alias.almaty:
                out.update(range(c.t0, c.t1))
        return out

    @staticmethod
    def _context_ok(c: _Cand, tokens: list[_Token], safe: set[int], foreign: set[int],
                    text: str) -> bool:
        """A bare name or follow-up with no other city, region or proper name beside it."""
        near = set(range(c.t1, min(c.t1 + 3, len(tokens)))) | set(range(max(c.t0 - 2, 0), c.t0))
        if near & foreign:
            return False
        nxt, prev = c.t1, c.t0 - 1
        if nxt < len(tokens) and nxt not in safe and _adjacent(tokens[nxt - 1], tokens[nxt], text)\
                and tokens[nxt].surface[:1].isupper():
            return False
        if prev >= 1 and prev not in safe and _adjacent(tokens[prev], tokens[c.t0], text) \
                and tokens[prev].surface[:1].isupper():
            return False
        return True

    def _grammar_ok(self, c: _Cand, tokens: list[_Token], safe: set[int], text: str) -> bool:
        """Russian short names that grammar shows to be some other or many bodies.

        Rejected: a plural ("в маслихатах страны"); a plural adjective before a bare name
        ("региональные управления образования"); any adjective before a follow-up ("в местном
        управлении"); a genitive after a follow-up ("управлении внутренних дел", "акимат
        села"); "республиканского / областного / районного" after either ("акимата города
        республиканского значения").
        """
        if c.alias.lang != "ru":
            return True
        lem = self.gaz.lem
        if lem.plural_only(tokens[c.t0].surface, c.alias.keys[0]):
            return False
        followup = c.alias.kind == "followup"
        prev, nxt = c.t0 - 1, c.t1
        if prev >= 0 and prev not in safe and _adjacent(tokens[prev], tokens[c.t0], text):
            tag = lem.parses(tokens[prev].surface)[0].tag
            if tag.POS in ("ADJF", "PRTF") and (followup or "plur" in tag):
                return False
        if nxt < len(tokens) and nxt not in safe and _adjacent(tokens[nxt - 1], tokens[nxt], text):
            first = lem.parses(tokens[nxt].surface)[0]
            if first.normal_form in _GENERIC_AFTER:
                return False
            if followup and first.tag.POS in ("NOUN", "ADJF", "PRTF") and "gent" in first.tag:
                return False
        return True

    def _refer_back(self, types: tuple[str, ...]) -> str | None:
        for pos, body_id in reversed(self.history):
            body = self.gaz.bodies[body_id]
            if body.type in types:
                # another city named since then breaks the chain, unless the body itself is
                # outside the city (the region's own towns do not)
                ok = pos >= self.last_foreign_pos or not body.city_body
                return body_id if ok else None
        return None


def _adjacent(left: _Token, right: _Token, text: str) -> bool:
    gap = text[left.end:right.start]
    return gap.strip(" .") == "" and "\n" not in gap


def _valid(alias: Alias, date: str | None) -> bool:
    if date is None:
        return True
    if alias.valid_from and date < alias.valid_from:
        return False
    return not (alias.valid_to and date > alias.valid_to)


def _case_ok(alias: Alias, toks: Sequence[_Token]) -> bool:
    for tok, cased, caps, kk in zip(toks, alias.cased, alias.caps, alias.kk_letters, strict=True):
        if caps and not _is_caps(tok.surface):
            return False
        if cased and not tok.surface[:1].isupper():
            return False
        if cased and not kk and KAZAKH_LETTERS.intersection(tok.surface):
            return False  # a brand ("Онай") is not the Kazakh word ("оңай")
    return True


def _prefix_regex(prefixes: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any word that starts with one of `prefixes` (shorter ones win)."""
    kept: list[str] = []
    for p in sorted(set(prefixes), key=len):
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    if not kept:
        return re.compile(r"(?!x)x")
    body = "|".join(re.escape(p) for p in sorted(kept, key=len, reverse=True))
    return re.compile(rf"(?<![^\W\d_])(?:{body})")


def _body(raw: dict[str, Any], i: int) -> Body:
    try:
        body = Body(
            id=str(raw["id"]), type=str(raw["type"]), parent=raw.get("parent"),
            name_ru=str(raw["name_ru"]), name_kk=str(raw["name_kk"]),
            city_body=bool(raw.get("city_body", True)), role=bool(raw.get("role", False)),
        )
    except (KeyError, TypeError) as exc:
        raise KnowledgeBaseError(
            f"city_bodies.yaml body #{i}: needs id, type, name_ru and name_kk ({exc})"
        ) from exc
    if body.type not in BODY_TYPES:
        raise KnowledgeBaseError(f"city_bodies.yaml {body.id}: unknown type {body.type!r}")
    return body


def _names(raw: dict[str, Any], city: dict[str, Any], templates: dict[str, Any]
           ) -> Iterable[tuple[str, str, str, dict[str, Any]]]:
    """(text, lang, kind, extra) for every name of one body."""
    validity = {k: str(raw[k]) for k in ("valid_from", "valid_to") if raw.get(k)}
    yield raw["name_ru"], "ru", "body", validity
    yield raw["name_kk"], "kk", "body", validity
    for lang in ("ru", "kk"):
        for text in raw.get(lang) or []:
            yield text, lang, "body", validity
    for text in raw.get("bare_ru") or []:
        yield text, "ru", "bare", validity
        for suffix in city.get("ru_suffixes") or []:
            yield f"{text} {suffix}", "ru", "body", validity
    for text in raw.get("bare_kk") or []:
        yield text, "kk", "bare", validity
        for prefix in city.get("kk_prefixes") or []:
            yield f"{prefix} {text}", "kk", "body", validity
    slots = raw.get("slots")
    if slots:
        for lang in ("ru", "kk"):
            for tpl in (templates.get(raw["type"]) or {}).get(lang) or []:
                yield tpl.format(**slots), lang, "body", validity
    for former in raw.get("former") or []:
        dates = {k: str(former[k]) for k in ("valid_from", "valid_to") if former.get(k)}
        for lang in ("ru", "kk"):
            if former.get(lang):
                yield former[lang], lang, "body", dates
    holders = list(raw.get("holders") or []) + list((raw.get("head_role") or {}).get("holders")
                                                    or [])
    for holder in holders:
        dates = {k: str(holder[k]) for k in ("valid_from", "valid_to") if holder.get(k)}
        yield str(holder["name"]), "ru", "body", dates
        yield str(holder["name"]), "kk", "body", dates
