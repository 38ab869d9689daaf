"""Real worker processes (`manage.py run_worker`) against PostgreSQL and the fake provider:
a worker SIGKILLed in the middle of a provider call, SIGTERM, two workers sharing a message,
Redis restarted with texts queued. Every phone ends with exactly one text at the provider.
And one worker on the embedded default (SQLite, console backend), as `make run` starts it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import TransactionTestCase, override_settings

from members.models import Church, Group
from messaging.models import Delivery, Message
from tests.base import make_user
from tests.ops import procs

from .fake_twilio import FakeTwilio
from .support import confirm, people

DEADLINE = 60


class Worker:
    """One `manage.py run_worker` process."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        self.log_path = Path(env["FLOCK_VAR_DIR"]) / f"worker-{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "manage.py", "run_worker", "--worker-id", name],
                                     cwd=procs.BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        self.log.close()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def wait_until(check, what: str, timeout: float = DEADLINE, workers=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for w in workers:
            if w.proc.poll() is not None and w.proc.returncode not in (0, -9):
                raise AssertionError(f"worker exited {w.proc.returncode}:\n{w.text()}")
        time.sleep(0.1)
    logs = "\n".join(w.text() for w in workers)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def settled(message: Message) -> bool:
    message.refresh_from_db()
    return message.n_queued == 0 and message.n_sending == 0


@pytest.mark.slow
@pytest.mark.postgres
class WorkerProcessesTestCase(TransactionTestCase):
    def setUp(self) -> None:
        var_dir = tempfile.mkdtemp(prefix="flock-worker-var-")
        self.addCleanup(shutil.rmtree, var_dir, True)  # last: after the workers have stopped
        self.fake = FakeTwilio().start()
        self.addCleanup(self.fake.stop)
        self.workers: list[Worker] = []
        self.addCleanup(lambda: [w.stop() for w in self.workers])
        self.church = Church.objects.create(name="Grace", slug="grace")
        self.user = make_user("alice", church=self.church)
        self.group = Group.objects.create(church=self.church, name="Everyone")
        db = connection.settings_dict
        self.env = procs.base_env(
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            SMS_BACKEND="twilio", TWILIO_API_BASE=self.fake.url, TWILIO_ACCOUNT_SID=self.fake.sid,
            TWILIO_AUTH_TOKEN=self.fake.token, TWILIO_FROM="+15005550006", SMS_RATE_PER_SECOND="1000",
            SMS_RETRY_BASE_SECONDS="0.1", SMS_RETRY_MAX_SECONDS="0.5", SMS_PROVIDER_TIMEOUT="5",
            WORKER_HEARTBEAT_SECONDS="0.5", WORKER_DEAD_SECONDS="3", SMS_SWEEP_SECONDS="1",
            WORKER_POLL_SECONDS="0.2", FLOCK_VAR_DIR=var_dir,
        )

    def start(self, name: str, **extra: str) -> Worker:
        worker = Worker({**self.env, **extra}, name)
        self.workers.append(worker)
        return worker

    def message(self, n: int, **kwargs) -> tuple[Message, list]:
        members = people(self.church, n, group=self.group, **kwargs)
        # The rate the workers have: due times are spaced by it when the message is confirmed.
        with override_settings(SMS_RATE_PER_SECOND=1000):
            return confirm(self.church, self.user, group=self.group), members

    def assert_exactly_once(self, message: Message, members) -> None:
        counts = self.fake.bodies_by_number()
        self.assertEqual({m.phone: counts.get(m.phone, 0) for m in members}, {m.phone: 1 for m in members})
        sids = {m["to"]: m["sid"] for m in self.fake.messages}
        for d in Delivery.objects.filter(message=message):
            self.assertEqual((d.state, d.provider_sid), ("sent", sids[d.phone]), d.phone)

    def test_it_sends_each_text_once_when_a_worker_is_killed_mid_call(self):
        message, members = self.message(12)
        held = sorted(members, key=lambda m: m.phone)[4]
        # The provider takes the text, but its answer never reaches the worker: killed first.
        self.fake.hold(held.phone, accept=True)
        first = self.start("w-first")
        self.fake.wait_held(1)
        first.signal(signal.SIGKILL)
        first.wait()
        self.fake.release()
        delivery = Delivery.objects.get(message=message, phone=held.phone)
        self.assertEqual((delivery.state, delivery.attempts), ("sending", 1))
        self.start("w-second")
        wait_until(lambda: settled(message), "the message to be settled by the second worker", workers=self.workers)
        self.assert_exactly_once(message, members)
        delivery.refresh_from_db()
        self.assertEqual(delivery.attempts, 1)  # reconciled with the provider, not sent again
        gets = [params for method, _, params in self.fake.requests if method == "GET"]
        self.assertEqual([g["To"] for g in gets], [[held.phone]])

    def test_it_sends_again_once_when_the_killed_workers_text_never_reached_the_provider(self):
        message, members = self.message(6)
        held = sorted(members, key=lambda m: m.phone)[2]
        self.fake.hold(held.phone, accept=False)  # the provider never takes this one
        first = self.start("w-first")
        self.fake.wait_held(1)
        first.signal(signal.SIGKILL)
        first.wait()
        self.fake.release()
        self.start("w-second")
        wait_until(lambda: settled(message), "the message to be settled", workers=self.workers)
        self.assert_exactly_once(message, members)
        self.assertEqual(Delivery.objects.get(message=message, phone=held.phone).attempts, 2)

    def test_it_finishes_the_current_send_on_sigterm_then_exits(self):
        message, members = self.message(8)
        held = sorted(members, key=lambda m: m.phone)[3]
        self.fake.hold(held.phone, accept=True)
        worker = self.start("w-term")
        self.fake.wait_held(1)
        # The worker is inside the provider call: the stop waits for its answer.
        worker.signal(signal.SIGTERM)
        self.fake.release()
        self.assertEqual(worker.wait(timeout=30), 0, worker.text())
        self.assertEqual(Delivery.objects.get(message=message, phone=held.phone).state, "sent")
        message.refresh_from_db()
        self.assertEqual(message.n_sent, 4)  # nothing after the send it was in
        self.assertEqual(message.n_queued, 4)
        self.start("w-next")
        wait_until(lambda: settled(message), "the rest to be sent", workers=self.workers)
        self.assert_exactly_once(message, members)

    def test_two_workers_share_a_message_and_send_each_text_once(self):
        from jobs.models import WorkerHeartbeat

        self.start("w-a")
        self.start("w-b")
        wait_until(lambda: WorkerHeartbeat.objects.count() == 2, "both workers to start", workers=self.workers)
        members = people(self.church, 40, group=self.group)
        first = min(members, key=lambda m: m.phone)
        # Whichever worker claims the first text is held there: the other one must send the rest.
        self.fake.hold(first.phone, accept=True)
        with override_settings(SMS_RATE_PER_SECOND=1000):
            message = confirm(self.church, self.user, group=self.group)
        wait_until(lambda: Message.objects.get(pk=message.pk).n_sent == 39, "the other worker to send the rest",
                   workers=self.workers)
        self.fake.release()
        wait_until(lambda: settled(message), "the message to be settled", workers=self.workers)
        self.assert_exactly_once(message, members)
        by_worker = set(Delivery.objects.filter(message=message).values_list("claimed_by", flat=True))
        self.assertEqual(by_worker, {"w-a", "w-b"})

    def test_it_loses_nothing_when_redis_restarts_with_texts_queued(self):
        with procs.RedisServer() as redis:
            message, members = self.message(10)
            redis.stop()
            redis.start()  # empty: this Redis keeps nothing on disk
            self.start("w-redis", REDIS_URL=redis.url)
            wait_until(lambda: settled(message), "the queued texts to be sent", workers=self.workers)
        self.assert_exactly_once(message, members)


@pytest.mark.slow
@procs.once
class EmbeddedWorkerTestCase(TransactionTestCase):
    """`make run`'s worker on the embedded default: SQLite and the console backend."""

    def test_it_sends_through_the_console_backend_on_sqlite(self):
        var_dir = tempfile.mkdtemp(prefix="flock-embedded-worker-")
        self.addCleanup(shutil.rmtree, var_dir, True)  # the worker is stopped in the finally below
        env = procs.base_env(FLOCK_VAR_DIR=var_dir, DATABASE_URL=f"sqlite:///{var_dir}/flock.sqlite3",
                             WORKER_POLL_SECONDS="0.2", SMS_RATE_PER_SECOND="50")
        procs.manage(env, "migrate", "--noinput", "-v", "0")
        procs.manage(env, "shell", "-c", (
            "from members.models import *; from messaging import services; from tests.base import make_user; "
            "from tests.messaging.support import people, confirm; "
            "c = Church.objects.create(name='G', slug='g'); u = make_user('a', church=c); "
            "g = Group.objects.create(church=c, name='All'); people(c, 5, group=g); confirm(c, u, group=g)"))
        worker = Worker(env, "w-embedded")
        try:
            outbox = Path(var_dir) / "sms-outbox.log"
            wait_until(lambda: outbox.exists() and len(outbox.read_text().splitlines()) == 5, "five texts in the outbox",
                       workers=[worker])
            worker.signal(signal.SIGTERM)
            self.assertEqual(worker.wait(), 0, worker.text())
        finally:
            worker.stop()
        lines = [json.loads(line) for line in outbox.read_text().splitlines()]
        self.assertEqual(len({line["to"] for line in lines}), 5)
        counts = procs.manage(env, "shell", "-c", "from messaging.models import Message; "
                                                  "m = Message.objects.get(); print(m.n_sent, m.n_queued)")
        self.assertEqual(counts.split()[-2:], ["5", "0"])
