"""The `harvest` command: wires the modules together, holds no logic of its own.

Every module is imported inside the command that needs it, so `harvest --help` and
`harvest --version` answer at once. Harvest commands share their options through the composite
decorators `harvest_options` and `load_options`, and run their source through `harvest.engine`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import click

ANNOTATIONS = Path(__file__).resolve().parent.parent / "annotations"
log = logging.getLogger("harvest")


def _say(kind: str, message: str) -> None:
    """One line on standard error in click's own style (`Error: ...`, as a ClickException prints,
    `Warning: ...`, `Note: ...`, `Interrupted: ...`) for a command that goes on (or ends with an
    exit status) rather than stopping at once. An error says what went wrong and what to do next."""
    click.echo(f"{kind}: {message}", err=True)


def _archive_dir(db_path: Path, archive: Path | None) -> Path:
    return archive or db_path.resolve().parent / "archive"


@contextmanager
def _harvest_session(db_path: Path, archive_dir: Path):
    """The database, opened under the harvest lock, with the log file attached."""
    _check_annotations()
    from .runs import log_file_handler
    handler = log_file_handler(archive_dir)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    import sqlite3

    from . import db as database
    from .runs import HarvestBusy, harvest_lock, mark_interrupted
    try:
        with harvest_lock(db_path):
            db = database.connect(db_path)
            stale = mark_interrupted(db)
            if stale:
                log.warning("marked %d run(s) left running by an earlier crash as interrupted", stale)
            yield db
    except HarvestBusy as busy:
        log.error(str(busy))
        raise click.ClickException(str(busy)) from None
    except KeyboardInterrupt:
        log.warning("interrupted by the user")
        click.echo("", err=True)
        _say("Interrupted", "what was saved stays saved; run the same command again to continue.")
        sys.exit(130)
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        log.exception("harvest stopped")
        raise click.ClickException(
            f"harvest stopped: {exc.__class__.__name__}: {exc}. The traceback is in "
            f"{archive_dir / 'harvest.log'}; fix the cause and run the same command again "
            "(what was saved before the stop stays saved).") from None
    finally:
        log.removeHandler(handler)
        handler.close()


def _progress(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None

    def show(run) -> None:
        c = run.counts
        done = c["added"] + c["updated"] + c["unchanged"] + c["failed"]
        click.echo(f"\r{run.source}: {done}/{c['found']} records, {c['added']} new, "
                   f"{c['updated']} updated, {c['failed']} failed ", nl=False, err=True)
    return show


def _report(run, quiet: bool) -> None:
    """The one-screen summary: to the log always, to stdout unless quiet and all went well."""
    c = run.counts
    lines = [f"{run.source} run {run.run_id}: {run.status}",
             f"  found {c['found']}, added {c['added']}, updated {c['updated']}, "
             f"unchanged {c['unchanged']}, failed {c['failed']}",
             f"  archive: {run.archive_file}"]
    if run.notes:
        lines.append(f"  {len(run.notes)} note(s), e.g. {run.notes[0]}")
    if run.errors:
        lines.append(f"  {len(run.errors)} error(s):")
        lines += [f"    - {e}" for e in run.errors[:10]]
        if len(run.errors) > 10:
            lines.append(f"    ... and {len(run.errors) - 10} more in harvest_runs.error")
        lines.append("  Run again to retry: an incremental run (no --since) starts early enough "
                     "to include what failed.")
    level = {"ok": logging.INFO, "partial": logging.WARNING}.get(run.status, logging.ERROR)
    for line in lines:
        log.log(level, line)
    if sys.stderr.isatty() and not quiet:
        click.echo("", err=True)
    if not quiet or run.errors:
        click.echo("\n".join(lines))


def _harvest(db_path: Path, archive: Path | None, quiet: bool, work) -> None:
    """Run `work(db, archive_dir)` -> Run under the harvest session, report, exit 0/3/1."""
    from .runs import EXIT_CODES
    archive_dir = _archive_dir(db_path, archive)
    with _harvest_session(db_path, archive_dir) as db:
        run = work(db, archive_dir)
        _report(run, quiet)
    sys.exit(EXIT_CODES[run.status])


def _overall(statuses: list[str]) -> str:
    """One status for several runs: ok if all were, failed if all failed (or none ran), else partial."""
    if all(s == "ok" for s in statuses):
        return "ok"
    return "failed" if all(s == "failed" for s in statuses) else "partial"


def _client(contact: str | None, allow_network: tuple[str, ...]):
    from .http import Client
    return Client(contact=contact, allowed_networks=allow_network)


def _config(name: str) -> dict:
    from . import config
    return config.load(ANNOTATIONS / f"{name}.yaml")


def _check_annotations(**extra: Path) -> None:
    """Every annotation file (and `extra` {kind: path}) valid, or stop before anything is written."""
    from . import config
    try:
        config.validate_all(ANNOTATIONS, extra)
    except config.ConfigError as error:
        raise click.ClickException("nothing was written: fix the annotation files first:\n  "
                                   + "\n  ".join(error.problems)) from None


def _run_source(name: str, params: dict, options) -> None:
    """The whole of a harvest command: load the saved files named by --load, or run the source
    live with `options()` (its start options), under the harvest session; report; exit."""
    from .engine import expand_paths, load_files, run_live
    from .sources import get
    quiet, load = params["quiet"], params.get("load") or ()
    paths = None
    if load:
        source, fmt, url = get(name), params.get("fmt"), params.get("url")
        kind = source.formats.get(fmt or next(iter(source.formats)))
        if kind is None:
            raise click.ClickException(f"--format {fmt}: {name} loads {', '.join(source.formats)}; give one of those")
        try:
            paths = expand_paths(load, kind.suffixes, kind.role)
        except FileNotFoundError as error:
            raise click.ClickException(f"--load {error}") from None
        if kind.needs_url and not url:
            raise click.ClickException("--load needs --url, the address the file came from "
                                       "(for its identity and links)")
        if url and len(paths) > 1:
            raise click.ClickException("--url names one file's address; load such files one at a time")

    def work(db, archive_dir):
        if paths:
            return load_files(db, archive_dir, name, paths, params.get("fmt"), params.get("url"),
                              progress=_progress(quiet))
        return run_live(db, archive_dir, _client(params.get("contact"), params.get("allow_network") or ()),
                        name, options(), progress=_progress(quiet))
    _harvest(params["db_path"], params["archive"], quiet, work)


def _stacked(*decorators):
    def decorate(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return decorate


database_argument = click.argument("db_path", metavar="DATABASE", type=click.Path(dir_okay=False, path_type=Path))
quiet_option = click.option("--quiet", is_flag=True,
                            help="No progress or summary unless something failed (for cron).")


def harvest_options(network: bool = True):
    """DATABASE, --archive and --quiet; with `network`, also --contact and --allow-network."""
    options = [database_argument,
               click.option("--archive", type=click.Path(path_type=Path), default=None,
                            help="Folder of WARC files (default: archive/ beside the database)."),
               quiet_option]
    if network:
        options += [click.option("--contact", envvar="HARVEST_CONTACT",
                                 help="E-mail for the User-Agent and the APIs' polite pools (env HARVEST_CONTACT)."),
                    click.option("--allow-network", multiple=True, metavar="CIDR",
                                 help="Allow this non-public network (e.g. 127.0.0.1/32 for a local test server).")]
    return _stacked(*options)


def load_options(what: str, formats: str, url: bool = False):
    """--load (several times: a file, a folder or a glob pattern), --format and, for formats
    that need the address a file came from, --url."""
    options = [click.option("--load", multiple=True, metavar="PATH",
                            help=f"Ingest saved {what} instead (no network): a file, a folder or a glob "
                                 "pattern such as 'saved/*.xml'; give it several times for more."),
               click.option("--format", "fmt", metavar="FORMAT",
                            help=f"What the --load files are, where it cannot be told: {formats}.")]
    if url:
        options.append(click.option("--url", help="The address the --load file came from (one file)."))
    return _stacked(*options)


@click.group()
@click.version_option(package_name="llm-mental-health-evidence")
def main():
    """LLMs & Mental Health Evidence Base: harvest, store and serve the evidence."""



@main.command("pubmed")
@harvest_options()
@click.option("--query", help="Entrez query (default: annotations/pubmed.yaml).")
@click.option("--since", help="Entrez date from, YYYY-MM-DD (default: where the last run ended).")
@click.option("--until", help="Entrez date to, YYYY-MM-DD (default: today).")
@click.option("--eutils", metavar="URL",
              help="E-utilities base URL (a mirror, or a test server; default: NCBI's).")
@load_options("efetch XML or MEDLINE files", "pubmed (XML or MEDLINE, plain or gzipped) or "
                                             "screened (`harvest screen` output: its kept records)")
def pubmed_command(**params):
    """Harvest PubMed through E-utilities into DATABASE.

    Exit status: 0 everything landed, 3 part of it did, 1 nothing did.
    """
    import os

    def options():
        config = _config("pubmed")
        return {"query": params["query"] or config["query"], "since": params["since"], "until": params["until"],
                "api_key": os.environ.get("NCBI_API_KEY"), "base": params["eutils"], "start": config.get("start"),
                "contact": params["contact"]}
    _run_source("pubmed", params, options)


@main.command("arxiv")
@harvest_options()
@click.option("--query", help="arXiv search query (default: annotations/arxiv.yaml).")
@click.option("--max", "max_results", default=2000, show_default=True, help="Most results to read.")
@click.option("--api", metavar="URL", help="API address (a mirror, or a test server; default: export.arxiv.org).")
@load_options("API answers", "arxiv (an Atom answer)")
def arxiv_command(**params):
    """Harvest arXiv preprints into DATABASE (newest updates first, incremental).

    Exit status: 0 everything landed, 3 part of it did, 1 nothing did.
    """
    _run_source("arxiv", params, lambda: {
        "query": params["query"] or _config("arxiv")["query"], "max_results": params["max_results"],
        "base": params["api"], "until": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})


@main.command("crossref")
@harvest_options()
@click.option("--all", "everything", is_flag=True, help="Ask again for DOIs Crossref has answered before.")
@click.option("--api", metavar="URL", help="API address (a mirror, or a test server; default: api.crossref.org).")
@load_options("Crossref answers", "crossref (a work or a work list)")
def crossref_command(**params):
    """Fill DATABASE's DOIs from Crossref: metadata, references, licences, retractions.

    Exit status: 0 everything landed, 3 part of it did, 1 nothing did.
    """
    _run_source("crossref", params, lambda: {"all": params["everything"], "base": params["api"],
                                             "contact": params["contact"]})


@main.command("europepmc")
@harvest_options()
@click.option("--query", help="Europe PMC query (default: annotations/europepmc.yaml).")
@click.option("--max", "max_results", default=5000, show_default=True, help="Most results to read.")
@click.option("--api", metavar="URL", help="API address (a mirror, or a test server; default: Europe PMC's REST API).")
@load_options("search answers or full texts", "search (a JSON search answer, the default) or jats (a fullTextXML)")
def europepmc_command(**params):
    """Harvest Europe PMC into DATABASE: search results, and full text where it is open.

    Exit status: 0 everything landed, 3 part of it did, 1 nothing did.
    """
    _run_source("europepmc", params, lambda: {"query": params["query"] or _config("europepmc")["query"],
                                              "max_results": params["max_results"], "base": params["api"]})


@main.command("jmir")
@harvest_options()
@click.option("--feed", "feeds", multiple=True, help="A feed to read (default: annotations/jmir.yaml).")
@load_options("article XML or feeds", "jats (an article's XML, the default; needs --url) or feed", url=True)
def jmir_command(**params):
    """Harvest JMIR journals into DATABASE: feeds, then the JATS XML of relevant articles.

    Exit status: 0 everything landed, 3 part of it did, 1 nothing did.
    """
    _run_source("jmir", params, lambda: {"feeds": list(params["feeds"]) or None})


@main.command("news")
@harvest_options()
@click.option("--feed", "feeds", multiple=True, help="A feed to read (default: annotations/news.yaml).")
@click.option("--gdelt-query", "queries", multiple=True, help="A GDELT DOC query (default: annotations/news.yaml).")
@click.option("--gdelt-api", metavar="URL", help="The GDELT DOC 2.0 endpoint (default: api.gdeltproject.org).")
@load_options("pages, feeds or GDELT answers",
              "html (an article page, the default; needs --url), feed or gdelt", url=True)
def news_command(**params):
    """Harvest news reports into DATABASE: feeds and GDELT article lists, then each page.

    Pages without a readable article (paywall, consent wall, script-only) are kept as links with
    the reason. Wire copies of one story are grouped. Exit status: 0 / 3 partial / 1 failed.
    """
    def options():
        if not (params["feeds"] or params["queries"]):
            return {"gdelt_api": params["gdelt_api"]}  # annotations/news.yaml
        from .sources.news import load_config
        return {"feeds": [{"url": f} for f in params["feeds"]], "gdelt_api": params["gdelt_api"],
                "gdelt": {**load_config()["gdelt"], "queries": list(params["queries"])}}
    _run_source("news", params, options)


@main.command("guidance")
@harvest_options()
@click.option("--page", "pages", multiple=True, help="A page to watch (default: annotations/guidance.yaml).")
def guidance_command(**params):
    """Check the watched guidance pages in DATABASE for changes (conditional GET).

    A changed text becomes a new version with a diff; an unchanged one writes nothing. Moved,
    vanished and unreadable pages are marked, and earlier versions kept.
    """
    _run_source("guidance", params, lambda: {
        "pages": [{"url": url, "organisation": None} for url in params["pages"]] or None})


@main.command("legislation")
@harvest_options()
@click.option("--openstates-api", metavar="URL", help="Open States bills endpoint (default: v3.openstates.org).")
@click.option("--federal-register-api", metavar="URL",
              help="Federal Register documents endpoint (default: federalregister.gov).")
def legislation_command(**params):
    """Harvest bills (Open States; key in OPENSTATES_API_KEY) and Federal Register documents
    into DATABASE, as annotations/legislation.yaml asks. A bill's status change is a new version."""
    _run_source("legislation", params, lambda: {"openstates_api": params["openstates_api"],
                                                "federal_register_api": params["federal_register_api"]})


