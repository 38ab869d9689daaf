"""The address login throttling counts behind the balancer is the one HAProxy appends.

A client's own X-Forwarded-For header is not believed: three failed logins from one client,
each claiming another address, lock that client out (LOGIN_FAILURE_LIMIT_PER_IP=3 here).
"""

from __future__ import annotations

import re

import pytest
import requests

from tests.cluster import harness
from tests.ops import procs

pytestmark = [pytest.mark.slow, pytest.mark.cluster, procs.once]


def _attempt(top: harness.Topology, username: str, spoofed: str) -> int:
    http = requests.Session()
    page = http.get(top.url + "/accounts/login/", timeout=harness.TIMEOUT)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = http.post(top.url + "/accounts/login/", headers={"X-Forwarded-For": spoofed}, allow_redirects=False,
                  data={"username": username, "password": "wrong", "csrfmiddlewaretoken": token},
                  timeout=harness.TIMEOUT)
    return r.status_code


def test_it_throttles_on_the_balancers_hop_not_on_the_clients_header(healthy):
    top = healthy
    try:
        statuses = [_attempt(top, f"nobody{i}", f"203.0.113.{i}") for i in range(4)]
        # The form again (with its error) twice; the third failure reaches the limit of one
        # address (127.0.0.1, the hop HAProxy appended), whatever each request claimed.
        assert statuses == [200, 200, 429, 429], statuses
    finally:
        _forget_lockouts(top)
    # Lifted: the next login from this address goes through.
    assert top.log_in()


def _forget_lockouts(top: harness.Topology) -> None:
    """Lift the lockout again (the other tests log in from this address too): every login
    throttle key of the topology's cache prefix, on the current primary."""
    primary = top.redis(top.redis_primary())
    keys = list(primary.scan_iter(match="flock:*:login:*", count=1000))
    if keys:
        primary.delete(*keys)
