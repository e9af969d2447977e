"""A real HTTP reverse proxy on 127.0.0.1 that counts, and can spoil, chat completions.

Tests of LLM clients put it between the client and a real server (tests/llm_server.py):
it garbles, delays or refuses a chosen share of the answers, counts what the server
answered, and can call back after each answer (to kill the server mid-run, say).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit


class FaultProxy:
    """A real HTTP reverse proxy on 127.0.0.1 that counts, and can spoil, chat completions.

    `upstream` is the server's root URL (`http://127.0.0.1:PORT`); paths pass through as
    they are, and an unreachable upstream is answered with 502. Faults apply to POSTs to
    .../chat/completions only, chosen by arrival order ("first N") or by chance
    ("fraction", seeded). Attributes can be changed while it runs. Responses are buffered
    whole, so streaming answers arrive in one piece.
    """

    def __init__(
        self,
        upstream: str,
        *,
        garble_first: int = 0,
        garble_fraction: float = 0.0,
        garble_mode: Literal["content", "body"] = "content",
        delay_first: int = 0,
        delay_fraction: float = 0.0,
        delay_s: float = 0.0,
        reject_json_schema: bool = False,
        after_response: Callable[[int], None] | None = None,
        upstream_timeout: float = 120.0,
        record: bool = False,
        seed: int = 0,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.garble_first = garble_first
        self.garble_fraction = garble_fraction
        self.garble_mode = garble_mode  # content: the answer cut in half; body: the HTTP body
        self.delay_first = delay_first
        self.delay_fraction = delay_fraction
        self.delay_s = delay_s
        self.reject_json_schema = reject_json_schema  # 400, as servers without it answer
        self.after_response = after_response  # called with chat_completions, each answer
        self.upstream_timeout = upstream_timeout
        self.received = 0  # chat completion requests that reached the proxy
        self.chat_completions = 0  # ... that the upstream answered with a 2xx
        self.garbled = self.delayed = self.rejected = self.upstream_errors = 0
        self.record = record  # keep the chat completion request bodies in `requests`
        self.requests: list[dict[str, Any]] = []
        self.in_flight = self.max_in_flight = 0  # chat completions being answered at once
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> FaultProxy:
        handler = type("Handler", (_ProxyHandler,), {"proxy": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a delayed handler must not hold up stop()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @contextmanager
    def _counting(self, is_chat: bool) -> Iterator[None]:
        if not is_chat:
            yield
            return
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def _choose(self) -> tuple[bool, bool]:
        """(garble, delay) for the next chat completion."""
        with self._lock:
            index = self.received
            self.received += 1
            garble = index < self.garble_first or self._rng.random() < self.garble_fraction
            delay = index < self.delay_first or self._rng.random() < self.delay_fraction
            self.garbled += garble
            self.delayed += delay
        return garble, delay

    def _forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.upstream_timeout
        )
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            conn.close()

    def _garble(self, body: bytes) -> bytes:
        if self.garble_mode == "body":
            return body[: len(body) // 2]
        data = json.loads(body)
        for choice in data.get("choices", []):
            content = choice.get("message", {}).get("content") or ""
            choice["message"]["content"] = content[: len(content) // 2] or "{"  # never JSON
        return json.dumps(data).encode()


class _ProxyHandler(BaseHTTPRequestHandler):
    proxy: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows a failing test's output, not every request."""

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        self._handle(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _handle(self, body: bytes) -> None:
        proxy = self.proxy
        is_chat = self.command == "POST" and self.path.rstrip("/").endswith("/chat/completions")
        garble = delay = False
        if is_chat:
            garble, delay = proxy._choose()
            if proxy.record:
                with proxy._lock:
                    proxy.requests.append(json.loads(body))
            if proxy.reject_json_schema and _asks_json_schema(body):
                with proxy._lock:
                    proxy.rejected += 1
                message = "response_format of type json_schema is not supported"
                error = {"message": message, "type": "invalid_request_error", "code": None}
                self._reply(400, "application/json", json.dumps({"error": error}).encode())
                return
            if delay and proxy._stopping.wait(proxy.delay_s):
                return  # stopped while holding the request: drop it
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            with proxy._counting(is_chat):
                status, ctype, data = proxy._forward(self.command, self.path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            with proxy._lock:
                proxy.upstream_errors += 1
            error = {"message": f"upstream unreachable: {exc}", "type": "proxy_error"}
            self._reply(502, "application/json", json.dumps({"error": error}).encode())
            return
        count = None
        if is_chat and 200 <= status < 300:
            with proxy._lock:
                proxy.chat_completions += 1
                count = proxy.chat_completions
            if garble:
                data = proxy._garble(data)
        if count is not None and proxy.after_response is not None:
            proxy.after_response(count)  # before the reply: the client sees its effect next
        self._reply(status, ctype, data)

    def _reply(self, status: int, ctype: str, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype or "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing left to tell it


_HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade"}


def _asks_json_schema(body: bytes) -> bool:
    try:
        request = json.loads(body)
    except json.JSONDecodeError:
        return False
    response_format = request.get("response_format") if isinstance(request, dict) else None
    return isinstance(response_format, dict) and response_format.get("type") == "json_schema"
