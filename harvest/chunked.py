"""Parse a large XML record set on every core, in order and in bounded memory.

The byte stream is cut just after record closing tags (`</PubmedArticle>` and the like: such
text cannot occur unescaped inside a record), each piece is made a document of its own by
re-opening and re-closing the root element, and worker processes parse the pieces. Records come
back in file order; only a few pieces are ever held at once. Workers hold no inherited file
(not the harvest lock) and die with the process that started them.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice
from typing import IO, Callable, Iterator

from .limits import MAX_RECORD_BYTES, LimitExceeded

PIECE_BYTES = 1024 * 1024  # measured: smaller pieces kept both cores busier, in less memory
PARALLEL_AFTER = 8  # fewer pieces than this are parsed in this process: not worth a pool
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


@dataclass
class Piece:
    data: bytes
    first_record: int  # how many records came before this piece
    records: int


def split_at_records(stream: IO[bytes], end_tags: tuple[bytes, ...], root: bytes,
                     piece_bytes: int | None = None,
                     max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Piece]:
    """Pieces of `stream`, each a well-formed document if the input is (the first keeps the
    prolog, the last the closing root tag); a damaged input stays damaged for the parser.
    Each block is searched once (linear time); more than `max_record_bytes` with no end tag
    raises LimitExceeded."""
    piece_bytes = piece_bytes or PIECE_BYTES
    opening, closing = b"<" + root + b">", b"</" + root + b">"
    buffer, seen, first = bytearray(), 0, True
    longest = max(map(len, end_tags))
    blocks = _read_ahead(stream, piece_bytes)
    while True:
        data = next(blocks)
        searched = max(0, len(buffer) - longest + 1)  # what came before was searched already
        buffer += data
        cut = max(_end_of_last(buffer, tag, searched) for tag in end_tags)
        if data and not cut:
            if len(buffer) > max_record_bytes:
                raise LimitExceeded(f"no record ends within {max_record_bytes} bytes (after {seen} "
                                    "complete records): the input is damaged or not record by record",
                                    "record size")
            continue
        if not data:
            cut = len(buffer)
        records = sum(buffer.count(tag, 0, cut) for tag in end_tags)
        last = not data
        with memoryview(buffer) as view:  # one copy of the body, straight into the piece
            piece = b"".join((b"" if first else opening, view[:cut], b"" if last else closing))
        del buffer[:cut]
        yield Piece(piece, seen, records)
        seen += records
        first = False
        if last:
            return


def _read_ahead(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """Blocks of `stream`, read (and so decompressed) by a thread one block ahead of the
    consumer, then b"" for ever. zlib lets go of the GIL, so this overlaps with parsing.
    A consumer that stops early (closes this generator, or drops it) stops the thread, which
    lets go of the stream after at most the block it is reading."""
    blocks: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item) -> None:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def read() -> None:
        try:
            while not stop.is_set():
                data = stream.read(size)
                hand_over(data)
                if not data:
                    return
        except BaseException as error:  # handed to the consumer, raised there
            hand_over(error)

    reader = threading.Thread(target=read, name="read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            data = blocks.get()
            if isinstance(data, BaseException):
                raise data
            yield data
            if not data:
                while True:
                    yield b""
    finally:
        stop.set()
        reader.join()


def _end_of_last(buffer: bytes, tag: bytes, start: int = 0) -> int:
    """Offset just after the last `tag` in `buffer[start:]`, or 0."""
    found = buffer.rfind(tag, start)
    return found + len(tag) if found >= 0 else 0


def parse_pieces(pieces: Iterator[Piece], parse_piece: Callable, name: str,
                 workers: int | None = None, prepare: Callable | None = None) -> Iterator:
    """`parse_piece(data, name, first_record)` of each piece, in order: in worker processes
    for a large input (so it must be a module-level function), in this one for a small one or
    for `workers=1`.

    Given `prepare`, parse_piece gets `prepare(data)` instead of the piece's bytes (run where
    parse_piece runs)."""
    workers = workers or os.cpu_count() or 1
    head: list[Piece] = []
    try:
        head.extend(islice(pieces, PARALLEL_AFTER))
    except Exception:  # damage (a cap hit) early in the input: what came before it still counts
        yield from _here(iter(head), parse_piece, name, prepare)
        raise
    if workers == 1 or len(head) < PARALLEL_AFTER:
        yield from _here(chain(head, pieces), parse_piece, name, prepare)
        return
    pieces = chain(head, pieces)
    parse_piece = partial(_pickled, parse_piece, prepare)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_start, initargs=(os.getpid(),)) as pool:
        pending: deque = deque()
        try:
            for piece in pieces:
                pending.append(pool.submit(parse_piece, piece.data, name, piece.first_record))
                if len(pending) >= 2 * workers:
                    yield uncollected(pickle.loads, pending.popleft().result())
        except Exception:  # damage found while splitting: the pieces before it still count
            while pending:
                yield uncollected(pickle.loads, pending.popleft().result())
            raise
        while pending:
            yield uncollected(pickle.loads, pending.popleft().result())


def _here(pieces: Iterator[Piece], parse_piece: Callable, name: str, prepare: Callable | None) -> Iterator:
    """parse_pieces in this process."""
    for piece in pieces:
        prepared = piece.data if prepare is None else prepare(piece.data)
        yield uncollected(parse_piece, prepared, name, piece.first_record)


def _pickled(parse_piece: Callable, prepare: Callable | None, data: bytes, *args) -> bytes:
    """Worker side: `parse_piece(prepare(data), *args)` pickled here, so that the parent unpickles it with the
    cycle collector paused (see `uncollected`), not in the pool's own thread with it running:
    measured on a PubMed baseline file, the collector tripled the parent's unpickling time."""
    prepared = data if prepare is None else prepare(data)
    return pickle.dumps(uncollected(parse_piece, prepared, *args), pickle.HIGHEST_PROTOCOL)


def uncollected(function: Callable, *args):
    """`function(*args)` with Python's cycle collector paused. A parsed piece is thousands of
    small dicts and lists that hold no cycles, which the collector would walk again and again as
    they pile up (measured on a PubMed baseline file: about a quarter of the parse time);
    reference counting still frees all of it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return function(*args)
    finally:
        if enabled:
            gc.enable()


def _worker_start(parent: int) -> None:
    """Set up a parse worker. Workers are started with `spawn`, so they inherit no open file
    (the harvest lock above all), and on Linux they are killed when the process that started
    them dies, even by SIGKILL (PR_SET_PDEATHSIG); a worker whose parent is already gone exits."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: workers still end when the pool's pipe to them closes
    if os.getppid() != parent:
        os._exit(1)
