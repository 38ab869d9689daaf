"""A private redis-server that we kill, restart and put to sleep (DEBUG SLEEP): the helper keeps
answering, counts and logs once, spares requests while the breaker is open, and recovers."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.cache import caches
from django.test import override_settings

from cachemon import cache_aside, counters, keys
from cachemon.breaker import CLOSED, breaker
from tests.base import FlockTestCase

from .support import RedisServer, fast_passwords, redis_caches
from .test_outage import Fetch, counting


@pytest.mark.slow
@fast_passwords
class PrivateRedisOutageTestCase(FlockTestCase):
    """A redis-server of our own that we kill, restart and put to sleep (DEBUG SLEEP)."""

    def setUp(self):
        self.server = RedisServer()
        self.server.start()
        self.addCleanup(self.server.cleanup)
        self.settings_override = override_settings(CACHES=redis_caches(self.server.url), CACHE_BREAKER_COOLDOWN=60)
        self.settings_override.enable()
        self.addCleanup(self.settings_override.disable)

    def lookup(self, fetch):
        return cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",), fetch=fetch, ttl=60)

    def test_it_survives_a_killed_redis_and_recovers_after_the_cooldown(self):
        self.assertEqual(self.lookup(Fetch("v1")), "v1")
        self.assertEqual(self.lookup(Fetch("unused")), "v1")  # a hit

        self.server.stop()
        fetch = Fetch("from-db")
        proxy, patch = counting(caches["default"])
        with patch, self.assertLogs("cachemon", "ERROR") as errors:
            for _ in range(5):
                self.assertEqual(self.lookup(fetch), "from-db")
        self.assertEqual((fetch.calls, len(proxy.calls), len(errors.records)), (5, 1, 1))

        self.server.start()  # same port, empty
        with override_settings(CACHE_BREAKER_COOLDOWN=0.05), self.assertLogs("cachemon", "WARNING") as recovered:
            breaker.record_failure(ConnectionError("still down"))  # re-arm with the short cooldown
            time.sleep(0.1)
            self.assertEqual(self.lookup(Fetch("v2")), "v2")  # the trial: a miss, stored
        self.assertEqual(breaker.state, CLOSED)
        self.assertEqual([r.getMessage() for r in recovered.records if r.levelname == "WARNING"],
                         ["cache recovered; reads use the cache again"])
        self.assertEqual(self.lookup(Fetch("unused")), "v2")  # served from Redis again

        # The outage's errors were kept in-process and reached the restarted server (the counts
        # flushed before the kill lived in that server's memory, gone with it: no persistence).
        self.assertEqual(counters.totals()[keys.STATS]["errors"], 5)

    def test_it_survives_a_slow_redis(self):
        self.assertEqual(self.lookup(Fetch("v1")), "v1")
        # The server sleeps longer than the request's socket timeouts (and any client retry).
        sleeper = threading.Thread(target=lambda: self.server.client(socket_timeout=30).execute_command("DEBUG", "SLEEP", "3"))
        sleeper.start()
        self.addCleanup(sleeper.join)
        time.sleep(0.2)  # let DEBUG SLEEP begin

        fetch = Fetch("from-db")
        proxy, patch = counting(caches["default"])
        with patch, self.assertLogs("cachemon", "ERROR") as errors:
            for _ in range(5):
                self.assertEqual(self.lookup(fetch), "from-db")
        self.assertEqual((fetch.calls, len(proxy.calls), len(errors.records)), (5, 1, 1))
        self.assertIn("Timeout", breaker.last_error)

        sleeper.join()
        with override_settings(CACHE_BREAKER_COOLDOWN=0.05), self.assertLogs("cachemon", "WARNING"):
            breaker.record_failure(TimeoutError("slow"))
            time.sleep(0.1)
            self.assertEqual(self.lookup(Fetch("unused")), "v1")  # the value survived: a hit
        self.assertEqual(breaker.state, CLOSED)
