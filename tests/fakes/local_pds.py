"""The reference Bluesky PDS (tests/pds/launch.js) run on loopback, with helpers to make accounts and read back."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

LAUNCHER = Path(__file__).resolve().parent.parent / "pds" / "launch.js"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalPDS:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 90) -> None:
        pds_port, plc_port = free_port(), free_port()
        self.process = subprocess.Popen(
            ["node", str(LAUNCHER), str(pds_port), str(plc_port), str(self.data_dir)], cwd=LAUNCHER.parent,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line or time.monotonic() > deadline:
            error = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"the PDS did not start: {error[-2000:]}")
        ready = json.loads(line)
        self.url = ready["url"]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    def create_account(self, name: str) -> tuple[str, str, str]:
        """A new account: (handle, did, password)."""
        handle = f"{name}-{secrets.token_hex(3)}.test"
        password = "pw-" + secrets.token_urlsafe(12)
        response = httpx.post(f"{self.url}/xrpc/com.atproto.server.createAccount", timeout=30,
                              json={"handle": handle, "password": password, "email": f"{handle}@example.com"})
        response.raise_for_status()
        return handle, response.json()["did"], password

    def posts(self, did: str) -> list[dict[str, Any]]:
        """Every post record of the account, oldest first: {uri, cid, value}."""
        records: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"repo": did, "collection": "app.bsky.feed.post", "limit": 100, "reverse": "true"}
            if cursor:
                params["cursor"] = cursor
            page = httpx.get(f"{self.url}/xrpc/com.atproto.repo.listRecords", params=params, timeout=30).json()
            records += page["records"]
            cursor = page.get("cursor")
            if not cursor or not page["records"]:
                return sorted(records, key=lambda r: r["value"]["createdAt"])

    def blob(self, did: str, cid: str) -> bytes:
        response = httpx.get(f"{self.url}/xrpc/com.atproto.sync.getBlob", params={"did": did, "cid": cid},
                             timeout=30)
        response.raise_for_status()
        return response.content
