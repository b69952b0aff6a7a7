"""Posting to Mastodon: a 5-part thread with 5 Casey Review cards (and their alt texts) to the Mastodon fake
(tests/fakes/mastodon_api.py, in its own process, as a server would be) through publisher, against Mastodon.py
alone making the same calls (media_post with the description, then status_post replying to the part before).

Measured each round on fresh fake accounts and a fresh project whose thread was queued beforehand (not timed):
publisher's Project.post_due() in-process (lock, store, platform set-up, the token check, every part's state
written before and after its calls), against Mastodon.py from ``Mastodon(...)`` to the last status (both fetch
the server's version before the first upload); the same publisher post with its project on tmpfs (/dev/shm),
where a commit's fdatasync costs nothing, to show what durability costs; publisher's fixed cost (a post with
nothing due); then the whole ``publisher post`` process against a fresh Python process making the same calls.
Target: publisher <= 1.2x Mastodon.py.

    .venv/bin/python bench/mastodon.py [--profile]

``--profile`` adds a cProfile of one more in-process post: where publisher's time goes (store transactions,
set-up, the token check, HTTP round trips) and the requests it made.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path, where its name would hide the mastodon package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
PYTHON = REPO / ".venv" / "bin" / "python"
PUBLISHER = REPO / ".venv" / "bin" / "publisher"
ROUNDS = 20  # in-process rounds, after one that warms both sides up
PROCESS_ROUNDS = 5  # whole-process rounds, after one warm-up
TARGET = 1.2

# The fake in a process of its own, so its work never shares a GIL with the side being timed. It makes the
# accounts, prints its address and their tokens, then answers "counts" (requests per path since the last ask)
# until its stdin closes.
SERVER = """
import json, sys
sys.path.insert(0, sys.argv[2])
from fakes.mastodon_api import FakeMastodonAPI
fake = FakeMastodonAPI()
fake.start()
tokens = [fake.add_user(f"bench{n}").token for n in range(int(sys.argv[1]))]
print(json.dumps({"url": fake.url, "tokens": tokens}), flush=True)
seen = {}
for line in sys.stdin:
    counts = dict(fake.counts)
    print(json.dumps({path: n - seen.get(path, 0) for path, n in counts.items() if n > seen.get(path, 0)}), flush=True)
    seen = counts
fake.stop()
"""

# Mastodon.py alone, as a campaigner's own script would post the thread.
BARE = """
import json, sys
from mastodon import Mastodon
parts = json.load(open(sys.argv[2]))
client = Mastodon(api_base_url=sys.argv[1], access_token=sys.stdin.readline().strip())
previous = None
for text, images in parts:
    media = [client.media_post(open(png, "rb").read(), mime_type="image/png", description=alt) for png, alt in images]
    previous = client.status_post(text, in_reply_to_id=previous, media_ids=media)
"""

Part = tuple[str, list[tuple[bytes, str]]]  # text, [(png, alt)]


class FakeServer:
    def __init__(self, accounts: int):
        self.process = subprocess.Popen([str(PYTHON), "-c", SERVER, str(accounts), str(REPO / "tests")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.process.stdout is not None and self.process.stdin is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        started = json.loads(self.stdout.readline())
        self.url: str = started["url"]
        self.tokens: list[str] = started["tokens"]

    def token(self) -> str:
        return self.tokens.pop()

    def counts(self) -> dict[str, int]:
        """Requests per path since the last call."""
        self.stdin.write("counts\n")
        self.stdin.flush()
        counts: dict[str, int] = json.loads(self.stdout.readline())
        return counts

    def stop(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=30)


def make_project(root: Path, instance: str, campaign: str) -> Path:
    """One Mastodon account; a campaign of 5 quotes a thread, each part a quote with its card."""
    (root / "quotes").mkdir(parents=True)
    (root / "quotes" / "caseyreview.toml").write_text((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"),
                                                      encoding="utf-8")
    (root / "schedule.toml").write_text(f"""[defaults]
timezone = "Europe/London"

[accounts.masto]
platform = "mastodon"
instance = "{instance}"

[[campaigns]]
name = "{campaign}"
collection = "caseyreview"
accounts = ["masto"]
quotes_per_thread = 5
numbering = true
""", encoding="utf-8")
    return root / "schedule.toml"


def queued_project(folder: Path, instance: str, name: str) -> tuple[Path, list[Part]]:
    """A project with its thread queued to post now, and the thread's parts as they will be sent."""
    from publisher.app import Project

    config = make_project(folder / name, instance, name)
    project = Project(config)
    added = project.queue_add(name, now=True)
    with project.queue() as queue:
        parts = [(p.text, [(queue.store.image(i["sha256"])[0], i["alt"]) for i in p.images])
                 for p in queue.store.parts(added.thread.id)]
    assert len(parts) == 5 and all(len(images) == 1 for _, images in parts)
    return config, parts


