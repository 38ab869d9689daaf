"""gunicorn.conf.py sends a response's headers with its body in one write (see
`_send_headers_with_the_body`): a worker killed mid-response has sent all of it or none, so
the balancer can retry a GET that got nothing. Static files (sendfile), chunked responses
and empty bodies keep their bytes in Gunicorn's own order."""

from __future__ import annotations

import os
import runpy
import tempfile
from pathlib import Path
from unittest import mock

from django.test import SimpleTestCase
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.wsgi import FileWrapper

BASE_DIR = Path(__file__).resolve().parents[2]


class RecordingSocket:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def sendfile(self, file, offset=0, count=None) -> int:
        file.seek(offset)
        self.writes.append(b"<sendfile>" + file.read(count))
        return count


def response(sock: RecordingSocket, method: str = "GET") -> wsgi.Response:
    req = mock.Mock(version=(1, 1), method=method, should_close=lambda: False)
    return wsgi.Response(req, sock, Config())


class OneWriteResponseTestCase(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with mock.patch.dict(os.environ, {"FLOCK_VAR_DIR": tempfile.mkdtemp(prefix="flock-gconf-")}):
            runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
            runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))  # a HUP reads it again: patched once

    def test_it_sends_the_headers_and_the_body_in_one_write(self):
        sock = RecordingSocket()
        resp = response(sock)
        resp.start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "11")])
        resp.write(b"hello world")
        resp.close()
        self.assertEqual(len(sock.writes), 1, sock.writes)
        self.assertTrue(sock.writes[0].startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(sock.writes[0].endswith(b"\r\n\r\nhello world"))

    def test_it_sends_the_headers_of_an_empty_body_and_of_head_at_close(self):
        for method, body in (("GET", b""), ("HEAD", b"ignored")):
            with self.subTest(method):
                sock = RecordingSocket()
                resp = response(sock, method)
                resp.start_response("302 Found", [("Location", "/"), ("Content-Length", "0")])
                resp.write(body)
                # Nothing to send them with: the headers wait for close, and leave then.
                self.assertEqual(sock.writes, [])
                resp.close()
                self.assertEqual(b"".join(sock.writes).count(b"HTTP/1.1 302 Found"), 1)
                self.assertTrue(b"".join(sock.writes).endswith(b"\r\n\r\n"))

    def test_it_keeps_gunicorns_order_for_chunked_bodies_and_sendfile(self):
        sock = RecordingSocket()
        resp = response(sock)
        resp.start_response("200 OK", [("Content-Type", "text/csv")])  # no length: chunked
        resp.write(b"a,b\n")
        resp.close()
        self.assertTrue(sock.writes[0].startswith(b"HTTP/1.1 200 OK"))
        self.assertEqual(b"".join(sock.writes[1:]), b"4\r\na,b\n\r\n0\r\n\r\n")

        sock = RecordingSocket()
        resp = response(sock)
        resp.start_response("200 OK", [("Content-Type", "text/css"), ("Content-Length", "6")])
        with tempfile.TemporaryFile() as f:
            f.write(b"body{}")
            f.seek(0)
            resp.write_file(FileWrapper(f))
        resp.close()
        self.assertTrue(sock.writes[0].startswith(b"HTTP/1.1 200 OK"))
        self.assertEqual(sock.writes[1:], [b"<sendfile>body{}"])
