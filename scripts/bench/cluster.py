"""`make bench-cluster`: what the multi-host topology costs and buys, measured on its own topology.

    make bench-cluster          # or: .venv/bin/python scripts/bench/cluster.py [--quick]

Starts the `make cluster` components (scripts/cluster/) on free 127.0.0.1 ports in
var/bench-cluster/ (fsync off; synchronous commit on), seeds one church of BENCH_CLUSTER_MEMBERS
members (+ two small ones), then measures:

A. The staff mix of `make bench` (scripts/bench/run.py MIX, cache warm) through HAProxy with
   both app hosts, and with one (app-b disabled in HAProxy), alternated; with every process's
   CPU time over the run (on 2 cores the load generator shares them with everything else).
B. PgBouncer vs direct connections: one Gunicorn host, the same mix with the cache off (every
   request reaches PostgreSQL), with persistent connections and with one per request
   (DB_CONN_MAX_AGE=0), and how many server connections the primary held.
C. A dashboard miss (the four aggregate queries) on the replica vs on the primary, quiet and
   while CSV imports write to the primary through the balancer; which database the
   lag-tolerant read actually used.
Writes docs/bench/cluster.md, docs/bench/cluster.json and the "Cluster" section of
docs/benchmarks.md. Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts" / "cluster"))

import common  # noqa: E402
import loadgen  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
import run as staff_mix  # noqa: E402
import topology  # noqa: E402
import up  # noqa: E402
import haproxy  # noqa: E402

VAR = ROOT / "var" / "bench-cluster"
DOCS = ROOT / "docs"
PASSWORD = "flock-bench-cluster"
SECTION_START, SECTION_END = "<!-- cluster-bench -->", "<!-- /cluster-bench -->"
TICK = os.sysconf("SC_CLK_TCK")
LOADGEN = "load generator (wrk)"


def log(msg: str) -> None:
    print(f"[bench-cluster {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- CPU time per process (tree) ---------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(pid: int, tree: dict[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime of the process (all threads)


def _machine_busy() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


class CpuMeter:
    """CPU seconds of each named process tree over a measurement, and of the whole machine."""

    def __init__(self, roots: dict[str, list[int]]) -> None:
        self.roots = roots

    def _sample(self) -> dict[str, dict[int, float]]:
        tree = _children()
        out = {name: {p: _cpu(p) for pid in pids for p in _tree(pid, tree)} for name, pids in self.roots.items()}
        # This process started the topology (its components are its descendants): the load
        # generator is this process itself and the wrk runs it has waited for (reaped children).
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out[LOADGEN] = {os.getpid(): _cpu(os.getpid()), 0: children.ru_utime + children.ru_stime}
        return out

    def __enter__(self) -> CpuMeter:
        self.t0, self.machine0, self.before = time.monotonic(), _machine_busy(), self._sample()
        return self

    def __exit__(self, *exc) -> None:
        after = self._sample()
        self.wall = time.monotonic() - self.t0
        self.seconds = {name: sum(v - self.before[name].get(p, 0.0) for p, v in procs_.items())
                        for name, procs_ in after.items()}
        self.machine = _machine_busy() - self.machine0
        self.seconds["other processes of the machine"] = max(0.0, self.machine - sum(self.seconds.values()))

    def shares(self) -> dict[str, float]:
        """Cores used by each, on average over the run (2.0 = both cores of this machine)."""
        return {name: s / self.wall for name, s in self.seconds.items()}


# --- the topology and its data -----------------------------------------------------------------
def start_topology(members: int) -> tuple[topology.Cluster, list[topology.Component], dict]:
    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    VAR.chmod(0o755)
    # Workers must not be recycled during a run: a worker that exits takes its CPU time with it.
    cluster = topology.Cluster.on_free_ports(VAR, fsync=False, app_env={"GUNICORN_MAX_REQUESTS": "0"})
    components = up.start(cluster, seed=False, say=log)
    env = cluster.django_env(var_dir=VAR / "manage", direct=True)
    log(f"seeding one church of {members:,} members and two small ones")
    out = topology.run([topology.PYTHON, "manage.py", "seed_demo", "--churches", "1", "--members", str(members),
                        "--password", PASSWORD, "--seed", "1"], env=env, timeout=1800)
    out += topology.run([topology.PYTHON, "manage.py", "seed_demo", "--churches", "2", "--members", "2000",
                         "--password", PASSWORD, "--seed", "2"], env=env, timeout=600)
    staff = [line.split()[1] for line in out.splitlines() if line.startswith("account:") and line.endswith("staff")]
    return cluster, components, {"big": staff[0], "small": staff[1]}


def sql(cluster: topology.Cluster, name: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(host=topology.HOST, port=cluster.ports[name], user="postgres", dbname=topology.DATABASE,
                         autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def targets(cluster: topology.Cluster, staff: str) -> dict:
    """What the staff mix visits in the big church (as run.py's discover, from the database)."""
    church = sql(cluster, "pg-primary", "SELECT church_id FROM members_user WHERE username = %s", (staff,))[0][0]
    ids = [r[0] for r in sql(cluster, "pg-primary", "SELECT id FROM members_member WHERE church_id = %s ORDER BY id",
                             (church,))]
    member_ids = ids[:: max(1, len(ids) // 100)][:100]
    names = [r[0] for r in sql(cluster, "pg-primary", "SELECT last_name FROM members_member WHERE id = ANY(%s)",
                               (member_ids[::8],))]
    terms = sorted({n.strip()[:4].lower() for n in names if len(n.strip()) >= 4})[:12] or ["smit"]
    groups = [r[0] for r in sql(cluster, "pg-primary", "SELECT id FROM members_group WHERE church_id = %s AND NOT "
                                                       "archived ORDER BY id LIMIT 20", (church,))]
    return {"church_id": church, "member_ids": member_ids, "group_ids": groups, "terms": terms}


MIX_LUA = HERE / "mix.lua"


def mix_file(cluster, staff: str, seed: int) -> Path:
    """The staff mix of `make bench` (run.py MIX) as a file of request paths for mix.lua."""
    path = VAR / f"mix-{seed}.txt"
    path.write_text("".join(p + "\n" for _, p in staff_mix.mix_sequence(targets(cluster, staff), 20_000, seed=seed)))
    return path


def mix(wrk: str, port: int, cookies: dict, paths: Path, clients: int, seconds: float) -> dict:
    """wrk sending the mix for `seconds` over `clients` keep-alive connections (2 threads)."""
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return loadgen.run_wrk(wrk, port, "/", duration=int(seconds), connections=clients, threads=2, cookie=cookie,
                           script=MIX_LUA, env={"FLOCK_MIX_FILE": str(paths)})


def roots(components: list[topology.Component]) -> dict[str, list[int]]:
    """The process trees CpuMeter follows: each component (a Gunicorn master's workers and a
    postmaster's backends are its descendants); CpuMeter adds the load generator."""
    by = {c.name: c.pid for c in components}
    return {"HAProxy": [by["balancer"]], "app-a (Gunicorn)": [by["app-a"]], "app-b (Gunicorn)": [by["app-b"]],
            "PgBouncer": [by["pgbouncer"]], "PostgreSQL primary": [by["pg-primary"]],
            "PostgreSQL replica": [by["pg-replica"]], "Redis": [by["redis-a"], by["redis-b"]],
            "Sentinels": [by[name] for name in topology.SENTINELS]}


# --- A. one app host vs two ------------------------------------------------------------------
def phase_hosts(wrk, cluster, components, accounts, *, seconds: float, repeats: int, clients: int) -> dict:
    port = cluster.balancer_port
    cookies = common.login(port, accounts["big"], PASSWORD).cookies
    paths = mix_file(cluster, accounts["big"], staff_mix.MIX_SEED_COLD)
    log("A. warming the cache through the balancer (both hosts)")
    mix(wrk, port, cookies, paths, clients, seconds=max(10.0, seconds / 2))
    runs: dict[str, list[dict]] = {"two hosts": [], "one host": []}
    meters = roots(components)
    for rep in range(repeats):
        for config in ("two hosts", "one host"):
            haproxy.admin(cluster, f"{'disable' if config == 'one host' else 'enable'} server app_hosts/app-b")
            with CpuMeter(meters) as cpu:
                result = mix(wrk, port, cookies, paths, clients, seconds)
            result["cpu_cores"] = cpu.shares()
            runs[config].append(result)
            log(f"  {config} #{rep + 1}: {result['rps']:.1f} req/s, p50 {result['latency_ms']['p50']:.1f} ms")
    haproxy.admin(cluster, "enable server app_hosts/app-b")
    return {"runs": runs, "clients": clients, "seconds": seconds,
            "median_rps": {k: statistics.median(r["rps"] for r in v) for k, v in runs.items()}}


# --- B. PgBouncer vs direct --------------------------------------------------------------------
def _gunicorn(cluster, name: str, env_overrides: dict[str, str]) -> topology.Component:
    port = topology.free_port()
    var = VAR / name
    shutil.copytree(VAR / "app-a" / "staticfiles", var / "staticfiles", dirs_exist_ok=True)
    env = cluster.django_env(var_dir=var)
    env.update(GUNICORN_BIND=f"{topology.HOST}:{port}", WEB_CONCURRENCY=str(cluster.app_workers),
               GUNICORN_ACCESSLOG="", GUNICORN_LOGLEVEL="warning", GUNICORN_MAX_REQUESTS="0", **env_overrides)
    logf = VAR / "logs" / f"{name}.log"
    proc = topology.spawn([topology.PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "churchapp.wsgi"], log=logf,
                          env=env)
    topology.wait_for(lambda: requests.get(f"http://{topology.HOST}:{port}/healthz", timeout=2).ok, timeout=90,
                      what=name, proc=proc, log=logf)
    return topology.Component(name=name, role="app", port=port, pid=proc.pid, program="gunicorn", group=True,
                              stop_timeout=40, proc=proc)


def _server_connections(cluster) -> int:
    return sql(cluster, "pg-primary", "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                                      "backend_type = 'client backend' AND pid <> pg_backend_pid()",
               (topology.DATABASE,))[0][0]


def phase_pgbouncer(wrk, cluster, components, accounts, *, seconds: float, repeats: int, clients: int) -> dict:
    direct = {"DATABASE_URL": cluster.primary_url(), "DB_PGBOUNCER": "off"}
    configs = {
        "PgBouncer, persistent connections": {},
        "direct, persistent connections": direct,
        "PgBouncer, a connection per request": {"DB_CONN_MAX_AGE": "0"},
        "direct, a connection per request": {**direct, "DB_CONN_MAX_AGE": "0"},
    }
    paths = mix_file(cluster, accounts["big"], staff_mix.MIX_SEED_STEADY)
    out: dict[str, list[dict]] = {label: [] for label in configs}
    by = {c.name: c.pid for c in components}
    for rep in range(repeats):
        for label, overrides in configs.items():
            host = _gunicorn(cluster, "bench-" + re.sub(r"\W+", "-", label).strip("-").lower(),
                             {"CACHE_ASIDE": "off", **overrides})
            try:
                cookies = common.login(host.port, accounts["big"], PASSWORD).cookies
                mix(wrk, host.port, cookies, paths, clients, seconds=2)  # workers import, connect
                with ConnectionPeak(cluster) as peak, CpuMeter({
                    "Gunicorn": [host.pid], "PgBouncer": [by["pgbouncer"]], "PostgreSQL primary": [by["pg-primary"]],
                }) as cpu:
                    result = mix(wrk, host.port, cookies, paths, clients, seconds)
                result["cpu_cores"] = cpu.shares()
                result["server_connections_peak"] = peak.peak
                out[label].append(result)
                log(f"  B. {label} #{rep + 1}: {result['rps']:.1f} req/s, up to {peak.peak} server connections")
            finally:
                host.stop()
    medians = {label: statistics.median(r["rps"] for r in runs) for label, runs in out.items()}
    return {"configs": out, "median_rps": medians, "clients": clients, "seconds": seconds}


class ConnectionPeak:
    """The most client connections the primary served at once, sampled twice a second."""

    def __init__(self, cluster) -> None:
        self.cluster, self.peak = cluster, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, _server_connections(self.cluster))

    def __enter__(self) -> ConnectionPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- C. a dashboard miss on the replica vs the primary --------------------------------------------
def _setup_django(cluster) -> None:
    os.environ.update(cluster.django_env(var_dir=VAR / "inprocess"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "churchapp.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


class Importer(threading.Thread):
    """CSV imports of `rows` new members into the small church, through the balancer, until stopped."""

    def __init__(self, cluster, staff: str, rows: int, rounds: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://{topology.HOST}:{cluster.balancer_port}"
        self.staff, self.rows, self.rounds = staff, rows, rounds
        self.stop_event = threading.Event()
        self.done: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        http = requests.Session()
        page = http.get(self.url + "/accounts/login/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        http.post(self.url + "/accounts/login/", data={"username": self.staff, "password": PASSWORD,
                                                       "csrfmiddlewaretoken": token}, timeout=30)
        for n in range(self.rounds):
            if self.stop_event.is_set():
                return
            body = "first_name,last_name,email,phone\n" + "".join(
                f"Imp{n}x{i},Bulk{n:03d}{i:05d},,\n" for i in range(self.rows))
            page = http.get(self.url + "/members/import/", timeout=30)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            t0 = time.monotonic()
            r = http.post(self.url + "/members/import/", data={"csrfmiddlewaretoken": token},
                          files={"file": ("members.csv", body.encode(), "text/csv")}, allow_redirects=False,
                          timeout=120)
            if r.status_code == 302:
                self.done.append(time.monotonic() - t0)
            else:
                self.errors.append(f"{r.status_code}: {r.text[:200]}")


def phase_replica(cluster, accounts, *, samples: int, import_rows: int, imports: int) -> dict:
    _setup_django(cluster)
    from analytics import selectors
    from members.models import Church, User
    from replica import reads

    church = Church.objects.get(pk=User.objects.get(username=accounts["big"]).church_id)

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000

    def on_replica():
        token = reads._alias.set("replica")  # straight to the replica, no catch-up check: its raw cost
        try:
            selectors._compute_summary(church)
        finally:
            reads._alias.reset(token)

    used = []

    def lag_tolerant():
        reads.lag_tolerant("dashboard", lambda: used.append(reads.current_alias()) or selectors._compute_summary(church))

    def measure(label: str, *, importer: Importer | None = None) -> dict:
        used.clear()
        series = {"primary": [], "replica (raw)": [], "lag-tolerant read (as the app runs it)": []}
        # While importing: on until the imports are over, so every sample overlaps one.
        while len(series["primary"]) < samples or (importer is not None and importer.is_alive()):
            series["primary"].append(timed(lambda: selectors._compute_summary(church)))
            series["replica (raw)"].append(timed(on_replica))
            series["lag-tolerant read (as the app runs it)"].append(timed(lag_tolerant))
            if importer is not None and len(series["primary"]) >= samples * 20:
                break
        out = {k: {"median_ms": statistics.median(v), "p95_ms": sorted(v)[int(0.95 * (len(v) - 1))]}
               for k, v in series.items()}
        out["served_by_replica"] = used.count("replica") / len(used)
        out["count"] = len(series["primary"])
        log(f"  C. {label}: " + ", ".join(f"{k} {v['median_ms']:.1f} ms" for k, v in out.items() if isinstance(v, dict))
            + f"; lag-tolerant reads on the replica: {out['served_by_replica']:.0%}")
        return out

    for _ in range(3):
        selectors._compute_summary(church)  # connections made, plans cached by the server
        on_replica()
    quiet = measure("quiet")
    importer = Importer(cluster, accounts["small"], import_rows, rounds=imports)
    importer.start()
    busy = measure("while CSV imports write", importer=importer)
    importer.stop_event.set()
    importer.join(timeout=180)
    if importer.errors:
        common.die(f"the CSV import failed: {importer.errors[:2]}")
    return {"samples": quiet.pop("count"), "samples_importing": busy.pop("count"),
            "quiet": quiet, "importing": busy, "import_rows": import_rows,
            "imports": len(importer.done), "import_seconds_median": statistics.median(importer.done)}


# --- the report ------------------------------------------------------------------------------------
def _cores(shares: dict[str, float]) -> str:
    top = sorted(shares.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {value:.2f}" for name, value in top if value >= 0.01)


def markdown(r: dict) -> str:
    a, b, c = r["hosts"], r["pgbouncer"], r["replica"]
    two, one = a["median_rps"]["two hosts"], a["median_rps"]["one host"]
    lines = [
        f"Measured {r['started']} by `make bench-cluster` ({r['seconds']:.0f} s) on its own topology "
        f"(scripts/cluster/, free ports, fsync off); {r['members']:,} members in the measured church. "
        f"Machine: {r['cores']} cores, load average {r['loadavg'][0]:.1f} at the start and {r['loadavg'][1]:.1f} "
        "at the end, shared with other work while it ran: **figures from a busy machine** (compare the ratios; "
        "rerun on a quiet one for absolute figures).",
        "",
        f"**One app host vs two** (staff mix of `make bench`, cache warm, wrk with {a['clients']} keep-alive "
        f"connections through HAProxy, {a['seconds']:.0f} s a run, {len(a['runs']['two hosts'])} runs each, "
        "alternated): two hosts "
        f"**{two:.1f} req/s**, one host **{one:.1f} req/s** ({two / one:.2f}x). Cores used by each process over the "
        "run (2.00 = the whole machine):",
        "",
        "| configuration | req/s | p50 / p99 ms | cores used, by process |",
        "| --- | ---: | ---: | --- |",
    ]
    for config, runs in a["runs"].items():
        for i, run in enumerate(runs, 1):
            lines.append(f"| {config} #{i} | {run['rps']:.1f} | {run['latency_ms']['p50']:.1f} / {run['latency_ms']['p99']:.1f} | "
                     f"{_cores(run['cpu_cores'])} |")
    lines += [
        "",
        "On 2 cores the second host cannot add a core: Gunicorn, PostgreSQL, HAProxy, PgBouncer, Redis and the "
        "load generator already share both, so the table shows where the time goes rather than a scale-out "
        "ratio; on separate machines each host brings its own cores.",
        "",
        f"**PgBouncer vs direct connections** (one Gunicorn host, {b['clients']} clients, the same mix with the "
        f"cache off so that every request reaches PostgreSQL, {b['seconds']:.0f} s a run, alternated):",
        "",
        "| configuration | req/s (median) | runs | server connections (peak) | cores used, by process (last run) |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for label, runs in b["configs"].items():
        each = " / ".join(f"{r['rps']:.1f}" for r in runs)
        peak = max(r["server_connections_peak"] for r in runs)
        lines.append(f"| {label} | {b['median_rps'][label]:.1f} | {each} | {peak} | {_cores(runs[-1]['cpu_cores'])} |")
    lines += [
        "",
        f"**A dashboard miss on the replica vs the primary** (`_compute_summary` of the measured church, the four "
        f"aggregate queries; {c['samples']} of each quiet and {c['samples_importing']} while importing, interleaved, "
        f"in one process through PgBouncer; while busy: "
        f"CSV imports of {c['import_rows']:,} rows into another church through the balancer, "
        f"{c['imports']} done, median {c['import_seconds_median']:.1f} s each):",
        "",
        "| | quiet median (p95) ms | while importing median (p95) ms |",
        "| --- | ---: | ---: |",
    ]
    for key in ("primary", "replica (raw)", "lag-tolerant read (as the app runs it)"):
        q, i = c["quiet"][key], c["importing"][key]
        lines.append(f"| {key} | {q['median_ms']:.2f} ({q['p95_ms']:.2f}) | {i['median_ms']:.2f} ({i['p95_ms']:.2f}) |")
    lines += [
        f"| lag-tolerant reads served by the replica | {c['quiet']['served_by_replica']:.0%} | "
        f"{c['importing']['served_by_replica']:.0%} |",
        "",
        "\"Lag-tolerant read\" is what a dashboard miss costs in the app: the primary's commit position, the "
        "replica's replay position (waiting up to REPLICA_CATCHUP_WAIT for it), then the queries where they may "
        "run. Its gain is where the work runs (the primary's CPU and locks), not speed on one machine.",
    ]
    return "\n".join(lines) + "\n"


def write(results: dict) -> None:
    (DOCS / "bench").mkdir(exist_ok=True)
    (DOCS / "bench" / "cluster.json").write_text(json.dumps(results, indent=1, default=str))
    body = markdown(results)
    (DOCS / "bench" / "cluster.md").write_text("# Cluster benchmark (`make bench-cluster`)\n\n" + body)
    path = DOCS / "benchmarks.md"
    text = path.read_text() if path.exists() else ""
    section = f"{SECTION_START}\n## Cluster: balancer, PgBouncer, replica (`make bench-cluster`)\n\n{body}{SECTION_END}\n"
    if SECTION_START in text:
        text = re.sub(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END) + r"\n?", lambda m: section, text,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test, not for figures)")
    args = parser.parse_args()
    members = int(os.environ.get("BENCH_CLUSTER_MEMBERS", "2000" if args.quick else "50000"))
    seconds = float(os.environ.get("BENCH_CLUSTER_SECONDS", "5" if args.quick else "20"))
    repeats = int(os.environ.get("BENCH_CLUSTER_REPEATS", "1" if args.quick else "2"))
    clients = int(os.environ.get("BENCH_CLUSTER_CLIENTS", "6"))
    samples = int(os.environ.get("BENCH_CLUSTER_SAMPLES", "10" if args.quick else "40"))
    import_rows = int(os.environ.get("BENCH_CLUSTER_IMPORT_ROWS", "5000" if args.quick else "20000"))
    imports = int(os.environ.get("BENCH_CLUSTER_IMPORTS", "2" if args.quick else "4"))
    topology.install_packages()
    wrk = loadgen.ensure_wrk()
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    cluster, components, accounts = start_topology(members)
    try:
        results = {
            "started": started.strftime("%Y-%m-%d %H:%M UTC"), "members": members, "cores": os.cpu_count(),
            "wrk": loadgen.wrk_version(wrk),
            "hosts": phase_hosts(wrk, cluster, components, accounts, seconds=seconds, repeats=repeats, clients=clients),
        }
        log("B. PgBouncer vs direct connections")
        results["pgbouncer"] = phase_pgbouncer(wrk, cluster, components, accounts, seconds=seconds, repeats=repeats,
                                               clients=clients)
        log("C. a dashboard miss on the replica vs the primary")
        results["replica"] = phase_replica(cluster, accounts, samples=samples, import_rows=import_rows,
                                           imports=imports)
    finally:
        up.stop(components)
    results["seconds"] = time.monotonic() - t0
    results["loadavg"] = [load0, os.getloadavg()[0]]
    results["quick"] = args.quick
    write(results)
    print(markdown(results))
    log("wrote docs/bench/cluster.md, docs/bench/cluster.json and the Cluster section of docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
