"""The task worker of each app host (`manage.py run_worker`: tasks and the periodic scheduler).

Starts: one `python manage.py run_worker` per app host, with that host's environment and var/
directory, in the foreground. The command comes with the messaging work (the `jobs` app);
until it exists here this component is skipped with a notice, and the topology has no
`worker` entries. Periodic jobs run exactly once per period across both hosts' schedulers
(the jobs app's guard), which is why every host may run one.
Stopped by: SIGTERM to its pid (the worker finishes the task in hand, then exits), SIGKILL
after 60 s.
"""

from __future__ import annotations

from topology import APP_HOSTS, PYTHON, ROOT, Cluster, Component, spawn

import app_host


def available() -> bool:
    """Does some app of this checkout provide `manage.py run_worker`?"""
    return any(ROOT.glob("*/management/commands/run_worker.py"))


def start(cluster: Cluster) -> list[Component]:
    if not available():
        print("worker: skipped: `manage.py run_worker` does not exist in this checkout yet "
              "(it comes with the jobs app); the app hosts run without a task worker", flush=True)
        return []
    components = []
    for name in APP_HOSTS:
        log = cluster.dir / "logs" / f"worker-{name}.log"
        proc = spawn([PYTHON, "manage.py", "run_worker"], log=log, env=app_host.host_env(cluster, name), cwd=ROOT)
        # A worker has no port to wait for: its heartbeats (the jobs app's table) say it is up.
        if proc.poll() is not None:
            raise RuntimeError(f"the worker of {name} exited at once ({proc.returncode}); see {log}")
        components.append(Component(name=f"worker-{name}", role="worker", port=0, pid=proc.pid, log=str(log),
                                    program="run_worker", stop_signal="SIGTERM", stop_timeout=60, proc=proc))
    return components
