"""Pure parsers of formats: bytes in, records out."""

from __future__ import annotations

import json
from typing import Iterable, Iterator


def json_objects(lines: Iterable[str]) -> Iterator[tuple[int, dict | None, str | None]]:
    """JSON Lines (https://jsonlines.org), one object a line: (line number from 1, the object,
    None), or (number, None, what is wrong) for a line that is not a JSON object. Blank lines
    are passed over."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            yield number, None, str(error)
            continue
        if isinstance(row, dict):
            yield number, row, None
        else:
            yield number, None, f"a JSON {type(row).__name__}, not an object"