@main.command("nightly")
@database_argument
@click.option("--schedule", "schedule_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=ANNOTATIONS / "schedule.yaml", show_default=True,
              help="Sources, their cadence, time budget and extra arguments.")
@click.option("--only", multiple=True, metavar="SOURCE", help="Run only this source (repeatable); staleness is still checked for all.")
@click.option("--fresh", is_flag=True, help="Start a new nightly run even if the last one was cut off (default: resume it).")
@click.option("--site", envvar="HARVEST_SITE", help="The published site's address, for absolute links in the digest (env HARVEST_SITE).")
@click.option("--allow-network", multiple=True, metavar="CIDR",
              help="Allow this non-public network (e.g. 127.0.0.1/32 for a local test server).")
@click.option("--archive", type=click.Path(path_type=Path), default=None,
              help="Folder of WARC files (default: archive/ beside the database).")
@quiet_option
def nightly_command(db_path, schedule_path, only, fresh, site, allow_network, archive, quiet):
    """Run every source of the schedule (each in its own process, with a time budget), then tag,
    incidents and graph; write a digest of what changed beside DATABASE.

    One lock for the whole run; a run cut off (killed, rebooted) is resumed by the next one.
    Exit status: 0 every source ok and none stale, 3 some failed or are stale, 1 none worked.
    """
    import sqlite3

    from . import nightly
    from .runs import HarvestBusy, harvest_lock, log_file_handler
    _check_annotations()
    try:
        schedule = nightly.load_schedule(schedule_path)
    except nightly.ScheduleError as error:
        raise click.ClickException(f"{error}. Nothing ran; fix the schedule and run again.") from None
    unknown = [name for name in only if name not in {p.name for p in schedule.sources}]
    if unknown:
        raise click.ClickException(f"--only {unknown[0]}: not in {schedule_path.name} "
                                   f"(there: {', '.join(p.name for p in schedule.sources)})")
    archive_dir = _archive_dir(db_path, archive)
    handler = log_file_handler(archive_dir)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # the log file and the summary say it all; nothing else on stderr under cron
    try:
        with harvest_lock(db_path) as lock_handle:
            result = nightly.run_nightly(db_path, archive_dir, schedule, lock_handle, only=only,
                                         allow_network=allow_network, fresh=fresh, site=site)
    except HarvestBusy as busy:
        log.error(str(busy))
        raise click.ClickException(str(busy)) from None
    except (sqlite3.Error, OSError) as exc:
        log.exception("nightly run stopped")
        raise click.ClickException(f"nightly run stopped: {exc.__class__.__name__}: {exc}. The traceback is in "
                                   f"{archive_dir / 'harvest.log'}; the next run resumes where this one stopped.") from None
    finally:
        log.removeHandler(handler)
        handler.close()
    lines = nightly.summary_lines(result)
    level = logging.INFO if result.exit_code == 0 else logging.WARNING if result.exit_code == 3 else logging.ERROR
    log.addHandler(handler := log_file_handler(archive_dir))
    for line in lines:
        log.log(level, line)
    log.removeHandler(handler)
    handler.close()
    if not quiet or result.exit_code:
        click.echo("\n".join(lines))
    sys.exit(result.exit_code)


