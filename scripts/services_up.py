"""Exit 0 when the PostgreSQL and Redis behind the given URLs answer, 1 (with the reason) otherwise."""

import sys
from urllib.parse import urlparse

import psycopg
import redis


def main(database_url: str, redis_url: str) -> int:
    ok = True
    db = urlparse(database_url)
    try:
        # Connect to the maintenance database: the test database is created by the tests.
        psycopg.connect(host=db.hostname, port=db.port or 5432, user=db.username, password=db.password,
                        dbname="postgres", connect_timeout=3).close()
    except Exception as exc:
        print(f"PostgreSQL at {db.hostname}:{db.port} is not answering: {exc}", file=sys.stderr)
        ok = False
    try:
        redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:
        print(f"Redis at {redis_url} is not answering: {exc}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
