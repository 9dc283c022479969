"""Datasette's own CSV export (`.csv`, `?_format=csv`, streamed or not) with formula cells
neutralised: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (and is not a
plain number) gets a leading `'`, so a spreadsheet shows the text instead of running it
(`harvest.escape.csv_cell`).

Datasette 0.65 has no hook into its CSV writer, so this wraps the ASGI app: the body of a CSV
answer is read record by record (a record ends at a line break outside quotes) and written again
with the same dialect, cells passed through `csv_cell`; everything else is untouched.
"""

import codecs
import csv
import io

from datasette import hookimpl

from harvest.escape import csv_cell

CSV_TYPES = (b"text/csv", b"text/plain")


def _is_csv_request(scope) -> bool:
    query = scope.get("query_string", b"")
    return scope["type"] == "http" and (scope["path"].endswith(".csv") or b"_format=csv" in query)


def _records_end(text: str) -> int:
    """Where the last complete CSV record in `text` ends (0 when there is none yet). Every quote
    toggles being inside a quoted cell (an escaped `""` toggles twice), so a text that ends in a
    line break after an even number of quotes is all complete records: Datasette's usual piece."""
    if text.endswith("\n") and text.count('"') % 2 == 0:
        return len(text)
    quoted, end = False, 0
    for position, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == "\n" and not quoted:
            end = position + 1
    return end


class CsvCells:
    """Rewrites a CSV text given in pieces of any size: `feed(bytes)` returns the records completed so
    far with their cells neutralised, `close()` the rest."""

    def __init__(self):
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""

    def _rewrite(self, text: str) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)  # Datasette writes with csv.writer's defaults too
        for row in csv.reader(io.StringIO(text, newline="")):
            writer.writerow([csv_cell(cell) for cell in row])
        return out.getvalue().encode("utf-8")

    def feed(self, data: bytes) -> bytes:
        self.pending += self.decoder.decode(data)
        end = _records_end(self.pending)
        done, self.pending = self.pending[:end], self.pending[end:]
        return self._rewrite(done) if done else b""

    def close(self) -> bytes:
        rest, self.pending = self.pending + self.decoder.decode(b"", final=True), ""
        return self._rewrite(rest) if rest else b""


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def neutralised(scope, receive, send):
            if not _is_csv_request(scope):
                await app(scope, receive, send)
                return
            cells = None

            async def rewriting_send(message):
                nonlocal cells
                if message["type"] == "http.response.start":
                    headers = dict(message.get("headers") or [])
                    if message["status"] == 200 and headers.get(b"content-type", b"").startswith(CSV_TYPES):
                        cells = CsvCells()
                        message = {**message, "headers": [(k, v) for k, v in message.get("headers") or []
                                                          if k.lower() != b"content-length"]}
                elif message["type"] == "http.response.body" and cells is not None:
                    body = cells.feed(message.get("body", b""))
                    if not message.get("more_body"):
                        body += cells.close()
                    message = {**message, "body": body}
                await send(message)
            await app(scope, receive, rewriting_send)
        return neutralised
    return wrap
