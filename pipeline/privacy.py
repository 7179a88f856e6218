"""What reports may show about people: mask contact data and never profile private authors.

Reports speak of city bodies, officials in public roles, topics and publications. They never show
an author field, quote readers' comments as "комментарий читателя", and mask phone numbers,
e-mails and 12-digit IINs in every quoted text.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pandas as pd

PHONE_MASK = "[телефон]"
EMAIL_MASK = "[e-mail]"
IIN_MASK = "[ИИН]"

_SEP = r"[\s\-\u00a0.]*"
# e-mail first: it may hold digits that would otherwise look like a phone or an IIN
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+", re.UNICODE)
# IIN/BIN: 12 digits, not part of a longer number; people also write "900101 300123"
_IIN = re.compile(r"(?<!\d)\d{6}[\s\u00a0-]?\d{6}(?!\d)")
# Kazakhstani numbers: +7 / 8 / 7, then a 3-digit code starting with 7 (mobile 70x/77x, city
# 727, 717 ...), then 7 digits with any separators: +7 701 123 45 67, 8 (727) 272-12-34,
# 87011234567, +7(777)1234567.
_PHONE = re.compile(
    rf"(?<![\d+])(?=[+(\d])(?:(?:\+{_SEP}7|8|7){_SEP})?\(?{_SEP}7\d\d{_SEP}\)?(?:{_SEP}\d){{7}}(?!\d)"
)
# short city numbers written with dashes: 272-12-34, 2-72-12-34
_LOCAL_PHONE = re.compile(r"(?<![\d\-])(?:\d-)?\d{3}-\d{2}-\d{2}(?![\d\-])")

_PATTERNS = (
    (_EMAIL, EMAIL_MASK),
    (_IIN, IIN_MASK),
    (_PHONE, PHONE_MASK),
    (_LOCAL_PHONE, PHONE_MASK),
)

# column names that could identify a private author; reports drop them on sight
_AUTHOR_COLUMN = re.compile(r"author|user|nick|login|commenter|e_?mail|phone|avatar|profile", re.I)

COMMENT_KINDS = frozenset({"comment"})


def mask_pii(text: object) -> str:
    """Mask e-mails, 12-digit IINs and phone numbers in a quoted text; None/NaN -> ""."""
    if text is None or (isinstance(text, float) and pd.isna(text)) or text is pd.NA:
        return ""
    out = str(text)
    for pattern, mask in _PATTERNS:
        out = pattern.sub(mask, out)
    return out


def mask_series(values: pd.Series) -> pd.Series:
    """`mask_pii` over a column (vectorised with pandas' regex replace)."""
    out = values.astype("string").fillna("")
    for pattern, mask in _PATTERNS:
        out = out.str.replace(pattern, mask, regex=True)
    return out.astype(object)


def publication_title(title: object, kind: object, comment_label: str) -> str:
    """Title to show for a publication: a reader's comment is never shown with its own title."""
    if str(kind) in COMMENT_KINDS:
        return comment_label
    return mask_pii(title)


def publication_titles(titles: pd.Series, kinds: pd.Series, comment_label: str) -> pd.Series:
    """`publication_title` over aligned columns."""
    masked = mask_series(titles)
    is_comment = kinds.astype("string").isin(COMMENT_KINDS).fillna(False).to_numpy(bool)
    masked[is_comment] = comment_label
    return masked


def drop_author_fields(df: pd.DataFrame) -> pd.DataFrame:
    """Drop any column that could identify a private author (author, user, nick, e-mail ...)."""
    bad = [c for c in df.columns if _AUTHOR_COLUMN.search(str(c))]
    return df.drop(columns=bad) if bad else df


def safe_url(url: object) -> str:
    """The URL if it is a plain http(s) link, else "" (no javascript:, data:, relative links)."""
    if url is None or not isinstance(url, str):
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    if any(ch in url for ch in "\"'<>` \t\r\n"):
        return ""
    return url
