"""/-/incidents: every incident to browse, newest first report first (undated last), filtered by
product, company, harm, place, status and year (the year of the first report, or of the event),
with counts beside each filter. Filters are the readable names the incident pages show
(`product=Character.AI`, `harm=suicidality`), matched without regard to case; `q` searches the
incidents' text with the search page's rules (phrases, OR, prefixes, synonyms)."""

import json
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

from harvest.db import query_rows
from harvest.search import fts_match, load_synonyms, parse_query
from harvest.serve import served_database

LISTS = {"product": "products", "company": "companies", "harm": "harms"}
FILTERS = ("product", "company", "harm", "place", "status", "year")


def browse(conn, asked: dict, synonyms: dict) -> dict:
    """Incidents matching `asked` ({filter: value}); returns {incidents, facets, match}."""
    where, params = [], {}
    for name, column in LISTS.items():
        if asked.get(name):
            where.append(f"EXISTS (SELECT 1 FROM json_each(i.{column}) WHERE lower(value) = lower(:{name}))")
            params[name] = asked[name]
    if asked.get("place"):
        where.append("lower(i.location) LIKE '%' || lower(:place) || '%'")
        params["place"] = asked["place"]
    if asked.get("status"):
        where.append("i.status = lower(:status)")
        params["status"] = asked["status"]
    if asked.get("year"):
        where.append("(substr(i.first_reported, 1, 4) = :year OR substr(i.event_date, 1, 4) = :year)")
        params["year"] = asked["year"]
    match = fts_match(parse_query(asked.get("q", "")), synonyms) if asked.get("q") else ""
    if match:
        where.append("i.rowid IN (SELECT rowid FROM incidents_fts WHERE incidents_fts MATCH :match)")
        params["match"] = match
    rows = query_rows(conn, f"""SELECT i.*, (SELECT count(*) FROM incident_documents l WHERE l.incident_id = i.id) AS documents,
                                  (SELECT count(*) FROM incident_documents l WHERE l.incident_id = i.id AND l.method = 'machine') AS machine
                                FROM incidents i WHERE {' AND '.join(where) or '1'}
                                ORDER BY coalesce(i.first_reported, i.event_date) IS NULL,
                                         coalesce(i.first_reported, i.event_date) DESC, i.id""", params)
    facets = {name: {} for name in ("status", "product", "company", "harm", "year")}
    for row in rows:
        for name, column in LISTS.items():
            row[column] = json.loads(row[column]) if row[column] else []
            for value in row[column]:
                facets[name][value] = facets[name].get(value, 0) + 1
        facets["status"][row["status"]] = facets["status"].get(row["status"], 0) + 1
        year = (row["first_reported"] or row["event_date"] or "")[:4]
        if year:
            facets["year"][year] = facets["year"].get(year, 0) + 1
    ordered = {name: sorted(values.items(), key=(lambda kv: kv[0]) if name == "year" else (lambda kv: (-kv[1], kv[0])),
                            reverse=name == "year") for name, values in facets.items()}
    return {"incidents": rows, "facets": ordered, "match": match}


async def incidents_page(datasette, request):
    asked = {name: request.args.get(name, "").strip() for name in (*FILTERS, "q")}
    asked = {k: v for k, v in asked.items() if v}
    database = served_database(datasette)
    synonyms = load_synonyms()
    found = await datasette.get_database(database).execute_fn(lambda conn: browse(conn, asked, synonyms))
    here = datasette.urls.path("/-/incidents")

    def link(**changes):
        pairs = {**asked, **changes}
        return here + ("?" + urlencode({k: v for k, v in pairs.items() if v}) if any(pairs.values()) else "")
    facets = [{"name": name, "label": label, "values": [
        {"value": value, "n": n, "selected": asked.get(name, "").lower() == str(value).lower(),
         "href": link(**{name: "" if asked.get(name, "").lower() == str(value).lower() else value})} for value, n in found["facets"][name]]}
        for name, label in (("status", "Status"), ("product", "Product"), ("company", "Company"), ("harm", "Harm"), ("year", "Year"))]
    return Response.html(await datasette.render_template("incidents.html", {
        "found": found, "asked": asked, "facets": [f for f in facets if f["values"]], "database": database,
        "filters": [(name, value, link(**{name: ""})) for name, value in asked.items() if name != "q"]}, request=request))


@hookimpl
def register_routes():
    return [(r"^/-/incidents$", incidents_page)]
