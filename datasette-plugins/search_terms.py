"""`fts_terms(text)` in SQL: what a person types into a search box, as a safe FTS5 query.

FTS5 gives `.`, `-`, `:` and quotes a meaning of their own, so "Character.AI teen suicide" would be
a syntax error. Each word is quoted and the words are AND-ed; a trailing `*` keeps prefix search
and OR between words keeps its meaning.
"""

import re

from datasette import hookimpl


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


@hookimpl
def prepare_connection(conn):
    conn.create_function("fts_terms", 1, fts_terms, deterministic=True)
