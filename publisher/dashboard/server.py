"""Running the dashboard: one uvicorn server on a socket bound before the link is printed (so ``--port 0`` gives a
real port), on loopback unless the user asks, knowingly, for more."""

from __future__ import annotations

import errno
import ipaddress
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from publisher.app import Project
from publisher.errors import BadArgument

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
    board: Any  # the Dashboard

    @property
    def browser_url(self) -> str:
        """A one-time link for the browser: the token never goes on a command line (ps shows those)."""
        return str(self.board.one_time_link(self.url.partition("/?token=")[0]))

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.board.stopping.set()  # a pack being made unwinds: its workers stop, its .tmp goes
            for thread in threading.enumerate():
                if thread.name.startswith("pack-"):
                    thread.join(timeout=20)

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="dashboard", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.server.should_exit = True


def prepare(project: Project, host: str, port: int, allow_remote: bool, user: str,
            on_change: Callable[[], None] = lambda: None) -> Served:
    """The dashboard app on a bound socket, ready to run; refuses a host other machines can reach unless
    ``allow_remote``."""
    import uvicorn

    from publisher.dashboard.web import create_app

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
    app, board = create_app(project, token, user, allowed_hosts=names if loopback else None, on_change=on_change)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False,
                            timeout_graceful_shutdown=3)
    return Served(f"http://{shown}:{bound}/?token={token}", uvicorn.Server(config), sock, board)
