"""Releases: an immutable, checkable snapshot of the corpus for publishing.

`make_release(db_path, out_dir)` writes into a new folder:

- `corpus.db`: a compact copy (SQLite `VACUUM INTO`, consistent even while a harvest writes;
  journal mode DELETE so it can be served read-only with `harvest serve --immutable`);
- `csv/<table>.csv` and `jsonl/<table>.jsonl` for each main table (UTF-8, header row; JSON Lines
  one object per row);
- `DATA-DICTIONARY.md`: every exported table and column with its SQLite type and description;
- `CITATION.cff` (Citation File Format 1.2.0, type dataset);
- `RELEASE.md`: counts, and the latest nightly digest as the release note;
- `SHA256SUMS`: `sha256sum -c` format, covering every other file.

Guards (unless forced): the corpus has documents; its relevant documents are at least
(1 - max_loss) of those of the last release (recorded in the `releases` table). Raises
ReleaseRefused otherwise, before anything is written.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import yaml

from .archive import iso, utc_now
from .serve import PLUGINS_DIR

EXCLUDED_PREFIXES = ("sqlite_", "documents_fts", "incidents_fts", "nightly_", "releases", "derive_")
INTERNAL = {"watched_pages", "harvest_runs"}  # operational state, not the evidence


class ReleaseRefused(RuntimeError):
    """The corpus fails a release guard, or the folder is not new; nothing was written."""


@dataclass
class ReleaseSummary:
    folder: Path
    documents: int
    relevant: int
    tables: dict  # table -> rows exported
    files: int


def main_tables(conn: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return [n for n in names if not n.startswith(EXCLUDED_PREFIXES) and n not in INTERNAL]


def _counts(conn) -> tuple[int, int]:
    documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    relevant = conn.execute("SELECT count(*) FROM documents WHERE relevance = 'relevant'").fetchone()[0]
    return documents, relevant


def _last_release(conn) -> dict | None:
    try:
        row = conn.execute("SELECT released, folder, documents, relevant FROM releases ORDER BY released DESC, rowid DESC "
                           "LIMIT 1").fetchone()
    except sqlite3.OperationalError:
        return None
    return dict(zip(("released", "folder", "documents", "relevant"), row)) if row else None


def check_release(conn, max_loss: float) -> list[str]:
    """The reasons a release would be refused (empty when it may go ahead)."""
    documents, relevant = _counts(conn)
    problems = []
    if documents == 0 or relevant == 0:
        problems.append(f"the corpus is empty ({documents} documents, {relevant} relevant): a harvest that "
                        f"reached nothing must not replace a published release")
    last = _last_release(conn)
    if last and last["relevant"]:
        loss = 1 - relevant / last["relevant"]
        if loss > max_loss:
            problems.append(f"relevant documents fell from {last['relevant']} (release of {last['released']}) to "
                            f"{relevant}, a loss of {loss:.1%}, more than the {max_loss:.0%} allowed "
                            f"(annotations/schedule.yaml release.max_relevant_loss)")
    return problems


def _descriptions() -> dict:
    try:
        metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text(encoding="utf-8"))
        return metadata["databases"]["corpus"]["tables"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return {}


def _dictionary(conn, tables: list[str], counts: dict) -> str:
    described = _descriptions()
    lines = ["# Data dictionary", "", "Every table of this release, its rows, and each column's SQLite type and meaning.",
             "The same rows are in `corpus.db`, `csv/` and `jsonl/`.", ""]
    for table in tables:
        meta = described.get(table) or {}
        text = meta.get("description") or meta.get("description_html") or ""
        text = " ".join(str(text).replace("<p>", "").replace("</p>", " ").split())
        lines += [f"## {table} ({counts[table]} rows)", "", text, "", "| column | type | meaning |", "|---|---|---|"]
        columns = meta.get("columns") or {}
        for _, name, kind, notnull, _, pk in conn.execute(f"PRAGMA table_info([{table}])"):
            flags = (" primary key" if pk else "") + (" not null" if notnull and not pk else "")
            meaning = " ".join(str(columns.get(name, "")).split()).replace("|", "\\|")
            lines.append(f"| {name} | {kind or 'any'}{flags} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def _citation(released: str, documents: int, relevant: int) -> str:
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text(encoding="utf-8")) or {}
    cff = {"cff-version": "1.2.0", "type": "dataset",
           "message": "If you use this dataset, please cite it as below.",
           "title": metadata.get("title", "LLMs & Mental Health Evidence Base"),
           "abstract": (f"Snapshot of {released[:10]}: {documents} documents, {relevant} about LLMs or AI chatbots "
                        f"and mental health; research papers, news reports, guidance and legislation with "
                        f"their provenance."),
           "authors": [{"name": "LLMs & Mental Health Evidence Base contributors"}],
           "date-released": released[:10], "version": released,
           "license": "CC-BY-4.0",
           "keywords": ["large language models", "chatbots", "mental health", "evidence base"]}
    return yaml.safe_dump(cff, sort_keys=False, allow_unicode=True)


def make_release(db_path: Path, out_dir: Path, max_loss: float = 0.05, force: bool = False) -> ReleaseSummary:
    """Write a release of `db_path` into `out_dir` (which must not exist or be empty)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ReleaseRefused(f"{out_dir} already holds files; a release is never overwritten: name a new folder")
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        problems = check_release(source, max_loss)
        if problems and not force:
            raise ReleaseRefused("; ".join(problems) + ". Nothing was written (use --force to release anyway).")
        out_dir.mkdir(parents=True, exist_ok=True)
        snapshot = out_dir / "corpus.db"
        source.execute("VACUUM INTO ?", [str(snapshot)])
        digest_path = Path(db_path).resolve().parent / f"{Path(db_path).stem}.digest.md"
    finally:
        source.close()
    released = iso(utc_now())
    copy = sqlite3.connect(str(snapshot))
    copy.execute("PRAGMA journal_mode=DELETE")
    for table in [r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]:
        # the derive_* tables stay: the triggers of every counted table write to them (they are
        # a few rows, and left out of the CSV and JSON Lines copies)
        if table.startswith(("nightly_", "releases")):
            copy.execute(f"DROP TABLE [{table}]")
    copy.commit()
    copy.execute("VACUUM")
    tables = main_tables(copy)
    counts = {}
    (out_dir / "csv").mkdir()
    (out_dir / "jsonl").mkdir()
    for table in tables:
        cursor = copy.execute(f"SELECT * FROM [{table}] ORDER BY rowid")
        names = [c[0] for c in cursor.description]
        n = 0
        with open(out_dir / "csv" / f"{table}.csv", "w", newline="", encoding="utf-8") as c, \
                open(out_dir / "jsonl" / f"{table}.jsonl", "w", encoding="utf-8") as j:
            writer = csv.writer(c)
            writer.writerow(names)
            for row in cursor:
                writer.writerow(row)
                j.write(json.dumps(dict(zip(names, row)), ensure_ascii=False) + "\n")
                n += 1
        counts[table] = n
    documents, relevant = _counts(copy)
    (out_dir / "DATA-DICTIONARY.md").write_text(_dictionary(copy, tables, counts), encoding="utf-8")
    copy.close()
    (out_dir / "CITATION.cff").write_text(_citation(released, documents, relevant), encoding="utf-8")
    note = [f"# Release {released}", "", f"{documents} documents, {relevant} relevant; tables: "
            + ", ".join(f"{t} {n}" for t, n in counts.items()) + ".", "",
            "Serve it read-only: `harvest serve corpus.db --immutable`. Check it: `sha256sum -c SHA256SUMS`.", ""]
    if problems:
        note += ["Released with --force despite: " + "; ".join(problems), ""]
    if digest_path.exists():
        note += ["## Latest nightly digest", "", digest_path.read_text(encoding="utf-8").replace("\n# ", "\n### ", 1)]
    (out_dir / "RELEASE.md").write_text("\n".join(note), encoding="utf-8")
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    with open(out_dir / "SHA256SUMS", "w", encoding="utf-8") as sums:
        for path in files:
            sums.write(f"{_sha256(path)}  {path.relative_to(out_dir).as_posix()}\n")
    from . import db as database
    record = database.connect(db_path)  # an older schema gains `releases` here (migration 11)
    try:
        with database.transaction(record):
            record.execute("INSERT INTO releases VALUES (?, ?, ?, ?, ?)",
                           [released, str(out_dir.resolve()), documents, relevant, int(bool(problems))])
    finally:
        record.conn.close()
    return ReleaseSummary(out_dir, documents, relevant, counts, len(files) + 1)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
