"""Text clean-up for crawled bodies: entities, Unicode, whitespace, glued sentence boundaries."""

from __future__ import annotations

import html
import re
import unicodedata

_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_LOWER = "а-яёәғқңөұүһі"
_UPPER = "А-ЯЁӘҒҚҢӨҰҮҺІ"
# "полиции.Автомобиль" -> "полиции. Автомобиль" (not "т.е.", numbers or domains such as "nur.kz")
_GLUED_STOP = re.compile(rf"([{_LOWER}a-z»\")])([.!?…]+)([{_UPPER}«\"])")
# "акимата АлматыНурлан" -> "акимата Алматы\nНурлан": a paragraph boundary lost in the crawl
_GLUED_WORDS = re.compile(rf"([{_LOWER}]{{2}})([{_UPPER}][{_LOWER}]{{2}})")
# "передаетTengrinews.kz" -> "передает Tengrinews.kz"
_GLUED_LATIN = re.compile(rf"([{_LOWER}]{{2}})([A-Z][a-z]{{2}})")
# "Tengrinews.kzсо ссылкой" -> "Tengrinews.kz со ссылкой"
_GLUED_LATIN_CYR = re.compile(rf"([a-z]{{2}})([{_LOWER}]{{2}})")
# "район Алматы15 апреля 2024 16:45" -> a "read also" teaser's date glued to the text before it
_GLUED_DATE = re.compile(
    rf"([{_LOWER}])(\d{{1,2}}\s+(?:январ|феврал|март|апрел|ма[яй]|июн|июл|август|сентябр|октябр"
    r"|ноябр|декабр)[а-я]*\s+\d{4})"
)
_DECORATION = re.compile(r"[■□▪▫●◆◇►▶]+")


def clean_text(text: str) -> str:
    """Normalise a crawled body: unescape entities, NFC, strip control characters, repair glue.

    Paragraph breaks are kept as single newlines; other whitespace runs become one space.
    """
    if not text:
        return ""
    text = html.unescape(html.unescape(text))  # double-escaped crawls ("&amp;quot;")
    text = unicodedata.normalize("NFC", text)
    text = _ZERO_WIDTH.sub("", _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n")))
    text = _DECORATION.sub("\n", text)
    text = _GLUED_STOP.sub(r"\1\2 \3", text)
    text = _GLUED_WORDS.sub(r"\1\n\2", text)
    text = _GLUED_LATIN.sub(r"\1 \2", text)
    text = _GLUED_LATIN_CYR.sub(r"\1 \2", text)
    text = _GLUED_DATE.sub(r"\1\n\2", text)
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n", text)
    return text.strip()


def clean_title(title: str) -> str:
    """Titles are one line."""
    return " ".join(clean_text(title).split())
