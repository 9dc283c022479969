"""The only module that touches the network: a polite, defensive HTTP client.

Every response and every failure is appended to the run's WARC archive, so that what a
harvest saw can be cited and re-parsed later without asking the server again. The answer to a
request is archived with the role the caller gave it; robots.txt, redirect hops and answers the
client retries are archived with the roles `robots`, `redirect` and `retry`.
"""

from __future__ import annotations

import email.utils
import ipaddress
import os
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from protego import Protego

from . import __version__

SECRET_PARAMS = frozenset({"api_key", "email", "token", "key", "apikey"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_RATE = 1.0  # requests per second for a host nobody told us about
MAX_REDIRECTS = 5
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
    query = [(k, "REDACTED" if k.lower() in SECRET_PARAMS else v)
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
    read_timeout: float = 60.0
    max_bytes: int = DEFAULT_MAX_BYTES
    retries: int = 4
    backoff: float = 2.0
    max_retry_wait: float = 300.0
    respect_robots: bool = True
    allowed_networks: tuple[str, ...] = ()
    rate_limits: dict[str, float] = field(default_factory=dict)
    sleep: object = time.sleep
    clock: object = time.monotonic

    def __post_init__(self):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = default_user_agent(self.contact)
        self._networks = [ipaddress.ip_network(n) for n in self.allowed_networks]
        self._last_request: dict[str, float] = {}
        self._robots: dict[str, Protego | None] = {}
        self._api_hosts: set[str] = set()

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
            for _ in range(MAX_REDIRECTS + 1):
                self._check_target(url)
                if self.respect_robots and urlsplit(url).hostname.lower() not in self._api_hosts:
                    self._check_robots(url)
                response = self._get_with_retries(url, headers, role)
                if response.status in REDIRECT_STATUSES and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
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
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise HttpError(url, "scheme", f"only http and https URLs are fetched, not {parts.scheme!r}")
        if not parts.hostname:
            raise HttpError(url, "scheme", "URL has no host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise HttpError(url, "dns", f"cannot resolve host {parts.hostname}: {exc}") from exc
        for info in infos:
            address = info[4][0]
            ip = ipaddress.ip_address(address)
            if any(ip in net for net in self._networks):
                continue
            if not is_public_address(address):
                raise HttpError(url, "private_address",
                                f"refusing {parts.hostname}: it resolves to non-public address {address}")

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
                self.sleep(self.backoff * 2 ** attempt)
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
            self.sleep(wait)
            attempt += 1

    def _get_once(self, url: str, headers: dict, role: dict | None = None, retrying: bool = False) -> Response:
        fetched_at = _now_iso()
        try:
            with self.session.get(url, headers=headers, stream=True, allow_redirects=False,
                                  timeout=(self.connect_timeout, self.read_timeout)) as r:
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise HttpError(url, "too_large", f"body of {declared} bytes is over the "
                                    f"{self.max_bytes}-byte cap", r.status_code)
                chunks, size = [], 0
                for chunk in r.iter_content(65536):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise HttpError(url, "too_large", f"body is over the {self.max_bytes}-byte "
                                        "cap after decompression", r.status_code)
                    chunks.append(chunk)
                response = Response(url=url, status=r.status_code,
                                    headers={k.lower(): v for k, v in r.headers.items()},
                                    body=b"".join(chunks), fetched_at=fetched_at)
                reason = r.reason or ""
        except HttpError:
            raise
        except requests.exceptions.Timeout as exc:
            raise HttpError(url, "timeout", f"timed out: {exc.__class__.__name__}") from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise HttpError(url, "truncated", "connection closed before the whole body arrived") from exc
        except requests.exceptions.ContentDecodingError as exc:
            raise HttpError(url, "truncated", f"body could not be decoded: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise HttpError(url, "connection", f"connection failed: {exc.__class__.__name__}") from exc
        except requests.exceptions.RequestException as exc:
            raise HttpError(url, "connection", f"request failed: {exc}") from exc
        if self.archive is not None:
            if role is not ROBOTS_ROLE and response.status in REDIRECT_STATUSES and "location" in response.headers:
                role = REDIRECT_ROLE
            elif role is not ROBOTS_ROLE and response.status in RETRY_STATUSES and retrying:
                role = RETRY_ROLE
            response.archived = self.archive.write_response(
                redact_url(url), response.status, reason, response.headers, response.body, fetched_at, role)
        return response

    def _archive_failure(self, error: HttpError, final: bool = True, role: dict | None = None) -> None:
        if self.archive is not None and error.archived is None:
            record = self.archive.write_failure(redact_url(error.url), error.kind, str(error),
                                                _now_iso(), status=error.status, final=final, role=role)
            if final:
                error.archived = record


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
