"""One module per source of documents, each behind one protocol, and the registry of them.

A source is a `Source`: `start(db, options) -> Plan` says what a live run asks for first;
`ingest(db, archived, run) -> [Request]` is the only place an answer (an `ArchivedRecord`) is
parsed and saved, and it returns the follow-up requests the answer calls for. `harvest.engine`
runs every source (`run_live`, `load_files`); `harvest.rebuild` replays archives through the
same `ingest` and ignores the follow-ups. Modules are imported only when asked for (`get`), so
the command line starts at once.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlencode

NAMES = ("seed", "pubmed", "europepmc", "jmir", "arxiv", "crossref", "news", "guidance", "legislation", "import",
         "landing")
MODULES = {"import": "imports"}  # a source whose name is a Python keyword lives in another module name
# sources with no `harvest NAME` command that runs them live: the seed list and imports are only
# loaded from files (`harvest seed`, `harvest import`); landing pages are read by `harvest resolve`
NOT_SCHEDULED = ("seed", "import", "landing")


@dataclass
class Request:
    """One GET a source wants: `role` names its purpose (archived with the answer, in
    `WARC-Harvest-Role`), `context` what the answer's ingest needs to know (JSON-serialisable,
    archived in `WARC-Harvest-Context`, so rebuild sees it too). `last` requests wait until
    every other request of the run is done."""

    url: str
    role: str
    params: dict | None = None
    context: dict = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    last: bool = False

    @property
    def archived_role(self) -> dict:
        return {"name": self.role, **self.context}

    @property
    def address(self) -> str:
        """The URL with its query parameters, as the client asks for it."""
        if not self.params:
            return self.url
        return f"{self.url}{'&' if '?' in self.url else '?'}{urlencode(self.params)}"


@dataclass
class Plan:
    """What a live run starts from: `parameters` (recorded on the run row and in the archive),
    the first `requests`, the run's `cursor`, the hosts' rate limits (requests per second) and
    the API hosts whose usage policy replaces robots.txt, notes for the run, and `state`: what
    ingest may use to choose follow-ups in this live run (never needed to save rows)."""

    parameters: dict
    requests: list[Request] = field(default_factory=list)
    cursor: dict | None = None
    rate_limits: dict[str, float] = field(default_factory=dict)
    api_hosts: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LoadFormat:
    """How `--load` archives a saved file of this kind: the role its ingest expects, the
    content type, and whether it needs the address it came from (`--url`)."""

    role: str
    content_type: str
    needs_url: bool = False
    suffixes: tuple[str, ...] = ()  # the files of a folder given to --load that are of this kind (all when empty)


@dataclass(frozen=True)
class Source:
    """A source's protocol. `legacy_role(archived, run) -> (role, context)` reads the role of a
    record from archives written before records carried roles (from its URL, as those harvests
    did); `cursor_for(parameters)` gives a run's cursor from its parameters (for rebuild);
    `after_run(db)` follows every run, live or rebuilt; `formats` are what `--load` reads (the
    first is the default)."""

    name: str
    start: Callable
    ingest: Callable
    legacy_role: Callable
    formats: dict[str, LoadFormat] = field(default_factory=dict)
    after_run: Callable | None = None
    cursor_for: Callable | None = None


def feed_request(db, url: str, role: str = "feed", context: dict | None = None) -> Request:
    """A request for a feed, conditional on the validators its last full answer gave (ETag,
    Last-Modified), so an unchanged feed answers 304 and costs nothing. The context carries the
    feed's address (`feed`) for `remember_validators`."""
    known = db.execute("SELECT etag, last_modified FROM feed_validators WHERE url = ?", [url]).fetchone()
    return Request(url, role, context={**(context or {}), "feed": url}, etag=known[0] if known else None,
                   last_modified=known[1] if known else None)


def unchanged_feed(archived, run) -> bool:
    """True (and noted on the run) when the archived answer is a feed's 304: nothing to read."""
    if archived.role == "feed" and archived.type == "response" and archived.status == 304:
        run.note(f"{archived.uri}: unchanged since the last run (304)")
        return True
    return False


def remember_validators(db, archived) -> None:
    """Keep a feed's validators from a full (200) answer for the next run's `feed_request`.
    Called by ingest, so `harvest rebuild` keeps the same ones."""
    etag, modified = archived.headers.get("etag"), archived.headers.get("last-modified")
    if etag or modified:
        db["feed_validators"].insert({"url": archived.context.get("feed", archived.uri), "etag": etag,
                                      "last_modified": modified, "fetched": archived.date}, replace=True)


def get(name: str) -> Source:
    """The registered source called `name` (KeyError for an unknown one)."""
    if name not in NAMES:
        raise KeyError(f"no source called {name!r}; the sources are {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{MODULES.get(name, name)}").SOURCE_SPEC