@main.command("release")
@database_argument
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--max-loss", type=click.FloatRange(0, 1), default=None,
              help="Largest share of the last release's relevant documents that may be gone "
                   "(default: annotations/schedule.yaml release.max_relevant_loss).")
@click.option("--force", is_flag=True, help="Release even an empty corpus or one that lost relevant documents.")
def release_command(db_path, out_dir, max_loss, force):
    """Write an immutable snapshot of DATABASE into DIR (a new folder): a compact copy, CSV and
    JSON Lines of the main tables, a data dictionary, CITATION.cff, a release note, SHA256SUMS.

    Refuses an empty corpus, or one whose relevant documents fell by more than --max-loss since
    the last release, unless --force. Exit status 1 when refused.
    """
    from . import nightly, release as releasing
    from .runs import HarvestBusy, harvest_lock
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist; give the corpus to release "
                                   f"(built with `harvest seed {db_path}` and the harvests).")
    if max_loss is None:
        max_loss = nightly.load_schedule().max_relevant_loss
    try:
        with harvest_lock(db_path):  # not in the middle of a harvest
            summary = releasing.make_release(db_path, out_dir, max_loss=max_loss, force=force)
    except (HarvestBusy, releasing.ReleaseRefused) as refused:
        raise click.ClickException(f"no release: {refused}") from None
    click.echo(f"released {summary.documents} documents ({summary.relevant} relevant) into {summary.folder}: "
               f"{summary.files} files, {len(summary.tables)} tables; serve it with "
               f"`harvest serve {summary.folder / 'corpus.db'} --immutable`")


