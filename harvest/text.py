"""Text as every parser hands it on: white space folded, and markup from an API removed.

folded  white space runs (newlines, tabs, non-breaking spaces) as one space, trimmed
plain   an API's HTML-flavoured string (Crossref's JATS titles, Europe PMC's abstracts) as text:
        block tags become a space, inline tags (<i>, <sub>) vanish, entities are decoded
word_counts, cosine   a bag of words without stop words, and the cosine similarity of two bags
        (how incidents are matched to reports and to the incident databases' entries)
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter

WHITESPACE = re.compile(r"\s+")
BLOCK_TAG = re.compile(r"</?(?:p|br|div|li|ul|ol|h\d|sec|title|table|tr|td|th)\b[^<>]{0,200}>", re.I)
TAG = re.compile(r"<[^<>]{1,200}>")


def folded(text: str | None) -> str:
    return WHITESPACE.sub(" ", text or "").strip()


def plain(value) -> str:
    return folded(html.unescape(TAG.sub("", BLOCK_TAG.sub(" ", str(value or "")))))


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
