"""Test support for cachemon: counting/failing cache proxies, a private redis-server, dead caches."""

from __future__ import annotations

import collections
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from django.conf import settings
from django.test import override_settings

BASE_DIR = Path(settings.BASE_DIR)


class CountingCache:
    """Wraps a cache backend; records every method called on it (and can make some fail)."""

    def __init__(self, cache, fail: set[str] | None = None) -> None:
        self._cache = cache
        self.calls: list[str] = []
        self.fail = set(fail or ())

    def __getattr__(self, name):
        attr = getattr(self._cache, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args, **kwargs):
            self.calls.append(name)
            if name in self.fail:
                raise ConnectionError(f"injected failure of {name}")
            return attr(*args, **kwargs)

        return call

    @property
    def counts(self) -> collections.Counter:
        return collections.Counter(self.calls)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_caches(url: str) -> dict:
    """CACHES with `default` on the given Redis (short timeouts, errors raised like in production)."""
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": settings.CACHE_KEY_PREFIX,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
                "IGNORE_EXCEPTIONS": False,
            },
        },
        "sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cachemon-tests"},
    }


def dead_redis_caches() -> dict:
    """`default` pointed at a port nothing listens on (connection refused at once)."""
    return redis_caches(f"redis://127.0.0.1:{free_port()}/0")


class RedisServer:
    """A private redis-server on a free 127.0.0.1 port, for tests that kill or slow it down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="flock-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client(socket_timeout=0.5).ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("private redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _worker_env(env: dict | None) -> dict:
    # The workers must use this test run's cache: same var dir and key prefix as our settings
    # (taken from the settings actually loaded, not from the environment).
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "churchapp.settings",
        "FLOCK_VAR_DIR": str(settings.VAR_DIR),
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        **(env or {}),
    }


def start_worker(argv: list[str], env: dict | None = None, **popen) -> subprocess.Popen:
    """Start tests/cachemon/worker.py with `argv` (see its docstring)."""
    script = str(Path(__file__).with_name("worker.py"))
    return subprocess.Popen([sys.executable, script, *argv], cwd=BASE_DIR, env=_worker_env(env), text=True,
                            **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen})


def run_workers(argvs: list[list[str]], env: dict | None = None) -> list[int]:
    """Run tests/cachemon/worker.py once per argv, all at the same time; return their pids."""
    procs = [start_worker(argv, env) for argv in argvs]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise AssertionError(f"worker failed ({proc.returncode}): {err[-2000:]}")
    return [proc.pid for proc in procs]


# FlockTestCase creates four users per class: with the production hasher that is seconds of
# PBKDF2 per class on this machine, and these tests are about the cache, not passwords.
fast_passwords = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
