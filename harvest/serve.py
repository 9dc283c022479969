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
# A published (immutable) file is not offered for download whole: readers get pages, queries,
# exports and feeds, and the file with its run history stays with whoever publishes it.
IMMUTABLE_SETTINGS = {"allow_download": False}
PUBLIC_URL_ENV = "HARVEST_PUBLIC_URL"  # the address readers use, for Atom links and permalinks
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8001"


def public_url(path: str = "/") -> str:
    """An absolute address on the site, built on the configured public URL (`harvest serve
    --public-url`, or HARVEST_PUBLIC_URL), never on the request's Host header, which the client
    chooses."""
    base = os.environ.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL
    return base.rstrip("/") + "/" + path.lstrip("/")


async def send_text(send, status: int, text: str, headers: tuple = ()) -> None:
    """Answer an ASGI request with plain text (for the plugins' own refusals: 404, 405, 503)."""
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


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
    for name, value in {**SETTINGS, **(IMMUTABLE_SETTINGS if immutable else {})}.items():
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


def serve(database: Path, host: str = "127.0.0.1", port: int = 8001, immutable: bool = False,
          public: str | None = None) -> None:
    """Replace this process with Datasette (so signals and exit codes are Datasette's own).
    `public` is the site's address for readers (default: http://HOST:PORT)."""
    command = datasette_command(database, host, port, immutable=immutable)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    os.environ[PUBLIC_URL_ENV] = public or os.environ.get(PUBLIC_URL_ENV) or f"http://{shown}:{port}"
    os.execv(command[0], command)

