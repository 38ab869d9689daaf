"""`make cluster-stop`: stop every process of var/cluster/topology.json, by its pid.

Each component is sent its own stop signal (the one its script documents: SIGUSR1 for HAProxy,
SIGTERM for Gunicorn, PgBouncer and Redis, SIGINT for PostgreSQL), in reverse order of
starting, and SIGKILLed if it has not exited in time. A pid that no longer runs the program
recorded for it is left alone (pids are reused). The data (PostgreSQL's) stays in var/cluster/.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from topology import Cluster, read_topology  # noqa: E402


def main() -> int:
    cluster = Cluster.from_env()
    if not cluster.topology_file.exists():
        print(f"cluster: not running (no {cluster.topology_file})")
        return 0
    for component in reversed(read_topology(cluster.topology_file)):
        if component.alive():
            print(f"cluster: stopping {component.name} (pid {component.pid}, {component.stop_signal})", flush=True)
            component.stop()
        else:
            print(f"cluster: {component.name} (pid {component.pid}) was not running")
    cluster.topology_file.unlink()
    print("cluster: stopped (data kept in var/cluster/; remove that directory to start afresh)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
