"""Atom feeds to follow the evidence base from a feed reader: new documents, new incidents and
changed guidance or bills, at /-/feeds/<name>.atom. Entries carry a title, a link to the record's
page, a date and a plain-text summary (text from the web is never sent as markup). An empty
feed is a valid feed. Characters XML 1.0 cannot carry (control characters such as U+0010) are
removed from every value, and a record that still cannot be written is left out and logged, so
one record never stops a feed.
"""

import logging
import re

from datasette import hookimpl
from datasette.utils.asgi import Response
from feedgen.feed import FeedGenerator

from harvest.escape import xml_text
from harvest.serve import public_url, served_database

log = logging.getLogger(__name__)

LIMIT = 100
FEEDS = {
    "documents": {
        "title": "New documents",
        "sql": """select id, title, coalesce(abstract, '') as summary, first_seen as updated, kind, venue
                  from documents where (relevance = 'relevant' or relevance is null)
                  order by first_seen desc, id desc limit :limit""",
        "link": "/{database}/documents/{id}",
        "summary": "{kind}, {venue}: {summary}",
    },
    "incidents": {
        "title": "Incidents",
        "sql": """select i.id, i.title, coalesce(i.summary, '') as summary, i.status,
                    coalesce((select max(d.first_seen) from incident_documents l join documents d
                              on d.id = l.document_id where l.incident_id = i.id), i.first_reported,
                             '1970-01-01') as updated
                  from incidents i order by updated desc, i.id limit :limit""",
        "link": "/{database}/incidents/{id}",
        "summary": "Status: {status}. {summary}",
    },
    "changes": {
        "title": "Changed guidance and legislation",
        "sql": """select document_id || '/' || version as id, document_id, title, changed_at as updated,
                    coalesce(change, '') as summary, kind, source_of_text
                  from changes order by changed_at desc limit :limit""",
        "link": "/{database}/document_versions/{document_id},{version}",
        "summary": "{kind} ({source_of_text}): {summary}",
    },
}


def _timestamp(value: str) -> str:
    """feedgen wants a full timestamp with a zone; the corpus stores dates as precisely as known.
    A value that is no ISO date (or a partial one) counts as 1970-01-01."""
    value = str(value or "")[:19]
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?)?)?", value):
        value = "1970-01-01"
    value = value.replace(" ", "T")
    if len(value) == 4:
        value += "-01-01"
    elif len(value) == 7:
        value += "-01"
    if "T" not in value:
        value += "T00:00:00"
    return value + "+00:00"


async def feed(datasette, request):
    name = request.url_vars["name"]
    if name not in FEEDS:
        return Response.text(f"No feed called {name}; there are: {', '.join(FEEDS)}", status=404)
    spec, database = FEEDS[name], served_database(datasette)
    rows = (await datasette.get_database(database).execute(spec["sql"], {"limit": LIMIT})).rows
    generator = FeedGenerator()
    page = public_url(request.path)
    generator.id(page)
    generator.title(f"{datasette.metadata('title') or 'Evidence base'}: {spec['title']}")
    generator.link(href=page, rel="self")
    generator.link(href=public_url("/"), rel="alternate")
    generator.updated(_timestamp(max((r["updated"] for r in rows), default="1970-01-01")))
    for row in reversed(rows):
        values = {k: xml_text(v) for k, v in dict(row).items()}
        if name == "changes":
            values["version"] = values["id"].rsplit("/", 1)[1]
        entry = generator.add_entry()
        try:
            link = public_url(spec["link"].format(database=database, **values))
            entry.id(link)
            entry.title(values["title"] or values["id"])
            entry.link(href=link)
            entry.updated(_timestamp(values["updated"]))
            entry.summary(spec["summary"].format(**{k: v if v is not None else "" for k, v in values.items()})[:1000])
            entry.atom_entry()  # feedgen stores values as given; lxml checks them when the entry is built
        except (ValueError, TypeError) as error:  # lxml or feedgen refused a value: leave the record out
            generator.remove_entry(entry)
            log.warning("feed %s: record %s left out: %s", name, values.get("id"), error)
    return Response(generator.atom_str(pretty=True), content_type="application/atom+xml; charset=utf-8")


@hookimpl
def register_routes():
    return [(r"^/-/feeds/(?P<name>[a-z]+)\.atom$", feed)]
