"""The unattended nightly run: every source in turn, each isolated, then tag, incidents and graph,
then a digest of what changed.

Shape of one run (`run_nightly`):

1. take the database's harvest lock for the whole run (`runs.harvest_lock`);
2. resume the last nightly run if it was cut off (a `nightly_runs` row with no `finished`, younger
   than `RESUME_WITHIN`), skipping the steps it recorded as done in `nightly_steps`;
3. run each source of the schedule (`annotations/schedule.yaml`) as its own `harvest SOURCE`
   process with a time budget: a source that fails, crashes or hangs is recorded and stopped, and
   the others go on. Its outcome is read back from the `harvest_runs` row it wrote;
4. re-derive tags, incidents and the graph in this process, then the search page's text index
   (a folder beside the database; skipped when the inputs they are made from are the same as after
   the last completed derivation, so a night with nothing new writes nothing);
5. write the digest (`digest.py`) and the exit status: 0 every source ok and none stale, 3 some
   sources failed or are stale (or a derivation step failed), 1 no source worked.

How a source is run lives in two functions only, `source_names` and `run_source`, so the source
registry can replace them without touching the rest.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils

from .archive import iso, utc_now
from .db import transaction

ANNOTATIONS = Path(__file__).resolve().parent.parent / "annotations"
SCHEDULE = ANNOTATIONS / "schedule.yaml"
DERIVE_STEPS = ("tag", "incidents", "graph", "search-index")
RESUME_WITHIN = timedelta(hours=20)  # a cut-off run older than this is closed, not resumed
SUCCESS = ("ok", "partial")  # a run that landed something
EXIT_OK, EXIT_SOME, EXIT_NOTHING = 0, 3, 1
log = logging.getLogger("harvest.nightly")


class ScheduleError(ValueError):
    """The schedule file is malformed; the message names the entry."""


@dataclass
class SourcePlan:
    name: str
    cadence: timedelta
    budget: float  # seconds
    args: list[str] = field(default_factory=list)
    skip: bool = False


@dataclass
class Schedule:
    sources: list[SourcePlan]
    max_relevant_loss: float = 0.05


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value, where: str) -> timedelta:
    """`90s`, `45m`, `36h`, `2d`, `1w` (or a bare number of seconds) -> timedelta."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match or float(match[1]) <= 0:
        raise ScheduleError(f"{where}: {value!r} is not a duration such as 45m, 36h, 2d or 1w")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def source_names() -> list[str]:
    """Every harvest source of the registry (harvest.sources.NAMES) with a `harvest NAME` command
    of its own: not the seed list and imports, which are loaded by hand, nor landing pages, which
    `harvest resolve` reads (harvest.sources.NOT_SCHEDULED)."""
    from .sources import NAMES, NOT_SCHEDULED
    return [name for name in NAMES if name not in NOT_SCHEDULED]


def load_schedule(path: Path = SCHEDULE) -> Schedule:
    """Read the schedule (see annotations/schedule.yaml). Raises ScheduleError naming the entry."""
    from . import config
    try:
        data = config.load(path, "schedule") or {}
    except config.ConfigError as exc:
        raise ScheduleError(str(exc)) from None
    except OSError as exc:
        raise ScheduleError(f"{path}: cannot read it: {exc}") from None
    known = source_names()
    entries = data.get("sources")
    if not isinstance(entries, dict) or not entries:
        raise ScheduleError(f"{path}: needs a `sources:` mapping of source name to cadence and budget")
    plans = []
    for name, entry in entries.items():
        where = f"{Path(path).name}: sources.{name}"
        if name not in known:
            raise ScheduleError(f"{where}: no such source (known: {', '.join(known)})")
        entry = entry or {}
        if not isinstance(entry, dict) or "cadence" not in entry:
            raise ScheduleError(f"{where}: needs a cadence, e.g. {{cadence: 2d, budget: 30m}}")
        args = entry.get("args") or []
        if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
            raise ScheduleError(f"{where}: args must be a list of strings")
        plans.append(SourcePlan(name, parse_duration(entry["cadence"], f"{where}.cadence"),
                                parse_duration(entry.get("budget", "30m"), f"{where}.budget").total_seconds(),
                                [str(a) for a in args], bool(entry.get("skip", False))))
    loss = (data.get("release") or {}).get("max_relevant_loss", 0.05)
    if not isinstance(loss, (int, float)) or not 0 <= loss <= 1:
        raise ScheduleError(f"{Path(path).name}: release.max_relevant_loss must be a share between 0 and 1")
    return Schedule(plans, float(loss))


