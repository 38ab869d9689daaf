"""A fake Twilio REST API on 127.0.0.1 for the tests and the benchmark.

    with FakeTwilio() as fake:                 # a thread serving on a free loopback port
        settings: TWILIO_API_BASE=fake.url, TWILIO_ACCOUNT_SID=fake.sid, TWILIO_AUTH_TOKEN=fake.token
        fake.script("+15550001", [500, 429, "ok"])   # per recipient: what the next POSTs get
        fake.latency = 0.05                          # seconds before every answer
        fake.hold("+15550002", accept=True)          # keep that POST open until fake.release()
        fake.sent_to("+15550001")                    # texts it accepted for that number

Serves `POST /2010-04-01/Accounts/{sid}/Messages.json` (form To, From, Body, StatusCallback;
basic auth; 201 with a `sid`) and the list `GET` of the same URL (To / From filters, newest
first, `PageSize`, `next_page_uri`), like Twilio. Script entries: "ok", an HTTP status (500,
503, 401...; 429 answers `Retry-After: 1`), ("429", seconds), ("error", status, code) for a
Twilio error body, "timeout" (accept the text, then answer after `timeout_delay` seconds:
the client gives up first, not knowing it was sent), "drop" (close the connection unanswered,
the text not taken).
"""

from __future__ import annotations

