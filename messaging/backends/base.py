"""What every SMS backend does, and the three ways a send can go wrong.

The split of errors is what keeps a text from being sent twice:
- `PermanentError`: the provider refused this text for good (invalid number, unsubscribed):
  final at once, with the provider's code and a human reason.
- `TemporaryError`: the provider certainly did not take the text (throttled, unavailable,
  the connection never opened): it is retried after a backoff (`retry_after` when the provider
  said how long to wait).
- `UnknownOutcome`: the request may have reached the provider (a timeout after it went out, a
  connection cut before the answer, a 5xx): before it is retried, the provider's list of sent
  messages is searched for it (`find_sent`), so it is never sent blindly a second time.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    sid: str
    elapsed_ms: float


class ProviderError(Exception):
    def __init__(self, reason: str, *, code: str = "", elapsed_ms: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.code, self.elapsed_ms = reason, code, elapsed_ms


class PermanentError(ProviderError):
    pass


class TemporaryError(ProviderError):
    def __init__(self, reason: str, *, code: str = "", elapsed_ms: float | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason, code=code, elapsed_ms=elapsed_ms)
        self.retry_after = retry_after


class UnknownOutcome(ProviderError):
    pass


class BaseBackend:
    def send(self, *, to: str, from_: str, body: str, status_callback: str = "") -> SendResult:
        """Hand one text to the provider; its id, or one of the errors above."""
        raise NotImplementedError

    def find_sent(self, *, to: str, from_: str, body: str, since: datetime.datetime) -> str | None:
        """The id of a text with this body that the provider took from `from_` to `to` at or after
        `since`, or None. Raises ProviderError when the provider cannot be asked."""
        raise NotImplementedError
