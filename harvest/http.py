"""The only module that touches the network: a polite, defensive HTTP client.

Every response and every failure is appended to the run's WARC archive, so that what a
harvest saw can be cited and re-parsed later without asking the server again. The answer to a
request is archived with the role the caller gave it; robots.txt, redirect hops and answers the
client retries are archived with the roles `robots`, `redirect` and `retry`.

Defences, each a failure of that one request (an HttpError with a `kind`), never of the run:
the address a name resolves to is checked when the socket connects, and the socket connects to
that checked address (no DNS rebinding between check and connect); every attempt has a total
deadline (`attempt_deadline`: a dripping body or a silent server is cut off), every `get` one for
all its attempts and waits (`request_deadline`), and the client a time budget for the whole run
of its source (`time_budget`); bodies are decoded here, capped after decompression, and a
compressed body that ends before its end marker is `truncated`, never content; a URL that cannot
be parsed (`http://[::1/x`, a port out of range) is `bad_url`. Known secrets (API keys, the
contact e-mail) are blanked from URLs, headers and bodies before anything is archived.
"""

from __future__ import annotations

import email.utils
import ipaddress
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3
from protego import Protego
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from . import __version__
from .limits import Inflater, LimitExceeded, Truncated

SECRET_PARAMS = frozenset({"api_key", "email", "token", "key", "apikey"})
SECRET_ENVIRONMENT = ("NCBI_API_KEY", "OPENSTATES_API_KEY")  # values blanked in all that is archived
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_RATE = 1.0  # requests per second for a host nobody told us about
MAX_REDIRECTS = 5
ATTEMPT_DEADLINE = 120.0   # seconds for one attempt: connect, answer and whole body
REQUEST_DEADLINE = 300.0   # seconds for one get(): every attempt, retry wait and redirect
TIME_BUDGET = 6 * 3600.0   # seconds for one client, i.e. one source's run
REDACTED = "REDACTED"
ROBOTS_ROLE, REDIRECT_ROLE, RETRY_ROLE = {"name": "robots"}, {"name": "redirect"}, {"name": "retry"}


