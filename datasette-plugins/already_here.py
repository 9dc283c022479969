""""Is this already here?": /-/lookup (a page with a form) and /-/lookup.json (JSON), taking
`?q=` a URL, DOI, PMID, PMC id, arXiv id or document id and answering with the corpus document
(merges and canonical URLs followed) or saying it is not in the corpus. The work is done by
`harvest.lookup`; this module only wires it into Datasette."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from harvest.lookup import LookupInputError, lookup
from harvest.serve import served_database


async def _answer(datasette, query: str) -> tuple[dict, int]:
    try:
        database = served_database(datasette)
        answer = await datasette.get_database(database).execute_fn(lambda conn: lookup(conn, query))
    except LookupInputError as error:
        return {"query": query, "found": False, "error": str(error)}, 400
    if answer["document"]:
        answer["document"]["page"] = datasette.urls.row(database, "documents", answer["document"]["id"])
    return answer, 200


async def lookup_json(datasette, request):
    answer, status = await _answer(datasette, request.args.get("q", ""))
    return Response.json(answer, status=status)


async def lookup_page(datasette, request):
    query = request.args.get("q", "")
    answer = (await _answer(datasette, query))[0] if query else None
    html = await datasette.render_template("lookup.html", {"q": query, "answer": answer}, request=request)
    return Response.html(html)  # the page answers a form: its error is a message on it


@hookimpl
def register_routes():
    return [(r"^/-/lookup$", lookup_page), (r"^/-/lookup\.json$", lookup_json)]
