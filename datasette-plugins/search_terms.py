"""`fts_terms(text)` in SQL: what a person types into a search box, as a safe FTS5 query.

FTS5 gives `.`, `-`, `:` and quotes a meaning of their own, so "Character.AI teen suicide" would be
a syntax error. Each word is quoted and the words are AND-ed; a trailing `*` keeps prefix search
and OR between words keeps its meaning.

The table pages' own search box (`?_search=`, `?_search_COLUMN=`) runs Datasette's `escape_fts`
in SQL; for a query of only quotes or spaces (`"`, `""`) that gives an empty FTS5 query, which
SQLite refuses (HTTP 400). `escape_fts` is registered again here, after Datasette's, with the same
escaping and `""` (a phrase that matches no row) in place of an empty query.
"""

import re

from datasette import hookimpl
from datasette.utils import escape_fts as datasette_escape_fts


def fts_terms(text):
    words = re.findall(r'[^\s"]+\*?', text or "")
    terms = []
    for word in words:
        if word.upper() == "OR" and terms and terms[-1] != "OR":
            terms.append("OR")
            continue
        prefix = word.endswith("*")
        core = word.rstrip("*").replace('"', "")
        if core:
            terms.append(f'"{core}"' + ("*" if prefix else ""))
    while terms and terms[-1] == "OR":
        terms.pop()
    return " ".join(terms) or '""'


def escape_fts(text):
    """Datasette's escaping of a search box query (each word or quoted phrase one FTS5 string),
    never empty: a query with nothing to search for becomes `""`, which matches no row."""
    return datasette_escape_fts(text or "") or '""'


@hookimpl(trylast=True)  # after Datasette's own prepare_connection, so this escape_fts is the one used
def prepare_connection(conn):
    conn.create_function("fts_terms", 1, fts_terms, deterministic=True)
    conn.create_function("escape_fts", 1, escape_fts, deterministic=True)
