"""Writes for text messages: compose and confirm, cancel, send one delivery, opt-outs, the
provider's callbacks and the sweep that settles what dead workers left.

Guarantees:
- Durable: a message, its deliveries (bulk-inserted) and the tasks that send them are written in
  ONE transaction (`message_confirm`): the commit is the enqueue, a rollback leaves nothing.
  The queue is in the application's database; Redis plays no part.
- Confirmed once: the preview carries a one-time key (unique per church), so submitting the
  same preview twice, even at the same moment, queues one message.
- Never sent twice: a delivery is moved to `sending`, with its attempt counted, in a committed
  transaction before the provider is called (`send_next`). A send whose outcome is unknown (a
  timeout after the request went out, a 5xx, a worker that died mid-call) goes back to `queued`
  with `needs_reconcile`, and the provider's list of sent messages is searched for it before
  it is sent again. A sender whose claim was taken from it (it was thought dead) records nothing.
- Nothing stays `sending`: the sweep takes back the claims of dead workers, and any claim older
  than a live sender can hold one (`claim_lifetime()`: its worker lost it, e.g. the database
  went away between the provider's answer and the commit), for reconciliation like the others.
- Retries: temporary errors are retried with exponential backoff and jitter (the first within
  SMS_RETRY_BASE_SECONDS x 1.5), at most SMS_MAX_ATTEMPTS attempts, never before a 429's
  Retry-After; permanent errors are final at once, with the provider's code and reason.
- Rate: every send takes the church's next free slot from its SendRate row, locked in the
  claim's transaction, so SMS_RATE_PER_SECOND holds across every worker and host.
- Opted out means never texted: the opt-out is checked when the preview is made and again in the
  claim's transaction, right before the send.
- Forward only: provider callbacks never move a delivery backwards (delivered stays delivered).
- Counters: each message's per-state counts change in the transaction of every state change.
"""

from __future__ import annotations

import datetime
import logging
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from members.models import Church, User

from . import gsm, selectors, tasks
from .backends import PermanentError, ProviderError, TemporaryError, UnknownOutcome, get_backend
from .models import Delivery, Message, OptOut, PendingStatus, SendRate

logger = logging.getLogger("messaging")

State = Delivery.State
BODY_MAX_SEGMENTS = 10
DRAFT_MAX_AGE = 2 * 60 * 60  # seconds a preview can be confirmed
SCHEDULE_MAX_DAYS = 365
# A send task works this long, then hands over to the next task in the queue (fairness).
TASK_BUDGET_SECONDS = 20
# A wait this short (the next rate slot at 1 text a second) is slept in the task when no other
# task is ready, instead of queueing a continuation task per text.
INLINE_WAIT_SECONDS = 2.0
# How far back of a delivery's due time the provider's list is searched (clock skew).
RECONCILE_SLACK = datetime.timedelta(minutes=2)
PERMANENT_UNSUBSCRIBED = "21610"
FINAL_STATES = (State.DELIVERED, State.FAILED, State.SKIPPED, State.CANCELLED)

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})


# --- counters ---------------------------------------------------------------------------------

def _count(message_id: int, moves: Counter) -> None:
    """Apply (from_state, to_state) -> n moves to the message's counters, in one UPDATE."""
    deltas: Counter = Counter()
    for (old, new), n in moves.items():
        if old:
            deltas[old] -= n
        deltas[new] += n
    changes = {f"n_{state}": F(f"n_{state}") + n for state, n in deltas.items() if n}
    if changes:
        Message.objects.filter(pk=message_id).update(**changes)


def _move(delivery: Delivery, new: str, **fields) -> None:
    """Change one (locked) delivery's state and fields, and its message's counters."""
    old = delivery.state
    delivery.state = new
    for name, value in fields.items():
        setattr(delivery, name, value)
    delivery.save(update_fields=["state", *fields])
    if old != new:
        _count(delivery.message_id, Counter({(old, new): 1}))