@main.command("seed")
@harvest_options(network=False)
@click.option("--file", "load", multiple=True, type=click.Path(exists=True, dir_okay=False),
              default=[str(ANNOTATIONS / "seed.yaml")], show_default=True, help="The seed list.")
def seed_command(**params):
    """Load the seed list (the founding article and its references) into DATABASE."""
    for path in params["load"]:  # a seed file given by hand is checked like the shipped one, before any write
        _check_annotations(seed=Path(path))
    _run_source("seed", params, None)


@main.command("import")
@harvest_options(network=False)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["bibtex", "ris", "csl-json", "csl-yaml", "pubmed", "medline",
                                                    "citations"]),
              help="What the files are, for the archive's content type (default: from each file's suffix; "
                   "the reader tells the formats apart by their content).")
def import_command(db_path, files, archive, quiet, fmt):
    """Import reference libraries into DATABASE: BibTeX, RIS, CSL-JSON/YAML, MEDLINE (.nbib),
    PubMed XML, or lists of DOIs, PMIDs, PMC ids, arXiv ids and URLs (one a line).

    Says per file what was new, merged into a work already here, or refused and why.
    Exit status: 0 everything landed, 3 part of it did, 1 nothing did.
    """
    from .runs import EXIT_CODES
    from .sources import imports
    archive_dir = _archive_dir(db_path, archive)
    statuses = []
    with _harvest_session(db_path, archive_dir) as db:
        for path in files:
            run = imports.load_import(db, archive_dir, path, fmt)
            _report(run, quiet=True)
            statuses.append(run.status)
            if not quiet or run.errors:
                click.echo("\n".join(imports.summary_lines(run, path.name)))
    sys.exit(EXIT_CODES[_overall(statuses)])


@main.command("resolve")
@harvest_options()
@click.option("--max", "limit", default=200, show_default=True,
              help="Most documents to complete in this call (run again to go on).")
@click.option("--europepmc-api", metavar="URL", help="Europe PMC REST address (default: Europe PMC's).")
@click.option("--eutils", metavar="URL", help="E-utilities base URL (default: NCBI's).")
@click.option("--crossref-api", metavar="URL", help="Crossref API address (default: api.crossref.org).")
def resolve_command(db_path, archive, quiet, contact, allow_network, limit, europepmc_api, eutils, crossref_api):
    """Complete DATABASE's seed, imported and starter records from Europe PMC, PubMed and
    Crossref (and a URL-only paper from its landing page's citation meta tags).

    Exit status: 0 everything landed, 3 part of it did, 1 nothing did.
    """
    import os

    from . import resolve as resolving
    from .runs import EXIT_CODES
    from .sources import crossref, europepmc, pubmed
    archive_dir = _archive_dir(db_path, archive)
    with _harvest_session(db_path, archive_dir) as db:
        waiting = len(resolving.pending(db, limit))
        if not quiet:
            click.echo(f"resolve: {waiting} document(s) to complete (at most {limit})", err=True)

        def show(step, run):
            _report(run, quiet)
        runs = resolving.resolve(db, archive_dir, _client(contact, allow_network), limit=limit, progress=show,
                                 europepmc_api=europepmc_api or europepmc.API, eutils=eutils or pubmed.EUTILS,
                                 crossref_api=crossref_api or crossref.API, api_key=os.environ.get("NCBI_API_KEY"))
        left = len(resolving.pending(db, limit))
        if not quiet:
            click.echo(f"resolve: {waiting - left} completed, {left} still waiting "
                       "(not known to these sources, or their requests failed)")
    sys.exit(EXIT_CODES[_overall([r.status for r in runs])])


