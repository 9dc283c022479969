"""What changed, on a document's own page: the versions of a guidance page or a bill, newest
first, each with what changed and a link to its diff."""

from datasette import hookimpl


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    if view_name != "row" or table != "documents" or request is None:
        return {}

    async def versions():
        document_id = request.url_vars.get("pks", "")
        result = await datasette.get_database(database).execute(
            "select version, fetched_at, change, diff is not null as has_diff from document_versions "
            "where document_id = ? order by version desc", [document_id])
        return {"document_versions": [dict(row) for row in result.rows]}
    return versions
