"""The evidence base is read-only for everyone: any request that is not GET, HEAD or OPTIONS is
answered 405 before it reaches Datasette (which would otherwise fail on a POST to a table)."""

from datasette import hookimpl

READING = {"GET", "HEAD", "OPTIONS"}


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def read_only(scope, receive, send):
            if scope["type"] == "http" and scope["method"] not in READING:
                body = b"This evidence base is read-only: only GET and HEAD requests are answered.\n"
                await send({"type": "http.response.start", "status": 405,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", b"GET, HEAD, OPTIONS"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await app(scope, receive, send)
        return read_only
    return wrap