# --- compose and confirm -------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    """What the compose form asked for: a group or members, the text, when. `key` makes its
    confirmation idempotent."""

    body: str
    group_id: int | None = None
    member_ids: tuple[int, ...] = ()
    send_at: datetime.datetime | None = None
    key: str = ""


def _draft_salt(church: Church, user: User) -> str:
    return f"messaging.draft:{church.pk}:{user.pk}"


def draft_sign(*, church: Church, user: User, draft: Draft) -> str:
    """The preview's confirm token: the draft, signed for this church and user, with a new key."""
    value = {
        "body": draft.body, "group": draft.group_id, "members": list(draft.member_ids),
        "at": draft.send_at.isoformat() if draft.send_at else None, "key": draft.key or uuid.uuid4().hex,
    }
    return signing.dumps(value, salt=_draft_salt(church, user), compress=True)


def draft_load(*, church: Church, user: User, token: str) -> Draft:
    """The draft of a confirm token, or ValidationError (expired, tampered, another church's)."""
    try:
        value = signing.loads(token or "", salt=_draft_salt(church, user), max_age=DRAFT_MAX_AGE)
        return Draft(
            body=str(value["body"]), group_id=value["group"], member_ids=tuple(int(i) for i in value["members"]),
            send_at=datetime.datetime.fromisoformat(value["at"]) if value["at"] else None, key=str(value["key"]),
        )
    except signing.SignatureExpired:
        raise ValidationError("This preview has expired: write the message again.", code="expired") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ValidationError("This confirmation is not valid: write the message again.", code="bad_token") from None


def _rate_interval() -> datetime.timedelta:
    return datetime.timedelta(seconds=1 / settings.SMS_RATE_PER_SECOND)


def _church_backlog_end(church: Church, start: datetime.datetime) -> datetime.datetime:
    """When the church's rate frees up for a new message: after what it already has queued."""
    latest = (Delivery.objects.filter(church=church, state=State.QUEUED).order_by("-due_at")
              .values_list("due_at", flat=True).first())
    if latest is None or latest < start:
        return start
    return latest + _rate_interval()


def message_confirm(*, church: Church, user: User, draft: Draft) -> tuple[Message, bool]:
    """Queue the draft: the message, a delivery per recipient (the left-out ones `skipped`, with
    why) and its send tasks, in one transaction. (message, False) when this draft's key was
    confirmed before (a second submit of the same preview). ValidationError when nobody would
    get the text or the group is gone."""
    try:
        uuid.UUID(draft.key)
    except ValueError:
        raise ValidationError("This confirmation is not valid: write the message again.", code="bad_key") from None
    try:
        with transaction.atomic():
            existing = Message.objects.for_church(church).filter(confirm_key=draft.key).first()
            if existing is not None:
                return existing, False
            return _message_create(church=church, user=user, draft=draft), True
    except IntegrityError:
        # The same preview confirmed at the same moment by another request: that one won.
        existing = Message.objects.for_church(church).filter(confirm_key=draft.key).first()
        if existing is None:
            raise
        return existing, False


def _message_create(*, church: Church, user: User, draft: Draft) -> Message:
    found = selectors.audience(church=church, group_id=draft.group_id, member_ids=list(draft.member_ids))
    if found is None:
        raise ValidationError("That group is no longer one of this church's groups.", code="no_group")
    sendable = found.sendable
    if not sendable:
        raise ValidationError("Nobody in this selection can be texted, so nothing was queued.", code="nobody")
    now = timezone.now()
    start = draft.send_at if draft.send_at and draft.send_at > now else now
    length = gsm.measure(draft.body)
    message = Message.objects.create(
        church=church, created_by=user, group=found.group, audience=found.label[:200], body=draft.body,
        encoding=length.encoding, segments=length.segments, sender=selectors.sender_for(church), created_at=now,
        scheduled_for=draft.send_at if draft.send_at and draft.send_at > now else None,
        confirm_key=draft.key, recipients=len(found.recipients),
        n_queued=len(sendable), n_skipped=len(found.recipients) - len(sendable),
    )
    # Due times follow the church's rate from the end of what it already has queued: the queue's
    # age then measures lateness against the rate, not the length of a big message.
    first_due = _church_backlog_end(church, start)
    interval = _rate_interval()
    rows, position = [], 0
    for r in found.recipients:
        if r.skip:
            rows.append((r.member_id, r.name[:201], r.phone, State.SKIPPED, r.skip, start, start, now))
        else:
            due = first_due + interval * position
            position += 1
            rows.append((r.member_id, r.name[:201], r.phone, State.QUEUED, "", due, due, None))
    _insert_deliveries(message, rows)
    SendRate.objects.bulk_create([SendRate(church=church, next_free=now)], ignore_conflicts=True)
    senders = max(1, min(settings.SMS_SENDERS_PER_MESSAGE, len(sendable), int(settings.SMS_RATE_PER_SECOND) or 1))
    tasks.enqueue_send(message.pk, run_after=first_due, count=senders)
    return message


