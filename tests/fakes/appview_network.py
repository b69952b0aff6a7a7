"""The reference Bluesky AppView (``@atproto/bsky``) with a PDS and a PLC directory linked to it (tests/appview/
launch.js, through ``@atproto/dev-env``), indexing into a fresh Postgres cluster of its own, all on 127.0.0.1.

Not a fake: it is the network's real code, so likes, reposts, replies and quotes that a second account writes to the
PDS reach the AppView's counts through its firehose, as they do on Bluesky. Postgres comes from Debian's packages
(scripts/install-appview); its cluster lives in a temporary folder, runs as the ``postgres`` user when the tests run
as root (Postgres refuses root), and is removed with everything else by ``stop``.
"""

from __future__ import annotations

import json
import os
import pwd
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from fakes.local_pds import free_port

LAUNCHER = Path(__file__).resolve().parent.parent / "appview" / "launch.js"
INSTALL_HINT = "run scripts/install-appview"


def postgres_bin() -> Path | None:
    """The newest Postgres from Debian's packages (/usr/lib/postgresql/N/bin), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def missing() -> str | None:
    """What is not installed for the network, or None when it can start."""
    if not (LAUNCHER.parent / "node_modules" / "@atproto" / "dev-env").exists():
        return "the reference AppView is not installed"
    if postgres_bin() is None:
        return "Postgres is not installed"
    return None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NetworkAccount:
    """An account on the network's PDS writing records as itself (com.atproto.repo.createRecord with its session):
    what a second person does to a post. A post is given as its strong ref, {"uri", "cid"}."""

    def __init__(self, pds_url: str, handle: str, did: str, password: str):
        self.pds_url, self.handle, self.did = pds_url, handle, did
        session = httpx.post(f"{pds_url}/xrpc/com.atproto.server.createSession", timeout=30,
                             json={"identifier": handle, "password": password})
        session.raise_for_status()
        self.headers = {"Authorization": f"Bearer {session.json()['accessJwt']}"}

    def create(self, collection: str, record: dict[str, Any]) -> dict[str, str]:
        """A record made now: its strong ref."""
        response = httpx.post(f"{self.pds_url}/xrpc/com.atproto.repo.createRecord", headers=self.headers, timeout=30,
                              json={"repo": self.did, "collection": collection,
                                    "record": {"$type": collection, "createdAt": now_iso(), **record}})
        response.raise_for_status()
        return {"uri": response.json()["uri"], "cid": response.json()["cid"]}

    def like(self, post: dict[str, str]) -> dict[str, str]:
        return self.create("app.bsky.feed.like", {"subject": post})

    def repost(self, post: dict[str, str]) -> dict[str, str]:
        return self.create("app.bsky.feed.repost", {"subject": post})

    def reply(self, post: dict[str, str], root: dict[str, str], text: str) -> dict[str, str]:
        """A reply to ``post`` in the thread that starts at ``root``."""
        return self.create("app.bsky.feed.post", {"text": text, "reply": {"root": root, "parent": post}})

    def quote(self, post: dict[str, str], text: str) -> dict[str, str]:
        return self.create("app.bsky.feed.post",
                           {"text": text, "embed": {"$type": "app.bsky.embed.record", "record": post}})

    def delete(self, record: dict[str, str]) -> None:
        """Take back a record this account made (a like, repost or post), given its strong ref."""
        collection, rkey = record["uri"].rsplit("/", 2)[1:]
        response = httpx.post(f"{self.pds_url}/xrpc/com.atproto.repo.deleteRecord", headers=self.headers, timeout=30,
                              json={"repo": self.did, "collection": collection, "rkey": rkey})
        response.raise_for_status()


class AppViewNetwork:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.pg_dir: Path | None = None  # the cluster's data, socket and log; owned by postgres when run as root
        self.node_dir: Path | None = None  # the PDS's data (dev-env puts it under TMPDIR) and the launcher's log
        self.pg_port = 0
        self.pds_url = self.appview_url = self.plc_url = self.control_url = ""
        self.start_seconds = 0.0

    # -- life -------------------------------------------------------------------------------------------------

    def _as_postgres(self, *command: str | Path) -> list[str]:
        # Postgres will not run as root; a user who is not root runs it as themselves.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return prefix + [str(part) for part in command]

    def _pg_stop_command(self) -> list[str]:
        # The launcher runs it too when it stops, so a test session killed outright leaves no Postgres running.
        binaries = postgres_bin()
        assert binaries is not None and self.pg_dir is not None
        return self._as_postgres(binaries / "pg_ctl", "-D", self.pg_dir / "data", "-m", "immediate", "-w", "stop")

    def _start_postgres(self) -> None:
        binaries = postgres_bin()
        assert binaries is not None, f"Postgres is not installed: {INSTALL_HINT}"
        self.pg_dir = Path(tempfile.mkdtemp(prefix="publisher-appview-pg-"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.pg_dir, owner.pw_uid, owner.pw_gid)
        self.pg_port = free_port()
        subprocess.run(self._as_postgres(binaries / "initdb", "-D", self.pg_dir / "data", "-U", "postgres",
                                         "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"),
                       check=True, capture_output=True)
        # A throwaway cluster: no durability, so no fsync; the AppView's pools want more than 100 connections.
        options = (f"-k {self.pg_dir} -c listen_addresses=127.0.0.1 -p {self.pg_port} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run(self._as_postgres(binaries / "pg_ctl", "-D", self.pg_dir / "data", "-l",
                                         self.pg_dir / "postgres.log", "-w", "-o", options, "start"),
                       check=True, capture_output=True)

    def start(self, timeout: float = 120) -> None:
        began = time.monotonic()
        try:
            self._start_postgres()
        except subprocess.CalledProcessError as exc:
            self.stop()
            raise RuntimeError(f"Postgres did not start: {exc.stderr.decode(errors='replace')[-2000:]}") from None
        self.node_dir = Path(tempfile.mkdtemp(prefix="publisher-appview-node-"))
        (self.node_dir / "tmp").mkdir()
        env = {**os.environ, "DB_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres",
               "TMPDIR": str(self.node_dir / "tmp"), "PG_STOP_COMMAND": json.dumps(self._pg_stop_command()),
               "PG_DIR": str(self.pg_dir)}
        with open(self.node_dir / "launcher.log", "wb") as log:
            self.process = subprocess.Popen(["node", str(LAUNCHER)], cwd=LAUNCHER.parent, env=env,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                            start_new_session=True)
        ready = self._ready_line(began + timeout)
        self.pds_url, self.appview_url = ready["pds"], ready["appview"]
        self.plc_url, self.control_url = ready["plc"], ready["control"]
        self.start_seconds = time.monotonic() - began

    def _ready_line(self, deadline: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None and self.node_dir is not None
        line = b""
        with selectors.DefaultSelector() as waiting:
            waiting.register(self.process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                if waiting.select(timeout=max(0.0, deadline - time.monotonic())):
                    chunk = os.read(self.process.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    line += chunk
        try:
            ready: dict[str, Any] = json.loads(line)
            assert ready.get("ready") is True
            return ready
        except (ValueError, AssertionError):
            error = (self.node_dir / "launcher.log").read_text("utf-8", errors="replace")
            self.stop()
            raise RuntimeError(f"the reference AppView did not start: {line[-500:]!r} {error[-2000:]}") from None

    def stop(self) -> None:
        """SIGTERM the launcher (it closes the AppView, PDS and PLC), stop Postgres, remove the temporary folders."""
        if self.process is not None:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()
            self.process = None
        if self.pg_dir is not None and (self.pg_dir / "data" / "postmaster.pid").exists():  # the launcher failed
            subprocess.run(self._pg_stop_command(), capture_output=True)
        for folder in (self.pg_dir, self.node_dir):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self.pg_dir = self.node_dir = None

    # -- use --------------------------------------------------------------------------------------------------

    def create_account(self, name: str) -> tuple[str, str, str]:
        """A new account on the network's PDS: (handle, did, password)."""
        import secrets

        handle = f"{name}-{secrets.token_hex(3)}.test"
        password = "pw-" + secrets.token_urlsafe(12)
        response = httpx.post(f"{self.pds_url}/xrpc/com.atproto.server.createAccount", timeout=30,
                              json={"handle": handle, "password": password, "email": f"{handle}@example.com"})
        response.raise_for_status()
        return handle, response.json()["did"], password

    def account(self, name: str) -> NetworkAccount:
        """A new account, signed in, to like, repost, reply to and quote posts."""
        return NetworkAccount(self.pds_url, *self.create_account(name))

    def settle(self) -> dict[str, Any]:
        """Wait until the AppView has indexed everything the PDS has written so far (the launcher's answer, as
        dev-env's processAll: the PDS's sequence number and the AppView's firehose cursor)."""
        response = httpx.post(f"{self.control_url}/settle", timeout=30)
        assert response.status_code == 200, response.text
        done: dict[str, Any] = response.json()
        return done

    def post_views(self, uris: list[str]) -> dict[str, dict[str, Any]]:
        """The AppView's own answer to app.bsky.feed.getPosts (at most 25 uris), by uri."""
        response = httpx.get(f"{self.appview_url}/xrpc/app.bsky.feed.getPosts", params={"uris": uris}, timeout=30)
        response.raise_for_status()
        return {post["uri"]: post for post in response.json()["posts"]}
