"""Serving: Datasette over the corpus, with the project's plugins, templates and metadata."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PLUGINS_DIR = Path(__file__).resolve().parent.parent / "datasette-plugins"
DATABASE = "corpus"  # the name metadata.yml and the templates are written for; any file name is served as it
# A query stops after 3 s and a facet after 0.5 s; facet suggestions (a query per column on every
# table page) are off, which keeps table pages fast on a large corpus.
SETTINGS = {"sql_time_limit_ms": 3000, "facet_time_limit_ms": 500, "suggest_facets": False}


def served_database(datasette) -> str:
    """The name Datasette gives the served corpus (its file name without `.db`: `corpus`,
    `evidence-2026`, ...): the first database that is not Datasette's own `_internal`."""
    return datasette.get_database().name


def datasette_command(database: Path, host: str = "127.0.0.1", port: int = 8001,
                      plugins_dir: Path = PLUGINS_DIR, immutable: bool = False) -> list[str]:
    """The `datasette serve` command line for the corpus. Immutable mode (for publishing) opens
    the file read-only and lets Datasette count and cache without ever checking for changes."""
    command = [sys.executable, "-m", "datasette", "serve", *(["-i"] if immutable else []), str(database),
               "--host", host, "--port", str(port), "--plugins-dir", str(plugins_dir)]
    for name, value in SETTINGS.items():
        command += ["--setting", name, str(value).lower() if isinstance(value, bool) else str(value)]
    metadata = plugins_dir / "metadata.yml"
    if metadata.exists():
        command += ["--metadata", str(metadata)]
    templates = plugins_dir / "templates"
    if templates.is_dir():
        command += ["--template-dir", str(templates)]
    static = plugins_dir / "static"
    if static.is_dir():
        command += ["--static", f"static:{static}"]
    return command


def serve(database: Path, host: str = "127.0.0.1", port: int = 8001, immutable: bool = False) -> None:
    """Replace this process with Datasette (so signals and exit codes are Datasette's own)."""
    command = datasette_command(database, host, port, immutable=immutable)
    os.execv(command[0], command)

