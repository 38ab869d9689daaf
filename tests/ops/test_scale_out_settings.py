"""The scale-out settings (docs/scale-out.md), each read in a fresh process as an app host would.

- DB_PGBOUNCER=on: nothing that outlives a transaction (no server-side cursors, no prepared
  statements, no startup `options`), connections still persistent and health-checked.
- DATABASE_REPLICA_URL: a `replica` alias with the router; unset, neither exists.
- REDIS_SENTINELS + REDIS_SENTINEL_MASTER: django-redis's Sentinel client for the cache and the
  sessions, reads and writes to the primary only; half-configured, a clear refusal.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.test import SimpleTestCase

from tests.ops import procs

BASE_DIR = Path(__file__).resolve().parents[2]
PROBE = r"""
import json
from django.conf import settings
db = settings.DATABASES
print(json.dumps({
    "aliases": sorted(db),
    "routers": settings.DATABASE_ROUTERS,
    "default": {k: db["default"].get(k) for k in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS", "OPTIONS", "PORT")},
    "replica": {k: db["replica"].get(k) for k in ("OPTIONS", "PORT", "TEST", "DISABLE_SERVER_SIDE_CURSORS")} if "replica" in db else None,
    "caches": {a: {"LOCATION": c["LOCATION"], **{k: c.get("OPTIONS", {}).get(k) for k in ("CLIENT_CLASS", "CONNECTION_FACTORY", "SENTINELS", "SENTINEL_KWARGS")}} for a, c in settings.CACHES.items()},
}, default=str))
"""
PG = "postgres://postgres@127.0.0.1:18410/flock"
REPLICA = "postgres://postgres@127.0.0.1:18412/flock"


@procs.once
class ScaleOutSettingsTestCase(SimpleTestCase):
    def settings_with(self, **env: str) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if k not in (
            "DATABASE_URL", "REDIS_URL", "DATABASE_REPLICA_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER",
            "DB_PGBOUNCER", "DISABLE_SERVER_SIDE_CURSORS")}
        clean.update(FLOCK_VAR_DIR=tempfile.mkdtemp(prefix="flock-settings-"), DJANGO_SETTINGS_MODULE="churchapp.settings",
                     **env)
        return subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + PROBE], cwd=BASE_DIR,
                              env=clean, capture_output=True, text=True, timeout=60)

    def read(self, **env: str) -> dict:
        result = self.settings_with(**env)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def refusal(self, **env: str) -> str:
        result = self.settings_with(**env)
        self.assertNotEqual(result.returncode, 0, result.stdout)
        return result.stderr.strip().splitlines()[-1]

    def test_it_keeps_nothing_across_transactions_behind_pgbouncer(self):
        db = self.read(DATABASE_URL=PG, DB_PGBOUNCER="on")["default"]
        self.assertIs(db["DISABLE_SERVER_SIDE_CURSORS"], True)
        self.assertIn("prepare_threshold", db["OPTIONS"])
        self.assertIsNone(db["OPTIONS"]["prepare_threshold"])
        self.assertNotIn("options", db["OPTIONS"])  # PgBouncer refuses startup options
        self.assertEqual((db["CONN_MAX_AGE"], db["CONN_HEALTH_CHECKS"]), (600, True))

    def test_it_talks_to_postgresql_directly_as_before_without_pgbouncer(self):
        db = self.read(DATABASE_URL=PG)["default"]
        self.assertIs(db["DISABLE_SERVER_SIDE_CURSORS"], False)
        self.assertEqual(db["OPTIONS"]["options"], "-c jit=off")

    def test_it_adds_the_replica_and_its_router_only_when_asked(self):
        plain = self.read(DATABASE_URL=PG)
        self.assertEqual((plain["aliases"], plain["routers"], plain["replica"]), (["default"], [], None))
        both = self.read(DATABASE_URL=PG, DB_PGBOUNCER="on", DATABASE_REPLICA_URL=REPLICA)
        self.assertEqual(both["aliases"], ["default", "replica"])
        self.assertEqual(both["routers"], ["churchapp.routers.ReplicaRouter"])
        replica = both["replica"]
        self.assertEqual(replica["PORT"], 18412)
        self.assertEqual(replica["TEST"]["MIRROR"], "default")
        self.assertEqual(replica["OPTIONS"]["connect_timeout"], 1)
        # Direct to the replica (not through PgBouncer): the export may stream from a named cursor.
        self.assertIs(replica["DISABLE_SERVER_SIDE_CURSORS"], False)

    def test_it_refuses_a_replica_of_the_embedded_database(self):
        self.assertIn("DATABASE_REPLICA_URL needs DATABASE_URL to be PostgreSQL", self.refusal(DATABASE_REPLICA_URL=REPLICA))

    def test_it_reaches_redis_through_the_sentinels_for_cache_and_sessions(self):
        caches = self.read(REDIS_SENTINELS="127.0.0.1:18430, 127.0.0.1:18431,127.0.0.1:18432",
                           REDIS_SENTINEL_MASTER="flock")["caches"]
        self.assertEqual(set(caches), {"default", "sessions"})
        for cache in caches.values():
            # One location, the primary: never a read from a lagging Redis replica.
            self.assertEqual(cache["LOCATION"], ["redis://flock/0?is_master=1"])
            self.assertEqual(cache["CLIENT_CLASS"], "django_redis.client.SentinelClient")
            self.assertEqual(cache["CONNECTION_FACTORY"], "django_redis.pool.SentinelConnectionFactory")
            self.assertEqual(cache["SENTINELS"], [["127.0.0.1", 18430], ["127.0.0.1", 18431], ["127.0.0.1", 18432]])
            self.assertEqual(cache["SENTINEL_KWARGS"], {"socket_timeout": 0.25, "socket_connect_timeout": 0.25})

    def test_it_refuses_half_a_sentinel_configuration(self):
        self.assertIn("REDIS_SENTINEL_MASTER", self.refusal(REDIS_SENTINELS="127.0.0.1:18430"))
        self.assertIn("host:port", self.refusal(REDIS_SENTINELS="127.0.0.1", REDIS_SENTINEL_MASTER="flock"))
        self.assertIn("not both", self.refusal(REDIS_SENTINELS="127.0.0.1:18430", REDIS_SENTINEL_MASTER="flock",
                                               REDIS_URL="redis://127.0.0.1:6379/0"))