def _parse_reader(fmt: str, url: str | None, report):
    """`read(stream, name)` giving a file's records as JSON lines (UTF-8 bytes), and the error
    classes of that format's parser. Only the one format's parser is imported."""
    def lines(records):
        return ((json.dumps(record, ensure_ascii=False) + "\n").encode() for record in records)

    if fmt == "pubmed":
        from .formats import pubmed
        return (lambda stream, name: pubmed.parse_pubmed_json_lines(stream, name, on_error=report, workers=None),
                (pubmed.PubmedParseError,))
    if fmt == "jats":
        from .formats import jats
        return lambda stream, name: lines(jats.parse_jats(_gunzipped(stream.read(), name), name)), (jats.JatsParseError,)
    if fmt == "html":
        from .formats import extract
        return lambda stream, name: lines([extract.parse_article(_gunzipped(stream.read(), name), url)]), ()
    if fmt == "feed":
        from .formats import feeds
        return lambda stream, name: lines(_feed_lines(_gunzipped(stream.read(), name), name)), (feeds.FeedError,)
    if fmt == "arxiv":
        from .sources import arxiv

        def read_arxiv(stream, name):
            page = arxiv.parse_arxiv(_gunzipped(stream.read(), name), name)
            for message in page.errors:
                report(message)
            return lines(page.entries)
        return read_arxiv, (arxiv.ArxivParseError,)
    from .sources import crossref

    def read_crossref(stream, name):
        answer = crossref.parse_crossref(_gunzipped(stream.read(), name), name)
        if answer.error:
            report(answer.error)
        return lines(answer.works)
    return read_crossref, (crossref.CrossrefParseError,)


@main.command("parse")
@click.option("--format", "fmt", type=click.Choice(["pubmed", "jats", "arxiv", "crossref", "feed", "html"]), required=True,
              help="pubmed: efetch XML or MEDLINE text; jats: JATS articles or a pmc-articleset; "
                   "arxiv: an arXiv API Atom response; crossref: a Crossref REST API JSON response; "
                   "feed: RSS, Atom, RDF or JSON Feed (one line per entry); html: an article page (needs --url).")