DELIVERY_COLUMNS = ("member_id", "name", "phone", "state", "skip_reason", "due_at", "next_attempt_at", "finished_at")
# The other columns of a new delivery, all at their defaults.
DELIVERY_DEFAULTS = {"attempts": 0, "provider_sid": "", "error_code": "", "error_reason": "", "needs_reconcile": False,
                     "claimed_by": "", "claimed_at": None, "sent_at": None, "provider_ms": None}


def _insert_deliveries(message: Message, rows: list[tuple]) -> None:
    """Write the message's deliveries (tuples of DELIVERY_COLUMNS) in the caller's transaction.
    On PostgreSQL one COPY: Django's bulk_create spent ~0.8 s of a 10,000-recipient confirm
    turning 190,000 values into SQL parameters; COPY streams the tuples as they are."""
    fixed = {"message_id": message.pk, "church_id": message.church_id, **DELIVERY_DEFAULTS}
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_create([Delivery(**fixed, **dict(zip(DELIVERY_COLUMNS, row))) for row in rows],
                                     batch_size=2000)
        return
    quote = connection.ops.quote_name
    columns = (*fixed, *DELIVERY_COLUMNS)
    head = tuple(fixed.values())
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {quote(Delivery._meta.db_table)} ({', '.join(map(quote, columns))}) "
                                "FROM STDIN") as copy:
            for row in rows:
                copy.write_row(head + row)


def message_cancel(*, message: Message, user: User) -> int:
    """Cancel what of the message is not sent yet (a text being sent right now still goes).
    The number of deliveries cancelled (0 when nothing was left: a repeat is harmless)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        # skip_locked: a delivery a sender is claiming right now becomes `sending` and goes out.
        ids = list(Delivery.objects.select_for_update(skip_locked=True)
                   .filter(message=locked, state=State.QUEUED).values_list("id", flat=True))
        cancelled = Delivery.objects.filter(pk__in=ids, state=State.QUEUED).update(
            state=State.CANCELLED, finished_at=now)
        if cancelled:
            _count(locked.pk, Counter({(State.QUEUED, State.CANCELLED): cancelled}))
        if locked.cancelled_at is None:
            Message.objects.filter(pk=locked.pk).update(cancelled_at=now, cancelled_by=user)
    message.refresh_from_db()
    return cancelled


# --- sending -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What one `send_next` did: sent, skipped, failed, retry, reconciled, abandoned, lost (a
    unit of work) or wait (nothing due before `until`) or done (nothing left)."""

    kind: str
    until: datetime.datetime | None = None

    @property
    def worked(self) -> bool:
        return self.kind not in ("wait", "done")