def post_in_process(config: Path, token: str, posts: int = 5) -> tuple[float, float]:
    """Wall time and this process's CPU time."""
    from publisher.app import Project

    env = {**os.environ, "PUBLISHER_MASTODON_TOKEN": token}
    start, cpu = time.perf_counter(), time.process_time()
    report = Project(config).post_due(env=env)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    posted = [(o.state, [a.posted for a in o.accounts]) for o in report.outcomes]
    assert posted == ([("posted", [posts])] if posts else []), report
    return elapsed, cpu


def bare_in_process(url: str, token: str, parts: list[Part]) -> tuple[float, float]:
    """Wall time and this process's CPU time."""
    from mastodon import Mastodon

    start, cpu = time.perf_counter(), time.process_time()
    client = Mastodon(api_base_url=url, access_token=token)
    previous = None
    for text, images in parts:
        media = [client.media_post(png, mime_type="image/png", description=alt) for png, alt in images]
        previous = client.status_post(text, in_reply_to_id=previous, media_ids=media)
    return time.perf_counter() - start, time.process_time() - cpu


def post_process(config: Path, token: str) -> float:
    env = {**os.environ, "PUBLISHER_MASTODON_TOKEN": token}
    start = time.perf_counter()
    done = subprocess.run([str(PUBLISHER), "--config", str(config), "post"], env=env, capture_output=True,
                          text=True, check=False, cwd=REPO)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    return elapsed


def bare_process(url: str, token: str, parts_file: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([str(PYTHON), "-c", BARE, url, str(parts_file)], input=token + "\n",
                          capture_output=True, text=True, check=False, cwd=REPO)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    return elapsed


def write_parts(folder: Path, parts: list[Part]) -> Path:
    """The parts for the separate process: texts and alt texts in JSON, the PNGs as files."""
    listed = []
    for number, (text, images) in enumerate(parts):
        files = []
        for index, (png, alt) in enumerate(images):
            path = folder / f"card-{number}-{index}.png"
            path.write_bytes(png)
            files.append((str(path), alt))
        listed.append((text, files))
    out = folder / "parts.json"
    out.write_text(json.dumps(listed), encoding="utf-8")
    return out


def in_turn(round_number: int, *sides: Callable[[], Any]) -> None:
    """Each side goes first in its turn, so none always meets a warmer server."""
    turn = round_number % len(sides)
    for side in sides[turn:] + sides[:turn]:
        side()


def spread(times: list[float]) -> str:
    return (f"median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
            f"max {max(times) * 1000:.0f}, n={len(times)})")


def profile(server: FakeServer, folder: Path) -> None:
    """One more in-process post under cProfile: where publisher's time goes, and what it does per thread."""
    config, _ = queued_project(folder, server.url, "profiled")
    server.counts()
    token = server.token()
    profiler = cProfile.Profile()
    profiler.enable()
    post_in_process(config, token)
    profiler.disable()
    requests = server.counts()
    raw: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in raw.values())

    def calls(*names: str) -> tuple[int, float]:
        found = [(n, cumulative) for (file, _, function), (_, n, _, cumulative, _) in raw.items()
                 if any(name in f"{file}:{function}" for name in names)]
        return sum(n for n, _ in found), sum(c for _, c in found)

    print(f"\nProfile of one more in-process post ({total * 1000:.0f} ms under cProfile, which slows Python code "
          "more than waiting):")
    print(f"  requests to the fake: {described(requests)}")
    for label, names in [("store transactions (a COMMIT that wrote is an fdatasync: synchronous = FULL)",
                          ("store_base.py:transaction",)),
                         ("SQL statements", ("method 'execute' of 'sqlite3.Connection'",)),
                         ("platforms_for (set-up, with the outbox page's fonts)", ("factory.py:platforms_for",)),
                         ("verify_credentials", ("account_verify_credentials",)),
                         ("checkpoints", ("faults.py:checkpoint",)),
                         ("find", ("mastodon.py:find",)),
                         ("HTTP round trips (requests' Session.request)", ("sessions.py:request",))]:
        count, cumulative = calls(*names)
        print(f"  {label}: {count} calls, {cumulative * 1000:.1f} ms")
    print("  publisher's own functions by cumulative time:")
    own = sorted(((cumulative, n, f"{Path(file).name}:{line} {function}")
                  for (file, line, function), (_, n, _, cumulative, _) in raw.items()
                  if "/publisher/" in file and "site-packages" not in file), reverse=True)
    for cumulative, n, where in own[:18]:
        print(f"    {cumulative * 1000:7.1f} ms  {n:4d}x  {where}")


def described(counts: dict[str, int]) -> str:
    return f"{sum(counts.values())} (" + ", ".join(f"{path} {n}" for path, n in sorted(counts.items())) + ")"


