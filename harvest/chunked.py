"""Parse a large XML record set on every core, in order and in bounded memory.

The byte stream is cut just after record closing tags (`</PubmedArticle>` and the like: such
text cannot occur unescaped inside a record), each piece is made a document of its own by
re-opening and re-closing the root element, and worker processes parse the pieces. Records come
back in file order; only a few pieces are ever held at once.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, islice
from typing import IO, Callable, Iterator

PIECE_BYTES = 1024 * 1024  # measured: smaller pieces kept both cores busier, in less memory
PARALLEL_AFTER = 8  # fewer pieces than this are parsed in this process: not worth a pool


@dataclass
class Piece:
    data: bytes
    first_record: int  # how many records came before this piece
    records: int


def split_at_records(stream: IO[bytes], end_tags: tuple[bytes, ...], root: bytes,
                     piece_bytes: int | None = None) -> Iterator[Piece]:
    """Pieces of `stream`, each a well-formed document if the input is (the first keeps the
    prolog, the last the closing root tag); a damaged input stays damaged for the parser."""
    piece_bytes = piece_bytes or PIECE_BYTES
    opening, closing = b"<" + root + b">", b"</" + root + b">"
    buffer, seen, first = b"", 0, True
    blocks = _read_ahead(stream, piece_bytes)
    while True:
        data = next(blocks)
        buffer += data
        cut = max(_end_of_last(buffer, tag) for tag in end_tags)
        if data and not cut:
            continue
        if not data:
            cut = len(buffer)
        body, buffer = buffer[:cut], buffer[cut:]
        records = sum(body.count(tag) for tag in end_tags)
        last = not data
        yield Piece((b"" if first else opening) + body + (b"" if last else closing), seen, records)
        seen += records
        first = False
        if last:
            return


def _read_ahead(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """Blocks of `stream`, read (and so decompressed) by a thread one block ahead of the
    consumer, then b"" for ever. zlib lets go of the GIL, so this overlaps with parsing."""
    blocks: queue.Queue = queue.Queue(maxsize=1)

    def read() -> None:
        try:
            while True:
                data = stream.read(size)
                blocks.put(data)
                if not data:
                    return
        except BaseException as error:  # handed to the consumer, raised there
            blocks.put(error)

    threading.Thread(target=read, daemon=True).start()
    while True:
        data = blocks.get()
        if isinstance(data, BaseException):
            raise data
        yield data
        if not data:
            while True:
                yield b""


def _end_of_last(buffer: bytes, tag: bytes) -> int:
    """Offset just after the last `tag` in `buffer`, or 0."""
    found = buffer.rfind(tag)
    return found + len(tag) if found >= 0 else 0


def parse_pieces(pieces: Iterator[Piece], parse_piece: Callable, name: str,
                 workers: int | None = None) -> Iterator:
    """`parse_piece(data, name, first_record)` of each piece, in order: in worker processes
    for a large input (so it must be a module-level function), in this one for a small one."""
    workers = workers or os.cpu_count() or 1
    head = list(islice(pieces, PARALLEL_AFTER))
    if workers == 1 or len(head) < PARALLEL_AFTER:
        for piece in chain(head, pieces):
            yield parse_piece(piece.data, name, piece.first_record)
        return
    pieces = chain(head, pieces)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for piece in pieces:
            pending.append(pool.submit(parse_piece, piece.data, name, piece.first_record))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
