"""Any database file name works: `metadata.yml` and the per-table templates are written for a
database called `corpus`; when the served file has another name (`evidence-2026.db` is served as
`evidence-2026`), its metadata (descriptions, facets, full-text settings, canned queries, links)
and its templates (`row-corpus-documents.html`, ...) are used for that name.
"""

import copy
import re

from datasette import hookimpl
from datasette.utils import to_css_class
from jinja2 import BaseLoader, ChoiceLoader, TemplateNotFound

from harvest.serve import DATABASE, served_database


def renamed(value, name: str):
    """`value` (metadata: dicts, lists, strings) with every `/corpus/` link pointing to `/<name>/`."""
    if isinstance(value, dict):
        return {key: renamed(item, name) for key, item in value.items()}
    if isinstance(value, list):
        return [renamed(item, name) for item in value]
    if isinstance(value, str):
        return re.sub(rf'(["\'(=\s]|^)/{DATABASE}(?=[/?"\'#]|$)', rf"\1/{name}", value)
    return value


class _RenamedTemplates(BaseLoader):
    """Finds `row-<name>-documents.html` as `row-corpus-documents.html` (and so on)."""

    def __init__(self, loader, css_name: str):
        self.loader, self.prefix = loader, re.compile(rf"^(row|table|query|database)-{re.escape(css_name)}(?=[-.])")

    def list_templates(self):
        return []  # the templates it finds are the other loader's, listed there

    def get_source(self, environment, template):
        if not self.prefix.match(template):
            raise TemplateNotFound(template)
        return self.loader.get_source(environment, self.prefix.sub(rf"\1-{DATABASE}", template))


@hookimpl
def prepare_jinja2_environment(env, datasette):
    name = served_database(datasette)
    if name != DATABASE:
        env.loader = ChoiceLoader([env.loader, _RenamedTemplates(env.loader, to_css_class(name))])


@hookimpl
def startup(datasette):
    name = served_database(datasette)
    metadata = getattr(datasette, "_metadata_local", None)
    if name == DATABASE or not isinstance(metadata, dict):
        return
    databases = metadata.setdefault("databases", {})
    if DATABASE in databases and name not in databases:
        databases[name] = renamed(copy.deepcopy(databases[DATABASE]), name)
    for key in ("description_html", "description"):
        if isinstance(metadata.get(key), str):
            metadata[key] = renamed(metadata[key], name)
