"""A search-heavy synthetic corpus for the serving benchmark: a worst case for search (a fifth of
the words are domain terms, so broad searches match much of the corpus), written with direct SQL.
The realistic corpus of the growth curves is benchmarks/synthetic.py.

make_corpus(path, n) writes a database with the project's schema and `n` documents: titles of 12
and abstracts of 160 words drawn from a domain word list (a fifth of them domain terms, so broad
searches match a large share of the corpus), kinds, years, venues, study designs, the tagger's four
relevance states, 0-3 themes per document (`document_themes` and the `themes` JSON column) and 0-2
products (`document_entities` and the `products` column), a citation per ten documents and one
incident per thousand. The full-text index is built once at the end ('rebuild'), not row by row.
The same `n` gives the same corpus. Usable from other benchmarks:

    from benchmarks.synthetic_search import make_corpus
    make_corpus(Path("/tmp/1m.db"), 1_000_000)

or from a shell: `python benchmarks/synthetic_search.py /tmp/100k.db 100000`.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

TOPICS = ("chatbot", "depression", "anxiety", "suicide", "therapy", "psychosis", "adolescents", "privacy", "bias",
          "regulation", "clinicians", "ChatGPT", "companion", "loneliness", "screening", "diagnosis", "trial", "safety")
FILLER = ("the", "study", "patients", "model", "language", "large", "results", "methods", "we", "found", "use",
          "health", "mental", "care", "digital", "support", "response", "users", "outcomes", "evaluation", "data")
THEMES = ("symptoms", "diagnosis", "treatment", "safety", "bias_stigma", "privacy", "regulation", "clinical_practice",
          "trust", "misinformation", "access")
PRODUCTS = ("ChatGPT", "Character.AI", "Replika", "Woebot")
RELEVANCE = ("relevant",) * 14 + ("related",) * 3 + ("off-topic",) * 2 + ("undetermined",)  # the tagger's four states
KINDS = ("paper", "paper", "paper", "preprint", "news", "news", "guidance", "legislation")
DESIGNS = ("rct", "observational", "qualitative", "commentary", None)
BATCH = 10_000


def _words(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(TOPICS) if rng.random() < 0.2 else rng.choice(FILLER) for _ in range(count)]


def _sentence(rng: random.Random, count: int) -> str:
    return " ".join(_words(rng, count)).capitalize() + "."


def document_id(n: int) -> str:
    """The id of the n-th synthetic document (the project's `d` + 12 hex digits shape)."""
    return f"d{n:012x}"


def make_corpus(path: Path, n: int, seed: int | None = None) -> Path:
    """Write a synthetic corpus of `n` documents to `path` (which must not exist); returns `path`."""
    from harvest import db as database
    from harvest.db import transaction

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; make_corpus writes a new database")
    rng = random.Random(n if seed is None else seed)
    db = database.connect(path)
    conn = db.conn
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'documents'").fetchall()
    columns = ("id", "kind", "title", "abstract", "venue", "year", "published", "themes", "products", "relevance",
               "first_seen", "last_seen", "study_design")
    insert = f"INSERT INTO documents ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    with transaction(db):
        for name, _ in triggers:  # the index is rebuilt once at the end
            conn.execute(f"DROP TRIGGER [{name}]")
        conn.executemany("INSERT INTO themes (id, label) VALUES (?, ?)", [(t, t.replace("_", " ").title()) for t in THEMES])
        conn.executemany("INSERT INTO entities (id, type, name) VALUES (?, 'product', ?)",
                         [(f"product:{p.lower()}", p) for p in PRODUCTS])
        rows, tags, mentions, cites = [], [], [], []
        for number in range(n):
            doc_id = document_id(number)
            themes = sorted(rng.sample(THEMES, rng.randint(0, 3)))
            products = rng.sample(PRODUCTS, rng.randint(0, 2))
            year = rng.randint(2018, 2026)
            rows.append((doc_id, rng.choice(KINDS), _sentence(rng, 12), " ".join(_sentence(rng, 20) for _ in range(8)),
                         f"Venue {rng.randint(1, 300)}", year, f"{year}-{rng.randint(1, 12):02d}-01", json.dumps(themes),
                         json.dumps(products), rng.choice(RELEVANCE), "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z",
                         rng.choice(DESIGNS)))
            tags += [(doc_id, t, 1.0 + rng.random()) for t in themes]
            mentions += [(doc_id, f"product:{p.lower()}") for p in products]
            if number and number % 10 == 0:
                cites.append((doc_id, document_id(rng.randrange(number))))
            if len(rows) == BATCH or number == n - 1:
                conn.executemany(insert, rows)
                conn.executemany("INSERT INTO document_themes (document_id, theme, score, method) VALUES (?, ?, ?, 'rules')", tags)
                conn.executemany("INSERT INTO document_entities (document_id, entity_id, mentions) VALUES (?, ?, 1)", mentions)
                conn.executemany("INSERT INTO citations (citing_id, cited_id, method) VALUES (?, ?, 'synthetic')", cites)
                rows, tags, mentions, cites = [], [], [], []
        for number in range(max(1, n // 1000)):
            conn.execute("INSERT INTO incidents (id, title, summary, status, method, first_reported) "
                         "VALUES (?, ?, ?, 'alleged', 'curated', ?)",
                         [f"synthetic-{number}", _sentence(rng, 8), _sentence(rng, 30),
                          f"{rng.randint(2022, 2026)}-{rng.randint(1, 12):02d}-01"])
        conn.execute("INSERT INTO documents_fts (documents_fts) VALUES ('rebuild')")
        for _, sql in triggers:
            conn.execute(sql)
    conn.execute("ANALYZE")
    conn.close()
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/synthetic.py PATH DOCUMENTS")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    make_corpus(Path(sys.argv[1]), int(sys.argv[2]))