def _backoff(attempts: int, retry_after: float | None) -> float:
    delay = min(settings.SMS_RETRY_MAX_SECONDS, settings.SMS_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay *= random.uniform(0.5, 1.5)  # noqa: S311  (jitter, not cryptography)
    return max(delay, retry_after or 0.0)


def _take_slot(church_id: int, now: datetime.datetime) -> datetime.datetime | None:
    """Take the church's send slot now (None), or say when it frees up. One UPDATE in the usual
    case; it locks the SendRate row until the caller's transaction ends, so senders everywhere
    take slots one at a time."""
    taken = SendRate.objects.filter(pk=church_id, next_free__lte=now).update(next_free=now + _rate_interval())
    if taken:
        return None
    busy_until = SendRate.objects.filter(pk=church_id).values_list("next_free", flat=True).first()
    if busy_until is None:  # a church that never sent: its row, then the slot
        SendRate.objects.bulk_create([SendRate(church_id=church_id, next_free=now)], ignore_conflicts=True)
        return _take_slot(church_id, now)
    if busy_until <= now:  # freed between the two statements (another sender's commit)
        return _take_slot(church_id, now)
    return busy_until


def _push_slot(church_id: int, until: datetime.datetime) -> None:
    """The provider said to wait (429): no sender of the church goes before `until`."""
    SendRate.objects.filter(pk=church_id, next_free__lt=until).update(next_free=until)


def _status_callback_url() -> str:
    base = settings.SMS_WEBHOOK_BASE_URL
    return f"{base}/sms/status/" if base else ""


def claim_lifetime() -> datetime.timedelta:
    """How long a live sender can hold a claim: it calls the provider within WORKER_DEAD_SECONDS / 2
    of it (`send_next` refuses an older one), the provider answers or times out within
    2 x SMS_PROVIDER_TIMEOUT (connect, then read), and the outcome is committed at once."""
    return datetime.timedelta(seconds=settings.WORKER_DEAD_SECONDS + 2 * settings.SMS_PROVIDER_TIMEOUT)


def _claim(message_id: int, worker_id: str, now: datetime.datetime) -> tuple[Step | None, Delivery | None]:
    """Move the message's next due delivery to `sending` for this worker (committed)."""
    with transaction.atomic():
        opted_out = OptOut.objects.filter(church_id=OuterRef("church_id"), phone=OuterRef("phone"), opted_out=True)
        delivery = (Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(message_id=message_id, state=State.QUEUED, next_attempt_at__lte=now)
                    .annotate(opted_out=Exists(opted_out)).order_by("next_attempt_at", "id").first())
        if delivery is None:
            later = (Delivery.objects.filter(message_id=message_id, state=State.QUEUED)
                     .aggregate(at=Min("next_attempt_at"))["at"])
            return (Step("wait", until=later) if later else Step("done")), None
        if delivery.opted_out:
            _move(delivery, State.SKIPPED, skip_reason=Delivery.Skip.OPTED_OUT, finished_at=now,
                  needs_reconcile=False)
            return Step("skipped"), None
        fields = {"claimed_by": worker_id, "claimed_at": now}
        if not delivery.needs_reconcile:
            # About to be sent: take the rate slot and count the attempt in this same commit.
            busy_until = _take_slot(delivery.church_id, now)
            if busy_until is not None:
                return Step("wait", until=busy_until), None
            fields["attempts"] = delivery.attempts + 1
        _move(delivery, State.SENDING, **fields)
    return None, delivery


def _settle(delivery: Delivery, worker_id: str, apply) -> Delivery | None:
    """Run `apply(locked_delivery)` if this worker still holds the claim and return the delivery;
    None if it lost it (a sweep thought it dead and re-queued it): then nothing is recorded."""
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if (locked is None or locked.state != State.SENDING or locked.claimed_by != worker_id
                or locked.attempts != delivery.attempts):
            logger.warning("delivery %s: claim lost while sending (now %s)", delivery.pk,
                           locked.state if locked else "deleted")
            return None
        apply(locked)
    return locked


def _sent(locked: Delivery, sid: str, elapsed_ms: float | None) -> None:
    now = timezone.now()
    _move(locked, State.SENT, provider_sid=sid, sent_at=now, provider_ms=elapsed_ms, needs_reconcile=False,
          error_code="", error_reason="")
    # A status callback that came before this commit (the provider is quick) is applied by the
    # sweep (apply_pending_statuses): a query less on every send for a rare race.


def _failed(locked: Delivery, code: str, reason: str, elapsed_ms: float | None = None) -> None:
    _move(locked, State.FAILED, error_code=code[:16], error_reason=reason, finished_at=timezone.now(),
          provider_ms=elapsed_ms, needs_reconcile=False)


def _retry_later(locked: Delivery, exc: ProviderError, *, unknown: bool) -> None:
    now = timezone.now()
    if locked.attempts >= settings.SMS_MAX_ATTEMPTS and not unknown:
        _failed(locked, exc.code, f"Gave up after {locked.attempts} attempts: {exc.reason}", exc.elapsed_ms)
        return
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        _push_slot(locked.church_id, now + datetime.timedelta(seconds=retry_after))
    delay = _backoff(locked.attempts, retry_after)
    _move(locked, State.QUEUED, next_attempt_at=now + datetime.timedelta(seconds=delay), needs_reconcile=unknown,
          error_code=exc.code[:16], error_reason=exc.reason, provider_ms=exc.elapsed_ms, claimed_by="")


def send_next(*, message: Message, worker_id: str, backend=None) -> Step:
    """Send (or settle) the message's next due delivery. See the module docstring."""
    backend = backend or get_backend()
    now = timezone.now()
    step, delivery = _claim(message.pk, worker_id, now)
    if step is not None:
        return step
    claimed = time.monotonic()
    if delivery.needs_reconcile:
        step = _reconcile(delivery, message, worker_id, backend)
        if step is not None:
            return step
        claimed = time.monotonic()
    # A worker stalled since its claim (stopped, swapped out) may already be taken for dead and
    # its delivery re-queued: it does not call the provider on an old claim.
    if time.monotonic() - claimed > settings.WORKER_DEAD_SECONDS / 2:
        logger.warning("delivery %s: claim too old to send on; left to the sweep", delivery.pk)
        return Step("abandoned")
    try:
        result = backend.send(to=delivery.phone, from_=message.sender, body=message.body,
                              status_callback=_status_callback_url())
    except PermanentError as exc:
        _settle(delivery, worker_id, lambda d: _failed(d, exc.code, exc.reason, exc.elapsed_ms))
        if exc.code == PERMANENT_UNSUBSCRIBED:
            optout_set(church_id=delivery.church_id, phone=delivery.phone, opted_out=True,
                       how=OptOut.How.PROVIDER, detail=f"error {exc.code}")
        return Step("failed")
    except (TemporaryError, UnknownOutcome) as exc:
        unknown = isinstance(exc, UnknownOutcome)
        settled = _settle(delivery, worker_id, lambda d: _retry_later(d, exc, unknown=unknown))
        return Step("failed" if settled is not None and settled.state == State.FAILED else "retry")
    return Step("sent" if _record_sent(delivery, worker_id, result.sid, result.elapsed_ms) else "lost")


def _record_sent(delivery: Delivery, worker_id: str, sid: str, elapsed_ms: float | None) -> bool:
    """`_settle` + `_sent` in one conditional UPDATE (the common outcome, so two statements a
    delivery fewer): it only matches while this worker still holds the claim."""
    with transaction.atomic():
        held = Delivery.objects.filter(
            pk=delivery.pk, state=State.SENDING, claimed_by=worker_id, attempts=delivery.attempts,
        ).update(state=State.SENT, provider_sid=sid, sent_at=timezone.now(), provider_ms=elapsed_ms,
                 needs_reconcile=False, error_code="", error_reason="")
        if held:
            _count(delivery.message_id, Counter({(State.SENDING, State.SENT): 1}))
    if not held:
        logger.warning("delivery %s: claim lost while sending; the provider's id %s is not recorded here", delivery.pk,
                       sid)
    return bool(held)


def _reconcile(delivery: Delivery, message: Message, worker_id: str, backend) -> Step | None:
    """Ask the provider whether it has this delivery's text from an earlier attempt. A Step when
    that settles it (found, gave up, provider unreachable, rate busy); None: not found, the
    attempt is counted (committed) and the caller sends."""
    try:
        sid = backend.find_sent(to=delivery.phone, from_=message.sender, body=message.body,
                                since=delivery.due_at - RECONCILE_SLACK)
    except ProviderError as exc:
        _settle(delivery, worker_id, lambda d: _move(
            d, State.QUEUED, claimed_by="", error_code=exc.code[:16], error_reason=exc.reason,
            next_attempt_at=timezone.now() + datetime.timedelta(seconds=_backoff(d.attempts, None))))
        return Step("retry")
    if sid:
        logger.info("delivery %s: the provider has it already (%s); not sent again", delivery.pk, sid)
        _settle(delivery, worker_id, lambda d: _sent(d, sid, None))
        return Step("reconciled")
    outcome: dict = {}

    def recount(d: Delivery) -> None:
        now = timezone.now()
        if d.attempts >= settings.SMS_MAX_ATTEMPTS:
            _failed(d, d.error_code or "unknown",
                    f"No answer from the provider after {d.attempts} attempts, and it has no record of the text.")
            outcome["step"] = Step("failed")
            return
        busy_until = _take_slot(d.church_id, now)
        if busy_until is not None:
            # Nothing was sent since the search: it can wait in the queue without another one.
            _move(d, State.QUEUED, claimed_by="", needs_reconcile=False, next_attempt_at=busy_until)
            outcome["step"] = Step("wait", until=busy_until)
            return
        d.attempts += 1
        d.needs_reconcile = False
        # The claim starts again for the send that follows (claim_lifetime counts from here).
        d.claimed_at = now
        d.save(update_fields=["attempts", "needs_reconcile", "claimed_at"])
        delivery.attempts = d.attempts

    if _settle(delivery, worker_id, recount) is None:
        return Step("lost")
    return outcome.get("step")


def send_batch(*, message_id: int, worker_id: str, budget: float = TASK_BUDGET_SECONDS) -> dict:
    """The body of a send task: send the message's due deliveries until none is due, the time
    budget is spent or the worker is stopping; then queue the continuation (see tasks.py)."""
    from jobs import worker

    message = Message.objects.filter(pk=message_id).only("id", "church_id", "body", "sender").first()
    if message is None:
        return {"message": message_id, "gone": True}
    backend = get_backend()
    deadline = time.monotonic() + budget
    done: Counter = Counter()
    while True:
        step = send_next(message=message, worker_id=worker_id, backend=backend)
        done[step.kind] += 1
        if step.kind == "done":
            break
        if step.kind == "wait":
            delay = (step.until - timezone.now()).total_seconds()
            if (delay <= INLINE_WAIT_SECONDS and time.monotonic() + delay < deadline
                    and not tasks.others_ready()):
                if worker.pause(delay):  # asked to stop while waiting
                    tasks.enqueue_send(message_id, run_after=step.until)
                    break
                continue
            tasks.enqueue_send(message_id, run_after=step.until)
            break
        if worker.stopping() or time.monotonic() >= deadline:
            tasks.enqueue_send(message_id)
            break
    return {"message": message_id, **done}


# --- opt-outs --------------------------------------------------------------------------------------

def optout_set(*, church_id: int, phone: str, opted_out: bool, how: str, detail: str = "") -> OptOut | None:
    """Record the phone's choice for the church's texts (an upsert; repeating it changes nothing,
    so the when and how of the first STOP are kept). None for an empty phone."""
    if not phone:
        return None
    with transaction.atomic():
        current = OptOut.objects.select_for_update().filter(church_id=church_id, phone=phone).first()
        if current is not None:
            if current.opted_out == opted_out:
                return current
            current.opted_out, current.how, current.detail = opted_out, how, detail[:150]
            current.changed_at = timezone.now()
            current.save(update_fields=["opted_out", "how", "detail", "changed_at"])
            return current
        try:
            with transaction.atomic():
                return OptOut.objects.create(church_id=church_id, phone=phone, opted_out=opted_out, how=how,
                                             detail=detail[:150])
        except IntegrityError:
            # Another request recorded it at the same moment: the same choice, made once.
            return OptOut.objects.get(church_id=church_id, phone=phone)


# --- provider callbacks --------------------------------------------------------------------------

# Twilio's statuses, by how far along they are; failed/undelivered and delivered are final.
STATUS_TO_STATE = {"sent": State.SENT, "delivered": State.DELIVERED, "undelivered": State.FAILED,
                   "failed": State.FAILED}
RANK = {State.QUEUED: 0, State.SENDING: 1, State.SENT: 2, State.DELIVERED: 3, State.FAILED: 3}


def _status_move(locked: Delivery, status: str, error_code: str) -> bool:
    new = STATUS_TO_STATE.get(status)
    if new is None or locked.state in FINAL_STATES or RANK[new] <= RANK.get(locked.state, 9):
        return False  # unknown, or not forward: delivered stays delivered, a repeat changes nothing
    if new == State.FAILED:
        from .backends.twilio import reason_for

        code = error_code or status
        _move(locked, State.FAILED, error_code=code[:16], finished_at=timezone.now(),
              error_reason=reason_for(code, f"The carrier reported the text {status}."))
    elif new == State.DELIVERED:
        _move(locked, State.DELIVERED, finished_at=timezone.now())
    else:
        _move(locked, new)
    return True


def apply_pending_statuses(now: datetime.datetime | None = None) -> int:
    """Apply the status callbacks kept because they came before their delivery's id was committed
    (in the sweep; callbacks for ids no delivery gets within a day are dropped). How many moved."""
    now = now or timezone.now()
    moved = 0
    for pending in PendingStatus.objects.order_by("received_at")[:1000]:
        delivery = Delivery.objects.select_for_update().filter(provider_sid=pending.provider_sid).first()
        if delivery is not None:
            moved += _status_move(delivery, pending.status, pending.error_code)
            pending.delete()
        elif pending.received_at < now - datetime.timedelta(days=1):
            pending.delete()
    return moved


def status_apply(*, sid: str, status: str, error_code: str, church_ids: list[int]) -> bool:
    """A delivery status callback for the churches of the sender number it names. True when it
    moved a delivery forward. A callback for an id no delivery has yet is kept, and applied by
    the next sweep once the sender has committed that id (the callback raced its commit)."""
    if not sid or status not in STATUS_TO_STATE:
        return False
    with transaction.atomic():
        delivery = (Delivery.objects.select_for_update().filter(provider_sid=sid, church_id__in=church_ids)
                    .first())
        if delivery is None:
            PendingStatus.objects.bulk_create([PendingStatus(provider_sid=sid[:64], status=status,
                                                             error_code=error_code[:16])], ignore_conflicts=True)
            return False
        return _status_move(delivery, status, error_code)


def inbound_keyword(body: str) -> str:
    """"out", "in" or "" for a reply's text (the whole reply is the keyword, any case)."""
    word = (body or "").strip().strip(".!").upper()
    if word in OPT_OUT_KEYWORDS:
        return "out"
    if word in OPT_IN_KEYWORDS:
        return "in"
    return ""


def inbound_apply(*, from_phone: str, church_ids: list[int], body: str) -> str:
    """A reply to a church's number: STOP and the like opt the phone out of those churches'
    texts (only those: another church's number is another list), START opts it back in."""
    keyword = inbound_keyword(body)
    if not keyword or not from_phone:
        return ""
    for church_id in church_ids:
        optout_set(church_id=church_id, phone=from_phone, opted_out=keyword == "out", how=OptOut.How.KEYWORD,
                   detail=body.strip()[:150])
    return keyword


# --- the sweep (a periodic job: exactly once per period, in its transaction) ----------------------

def sweep(now: datetime.datetime | None = None) -> str:
    """Settle what dead workers left: their `sending` deliveries (and any claim older than
    `claim_lifetime()`, whoever holds it) go back to the queue marked `needs_reconcile` (the
    provider is asked before anything is sent again), their RUNNING tasks are marked failed, and
    every message with queued deliveries but no live send task gets one. Early status callbacks
    are applied.
    Database work only, so it can run inside the periodic job's transaction."""
    from django_tasks_db.models import DBTaskResult

    from jobs import heartbeat

    now = now or timezone.now()
    alive = heartbeat.alive_worker_ids(now)
    requeued = 0
    orphans = Delivery.objects.select_for_update(skip_locked=True).filter(state=State.SENDING).filter(
        ~Q(claimed_by__in=alive) | Q(claimed_at__lt=now - claim_lifetime()))
    for delivery in orphans:
        _move(delivery, State.QUEUED, needs_reconcile=True, next_attempt_at=now, claimed_by="")
        requeued += 1
    lost_tasks = 0
    live: set[int] = set()
    for message_id, status, workers in tasks.live_send_tasks():
        if status == "RUNNING" and (not workers or workers[-1] not in alive):
            lost_tasks += 1
            continue
        live.add(message_id)
    if lost_tasks:
        dead_running = [pk for pk, workers in DBTaskResult.objects.running().filter(
            task_path=tasks.send_message.module_path).values_list("id", "worker_ids")
            if not workers or workers[-1] not in alive]
        DBTaskResult.objects.filter(pk__in=dead_running, status="RUNNING").update(
            status="FAILED", finished_at=now, exception_class_path="jobs.worker.WorkerLost",
            traceback="The worker running this task stopped sending heartbeats; its work was re-queued.")
    restarted = 0
    for message_id in Message.objects.filter(n_queued__gt=0).values_list("id", flat=True):
        if message_id in live:
            continue
        first = Delivery.objects.filter(message_id=message_id, state=State.QUEUED).aggregate(
            at=Min("next_attempt_at"))["at"]
        if first is not None:
            tasks.enqueue_send(message_id, run_after=max(first, now))
            restarted += 1
    statuses = apply_pending_statuses(now)
    return f"requeued={requeued} lost_tasks={lost_tasks} restarted={restarted} early_statuses={statuses}"
