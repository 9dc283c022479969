"""Pictures for people who would rather look than read, drawn on the server as SVG (no script):

/-/graph?node=document:ID   a record's neighbourhood in the evidence graph (`harvest graph`),
                            laid out by networkx; every node is a link to its page
/-/charts                   evidence over time by kind and by theme, incidents per month; every
                            bar opens the documents behind it; what is not drawn is said
/-/evidence-map             themes x study designs: each cell counts documents and links to them,
                            so the gaps show

Charts and map count relevant documents unless asked for more (?scope=related or ?scope=all).
Every picture is a responsive SVG (a viewBox, no fixed size).

Their counts come from the search index (harvest.search.SearchIndex: each document's year, kind,
study design, relevance and themes in numpy arrays, built once per version of the database file and
shared with the search page), so a visit is a few milliseconds of counting at any corpus size, not
a GROUP BY over every document on a server thread (11 s for the map at a million documents).
"""

import math
from urllib.parse import quote

import networkx as nx
from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from harvest.graph import neighbourhood
from harvest.db import query_rows
from harvest.search import DESIGN_LABELS, SCOPES, index_for
from harvest.serve import served_database

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
NODE_COLOURS = {"incident": "#e15759", "theme": "#59a14f", "product": "#f28e2b", "organisation": "#b07aa1",
                "jurisdiction": "#9c755f", "population": "#76b7b2", "condition": "#edc948"}
DESIGNS = ["systematic_review", "rct", "observational", "qualitative", "evaluation", "case_report", "commentary", None]


def _page_of(datasette, node: dict) -> str:
    return datasette.urls.row(served_database(datasette), node["ref_table"], node["ref_id"])


def _text_width(text: str, size: float) -> float:
    return len(text) * size * 0.56


def _overlaps(box, boxes) -> bool:
    x1, y1, x2, y2 = box
    return any(x1 < b[2] and b[0] < x2 and y1 < b[3] and b[1] < y2 for b in boxes)


