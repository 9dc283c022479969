"""Text as every parser hands it on: white space folded, and markup from an API removed.

folded  white space runs (newlines, tabs, non-breaking spaces) as one space, trimmed
plain   an API's HTML-flavoured string (Crossref's JATS titles, Europe PMC's abstracts) as text:
        block tags become a space, inline tags (<i>, <sub>) vanish, entities are decoded
"""

from __future__ import annotations

import html
import re

WHITESPACE = re.compile(r"\s+")
BLOCK_TAG = re.compile(r"</?(?:p|br|div|li|ul|ol|h\d|sec|title|table|tr|td|th)\b[^<>]{0,200}>", re.I)
TAG = re.compile(r"<[^<>]{1,200}>")


def folded(text: str | None) -> str:
    return WHITESPACE.sub(" ", text or "").strip()


def plain(value) -> str:
    return folded(html.unescape(TAG.sub("", BLOCK_TAG.sub(" ", str(value or "")))))
