"""A real HTTP proxy on 127.0.0.1 in front of the test STAC API: counts the /search requests the
plan step makes and, from the Nth on, answers them 500 (a catalog failing mid-search).

The Host header is passed on, so the API's `next` links point back at the proxy and every page
goes through it."""

from __future__ import annotations

import http.server
import json
import threading

import requests

from tests.loopback import LoopbackHTTPServer, ServedOnLoopback

HOP_HEADERS = {"host", "content-length", "connection", "accept-encoding", "keep-alive"}


class CountingProxy(ServedOnLoopback):
    def __init__(self, upstream: str, fail_from: int | None = None) -> None:
        self.upstream, self.fail_from = upstream.rstrip("/"), fail_from
        self.searches = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if owner.count(self.path):
                    return self._send(500, "application/json",
                                      json.dumps({"code": "Boom", "description": "down"}).encode())
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                headers["Host"] = self.headers["Host"]
                answer = requests.request(self.command, owner.upstream + self.path, data=body,
                                          headers=headers, timeout=60)
                return self._send(answer.status_code, answer.headers.get("Content-Type", ""),
                                  answer.content)

            def _send(self, status: int, kind: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._loopback = LoopbackHTTPServer(Handler)

    def count(self, path: str) -> bool:
        """Count a /search request; True when it is to fail."""
        if path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] != "search":
            return False
        with self._lock:
            self.searches += 1
            return self.fail_from is not None and self.searches >= self.fail_from
