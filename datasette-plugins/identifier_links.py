"""Cells that name something become links: identifiers to their resolvers (doi.org, PubMed, PMC,
arXiv, the original URL), and in query results, document and incident ids to their pages."""

import re

from datasette import hookimpl
from markupsafe import Markup

from harvest.identifiers import identifier_url
from harvest.serve import served_database

DOCUMENT_ID = re.compile(r"d[0-9a-f]{12}")
DOCUMENT_COLUMNS = ("document_id", "retracted_id", "story_id")
INCIDENT_COLUMNS = ("incident_id",)


def _identifier(value, row):
    return identifier_url(row["scheme"], value)


@hookimpl
def render_cell(value, column, table, row, database, datasette):
    if not isinstance(value, str):
        return None
    href = None
    if table == "identifiers" and column == "value":
        href = _identifier(value, row)
        return Markup('<a href="{}" rel="nofollow">{}</a>').format(href, value) if href else None
    if table is None and database == served_database(datasette):  # a canned or arbitrary query
        columns = row.keys()
        if (column in DOCUMENT_COLUMNS or column == "id" and "kind" in columns) and DOCUMENT_ID.fullmatch(value):
            href = datasette.urls.row(database, "documents", value)
        elif column in INCIDENT_COLUMNS or (column == "id" and "status" in columns and "documents" in columns):
            href = datasette.urls.row(database, "incidents", value)
        elif column in ("url", "diff_page") and value.lower().startswith(("http://", "https://", "/corpus/")):
            href = datasette.urls.path(value.replace("/corpus/", f"/{database}/", 1)) if value[0] == "/" \
                else identifier_url("url", value) or value
    return Markup('<a href="{}">{}</a>').format(href, value) if href else None
