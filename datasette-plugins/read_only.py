"""The evidence base is read-only for everyone: any request that is not GET, HEAD or OPTIONS is
answered 405 before it reaches Datasette (which would otherwise fail on a POST to a table)."""

from datasette import hookimpl

from harvest.serve import send_text

READING = {"GET", "HEAD", "OPTIONS"}


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def read_only(scope, receive, send):
            if scope["type"] == "http" and scope["method"] not in READING:
                return await send_text(send, 405, "This evidence base is read-only: only GET and HEAD requests "
                                                  "are answered.\n", ((b"allow", b"GET, HEAD, OPTIONS"),))
            await app(scope, receive, send)
        return read_only
    return wrap
