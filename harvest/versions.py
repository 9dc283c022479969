"""Versions of a text that changes in place (guidance pages, bills), and what changed.

normalised    the text as compared between fetches: white space folded, and lines that change
              without the guidance changing (last-updated dates, copyright years, lone dates) left out
save_version  a new `document_versions` row with a readable diff against the previous version,
              only when the content hash differs (returns whether it wrote)
"""

from __future__ import annotations

import difflib
import hashlib
import re

from .text import folded
from .text import normalised as stored_text

BOILERPLATE = re.compile(r"""^(
      (page\ |date\ )?(last\ )?(updated|reviewed|modified|revised|edited)(\ on)?\b.{0,60}
    | content\ current\ as\ of\b.{0,40}
    | (©|copyright\b|\(c\)\ ?\d{4}).{0,160}
    | (printed|accessed|retrieved|generated)\ (on\ )?.{0,40}\d{4}.{0,20}
    | ((mon|tue|wed|thu|fri|sat|sun)\w*,?\ )?(\d{1,2}\ \w+\ \d{4}|\w+\ \d{1,2},?\ \d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})
)$""", re.I | re.X)


def normalised(text: str) -> str:
    lines = (folded(line) for line in (text or "").splitlines())
    return "\n".join(line for line in lines if line and not (len(line) <= 200 and BOILERPLATE.match(line)))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def latest_version(db, document_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM document_versions WHERE document_id = ? ORDER BY version DESC LIMIT 1",
                         [document_id]))
    return rows[0] if rows else None


def save_version(db, document_id: str, text: str | None, content_hash: str, archived, change: str | None = None) -> bool:
    """Record a version when `content_hash` differs from the latest one. `change` says what
    changed when a diff of the text would not (a bill's status, a page gone)."""
    previous = latest_version(db, document_id)
    text = stored_text(text) if text is not None else None  # stored like every text (harvest.text)
    if previous and previous["content_hash"] == content_hash:
        return False
    diff = None
    if previous and previous["text"] is not None and text is not None:
        lines = list(difflib.unified_diff(previous["text"].splitlines(), text.splitlines(),
                                          f"version {previous['version']}", f"version {previous['version'] + 1}",
                                          lineterm="", n=1))
        diff = "\n".join(lines)
        if change is None:
            added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
            removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
            change = f"text changed: {added} paragraph(s) added, {removed} removed"
    db["document_versions"].insert({
        "document_id": document_id, "version": previous["version"] + 1 if previous else 1,
        "fetched_at": archived.date, "content_hash": content_hash, "text": text, "diff": diff,
        "change": change or ("first seen" if previous is None else "changed"), "url": archived.uri,
        "archive_file": archived.file, "archive_record_id": archived.record_id})
    return True
