"""Every search box reads a query the same way: harvest.search.parse_query, turned into a safe
FTS5 expression by harvest.search.fts_match ("quoted phrases", OR, prefix `*`, `-word` to exclude,
synonyms from annotations/synonyms.yaml; `.`, `-`, `:`, brackets, `NEAR(` and stray quotes are
never FTS5 syntax, so no query is an FTS5 error).

- `escape_fts(text)`: Datasette's own function for a table page's search box (`?_search=`,
  escaped mode) is replaced on every connection, so the documents table's box and `/-/search`
  agree.
- `fts_terms(text)`: the same expression for the canned queries (`documents_fts MATCH fts_terms(:q)`).

A query with no word in it (a lone `"`, `*`, `-`, `OR`, punctuation) becomes `""`, an empty
phrase that matches no row: garbage finds nothing, never everything, on every page; the
`nothing_to_search` template filter lets each page say why.
"""

from datasette import hookimpl

from harvest.search import NOTHING, fts_match, load_synonyms, parse_query

SYNONYMS = load_synonyms()


def search_expression(text):
    """What a person typed in a search box, as an FTS5 expression (never a syntax error)."""
    return fts_match(parse_query(text or ""), SYNONYMS)


def nothing_to_search(text) -> bool:
    """True for a typed query that holds no word to look for (only syntax, punctuation or words to leave out)."""
    return bool((text or "").strip()) and search_expression(text) == NOTHING


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["nothing_to_search"] = nothing_to_search


@hookimpl(trylast=True)  # after Datasette's own escape_fts, which this replaces
def prepare_connection(conn):
    conn.create_function("fts_terms", 1, search_expression, deterministic=True)
    conn.create_function("escape_fts", 1, search_expression, deterministic=True)