class HttpError(Exception):
    """A request that failed for good; `kind` says how (status, timeout, too_large, ...)."""

    def __init__(self, url: str, kind: str, message: str, status: int | None = None):
        super().__init__(f"{message} ({redact_url(url)})")
        self.url = url
        self.kind = kind
        self.status = status
        self.archived = None  # the failure's harvest.archive.ArchivedRecord, once written


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: str = ""
    archived: object | None = None  # the harvest.archive.ArchivedRecord of this response

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def redact_url(url: str) -> str:
    """The URL with secret query parameters (API keys, e-mail) blanked, for the archive and logs."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, REDACTED if k.lower() in SECRET_PARAMS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def default_user_agent(contact: str | None = None) -> str:
    contact = contact or os.environ.get("HARVEST_CONTACT") or "contact unset: set HARVEST_CONTACT"
    return f"llm-mh-evidence-harvester/{__version__} (research literature harvester; {contact})"


def is_public_address(address: str) -> bool:
    """True for globally routable addresses; private, loopback, link-local and the like are not."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class Client:
    """HTTP GET with rate limits, retries, robots.txt, size caps, address checks and archiving.

    `archive` is a `harvest.archive.RunArchive` (or None to archive nothing);
    `allowed_networks` lists networks that may be reached although not public (tests: loopback).
    """

    archive: object | None = None
    contact: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    attempt_deadline: float = ATTEMPT_DEADLINE
    request_deadline: float = REQUEST_DEADLINE
    time_budget: float | None = TIME_BUDGET
    max_bytes: int = DEFAULT_MAX_BYTES
    retries: int = 4
    backoff: float = 2.0
    max_retry_wait: float = 300.0
    respect_robots: bool = True
    allowed_networks: tuple[str, ...] = ()
    rate_limits: dict[str, float] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    sleep: object = time.sleep
    clock: object = time.monotonic

    def __post_init__(self):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = default_user_agent(self.contact)
        self.session.headers["Accept-Encoding"] = "gzip, deflate"  # the encodings decoded here
        self._guard = _Guard(self)
        adapter = _GuardedAdapter(self._guard)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._networks = [ipaddress.ip_network(n) for n in self.allowed_networks]
        self._last_request: dict[str, float] = {}
        self._robots: dict[str, Protego | None] = {}
        self._api_hosts: set[str] = set()
        self._budget_end: float | None = None
        self._request_end: float | None = None
        self._secrets: set[str] = set()
        contacts = [c for c in (self.contact, os.environ.get("HARVEST_CONTACT")) if c and "@" in c]
        for secret in (*self.secrets, *map(os.environ.get, SECRET_ENVIRONMENT[:2]), *contacts):
            self.add_secret(secret)  # (a contact that is a web address is no secret)

    def add_secret(self, value: str | None) -> None:
        """A value (an API key, an e-mail) to blank wherever it appears in what is archived."""
        if value and len(value) >= 6:  # shorter values would blank ordinary words
            self._secrets.add(value)

    def redact(self, data: bytes) -> bytes:
        """`data` with every known secret (raw or URL-encoded) replaced by REDACTED."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            for form in {secret, requests.utils.quote(secret, safe=""), requests.utils.quote(secret)}:
                data = data.replace(form.encode(), REDACTED.encode())
        return data

    @property
    def user_agent(self) -> str:
        return self.session.headers["User-Agent"]

    def default_rate_limit(self, host: str, per_second: float) -> None:
        """A source's published limit for its host, unless the caller configured one."""
        self.rate_limits.setdefault(host.lower(), per_second)

    def treat_as_api(self, host: str) -> None:
        """Skip robots.txt for a documented API whose own usage policy the caller follows
        (rate limits, identification): robots.txt is written for crawlers of pages, and an API
        host may disallow everything to keep search engines out of its result URLs."""
        self._api_hosts.add(host.lower())

    def get(self, url: str, params: dict | None = None, *, etag: str | None = None,
            last_modified: str | None = None, role: dict | None = None) -> Response:
        """GET `url`; follow redirects safely; raise HttpError when it finally fails.

        `role` (`{"name": ..., **context}`) goes into the archive with the final answer or
        failure; the client's own records (robots.txt, redirect hops, answers it retries) are
        archived with the roles `robots`, `redirect` and `retry` instead."""
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            for key, value in parse_qsl(urlsplit(url).query):
                if key.lower() in SECRET_PARAMS:
                    self.add_secret(value)  # a key sent in a URL is blanked wherever it comes back
        except ValueError:
            pass  # an unusable URL fails below, with its reason
        now = self.clock()
        if self._budget_end is None and self.time_budget is not None:
            self._budget_end = now + self.time_budget
        self._request_end = now + self.request_deadline
        try:
            for _ in range(MAX_REDIRECTS + 1):
                if self._budget_end is not None and self.clock() >= self._budget_end:
                    raise HttpError(url, "budget", f"the source's time budget of {self.time_budget:.0f}s "
                                    "is spent; the rest waits for the next run")
                self._check_target(url)
                if self.respect_robots and urlsplit(url).hostname.lower() not in self._api_hosts:
                    self._check_robots(url)
                response = self._get_with_retries(url, headers, role)
                if response.status in REDIRECT_STATUSES and "location" in response.headers:
                    try:
                        url = urljoin(url, response.headers["location"])
                    except ValueError as exc:
                        raise HttpError(url, "bad_url", f"redirect to an unreadable URL "
                                        f"{response.headers['location'][:200]!r}: {exc}") from None
                    continue
                if response.status >= 400:
                    raise HttpError(url, "status", f"HTTP {response.status}", response.status)
                return response
            raise HttpError(url, "redirects", f"more than {MAX_REDIRECTS} redirects")
        except HttpError as error:
            self._archive_failure(error, role=role)
            raise

    # -- checks -------------------------------------------------------------------------------

    def _check_target(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise HttpError(url, "bad_url", f"not a usable URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise HttpError(url, "scheme", f"only http and https URLs are fetched, not {parts.scheme!r}")
        if not parts.hostname:
            raise HttpError(url, "scheme", "URL has no host")
        self.checked_addresses(parts.hostname, port, url)

    def checked_addresses(self, host: str, port: int, url: str | None = None) -> list[str]:
        """The addresses to connect to for `host`, in the resolver's order: every address it
        resolves to must be public (or in `allowed_networks`). Connections are made to these
        addresses, so a second, different DNS answer is never used."""
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise HttpError(url or host, "dns", f"cannot resolve host {host}: {exc}") from None
        for info in infos:
            address = info[4][0]
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if any(ip in net for net in self._networks):
                continue
            if not is_public_address(str(ip)):
                raise HttpError(url or host, "private_address",
                                f"refusing {host}: it resolves to non-public address {address}")
        return list(dict.fromkeys(info[4][0] for info in infos))

    def _check_robots(self, url: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = self._load_robots(origin)
        rules = self._robots[origin]
        if rules is None:
            return
        if not rules.can_fetch(url, self.user_agent):
            raise HttpError(url, "robots", "robots.txt disallows this URL for our user agent")
        delay = rules.crawl_delay(self.user_agent)
        host = parts.hostname.lower()
        if delay and 1.0 / self.rate_limits.get(host, DEFAULT_RATE) < delay:
            self.rate_limits[host] = 1.0 / delay

    def _load_robots(self, origin: str) -> Protego | None:
        """Rules for an origin, following RFC 9309: 4xx means no rules, 5xx or no answer means stay out."""
        robots_url = origin + "/robots.txt"
        try:
            self._check_target(robots_url)
            response = self._get_with_retries(robots_url, {}, ROBOTS_ROLE)
        except HttpError:
            return Protego.parse("User-agent: *\nDisallow: /\n")
        if response.status == 200:
            return Protego.parse(response.body.decode("utf-8", "replace"))
        if 400 <= response.status < 500:
            return None
        return Protego.parse("User-agent: *\nDisallow: /\n")

    # -- the wire -----------------------------------------------------------------------------

    def _wait_turn(self, host: str) -> None:
        interval = 1.0 / self.rate_limits.get(host, DEFAULT_RATE)
        last = self._last_request.get(host)
        if last is not None:
            wait = last + interval - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last_request[host] = self.clock()

    def _get_with_retries(self, url: str, headers: dict, role: dict | None = None) -> Response:
        host = urlsplit(url).hostname.lower()
        attempt = 0
        while True:
            self._wait_turn(host)
            try:
                response = self._get_once(url, headers, role, retrying=attempt < self.retries)
            except HttpError as error:
                if error.kind not in ("timeout", "connection", "truncated") or attempt >= self.retries:
                    raise
                self._archive_failure(error, final=False, role=RETRY_ROLE)
                self._pause(url, self.backoff * 2 ** attempt)
                attempt += 1
                continue
            if response.status not in RETRY_STATUSES or attempt >= self.retries:
                return response
            wait = parse_retry_after(response.headers.get("retry-after"))
            if wait is None:
                wait = self.backoff * 2 ** attempt
            if wait > self.max_retry_wait:
                raise HttpError(url, "status", f"HTTP {response.status}, server asks to wait "
                                f"{wait:.0f}s, more than the {self.max_retry_wait:.0f}s we allow",
                                response.status)
            self._pause(url, wait)
            attempt += 1

    def _pause(self, url: str, seconds: float) -> None:
        """Sleep before a retry, unless that would pass the request's deadline."""
        if self._request_end is not None and self.clock() + seconds > self._request_end:
            raise HttpError(url, "deadline", f"gave up: retrying would pass the "
                            f"{self.request_deadline:.0f}s deadline of this request")
        self.sleep(seconds)

    def _get_once(self, url: str, headers: dict, role: dict | None = None, retrying: bool = False) -> Response:
        fetched_at = _now_iso()
        limit = self.attempt_deadline
        now = self.clock()
        for end in (self._request_end, self._budget_end):
            if end is not None:
                limit = min(limit, end - now)
        if limit <= 0:
            raise HttpError(url, "deadline", "no time left for this request")
        watch = self._guard.watch(limit)
        late = f"the answer took more than {limit:.0f}s (the deadline of one attempt); cut off"
        try:
            with watch, self.session.get(url, headers=headers, stream=True, allow_redirects=False,
                                         timeout=(self.connect_timeout, self.read_timeout)) as r:
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise HttpError(url, "too_large", f"body of {declared} bytes is over the "
                                    f"{self.max_bytes}-byte cap", r.status_code)
                try:
                    inflater = Inflater(r.headers.get("content-encoding"), self.max_bytes, "body")
                except ValueError as exc:
                    raise HttpError(url, "encoding", str(exc), r.status_code) from None
                chunks = [inflater.feed(chunk) for chunk in r.raw.stream(65536, decode_content=False)]
                if watch.expired:
                    raise HttpError(url, "deadline", late, r.status_code)
                chunks.append(inflater.finish())
                response = Response(url=url, status=r.status_code,
                                    headers={k.lower(): v for k, v in r.headers.items()},
                                    body=b"".join(chunks), fetched_at=fetched_at)
                reason = r.reason or ""
        except HttpError as error:
            if watch.expired and error.kind != "deadline":
                raise HttpError(url, "deadline", late) from None
            raise
        except LimitExceeded:
            if watch.expired:
                raise HttpError(url, "deadline", late) from None
            raise HttpError(url, "too_large", f"body is over the {self.max_bytes}-byte "
                            "cap after decompression") from None
        except Truncated as exc:
            if watch.expired:
                raise HttpError(url, "deadline", late) from None
            raise HttpError(url, "truncated", str(exc)) from None
        except ValueError as exc:  # requests parses a redirect's Location even when not following it
            raise HttpError(url, "bad_url", f"the answer points to an unusable URL: {exc}") from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if watch.expired:
                raise HttpError(url, "deadline", late) from None
            raise _failure(url, exc) from exc
        if self.archive is not None:
            if role is not ROBOTS_ROLE and response.status in REDIRECT_STATUSES and "location" in response.headers:
                role = REDIRECT_ROLE
            elif role is not ROBOTS_ROLE and response.status in RETRY_STATUSES and retrying:
                role = RETRY_ROLE
            response.archived = self.archive.write_response(
                redact_url(url), response.status, reason, self._redacted_headers(response.headers),
                self.redact(response.body), fetched_at, role)
        return response

    def _redacted_headers(self, headers: dict[str, str]) -> dict[str, str]:
        return {k: self.redact(v.encode("latin-1", "replace")).decode("latin-1") for k, v in headers.items()}

    def _archive_failure(self, error: HttpError, final: bool = True, role: dict | None = None) -> None:
        if self.archive is not None and error.archived is None:
            message = self.redact(str(error).encode()).decode()
            record = self.archive.write_failure(redact_url(error.url), error.kind, message,
                                                _now_iso(), status=error.status, final=final, role=role)
            if final:
                error.archived = record


def _failure(url: str, exc: Exception) -> HttpError:
    """The HttpError for an exception raised by requests or urllib3 (or the socket)."""
    if isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError, socket.timeout)):
        return HttpError(url, "timeout", f"timed out: {exc.__class__.__name__}")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError)):
        return HttpError(url, "truncated", "connection closed before the whole body arrived")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                        requests.exceptions.MissingSchema, urllib3.exceptions.LocationParseError)):
        return HttpError(url, "bad_url", f"not a usable URL: {exc}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return HttpError(url, "connection", f"connection failed: {exc.__class__.__name__}")
    return HttpError(url, "connection", f"request failed: {exc.__class__.__name__}: {exc}")


class _Watch:
    """The deadline of one attempt: when it passes, the attempt's sockets are shut down, which
    wakes a read blocked on a silent or dripping server."""

    def __init__(self, guard: "_Guard", seconds: float):
        self.guard, self.expired = guard, False
        self.sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._lock = threading.Lock()

    def __enter__(self):
        self.guard.current = self
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        self.guard.current = None
        if self.expired:
            self.guard.client.session.close()  # its pooled connections are dead now
        return False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self.sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self.sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS
    except OSError:
        pass


class _Guard:
    """The client's hook into urllib3's connections: where to connect, and the current deadline."""

    def __init__(self, client: Client):
        self.client = client
        self.current: _Watch | None = None

    def watch(self, seconds: float) -> _Watch:
        return _Watch(self, seconds)

    def opened(self, sock: socket.socket) -> None:
        if self.current is not None:
            self.current.add(sock)
        try:
            own = sock.getsockname()[0]
        except (OSError, IndexError):
            return
        if is_public_address(own.split("%", 1)[0]):
            self.client.add_secret(own)  # our address, as an API's error page may echo it


class _GuardedConnection:
    """Connects to the address the client checked for the host (never to a second DNS answer),
    and hands each socket to the current attempt's deadline."""

    guard: _Guard

    def _new_conn(self) -> socket.socket:
        failure: Exception | None = None
        for address in self.guard.client.checked_addresses(self.host, self.port):
            try:
                sock = urllib3.util.connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except socket.timeout as exc:
                failure = ConnectTimeoutError(self, f"Connection to {self.host} timed out.")
                failure.__cause__ = exc
                continue
            except OSError as exc:
                failure = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
                failure.__cause__ = exc
                continue
            self.guard.opened(sock)
            return sock
        raise failure or NewConnectionError(self, f"{self.host} resolves to no address")

    def request(self, *args, **kwargs):
        if self.sock is not None:  # a kept-alive connection: its socket joins this deadline
            self.guard.opened(self.sock)
        return super().request(*args, **kwargs)


class _GuardedAdapter(HTTPAdapter):
    """requests' adapter with urllib3 pools whose connections are _GuardedConnection."""

    def __init__(self, guard: _Guard):
        self.guard = guard
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        attributes = {"guard": self.guard}
        http = type("GuardedHTTPConnection", (_GuardedConnection, urllib3.connection.HTTPConnection), attributes)
        https = type("GuardedHTTPSConnection", (_GuardedConnection, urllib3.connection.HTTPSConnection), attributes)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
