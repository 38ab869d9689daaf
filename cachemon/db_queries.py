"""Count the SQL statements each request runs, as the Prometheus counter `flock_db_queries_total`.

The cache's whole point is that a warm page runs no SQL; this counter shows whether it does,
in production and in `make bench`. It is summed across Gunicorn workers by the multiprocess
collector behind `/metrics`. The label is the URL name of the view (a few dozen values at
most, never the path, which carries ids), `unresolved` for 404s and requests that never
reached a view.

Placed right after django-prometheus's before-middleware, so that the statements run by the
session and authentication middleware are counted too. Statements run while a streaming
response is iterated (after the middleware has returned) are not counted.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter

DB_QUERIES = Counter(
    "flock_db_queries",
    "SQL statements run while serving requests, by view (URL name).",
    ["view"],
)
UNRESOLVED = "unresolved"


class _Tally:
    """The execute wrapper: counts every statement (execute and executemany) on this connection."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)


def view_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or not match.url_name:
        return UNRESOLVED
    # Namespaced names (admin:index) stay low-cardinality and say which app served the request.
    return match.view_name


class DBQueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tally = _Tally()
        # `connection` is per thread, so with threaded workers each request counts only its own.
        try:
            with connection.execute_wrapper(tally):
                return self.get_response(request)
        finally:
            if tally.n:
                DB_QUERIES.labels(view_label(request)).inc(tally.n)