@click.option("--url", help="For --format html: the address the page was fetched from.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def parse_command(fmt, url, files):
    """Print the records in FILES (plain or .gz) as JSON Lines."""
    if fmt == "html" and not url:
        raise click.ClickException("--format html needs --url, the address the page came from "
                                   "(relative links, the site and the canonical address depend on it)")
    from .limits import LimitExceeded, Truncated
    errors = []
    out = click.get_binary_stream("stdout")  # buffered: one write a record, no flush until a file ends

    def report(error):
        errors.append(error)
        out.flush()
        _say("Error", f"{error}. What was read before it is printed; check that the file is whole and in "
                      f"--format {fmt}, then run the command again.")

    read, failures = _parse_reader(fmt, url, report)
    for name in files:
        try:
            with open(name, "rb") as stream:
                for line in read(stream, name):
                    out.write(line)
        except (*failures, LimitExceeded, Truncated) as error:
            report(error)
        out.flush()
    sys.exit(1 if errors else 0)


@main.command("screen")
@click.argument("files", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: one screened JSON Lines file per input, done/ notes, manifest.json.")
@click.option("--scheduler", metavar="ADDRESS",
              help="A Dask scheduler (tcp://host:8786) whose workers see FILES and --out at the same paths "
                   "(default: a local cluster on this machine).")
@click.option("--workers", type=click.IntRange(min=1), help="Local cluster size (default: every core).")
@click.option("--keep", default="relevant,related", show_default=True,
              help="Relevance states whose whole records are written, for loading.")
@click.option("--limit", type=click.IntRange(min=1), help="Screen only the first N records of each file (a trial run).")
@quiet_option
def screen_command(files, out_dir, scheduler, workers, keep, limit, quiet):
    """Screen PubMed baseline/update FILES (files, glob patterns, or folders, whose *.xml and *.xml.gz
    files are taken) on Dask:
    parse, relevance and themes, one task per file. Files already screened are skipped.

    Load the kept records with `harvest pubmed DATABASE --load 'OUT/*.screened.jsonl.gz' --format screened`.
    Exit status: 0 every file screened, 3 some failed, 1 all failed.
    """
    from . import screen as screening
    from .runs import EXIT_CODES
    _check_annotations()
    try:
        paths = screening.input_files(files)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from None
    show = None
    if not quiet and sys.stderr.isatty():
        def show(summary, total):
            records = sum(n.get("records", 0) for n in summary.done.values())
            click.echo(f"\rscreened {len(summary.done) + len(summary.failed)}/{total} file(s): {records:,} records, "
                       f"{sum(n.get('kept', 0) for n in summary.done.values()):,} kept, {len(summary.failed)} failed ",
                       nl=False, err=True)
    try:
        summary = screening.screen(paths, out_dir, scheduler=scheduler, workers=workers,
                                   keep=[k.strip() for k in keep.split(",") if k.strip()], limit=limit, progress=show)
    except screening.ScreenError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        click.echo("", err=True)
        _say("Interrupted", "every file finished stays done; run the same command again to continue.")
        sys.exit(130)
    if show:
        click.echo("", err=True)
    if not quiet or summary.failed:
        click.echo("\n".join(screening.report(summary)))
    sys.exit(EXIT_CODES[summary.status])


def _gunzipped(data: bytes, name: str = "input") -> bytes:
    """Plain bytes of a possibly gzipped file, capped (LimitExceeded, Truncated: both ValueError)."""
    from .limits import gunzip
    return gunzip(data, name) if data[:2] == b"\x1f\x8b" else data


def _feed_lines(data: bytes, name: str) -> list[dict]:
    from .formats import feeds
    feed = feeds.parse_feed(data, name)
    for warning in feed.warnings:
        _say("Warning", f"{name}: read despite {warning}")
    return feeds.entry_records(feed)


@main.command("rebuild")
@database_argument
@click.option("--archive", type=click.Path(exists=True, file_okay=False, path_type=Path),
              required=True, help="Folder of WARC files to replay.")
@click.option("--derive/--no-derive", default=True, show_default=True,
              help="After the replay, tag, apply incidents and build the graph, as a nightly run does.")
@quiet_option
def rebuild_command(db_path, archive, derive, quiet):
    """Re-derive DATABASE from the WARC archive, with no network: every run replayed in order,
    then (unless --no-derive) tags, incidents and the graph, so the result equals a harvested
    corpus that went through `harvest nightly` (or tag, incidents and graph), row for row."""
    from . import db as database
    from .rebuild import rebuild
    if db_path.exists():
        raise click.ClickException(f"{db_path} exists; rebuild writes a fresh database. "
                                   "Give a new path, or move the old one aside first.")
    _check_annotations()
    db = database.connect(db_path)
    show = None
    if not quiet and sys.stderr.isatty():
        def show(run):
            click.echo(f"\rreplayed {run.archive_file}", nl=False, err=True)
    runs = rebuild(db, archive, progress=show)
    if show:
        click.echo("", err=True)
    for run in runs:
        if not quiet or run.errors:
            click.echo(f"{run.archive_file}: "
                       f"{run.source} {run.status}, added {run.counts['added']}, "
                       f"updated {run.counts['updated']}, failed {run.counts['failed']}")
    damaged = [run.context["damaged"] for run in runs if "damaged" in run.context]
    for message in damaged:  # on the terminal whatever --quiet says, not only in harvest_runs.error
        _say("Error", f"damaged archive file: {message}")
    if damaged:
        _say("Error", f"{len(damaged)} damaged archive file(s): replayed up to the damage. Their runs are marked failed "
                      "or partial, so running those sources again on this database (without --since) fetches again "
                      "what the damage held.")
    if derive:
        from . import nightly
        for step in nightly.DERIVE_STEPS:
            _, text = nightly.derive(db, step)
            if not quiet:
                click.echo(f"{step}: {text}")
    documents = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    if not quiet:
        click.echo(f"rebuilt {db_path} from {len(runs)} run(s): {documents} documents")


@main.command("serve")
@database_argument
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--immutable", is_flag=True, help="Publish mode: open the file read-only and never check it for changes.")
@click.option("--public-url", metavar="URL", envvar="HARVEST_PUBLIC_URL",
              help="The address readers use (e.g. https://evidence.example.org), for feed links and "
                   "permalinks (default: http://HOST:PORT; never the request's Host header).")
def serve_command(db_path, host, port, immutable, public_url):
    """Serve DATABASE in Datasette with the project's plugins and metadata (read-only: there is
    no write endpoint; queries stop after 3 seconds)."""
    from . import db as database
    from . import serve as serving
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist; build it first with "
                                   f"`harvest seed {db_path}` (or `make serve`).")
    if immutable:  # a published file is not written to (not even its journal mode): it must already be up to date
        import sqlite3
        reader = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        found = reader.execute("PRAGMA user_version").fetchone()[0]
        reader.close()
        if found < database.SCHEMA_VERSION:
            raise click.ClickException(f"{db_path} has schema version {found}, this program needs "
                                       f"{database.SCHEMA_VERSION}; run `harvest serve {db_path}` once without "
                                       f"--immutable (or any harvest command) to upgrade it, then publish it.")
    else:
        _check_annotations()
        database.connect(db_path).conn.close()  # bring an older schema up to date first
    if not public_url and host not in ("127.0.0.1", "localhost", "::1"):
        _say("Note", "without --public-url, feed links and permalinks point to this machine's "
                     "local address; give the address readers use.")
    serving.serve(db_path, host, port, immutable=immutable, public=public_url)


@main.command("tag")
@database_argument
@click.option("--all", "everything", is_flag=True,
              help="Tag every document, not only new, changed or older-pipeline ones.")
@quiet_option
def tag_command(db_path, everything, quiet):
    """Tag DATABASE's documents by theme, with evidence, entities and study design."""
    from . import db as database
    from .nlp import corpus as tagging
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist; build it with `harvest seed {db_path}`.")
    _check_annotations()
    db = database.connect(db_path)
    show = None
    if not quiet and sys.stderr.isatty():
        def show(done, total):
            click.echo(f"\rtagged {done}/{total}", nl=False, err=True)
    summary = tagging.tag_corpus(db, everything=everything, progress=show)
    if show:
        click.echo("", err=True)
    if summary.unchanged and not quiet:
        click.echo("nothing tagging reads changed since the last run (documents, pipeline, corrections): "
                   "nothing tagged or written (--all tags every document)")
    elif not quiet or summary.problems:
        themes = ", ".join(f"{k} {v}" for k, v in sorted(summary.themes.items(), key=lambda x: -x[1]))
        click.echo(f"tagged {summary.tagged} document(s): {summary.relevant} relevant; "
                   f"themes: {themes or 'none'}; {summary.corrections} curated correction(s) applied")
        for problem in summary.problems:
            click.echo(f"  correction problem: {problem}")
    sys.exit(1 if summary.problems else 0)


@main.command("incidents")
@database_argument
@click.option("--curation", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=str(ANNOTATIONS / "incidents.yaml"), show_default=True, help="The curators' incidents file.")
@click.option("--crosswalk", "crosswalk_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An AIAAIC Repository CSV export or an AI Incident Database snapshot CSV: propose its "
                   "entries for our incidents, with scores and reasons (repeatable).")
def incidents_command(db_path, curation, crosswalk_files):
    """Apply the curated incidents to DATABASE and match news reports to them.

    Documents are tagged first (incremental), since matching uses their products, harms and places.
    Ids listed under `crosswalk` in the curation file are recorded as the same incident in the
    public incident databases; --crosswalk FILE proposes more.
    """
    from . import crosswalk as crosswalking
    from . import db as database
    from . import incidents
    from .nlp import corpus as tagging
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist; build it with `harvest seed {db_path}`.")
    _check_annotations(incidents=curation)
    db = database.connect(db_path)
    tagging.tag_corpus(db)
    try:
        summary = incidents.update_incidents(db, curation)
    except incidents.CurationError as error:
        raise click.ClickException(f"{error}. Nothing was applied; fix the file and run again.") from None
    if summary.unchanged:
        click.echo("nothing incident matching reads changed since the last run (documents, links, curation file): "
                   "nothing re-scored or written. As it stands:")
    click.echo(f"{summary.curated} curated incident(s) with {summary.curated_links} curated report link(s); "
               f"{summary.merged} merge(s); {summary.machine_links} report(s) matched by the machine; "
               f"{summary.candidates} proposed new incident(s) in incident_candidates")
    for missing in summary.missing_sources:
        click.echo(f"  not linked yet: {missing}")
    if summary.crosswalk:
        click.echo(f"{summary.crosswalk} accepted crosswalk id(s) to the public incident databases")
    for path in crosswalk_files:
        try:
            entries = crosswalking.read_incident_database_file(path)
        except crosswalking.CrosswalkError as error:
            raise click.ClickException(str(error)) from None
        proposals = crosswalking.propose(crosswalking.incident_rows(db), entries)
        with database.transaction(db):
            crosswalking.save_proposals(db, proposals)
        accepted = {(r[0], r[1], r[2]) for r in db.execute(
            "SELECT incident_id, database, external_id FROM incident_crosswalk WHERE status = 'accepted'")}
        click.echo(f"{path.name}: {len(entries)} entries; {len(proposals)} proposal(s) stored in incident_crosswalk")
        for p in proposals:
            mark = "accepted" if (p.incident_id, p.external.database, p.external.id) in accepted else "proposed"
            click.echo(f"  {p.incident_id} ~ {p.external.id} ({mark}, score {p.score:.2f}): {p.external.title}\n"
                       f"      because {p.reason}")
        click.echo("  To accept one, list its id under `crosswalk:` in the incident's entry of the curation file.")


@main.command("graph")
@database_argument
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the graph to FILE: .graphml, .gexf or .json (node-link), for Gephi and the like.")
@click.option("--all", "everything", is_flag=True, help="Build it even when nothing it is made from changed.")
def graph_command(db_path, export_path, everything):
    """Build the evidence graph of DATABASE and store its metrics (degree, PageRank, communities),
    when anything it is made from changed since it was last built."""
    from . import db as database
    from . import graph as graphing
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist; build it with `harvest seed {db_path}`.")
    if export_path and export_path.suffix.lower().lstrip(".") not in graphing.EXPORT_FORMATS:
        raise click.ClickException(f"cannot write {export_path.name}: use a .graphml, .gexf or .json file name")
    if export_path and not export_path.parent.is_dir():
        raise click.ClickException(f"cannot write {export_path}: the folder {export_path.parent} does not exist; "
                                   "make it first, or give another path")
    _check_annotations()
    db = database.connect(db_path)
    built = graphing.read_graph(db) if export_path else None  # read once, for the tables and the file
    summary = graphing.update_graph(db, everything=everything, graph=built)
    if summary is None:
        click.echo("graph: nothing it is made from changed since it was last built; graph_nodes and graph_edges "
                   "left as they are (--all builds it again)")
    else:
        kinds = ", ".join(f"{kind} {count}" for kind, count in summary.edge_types.items()) or "none"
        click.echo(f"graph: {summary.nodes} nodes, {summary.edges} edges ({kinds}), {summary.communities} "
                   f"communities; stored in graph_nodes and graph_edges")
    if export_path:
        written = graphing.export_graph(built, export_path)
        click.echo(f"written as {written}: {export_path}")


@main.command("search-index")
@database_argument
@click.option("--force", is_flag=True, help="Build it even when the one there is up to date.")
def search_index_command(db_path, force):
    """Build the search page's text index of DATABASE (a Tantivy index in DATABASE.search/ beside
    it), when it is missing or was built from another version of the database. Searches use it
    only while it matches the database; `harvest serve` builds it too on a corpus of more than
    50,000 documents."""
    import sqlite3
    import time

    from . import search, textindex
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist; build it with `harvest seed {db_path}`.")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        facts = search.index_for(conn)
        directory = textindex.directory_for(db_path)
        if not force and textindex.current(conn, facts) is not None:
            click.echo(f"search-index: {directory} is up to date ({facts.size} documents); --force builds it again")
            return
        started = time.perf_counter()
        try:
            textindex.build(conn, facts, directory)
        except OSError as error:
            raise click.ClickException(f"cannot write the text index to {directory}: {error}")
        click.echo(f"search-index: {facts.size} documents in {directory} ({time.perf_counter() - started:.0f} s)")
    finally:
        conn.close()


@main.command("tag-text")
def tag_text_command():
    """Tag JSON Lines {"id", "title", "text"} from standard input; JSON Lines out, in input order.

    Optional input fields: "kind" (paper, news, ...) and "publication_types" (PubMed's).
    More than a few hundred lines are tagged on every core.
    """
    from .formats import json_objects
    from .nlp.corpus import chunked, tag_chunks
    from .nlp.tagger import TextInput
    problems = []

    def inputs():
        for number, row, problem in json_objects(sys.stdin):
            if problem:
                problems.append(number)
                _say("Error", f"line {number}: not a JSON object ({problem}); skipped, the other lines are tagged. "
                              "Give one JSON object a line and tag that line again.")
                continue
            yield TextInput(id=str(row.get("id", number)), title=str(row.get("title") or ""),
                            abstract=str(row.get("text") or ""), kind=row.get("kind"),
                            publication_types=list(row.get("publication_types") or []))

    for results in tag_chunks(chunked(inputs())):
        sys.stdout.write("".join(json.dumps(result, ensure_ascii=False) + "\n" for result in results))
    sys.stdout.flush()
    sys.exit(1 if problems else 0)


@main.command("evaluate")
@click.option("--gold", "gold_paths", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Gold JSON Lines to measure on (repeatable): id, title, text, kind, relevant, themes, "
                   "study_design [, themes_disputed]. Default: the shared gold sets in ../shared/gold.")
@click.option("--train-also", "training_only", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Gold JSON Lines that teach the learned layer in every fold but are not measured. "
                   "Default: annotations/gold/gold.jsonl.")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20), help="k of k-fold.")