def graph_svg(datasette, nodes: list[dict], edges: list[dict], focus: str, width: int = 800, height: int = 560) -> Markup:
    """The neighbourhood as a responsive SVG (viewBox only): every node a numbered circle linking
    to its page (the numbers are the key under the picture), and its name written beside it
    wherever the name fits without overlapping another name or circle or leaving the picture."""
    graph = nx.Graph()
    graph.add_nodes_from(n["id"] for n in nodes)
    graph.add_edges_from((e["source"], e["target"], {"weight": e["weight"]}) for e in edges)
    layout = nx.spring_layout(graph, seed=1, weight=None, center=(0, 0)) if len(graph) > 1 else {focus: (0.0, 0.0)}
    if focus in layout:
        layout = {k: (x - layout[focus][0], y - layout[focus][1]) for k, (x, y) in layout.items()}
    reach_x = max([abs(x) for x, _ in layout.values()] + [1e-9])
    reach_y = max([abs(y) for _, y in layout.values()] + [1e-9])
    margin = 30

    def point(node_id):
        x, y = layout[node_id]
        return width / 2 + x / reach_x * (width / 2 - margin), height / 2 + y / reach_y * (height / 2 - margin)
    ordered = sorted(nodes, key=lambda n: (n["id"] != focus, -(n["pagerank"] or 0), n["id"]))
    numbers = {n["id"]: i for i, n in enumerate(ordered, 1)}
    radius = {n["id"]: 16 if n["id"] == focus else 9 + min(7, math.sqrt((n["pagerank"] or 0) * 2000)) for n in nodes}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="picture" viewBox="0 0 {width} {height}" '
             f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="Neighbourhood of {escape(focus)} in the evidence graph">']
    for edge in edges:
        (x1, y1), (x2, y2) = point(edge["source"]), point(edge["target"])
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#aaa" '
                     f'stroke-width="{1 + min(edge["weight"], 4) / 2:.1f}"><title>{escape(edge["type"])} '
                     f'(weight {edge["weight"]:g})</title></line>')
    taken = [(x - radius[n["id"]], y - radius[n["id"]], x + radius[n["id"]], y + radius[n["id"]])
             for n in nodes for x, y in [point(n["id"])]]
    labels = []
    for node in ordered:
        x, y = point(node["id"])
        r = radius[node["id"]]
        label = node["label"] or node["ref_id"]
        short = label if len(label) <= 30 else label[:28] + "…"
        size = 13 if node["id"] == focus else 11
        w = _text_width(short, size)
        for anchor, tx, ty in (("start", x + r + 3, y + 4), ("end", x - r - 3, y + 4), ("middle", x, y - r - 4),
                               ("middle", x, y + r + size)):
            left = {"start": tx, "end": tx - w, "middle": tx - w / 2}[anchor]
            box = (left, ty - size, left + w, ty + 3)
            if box[0] >= 2 and box[2] <= width - 2 and box[1] >= 2 and box[3] <= height - 2 and not _overlaps(box, taken + labels):
                labels.append(box)
                node["_label"] = (anchor, tx, ty, size, short)
                break
    for node in ordered:
        x, y = point(node["id"])
        r = radius[node["id"]]
        colour = NODE_COLOURS.get(node["type"], PALETTE[0])
        label = node["label"] or node["ref_id"]
        text = ""
        if node.get("_label"):
            anchor, tx, ty, size, short = node["_label"]
            text = (f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="{size}" text-anchor="{anchor}" paint-order="stroke" '
                    f'stroke="#fff" stroke-width="3">{escape(short)}</text>')
        parts.append(f'<a href="{escape(_page_of(datasette, node))}"><title>{numbers[node["id"]]}. {escape(node["type"])}: '
                     f'{escape(label)}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" stroke="#333"/>'
                     f'<text x="{x:.1f}" y="{y + 4:.1f}" font-size="10" text-anchor="middle" fill="#fff" font-weight="bold">'
                     f'{numbers[node["id"]]}</text>{text}</a>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_step(top: int) -> int:
    """A tick step of 1, 2 or 5 times a power of ten giving at most five ticks up to `top`."""
    step = 1
    while top / step > 5:
        for factor in (2, 2.5, 2):
            step = int(step * factor)
            if top / step <= 5:
                break
    return max(step, 1)


def bar_chart(title: str, categories: list[str], series: dict[str, list[int]], links: dict | None = None,
              x_label: str = "Year", y_label: str = "Documents", width: int = 760, height: int = 300) -> Markup:
    """Stacked bars, one per category, one colour per series, with a legend, a y axis with ticks
    and a labelled x axis; a bar (or part of one) is a link when `links[(category, name)]` is set."""
    links = links or {}
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    step = _nice_step(max(totals + [1]))
    top = step * math.ceil(max(totals + [1]) / step)
    left, bottom, usable = 56, height - 46, height - 80
    slot = (width - left - 10) / max(len(categories), 1)
    legend_rows = (len(series) + 2) // 3
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="picture" viewBox="0 0 {width} {height + 22 * legend_rows}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
             f'<text x="14" y="{bottom - usable / 2:.0f}" font-size="12" text-anchor="middle" '
             f'transform="rotate(-90 14 {bottom - usable / 2:.0f})">{escape(y_label)}</text>',
             f'<text x="{left + (width - left) / 2:.0f}" y="{bottom + 36}" font-size="12" text-anchor="middle">{escape(x_label)}</text>']
    for tick in range(0, top + 1, step):
        y = bottom - tick / top * usable
        parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{"#333" if tick == 0 else "#e3e3e3"}"/>'
                     f'<text x="{left - 7}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick}</text>')
    every = max(1, math.ceil(len(categories) / 14))
    for i, category in enumerate(categories):
        y = bottom
        for number, (name, values) in enumerate(series.items()):
            if values[i]:
                h = values[i] / top * usable
                y -= h
                bar = (f'<rect x="{left + i * slot + 1.5:.1f}" y="{y:.1f}" width="{max(slot - 3, 1):.1f}" height="{h:.1f}" '
                       f'fill="{PALETTE[number % len(PALETTE)]}"><title>{escape(category)}, {escape(name)}: {values[i]}</title></rect>')
                href = links.get((category, name))
                parts.append(f'<a href="{escape(href)}">{bar}</a>' if href else bar)
        if i % every == 0:
            parts.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{bottom + 16}" font-size="11" '
                         f'text-anchor="middle">{escape(category)}</text>')
    for number, name in enumerate(series):
        x, y = left + (number % 3) * 230, height + 8 + 22 * (number // 3)
        parts.append(f'<rect x="{x}" y="{y - 10}" width="11" height="11" fill="{PALETTE[number % len(PALETTE)]}"/>'
                     f'<text x="{x + 16}" y="{y}" font-size="12">{escape(name[:32])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _charts(datasette, conn, scope: str) -> dict:
    counted = index_for(conn).picture_counts(scope)
    theme_labels = dict(conn.execute("SELECT id, label FROM themes").fetchall())
    search = datasette.urls.path("/-/search")
    by_kind = [{"year": y, "kind": k, "n": n} for (y, k), n in counted["year_kind"].items()]
    first = min((r["year"] for r in by_kind), default=2020)
    years = [str(y) for y in range(first, max((r["year"] for r in by_kind), default=first) + 1)]
    scoped = "" if scope == "relevant" else f"&scope={scope}"

    def series(rows, key):
        found = {}
        for row in rows:
            found.setdefault(row[key], [0] * len(years))[years.index(str(row["year"]))] += row["n"]
        return dict(sorted(found.items(), key=lambda kv: (-sum(kv[1]), kv[0])))
    by_theme = [{"year": y, "theme": t, "label": theme_labels.get(t) or t, "n": n} for (y, t), n in counted["year_theme"].items()]
    theme_ids = {r["label"]: r["theme"] for r in by_theme}
    incidents = query_rows(conn, "SELECT substr(first_reported, 1, 7) AS month, count(*) AS n FROM incidents "
                                 "WHERE first_reported IS NOT NULL GROUP BY month ORDER BY month")
    months = [r["month"] for r in incidents]
    kinds = series(by_kind, "kind")
    themes = series(by_theme, "label")
    undated_incidents = conn.execute("SELECT count(*) FROM incidents WHERE first_reported IS NULL").fetchone()[0]
    return {"charts": [
        bar_chart("Documents per year, by kind", years, kinds,
                  {(y, k): f"{search}?kind={quote(k)}&year_from={y}&year_to={y}&sort=newest{scoped}" for y in years for k in kinds}),
        bar_chart("Documents per year, by theme (a document counts once per theme)", years, themes,
                  {(y, t): f"{search}?theme={quote(theme_ids[t])}&year_from={y}&year_to={y}&sort=newest{scoped}"
                   for y in years for t in themes}),
        bar_chart("Incidents per month of first report", months, {"incidents": [r["n"] for r in incidents]},
                  {(m, "incidents"): datasette.urls.path(f"/-/incidents?year={m[:4]}") for m in months},
                  x_label="Month of first report", y_label="Incidents")],
        "undated": counted["undated"], "outside": counted["outside"], "undated_incidents": undated_incidents,
        "first_year": years[0] if by_kind else None}


def _evidence_map(datasette, conn, scope: str) -> dict:
    themes = query_rows(conn, "SELECT id, label FROM themes ORDER BY label")
    counts = index_for(conn).picture_counts(scope)["theme_design"]
    top = max(counts.values(), default=1)
    search = datasette.urls.path("/-/search")
    scoped = "" if scope == "relevant" else f"&scope={scope}"
    rows = []
    for theme in themes:
        cells = []
        for design in DESIGNS:
            n = counts.get((theme["id"], design), 0)
            query = f"theme={quote(theme['id'])}&design={quote(design or 'none')}{scoped}"
            cells.append({"n": n, "href": f"{search}?{query}", "shade": round(0.1 + 0.8 * n / top, 2) if n else 0})
        rows.append({"theme": theme, "cells": cells})
    return {"designs": [DESIGN_LABELS.get(d, "Not determined") for d in DESIGNS], "rows": rows}


def _scope(request) -> str:
    scope = request.args.get("scope", "relevant")
    return scope if scope in SCOPES else "relevant"


def _scope_links(request, scope: str) -> list:
    return [(name, f"{request.path}?scope={name}" if name != "relevant" else request.path, name == scope,
             {"relevant": "relevant", "related": "+ related", "all": "everything"}[name]) for name in SCOPES]


async def graph_page(datasette, request):
    node = request.args.get("node", "")
    if ":" not in node:
        return Response.text("Ask for a node, e.g. /-/graph?node=document:ID (or incident:, theme:, entity:)", status=400)
    nodes, edges = await datasette.get_database(served_database(datasette)).execute_fn(lambda conn: neighbourhood(conn, node))
    focus = next((n for n in nodes if n["id"] == node), None)
    return Response.html(await datasette.render_template("graph.html", {
        "node": node, "focus": focus, "edges": edges,
        "nodes": {n["id"]: {"label": n["label"] or n["ref_id"], "type": n["type"], "page": _page_of(datasette, n)} for n in nodes},
        "colours": NODE_COLOURS, "default_colour": PALETTE[0],
        "picture": graph_svg(datasette, nodes, edges, node) if focus else None,
        "key": [{"n": i, "label": n["label"] or n["ref_id"], "type": n["type"], "page": _page_of(datasette, n)}
                for i, n in enumerate(sorted(nodes, key=lambda n: (n["id"] != node, -(n["pagerank"] or 0), n["id"])), 1)],
        "database": served_database(datasette), "page": _page_of(datasette, focus) if focus else None}, request=request))


async def charts_page(datasette, request):
    scope, database = _scope(request), served_database(datasette)
    charts = await datasette.get_database(database).execute_fn(lambda conn: _charts(datasette, conn, scope))
    return Response.html(await datasette.render_template("charts.html", {
        **charts, "database": database, "scope": scope, "scope_links": _scope_links(request, scope)}, request=request))


async def evidence_map_page(datasette, request):
    scope, database = _scope(request), served_database(datasette)
    grid = await datasette.get_database(database).execute_fn(lambda conn: _evidence_map(datasette, conn, scope))
    return Response.html(await datasette.render_template("evidence_map.html", {
        **grid, "database": database, "scope": scope, "scope_links": _scope_links(request, scope)}, request=request))


@hookimpl
def register_routes():
    return [(r"^/-/graph$", graph_page), (r"^/-/charts$", charts_page), (r"^/-/evidence-map$", evidence_map_page)]
