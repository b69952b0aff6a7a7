"""The release check (run by scripts/test, so by .ci/run): build the sdist and the wheel as a user's pip would
get them, check their metadata, install the wheel into a fresh virtual environment in a folder outside the
checkout, and there start a project and run the main job, checking what each command writes.

    .venv/bin/python scripts/release_check.py [--keep]     # --keep leaves the temporary folder for a look
"""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_WHEEL_BYTES = 100_000_000  # PyPI's default limit per file


def main() -> None:
    keep = "--keep" in sys.argv[1:]
    temp = Path(tempfile.mkdtemp(prefix="publisher-release-"))
    assert not temp.is_relative_to(REPO), "the release check must run outside the checkout"
    try:
        wheel = build(temp / "dist")
        check_wheel(wheel)
        started = time.perf_counter()
        python = install(wheel, temp / "venv")
        try_as_a_user(python, temp / "campaign", started)
    finally:
        if keep:
            print(f"kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)
    print("release check passed")


def step(title: str) -> None:
    print(f"-- {title}", flush=True)


def run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None, status: int = 0) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != status:
        sys.exit(f"release check: {' '.join(map(str, args))} exited {result.returncode} (wanted {status})\n"
                 f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}")
    return result.stdout


def build(out: Path) -> Path:
    """The sdist, then the wheel built from that sdist (as ``python -m build`` does): a file the sdist forgot
    makes the wheel fail here, not on a user's machine."""
    step("build the sdist and the wheel")
    run([sys.executable, "-m", "build", "--outdir", out, REPO], cwd=out.parent)
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    step("twine check --strict (metadata, and the README renders on PyPI)")
    run([sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists], cwd=out)
    for path in (*wheels, *sdists):
        size = path.stat().st_size
        print(f"   {path.name}: {size / 1e6:.1f} MB")
        assert size < MAX_WHEEL_BYTES, f"{path.name} is {size:,} bytes, over the registries' usual limit"
    return wheels[0]


def check_wheel(wheel: Path) -> None:
    step("the wheel's metadata and contents")
    from publisher import __version__

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(info))
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert metadata["Name"] == "publisher" and metadata["Version"] == __version__, (metadata["Name"],
                                                                                     metadata["Version"])
    assert metadata["Requires-Python"] == ">=3.11", metadata["Requires-Python"]
    assert metadata["License-Expression"] == "MIT", metadata["License-Expression"]
    requires = metadata.get_all("Requires-Dist") or []
    for pinned in ("atproto==0.0.73", "tweepy==4.17.0"):
        assert pinned in requires, (pinned, requires)
    assert "publisher = publisher.cli:main" in entry_points, entry_points
    bundled = {p.relative_to(REPO).as_posix() for p in (REPO / "publisher" / "bundled").rglob("*") if p.is_file()}
    bundled |= {f"publisher/docs/{doc.name}" for doc in (REPO / "docs").glob("*.md")}  # publisher help TOPIC
    missing = sorted(bundled - names)
    assert not missing, f"the wheel lacks bundled files: {missing[:5]}"
    assert not any(n.startswith(("tests/", "bench/")) or "__pycache__" in n for n in names), "stray files"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "publisher's own licence is missing"
    licences = [n for n in names if n.startswith("publisher/bundled/fonts/LICENSE-")]
    assert len(licences) >= 3, licences  # the fonts' OFL texts travel with them
    print(f"   {len(names)} files, {len(bundled)} of them bundled fonts, themes, logo and examples; "
          f"{len(licences)} font licences")


