"""replica.reads and replica.health, without a replica: what they decide, from what they know.

The decisions are tested here with the replica's answers stubbed (each process would learn them
from the replica); the real thing, a paused and a stopped replica behind two app hosts, is in
tests/cluster/test_replica.py. With no replica configured (both passes of `make test`), a
lag-tolerant read is its fetch and nothing more.
"""

from __future__ import annotations

from unittest import mock

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, transaction
from django.test import SimpleTestCase, TestCase, override_settings

from churchapp.routers import ReplicaRouter
from members.models import Member
from replica import health, reads

OK = health.Status(True, "ok", replay_lsn=100, lag_seconds=0.0)


def where() -> str:
    """What a read inside `fetch` would use: the alias the router picks for it."""
    return ReplicaRouter().db_for_read(Member)


class StubbedReplica:
    """A replica that is configured, in the given state, and at `replayed` for every target."""

    def __init__(self, status=OK, *, replayed=True, commit_lsn=90):
        self.patches = [
            mock.patch.object(health, "configured", return_value=True),
            mock.patch.object(health, "status", return_value=status),
            mock.patch.object(health, "primary_commit_lsn", return_value=commit_lsn),
            mock.patch.object(health, "replayed", return_value=replayed),
            mock.patch.object(health, "mark_down"),
        ]

    def __enter__(self):
        mocks = [p.start() for p in self.patches]
        self.replayed, self.mark_down = mocks[3], mocks[4]
        return self

    def __exit__(self, *exc):
        for p in self.patches:
            p.stop()


class LagTolerantReadsTestCase(SimpleTestCase):
    def test_it_is_just_the_fetch_without_a_replica(self):
        # A SimpleTestCase fails any SQL: no query of the replica's state, no LSN of the primary.
        self.assertFalse(health.configured())
        self.assertEqual(reads.lag_tolerant("dashboard", where), DEFAULT_DB_ALIAS)
        self.assertEqual(list(reads.lag_tolerant_iter("export", lambda after: iter([where()]))), [DEFAULT_DB_ALIAS])

    def test_it_reads_from_the_replica_once_it_has_replayed_the_commits(self):
        with StubbedReplica(commit_lsn=90) as replica:
            self.assertEqual(reads.lag_tolerant("dashboard", where), "replica")
            replica.replayed.assert_called_once_with(90, timeout=0.05)
        self.assertEqual(where(), DEFAULT_DB_ALIAS, "only inside the read")

    def test_it_reads_from_the_primary_while_the_replica_is_behind(self):
        with StubbedReplica(replayed=False):
            self.assertEqual(reads.lag_tolerant("dashboard", where), DEFAULT_DB_ALIAS)

    def test_it_skips_a_replica_that_is_paused_lagging_down_or_promoted(self):
        for reason in ("paused", "lagging", "down", "not-a-replica", "checking"):
            with self.subTest(reason), StubbedReplica(health.Status(False, reason)) as replica:
                self.assertEqual(reads.lag_tolerant("export", where), DEFAULT_DB_ALIAS)
                replica.replayed.assert_not_called()  # not even asked to catch up

    def test_it_runs_a_read_that_failed_on_the_replica_again_on_the_primary(self):
        calls = []

        def fetch():
            calls.append(where())
            if calls[-1] == "replica":
                raise OperationalError("canceling statement due to conflict with recovery")
            return "rows"

        with StubbedReplica() as replica:
            self.assertEqual(reads.lag_tolerant("dashboard", fetch), "rows")
            replica.mark_down.assert_called_once()
        self.assertEqual(calls, ["replica", DEFAULT_DB_ALIAS])

    def test_it_streams_from_the_primary_when_the_replica_fails_before_the_first_row(self):
        def rows(after):
            if where() == "replica":
                raise OperationalError("the replica went away")
            yield from ("a", "b")

        with StubbedReplica() as replica:
            self.assertEqual(list(reads.lag_tolerant_iter("export", rows)), ["a", "b"])
            replica.mark_down.assert_called_once()

    def test_it_keeps_the_streams_rows_on_the_replica_after_the_first(self):
        def rows(after):
            # A queryset's iterator picks its database when it starts: here, at the first row.
            alias = where()
            yield from (alias, alias)

        with StubbedReplica():
            stream = reads.lag_tolerant_iter("export", rows)
            self.assertEqual(next(stream), "replica")
        self.assertEqual(list(stream), ["replica"])

    def test_it_lets_the_primary_take_over_a_stream_from_the_last_row_sent(self):
        stream_rows = ("a", "b", "c", "d")

        def rows(after):
            start = 0 if after is None else stream_rows.index(after) + 1
            alias = where()
            for row in stream_rows[start:]:
                if alias == "replica" and row == "c":
                    raise OperationalError("terminating connection due to administrator command")
                yield row

        with StubbedReplica() as replica:
            self.assertEqual(list(reads.lag_tolerant_iter("export", rows)), ["a", "b", "c", "d"])
            replica.mark_down.assert_called_once()

    def test_it_takes_over_a_stream_whose_replica_cursor_fails_unwrapped(self):
        # A server-side cursor closed on a replica that stopped raises psycopg's own error:
        # Django does not wrap CursorWrapper.close.
        def rows(after):
            if where() == "replica":
                yield "a"
                raise psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")
            yield from ("b", "c") if after == "a" else ("a", "b", "c")

        with StubbedReplica() as replica:
            self.assertEqual(list(reads.lag_tolerant_iter("export", rows)), ["a", "b", "c"])
            replica.mark_down.assert_called_once()

    def test_it_refuses_a_read_it_does_not_know(self):
        with pytest.raises(ValueError, match="unknown lag-tolerant read 'members'"):
            reads.lag_tolerant("members", where)

    def test_it_sends_writes_and_migrations_to_the_primary(self):
        router = ReplicaRouter()
        with StubbedReplica():
            reads.lag_tolerant("dashboard", lambda: self.assertEqual(router.db_for_write(Member), DEFAULT_DB_ALIAS))
        self.assertTrue(router.allow_migrate(DEFAULT_DB_ALIAS, "members"))
        self.assertFalse(router.allow_migrate("replica", "members"))


