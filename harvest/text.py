"""Text as every parser hands it on and as the store keeps it.

folded      white space runs (newlines, tabs, non-breaking spaces) as one space, trimmed
plain       an API's HTML-flavoured string (Crossref's JATS titles, Europe PMC's abstracts) as text:
            block tags become a space, inline tags (<i>, <sub>) vanish, entities are decoded
normalised  the one intake normalisation every stored text goes through (harvest.store applies it):
            Unicode NFC; soft hyphens (U+00AD) and zero-width characters (U+200B-U+200D, U+2060,
            U+FEFF) removed; control characters (Unicode category Cc, except tab and line breaks),
            lone surrogates and the non-characters U+FFFE/U+FFFF dropped; carriage returns become
            line feeds; no-break and other fixed-width spaces (U+00A0, U+2000-U+200A, U+202F,
            U+205F, U+3000) become a plain space. Line structure is kept (bodies are paragraphs).
labelled    a structured abstract's section as one line, 'Background: text', with one colon
            whether or not the label already ends in one ('Background:' gives no 'Background::')
clean       `normalised` applied to every string inside a value (str, list, tuple, dict); other
            values unchanged
word_counts, cosine   a bag of words without stop words, and the cosine similarity of two bags
            (how incidents are matched to reports and to the incident databases' entries)
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import Counter

WHITESPACE = re.compile(r"\s+")
BLOCK_TAG = re.compile(r"</?(?:p|br|div|li|ul|ol|h\d|sec|title|table|tr|td|th)\b[^<>]{0,200}>", re.I)
TAG = re.compile(r"<[^<>]{1,200}>")
# Invisible characters that split words for search and citation: soft hyphen, zero-width
# space/non-joiner/joiner, word joiner, byte-order mark (zero-width no-break space).
INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
# C0 and C1 controls except tab, line feed and carriage return; DEL; lone surrogates; U+FFFE/U+FFFF.
UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
FIXED_SPACES = re.compile("[\u00a0\u2000-\u200a\u202f\u205f\u3000]")


def folded(text: str | None) -> str:
    return WHITESPACE.sub(" ", text or "").strip()


def plain(value) -> str:
    return folded(html.unescape(TAG.sub("", BLOCK_TAG.sub(" ", str(value or "")))))


def labelled(label: str | None, text: str) -> str:
    if not label:
        return text
    label = label.strip()
    return f"{label} {text}" if label.endswith((":", "：")) else f"{label}: {text}"


def normalised(text: str) -> str:
    """`text` as the corpus stores it (see the module docstring); a str always gives a str."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = FIXED_SPACES.sub(" ", INVISIBLE.sub("", text))
        text = unicodedata.normalize("NFC", UNWANTED.sub("", text))
    elif not text.isprintable():
        text = UNWANTED.sub("", text)
    return text


def clean(value):
    """`normalised` applied to every string in `value`, however nested in lists, tuples and dicts."""
    if isinstance(value, str):
        return normalised(value)
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clean(item) for item in value)
    return value


STOPWORDS = frozenset("""a an and are as at be by for from has have he her his in is it its of on or
    said says she that the their they this to was were which who will with after over about""".split())


def word_counts(text: str, word: str = r"[a-z][a-z'.-]+") -> Counter:
    """Lower-cased words of three letters or more (matching `word`), stop words left out."""
    return Counter(w for w in re.findall(word, text.lower()) if w not in STOPWORDS and len(w) > 2)


def cosine(a: Counter, b: Counter) -> float:
    """Cosine similarity of two bags of words, 0.0 when either is empty."""
    shared = sum(a[w] * b[w] for w in a.keys() & b.keys())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return shared / norm if norm else 0.0
