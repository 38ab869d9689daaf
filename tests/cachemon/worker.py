"""A separate process doing cache-aside lookups, for the cross-process counter tests.

    worker.py <index> <n> <exit: atexit|worker_exit|idle>

Process `index` does, with church id 9000+index: n lookups of one STATS key (1 miss, n-1
hits), n lookups of distinct GROUPS keys (n misses), and counts n MEMBERS errors. It exits
either normally (the atexit flush) or like a Gunicorn worker: the worker_exit hook, then
os._exit (no atexit handlers run).
"""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "churchapp.settings")
sys.path.insert(0, os.getcwd())
django.setup()

from cachemon import cache_aside, counters, keys, prometheus  # noqa: E402

index, n, exit_mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if exit_mode == "idle":
    prometheus.on_worker_start()  # what post_worker_init does
church_id = 9000 + index
for k in range(n):
    cache_aside.cached(keys.STATS, church_id=church_id, parts=("summary",), fetch=lambda: "figures", ttl=300)
    cache_aside.cached(keys.GROUPS, church_id=church_id, parts=("page", k), fetch=lambda: [], ttl=300)
    counters.count(keys.MEMBERS, "errors")

if exit_mode == "worker_exit":
    prometheus.on_worker_exit()
    sys.stdout.flush()
    os._exit(0)

if exit_mode == "idle":
    # A Gunicorn worker that served its requests and then stays idle: killed without any
    # exit hook later. Its counts must reach the shared totals through the flusher thread.
    print("done", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
