"""Shared test helpers: a scripted HTTP server on 127.0.0.1 and the shared fixtures folder."""

from __future__ import annotations

import inspect
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from harvest import db as database
from harvest.http import Client

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
FIXTURES = HERE.parents[1] / "shared" / "fixtures"
LOOPBACK_ONLY = ("127.0.0.1/32",)


class Reply:
    """One scripted answer: status, headers, body; `truncate_to` cuts the body short on the wire,
    `delay` stalls before answering."""

    def __init__(self, status=200, body=b"", headers=None, delay=0.0, truncate_to=None, raw=None):
        self.status, self.body, self.headers = status, body, dict(headers or {})
        self.delay, self.truncate_to = delay, truncate_to
        self.raw = raw  # a function writing the whole answer itself to the socket's file (hostile servers)


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 answering each path from a script of replies.

    `routes[path]` is a list of Reply (used in turn, the last one repeats) or a function of the
    query string (and of the request headers, when it takes two arguments) returning a Reply.
    Every request is logged as (path, query, headers).
    """

    def __init__(self):
        self.routes: dict = {}
        self.requests: list = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                parts = urlsplit(self.path)
                server.requests.append((parts.path, parts.query, dict(self.headers)))
                route = server.routes.get(parts.path)
                if route is None:
                    reply = Reply(404, b"not found")
                elif callable(route):
                    takes_headers = len(inspect.signature(route).parameters) == 2
                    reply = route(parts.query, dict(self.headers)) if takes_headers else route(parts.query)
                else:
                    reply = route.pop(0) if len(route) > 1 else route[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.raw is not None:
                    self.close_connection = True
                    try:
                        reply.raw(self.wfile)
                    except (BrokenPipeError, ConnectionResetError, OSError):
                        pass
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                body = reply.body if reply.truncate_to is None else reply.body[:reply.truncate_to]
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up on purpose (size caps)
                if reply.truncate_to is not None:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    scripted = ScriptedServer()
    scripted.routes["/robots.txt"] = [Reply(404)]
    yield scripted
    scripted.close()


@pytest.fixture
def make_client():
    """A Client that may reach loopback only, with short waits so tests stay quick."""
    def make(**options):
        defaults = dict(allowed_networks=LOOPBACK_ONLY, backoff=0.01, read_timeout=2.0,
                        connect_timeout=2.0, rate_limits={"127.0.0.1": 1000.0})
        return Client(**{**defaults, **options})
    return make


@pytest.fixture
def corpus(tmp_path):
    db = database.connect(tmp_path / "corpus.db")
    yield db
    db.conn.close()


def table_rows(db, skip=("harvest_runs",)) -> dict:
    """Every row of every content table, for comparing two databases (the change bookkeeping of
    migration 11, `derive_*`, counts writes, not content, and is left out)."""
    result = {}
    for table in db.table_names():
        if table in skip or table.startswith(("documents_fts", "incidents_fts", "derive_")):
            continue
        result[table] = sorted(map(tuple, db.execute(f"SELECT * FROM [{table}]").fetchall()), key=repr)
    return result


def normalised(value):
    """The shared fixtures' convention for comparing text: white space folded."""
    if isinstance(value, str):
        return re.sub(r"\s+", " ", value).strip()
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def harvest_serve(path: Path, *options: str):
    """`harvest serve` started as a user starts it, on a free port of 127.0.0.1; yields its address."""
    port = free_port()
    # its output (a line per request) goes to a file: a pipe nobody reads fills up and stalls the server
    output = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, "-m", "harvest", "serve", str(path), "--port", str(port), *options],
                               stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                requests.get(base + "/-/versions.json", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None:
                    output.seek(0)
                    pytest.fail(output.read().decode())
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        output.close()
