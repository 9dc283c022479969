"""Caps on everything that can grow from a small input: decompression, record buffers, JSON
nesting. Each cap, when hit, raises LimitExceeded naming the cap, so the item fails with a
reason and the run goes on.

Inflater(encoding, cap, name)   streaming gzip/deflate decoder: feed(chunk) -> bytes, finish()
                                raises Truncated when the compressed stream was cut short
gunzip(data, name, cap)         a whole gzip payload (a saved .gz file, a JATS .nxml.gz) -> bytes
capped(stream, cap, name)       a readable stream that raises LimitExceeded past `cap` bytes
load_json(data)                 json.loads, with nesting deeper than MAX_JSON_DEPTH reported as a
                                json.JSONDecodeError (as malformed JSON is) instead of a RecursionError
strip_internal_subset(data)     XML bytes with the DOCTYPE's internal subset (entity declarations)
                                removed, so no parser can expand an entity bomb
"""

from __future__ import annotations

import io
import json
import re
import zlib

MAX_INFLATED_BYTES = 256 * 1024 * 1024       # one document decompressed in memory (JATS, a feed)
MAX_STREAM_BYTES = 8 * 1024 * 1024 * 1024    # a file decompressed as a stream (a PubMed baseline
                                             # file inflates to about 0.2-0.6 GiB)
MAX_RECORD_BYTES = 64 * 1024 * 1024          # one record between closing tags (PubMed's largest
                                             # are a few MB)
MAX_JSON_DEPTH = 500                         # real API answers nest fewer than 20 levels


class LimitExceeded(ValueError):
    """An input grew past one of the caps above; `cap` names it."""

    def __init__(self, message: str, cap: str):
        super().__init__(message)
        self.cap = cap


class Truncated(ValueError):
    """A compressed stream that ended before its end marker: the content is incomplete."""


class Inflater:
    """Decode a Content-Encoding (gzip, x-gzip, deflate; identity passes through) chunk by chunk,
    never producing more than `cap` bytes in all."""

    def __init__(self, encoding: str | None, cap: int, name: str = "input"):
        self.encoding = (encoding or "identity").strip().lower()
        if self.encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
            raise ValueError(f"{name}: unsupported content encoding {encoding!r}")
        self.cap, self.name, self.size = cap, name, 0
        self._decoder = None if self.encoding in ("identity", "") else self._new_decoder()
        self._started = False
        self._fed = 0  # compressed bytes seen: an empty body (a 304, a redirect) is no truncation

    def _new_decoder(self):
        # 47 = 32 + 15: a gzip or zlib header, detected; raw deflate is tried if that fails
        return zlib.decompressobj(47)

    def feed(self, data: bytes) -> bytes:
        if self._decoder is None:
            return self._count(data)
        out = []
        self._fed += len(data)
        while data:
            try:
                piece = self._decoder.decompress(data, self.cap - self.size + 1)
            except zlib.error as error:
                if self._started or self.encoding != "deflate":
                    raise Truncated(f"{self.name}: damaged compressed data: {error}") from None
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
                self._started = True
                continue
            self._started = True
            out.append(self._count(piece))
            if self._decoder.eof:
                rest = self._decoder.unused_data
                if rest.strip(b"\0"):
                    self._decoder = self._new_decoder()  # another gzip member follows
                data = rest if rest.strip(b"\0") else b""
            else:
                data = self._decoder.unconsumed_tail
        return b"".join(out)

    def finish(self) -> bytes:
        """The last bytes; raises Truncated when the compressed data ended too soon."""
        if self._decoder is None or not self._fed:
            return b""
        tail = self._count(self._decoder.flush())
        if not self._decoder.eof:
            raise Truncated(f"{self.name}: the compressed body ends before its end marker "
                            f"(cut off after {self.size} decompressed bytes)")
        return tail

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.cap:
            raise LimitExceeded(f"{self.name}: over the {self.cap}-byte cap after decompression",
                                "decompressed size")
        return data


def gunzip(data: bytes, name: str = "input", cap: int = MAX_INFLATED_BYTES) -> bytes:
    """A gzip payload decompressed, at most `cap` bytes; LimitExceeded or Truncated otherwise."""
    inflater = Inflater("gzip", cap, name)
    return inflater.feed(data) + inflater.finish()


class _Capped(io.RawIOBase):
    def __init__(self, stream, cap: int, name: str):
        self.stream, self.cap, self.name, self.size = stream, cap, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        self.size += len(data)
        if self.size > self.cap:
            raise LimitExceeded(f"{self.name}: over the {self.cap}-byte cap after decompression",
                                "decompressed size")
        buffer[:len(data)] = data
        return len(data)


def capped(stream, cap: int = MAX_STREAM_BYTES, name: str = "input") -> io.BufferedReader:
    """`stream` (a GzipFile, say) read through a counter: LimitExceeded past `cap` bytes."""
    return io.BufferedReader(_Capped(stream, cap, name), 1024 * 1024)


def load_json(data: bytes | str):
    """json.loads, with a document nested deeper than MAX_JSON_DEPTH (or than Python's recursion
    allows) raised as json.JSONDecodeError, which every caller already treats as "not JSON"."""
    if _depth_over(data, MAX_JSON_DEPTH):
        raise json.JSONDecodeError(f"nested more than {MAX_JSON_DEPTH} levels deep", "", 0)
    try:
        return json.loads(data)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply to read", "", 0) from None


_OPENERS = re.compile(rb"[\[{]")


def _depth_over(data: bytes | str, limit: int) -> bool:
    """A cheap upper bound: fewer than `limit` brackets in all means no nesting that deep;
    otherwise the nesting is measured, skipping strings."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(_OPENERS.findall(raw[: 1 << 20])) < limit and len(raw) <= 1 << 20:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


_DOCTYPE = re.compile(rb"<!DOCTYPE\b")


_WIDE = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe", "utf-16-le"),
         (b"\xfe\xff", "utf-16-be"), (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
         (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be"))


def strip_internal_subset(data: bytes) -> bytes:
    """`data` with the internal subset of its DOCTYPE (`[ <!ENTITY ...> ... ]`) removed, so that
    entity declarations, plain or external, never reach a parser; the DOCTYPE itself stays (an
    RSS 0.91 feed names its DTD there). UTF-16 and UTF-32 documents are handled in their own
    encoding; only the prolog is searched for the DOCTYPE."""
    for mark, codec in _WIDE:
        if data.startswith(mark):
            text = data.decode(codec, "surrogatepass")
            stripped = _strip_subset(text.encode("utf-8", "surrogatepass"))
            return data if len(stripped) == len(text.encode("utf-8", "surrogatepass")) else \
                stripped.decode("utf-8", "surrogatepass").encode(codec, "surrogatepass")
    return _strip_subset(data)


def _strip_subset(data: bytes) -> bytes:
    match = _DOCTYPE.search(data, 0, 4096)
    if not match:
        return data
    start = data.find(b"[", match.end())
    close = data.find(b">", match.end())
    if start < 0 or (0 <= close < start):
        return data  # no internal subset
    position, quote = start + 1, None
    while position < len(data):  # the subset ends at the first `]` outside quotes and comments
        byte = data[position:position + 1]
        if quote:
            if byte == quote:
                quote = None
        elif data.startswith(b"<!--", position):
            end = data.find(b"-->", position + 4)
            position = len(data) if end < 0 else end + 2
        elif byte in (b'"', b"'"):
            quote = byte
        elif byte == b"]":
            return data[:start] + data[position + 1:]
        position += 1
    return data[:start] + b">"  # an unterminated subset: drop it and whatever followed it
