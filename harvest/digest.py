"""The digest of one nightly run: what changed, what failed, what is stale.

`build_digest` returns a JSON-ready dict:

    {"nightly_id", "started", "finished", "since", "exit_status", "resumed", "database",
     "sources": [{source, status, seconds, counts, errors, advice, harvest_run_ids}],
     "derivations": [{step, status, rows_written, message, errors}],
     "failed": [{source, status, errors, advice}], "stale": [{source, cadence_hours, last_success, hours_since}],
     "new_relevant": {"count", "by_kind": {kind: count}, "by_theme": {theme: count},
                      "documents": [{id, kind, title, published, venue, themes, url, page}]},
     "incidents": {"new": [{id, title, status, page}], "changed": [...]},
     "changed_versions": [{document_id, kind, title, version, change, changed_at, url, page, diff}]}

`render_markdown` turns it into Markdown; `write_digest` writes both beside the database
(`corpus.digest.md`, `corpus.digest.json`, and a dated copy under `digests/`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .archive import iso, utc_now

LIST_LIMIT = 200  # documents listed by name; the counts cover everything
DIFF_LINES = 80   # lines of each diff in the Markdown (the JSON keeps the whole diff)


def _page(site: str | None, table: str, key: str) -> str:
    path = f"/corpus/{table}/{key}"
    return (site.rstrip("/") + path) if site else path


def build_digest(db, db_path: Path, nightly: dict, outcomes, stale: list[dict], exit_code: int,
                 resumed: bool, site: str | None = None) -> dict:
    from .nightly import DERIVE_STEPS, advice, _incident_state
    since = nightly["since"]
    sources, derivations, failed = [], [], []
    for o in outcomes:
        if o.step in DERIVE_STEPS:
            derivations.append({"step": o.step, "status": o.status, "rows_written": o.rows_written,
                                "message": o.message, "errors": o.errors})
            continue
        entry = {"source": o.step, "status": o.status, "seconds": round(o.seconds, 1), "counts": o.counts,
                 "errors": o.errors[:20], "harvest_run_ids": o.harvest_run_ids}
        if o.status not in ("ok", "skipped"):
            entry["advice"] = advice(o)
            failed.append({k: entry[k] for k in ("source", "status", "errors", "advice")})
        sources.append(entry)
    documents = [dict(r) for r in db.query(
        "SELECT id, kind, title, published, venue, themes, url FROM documents "
        "WHERE relevance = 'relevant' AND first_seen >= ? ORDER BY kind, published DESC, id", [since])]
    by_kind, by_theme = {}, {}
    for doc in documents:
        doc["themes"] = json.loads(doc["themes"] or "[]")
        doc["page"] = _page(site, "documents", doc["id"])
        by_kind[doc["kind"]] = by_kind.get(doc["kind"], 0) + 1
        for theme in doc["themes"]:
            by_theme[theme] = by_theme.get(theme, 0) + 1
    before = json.loads(nightly.get("before") or "{}").get("incidents", {})
    after = _incident_state(db)
    titles = {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, title, status FROM incidents")} if after else {}
    incidents = {"new": [], "changed": []}
    for incident_id, state in sorted(after.items()):
        if before.get(incident_id) == state:
            continue
        title, status = titles.get(incident_id, (incident_id, None))
        incidents["new" if incident_id not in before else "changed"].append(
            {"id": incident_id, "title": title, "status": status, "page": _page(site, "incidents", incident_id)})
    versions = [dict(r) for r in db.query(
        "SELECT v.document_id, d.kind, d.title, v.version, v.change, v.fetched_at AS changed_at, "
        "coalesce(v.url, d.url) AS url, v.diff FROM document_versions v JOIN documents d ON d.id = v.document_id "
        "WHERE v.version > 1 AND v.fetched_at >= ? ORDER BY d.kind, v.fetched_at, v.document_id", [since])]
    for version in versions:
        version["page"] = _page(site, "document_versions", f"{version['document_id']},{version['version']}")
    return {"nightly_id": nightly["id"], "started": nightly["started"], "finished": iso(utc_now()),
            "since": since, "exit_status": exit_code, "resumed": resumed, "database": str(db_path),
            "sources": sources, "derivations": derivations, "failed": failed, "stale": stale,
            "new_relevant": {"count": len(documents), "by_kind": by_kind,
                             "by_theme": dict(sorted(by_theme.items(), key=lambda kv: (-kv[1], kv[0]))),
                             "documents": documents[:LIST_LIMIT]},
            "incidents": incidents, "changed_versions": versions}


def _md(text) -> str:
    """Text from the web, made inert in Markdown: no markup, no links, one line."""
    text = " ".join(str(text or "").split())
    for char in "\\`*_[]<>#|":
        text = text.replace(char, "\\" + char)
    return text


def render_markdown(digest: dict) -> str:
    lines = [f"# Nightly digest {digest['nightly_id']}", "",
             f"Changes since {digest['since']}; run started {digest['started']}, finished {digest['finished']}"
             f"{' (resumed after an interruption)' if digest['resumed'] else ''}. Exit status {digest['exit_status']}.", ""]
    worked = [s for s in digest["sources"] if s["status"] in ("ok", "partial")]
    lines += [f"## Sources: {len(worked)} of {len(digest['sources'])} worked", "",
              "| source | status | added | updated | failed | seconds |", "|---|---|---:|---:|---:|---:|"]
    for s in digest["sources"]:
        c = s["counts"]
        lines.append(f"| {s['source']} | {s['status']} | {c.get('added', 0)} | {c.get('updated', 0)} | "
                     f"{c.get('failed', 0)} | {s['seconds']} |")
    lines.append("")
    if digest["failed"]:
        lines += ["## Failed sources and what to do", ""]
        for f in digest["failed"]:
            lines.append(f"- **{f['source']}** ({f['status']}): {f['advice']}")
            lines += [f"  - {_md(e)[:300]}" for e in f["errors"][:5]]
        lines.append("")
    if digest["stale"]:
        lines += ["## Stale sources", ""]
        for s in digest["stale"]:
            lines.append(f"- **{s['source']}**: no successful run within its cadence of {s['cadence_hours']} h "
                         f"(last success: {s['last_success'] or 'never'})")
        lines.append("")
    new = digest["new_relevant"]
    lines += [f"## New relevant documents: {new['count']}", ""]
    if new["count"]:
        lines.append("By kind: " + ", ".join(f"{k} {v}" for k, v in new["by_kind"].items()) + ".  ")
        lines.append("By theme: " + (", ".join(f"{k} {v}" for k, v in new["by_theme"].items()) or "none") + ".")
        lines.append("")
        kind = None
        for doc in new["documents"]:
            if doc["kind"] != kind:
                kind = doc["kind"]
                lines += ["", f"### {kind}", ""]
            themes = f" ({', '.join(doc['themes'])})" if doc["themes"] else ""
            source = f" [source]({doc['url']})" if doc["url"] else ""
            lines.append(f"- [{_md(doc['title'] or doc['id'])}]({doc['page']}){themes}, "
                         f"{_md(doc['venue'] or '')} {doc['published'] or ''}{source}")
        if new["count"] > len(new["documents"]):
            lines.append(f"- ... and {new['count'] - len(new['documents'])} more")
    lines.append("")
    incidents = digest["incidents"]
    lines += [f"## Incidents: {len(incidents['new'])} new, {len(incidents['changed'])} changed", ""]
    for label in ("new", "changed"):
        for i in incidents[label]:
            lines.append(f"- {label}: [{_md(i['title'])}]({i['page']}) ({i['status']})")
    lines.append("")
    lines += [f"## Changed guidance and bills: {len(digest['changed_versions'])}", ""]
    for v in digest["changed_versions"]:
        lines.append(f"### {_md(v['title'] or v['document_id'])} ({v['kind']}), version {v['version']}")
        lines += ["", f"{_md(v['change'])}; [diff]({v['page']})" + (f", [page]({v['url']})" if v["url"] else ""), ""]
        if v["diff"]:
            diff = v["diff"].splitlines()
            lines += ["```diff", *[line.replace("```", "ˋˋˋ") for line in diff[:DIFF_LINES]], "```"]
            if len(diff) > DIFF_LINES:
                lines.append(f"({len(diff) - DIFF_LINES} more diff lines in the JSON digest)")
        lines.append("")
    lines += ["## Derivations", ""]
    for d in digest["derivations"]:
        lines.append(f"- {d['step']}: {d['status']}" + (f", {d['rows_written']} row(s) written" if d["rows_written"]
                                                          is not None else "")
                     + (f"; {_md(d['message'])}" if d["message"] else "")
                     + (f"; {_md(d['errors'][0])}" if d["errors"] else ""))
    return "\n".join(lines) + "\n"


def write_digest(db_path: Path, digest: dict) -> list[Path]:
    """`<db>.digest.md` and `<db>.digest.json` beside the database (the latest run), and a dated
    copy of each in `digests/` beside it. Returns the paths of the latest pair."""
    folder = Path(db_path).resolve().parent
    markdown, data = render_markdown(digest), json.dumps(digest, ensure_ascii=False, indent=1)
    stem = Path(db_path).stem
    history = folder / "digests"
    history.mkdir(exist_ok=True)
    (history / f"{stem}-{digest['nightly_id']}.md").write_text(markdown, encoding="utf-8")
    (history / f"{stem}-{digest['nightly_id']}.json").write_text(data, encoding="utf-8")
    latest = [folder / f"{stem}.digest.md", folder / f"{stem}.digest.json"]
    for path, text in zip(latest, (markdown, data)):
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    return latest
