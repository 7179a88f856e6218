"""Publication dates as crawls leave them (ISO, printed Russian/Kazakh, relative) -> UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

ALMATY = ZoneInfo("Asia/Almaty")

# Month stems: Russian genitive/nominative and Kazakh, also Kazakh typed without its letters.
_MONTHS = {
    "январ": 1, "феврал": 2, "март": 3, "апрел": 4, "ма": 5, "июн": 6, "июл": 7, "август": 8,
    "сентябр": 9, "октябр": 10, "ноябр": 11, "декабр": 12,
    "қаңтар": 1, "каңтар": 1, "кантар": 1, "ақпан": 2, "акпан": 2, "наурыз": 3, "сәуір": 4,
    "сауир": 4, "сәуiр": 4, "мамыр": 5, "маусым": 6, "шілде": 7, "шилде": 7, "тамыз": 8,
    "қыркүйек": 9, "кыркуйек": 9, "қазан": 10, "казан": 10, "қараша": 11, "караша": 11,
    "желтоқсан": 12, "желтоксан": 12,
}
_MONTH_RE = "|".join(sorted((re.escape(k) for k in _MONTHS), key=len, reverse=True))
_TIME = r"(?:[,\s]+(?:в\s+)?(?P<h>\d{1,2}):(?P<mi>\d{2}))?"
_RU_PRINTED = re.compile(
    rf"^(?P<d>\d{{1,2}})\s+(?P<mon>(?:{_MONTH_RE})[а-яәіңғүұқөһ]*)\.?\s+(?P<y>\d{{4}})(?:\s*г\.?)?{_TIME}",
    re.IGNORECASE,
)
_KK_PRINTED = re.compile(
    rf"^(?P<y>\d{{4}})\s*(?:жылғы|жылгы|ж\.)?\s+(?P<d>\d{{1,2}})\s+(?P<mon>(?:{_MONTH_RE})[а-яәіңғүұқөһ]*){_TIME}",
    re.IGNORECASE,
)
_DOTTED = re.compile(r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})" + _TIME)
_RELATIVE = re.compile(
    r"^(?P<word>сегодня|вчера|позавчера|бүгін|бугин|бүгiн|кеше|кеш)" + _TIME, re.IGNORECASE
)
_RELATIVE_DAYS = {"сегодня": 0, "бүгін": 0, "бугин": 0, "бүгiн": 0,
                  "вчера": 1, "кеше": 1, "кеш": 1, "позавчера": 2}


class DateError(ValueError):
    """A date string that none of the known formats reads."""


def _month(word: str) -> int:
    word = word.lower()
    for stem in sorted(_MONTHS, key=len, reverse=True):
        if word.startswith(stem):
            # "ма" must be май/мая, not "марта"
            if stem == "ма" and not re.fullmatch(r"ма[йяюе]", word):
                continue
            return _MONTHS[stem]
    raise DateError(f"неизвестный месяц: {word!r}")


def _local(y: int, m: int, d: int, h: str | None, mi: str | None) -> datetime:
    try:
        return datetime(y, m, d, int(h or 0), int(mi or 0), tzinfo=ALMATY)
    except ValueError as exc:
        raise DateError(f"несуществующая дата: {y}-{m}-{d} {h}:{mi}") from exc


def parse_date(value: str, crawled_at: str | None = None) -> datetime:
    """Parse a publication date to an aware UTC datetime.

    ISO strings without an offset and printed dates are Almaty local time. Relative dates
    ("Сегодня, 10:15", "Кеше") are read against `crawled_at`, which is then required.
    """
    text = " ".join(str(value).replace("\u00a0", " ").split()).strip()
    if not text:
        raise DateError("пустая дата")
    try:
        iso = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        iso = None
    if iso is not None:
        return (iso if iso.tzinfo else iso.replace(tzinfo=ALMATY)).astimezone(UTC)
    for pattern in (_RU_PRINTED, _KK_PRINTED):
        m = pattern.match(text)
        if m:
            local = _local(int(m["y"]), _month(m["mon"]), int(m["d"]), m["h"], m["mi"])
            return local.astimezone(UTC)
    m = _DOTTED.match(text)
    if m:
        return _local(int(m["y"]), int(m["m"]), int(m["d"]), m["h"], m["mi"]).astimezone(UTC)
    m = _RELATIVE.match(text)
    if m:
        if not crawled_at:
            raise DateError(f"относительная дата {text!r} без crawled_at")
        base = parse_date(crawled_at).astimezone(ALMATY).date()
        day = base - timedelta(days=_RELATIVE_DAYS[m["word"].lower()])
        return _local(day.year, day.month, day.day, m["h"], m["mi"]).astimezone(UTC)
    raise DateError(f"дата не распознана: {text!r}")


def iso_week(ts: datetime) -> str:
    """ISO week label ("2026-W07") of the Almaty-local date of `ts`."""
    y, w, _ = ts.astimezone(ALMATY).isocalendar()
    return f"{y}-W{w:02d}"


def week_bounds(week: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week label; ValueError with a hint when malformed."""
    m = re.fullmatch(r"(\d{4})-W(\d{2})", week.strip())
    if not m:
        raise ValueError(f"неделя {week!r} не в формате ГГГГ-Wнн, например 2026-W14")
    monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
    return monday, monday + timedelta(days=6)
