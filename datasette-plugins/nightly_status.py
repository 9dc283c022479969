"""The operator's view of the unattended harvest: `/-/status` (and `/-/status.json`) shows, per
source, its last successful run, its expected cadence and whether it is stale, the last run's
counts and last error; the corpus's counts, database size and schema version; the latest nightly
runs. `/-/feeds/nightly.atom` has one entry per finished nightly run, its digest as the summary.
"""

import json
import os

from datasette import hookimpl
from datasette.utils.asgi import Response
from feedgen.feed import FeedGenerator

from harvest.db import SCHEMA_VERSION, query_rows
from harvest.nightly import ScheduleError, load_schedule, stale_sources
from harvest.serve import DATABASE

FEED_LIMIT = 30


def _has(conn, table: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [table]).fetchone())


def _status(conn, path: str | None) -> dict:
    try:
        schedule = load_schedule()
        stale, problem = stale_sources(_Plain(conn), schedule), None
        cadence = {p.name: round(p.cadence.total_seconds() / 3600, 1) for p in schedule.sources}
    except ScheduleError as error:
        stale, problem, cadence = [], str(error), {}
    stale_names = {s["source"] for s in stale}
    sources = []
    if _has(conn, "harvest_runs"):
        names = sorted(set(cadence) | {r["source"] for r in query_rows(conn, "SELECT DISTINCT source FROM harvest_runs")})
        for name in names:
            last = query_rows(conn, "SELECT id, status, started, finished, found, added, updated, unchanged, failed "
                                    "FROM harvest_runs WHERE source = ? ORDER BY started DESC, rowid DESC LIMIT 1", [name])
            success = query_rows(conn, "SELECT max(coalesce(finished, started)) AS at FROM harvest_runs "
                                       "WHERE source = ? AND status IN ('ok', 'partial')", [name])[0]["at"]
            error = query_rows(conn, "SELECT started, error FROM harvest_runs WHERE source = ? AND error IS NOT NULL "
                                     "ORDER BY started DESC, rowid DESC LIMIT 1", [name])
            sources.append({"source": name, "cadence_hours": cadence.get(name), "last_success": success,
                            "stale": name in stale_names, "last_run": last[0] if last else None,
                            "last_error": ({"at": error[0]["started"], "message": error[0]["error"].splitlines()[0][:500]}
                                           if error else None)})
    counts = {"documents": conn.execute("SELECT count(*) FROM documents").fetchone()[0],
              "relevant": conn.execute("SELECT count(*) FROM documents WHERE relevance = 'relevant'").fetchone()[0],
              "incidents": conn.execute("SELECT count(*) FROM incidents").fetchone()[0] if _has(conn, "incidents") else 0,
              "versions": conn.execute("SELECT count(*) FROM document_versions").fetchone()[0]
              if _has(conn, "document_versions") else 0}
    by_kind = {r["kind"]: r["n"] for r in query_rows(conn, "SELECT kind, count(*) AS n FROM documents GROUP BY kind ORDER BY n DESC")}
    size = sum(os.path.getsize(p) for p in (path, f"{path}-wal") if path and os.path.exists(p))
    nightly = (query_rows(conn, "SELECT id, started, finished, status, exit_code FROM nightly_runs "
                                "ORDER BY started DESC LIMIT 10") if _has(conn, "nightly_runs") else [])
    return {"sources": sources, "stale": stale, "schedule_problem": problem, "counts": counts, "by_kind": by_kind,
            "database_bytes": size, "schema_version": conn.execute("PRAGMA user_version").fetchone()[0],
            "schema_version_expected": SCHEMA_VERSION, "nightly_runs": nightly}


class _Plain:
    """The bits of a sqlite_utils Database that harvest.nightly.stale_sources uses."""

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql, params=()):
        return self.conn.execute(sql, params)


async def status_page(datasette, request):
    database = datasette.get_database(DATABASE)
    status = await database.execute_fn(lambda conn: _status(conn, database.path))
    if request.url_vars.get("format") == "json":
        return Response.json(status)
    return Response.html(await datasette.render_template("status.html", {"status": status}, request=request))


def _timestamp(value: str) -> str:
    return (value or "1970-01-01T00:00:00Z").replace("Z", "+00:00")


async def nightly_feed(datasette, request):
    def rows(conn):
        if not _has(conn, "nightly_runs"):
            return []
        return query_rows(conn, "SELECT id, started, finished, status, exit_code, digest FROM nightly_runs "
                                "WHERE finished IS NOT NULL AND digest IS NOT NULL ORDER BY finished DESC LIMIT ?",
                          [FEED_LIMIT])
    runs = await datasette.get_database(DATABASE).execute_fn(rows)
    generator = FeedGenerator()
    page = datasette.absolute_url(request, request.path)
    generator.id(page)
    generator.title(f"{datasette.metadata('title') or 'Evidence base'}: nightly harvest")
    generator.link(href=page, rel="self")
    generator.link(href=datasette.absolute_url(request, "/-/status"), rel="alternate")
    generator.updated(_timestamp(max((r["finished"] for r in runs), default=None)))
    for run in reversed(runs):
        digest = json.loads(run["digest"])
        new, incidents = digest["new_relevant"], digest["incidents"]
        lines = [f"Exit status {run['exit_code']} ({run['status']}).",
                 f"New relevant documents: {new['count']}"
                 + (" (" + ", ".join(f"{k} {v}" for k, v in new["by_kind"].items()) + ")" if new["by_kind"] else "") + ".",
                 f"Incidents: {len(incidents['new'])} new, {len(incidents['changed'])} changed.",
                 f"Changed guidance and bills: {len(digest['changed_versions'])}."]
        lines += [f"Failed: {f['source']} ({f['status']}): {f['advice']}" for f in digest["failed"]]
        lines += [f"Stale: {s['source']} (last success {s['last_success'] or 'never'})" for s in digest["stale"]]
        lines += [f"- {d['title']} ({d['kind']}) {datasette.absolute_url(request, d['page'])}"
                  for d in new["documents"][:20]]
        entry = generator.add_entry()
        entry.id(datasette.absolute_url(request, f"/{DATABASE}/nightly_runs/{run['id']}"))
        entry.title(f"Nightly harvest {run['id']}: {new['count']} new relevant, "
                    f"{len(digest['failed'])} failed, {len(digest['stale'])} stale")
        entry.link(href=datasette.absolute_url(request, f"/{DATABASE}/nightly_runs/{run['id']}"))
        entry.updated(_timestamp(run["finished"]))
        entry.summary("\n".join(lines)[:4000])
    return Response(generator.atom_str(pretty=True), content_type="application/atom+xml; charset=utf-8")


@hookimpl(tryfirst=True)  # before atom_feeds' /-/feeds/<name>.atom, which knows no "nightly"
def register_routes():
    return [(r"^/-/status(\.(?P<format>json))?$", status_page), (r"^/-/feeds/nightly\.atom$", nightly_feed)]