class InsideATransactionTestCase(TestCase):
    def test_it_stays_on_the_primary_inside_a_transaction(self):
        with StubbedReplica() as replica, transaction.atomic():
            self.assertEqual(reads.lag_tolerant("dashboard", where), DEFAULT_DB_ALIAS)
            replica.replayed.assert_not_called()


@override_settings(REPLICA_CHECK_INTERVAL=60, REPLICA_RETRY_SECONDS=60, REPLICA_MAX_LAG_SECONDS=5)
class HealthTestCase(SimpleTestCase):
    def setUp(self):
        health.reset()
        self.addCleanup(health.reset)
        patcher = mock.patch.object(health, "configured", return_value=True)
        patcher.start()
        self.addCleanup(patcher.stop)

    def probing(self, *results):
        return mock.patch.object(health, "_probe", side_effect=list(results))

    def test_it_asks_the_replica_at_most_once_per_interval(self):
        with self.probing(OK) as probe:
            self.assertEqual([health.status() for _ in range(5)], [OK] * 5)
        self.assertEqual(probe.call_count, 1)

    def test_it_asks_again_after_the_interval(self):
        with self.probing(OK, health.Status(False, "paused")) as probe, override_settings(REPLICA_CHECK_INTERVAL=0):
            self.assertTrue(health.status().usable)
            self.assertEqual(health.status().reason, "paused")
        self.assertEqual(probe.call_count, 2)

    def test_it_leaves_a_replica_that_failed_alone_for_the_retry_period(self):
        with self.probing(OK, OK) as probe, override_settings(REPLICA_CHECK_INTERVAL=0):
            self.assertTrue(health.status().usable)
            with mock.patch.object(health, "_close_quietly"):
                health.mark_down(OperationalError("connection refused"))
            self.assertEqual([health.status().reason for _ in range(3)], ["down"] * 3)
        self.assertEqual(probe.call_count, 1)

    def test_it_reads_positions_as_numbers_that_compare_like_them(self):
        self.assertEqual(health.parse_lsn("0/3000148"), 0x3000148)
        self.assertGreater(health.parse_lsn("1/0"), health.parse_lsn("0/FFFFFFFF"))
        self.assertEqual(health.parse_lsn(None), 0)


@pytest.mark.postgres
class ProbeOnPostgresTestCase(TestCase):
    """The probe's and the target's SQL, on a real PostgreSQL 15 (a primary: never read from)."""

    def test_it_tells_a_primary_from_a_replica(self):
        health.reset()
        self.addCleanup(health.reset)
        with mock.patch.object(health, "ALIAS", DEFAULT_DB_ALIAS), \
                mock.patch.object(health, "configured", return_value=True), \
                mock.patch.object(health, "_close_quietly"):
            status = health.status()
        self.assertEqual((status.usable, status.reason), (False, "not-a-replica"))

    def test_it_takes_a_position_covering_every_commit(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_flush_lsn()::text")
            flushed = health.parse_lsn(cursor.fetchone()[0])
        self.assertGreaterEqual(health.primary_commit_lsn(), flushed)
