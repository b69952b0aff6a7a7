"""An HTTP proxy in front of a real server that misbehaves on request: 429 with a reset time, 500, or accepting
a request (the server does it) and then dropping or stalling the answer."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Fault:
    path: str  # the request path it applies to, e.g. /xrpc/com.atproto.repo.putRecord
    nth: int  # the n-th request to that path (1-based)
    kind: str  # 429, 500, drop_after (forward, then close without answering), stall_after (forward, then wait)
    reset_in: int = 2  # seconds, for 429
    stall: float = 5.0


@dataclass
class FaultProxy:
    target: str
    faults: list[Fault] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    url: str = ""  # where it listens, once started

    def start(self) -> str:
        proxy = self
        target = urlsplit(self.target)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                path = self.path.split("?")[0]
                proxy.counts[path] = proxy.counts.get(path, 0) + 1
                proxy.seen.append(path)
                fault = next((f for f in proxy.faults if f.path == path and f.nth == proxy.counts[path]), None)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if fault and fault.kind in ("429", "500"):
                    payload = b'{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}' if fault.kind == "429" \
                        else b'{"error":"InternalServerError","message":"Internal Server Error"}'
                    self.send_response(int(fault.kind))
                    if fault.kind == "429":
                        self.send_header("ratelimit-reset", str(int(time.time()) + fault.reset_in))
                        self.send_header("ratelimit-remaining", "0")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                if fault and fault.kind == "drop_after":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault and fault.kind == "stall_after":
                    time.sleep(fault.stall)
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # stop() does not wait for a client's idle kept-alive connection
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
