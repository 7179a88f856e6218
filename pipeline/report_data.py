"""Figures for the weekly and period reports, computed from the stage tables (pure functions).

Everything here is DataFrame in, DataFrame out: no disk, no rendering. A `Report` holds the
headline numbers, the sections (each a table, optionally with a chart spec) and the
automatically generated "what to watch" list; `report_html`, `report_xlsx` and `report_docx`
only render it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipeline.config import ReportParams
from pipeline.privacy import drop_author_fields, mask_series, publication_titles, safe_url
from pipeline.topic_continuity import trend_status

ALMATY_TZ = "Asia/Almaty"
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
CONTEXT_CHARS = 400
ALL_WEEKS = "all"  # --from all / --to all / --period all: the first / last week of the data


class ReportError(ValueError):
    """The report cannot be built as asked (unknown week, empty period ...); message in Russian."""


# ----------------------------------------------------------------------------- data containers


@dataclass(frozen=True)
class Inputs:
    """The stage tables a report reads, plus display names of bodies and sites."""

    documents: pd.DataFrame
    languages: pd.DataFrame
    doc_entities: pd.DataFrame
    mentions: pd.DataFrame
    doc_topics: pd.DataFrame
    topics: pd.DataFrame
    topic_weeks: pd.DataFrame
    mention_sentiment: pd.DataFrame
    body_names: Mapping[str, str] = field(default_factory=dict)
    site_names: Mapping[str, str] = field(default_factory=dict)
    not_city_bodies: frozenset[str] = frozenset()  # in city_bodies.yaml as traps only


@dataclass(frozen=True)
class Chart:
    """How to draw a section's table: `kind` is bar | barh | line | stackh."""

    kind: str
    x: str
    y: tuple[str, ...]


@dataclass
class Section:
    """One report section: a table (all rows go to XLSX), a chart spec and rows to show."""

    key: str
    table: pd.DataFrame
    chart: Chart | None = None
    show_rows: int = 30


@dataclass
class Report:
    """A built report, ready for rendering."""

    kind: str  # weekly | period
    weeks: tuple[str, ...]
    prev_weeks: tuple[str, ...]
    start: date
    end: date
    headline: pd.DataFrame
    sections: list[Section]
    attention: list[str]
    notes: list[str]
    coverage: list[str] = field(default_factory=list)  # partial-data warnings for the headline

    @property
    def name(self) -> str:
        """File stem: weekly_2026-W14 or period_2026-W10_2026-W14."""
        if self.kind == "weekly":
            return f"weekly_{self.weeks[0]}"
        return f"period_{self.weeks[0]}_{self.weeks[-1]}"


@dataclass(frozen=True)
class Frames:
    """Inputs joined once: every row carries its document's week (and what else it needs)."""

    docs: pd.DataFrame
    mentions: pd.DataFrame  # city-body mentions only
    sentiment: pd.DataFrame
    doc_topics: pd.DataFrame
    topics: pd.DataFrame
    topic_weeks: pd.DataFrame
    site_names: Mapping[str, str]


# ----------------------------------------------------------------------------- ISO weeks


def parse_week(week: str) -> tuple[int, int]:
    """(year, week) of an ISO week label; ReportError with a hint when malformed."""
    m = _WEEK_RE.match(str(week).strip())
    if not m:
        raise ReportError(f"неделя {week!r} не в формате ГГГГ-Wнн, например 2026-W14")
    year, num = int(m[1]), int(m[2])
    try:
        date.fromisocalendar(year, num, 1)
    except ValueError as exc:
        raise ReportError(f"в {year} году нет недели {num}") from exc
    return year, num


def week_monday(week: str) -> date:
    """Monday of an ISO week."""
    year, num = parse_week(week)
    return date.fromisocalendar(year, num, 1)


def week_label(day: date) -> str:
    """ISO week label of a date."""
    year, num, _ = day.isocalendar()
    return f"{year}-W{num:02d}"


def shift_week(week: str, n: int) -> str:
    """The week `n` weeks after (negative: before) `week`."""
    return week_label(week_monday(week) + timedelta(weeks=n))


