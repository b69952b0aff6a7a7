"""Starting anywhere: the bundled fonts, logo and themes (a project's assets/ replacing them by name),
``publisher init`` and ``publisher doctor``. The installed wheel is tried by scripts/release_check.py."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from conftest import BUNDLED, REPO
from publisher.errors import ExitStatus


def test_the_caseyreview_example_is_the_checkouts_own_project() -> None:
    example = BUNDLED / "examples" / "caseyreview"
    assert (example / "schedule.toml").read_bytes() == (REPO / "schedule.toml").read_bytes()
    assert (example / "quotes" / "caseyreview.toml").read_bytes() == (REPO / "quotes" / "caseyreview.toml").read_bytes()


@pytest.mark.parametrize(("example", "collection", "quotes"), [("caseyreview", "caseyreview", 20),
                                                                ("blank", "my-quotes", 1)])
def test_init_makes_a_project_that_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             run_cli: Callable[..., Result], example: str, collection: str,
                                             quotes: int) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("init", "new", "--example", example)
    assert result.exit_code == 0, result.output
    made = sorted(p.relative_to(tmp_path / "new").as_posix() for p in (tmp_path / "new").rglob("*") if p.is_file())
    assert made == [".gitignore", f"quotes/{collection}.toml", "schedule.toml", "sources/README.md"]
    assert "/state/" in (tmp_path / "new" / ".gitignore").read_text("utf-8")
    lines = result.stdout.splitlines()
    assert "  cd new" in lines and sum(line.startswith("  publisher ") for line in lines) == 3
    checked = run_cli("--config", "new/schedule.toml", "validate")
    assert checked.exit_code == 0, checked.output
    assert f"1 collection ({quotes} quote{'s' if quotes > 1 else ''}), 3 themes" in checked.stdout
    assert 'platform = "outbox"' in (tmp_path / "new" / "schedule.toml").read_text("utf-8")


def test_init_never_replaces_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    run_cli: Callable[..., Result]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schedule.toml").write_text("# mine\n", encoding="utf-8")
    (tmp_path / ".gitignore").symlink_to(tmp_path / "nowhere")  # even a dangling link keeps its name
    result = run_cli("init")
    assert result.exit_code == 0, result.output
    assert "created quotes/caseyreview.toml" in result.stdout
    assert "kept    schedule.toml (already there; left as it is)" in result.stdout
    assert "kept    .gitignore" in result.stdout
    assert (tmp_path / "schedule.toml").read_text("utf-8") == "# mine\n"
    assert not (tmp_path / "nowhere").exists()

    again = run_cli("init")
    assert again.exit_code == ExitStatus.NOTHING_CREATED
    assert again.stderr == ("this folder already has every file publisher init writes (schedule.toml, "
                            "quotes/caseyreview.toml, sources/README.md, .gitignore): nothing was changed (run "
                            "publisher validate there, or give init another folder)\n")


def test_init_into_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     run_cli: Callable[..., Result]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    result = run_cli("init", "notes.txt")
    assert result.exit_code == ExitStatus.USAGE
    assert "is a file" in result.stderr
    assert (tmp_path / "notes.txt").read_text("utf-8") == "x"


# -- the bundle, and a project's own assets ------------------------------------------------------------------

def card_bytes(root: Path, run_cli: Callable[..., Result], *args: str) -> bytes:
    out = root / "cards"
    shutil.rmtree(out, ignore_errors=True)
    result = run_cli("--config", str(root / "schedule.toml"), "render", "met-yet-free-itself-institutional",
                     "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return (out / "met-yet-free-itself-institutional-square.png").read_bytes()


def test_a_project_needs_no_assets_and_its_own_replace_the_bundled_ones_by_name(
        tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    from PIL import Image

    assert run_cli("init", str(tmp_path)).exit_code == 0
    bundled = card_bytes(tmp_path, run_cli)

    logos = tmp_path / "assets" / "logos"
    logos.mkdir(parents=True)
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(logos / "mark.png")
    with_logo = card_bytes(tmp_path, run_cli)
    assert with_logo != bundled

    themes = tmp_path / "assets" / "themes"
    themes.mkdir()
    campaign = (BUNDLED / "themes" / "campaign.toml").read_text("utf-8")
    (themes / "campaign.toml").write_text(campaign.replace('accent = "#ffd23f"', 'accent = "#7fffd4"'), "utf-8")
    recoloured = card_bytes(tmp_path, run_cli)
    assert recoloured != with_logo
    (themes / "ours.toml").write_text(campaign.replace('name = "campaign"', 'name = "ours"'), "utf-8")
    assert card_bytes(tmp_path, run_cli, "--theme", "ours") == with_logo  # the bundled campaign theme, renamed

    fonts = tmp_path / "assets" / "fonts"
    fonts.mkdir()
    shutil.copy(BUNDLED / "fonts" / "NotoSerif-Regular.ttf", fonts / "Inter-Regular.otf")  # attribution font
    assert card_bytes(tmp_path, run_cli) != recoloured

    (themes / "campaign.toml").unlink()
    shutil.rmtree(fonts)
    assert card_bytes(tmp_path, run_cli) == with_logo
    listed = run_cli("--config", str(tmp_path / "schedule.toml"), "validate")
    assert listed.exit_code == 0 and "4 themes" in listed.stdout, listed.output


def test_a_theme_naming_a_font_nowhere_says_where_it_looked(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    assert run_cli("init", str(tmp_path)).exit_code == 0
    (tmp_path / "assets" / "themes").mkdir(parents=True)
    campaign = (BUNDLED / "themes" / "campaign.toml").read_text("utf-8")
    (tmp_path / "assets" / "themes" / "campaign.toml").write_text(
        campaign.replace('"Inter-Bold.otf"', '"Qqqqq.otf"'), "utf-8")
    result = run_cli("--config", str(tmp_path / "schedule.toml"), "validate")
    assert result.exit_code == ExitStatus.CONFIG
    assert ('fonts.brand: no font "Qqqqq.otf" in assets/fonts/ or publisher\'s bundled fonts (put the file in '
            "assets/fonts/") in result.stderr


# -- doctor --------------------------------------------------------------------------------------------------

def doctor(root: Path, run_cli: Callable[..., Result], *args: str) -> tuple[int, list[str]]:
    result = run_cli("--config", str(root / "schedule.toml"), "doctor", *args)
    return result.exit_code, result.stdout.splitlines()


def test_doctor_passes_on_a_new_project(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    assert run_cli("init", str(tmp_path)).exit_code == 0
    status, lines = doctor(tmp_path, run_cli)
    assert status == 0, lines
    assert lines[-1] == f"All {len(lines) - 1} checks passed."
    names = [line.split(":")[0] for line in lines[:-1]]
    assert names == ["✓ Python", "✓ libraries", "✓ text shaping", "✓ bundled fonts and themes", "✓ clock",
                     "✓ schedule", "✓ validate", "✓ timezone data", "✓ fonts for caseyreview (campaign)",
                     "✓ account local (outbox)", "✓ state folder", "✓ store", "✓ daemon"]
    assert not (tmp_path / "state").exists(), "doctor made the state folder: it must change nothing"


def test_doctor_names_what_to_fix(tmp_path: Path, run_cli: Callable[..., Result],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", str(tmp_path), "--example", "blank").exit_code == 0
    schedule = tmp_path / "schedule.toml"
    text = schedule.read_text("utf-8")
    text = text.replace('accounts = ["local"]', 'accounts = ["local", "bsky"]')
    schedule.write_text(text + '\n[accounts.bsky]\nplatform = "bluesky"\nhandle = "campaign.example.com"\n', "utf-8")
    quotes = tmp_path / "quotes" / "my-quotes.toml"
    quotes.write_text(quotes.read_text("utf-8").replace("Write the quote here", "A Linear B sign \U00010000 here"),
                      "utf-8")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "publisher.db").write_bytes(b"a shopping list, not a database\n" * 10)
    monkeypatch.delenv("PUBLISHER_BSKY_APP_PASSWORD", raising=False)

    status, lines = doctor(tmp_path, run_cli)
    assert status == ExitStatus.CHECK_FAILED
    failed = [line for line in lines if line.startswith("✗")]
    assert failed == [
        "✗ validate: quotes/my-quotes.toml:14: quotes[0].text: no bundled or installed font draws '𐀀' (U+10000 "
        "LINEAR B SYLLABLE B008 A) (add a font that has it to assets/fonts/ and to the theme's fonts.fallback, or "
        "install one) (publisher validate lists every problem)",
        "✗ fonts for my-quotes (campaign): 1 character no font draws ('𐀀' U+10000) (add a font that has them to "
        "assets/fonts/ and to the theme's fonts.fallback, or install one, such as Debian's fonts-noto-extra)",
        "✗ account bsky (bluesky): PUBLISHER_BSKY_APP_PASSWORD not set in the environment (export "
        "PUBLISHER_BSKY_APP_PASSWORD=...; publisher help schedule says where each comes from)",
        "✗ store: state/publisher.db is damaged or is not a publisher store (it is not an SQLite file): move it "
        "aside and restore a backup (publisher.db.v*.bak beside it, kept before each upgrade), or start afresh",
    ], lines

    monkeypatch.setenv("PUBLISHER_BSKY_APP_PASSWORD", "correct-horse-battery")
    result = run_cli("--config", str(schedule), "doctor", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == ExitStatus.CHECK_FAILED and report["ok"] is False
    bsky = next(c for c in report["checks"] if c["check"] == "account bsky (bluesky)")
    assert bsky == {"check": "account bsky (bluesky)", "ok": True,
                    "detail": "PUBLISHER_BSKY_APP_PASSWORD set (values not shown)", "fix": None}
    assert "correct-horse-battery" not in result.output


def test_doctor_outside_a_project_still_checks_the_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           run_cli: Callable[..., Result]) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("doctor")
    assert result.exit_code == ExitStatus.CHECK_FAILED
    lines = result.stdout.splitlines()
    assert lines[0].startswith("✓ Python: 3.") and any(line.startswith("✓ text shaping") for line in lines)
    assert lines[-1] == ("✗ project: no schedule.toml here (run publisher init to start a project, or cd into one, "
                         "or run publisher --config PATH doctor)")
    assert result.stderr == "No project here, and this machine is ready: publisher init FOLDER starts one.\n"


def test_doctor_names_a_running_daemon(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    from publisher.lock import StoreLock

    assert run_cli("init", str(tmp_path)).exit_code == 0
    with StoreLock(tmp_path / "state" / "publisher.db") as lock:
        lock.acquire("publisher run")
        status, lines = doctor(tmp_path, run_cli)
    assert status == 0
    assert lines[-2].startswith("✓ daemon: publisher run holds the lock (pid "), lines


def test_doctor_goes_on_past_a_damaged_font_of_the_project(tmp_path: Path, run_cli: Callable[..., Result],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("init").exit_code == 0
    (tmp_path / "assets" / "fonts").mkdir(parents=True)
    damaged = (BUNDLED / "fonts" / "InterDisplay-SemiBold.otf").read_bytes()[:20_000]
    (tmp_path / "assets" / "fonts" / "InterDisplay-SemiBold.otf").write_bytes(damaged)
    result = run_cli("doctor", "--json")
    assert result.exit_code == ExitStatus.CHECK_FAILED
    report = json.loads(result.stdout)
    failed = {c["check"] for c in report["checks"] if not c["ok"]}
    assert failed and failed <= {"validate", "fonts"}, report
    assert report["checks"][-1]["check"] == "daemon"  # the checks after it still ran


def test_init_that_fails_half_way_says_what_it_made(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    (tmp_path / "quotes").write_text("a file where the folder goes", encoding="utf-8")
    result = run_cli("init", str(tmp_path))
    assert result.exit_code == ExitStatus.FILE
    assert "it keeps what it made before, schedule.toml)" in result.stderr
    assert (tmp_path / "schedule.toml").is_file()


def test_x_counting_needs_no_pkg_resources() -> None:
    """twitter-text-parser imports pkg_resources, which setuptools 81 dropped and pipx environments lack."""
    import subprocess
    import sys

    script = ("import sys; sys.modules['pkg_resources'] = None  # importing it now fails, as under pipx\n"
              "from publisher.platforms.x import weighted_length\n"
              "from publisher.richtext import _links\n"
              "print(weighted_length('Casey 👋🏽 https://example.org'), len(_links('see example.org')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["32", "1"]  # 6 + an emoji (2) + 1 + a URL (23)