import base64
import email.utils
import json
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (its timeout) closes the socket under a late answer: expected.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeTwilio:
    def __init__(self, *, sid: str = "ACfake0000000000000000000000000000", token: str = "fake-auth-token") -> None:
        self.sid, self.token = sid, token
        self.lock = threading.Lock()
        self.messages: list[dict] = []  # accepted texts, oldest first
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, params) of every request
        self._scripts: dict[str, deque] = defaultdict(deque)
        self._holds: dict[str, tuple[bool, threading.Event]] = {}
        self.held = threading.Condition(self.lock)
        self.held_count = 0
        self.latency = 0.0
        self.timeout_delay = 3.0
        self.record_requests = True
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-twilio", daemon=True)

    # --- programming it --------------------------------------------------------------------
    def script(self, to: str, outcomes: list) -> None:
        with self.lock:
            self._scripts[to].extend(outcomes)

    def hold(self, to: str, *, accept: bool) -> None:
        """Keep POSTs to `to` open until `release()`; `accept`: the text counts as sent meanwhile."""
        with self.lock:
            self._holds[to] = (accept, threading.Event())

    def release(self, to: str | None = None) -> None:
        with self.lock:
            targets = [to] if to else list(self._holds)
            for number in targets:
                entry = self._holds.pop(number, None)
                if entry:
                    entry[1].set()

    def wait_held(self, n: int = 1, timeout: float = 30) -> None:
        """Wait until `n` requests are being held open."""
        deadline = time.monotonic() + timeout
        with self.held:
            while self.held_count < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the fake provider holds {self.held_count} requests, not {n}")
                self.held.wait(left)

    # --- reading it ------------------------------------------------------------------------
    def sent_to(self, to: str) -> list[dict]:
        with self.lock:
            return [m for m in self.messages if m["to"] == to]

    def bodies_by_number(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = defaultdict(int)
            for m in self.messages:
                counts[m["to"]] += 1
            return dict(counts)

    def posts(self) -> int:
        with self.lock:
            return sum(1 for method, _, _ in self.requests if method == "POST")

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- serving ---------------------------------------------------------------------------
    def _accept(self, params: dict) -> dict:
        now = datetime.now(timezone.utc)
        message = {
            "sid": "SM" + uuid.uuid4().hex, "to": params.get("To", ""), "from": params.get("From", ""),
            "body": params.get("Body", ""), "status": "queued", "date_created": email.utils.format_datetime(now),
            "date_sent": None, "_at": now, "status_callback": params.get("StatusCallback", ""),
        }
        with self.lock:
            self.messages.append(message)
        return message

    def _list(self, query: dict) -> dict:
        to, from_ = query.get("To", [""])[0], query.get("From", [""])[0]
        size = int(query.get("PageSize", ["50"])[0])
        page = int(query.get("Page", ["0"])[0])
        with self.lock:
            found = [m for m in reversed(self.messages) if (not to or m["to"] == to) and (not from_ or m["from"] == from_)]
        chunk = found[page * size:(page + 1) * size]
        more = len(found) > (page + 1) * size
        path = f"/2010-04-01/Accounts/{self.sid}/Messages.json"
        return {
            "messages": [{k: v for k, v in m.items() if not k.startswith("_")} for m in chunk],
            "next_page_uri": f"{path}?To={to}&From={from_}&PageSize={size}&Page={page + 1}" if more else None,
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm and the
                # client's delayed ACK hold every answer on a keep-alive connection for ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _authorized(self) -> bool:
                expected = base64.b64encode(f"{fake.sid}:{fake.token}".encode()).decode()
                return self.headers.get("Authorization", "") == f"Basic {expected}"

            def _send(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
                data = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _path_ok(self, path: str) -> bool:
                return path == f"/2010-04-01/Accounts/{fake.sid}/Messages.json"

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                if fake.record_requests:
                    with fake.lock:
                        fake.requests.append(("GET", url.path, parse_qs(url.query)))
                if not self._authorized():
                    return self._send(401, {"code": 20003, "message": "Authenticate"})
                if not self._path_ok(url.path):
                    return self._send(404, {"code": 20404, "message": "Not found"})
                if fake.latency:
                    time.sleep(fake.latency)
                self._send(200, fake._list(parse_qs(url.query)))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                params = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                url = urlparse(self.path)
                if fake.record_requests:
                    with fake.lock:
                        fake.requests.append(("POST", url.path, params))
                if not self._authorized():
                    return self._send(401, {"code": 20003, "message": "Authenticate"})
                if not self._path_ok(url.path):
                    return self._send(404, {"code": 20404, "message": "Not found"})
                to = params.get("To", "")
                with fake.lock:
                    outcome = fake._scripts[to].popleft() if fake._scripts.get(to) else "ok"
                    hold = fake._holds.get(to)
                if fake.latency:
                    time.sleep(fake.latency)
                if hold is not None:
                    accept, released = hold
                    message = fake._accept(params) if accept else None
                    with fake.held:
                        fake.held_count += 1
                        fake.held.notify_all()
                    released.wait()
                    if message is None:
                        return self._send(503, {"code": 20503, "message": "Service unavailable"})
                    return self._send(201, {k: v for k, v in message.items() if not k.startswith("_")})
                return self._answer(outcome, params)

            def _answer(self, outcome, params: dict) -> None:
                if outcome == "ok":
                    message = fake._accept(params)
                    return self._send(201, {k: v for k, v in message.items() if not k.startswith("_")})
                if outcome == "timeout":
                    fake._accept(params)
                    time.sleep(fake.timeout_delay)
                    return self._send(201, {"sid": "late"})
                if outcome == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if isinstance(outcome, tuple) and outcome[0] == "429":
                    return self._send(429, {"code": 20429, "message": "Too many requests"},
                                      {"Retry-After": str(outcome[1])})
                if isinstance(outcome, tuple) and outcome[0] == "error":
                    return self._send(outcome[1], {"code": outcome[2], "message": f"Error {outcome[2]}"})
                if outcome == 429:
                    return self._send(429, {"code": 20429, "message": "Too many requests"}, {"Retry-After": "1"})
                return self._send(int(outcome), {"code": int(outcome), "message": f"HTTP {outcome}"})

        return Handler


if __name__ == "__main__":  # a standalone fake for the benchmark: prints its URL, serves until killed
    import sys

    fake = FakeTwilio()
    fake.record_requests = False
    fake.start()
    print(fake.url, flush=True)
    sys.stdin.read() if not sys.stdin.isatty() else threading.Event().wait()
