"""Show identifiers as links to their resolvers (doi.org, PubMed, PMC, arXiv)."""

from datasette import hookimpl
from markupsafe import Markup

RESOLVERS = {
    "doi": "https://doi.org/{}",
    "pmid": "https://pubmed.ncbi.nlm.nih.gov/{}/",
    "pmcid": "https://pmc.ncbi.nlm.nih.gov/articles/{}/",
    "arxiv": "https://arxiv.org/abs/{}",
}


@hookimpl
def render_cell(value, column, table, row):
    if table != "identifiers" or column != "value" or not isinstance(value, str):
        return None
    scheme = row["scheme"]
    if scheme == "url" and value.startswith(("http://", "https://")):
        href = value
    elif scheme in RESOLVERS:
        href = RESOLVERS[scheme].format(value)
    else:
        return None
    return Markup('<a href="{}" rel="nofollow">{}</a>').format(href, value)