# --- running one source -------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child, before exec: be killed when the nightly process dies (Linux), so a killed
    nightly run never leaves a harvest writing on behalf of nobody."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class ChildResult:
    exit_code: int | None  # None: stopped at its time budget
    output: str
    seconds: float


def run_source(db_path: Path, name: str, archive_dir: Path, budget: float, args: list[str],
               allow_network: tuple[str, ...] = (), lock_fd: int | None = None) -> ChildResult:
    """Run `harvest NAME DB --quiet` as its own process group with at most `budget` seconds,
    sharing the caller's lock. The process (and anything it started) is stopped at the budget."""
    command = [sys.executable, "-m", "harvest", name, str(db_path), "--quiet", "--archive", str(archive_dir)]
    for network in allow_network:
        command += ["--allow-network", network]
    command += args
    env = dict(os.environ)
    from .runs import LOCK_FD_ENV
    if lock_fd is not None:
        env[LOCK_FD_ENV] = str(lock_fd)
    started = time.monotonic()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env,
                                   pass_fds=(lock_fd,) if lock_fd is not None else (),
                                   process_group=0, preexec_fn=_die_with_parent)
        try:
            code = process.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            code = None
            _stop(process)
        output.seek(0)
        text = output.read()[-4000:].decode("utf-8", "replace")
    return ChildResult(code, text, time.monotonic() - started)


