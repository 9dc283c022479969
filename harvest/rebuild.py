"""Re-derive the corpus from the WARC archive, with no network.

Each archive file is one run; replaying the files in order through each source's `ingest` (the
very function the live harvest uses; the follow-up requests it returns are ignored), then its
`after_run` if it has one (news groups wire copies after every run), gives the same rows again.
Records of the client's own traffic (robots.txt, redirect hops, retried answers) are skipped by
their role. Archives written before records carried roles are read with `legacy_role`.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .archive import OWN_TRAFFIC, ArchiveDamaged, ArchivedRecord, archive_files, read_run
from .http import REDIRECT_STATUSES, redact_url
from .runs import Run
from .sources import NAMES, get


def rebuild(db, archive_dir: Path, progress=None) -> list[Run]:
    """Replay every run in `archive_dir` into `db` (an empty, migrated database). A damaged file
    is replayed up to its damage; its run is marked failed or partial with the damage as an
    error, and `run.context["damaged"]` holds the message (the CLI prints it)."""
    runs = []
    for path in archive_files(archive_dir):
        info, records = read_run(path)
        if info is None or info.source not in NAMES:
            continue
        source = get(info.source)
        run = Run(db, info.run_id, info.source, info.parameters, info.started, info.file,
                  cursor=source.cursor_for(info.parameters) if source.cursor_for else None).start()
        legacy = LegacyRoles(source, run)
        try:
            for record in records:
                if record.type == "warcinfo":
                    continue
                if record.role is not None:
                    if record.role not in OWN_TRAFFIC:
                        source.ingest(db, record, run)  # its follow-up requests are ignored
                    continue
                legacy.assign(record)
                if record.role not in OWN_TRAFFIC:
                    legacy.expect(source.ingest(db, record, run))
        except ArchiveDamaged as damage:
            run.fail(str(damage), n=0)
            run.context["damaged"] = str(damage)
        if source.after_run:
            source.after_run(db)
        run.finish()
        runs.append(run)
        if progress:
            progress(run)
    return runs


class LegacyRoles:
    """Roles for the records of an archive written before records carried them, read as those
    harvests read them: robots.txt by its path, a redirect hop by its status and Location (the
    records after it belong to the address first asked for), a retried failure by its `final`
    flag; an answer to a follow-up request an earlier record's ingest made gets that request's
    role and context; everything else the source's `legacy_role`, which finds `requested`,
    the address first asked for, in the record's context."""

    def __init__(self, source, run: Run):
        self.source, self.run = source, run
        self.moved: dict[str, str] = {}
        self.expected: dict[str, tuple[str, dict]] = {}

    def expect(self, follow_ups) -> None:
        for request in follow_ups or ():
            self.expected.setdefault(redact_url(request.address), (request.role, request.archived_role))

    def assign(self, record: ArchivedRecord) -> None:
        requested = self.moved.get(record.uri, record.uri)
        if record.type in ("response", "failure") and urlsplit(record.uri).path == "/robots.txt":
            record.role = "robots"
        elif record.type == "failure" and not (record.meta or {}).get("final", True):
            record.role = "retry"
        elif (record.type == "response" and record.status in REDIRECT_STATUSES
              and "location" in record.headers):
            self.moved[urljoin(record.uri, record.headers["location"])] = requested
            record.role = "redirect"
        elif requested in self.expected:
            record.role, role = self.expected[requested]
            record.context = {k: v for k, v in json.loads(json.dumps(role)).items() if k != "name"}
        else:
            record.context = {"requested": requested}
            record.role, record.context = self.source.legacy_role(record, self.run)
