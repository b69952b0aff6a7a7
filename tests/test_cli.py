"""The command line as a user meets it: listing, help, usage errors, start-up cost, secrets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import click
from click.testing import Result

import publisher
from conftest import REPO
from publisher.cli import cli
from publisher.errors import ExitStatus


def bundled_project(folder: Path) -> Path:
    """The checkout's own project (schedule.toml, quotes/, assets/) copied to ``folder``, without the state/ and
    outbox/ that running it (scripts/demo) leaves in the checkout."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "schedule.toml", folder / "schedule.toml")
    for name in ("quotes", "assets"):
        shutil.copytree(REPO / name, folder / name)
    return folder


def test_validate_bundled_project(tmp_path: Path, run_cli: Callable[..., Result], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(bundled_project(tmp_path / "bundled"))
    result = run_cli("validate")
    assert result.exit_code == 0, result.output
    first, *notes = result.stdout.splitlines()
    assert first == "OK: schedule.toml (1 campaign, 1 account), 1 collection (20 quotes), 3 themes"
    assert len(notes) == 1 and re.fullmatch(r"  caseyreview-daily: .*last thread \w{3} \d+ \w{3} 08:30", notes[0])


def test_quotes_lists_ids_lengths_and_hashtags(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("quotes", "--collection", "caseyreview")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "caseyreview: The Casey Review (20 quotes)"
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[2:]]
    assert len(rows) == 20
    by_id = {row[0]: row for row in rows}
    consent = "met-yet-free-itself-institutional"
    bundled = tomllib.loads((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"))
    assert by_id[consent][1] == str(len(next(q["text"] for q in bundled["quotes"] if q["id"] == consent)))
    assert by_id[consent][2] == "#CaseyReview #accountability"
    assert by_id["we-found-widespread-bullying-particularly"][2] == "#CaseyReview #accountability #bullying"


def test_unknown_collection_suggests(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("quotes", "--collection", "caseyreveiw")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr.splitlines() == [
        'no collection "caseyreveiw" in quotes (did you mean "caseyreview"?)']


def test_render_finds_the_one_collection_holding_the_quote(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "quotes" / "other.toml").write_text(
        '[collection]\nname = "other"\ntitle = "Other"\nattribution = "Someone"\n\n'
        '[[quotes]]\nid = "another-quote"\ntext = "Another quote, in another collection."\n', encoding="utf-8")
    first = tomllib.loads((project / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"][0]["id"]
    done = run_cli("render", first, "-o", "out")
    assert done.exit_code == 0, done.output
    assert done.stdout == "Wrote 1 card to out/ (PNG, with alt text in .txt), a folder it created.\n"
    assert (project / "out" / f"{first}-square.png").is_file()
    missing = run_cli("render", "zebra")
    assert (missing.exit_code, missing.stderr) == (ExitStatus.CONFIG, "no collection here has a quote zebra "
                                                   "(publisher quotes lists every quote's id)\n")
    both = run_cli("render", first, "another-quote")  # in two collections: which one is for the user to say
    assert both.stderr == (f"say which collection with --collection: {first} is in caseyreview; another-quote is in "
                           "other\n")
    typo = run_cli("render", "another-qoute")
    assert typo.stderr == 'no collection here has a quote another-qoute (did you mean "another-quote"?)\n'
    assert run_cli("render").stderr == "say which collection with --collection (caseyreview, other)\n"


def test_usage_error_is_one_line(run_cli: Callable[..., Result]) -> None:
    result = run_cli("import")
    assert result.exit_code == ExitStatus.USAGE
    assert result.stderr == "Missing argument 'FILE'. (see publisher import --help)\n"


def test_missing_schedule_is_one_line(tmp_path: Path, run_cli: Callable[..., Result], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    assert result.stderr == (f"no schedule.toml in {tmp_path}: run publisher in your project folder (the one "
                             "holding schedule.toml), give --config PATH, or start a project with publisher "
                             "init\n")


def test_inline_secret_value_is_never_printed(project: Path, run_cli: Callable[..., Result]) -> None:
    secret = "abcd-efgh-ijkl-mnop"
    (project / "schedule.toml").write_text(
        f'[accounts.bsky]\nplatform = "bluesky"\nhandle = "me.bsky.social"\napp_password = "{secret}"\n'
        f'[accounts.x]\nplatform = "x"\napi_key_env = "{secret}"\n', encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    assert len(result.stderr.splitlines()) == 2
    assert secret not in result.output


def test_help_does_not_import_sdks_or_pillow() -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "publisher", "--help"],
                          capture_output=True, text=True, check=True)
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    heavy = {m for m in imported if m.split(".")[0] in {"atproto", "tweepy", "PIL", "pydantic", "apscheduler",
                                                        "fontTools"}}
    assert "click" in imported
    assert heavy == set()
    assert "validate" in done.stdout


def test_every_command_has_help_and_is_documented() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    cli_doc = (REPO / "docs" / "cli.md").read_text("utf-8")
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"publisher {name}" in readme, name
        assert f"publisher {name}" in cli_doc, name


def test_every_exit_status_is_documented() -> None:
    cli_doc = (REPO / "docs" / "cli.md").read_text("utf-8")
    for status in ExitStatus:
        assert re.search(rf"\|\s*{status.value}\s*\|\s*`{status.name}`", cli_doc), status


def test_every_key_is_documented() -> None:
    from publisher.config import Campaign, Defaults, Paths, Slots
    from publisher.platforms import known
    from publisher.quotes import CollectionInfo, Quote
    from publisher.themes import Brand, Colours, Fonts, Footer, Layout, ThemeInfo

    docs = {"collections.md": [CollectionInfo, Quote],
            "schedule.md": [Defaults, Paths, Campaign, Slots, *(p.account_model for p in known().values())],
            "themes.md": [ThemeInfo, Colours, Fonts, Brand, Layout, Footer]}
    for doc, models in docs.items():
        text = (REPO / "docs" / doc).read_text("utf-8")
        for model in models:
            for key in model.model_fields:
                assert f"`{key}`" in text, f"{key} of {model.__name__} is not in docs/{doc}"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "publisher"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True,
                          env={**os.environ, "PUBLISHER_CONFIG": "nowhere.toml"})
    lines = done.stdout.splitlines()
    assert lines[0] == f"publisher {publisher.__version__}" and lines[1].startswith("Python 3.")
    assert lines[2].startswith(f"Pillow {metadata.version('pillow')} (with raqm ")
    libraries = ("atproto", "tweepy", "Mastodon.py", "APScheduler")
    assert lines[3:] == [f"{name} {metadata.version(name)}" for name in libraries]
    assert lines[3] == "atproto 0.0.73" and lines[6].startswith("APScheduler 3.")


def test_shell_completion_scripts_come_from_click() -> None:
    script = Path(sys.executable).parent / "publisher"
    for shell, marker in (("bash", "complete -o"), ("zsh", "#compdef publisher"), ("fish", "complete --no-files")):
        done = subprocess.run([str(script)], capture_output=True, text=True, check=True,
                              env={**os.environ, "_PUBLISHER_COMPLETE": f"{shell}_source"})
        assert marker in done.stdout, (shell, done.stdout[:200])
    words = subprocess.run([str(script)], capture_output=True, text=True, check=True,
                           env={**os.environ, "_PUBLISHER_COMPLETE": "bash_complete", "COMP_WORDS": "publisher que",
                                "COMP_CWORD": "1"}).stdout
    assert "plain,queue" in words.splitlines()


def test_help_prints_each_doc_that_comes_with_the_package(run_cli: Callable[..., Result]) -> None:
    docs = sorted((REPO / "docs").glob("*.md"))
    listed = run_cli("help").stdout.splitlines()
    assert [line.split()[0] for line in listed[1:]] == [doc.stem for doc in docs]
    assert "  schedule     schedule.toml" in listed
    assert run_cli("help", "schedule").stdout == (REPO / "docs" / "schedule.md").read_text("utf-8")
    assert run_cli("help", "docs/json.md").stdout == (REPO / "docs" / "json.md").read_text("utf-8")
    wrong = run_cli("help", "schedul")
    assert (wrong.exit_code, wrong.stderr) == (ExitStatus.CONFIG,
                                               'no help topic "schedul" (did you mean "schedule"?)\n')


def test_what_publisher_says_and_writes_points_to_publisher_help_not_to_docs_files() -> None:
    """A wheel user has no docs/ folder: messages, option help and the files init writes name `publisher help
    TOPIC`. Docstrings and comments, read by developers in the checkout, may name docs/."""
    import ast

    named = []
    for module in (REPO / "publisher").rglob("*.py"):
        tree = ast.parse(module.read_text("utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        named += [f"{module.name}:{node.lineno}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and re.search(r"docs/\w+\.md", node.value)]
    for example in (REPO / "publisher" / "bundled" / "examples").rglob("*"):
        if example.is_file() and re.search(r"docs/\w+\.md", example.read_text("utf-8")):
            named.append(str(example.relative_to(REPO)))
    assert named == []


def _leaf_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _leaf_commands(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found


def test_every_option_of_every_command_is_in_its_section_of_docs_cli_md_and_no_other() -> None:
    """--help and docs/cli.md say the same things: each option of a command is named in the section of
    docs/cli.md about it, and each option a section's heading shows is an option of its commands."""
    assert isinstance(cli, click.Group)
    sections = re.split(r"^### ", (REPO / "docs" / "cli.md").read_text("utf-8"), flags=re.M)[1:]
    commands = _leaf_commands(cli)
    missing, unknown = [], []
    for path, command in commands:
        about = "\n".join(s for s in sections if re.search(rf"`publisher {path[0]}\b", s.partition("\n")[0]))
        assert about, f"no section of docs/cli.md is about publisher {' '.join(path)}"
        for option in command.params:
            names = [n for n in option.opts if n.startswith("-") and n != "-h"] if isinstance(option, click.Option) \
                else []
            if names and not any(re.search(rf"`[^`]*{re.escape(n)}\b", about) for n in names):
                missing.append(f"publisher {' '.join(path)} {names[-1]}")
    for section in sections:
        heading = section.partition("\n")[0]
        tops = set(re.findall(r"`publisher (\w+)", heading))
        known = {n for path, command in commands if path[0] in tops for p in command.params for n in p.opts}
        unknown += [f"{flag} in the heading {heading[:60]}" for flag in re.findall(r"(--[a-z][a-z-]*)", heading)
                    if flag not in known]
    assert missing == [] and unknown == []
