"""The address login throttling counts behind the balancer is the one HAProxy appends.

A client's own X-Forwarded-For header is not believed: three failed logins from one client,
each claiming another address, lock that client out (LOGIN_FAILURE_LIMIT_PER_IP=3 here).
"""

from __future__ import annotations

import hashlib
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
        _forget_address(top, "127.0.0.1")


def _forget_address(top: harness.Topology, address: str) -> None:
    """Lift the lockout again (the other tests log in from this address too): the throttle's keys
    as cachemon.keys builds them, with Django's prefix and version, on the current primary."""
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    top.redis(top.redis_primary()).delete(f"flock:1:login:fail:ip:{digest}", f"flock:1:login:lock:ip:{digest}")