def install(wheel: Path, target: Path) -> Path:
    step("install the wheel into a fresh virtual environment (dependencies from the registry, CI's versions)")
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c",
         REPO / "requirements" / "constraints.txt", wheel], cwd=target)
    # As pipx makes it: no setuptools (so no pkg_resources) unless publisher itself needs it.
    run([python, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"], cwd=target)
    run([python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('pkg_resources') is not None)"],
        cwd=target)
    where = run([python, "-c", "import publisher; print(publisher.__file__)"], cwd=target).strip()
    assert Path(where).is_relative_to(target), f"publisher was imported from {where}, not the new environment"
    return python


def try_as_a_user(python: Path, project: Path, started: float) -> None:
    bin_dir = python.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBLISHER_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    publisher = bin_dir / "publisher"

    def cli(*args: str, status: int = 0, cwd: Path = project) -> str:
        return run([publisher, *args], cwd=cwd, env=env, status=status)

    step("publisher --version")
    versions = cli("--version", cwd=project.parent)
    assert versions.startswith("publisher ") and "atproto 0.0.73" in versions, versions

    step("publisher init campaign (in an empty folder)")
    out = cli("init", project.name, cwd=project.parent)
    for name in ("schedule.toml", "quotes/caseyreview.toml", ".gitignore"):
        assert (project / name).is_file() and f"created {name}" in out, (name, out)
    assert "publisher validate" in out and "publisher preview" in out and "publisher post" in out, out
    assert not (project / "assets").exists(), "init copied assets: the bundled ones should serve"
    before = (project / "schedule.toml").read_bytes()
    again = run([publisher, "init", project.name], cwd=project.parent, env=env, status=16)
    assert again == "" and (project / "schedule.toml").read_bytes() == before

    step("publisher validate")
    assert cli("validate").startswith("OK: schedule.toml (1 campaign, 1 account), 1 collection (20 quotes), 3 themes")

    step("publisher render (the first card, from the bundled fonts and theme)")
    first = tomllib.loads((project / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"][0]["id"]
    assert first in cli("quotes")
    cli("render", first, "--format", "square")
    card = project / "cards" / f"{first}-square.png"
    seconds = time.perf_counter() - started
    header = card.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(header[16:20], "big") == 1080, header
    assert (project / "cards" / f"{first}-square.txt").read_text("utf-8").strip()
    print(f"   pip install of the wheel to the first rendered card: {seconds:.1f} s")

    step("publisher preview")
    cli("preview")
    page = (project / "preview" / "index.html").read_text("utf-8")
    thread = json.loads((project / "preview" / "thread.json").read_text("utf-8"))
    assert "<html" in page and first in json.dumps(thread), "the preview does not show the first quote"

    step("publisher queue add --now, then publisher post (to the local outbox)")
    assert "Queued thread 1" in cli("queue", "add", "--now")
    posted = cli("post")
    assert "posted" in posted, posted
    records = sorted((project / "outbox" / "local" / "posts").glob("*.json"))
    assert len(records) == 5, f"{len(records)} posts in the outbox, wanted intro + 3 quotes + outro"
    assert (project / "outbox" / "local" / "timeline.html").is_file()

    step("publisher serve (the dashboard's templates and styles come from the wheel)")
    serve = subprocess.Popen([publisher, "serve", "--no-open", "--port", "0"], cwd=project, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        link = serve.stdout.readline().strip()
        assert link.startswith("Dashboard: http://127.0.0.1:"), link
        base, _, token = link.removeprefix("Dashboard: ").partition("/?token=")
        for path, wanted in (("/queue?all=1", b"Thread 1"), ("/static/dashboard.css", b"--ink")):
            request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200 and wanted in answer.read(), path
    finally:
        serve.terminate()
        serve.wait(timeout=20)

    step("publisher doctor")
    report = cli("doctor")
    lines = report.strip().splitlines()
    assert lines[-1].startswith("All ") and all(line.startswith("✓ ") for line in lines[:-1]), report
    for check in ("text shaping", "bundled fonts and themes", "fonts for caseyreview", "store", "daemon"):
        assert any(line.startswith(f"✓ {check}") for line in lines), (check, report)
    print("   " + report.replace("\n", "\n   ").rstrip())

    step("publisher help schedule (the docs come inside the wheel)")
    shown = cli("help", "schedule")
    assert shown == (REPO / "docs" / "schedule.md").read_text("utf-8"), shown[:200]
    print(f"   {len(shown.splitlines())} lines, as docs/schedule.md")


if __name__ == "__main__":
    main()