def _stop(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue


# --- bookkeeping --------------------------------------------------------------------------------

def ensure_tables(db: sqlite_utils.Database) -> None:
    """`nightly_runs` (one row per nightly run: times, status, exit status, digest) and
    `nightly_steps` (one row per step: source or derivation, its outcome) are made by migration 11
    (`harvest.db`); this brings an older database up to date."""
    from .db import apply_migrations
    apply_migrations(db)


@dataclass
class StepOutcome:
    step: str
    status: str  # ok, partial, failed, timeout, skipped (sources); ok, failed, skipped (derivations)
    seconds: float = 0.0
    harvest_run_ids: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rows_written: int | None = None
    message: str = ""

    @property
    def worked(self) -> bool:
        return self.status in ("ok", "partial", "skipped")


def _save_step(db, nightly_id: str, position: int, outcome: StepOutcome, started: str) -> None:
    with transaction(db):
        db["nightly_steps"].insert({
            "nightly_id": nightly_id, "step": outcome.step, "position": position, "status": outcome.status,
            "started": started, "finished": iso(utc_now()), "seconds": round(outcome.seconds, 2),
            "harvest_run_ids": json.dumps(outcome.harvest_run_ids), "rows_written": outcome.rows_written,
            "message": json.dumps({"counts": outcome.counts, "errors": outcome.errors[:50],
                                   "message": outcome.message}, ensure_ascii=False)}, replace=True)


def _load_step(row: dict) -> StepOutcome:
    message = json.loads(row["message"] or "{}")
    return StepOutcome(row["step"], row["status"], row["seconds"] or 0.0, json.loads(row["harvest_run_ids"] or "[]"),
                       message.get("counts", {}), message.get("errors", []), row["rows_written"],
                       message.get("message", ""))


def source_outcome(db, name: str, after_rowid: int, child: ChildResult, budget: float,
                   archive_dir: Path) -> StepOutcome:
    """What a source's process did, from the harvest_runs rows it wrote (and its exit status).
    A run that found nothing also says how many answers its service gave (`counts["responses"]`,
    from its WARC file): none means it had nothing to ask, which proves nothing either way."""
    rows = db.execute("SELECT rowid, id, status, found, added, updated, unchanged, failed, error, archive_file "
                      "FROM harvest_runs WHERE source = ? AND rowid > ? ORDER BY rowid",
                      [name, after_rowid]).fetchall()
    outcome = StepOutcome(name, "failed", child.seconds)
    counts = {k: 0 for k in ("found", "added", "updated", "unchanged", "failed")}
    statuses = []
    for row in rows:
        outcome.harvest_run_ids.append(row[1])
        statuses.append(row[2])
        for key, value in zip(counts, row[3:8]):
            counts[key] += value or 0
        outcome.errors += [line for line in (row[8] or "").splitlines() if line]
    outcome.counts = counts
    if child.exit_code is None:
        db.execute("UPDATE harvest_runs SET status = 'interrupted', finished = ?, error = coalesce(error || "
                   "char(10), '') || ? WHERE source = ? AND rowid > ? AND status = 'running'",
                   [iso(utc_now()), f"stopped by the nightly run at its time budget of {budget:.0f} s",
                    name, after_rowid])
        outcome.status = "timeout"
        outcome.errors.append(f"stopped after its time budget of {budget:.0f} s")
    elif not rows:
        outcome.status = "failed"
        last = [line for line in child.output.strip().splitlines() if line.strip()]
        outcome.errors.append(f"`harvest {name}` exited with status {child.exit_code} before starting a run"
                              + (f": {last[-1].strip()}" if last else ""))
    elif "ok" in statuses and all(s == "ok" for s in statuses):
        outcome.status = "ok"
        if not any(counts[k] for k in ("found", "added", "updated", "unchanged")):
            outcome.counts["responses"] = _responses(archive_dir, [row[9] for row in rows if row[9]])
    elif any(s in SUCCESS for s in statuses):
        outcome.status = "partial"
    else:
        outcome.status = "failed"
    return outcome


def _responses(archive_dir: Path, files: list[str]) -> int:
    from .archive import ArchiveDamaged, read_run
    answers = 0
    for name in files:
        path = Path(archive_dir) / name
        if not path.exists():
            continue
        try:
            _, records = read_run(path)
            answers += sum(1 for record in records if record.type in ("response", "resource"))
        except (ArchiveDamaged, OSError):
            continue
    return answers


# --- staleness ----------------------------------------------------------------------------------

def last_successes(db) -> dict[str, str]:
    """Source -> the finish time of its last run that landed something (ok or partial)."""
    return {r[0]: r[1] for r in db.execute(
        "SELECT source, max(coalesce(finished, started)) FROM harvest_runs "
        "WHERE status IN ('ok', 'partial') GROUP BY source")}


def stale_sources(db, schedule: Schedule, now: datetime | None = None) -> list[dict]:
    """Sources whose last successful run is older than their cadence (or that never had one):
    [{source, cadence_hours, last_success (ISO or None), hours_since (or None)}]."""
    now = now or utc_now()
    successes = last_successes(db)
    stale = []
    for plan in schedule.sources:
        last = successes.get(plan.name)
        age = (now - datetime.strptime(last[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)) if last else None
        if age is None or age > plan.cadence:
            stale.append({"source": plan.name, "cadence_hours": round(plan.cadence.total_seconds() / 3600, 1),
                          "last_success": last, "hours_since": round(age.total_seconds() / 3600, 1) if age else None})
    return stale


# --- what the derivations read ------------------------------------------------------------------

def derive_inputs_fingerprint(db) -> str:
    """A digest of everything tag, incidents and graph read, in O(1): the change counters the
    triggers of migration 11 keep (documents' content, grouping and tags; citations, links,
    redirects and identifiers; vocabulary and curations; incidents), every file in annotations/
    (vocabularies, curations, the learned layer) and the derivations' code. Equal fingerprints
    give equal derived rows. Each step also keeps its own marker (`derive_markers`)."""
    from .runs import change_counters
    digest = hashlib.sha256(repr(sorted(change_counters(db).items())).encode())
    for path in sorted(ANNOTATIONS.rglob("*")):
        if path.is_file() and path.name != "schedule.yaml":
            digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    for path in sorted((Path(__file__).parent).rglob("*.py")):
        if path.parent.name == "nlp" or path.name in ("incidents.py", "graph.py"):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def derive(db, step: str) -> tuple[int, str]:
    """Run one derivation step in this process; returns (rows written, a one-line summary)."""
    before = db.conn.total_changes
    if step == "tag":
        from .nlp.corpus import tag_corpus
        summary = tag_corpus(db)
        text = ("nothing it reads changed" if summary.unchanged else
                f"tagged {summary.tagged} document(s), {summary.relevant} relevant")
        if summary.problems:
            text += "; correction problems: " + "; ".join(summary.problems)
    elif step == "incidents":
        from .incidents import update_incidents
        summary = update_incidents(db)
        text = (f"{summary.curated} curated incident(s), {summary.machine_links} machine link(s), "
                f"{summary.candidates} candidate(s)" + ("; nothing it reads changed" if summary.unchanged else
                f"; {'every' if summary.rescored is None else summary.rescored} report(s) scored"))
    elif step == "graph":
        from .graph import update_graph
        summary = update_graph(db)
        text = f"{summary.nodes} nodes, {summary.edges} edges" if summary else "nothing it is made from changed"
    else:  # the search page's text index, beside the database (harvest.textindex): no row written
        from . import search, textindex
        facts = search.index_for(db.conn)
        if textindex.current(db.conn, facts) is not None:
            text = "up to date"
        else:
            text = f"{facts.size} documents indexed in {textindex.build(db.conn, facts).name}"
    return db.conn.total_changes - before, text


# --- the run ------------------------------------------------------------------------------------

@dataclass
class NightlyResult:
    nightly_id: str
    resumed: bool
    outcomes: list[StepOutcome]
    stale: list[dict]
    exit_code: int
    digest: dict
    digest_paths: list[Path]


def _incident_state(db) -> dict[str, str]:
    """Incident id -> a hash of its row and its linked reports (to tell new and changed ones)."""
    state = {}
    try:
        for row in db.execute("SELECT * FROM incidents ORDER BY id"):
            links = db.execute("SELECT document_id, role, method FROM incident_documents WHERE incident_id = ? "
                               "ORDER BY document_id", [row[0]]).fetchall()
            state[row[0]] = hashlib.sha256(repr((tuple(row), links)).encode()).hexdigest()[:16]
    except Exception:
        pass
    return state


def _open_nightly(db, fresh: bool, now: datetime) -> tuple[dict, bool]:
    """The nightly row to work on: the cut-off one to resume, or a new one."""
    ensure_tables(db)
    open_rows = list(db.query("SELECT * FROM nightly_runs WHERE finished IS NULL ORDER BY started DESC"))
    for row in open_rows:
        started = datetime.strptime(row["started"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        if not fresh and row is open_rows[0] and now - started < RESUME_WITHIN:
            log.warning("resuming nightly run %s, cut off before it finished (started %s)", row["id"], row["started"])
            return row, True
        db["nightly_runs"].update(row["id"], {"status": "abandoned", "finished": iso(now)})
        log.warning("nightly run %s was cut off and is too old to resume; closed as abandoned", row["id"])
    # what the last finished run reported is not reported again
    previous = db.execute("SELECT max(finished) FROM nightly_runs WHERE status != 'abandoned'").fetchone()[0]
    row = {"id": now.strftime("%Y%m%dT%H%M%SZ"), "started": iso(now), "status": "running",
           "since": previous or iso(now), "before": json.dumps({"incidents": _incident_state(db)})}
    if db["nightly_runs"].count_where("id = ?", [row["id"]]):
        row["id"] += f"-{os.getpid()}"
    db["nightly_runs"].insert(row)
    return row, False


def exit_status(outcomes: list[StepOutcome], stale: list[dict]) -> int:
    """0 every source ok and none stale; 1 no source worked; 3 anything in between. A source
    that had nothing to ask (ok, nothing found, no answer from its service, e.g. Crossref with no
    DOI pending) counts neither way: with no network at all, the others fail and the status is 1."""
    sources = [o for o in outcomes if o.step not in DERIVE_STEPS and o.status != "skipped"]
    worked = [o for o in sources if o.status in SUCCESS and o.counts.get("responses", 1) > 0]
    if any(o.status not in SUCCESS for o in sources) and not worked:
        return EXIT_NOTHING
    if stale or any(not o.worked or o.status == "partial" for o in outcomes):
        return EXIT_SOME
    return EXIT_OK


def run_nightly(db_path: Path, archive_dir: Path, schedule: Schedule, lock_handle, *,
                only: tuple[str, ...] = (), allow_network: tuple[str, ...] = (), fresh: bool = False,
                site: str | None = None) -> NightlyResult:
    """The whole nightly run; the caller holds the lock (`lock_handle`, the open lock file)."""
    from . import db as database
    from .digest import build_digest, write_digest
    from .runs import mark_interrupted
    db = database.connect(db_path)
    interrupted = mark_interrupted(db)
    if interrupted:
        log.warning("marked %d harvest run(s) left running by a crash as interrupted", interrupted)
    nightly, resumed = _open_nightly(db, fresh, utc_now())
    done = {r["step"]: _load_step(r) for r in db.query("SELECT * FROM nightly_steps WHERE nightly_id = ?",
                                                        [nightly["id"]])}
    plans = [p for p in schedule.sources if not p.skip and (not only or p.name in only)]
    outcomes: list[StepOutcome] = []
    position = 0
    for plan in plans:
        position += 1
        if plan.name in done:
            outcomes.append(done[plan.name])
            log.info("%s: already done in this nightly run (%s)", plan.name, done[plan.name].status)
            continue
        started = iso(utc_now())
        log.info("%s: starting (budget %.0f s)", plan.name, plan.budget)
        after = db.execute("SELECT coalesce(max(rowid), 0) FROM harvest_runs").fetchone()[0]
        child = run_source(db_path, plan.name, archive_dir, plan.budget, plan.args, allow_network,
                           lock_handle.fileno() if lock_handle else None)
        outcome = source_outcome(db, plan.name, after, child, plan.budget, archive_dir)
        _log_outcome(outcome)
        _save_step(db, nightly["id"], position, outcome, started)
        outcomes.append(outcome)
    fingerprint = derive_inputs_fingerprint(db)
    last = db.execute("SELECT derived_fingerprint FROM nightly_runs WHERE derived_fingerprint IS NOT NULL "
                      "ORDER BY started DESC LIMIT 1").fetchone()
    unchanged = bool(last and last[0] == fingerprint)
    for step in DERIVE_STEPS:
        position += 1
        if step in done and done[step].status != "failed":
            outcomes.append(done[step])
            continue
        started, clock = iso(utc_now()), time.monotonic()
        if unchanged:
            outcome = StepOutcome(step, "skipped", rows_written=0,
                                  message="nothing it reads changed since the last derivation")
        else:
            try:
                written, text = derive(db, step)
                outcome = StepOutcome(step, "ok", rows_written=written, message=text)
            except Exception as exc:  # one broken step is reported; the others still run
                log.exception("%s failed", step)
                outcome = StepOutcome(step, "failed", errors=[f"{exc.__class__.__name__}: {exc}"])
        outcome.seconds = time.monotonic() - clock
        _log_outcome(outcome)
        _save_step(db, nightly["id"], position, outcome, started)
        outcomes.append(outcome)
    if all(o.worked for o in outcomes if o.step in DERIVE_STEPS):  # what they wrote is part of what they read
        db["nightly_runs"].update(nightly["id"], {"derived_fingerprint": derive_inputs_fingerprint(db)})
    stale = stale_sources(db, schedule)
    for entry in stale:
        log.warning("%s is stale: no successful run in %s hours (last: %s)", entry["source"],
                    entry["cadence_hours"], entry["last_success"] or "never")
    code = exit_status(outcomes, stale)
    digest = build_digest(db, db_path, nightly, outcomes, stale, code, resumed, site=site)
    paths = write_digest(db_path, digest)
    status = {EXIT_OK: "ok", EXIT_SOME: "partial", EXIT_NOTHING: "failed"}[code]
    with transaction(db):
        db["nightly_runs"].update(nightly["id"], {"status": status, "exit_code": code, "finished": iso(utc_now()),
                                                  "digest": json.dumps(digest, ensure_ascii=False)})
    db.conn.close()
    return NightlyResult(nightly["id"], resumed, outcomes, stale, code, digest, paths)


def _log_outcome(outcome: StepOutcome) -> None:
    level = {"ok": logging.INFO, "skipped": logging.INFO, "partial": logging.WARNING}.get(outcome.status, logging.ERROR)
    counts = ", ".join(f"{k} {v}" for k, v in outcome.counts.items() if v)
    log.log(level, "%s: %s in %.1f s%s%s", outcome.step, outcome.status, outcome.seconds,
            f" ({counts})" if counts else "", f"; {outcome.message}" if outcome.message else "")
    for error in outcome.errors[:20]:
        log.log(level if outcome.status != "partial" else logging.WARNING, "%s: %s", outcome.step, error)


def advice(outcome: StepOutcome) -> str:
    """What an operator should do about a failed or partial source, from its errors."""
    text = " ".join(outcome.errors).lower()
    name = outcome.step
    if outcome.status == "timeout":
        return (f"it ran past its time budget: check the service's status, or raise `budget` for {name} "
                f"in annotations/schedule.yaml; the next run starts where the last successful one ended")
    if any(w in text for w in ("name or service not known", "temporary failure in name resolution",
                               "connection refused", "failed to establish", "max retries", "network is unreachable",
                               "connectionerror", "timed out", "read timeout", "connect timeout")):
        return "the service could not be reached: check this machine's network and DNS; the next run retries"
    if any(w in text for w in ("401", "403", "api key", "forbidden", "unauthorized")):
        return "the service refused the request: check the API key and the contact address in the environment"
    if any(w in text for w in ("http 404", "http 410")):
        return (f"the service answered 404/410: its address has probably moved; check the address `harvest {name}` "
                f"uses (its --help lists the option; annotations/ holds the lists) against the service's documentation")
    if any(w in text for w in ("429", "rate limit", "too many requests")):
        return "the service rate-limited us: leave it until the next run, or add an API key where one is offered"
    if "exited with status" in text or "stopped:" in text:
        return (f"`harvest {name}` could not run: read the message above and archive/harvest.log, fix the cause, "
                f"then run `harvest {name} DATABASE` by hand")
    if outcome.status == "partial":
        return (f"part of it landed; the next incremental run retries what failed (or run `harvest {name} "
                f"DATABASE` now)")
    return f"read archive/harvest.log for the details, then run `harvest {name} DATABASE` by hand"


def summary_lines(result: NightlyResult) -> list[str]:
    """The one-screen summary printed at the end of a nightly run."""
    sources = [o for o in result.outcomes if o.step not in DERIVE_STEPS]
    worked = sum(o.status in SUCCESS for o in sources)
    lines = [f"nightly run {result.nightly_id}{' (resumed)' if result.resumed else ''}: "
             f"{worked} of {len(sources)} source(s) worked, {len(result.stale)} stale; exit status {result.exit_code}"]
    for o in result.outcomes:
        c = o.counts
        figures = (f"added {c.get('added', 0)}, updated {c.get('updated', 0)}, failed {c.get('failed', 0)}"
                   if o.step not in DERIVE_STEPS else (o.message or ""))
        lines.append(f"  {o.step:<12} {o.status.upper() if not o.worked or o.status == 'partial' else o.status:<8} "
                     f"{o.seconds:7.1f} s  {figures}"[:140])
        if not o.worked or o.status == "partial":
            if o.errors:
                lines.append(f"      {o.errors[0]}"[:140])
            if o.step not in DERIVE_STEPS:
                lines.append(f"      -> {advice(o)}"[:200])
    for entry in result.stale:
        lines.append(f"  stale: {entry['source']} (no successful run in {entry['cadence_hours']} h; "
                     f"last {entry['last_success'] or 'never'})")
    new = result.digest.get("new_relevant", {}).get("count", 0)
    incidents = result.digest.get("incidents", {})
    lines.append(f"new: {new} relevant document(s), {len(incidents.get('new', []))} new and "
                 f"{len(incidents.get('changed', []))} changed incident(s), "
                 f"{len(result.digest.get('changed_versions', []))} changed guidance page(s) or bill(s)")
    lines += [f"digest: {path}" for path in result.digest_paths]
    return lines
