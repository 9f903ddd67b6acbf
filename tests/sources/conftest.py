"""Fixtures for the source tests: a local Wikipedia on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from wiki_server import MAX_REQUESTS, Reply, WikiServer, scrape_params


@pytest.fixture
def wiki_server() -> Iterator[WikiServer]:
    state = WikiServer(base_url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = unquote(self.path)
            with lock:
                state.requests.append((path, self.headers.get("User-Agent", "")))
                over = len(state.requests) > MAX_REQUESTS
                replies = state.routes.get(path)
                reply = Reply(status=404, body="<p>no such page</p>") if not replies else (
                    replies.pop(0) if len(replies) > 1 else replies[0])
            if over:
                reply = Reply(status=410, body="too many requests in one test")
            if reply.delay_s:
                time.sleep(reply.delay_s)
            data = reply.body.encode("utf-8")
            self.send_response(reply.status)
            headers = {"Content-Type": "text/html; charset=UTF-8", "Content-Length": str(len(data)), **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args: object) -> None:  # keep pytest output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # do not wait for the timeout test's deliberately slow answer
    state.base_url = f"http://127.0.0.1:{server.server_port}/wiki/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def write_params(tmp_path: Path):
    """Write a params.yaml holding just the scrape section; returns its path."""

    def write(**overrides: object) -> Path:
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump({"scrape": scrape_params(**overrides)}, allow_unicode=True), encoding="utf-8")
        return path

    return write
