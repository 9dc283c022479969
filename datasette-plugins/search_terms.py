"""`fts_terms(text)` in SQL: what a person types into a search box, as a safe FTS5 query.

FTS5 gives `.`, `-`, `:` and quotes a meaning of their own, so "Character.AI teen suicide" would be
a syntax error. Each word is quoted and the words are AND-ed; a trailing `*` keeps prefix search
and OR between words keeps its meaning.

The table pages' own search box (`?_search=`, escaped mode) reads a query as the search page does
(harvest.search: "quoted phrases", OR, prefix `*`, synonyms from annotations/synonyms.yaml):
Datasette's `escape_fts` is replaced on every connection.
A query of only quotes or spaces gives `""` (a phrase that matches no row), never an empty FTS5
query, which SQLite refuses.
"""

import re

from datasette import hookimpl

from harvest.search import fts_match, load_synonyms, parse_query

SYNONYMS = load_synonyms()


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


def search_expression(text):
    """What a person typed in a table's search box, as an FTS5 expression (never a syntax error)."""
    return fts_match(parse_query(text or ""), SYNONYMS) or '""'


@hookimpl(trylast=True)  # after Datasette's own escape_fts, which this replaces
def prepare_connection(conn):
    conn.create_function("fts_terms", 1, fts_terms, deterministic=True)
    conn.create_function("escape_fts", 1, search_expression, deterministic=True)