def weeks_between(first: str, last: str) -> list[str]:
    """All ISO weeks from `first` to `last` inclusive."""
    a, b = week_monday(first), week_monday(last)
    if a > b:
        raise ReportError(f"начало периода {first} позже конца {last}")
    return [week_label(a + timedelta(weeks=i)) for i in range((b - a).days // 7 + 1)]


def available_weeks(docs: pd.DataFrame) -> list[str]:
    """Weeks that hold at least one document, sorted."""
    return sorted(docs["week"].dropna().astype(str).unique())


def default_week(docs: pd.DataFrame, today: date | None = None) -> str:
    """Latest complete week in the data: its Sunday is over, either because the Almaty date
    `today` is later, or because the data holds documents from after it. If no week is
    complete yet, the latest week."""
    weeks = available_weeks(docs)
    if not weeks:
        raise ReportError("в таблице documents нет ни одной датированной публикации")
    today = today or datetime.now(ZoneInfo("Asia/Almaty")).date()
    newest = docs["date"].max()
    newest_day = pd.Timestamp(newest).date() if not pd.isna(newest) else today
    done = [w for w in weeks if week_monday(w) + timedelta(days=6) < max(today, newest_day)]
    return done[-1] if done else weeks[-1]


def _missing_week_error(asked: str, weeks: Sequence[str]) -> ReportError:
    listed = ", ".join(weeks) if weeks else "нет ни одной"
    return ReportError(f"нет данных за {asked}. Недели, за которые есть данные: {listed}")


def _period_end(value: str | None, default: str) -> str:
    """A --from/--to value: the data's first/last week when missing or "all"."""
    if value is None or value.strip().lower() in ("", ALL_WEEKS):
        return default
    return value.strip()


def resolve_weeks(
    docs: pd.DataFrame, week: str | None, week_from: str | None, week_to: str | None
) -> tuple[str, list[str]]:
    """('weekly' | 'period', weeks) from the CLI arguments, checked against the data.

    `week_from` / `week_to` may be "all" (or left out in a period): the first / last week with data.
    """
    weeks = available_weeks(docs)
    if week and (week_from or week_to):
        raise ReportError("укажите либо --week, либо --from/--to, но не то и другое сразу")
    if week_from or week_to:
        if not weeks:
            raise _missing_week_error("период", weeks)
        first = _period_end(week_from, weeks[0])
        last = _period_end(week_to, weeks[-1])
        span = weeks_between(first, last)
        if not set(span) & set(weeks):
            raise _missing_week_error(f"период {first} – {last}", weeks)
        return "period", span
    chosen = week.strip() if week else default_week(docs)
    parse_week(chosen)
    if chosen not in weeks:
        raise _missing_week_error(f"неделю {chosen}", weeks)
    return "weekly", [chosen]


# ----------------------------------------------------------------------------- preparation


def _list_len(values: pd.Series) -> pd.Series:
    return values.map(lambda v: len(v) if isinstance(v, (list, tuple, np.ndarray)) else 0)


def prepare(inputs: Inputs) -> Frames:
    """Join the stage tables once so every row knows its week, site, date and language."""
    docs = drop_author_fields(inputs.documents).copy()
    ts = pd.to_datetime(docs["published_utc"], utc=True)
    docs["date"] = ts.dt.tz_convert(ALMATY_TZ).dt.tz_localize(None).dt.normalize()
    week = docs["week"].astype(object).where(docs["week"].notna(), None)
    no_week = week.isna() & docs["date"].notna()
    week.loc[no_week] = [week_label(d.date()) for d in docs.loc[no_week, "date"]]
    docs["week"] = week
    docs["site_name"] = docs["site"].map(lambda s: inputs.site_names.get(s, s))
    docs["story_id"] = docs["story_id"].fillna(docs["doc_id"])
    docs["copies"] = pd.to_numeric(docs["copies"], errors="coerce").fillna(1).clip(lower=1)
    docs["views"] = pd.to_numeric(docs["views"], errors="coerce")
    langs = inputs.languages[["doc_id", "lang"]].drop_duplicates("doc_id")
    ents = inputs.doc_entities[["doc_id", "almaty_related", "bodies", "persons"]]
    docs = docs.merge(langs, on="doc_id", how="left").merge(
        ents.drop_duplicates("doc_id"), on="doc_id", how="left"
    )
    docs["lang"] = docs["lang"].fillna("other")
    docs["almaty_related"] = docs["almaty_related"].astype("boolean").fillna(False).astype(bool)
    docs["has_body"] = _list_len(docs["bodies"]) > 0
    keys = docs[["doc_id", "week", "site", "site_name", "kind", "date", "story_id"]]
    city = ~inputs.mentions["body_id"].isin(list(inputs.not_city_bodies))
    mentions = inputs.mentions[inputs.mentions["body_id"].notna() & city][["doc_id", "body_id"]]
    rated = inputs.mention_sentiment
    rated = rated[~rated["body_id"].isin(list(inputs.not_city_bodies))]
    sentiment = rated[["doc_id", "body_id", "context", "label", "p_negative"]].merge(
        keys, on="doc_id", how="inner"
    )
    doc_topics = inputs.doc_topics[["doc_id", "topic_id"]].drop_duplicates("doc_id")
    return Frames(
        docs=docs,
        mentions=mentions.merge(keys, on="doc_id", how="inner"),
        sentiment=sentiment,
        doc_topics=doc_topics.merge(
            docs[["doc_id", "week", "lang", "almaty_related", "site_name"]],
            on="doc_id",
            how="inner",
        ),
        topics=inputs.topics,
        topic_weeks=inputs.topic_weeks,
        site_names=inputs.site_names,
    )


def _in(df: pd.DataFrame, weeks: Sequence[str]) -> pd.DataFrame:
    return df[df["week"].isin(list(weeks))]


# ----------------------------------------------------------------------------- small maths


def net_index(labels: pd.Series) -> float:
    """(positive - negative) / n over sentiment labels; NaN when there are none."""
    n = len(labels)
    if n == 0:
        return float("nan")
    return float(((labels == "positive").sum() - (labels == "negative").sum()) / n)


def _pct_change(cur: pd.Series | float, prev: pd.Series | float) -> Any:
    """cur / prev - 1, NaN where prev is 0 or missing."""
    if isinstance(cur, pd.Series):
        prev = pd.Series(prev, index=cur.index, dtype=float)
        return (cur.astype(float) / prev.where(prev > 0)) - 1
    return cur / prev - 1 if prev and not pd.isna(prev) else float("nan")


def _sentiment_counts(df: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Counts per sentiment class (neg, neu, pos), n and net index per group."""
    counts = pd.crosstab([df[c] for c in ([by] if isinstance(by, str) else by)], df["label"])
    out = pd.DataFrame(index=counts.index)
    for label, col in (("negative", "neg"), ("neutral", "neu"), ("positive", "pos")):
        out[col] = counts[label] if label in counts else 0
    out["n"] = out[["neg", "neu", "pos"]].sum(axis=1)
    out["net"] = (out["pos"] - out["neg"]) / out["n"].where(out["n"] > 0)
    return out.astype({"neg": "int64", "neu": "int64", "pos": "int64", "n": "int64"})


def _first_words(words: Any, n: int = 5) -> str:
    if isinstance(words, (list, tuple, np.ndarray)):
        return ", ".join(str(w) for w in list(words)[:n])
    return "" if words is None or (isinstance(words, float) and math.isnan(words)) else str(words)


# ----------------------------------------------------------------------------- headline


def _stats(f: Frames, weeks: Sequence[str]) -> dict[str, float]:
    docs = _in(f.docs, weeks)
    n = len(docs)
    rated = _in(f.sentiment, weeks)
    return {
        "documents": n,
        "almaty_share": float(docs["almaty_related"].mean()) if n else float("nan"),
        "body_mentions": len(_in(f.mentions, weeks)),
        "net_sentiment": net_index(rated["label"]),
        "articles": int((docs["kind"] != "comment").sum()),
        "comments": int((docs["kind"] == "comment").sum()),
        "almaty_docs": int(docs["almaty_related"].sum()),
        "rated": len(rated),
        "negative": int((rated["label"] == "negative").sum()),
        "bodies": int(_in(f.mentions, weeks)["body_id"].nunique()),
    }


def _hint(template: str | None, stats: Mapping[str, float]) -> str:
    """A KPI card's explanation line, filled from the period's counts ("" when no template)."""
    if not template:
        return ""
    return template.format(**{k: format_cell(v, "int") for k, v in stats.items()})


def headline(f: Frames, cur: Sequence[str], prev: Sequence[str], texts: Mapping) -> pd.DataFrame:
    """The four headline numbers with the previous period, the change and a one-line hint."""
    now, before = _stats(f, cur), _stats(f, prev)
    fmt = {
        "documents": "int",
        "almaty_share": "pct",
        "body_mentions": "int",
        "net_sentiment": "net",
    }
    rows = []
    for key, kind in fmt.items():
        value, old = now[key], before[key]
        if kind == "int":
            change, change_kind = _pct_change(float(value), float(old)), "pct_change"
        elif kind == "pct":
            change, change_kind = (value - old) * 100, "pp"
        else:
            change, change_kind = value - old, "delta"
        rows.append(
            {
                "metric_key": key,
                "metric": texts["metrics"][key],
                "value": value,
                "previous": old,
                "change": change,
                "_fmt": kind,
                "_chg_fmt": change_kind,
                "_hint": _hint(texts.get("metric_hints", {}).get(key), now),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- coverage


def days_with_data(f: Frames, weeks: Sequence[str]) -> tuple[int, list[date]]:
    """(days of `weeks` holding at least one document, the days without any), Almaty dates."""
    days = pd.date_range(week_monday(min(weeks)), week_monday(max(weeks)) + timedelta(days=6))
    seen = set(_in(f.docs, weeks)["date"].dropna())
    missing = [d.date() for d in days if d not in seen]
    return len(days) - len(missing), missing


def _day_list(days: Sequence[date], limit: int = 7) -> str:
    shown = ", ".join(d.strftime("%d.%m") for d in days[:limit])
    return shown + (" …" if len(days) > limit else "")


def coverage(f: Frames, cur: Sequence[str], prev: Sequence[str], texts: Mapping) -> list[str]:
    """Warnings for the headline when the period or the one it is compared with lacks days.

    A partial crawl makes week-over-week changes misleading, so the report says so up front.
    """
    c = texts["coverage"]
    total = 7 * len(cur)
    out = []
    n, missing = days_with_data(f, cur)
    if 0 < n < total:
        out.append(c["partial"].format(n=n, total=total, missing=_day_list(missing)))
    n_prev, _ = days_with_data(f, prev)
    if n_prev == 0:
        out.append(c["no_previous"])
    elif n_prev < total:
        out.append(c["partial_previous"].format(n=n_prev, total=total))
    return out


# ----------------------------------------------------------------------------- volume


def volume_by_day(f: Frames, cur: Sequence[str]) -> pd.DataFrame:
    """Documents per Almaty-local day (articles and comments), every day of the weeks shown."""
    docs = _in(f.docs, cur)
    days = pd.date_range(week_monday(min(cur)), week_monday(max(cur)) + timedelta(days=6))
    table = pd.crosstab(docs["date"], docs["kind"]).reindex(days, fill_value=0)
    out = pd.DataFrame({"date": days})
    out["n_docs"] = table.sum(axis=1).to_numpy("int64")
    for kind, col in (("article", "n_articles"), ("comment", "n_comments")):
        out[col] = table[kind].to_numpy("int64") if kind in table else 0
    return out


def _volume_by(
    f: Frames, cur: Sequence[str], prev: Sequence[str], col: str, index: Sequence[str] = ()
) -> pd.DataFrame:
    now = _in(f.docs, cur)[col].value_counts()
    before = _in(f.docs, prev)[col].value_counts()
    keys = list(dict.fromkeys([*now.index, *index, *before.index]))
    out = pd.DataFrame({col: keys})
    out["n_docs"] = out[col].map(now).fillna(0).astype("int64")
    total = int(out["n_docs"].sum())
    out["share"] = out["n_docs"] / total if total else 0.0
    out["prev_docs"] = out[col].map(before).fillna(0).astype("int64")
    out["change_pct"] = _pct_change(out["n_docs"], out["prev_docs"])
    return out.sort_values(["n_docs", "prev_docs"], ascending=False, kind="stable")


def volume_by_site(f: Frames, cur: Sequence[str], prev: Sequence[str]) -> pd.DataFrame:
    """Documents per site (every monitored site, silent ones with 0), vs the previous period."""
    out = _volume_by(f, cur, prev, "site_name", list(f.site_names.values()))
    return out.rename(columns={"site_name": "site"}).reset_index(drop=True)


def volume_by_lang(
    f: Frames, cur: Sequence[str], prev: Sequence[str], texts: Mapping
) -> pd.DataFrame:
    """Documents per language (ru, kk, mixed, other) vs the previous period."""
    out = _volume_by(f, cur, prev, "lang")
    out["lang"] = out["lang"].map(lambda v: texts["langs"].get(v, v))
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- topics


def topic_week_counts(f: Frames, almaty: bool = False) -> pd.DataFrame:
    """Documents per (week, topic): from doc_topics, or TOPIC_WEEKS when doc_topics is empty.

    `almaty`: count only the Almaty-related documents (TOPIC_WEEKS' `n_docs_almaty`).
    """
    if len(f.doc_topics):
        dt = f.doc_topics[f.doc_topics["almaty_related"]] if almaty else f.doc_topics
        return dt.groupby(["week", "topic_id"]).size().rename("n_docs").reset_index()
    col = "n_docs_almaty" if almaty else "n_docs"
    tw = f.topic_weeks
    if col not in tw.columns:
        return pd.DataFrame({"week": pd.Series(dtype=object), "topic_id": pd.Series(dtype="int32"),
                             "n_docs": pd.Series(dtype="int64")})
    return tw[["week", "topic_id", col]].rename(columns={col: "n_docs"})


_PROPER_TAGS = frozenset({"Name", "Surn", "Patr", "Geox", "Orgn", "Trad", "Abbr"})
_LABEL_SPLIT = re.compile(r"\s*[,;]\s*")


def tidy_topic_label(label: object, is_common_word: Callable[[str], bool] | None = None) -> str:
    """A topic label an analyst can read: keyphrases apart, no stray capitals, no repeats.

    The topics stage glues two surface keyphrases into one label ("Переведут ТЭЦ, газ Обещают").
    The report shows them as distinct keyphrases joined by " · ", drops a keyphrase contained
    in another, and lowercases a capitalised word after the first when `is_common_word` says it
    is an ordinary word (not a name, place or abbreviation): "Переведут ТЭЦ · газ обещают".
    """
    text = " ".join(str(label if label is not None else "").split())
    parts = [p for p in _LABEL_SPLIT.split(text) if p]
    kept: list[str] = []
    for part in parts:
        low = part.lower()
        if any(low in k.lower() for k in kept):
            continue
        kept = [k for k in kept if k.lower() not in low] + [part]
    words = " · ".join(kept).split(" ")
    if is_common_word is not None:
        for i, w in enumerate(words[1:], start=1):
            if w[:1].isupper() and w[1:].islower() and is_common_word(w):
                words[i] = w.lower()
    out = " ".join(words)
    return out[:1].upper() + out[1:]


def russian_common_word(morph: Any) -> Callable[[str], bool]:
    """`is_common_word` for `tidy_topic_label` from a pymorphy3 MorphAnalyzer (passed in)."""

    def is_common(word: str) -> bool:
        if not morph.word_is_known(word.lower()):
            return False  # Kazakh words and rare names keep their case
        return not any(_PROPER_TAGS & set(p.tag.grammemes) for p in morph.parse(word))

    return is_common


def tidy_topic_labels(
    topics: pd.DataFrame, is_common_word: Callable[[str], bool] | None = None
) -> pd.DataFrame:
    """TOPICS with `tidy_topic_label` applied to every label except the outlier topic's."""
    out = topics.copy()
    real = out["topic_id"] >= 0
    out.loc[real, "label"] = [tidy_topic_label(v, is_common_word) for v in out.loc[real, "label"]]
    return out


N_TOPIC_EXAMPLES = 3
EXAMPLE_COLUMNS = [
    col for i in range(1, N_TOPIC_EXAMPLES + 1) for col in (f"example_{i}", f"url_{i}")
]
TOPIC_COLUMNS = [
    "topic_id",
    "label",
    "keywords",
    "n_docs",
    "share",
    "prev_docs",
    "change_docs",
    "change_pct",
    "status",
    "share_ru",
    "share_kk",
    "share_mixed",
    "neg",
    "neu",
    "pos",
    "net",
    "n_sites",
    "sites",
    *EXAMPLE_COLUMNS,
    "_status",
]


def _topic_examples(f: Frames, cur: Sequence[str], almaty: bool = False) -> pd.DataFrame:
    """topic_id -> the titles (masked) and URLs of its period's most-read articles.

    Comments are never examples (privacy); one copy per story; `almaty`: Almaty-related only.
    """
    docs = _in(f.docs, cur)
    docs = docs[(docs["kind"] != "comment") & (docs["almaty_related"] | (not almaty))]
    dt = _in(f.doc_topics, cur)[["doc_id", "topic_id"]].merge(
        docs[["doc_id", "title", "url", "views", "story_id"]], on="doc_id"
    )
    dt = dt[dt["title"].notna() & (dt["title"].astype(str).str.strip() != "")]
    out = pd.DataFrame(columns=EXAMPLE_COLUMNS, dtype=object)
    if dt.empty:
        return out
    dt = dt.sort_values(
        ["topic_id", "views", "doc_id"], ascending=[True, False, True], na_position="last"
    ).drop_duplicates(["topic_id", "story_id"])
    dt = dt.groupby("topic_id", sort=True).head(N_TOPIC_EXAMPLES)
    dt["rank"] = dt.groupby("topic_id").cumcount() + 1
    dt["title"] = mask_series(dt["title"]).to_numpy()
    dt["url"] = dt["url"].map(safe_url)
    for i in range(1, N_TOPIC_EXAMPLES + 1):
        top = dt[dt["rank"] == i].set_index("topic_id")
        out = out.reindex(out.index.union(top.index))
        out[f"example_{i}"] = top["title"].reindex(out.index)
        out[f"url_{i}"] = top["url"].reindex(out.index)
    return out


def _topic_labels(f: Frames) -> pd.DataFrame:
    topics = f.topics.drop_duplicates("topic_id").set_index("topic_id")
    out = pd.DataFrame(index=topics.index)
    out["label"] = mask_series(topics["label"]).to_numpy()
    words = topics["keywords"] if "keywords" in topics.columns else topics["top_words"]
    out["keywords"] = mask_series(words.map(_first_words)).to_numpy()
    return out


def _top_sites(dt: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """Per topic: number of sites and the `n` busiest ones ("NUR.KZ 5, Tengrinews 3")."""
    if dt.empty:
        return pd.DataFrame(columns=["n_sites", "sites"])
    per = dt.groupby(["topic_id", "site_name"]).size().rename("k").reset_index()
    per = per.sort_values(["topic_id", "k", "site_name"], ascending=[True, False, True])
    per["item"] = per["site_name"].astype(str) + " " + per["k"].astype(str)
    shown = per.groupby("topic_id").head(n).groupby("topic_id")["item"].agg(", ".join)
    return pd.DataFrame({"n_sites": per.groupby("topic_id").size(), "sites": shown})


def _flags(
    f: Frames,
    counts: pd.DataFrame,
    table: pd.DataFrame,
    cur: Sequence[str],
    prev: Sequence[str],
    almaty: bool,
    params: ReportParams,
) -> pd.Series:
    """Status code per topic: new | growing | shrinking | stable | vanished.

    The all-documents view of a weekly report takes the topics stage's flags (TOPIC_WEEKS
    `status`, which also remembers earlier runs); other views apply the same rule
    (`topic_continuity.trend_status`) to the period's counts with the report's thresholds.
    """
    tw = f.topic_weeks
    if not almaty and len(cur) == 1 and "status" in tw.columns:
        staged = tw[(tw["week"] == cur[0]) & tw["status"].notna()]
        staged = staged.drop_duplicates("topic_id").set_index("topic_id")["status"]
        if table.index.isin(staged.index).all() and len(staged):
            return staged.reindex(table.index).astype(object)
    first = counts[counts["n_docs"] > 0].groupby("topic_id")["week"].min()
    has_prev = int(_in(counts, prev)["n_docs"].sum()) > 0
    out = {}
    for topic, row in table.iterrows():
        is_first = first.get(topic) in set(cur)
        if not has_prev:
            out[topic] = "new" if is_first else "stable"  # nothing to compare with
        else:
            out[topic] = trend_status(
                int(row["n_docs"]), int(row["prev_docs"]), is_first,
                params.growth_ratio, params.min_topic_docs,
            )
    return pd.Series(out, index=table.index, dtype=object)


def topics_table(
    f: Frames,
    cur: Sequence[str],
    prev: Sequence[str],
    almaty: bool = False,
    params: ReportParams | None = None,
    texts: Mapping | None = None,
) -> pd.DataFrame:
    """Topics of the period: size, share, trend, languages, sites, sentiment, three examples.

    `almaty=True` is the Almaty-only view: the same topics (one model, no second fit) counted on
    the documents with `almaty_related`; shares are then shares of the Almaty-related documents.
    Topics present in the previous period but not in this one stay as `vanished` rows (0
    documents, last). `_status` holds the status code, `status` its text in the report language.
    """
    params = params or ReportParams()
    counts = topic_week_counts(f, almaty)
    total = int(_in(counts, cur)["n_docs"].sum())  # the view's documents, outliers included
    counts = counts[counts["topic_id"] >= 0]
    now = _in(counts, cur).groupby("topic_id")["n_docs"].sum()
    before = _in(counts, prev).groupby("topic_id")["n_docs"].sum()
    ids = sorted(set(now[now > 0].index) | set(before[before > 0].index))
    out = pd.DataFrame(index=pd.Index(ids, name="topic_id"))
    out["n_docs"] = now.reindex(out.index).fillna(0).astype("int64")
    out["share"] = out["n_docs"] / total if total else 0.0
    out["prev_docs"] = before.reindex(out.index).fillna(0).astype("int64")
    out["change_docs"] = out["n_docs"] - out["prev_docs"]
    out["change_pct"] = _pct_change(out["n_docs"], out["prev_docs"])
    out["_status"] = _flags(f, counts, out, cur, prev, almaty, params)
    names = (texts or {}).get("status", {})
    out["status"] = out["_status"].map(lambda c: names.get(c, c))
    dt = _in(f.doc_topics, cur)
    if almaty:
        dt = dt[dt["almaty_related"]]
    mix = pd.crosstab(dt["topic_id"], dt["lang"], normalize="index")
    for lang in ("ru", "kk", "mixed"):
        out[f"share_{lang}"] = mix[lang].reindex(out.index) if lang in mix else 0.0
    sent = _in(f.sentiment, cur).merge(dt[["doc_id", "topic_id"]], on="doc_id")
    sc = _sentiment_counts(sent, "topic_id").reindex(out.index)
    for col in ("neg", "neu", "pos"):
        out[col] = sc[col].fillna(0).astype("int64")
    out["net"] = sc["net"]
    sites = _top_sites(dt).reindex(out.index)
    out["n_sites"] = sites["n_sites"].fillna(0).astype("int64")
    out["sites"] = sites["sites"].fillna("").astype(object)
    out = out.join(_topic_labels(f), how="left")
    out["label"] = out["label"].fillna("").astype(object)
    out.loc[out["label"] == "", "label"] = [f"#{i}" for i in out.index[out["label"] == ""]]
    out["keywords"] = out["keywords"].fillna("")
    examples = _topic_examples(f, cur, almaty).reindex(out.index)
    for col in EXAMPLE_COLUMNS:
        out[col] = examples[col].fillna("").astype(object)
    out = out.reset_index()
    out = out.sort_values(["n_docs", "prev_docs", "topic_id"], ascending=[False, False, True],
                          kind="stable")
    return out[TOPIC_COLUMNS].reset_index(drop=True)


def new_and_growing(
    f: Frames,
    cur: Sequence[str],
    prev: Sequence[str],
    topics: pd.DataFrame,
    params: ReportParams,
    texts: Mapping,
) -> pd.DataFrame:
    """Topics first seen in the period, and topics that grew by `growth_ratio` or more.

    A topic is new only when the data reaches back before its first week: in a period that
    starts with the data itself, every topic would otherwise be "new".
    """
    counts = topic_week_counts(f)
    first_seen = counts[counts["n_docs"] > 0].groupby("topic_id")["week"].min()
    data_weeks = available_weeks(f.docs)
    t = topics.copy()
    t["first_week"] = t["topic_id"].map(first_seen)
    after_start = t["first_week"].map(lambda w: bool(data_weeks) and str(w) > data_weeks[0])
    is_new = (
        t["first_week"].isin(list(cur))
        & after_start.astype(bool)
        & (t["n_docs"] >= params.min_topic_docs)
    )
    grows = (
        ~is_new
        & (t["prev_docs"] > 0)
        & (t["n_docs"] >= params.growth_ratio * t["prev_docs"])
        & (t["n_docs"] - t["prev_docs"] >= params.min_topic_docs)
    )
    t["status"] = np.where(is_new, texts["status"]["new"], texts["status"]["growing"])
    n = t[["neg", "neu", "pos"]].sum(axis=1)
    t["neg_share"] = t["neg"] / n.where(n > 0)
    t = t[is_new | grows]
    cols = [
        "status",
        "topic_id",
        "label",
        "keywords",
        "n_docs",
        "prev_docs",
        "change_pct",
        "neg_share",
        "first_week",
    ]
    return t[cols].reset_index(drop=True)


# ----------------------------------------------------------------------------- stories


def stories_table(f: Frames, cur: Sequence[str], comment_label: str) -> pd.DataFrame:
    """Near-duplicate clusters of articles ranked by reach: sites, copies, views."""
    docs = _in(f.docs, cur)
    docs = docs[docs["kind"] != "comment"].sort_values(["date", "doc_id"], kind="stable")
    if docs.empty:
        return pd.DataFrame(
            columns=["title", "first_date", "n_sites", "n_docs", "copies", "views", "sites", "url"]
        )
    g = docs.groupby("story_id", sort=False)
    out = pd.DataFrame(
        {
            "n_sites": g["site"].nunique(),
            "n_docs": g.size(),
            "copies": g["copies"].sum().astype("int64"),
            "views": g["views"].sum(min_count=1),
            "first_date": g["date"].min(),
        }
    )
    first = g.head(1).set_index("story_id")
    out["title"] = publication_titles(first["title"], first["kind"], comment_label).reindex(
        out.index
    )
    out["url"] = first["url"].reindex(out.index)
    sites = docs.drop_duplicates(["story_id", "site_name"]).groupby("story_id")["site_name"]
    out["sites"] = sites.agg(lambda s: ", ".join(map(str, list(s)[:6])))
    out = out.sort_values(
        ["n_sites", "copies", "views"], ascending=False, na_position="last", kind="stable"
    )
    return out[
        ["title", "first_date", "n_sites", "n_docs", "copies", "views", "sites", "url"]
    ].reset_index(drop=True)


# ----------------------------------------------------------------------------- city bodies


def _body_name(body_ids: pd.Series, names: Mapping[str, str]) -> pd.Series:
    return body_ids.map(lambda b: names.get(b, b))


def body_sentiment(
    f: Frames, cur: Sequence[str], prev: Sequence[str], names: Mapping[str, str]
) -> pd.DataFrame:
    """Sentiment per city body: counts per class, net index and its change."""
    now = _sentiment_counts(_in(f.sentiment, cur), "body_id")
    before = _sentiment_counts(_in(f.sentiment, prev), "body_id")
    out = now.copy()
    out["prev_n"] = before["n"].reindex(out.index).fillna(0).astype("int64")
    out["prev_net"] = before["net"].reindex(out.index)
    out["change_net"] = out["net"] - out["prev_net"]
    out = out.reset_index().rename(columns={"index": "body_id"})
    out.insert(1, "body", _body_name(out["body_id"], names))
    out = out.sort_values(["n", "body_id"], ascending=[False, True], kind="stable")
    return out[
        ["body_id", "body", "n", "neg", "neu", "pos", "net", "prev_n", "prev_net", "change_net"]
    ].reset_index(drop=True)


def evidence(
    f: Frames, cur: Sequence[str], names: Mapping[str, str], top: int, comment_label: str
) -> pd.DataFrame:
    """The publications behind the most negative mentions (one row per story and body)."""
    neg = _in(f.sentiment, cur)
    neg = (
        neg[neg["label"] == "negative"]
        .sort_values(["p_negative", "doc_id"], ascending=[False, True], kind="stable")
        .drop_duplicates(["story_id", "body_id"])  # one copy of a reposted story
        .head(top)
    )
    docs = f.docs.set_index("doc_id")
    out = pd.DataFrame({"body": _body_name(neg["body_id"], names).to_numpy()})
    out["title"] = publication_titles(
        neg["doc_id"].map(docs["title"]), neg["kind"], comment_label
    ).to_numpy()
    out["site"] = neg["site_name"].to_numpy()
    out["date"] = neg["date"].to_numpy()
    urls = neg["doc_id"].map(docs["url"])
    # a comment's own anchor leads to its author: link the article it was left under instead
    urls = urls.where(neg["kind"].to_numpy() != "comment", urls.str.split("#").str[0])
    out["url"] = urls.to_numpy()
    ctx = mask_series(neg["context"]).str.slice(0, CONTEXT_CHARS)
    out["context"] = ctx.to_numpy()
    out["p_negative"] = neg["p_negative"].to_numpy(dtype=float)
    return out


def top_bodies(
    f: Frames, cur: Sequence[str], prev: Sequence[str], names: Mapping[str, str]
) -> pd.DataFrame:
    """Most-mentioned city bodies: mentions, documents, sites, change vs previous period."""
    now = _in(f.mentions, cur)
    before = _in(f.mentions, prev).groupby("body_id").size()
    g = now.groupby("body_id")
    out = pd.DataFrame(
        {"n_mentions": g.size(), "n_docs": g["doc_id"].nunique(), "n_sites": g["site"].nunique()}
    )
    out["prev_mentions"] = before.reindex(out.index).fillna(0).astype("int64")
    out["change_pct"] = _pct_change(out["n_mentions"], out["prev_mentions"])
    out = out.reset_index()
    out.insert(1, "body", _body_name(out["body_id"], names))
    return out.sort_values(
        ["n_mentions", "body_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def top_officials(f: Frames, cur: Sequence[str], params: ReportParams) -> pd.DataFrame:
    """Officials in public roles: persons named in articles (never comments) next to city bodies.

    A person counts only when named in at least `min_person_docs` articles and at least once in
    an article that also names a city body: a proxy for a public role that keeps private people
    quoted in the news or named in comments out of the report.
    """
    docs = _in(f.docs, cur)
    docs = docs[(docs["kind"] != "comment") & (_list_len(docs["persons"]) > 0)]
    cols = ["person", "n_docs", "n_sites", "n_docs_with_body"]
    if docs.empty:
        return pd.DataFrame(columns=cols)
    ex = docs[["doc_id", "site", "has_body", "persons"]].explode("persons")
    ex = ex[ex["persons"].notna() & (ex["persons"].astype(str).str.strip() != "")]
    ex = ex.drop_duplicates(["doc_id", "persons"])
    g = ex.groupby("persons")
    out = pd.DataFrame(
        {
            "n_docs": g.size(),
            "n_sites": g["site"].nunique(),
            "n_docs_with_body": g["has_body"].sum().astype("int64"),
        }
    )
    out = out[(out["n_docs"] >= params.min_person_docs) & (out["n_docs_with_body"] > 0)]
    out = out.reset_index().rename(columns={"persons": "person"})
    return out.sort_values(["n_docs", "person"], ascending=[False, True], kind="stable")[
        cols
    ].reset_index(drop=True)


# ----------------------------------------------------------------------------- period-only


def weekly_trends(f: Frames, weeks: Sequence[str]) -> pd.DataFrame:
    """Headline numbers per week of the period."""
    rows = []
    for w in weeks:
        s = _stats(f, [w])
        sent = _in(f.sentiment, [w])
        rows.append(
            {
                "week": w,
                "n_docs": s["documents"],
                "almaty_share": s["almaty_share"],
                "body_mentions": s["body_mentions"],
                "neg": int((sent["label"] == "negative").sum()),
                "net": s["net_sentiment"],
            }
        )
    return pd.DataFrame(rows)


def topic_trends(
    f: Frames, weeks: Sequence[str], topics: pd.DataFrame, top: int = 8
) -> pd.DataFrame:
    """Documents per week for the period's largest topics (one column per topic)."""
    counts = _in(topic_week_counts(f), weeks)
    ids = topics["topic_id"].head(top).tolist()
    wide = (
        counts[counts["topic_id"].isin(ids)]
        .pivot_table(index="week", columns="topic_id", values="n_docs", aggfunc="sum", fill_value=0)
        .reindex(index=list(weeks), columns=ids, fill_value=0)
    )
    labels = topics.set_index("topic_id")["label"]
    wide.columns = [f"#{i} {str(labels.get(i, ''))[:40]}".strip() for i in ids]
    return wide.astype("int64").reset_index().rename(columns={"index": "week"})


def body_ranking(
    f: Frames, weeks: Sequence[str], names: Mapping[str, str], top: int = 5
) -> pd.DataFrame:
    """The most-discussed city bodies of each week, ranked by mentions, with their net index."""
    sent = _in(f.sentiment, weeks)
    cols = ["week", "rank", "body", "n", "neg", "net"]
    if sent.empty:
        return pd.DataFrame(columns=cols)
    sc = _sentiment_counts(sent, ["week", "body_id"]).reset_index()
    sc = sc.sort_values(["week", "n", "body_id"], ascending=[True, False, True], kind="stable")
    sc["rank"] = sc.groupby("week").cumcount() + 1
    sc = sc[sc["rank"] <= top]
    sc["body"] = _body_name(sc["body_id"], names)
    return sc[cols].reset_index(drop=True)


def persistent_topics(f: Frames, weeks: Sequence[str], topics: pd.DataFrame) -> pd.DataFrame:
    """Topics present in at least three quarters of the period's weeks (and two or more)."""
    counts = _in(topic_week_counts(f), weeks)
    counts = counts[(counts["n_docs"] > 0) & (counts["topic_id"] >= 0)]
    present = counts.groupby("topic_id")["week"].nunique()
    need = max(2, math.ceil(0.75 * len(weeks)))
    keep = present[present >= need]
    t = topics[topics["topic_id"].isin(keep.index)].copy()
    t["weeks_present"] = t["topic_id"].map(keep).astype("int64")
    return t[["topic_id", "label", "keywords", "weeks_present", "n_docs", "net"]].reset_index(
        drop=True
    )


# ----------------------------------------------------------------------------- attention list


def _fmt_pct(x: float) -> str:
    return format_cell(x, "signed_pct")


def _fmt_net(x: float) -> str:
    return format_cell(x, "net")


def attention(
    f: Frames,
    cur: Sequence[str],
    prev: Sequence[str],
    sections: Mapping[str, pd.DataFrame],
    params: ReportParams,
    texts: Mapping,
) -> list[str]:
    """Short automatically generated list: spikes, silent sites, worsening bodies, new topics."""
    a = texts["attention"]
    out: list[str] = []
    now, before = _stats(f, cur), _stats(f, prev)
    if before["documents"] and abs(now["documents"] / before["documents"] - 1) >= 0.3:
        key = "volume_up" if now["documents"] > before["documents"] else "volume_down"
        out.append(
            a[key].format(
                pct=_fmt_pct(now["documents"] / before["documents"] - 1),
                cur=now["documents"],
                prev=before["documents"],
            )
        )
    days = sections["volume_day"]
    if len(days) >= 3 and days["n_docs"].median() > 0:
        top = days.loc[days["n_docs"].idxmax()]
        ratio = top["n_docs"] / days["n_docs"].median()
        if ratio >= params.spike_ratio and top["n_docs"] >= params.min_topic_docs:
            out.append(
                a["day_spike"].format(
                    date=pd.Timestamp(top["date"]).strftime("%d.%m.%Y"),
                    n=int(top["n_docs"]),
                    ratio=f"{ratio:.1f}".replace(".", ","),
                )
            )
    sites = sections["volume_site"]
    silent = sites[(sites["n_docs"] == 0) & (sites["prev_docs"] >= params.min_topic_docs)]
    for row in silent.head(3).itertuples():
        out.append(a["site_silent"].format(site=row.site, prev=row.prev_docs))
    bodies = sections["body_sentiment"]
    solid = bodies[bodies["n"] >= params.min_body_mentions]
    worse = solid[solid["change_net"] <= -0.2].sort_values("change_net").head(3)
    for row in worse.itertuples():
        out.append(
            a["body_worse"].format(
                body=row.body,
                net=_fmt_net(row.net),
                prev=_fmt_net(row.prev_net),
                n=row.n,
                prev_n=row.prev_n,
            )
        )
    if len(solid) and solid["net"].min() < 0:
        row = solid.loc[solid["net"].idxmin()]
        out.append(
            a["body_most_negative"].format(
                body=row["body"], neg=int(row["neg"]), n=int(row["n"]), net=_fmt_net(row["net"])
            )
        )
    ng = sections["new_topics"]
    status_new = texts["status"]["new"]
    negative_new = ng[(ng["status"] == status_new) & (ng["neg_share"] >= 0.5)]
    for row in negative_new.head(3).itertuples():
        out.append(
            a["new_negative_topic"].format(
                label=row.label, n=row.n_docs, neg_share=format_cell(row.neg_share, "pct")
            )
        )
    for row in ng[ng["status"] != status_new].head(2).itertuples():
        out.append(a["growing_topic"].format(label=row.label, cur=row.n_docs, prev=row.prev_docs))
    stories = sections["stories"]
    if len(stories) and stories["n_sites"].iloc[0] >= 2:
        s = stories.iloc[0]
        out.append(
            a["top_story"].format(
                title=str(s["title"])[:120], sites=int(s["n_sites"]), copies=int(s["copies"])
            )
        )
    return out or [a["nothing"]]


# ----------------------------------------------------------------------------- assembling


def _sections(
    f: Frames,
    inputs: Inputs,
    cur: Sequence[str],
    prev: Sequence[str],
    params: ReportParams,
    texts: Mapping,
) -> dict[str, Section]:
    comment = texts["comment_label"]
    names = inputs.body_names
    topics = topics_table(f, cur, prev, params=params, texts=texts)
    topics_almaty = topics_table(f, cur, prev, almaty=True, params=params, texts=texts)
    show = params.show_rows
    s = {
        "volume_day": Section(
            "volume_day",
            volume_by_day(f, cur),
            Chart("bar" if len(cur) == 1 else "line", "date", ("n_docs",)),
            show_rows=7 * len(cur),
        ),
        "volume_site": Section(
            "volume_site", volume_by_site(f, cur, prev), Chart("barh", "site", ("n_docs",)), show
        ),
        "volume_lang": Section(
            "volume_lang",
            volume_by_lang(f, cur, prev, texts),
            Chart("bar", "lang", ("n_docs",)),
            show,
        ),
        "topics_almaty": Section(
            "topics_almaty", topics_almaty, Chart("barh", "label", ("n_docs",)), params.top_topics
        ),
        "topics": Section("topics", topics, Chart("barh", "label", ("n_docs",)), params.top_topics),
        "new_topics": Section(
            "new_topics", new_and_growing(f, cur, prev, topics, params, texts), None, show
        ),
        "stories": Section("stories", stories_table(f, cur, comment), None, params.top_stories),
        "body_sentiment": Section(
            "body_sentiment",
            body_sentiment(f, cur, prev, names),
            Chart("stackh", "body", ("neg", "neu", "pos")),
            show,
        ),
        "evidence": Section(
            "evidence",
            evidence(f, cur, names, params.top_negative, comment),
            None,
            params.top_negative,
        ),
        "top_bodies": Section(
            "top_bodies",
            top_bodies(f, cur, prev, names),
            Chart("barh", "body", ("n_mentions",)),
            show,
        ),
        "officials": Section("officials", top_officials(f, cur, params), None, show),
    }
    return s


def _notes(f: Frames, inputs: Inputs, texts: Mapping) -> list[str]:
    n = texts["notes"]
    out = []
    undated = int(f.docs["week"].isna().sum())
    if undated:
        out.append(n["undated"].format(n=undated))
    for name in (
        "languages",
        "doc_entities",
        "mentions",
        "doc_topics",
        "topics",
        "mention_sentiment",
    ):
        if getattr(inputs, name).empty:
            out.append(n["empty_table"].format(table=name))
    return out


def build_report(
    inputs: Inputs,
    kind: str,
    weeks: Sequence[str],
    params: ReportParams,
    texts: Mapping,
    frames: Frames | None = None,
) -> Report:
    """Build a weekly (one week) or period (several weeks) report from the stage tables.

    `frames` is `prepare(inputs)` when the caller already has it (to resolve the weeks).
    """
    f = frames if frames is not None else prepare(inputs)
    cur = list(weeks)
    prev = [shift_week(cur[0], -i) for i in range(len(cur), 0, -1)]
    sections = _sections(f, inputs, cur, prev, params, texts)
    att = attention(f, cur, prev, {k: v.table for k, v in sections.items()}, params, texts)
    order = [
        "volume_day",
        "volume_site",
        "volume_lang",
        "topics_almaty",
        "topics",
        "new_topics",
        "stories",
        "body_sentiment",
        "evidence",
        "top_bodies",
        "officials",
    ]
    out = [sections[k] for k in order]
    if kind == "period":
        topics = sections["topics"].table
        out[:0] = [
            Section(
                "trends",
                weekly_trends(f, cur),
                Chart("line", "week", ("n_docs", "body_mentions")),
                len(cur),
            )
        ]
        out.insert(
            [sec.key for sec in out].index("new_topics"),
            Section(
                "topic_trends", topic_trends(f, cur, topics), Chart("line", "week", ()), len(cur)
            ),
        )
        out.append(
            Section("body_ranking", body_ranking(f, cur, inputs.body_names), None, 5 * len(cur))
        )
        out.append(
            Section("persistent_topics", persistent_topics(f, cur, topics), None, params.show_rows)
        )
    return Report(
        kind=kind,
        weeks=tuple(cur),
        prev_weeks=tuple(prev),
        start=week_monday(cur[0]),
        end=week_monday(cur[-1]) + timedelta(days=6),
        headline=headline(f, cur, prev, texts),
        sections=out,
        attention=att,
        notes=_notes(f, inputs, texts),
        coverage=coverage(f, cur, prev, texts),
    )


# ----------------------------------------------------------------------------- cell formats

_KINDS = {
    "pct": {"share", "share_ru", "share_kk", "share_mixed", "almaty_share", "neg_share"},
    "signed_pct": {"change_pct"},
    "net": {"net", "prev_net", "change_net"},
    "prob": {"p_negative"},
    "date": {"date", "first_date"},
    "url": {"url", "url_1", "url_2", "url_3"},
    "signed_int": {"change_docs"},
}
_INT_PREFIXES = (
    "n_",
    "n",
    "prev_docs",
    "prev_n",
    "prev_mentions",
    "neg",
    "neu",
    "pos",
    "copies",
    "views",
    "topic_id",
    "weeks_present",
    "rank",
    "body_mentions",
)


def column_kind(col: str) -> str:
    """How to show a column: int | signed_int | pct | signed_pct | pp | net | prob | date | url |
    text."""
    for kind, cols in _KINDS.items():
        if col in cols:
            return kind
    if col in _INT_PREFIXES or col.startswith("n_"):
        return "int"
    return "text"


def _is_missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_cell(value: Any, kind: str) -> str:
    """Human-readable cell text (Russian number style: 1 234, 12,5%, +0,25)."""
    if _is_missing(value):
        return "–"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        x = float(value)
        if kind == "pct":
            text = f"{x * 100:.1f}%"
        elif kind == "signed_pct":
            text = f"{x * 100:+.0f}%"
        elif kind == "pp":
            return f"{x:+.1f}".replace(".", ",") + "\u00a0п.п."
        elif kind in ("net", "delta"):
            text = f"{x:+.2f}"
        elif kind == "prob":
            text = f"{x:.2f}"
        elif kind == "signed_int":
            return f"{int(round(x)):+,}".replace(",", "\u00a0")
        elif kind == "pct_change":
            text = f"{x * 100:+.0f}%"
        elif kind == "int" or x.is_integer():
            return f"{int(round(x)):,}".replace(",", "\u00a0")
        else:
            text = f"{x:.2f}"
        return text.replace(".", ",")
    if isinstance(value, (pd.Timestamp, date)):
        return pd.Timestamp(value).strftime("%d.%m.%Y")
    return str(value)
