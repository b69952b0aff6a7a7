"""Running the dashboard: one uvicorn server on a socket bound before the link is printed (so ``--port 0`` gives a
real port), on loopback unless the user asks, knowingly, for more; behind an HTTPS proxy only when told the public
address (``--public-url``), never by trusting forwarded headers."""

from __future__ import annotations

import errno
import ipaddress
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from publisher.app import Project
from publisher.errors import BadArgument

if TYPE_CHECKING:
    from publisher.dashboard.board import Dashboard

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Served:
    url: str  # the link with the token, to print
    server: Any  # uvicorn.Server
    sock: socket.socket
    board: Dashboard

    @property
    def browser_url(self) -> str:
        """What to open the browser on: an owner-only file that forwards to a one-time link, so nothing that
        lets one in ever goes on a command line (other users read those in the process list)."""
        return self.board.browser_file(self.url.partition("/?token=")[0]).as_uri()

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.board.stopping.set()  # a pack being made unwinds: its workers stop, its .tmp goes
            for thread in threading.enumerate():
                if thread.name.startswith("pack-"):
                    thread.join(timeout=20)
            self.board.close()

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="dashboard", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.server.should_exit = True


def public_origin(url: str) -> str:
    """The origin ``--public-url`` names (``https://host[:port]``); BadArgument for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BadArgument(f"--public-url {url[:200]} is not an https:// address without a path: give the address "
                          "your HTTPS proxy serves the dashboard at, such as https://board.example.org")
    return f"https://{parts.netloc.lower()}"


def prepare(project: Project, host: str, port: int, allow_remote: bool, user: str,
            on_change: Callable[[], None] = lambda: None, public_url: str | None = None) -> Served:
    """The dashboard app on a bound socket, ready to run; refuses a host other machines can reach unless
    ``allow_remote``. ``public_url``: the https address an HTTPS proxy serves it at (the link then uses it)."""
    import uvicorn

    from publisher.dashboard.web import create_app

    origin = public_origin(public_url) if public_url else None
    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        raise BadArgument(f"--host {host} would let other machines reach the dashboard, whose only lock is the token "
                          "sent over plain HTTP: add --allow-remote if you mean it (better: keep 127.0.0.1 and use "
                          "an SSH tunnel)")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BadArgument(f"port {port} on {host} is in use (another publisher serve?): give another with "
                              "--port, or --port 0 for any free one") from None
        raise BadArgument(f"cannot listen on {host}:{port}: {exc.strerror or exc} (check --host)") from None
    sock.listen(64)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if family == socket.AF_INET6 else host
    token = secrets.token_urlsafe(24)
    names = {f"{shown}:{bound}", f"localhost:{bound}", f"127.0.0.1:{bound}", f"[::1]:{bound}"}
    if bound == 80:  # browsers leave the default port out of Host
        names |= {shown, "localhost", "127.0.0.1", "[::1]"}
    if origin:
        names.add(origin.partition("://")[2])
    try:
        app, board = create_app(project, token, user, allowed_hosts=names if loopback else None,
                                on_change=on_change, public_origin=origin)
    except BaseException:
        sock.close()
        raise
    # proxy_headers=False: uvicorn would otherwise take X-Forwarded-Proto/-For from any local process as the truth.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                            timeout_graceful_shutdown=3, proxy_headers=False)
    return Served(f"{origin or f'http://{shown}:{bound}'}/?token={token}", uvicorn.Server(config), sock, board)