@click.option("--as-trained", is_flag=True,
              help="Score the tagger as it is (rules + the trained layer in annotations/) instead of "
                   "cross-validating: a figure on the texts it was trained on, so not a forecast.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def evaluate_command(gold_paths, training_only, folds, as_trained, as_json):
    """Precision, recall and F1 per theme, micro and macro averages, relevance and study-design
    accuracy against gold sets, cross-validated: each text is judged by a learned layer trained
    without it (the rules alone are shown beside it)."""
    from .nlp import evaluate as evaluation, train as training
    from .nlp.pipeline import build_pipeline
    from .nlp.tagger import tag_documents
    from .nlp.vocab import load_taxonomy
    measured, extra = _gold_paths(gold_paths, training_only)
    try:
        if as_trained:
            taxonomy = load_taxonomy()
            nlp = build_pipeline()
            scores = {}
            for path in measured:
                gold = evaluation.load_gold(path)
                predictions = {r["id"]: r for r in tag_documents(nlp, taxonomy, [g.input for g in gold])}
                scores[path.stem] = evaluation.score(gold, predictions, list(taxonomy.themes))
            click.echo(json.dumps(scores, indent=2) if as_json else
                       "\n".join(f"== {name}\n{evaluation.report(s)}" for name, s in scores.items()))
            return
        _, taxonomy, sets, extra_items = training.load_sets(measured, extra)
        figures = training.cross_validate(sets, extra_items, taxonomy, k=folds)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"cannot read the gold set: {exc}. Check the files of --gold and "
                                   "--train-also (JSON Lines, one labelled document a line) and run again.") from None
    click.echo(json.dumps(figures, indent=2) if as_json else training.report_table(figures))


