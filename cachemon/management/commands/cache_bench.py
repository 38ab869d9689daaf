"""Measure the cache-aside helper: hit/miss cost on the configured cache, and what a slow
Redis costs a request with the breaker and without it.

    python manage.py cache_bench                  # hits and misses on the configured cache
    python manage.py cache_bench --slow-redis     # + a private redis-server put to sleep

The slow-Redis part starts its own redis-server on a free 127.0.0.1 port (never the
configured one), freezes it with DEBUG SLEEP and times lookups that each answer from
`fetch`: first with the breaker (the default), then with it disabled (cooldown 0, so every
request pays the socket timeout, which is what the breaker prevents).
"""

from __future__ import annotations

import copy
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.core.management.base import BaseCommand
from django.test import override_settings

from cachemon import cache_aside, counters, keys
from cachemon.breaker import breaker

BENCH_CHURCH = 10**9  # a church id no real tenant has: the bench never touches tenant keys


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _summary(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    return f"n={len(samples)} median={statistics.median(samples):.3f} ms p95={p95:.3f} ms max={samples[-1]:.3f} ms"


class Command(BaseCommand):
    help = "Time cache-aside hits/misses, and lookups against a slow Redis with and without the breaker."

    def add_arguments(self, parser):
        parser.add_argument("-n", type=int, default=500, help="lookups per measurement")
        parser.add_argument("--slow-redis", action="store_true", help="also measure a frozen private Redis")

    def handle(self, *args, n: int, slow_redis: bool, **options):
        backend = type(caches["default"]).__module__.split(".")[0]
        self.stdout.write(f"cache backend: {backend}")
        # Same cache, own key prefix: the bench's keys and counts never mix with the site's.
        conf = copy.deepcopy(settings.CACHES)
        conf["default"]["KEY_PREFIX"] = f"{conf['default'].get('KEY_PREFIX', '')}-bench"
        with override_settings(CACHES=conf):
            self._hits_and_misses(n)
        if slow_redis:
            self._slow_redis(min(n, 40))

    def _hits_and_misses(self, n: int) -> None:
        cache_aside.cached(keys.STATS, church_id=BENCH_CHURCH, parts=("bench",), fetch=lambda: {"x": 1}, ttl=60)
        hits = _timed(lambda: cache_aside.cached(keys.STATS, church_id=BENCH_CHURCH, parts=("bench",),
                                                 fetch=lambda: {"x": 1}, ttl=60), n)
        misses = []
        for i in range(n):
            started = time.perf_counter()
            cache_aside.cached(keys.STATS, church_id=BENCH_CHURCH, parts=("bench-miss", time.time_ns(), i),
                               fetch=lambda: {"x": 1}, ttl=5)
            misses.append((time.perf_counter() - started) * 1000)
        count = _timed(lambda: counters.count(keys.STATS, "hits"), n)
        with override_settings(CACHE_ASIDE=False):
            off = _timed(lambda: cache_aside.cached(keys.STATS, church_id=BENCH_CHURCH, parts=("bench",),
                                                    fetch=lambda: {"x": 1}, ttl=60), n)
        self.stdout.write(f"hit (incl. counting):  {_summary(hits)}")
        self.stdout.write(f"miss (fetch is free):  {_summary(misses)}")
        self.stdout.write(f"counters.count alone:  {_summary(count)}")
        self.stdout.write(f"CACHE_ASIDE=off:       {_summary(off)}")
        counters.flush(force=True)

    def _slow_redis(self, n: int) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        workdir = tempfile.mkdtemp(prefix="cache-bench-redis-")
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", workdir, "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            import redis

            probe = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            for _ in range(200):
                try:
                    probe.ping()
                    break
                except redis.RedisError:
                    time.sleep(0.02)
            url = f"redis://127.0.0.1:{port}/0"
            caches_conf = {
                "default": {
                    "BACKEND": "django_redis.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": "bench",
                    "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25, "IGNORE_EXCEPTIONS": False},
                },
                "sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            }
            for label, cooldown in (("with the breaker (cooldown 5 s)", 5.0), ("without a breaker", 0.0)):
                with override_settings(CACHES=caches_conf, CACHE_BREAKER_COOLDOWN=cooldown):
                    breaker.reset()
                    cache_aside.cached(keys.STATS, church_id=BENCH_CHURCH, parts=("slow",), fetch=lambda: 1, ttl=60)
                    freeze_for = 0.5 + n * 0.6  # longer than n timeouts
                    def freeze(seconds=freeze_for):
                        redis.Redis(host="127.0.0.1", port=port, socket_timeout=seconds + 10).execute_command(
                            "DEBUG", "SLEEP", str(seconds))

                    sleeper = threading.Thread(target=freeze)
                    sleeper.start()
                    time.sleep(0.2)
                    samples = _timed(lambda: cache_aside.cached(keys.STATS, church_id=BENCH_CHURCH, parts=("slow",),
                                                                fetch=lambda: 1, ttl=60), n)
                    self.stdout.write(f"frozen Redis, {label}: {_summary(samples)} total={sum(samples):.0f} ms")
                    sleeper.join()
                breaker.reset()
        finally:
            server.kill()
            server.wait()
            shutil.rmtree(workdir, ignore_errors=True)
            counters._pending.clear()  # the bench's own error counts stay out of the real figures
