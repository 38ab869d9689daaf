"""`make bench-messaging`: what the text-message queue costs, measured on this machine.

1. Confirm: the POST that queues a 10,000-recipient message (the message, 10,000 deliveries in
   bulk and its send tasks, one transaction) on PostgreSQL, through Django's request handling
   (test client, no network); median of BENCH_MSG_CONFIRMS runs (each then cancelled).
2. Throughput: deliveries/s with 1 and with 2 real worker processes (`manage.py run_worker`)
   against a zero-latency fake Twilio (tests/messaging/fake_twilio.py, its own process), beside
   the fake's raw request rate from a plain loop of the same HTTP client; with the CPU seconds of
   each component (workers, fake, every PostgreSQL process: the server is shared, so other
   sessions' work is counted too).

Its own database (BENCH_MESSAGING_DATABASE_URL, default flock_benchmsg, created and migrated),
its own var/ directory (var/bench-messaging/); only 127.0.0.1. Writes docs/bench/messaging.md and
.json, and the "Messaging" section of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get("BENCH_MESSAGING_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flock_benchmsg")
VAR = ROOT / "var" / "bench-messaging"
JSON_PATH = ROOT / "docs" / "bench" / "messaging.json"
MD_PATH = ROOT / "docs" / "bench" / "messaging.md"
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"
RECIPIENTS = int(os.environ.get("BENCH_MSG_RECIPIENTS", "10000"))
CONFIRMS = int(os.environ.get("BENCH_MSG_CONFIRMS", "5"))
SEND_N = int(os.environ.get("BENCH_MSG_SEND", "3000"))
RAW_N = int(os.environ.get("BENCH_MSG_RAW", "3000"))
# Runs per worker count, alternated (1, 2, 1, 2, ...) so a burst of other load hits both alike.
REPEATS = int(os.environ.get("BENCH_MSG_REPEATS", "2"))
CLK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[bench-messaging {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every PostgreSQL process, by pid (sessions come and go: compare by pid)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if proc.joinpath("comm").read_text().strip() in ("postgres", "postmaster"):
                    found[int(proc.name)] = cpu_seconds(int(proc.name))
            except OSError:
                continue
    return found


def _pg_delta(before: dict[int, float], after: dict[int, float]) -> float:
    # A session that started during the run counts from zero; one that ended is lost (not negative).
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def ensure_database() -> None:
    import psycopg
    from urllib.parse import urlparse

    url = urlparse(DATABASE_URL)
    name = url.path.lstrip("/")
    with psycopg.connect(DATABASE_URL.replace(f"/{name}", "/postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(fake_url: str, sid: str, token: str) -> dict[str, str]:
    VAR.mkdir(parents=True, exist_ok=True)
    env = {
        "DATABASE_URL": DATABASE_URL, "FLOCK_VAR_DIR": str(VAR), "DJANGO_DEBUG": "off",
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost", "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE": fake_url, "TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token,
        "TWILIO_FROM": "+15005550006", "SMS_RATE_PER_SECOND": "100000", "SMS_SENDERS_PER_MESSAGE": "2",
        "WORKER_POLL_SECONDS": "0.1", "CACHE_KEY_PREFIX": "flockbenchmsg",
    }
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "churchapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return {**{k: v for k, v in os.environ.items() if k != "REDIS_URL"}, **env}


def fixture():
    from members.models import Church, Group, Member, Membership, User

    church, _ = Church.objects.get_or_create(slug="bench-messaging", defaults={"name": "Bench Messaging"})
    user = User.objects.filter(username="bench-msg-staff").first() or User.objects.create_user(
        "bench-msg-staff", "bench@flock.test", "bench-password-123", church=church)
    groups = {}
    for size in (RECIPIENTS, SEND_N):
        group, created = Group.objects.get_or_create(church=church, name=f"Bench {size}")
        if created or group.memberships.count() != size:
            group.memberships.all().delete()
            start = Member.objects.filter(church=church).count()
            made = Member.objects.bulk_create([
                Member(church=church, first_name=f"M{start + i}", last_name="Bench",
                       phone=f"+1{size % 10}{(start + i):09d}")
                for i in range(size)
            ], batch_size=5000)
            Membership.objects.bulk_create([Membership(group=group, member=m) for m in made], batch_size=5000)
        groups[size] = group
    return church, user, groups


def clear_queue() -> None:
    from django_tasks_db.models import DBTaskResult

    from messaging.models import Delivery, Message

    Delivery.objects.all().delete()
    Message.objects.all().delete()
    DBTaskResult.objects.all().delete()


def bench_confirm(church, user, group) -> dict:
    from django.test import Client

    from messaging import services
    from messaging.models import Message

    client = Client()
    client.force_login(user)
    times = []
    for i in range(CONFIRMS):
        draft = services.Draft(body=f"Bench text {i}: see you on Sunday!", group_id=group.pk, key=uuid.uuid4().hex)
        token = services.draft_sign(church=church, user=user, draft=draft)
        started = time.perf_counter()
        response = client.post("/messages/new/confirm/", {"token": token})
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 302:
            raise SystemExit(f"confirm answered {response.status_code}")
        message = Message.objects.latest("id")
        assert message.n_queued == RECIPIENTS, message.n_queued
        services.message_cancel(message=message, user=user)
        log(f"confirm {i + 1}/{CONFIRMS}: {times[-1]:.0f} ms")
    clear_queue()
    return {"runs_ms": [round(t, 1) for t in times], "median_ms": round(statistics.median(times), 1),
            "recipients": RECIPIENTS}


def raw_rate(fake_url: str, sid: str, token: str, fake_pid: int) -> dict:
    import requests

    url = f"{fake_url}/2010-04-01/Accounts/{sid}/Messages.json"
    session = requests.Session()  # keep-alive, as the Twilio backend sends
    fake_cpu, own_cpu = cpu_seconds(fake_pid), time.process_time()
    started = time.perf_counter()
    for i in range(RAW_N):
        r = session.post(url, data={"To": f"+19{i:09d}", "From": "+15005550006", "Body": "raw"},
                          auth=(sid, token), timeout=5)
        assert r.status_code == 201
    wall = time.perf_counter() - started
    return {"requests": RAW_N, "seconds": round(wall, 2), "per_second": round(RAW_N / wall, 1),
            "cpu": {"client loop": round(time.process_time() - own_cpu, 2),
                    "fake provider": round(cpu_seconds(fake_pid) - fake_cpu, 2)}}


def bench_workers(n_workers: int, env: dict, church, user, group, fake_pid: int) -> dict:
    from jobs.models import WorkerHeartbeat

    from messaging import services
    from messaging.models import Message

    clear_queue()
    WorkerHeartbeat.objects.all().delete()
    logs = [open(VAR / f"worker-{n_workers}-{i}.log", "wb") for i in range(n_workers)]
    workers = [subprocess.Popen([sys.executable, "manage.py", "run_worker", "--worker-id", f"bench-{n_workers}-{i}"],
                                cwd=ROOT, env=env, stdout=logs[i], stderr=subprocess.STDOUT) for i in range(n_workers)]
    try:
        deadline = time.monotonic() + 60
        while WorkerHeartbeat.objects.count() < n_workers:
            if time.monotonic() > deadline:
                raise SystemExit("workers did not start")
            time.sleep(0.1)
        time.sleep(1)  # past start-up imports and the first periodic jobs
        before = {"workers": sum(cpu_seconds(w.pid) for w in workers), "fake provider": cpu_seconds(fake_pid)}
        pg_before = postgres_cpu()
        draft = services.Draft(body="Throughput text", group_id=group.pk, key=uuid.uuid4().hex)
        started = time.perf_counter()
        message, _ = services.message_confirm(church=church, user=user, draft=draft)
        while True:
            counts = Message.objects.filter(pk=message.pk).values_list("n_queued", "n_sending", "n_sent").get()
            if counts[0] == 0 and counts[1] == 0:
                break
            if time.perf_counter() - started > 600:
                raise SystemExit(f"sending did not finish: {counts}")
            time.sleep(0.05)
        wall = time.perf_counter() - started
        after = {"workers": sum(cpu_seconds(w.pid) for w in workers), "fake provider": cpu_seconds(fake_pid)}
        pg_after = postgres_cpu()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
        for f in logs:
            f.close()
    sent = counts[2]
    load = os.getloadavg()[0]
    cpu = {k: round(after[k] - before[k], 2) for k in before}
    cpu["postgresql (all sessions)"] = round(_pg_delta(pg_before, pg_after), 2)
    return {"workers": n_workers, "deliveries": sent, "seconds": round(wall, 2), "loadavg_1m": round(load, 2),
            "per_second": round(sent / wall, 1), "cpu": cpu,
            "cpu_ms_per_delivery": {k: round(v * 1000 / sent, 3) for k, v in cpu.items()}}


def section(data: dict) -> list[str]:
    """The "Messaging" section of docs/benchmarks.md (also written by scripts/bench/writeup.py)."""
    if not data:
        return ["## Messaging", "", "Not measured yet: run `make bench-messaging`.", ""]
    c, raw = data["confirm"], data["raw"]
    L = ["## Messaging", "",
         f"`make bench-messaging`, {data['measured_at']} ({data['cores']} cores shared by everything below; "
         "details: [bench/messaging.md](bench/messaging.md)).", "",
         f"- Confirming a {c['recipients']:,}-recipient message (message + {c['recipients']:,} deliveries in bulk "
         f"+ its send tasks, one transaction, PostgreSQL): **{c['median_ms']:.0f} ms** median of {len(c['runs_ms'])} "
         f"({', '.join(f'{t:.0f}' for t in c['runs_ms'])} ms); goal well under 2 s.",
         f"- The fake provider's raw rate from a plain loop (one keep-alive `requests.Session`, as the workers send): "
         f"**{raw['per_second']:.0f} requests/s**.", ""]
    L += ["| workers | deliveries/s (median) | of the raw rate | each run: deliveries/s (load average) | "
          "CPU ms per delivery, median: workers / fake / PostgreSQL |",
          "| ---: | ---: | ---: | --- | --- |"]
    for n in sorted({run["workers"] for run in data["workers"]}):
        runs = [run for run in data["workers"] if run["workers"] == n]
        rate = statistics.median(run["per_second"] for run in runs)

        def per(key: str) -> float:
            return statistics.median(run["cpu_ms_per_delivery"][key] for run in runs)

        each = ", ".join(f"{run['per_second']:.0f} ({run.get('loadavg_1m', 0):.1f})" for run in runs)
        L.append(f"| {n} | **{rate:.0f}** | {rate / raw['per_second']:.0%} | {each} | "
                 f"{per('workers'):.2f} / {per('fake provider'):.2f} / {per('postgresql (all sessions)'):.2f} |")
    L += ["", f"{runs[0]['deliveries']:,} deliveries a run. The machine's 2 cores are shared with other sessions' "
          "test runs (the load averages above): compare the figures of one run with each other."]
    client_ms = raw["cpu"]["client loop"] * 1000 / raw["requests"]
    L += ["", "A delivery costs the queue two committed transactions around the provider call, 10 statements: "
          "BEGIN, the claim (SELECT ... FOR UPDATE SKIP LOCKED, the opt-out joined in), the rate slot's UPDATE, "
          "the delivery's UPDATE to `sending`, the message's counters, COMMIT; then BEGIN, the conditional UPDATE "
          "to `sent`, the counters, COMMIT. The workers' CPU per delivery is the queue's own cost plus the HTTP "
          f"client's ({client_ms:.2f} ms a request in the plain loop); a second worker only helps while a core is "
          "free (here the workers, PostgreSQL, the fake and other sessions share two).", ""]
    return L


def markdown(data: dict) -> str:
    L = ["# Messaging benchmark", "", *section(data)[2:], "## Method", "",
         "- Confirm: Django's test client POSTs the preview's token to `/messages/new/confirm/` (the view, the "
         "services, the bulk insert), each message then cancelled so the next one starts from an empty queue.",
         "- Throughput: workers started and heartbeating first; the clock runs from the confirm to the moment no "
         "delivery is queued or sending. `SMS_RATE_PER_SECOND=100000`, `SMS_SENDERS_PER_MESSAGE=2`.",
         "- CPU seconds from /proc (utime + stime) before and after: the workers, the fake provider's process, and "
         "every PostgreSQL process on the machine (a shared server: other sessions' queries count too).",
         f"- Raw rate: {data['raw']['requests']:,} POSTs in a loop from one process; CPU: "
         f"{json.dumps(data['raw']['cpu'])}.", "",
         "## Rerun", "", "```sh", "make bench-messaging   # BENCH_MESSAGING_DATABASE_URL, BENCH_MSG_RECIPIENTS, "
         "BENCH_MSG_SEND, BENCH_MSG_CONFIRMS", "```", ""]
    return "\n".join(L)


def update_benchmarks_md(data: dict) -> None:
    """Put the Messaging section into docs/benchmarks.md in place (before "Machine, versions")."""
    if not BENCHMARKS_MD.exists():
        return
    text = BENCHMARKS_MD.read_text()
    block = "\n".join(section(data)) + "\n"
    start = text.find("## Messaging\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + block + (text[end + 1:] if end >= 0 else "")
    else:
        anchor = text.find("## Machine, versions and method")
        text = text[:anchor] + block + text[anchor:] if anchor >= 0 else text + "\n" + block
    BENCHMARKS_MD.write_text(text)


def main() -> None:
    ensure_database()
    fake = subprocess.Popen([sys.executable, "-m", "tests.messaging.fake_twilio"], cwd=ROOT, stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE, text=True)
    try:
        fake_url = fake.stdout.readline().strip()
        from tests.messaging.fake_twilio import FakeTwilio

        sid, token = FakeTwilio.__init__.__kwdefaults__["sid"], FakeTwilio.__init__.__kwdefaults__["token"]
        env = setup_django(fake_url, sid, token)
        church, user, groups = fixture()
        log(f"fixture ready: groups of {RECIPIENTS:,} and {SEND_N:,}")
        confirm = bench_confirm(church, user, groups[RECIPIENTS])
        raw = raw_rate(fake_url, sid, token, fake.pid)
        log(f"raw rate {raw['per_second']} req/s")
        runs = []
        for _ in range(REPEATS):
            for n in (1, 2):
                runs.append(bench_workers(n, env, church, user, groups[SEND_N], fake.pid))
                log(f"{n} worker(s): {runs[-1]['per_second']} deliveries/s, cpu {runs[-1]['cpu']}, "
                    f"load {runs[-1]['loadavg_1m']}")
        clear_queue()
    finally:
        fake.stdin.close()
        fake.terminate()
        fake.wait(timeout=10)
    data = {"measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": os.cpu_count(),
            "confirm": confirm, "raw": raw, "workers": runs, "database": DATABASE_URL}
    JSON_PATH.write_text(json.dumps(data, indent=2) + "\n")
    MD_PATH.write_text(markdown(data))
    update_benchmarks_md(data)
    log(f"wrote {MD_PATH.relative_to(ROOT)}, {JSON_PATH.relative_to(ROOT)} and the Messaging section of docs/benchmarks.md")


def rewrite() -> None:
    """Regenerate the two reports from the last JSON (after editing their wording)."""
    data = json.loads(JSON_PATH.read_text())
    MD_PATH.write_text(markdown(data))
    update_benchmarks_md(data)


if __name__ == "__main__":
    rewrite() if sys.argv[1:] == ["--rewrite"] else main()