def measure(server: FakeServer, folder: Path, memory: Path | None) -> tuple[dict[str, list[float]],
                                                                           dict[str, dict[str, int]]]:
    times: dict[str, list[float]] = defaultdict(list)
    requests: dict[str, dict[str, int]] = {}
    for round_number in range(ROUNDS + 1):
        config, parts = queued_project(folder, server.url, f"inprocess{round_number}")
        timed: dict[str, float] = {}
        sides: list[Callable[[], None]] = []
        if memory is not None:
            in_memory, _ = queued_project(memory, server.url, f"tmpfs{round_number}")

            def on_tmpfs(config: Path = in_memory, timed: dict[str, float] = timed) -> None:
                timed["tmpfs"] = post_in_process(config, server.token())[0]

            sides.append(on_tmpfs)

        def ours(config: Path = config, timed: dict[str, float] = timed) -> None:
            token = server.token()
            server.counts()
            timed["publisher"], timed["publisher cpu"] = post_in_process(config, token)
            requests["publisher"] = server.counts()

        def theirs(parts: list[Part] = parts, timed: dict[str, float] = timed) -> None:
            token = server.token()
            server.counts()
            timed["bare"], timed["bare cpu"] = bare_in_process(server.url, token, parts)
            requests["bare"] = server.counts()

        in_turn(round_number, ours, theirs, *sides)
        timed["idle"] = post_in_process(config, "unused", posts=0)[0]  # publisher's fixed cost: nothing is due
        if round_number:  # the first round warms both up (imports, connections, the fake's caches)
            for side, elapsed in timed.items():
                times[side].append(elapsed)
    for round_number in range(PROCESS_ROUNDS + 1):
        config, parts = queued_project(folder, server.url, f"process{round_number}")
        parts_file = write_parts(config.parent, parts)
        timed = {}

        def ours_process(config: Path = config, timed: dict[str, float] = timed) -> None:
            token = server.token()
            server.counts()
            timed["process"] = post_process(config, token)
            assert server.counts().get("/api/v1/statuses") == 5

        def theirs_process(parts_file: Path = parts_file, timed: dict[str, float] = timed) -> None:
            token = server.token()
            server.counts()
            timed["bare process"] = bare_process(server.url, token, parts_file)
            assert server.counts().get("/api/v1/statuses") == 5

        in_turn(round_number, ours_process, theirs_process)
        timed["process idle"] = post_process(config, "unused")  # the process's own cost: nothing is due
        if round_number:
            for side, elapsed in timed.items():
                times[side].append(elapsed)
    return times, requests


def main() -> None:
    server = FakeServer(3 * (ROUNDS + 1) + 2 * (PROCESS_ROUNDS + 1) + 1)
    shm = Path("/dev/shm")
    try:
        with tempfile.TemporaryDirectory() as temporary, \
                tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as memory:
            times, requests = measure(server, Path(temporary), Path(memory) if shm.is_dir() else None)
            ours, bare = statistics.median(times["publisher"]), statistics.median(times["bare"])
            paired = [p / b for p, b in zip(times["publisher"], times["bare"], strict=True)]
            print("5-part thread, 5 cards with alt text, to the Mastodon fake (fresh accounts and project each "
                  "round):")
            print(f"  publisher Project.post_due(), in-process:   {spread(times['publisher'])}, project in "
                  f"{Path(temporary).parent}")
            print(f"  Mastodon.py alone, Mastodon() + 10 calls:   {spread(times['bare'])}")
            print(f"  publisher / Mastodon.py: {ours / bare:.2f}x (target <= {TARGET}x); per round: min "
                  f"{min(paired):.2f}x, median {statistics.median(paired):.2f}x, max {max(paired):.2f}x")
            print(f"  requests: publisher {described(requests['publisher'])}; "
                  f"Mastodon.py {described(requests['bare'])}")
            print(f"  CPU time in the posting process: publisher {spread(times['publisher cpu'])}; Mastodon.py "
                  f"{spread(times['bare cpu'])}")
            if times["tmpfs"]:
                print(f"  publisher with its project on tmpfs (no fdatasync cost): {spread(times['tmpfs'])}, "
                      f"{statistics.median(times['tmpfs']) / bare:.2f}x")
            print(f"  publisher's fixed cost, post_due() with nothing due: {spread(times['idle'])}")
            print(f"  whole `publisher post` process:              {spread(times['process'])}")
            print(f"  `publisher post` with nothing due:           {spread(times['process idle'])}")
            print(f"  a fresh Python process with Mastodon.py:     {spread(times['bare process'])}")
            print(f"  process / process: "
                  f"{statistics.median(times['process']) / statistics.median(times['bare process']):.2f}x")
            if "--profile" in sys.argv[1:]:
                profile(server, Path(temporary))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