@main.command("train")
@click.option("--gold", "gold_paths", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Gold JSON Lines to train on and measure (repeatable). Default: ../shared/gold's sets.")
@click.option("--train-also", "training_only", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Gold JSON Lines to train on only. Default: annotations/gold/gold.jsonl.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the parameters. Default: annotations/theme-model.json.")
@click.option("--seed", default=20261130, show_default=True, type=int, help="Seed for the folds and solver.")
def train_command(gold_paths, training_only, output, seed):
    """Train the learned theme layer (a logistic regression per theme over the rules' findings
    and WordLlama embeddings), report its k-fold figures and write its parameters as JSON."""
    from .nlp import learned, train as training
    measured, extra = _gold_paths(gold_paths, training_only)
    output = output or learned.MODEL
    try:
        figures = training.train_and_save(measured, extra, output, seed=seed)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"cannot read the gold set: {exc}. Check the files of --gold and "
                                   "--train-also (JSON Lines, one labelled document a line) and run again.") from None
    click.echo(training.report_table(figures))
    click.echo(f"written: {output} (part of the pipeline version: the next `harvest tag` re-tags every document)")


def _gold_paths(gold_paths, training_only) -> tuple[list[Path], list[Path]]:
    from .nlp import train as training
    measured = list(gold_paths) or [p for p in training.DEFAULT_MEASURED if p.exists()]
    if not measured:
        raise click.ClickException(f"no gold set given and none found in {training.SHARED_GOLD}; "
                                   f"name one with --gold FILE")
    extra = list(training_only) if training_only else [p for p in training.DEFAULT_TRAINING_ONLY if p.exists()]
    return measured, [p for p in extra if p not in measured]
