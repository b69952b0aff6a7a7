"""A fork server for tests that start `publisher` many times (the kill matrix, racing processes, one-line
errors): one process imports publisher, its SDKs and what its commands import lazily once (atproto alone takes
1-2 s to import), then forks a child per command. Each child is a real process running `publisher.cli.main` with
its own argv, environment, working folder and output files, so signals, SIGSTOP and SIGKILL act on it exactly as
on `python -m publisher`; only the imports are shared. Tests of the interpreter's own start (tracebacks,
encodings, import errors) run `python -m publisher` itself.

Run as ``python tests/forkserver.py SOCKET``; tests use it through ``ForkServer``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _serve(path: str) -> None:
    import atproto  # noqa: F401  (the slow imports, done once)
    import httpx
    import mastodon  # noqa: F401
    import tweepy  # noqa: F401

    import publisher.app
    import publisher.cli
    import publisher.compat
    import publisher.platforms.bluesky
    import publisher.platforms.mastodon
    import publisher.platforms.outbox
    import publisher.platforms.x
    import publisher.render.batch
    import publisher.render.card
    import publisher.scheduler

    publisher.compat.import_twitter_text()  # what counting on X needs
    httpx.Client().close()  # imports its transport (httpcore, h11, anyio, trio): 0.3 s of every command's start

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    waiting: dict[int, socket.socket] = {}  # child pid -> the connection that reports its end
    print("ready", flush=True)
    while True:  # one thread: a child is never forked from a process with other threads running
        readable, _, _ = select.select([server], [], [], 0.02)
        if readable:
            connection, _ = server.accept()
            request = json.loads(connection.makefile("r").readline())
            pid = os.fork()
            if pid == 0:
                server.close()
                for other in (connection, *waiting.values()):
                    other.close()
                _child(request, publisher.cli.main)
            connection.sendall(f"{pid}\n".encode())
            waiting[pid] = connection
        while waiting:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            connection = waiting.pop(pid)
            with contextlib.suppress(OSError):  # the test may have stopped waiting for it
                connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            connection.close()


def _child(request: dict[str, Any], main: Any) -> None:
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.argv = ["publisher", *request["argv"]]
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class ForkedProcess:
    """One forked `publisher` command, with the parts of ``subprocess.Popen`` the tests use."""

    def __init__(self, connection: socket.socket, argv: list[str], out: Path, err: Path):
        self.connection, self.args, self.out, self.err = connection, argv, out, err
        self.answers = connection.makefile("r")
        self.pid = int(self.answers.readline())
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.connection], [], [], 0)[0]:
            self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self.connection], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._finish()
        assert self.returncode is not None
        return self.returncode

    def _finish(self) -> None:
        line = self.answers.readline()
        self.returncode = int(line) if line else -signal.SIGKILL
        self.connection.close()

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.stdout_text(), self.err.read_text("utf-8")

    def stdout_text(self) -> str:
        return self.out.read_text("utf-8")


class ForkServer:
    """The client: ``start`` a `publisher` command in a forked child (a ``ForkedProcess``), or ``run`` one to
    its end and get it back as ``subprocess.run`` would (a signal's death as a negative return code)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.socket = str(folder / "fork.sock")
        self.process = subprocess.Popen([sys.executable, __file__, self.socket], stdout=subprocess.PIPE, text=True,
                                        cwd=folder)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the fork server did not start")
        self.started = 0

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> ForkedProcess:
        self.started += 1
        out, err = self.folder / f"run{self.started}.out", self.folder / f"run{self.started}.err"
        request = {"argv": argv, "env": env, "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(self.socket)
        connection.sendall((json.dumps(request) + "\n").encode())
        return ForkedProcess(connection, argv, out, err)

    def run(self, argv: list[str], env: dict[str, str], cwd: Path,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        process = self.start(argv, env, cwd)
        try:
            stdout, stderr = process.communicate(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        return subprocess.CompletedProcess(argv, process.wait(), stdout, stderr)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


if __name__ == "__main__":
    _serve(sys.argv[1])
