"""The home page says where the corpus came from: the offline starter set (seed list, the
curated reading list and incidents) and how to fill it, or which sources have been harvested.
Also links "Is this already here?" (/-/lookup)."""

from datasette import hookimpl

from harvest.resolve import corpus_origin
from harvest.serve import served_database


@hookimpl
def extra_template_vars(template, datasette):
    if template != "index.html":
        return {}
    database = served_database(datasette)
    if database not in datasette.databases:
        return {}

    async def origin():
        try:
            status = await datasette.get_database(database).execute_fn(corpus_origin)
        except Exception:  # an older or foreign database: say nothing rather than break the home page
            return {}
        return {"corpus_origin": status}
    return origin
