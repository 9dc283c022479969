"""Pictures for people who would rather look than read, drawn on the server as SVG (no script):

/-/graph?node=document:ID   a record's neighbourhood in the evidence graph (`harvest graph`),
                            laid out by networkx; every node is a link to its page
/-/charts                   evidence over time by kind and by theme, incidents per month
/-/evidence-map             themes x study designs: each cell counts documents and links to them,
                            so the gaps show
"""

import math
from urllib.parse import quote

import networkx as nx
from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from harvest.graph import neighbourhood
from harvest.db import query_rows
from harvest.serve import served_database

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
NODE_COLOURS = {"incident": "#e15759", "theme": "#59a14f", "product": "#f28e2b", "organisation": "#b07aa1",
                "jurisdiction": "#9c755f", "population": "#76b7b2", "condition": "#edc948"}
DESIGNS = ["systematic_review", "rct", "observational", "qualitative", "evaluation", "case_report", "commentary", None]


def _page_of(datasette, node: dict) -> str:
    return datasette.urls.row(DATABASE, node["ref_table"], node["ref_id"])


def graph_svg(datasette, nodes: list[dict], edges: list[dict], focus: str, size: int = 640) -> Markup:
    graph = nx.Graph()
    graph.add_nodes_from(n["id"] for n in nodes)
    graph.add_edges_from((e["source"], e["target"], {"weight": e["weight"]}) for e in edges)
    layout = nx.spring_layout(graph, seed=1, weight=None, center=(0, 0)) if len(graph) > 1 else {focus: (0.0, 0.0)}
    if focus in layout:
        layout = {k: (x - layout[focus][0], y - layout[focus][1]) for k, (x, y) in layout.items()}
    reach = max([max(abs(x), abs(y)) for x, y in layout.values()] + [1e-9])
    scale = (size / 2 - 90) / reach

    def point(node_id):
        x, y = layout[node_id]
        return size / 2 + x * scale, size / 2 + y * scale
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
             f'role="img" aria-label="Neighbourhood of {escape(focus)} in the evidence graph">']
    for edge in edges:
        (x1, y1), (x2, y2) = point(edge["source"]), point(edge["target"])
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#999" '
                     f'stroke-width="{1 + min(edge["weight"], 4) / 2:.1f}"><title>{escape(edge["type"])} '
                     f'(weight {edge["weight"]:g})</title></line>')
    for node in nodes:
        x, y = point(node["id"])
        radius = 14 if node["id"] == focus else 6 + min(10, math.sqrt((node["pagerank"] or 0) * 2000))
        colour = NODE_COLOURS.get(node["type"], PALETTE[0])
        label = node["label"] or node["ref_id"]
        short = label if len(label) <= 38 else label[:36] + "…"
        parts.append(f'<a href="{escape(_page_of(datasette, node))}"><circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" '
                     f'fill="{colour}" stroke="#333"><title>{escape(node["type"])}: {escape(label)}</title></circle>'
                     f'<text x="{x + radius + 3:.1f}" y="{y + 4:.1f}" font-size="11">{escape(short)}</text></a>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, categories: list[str], series: dict[str, list[int]], width: int = 720, height: int = 260) -> Markup:
    """Stacked bars, one per category, one colour per series, with a legend."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    top = max(totals + [1])
    left, bottom, usable = 40, height - 40, height - 70
    step = min(60, (width - left - 10) / max(len(categories), 1))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 20 * ((len(series) + 3) // 4)}" '
             f'width="{width}" role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#333"/>',
             f'<text x="4" y="{bottom - usable + 4}" font-size="10">{top}</text>']
    for i, category in enumerate(categories):
        y = bottom
        for number, (name, values) in enumerate(series.items()):
            if values[i]:
                h = values[i] / top * usable
                y -= h
                parts.append(f'<rect x="{left + i * step + 2:.1f}" y="{y:.1f}" width="{max(step - 4, 1):.1f}" height="{h:.1f}" '
                             f'fill="{PALETTE[number % len(PALETTE)]}"><title>{escape(category)}, {escape(name)}: '
                             f'{values[i]}</title></rect>')
        if len(categories) <= 24 or i % max(1, len(categories) // 12) == 0:
            parts.append(f'<text x="{left + i * step + step / 2:.1f}" y="{bottom + 14}" font-size="10" '
                         f'text-anchor="middle">{escape(category)}</text>')
    for number, name in enumerate(series):
        x, y = left + (number % 4) * 170, height + 4 + 20 * (number // 4)
        parts.append(f'<rect x="{x}" y="{y - 10}" width="10" height="10" fill="{PALETTE[number % len(PALETTE)]}"/>'
                     f'<text x="{x + 14}" y="{y}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _charts(conn) -> list[Markup]:
    by_kind = query_rows(conn, "SELECT year, kind, count(*) AS n FROM documents WHERE year IS NOT NULL GROUP BY year, kind")
    years = [str(y) for y in range(min((r["year"] for r in by_kind), default=2020),
                                   max((r["year"] for r in by_kind), default=2020) + 1)]

    def series(rows, key):
        found = {}
        for row in rows:
            found.setdefault(row[key], [0] * len(years))[years.index(str(row["year"]))] += row["n"]
        return dict(sorted(found.items(), key=lambda kv: -sum(kv[1])))
    by_theme = query_rows(conn, "SELECT d.year, t.theme, count(*) AS n FROM document_themes t JOIN documents d ON d.id = t.document_id "
                           "WHERE d.year IS NOT NULL GROUP BY d.year, t.theme")
    incidents = query_rows(conn, "SELECT substr(first_reported, 1, 7) AS month, count(*) AS n FROM incidents "
                            "WHERE first_reported IS NOT NULL GROUP BY month ORDER BY month")
    months = [r["month"] for r in incidents]
    return [bar_chart("Documents per year, by kind", years, series(by_kind, "kind")),
            bar_chart("Documents per year, by theme (a document counts once per theme)", years, series(by_theme, "theme")),
            bar_chart("Incidents per month of first report", months, {"incidents": [r["n"] for r in incidents]})]


def _evidence_map(datasette, conn) -> dict:
    themes = query_rows(conn, "SELECT id, label FROM themes ORDER BY id")
    counts = {(r["theme"], r["design"]): r["n"] for r in query_rows(
        conn, "SELECT t.theme, d.study_design AS design, count(*) AS n FROM document_themes t "
              "JOIN documents d ON d.id = t.document_id GROUP BY t.theme, d.study_design")}
    top = max(counts.values(), default=1)
    table = datasette.urls.table(DATABASE, "documents")
    rows = []
    for theme in themes:
        cells = []
        for design in DESIGNS:
            n = counts.get((theme["id"], design), 0)
            query = f"themes__arraycontains={quote(theme['id'])}&" + (
                f"study_design={quote(design)}" if design else "study_design__isnull=1")
            cells.append({"n": n, "href": f"{table}?{query}", "shade": round(0.1 + 0.8 * n / top, 2) if n else 0})
        rows.append({"theme": theme, "cells": cells})
    return {"designs": [d or "not determined" for d in DESIGNS], "rows": rows}


async def graph_page(datasette, request):
    node = request.args.get("node", "")
    if ":" not in node:
        return Response.text("Ask for a node, e.g. /-/graph?node=document:ID (or incident:, theme:, entity:)", status=400)
    nodes, edges = await datasette.get_database(DATABASE).execute_fn(lambda conn: neighbourhood(conn, node))
    focus = next((n for n in nodes if n["id"] == node), None)
    return Response.html(await datasette.render_template("graph.html", {
        "node": node, "focus": focus, "edges": edges,
        "nodes": {n["id"]: {"label": n["label"] or n["ref_id"], "type": n["type"], "page": _page_of(datasette, n)} for n in nodes},
        "colours": NODE_COLOURS, "default_colour": PALETTE[0],
        "picture": graph_svg(datasette, nodes, edges, node) if focus else None,
        "page": _page_of(datasette, focus) if focus else None}, request=request))


async def charts_page(datasette, request):
    charts = await datasette.get_database(DATABASE).execute_fn(_charts)
    return Response.html(await datasette.render_template("charts.html", {"charts": charts}, request=request))


async def evidence_map_page(datasette, request):
    grid = await datasette.get_database(DATABASE).execute_fn(lambda conn: _evidence_map(datasette, conn))
    return Response.html(await datasette.render_template("evidence_map.html", grid, request=request))


@hookimpl
def register_routes():
    return [(r"^/-/graph$", graph_page), (r"^/-/charts$", charts_page), (r"^/-/evidence-map$", evidence_map_page)]
