"""A platform is one module: found through the publisher.platforms entry-point group (a separate package can add
one), everything publisher knows of it behind PlatformKind, and no module outside publisher/platforms/ naming one."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import MINIMAL_SCHEDULE, REPO
from publisher.platforms import known
from publisher.platforms.base import PlatformKind

PACKAGE = REPO / "publisher"


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings, or format specs (the x of f"{n:x}")."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            found |= {id(n) for n in ast.walk(node.format_spec) if isinstance(n, ast.Constant)}
    return found


def test_no_module_outside_the_platforms_package_names_a_platform() -> None:
    """A string that is a platform's name ("x", "bluesky", "mastodon", "outbox"), anywhere but a docstring, in
    any module outside publisher/platforms/: where it is compared, looked up or passed, the code knows a platform
    it should ask the registry about."""
    names = set(known())
    assert {"x", "bluesky", "mastodon", "outbox"} <= names
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (PACKAGE / "platforms") in path.parents:
            continue
        tree = ast.parse(path.read_text("utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert found == []


def test_the_check_above_can_fail(tmp_path: Path) -> None:
    tree = ast.parse('def f(account):\n    """A docstring may say "x".""" \n    return account.platform == "x"\n')
    docstrings = _docstrings(tree)
    hits = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == "x" and id(n) not in docstrings]
    assert len(hits) == 1


def test_every_platform_gives_the_whole_interface() -> None:
    for name, platform in known().items():
        assert isinstance(platform, PlatformKind) and platform.name == name
        assert platform.label and platform.article
        assert platform.account_model.model_fields["platform"].annotation is not str, name  # Literal[its name]
        rules = platform.rules()
        assert rules.measure("Hello #world https://example.org/a").fits
        counted = platform.counted_as(None)
        assert counted.name in known()


def test_the_registry_is_the_package_metadata() -> None:
    """publisher's own platforms are registered as entry points, as another package's would be."""
    from importlib.metadata import entry_points

    registered = {point.name: point.value for point in entry_points(group="publisher.platforms")}
    assert registered == {"x": "publisher.platforms.x:PLATFORM", "bluesky": "publisher.platforms.bluesky:PLATFORM",
                          "mastodon": "publisher.platforms.mastodon:PLATFORM",
                          "outbox": "publisher.platforms.outbox:PLATFORM"}


@pytest.mark.heavy
def test_a_separate_package_adds_a_platform_through_the_entry_point_group(tmp_path: Path) -> None:
    """A platform from another (installed) package: accounts of it validate, compose by its rules, and an outbox
    can imitate it; one that fails to import is simply not there."""
    site = tmp_path / "site"
    (site / "shouty").mkdir(parents=True)
    (site / "shouty" / "__init__.py").write_text(textwrap.dedent('''
        from typing import Literal
        from publisher.platforms.base import Limits, Measure, PlatformAccount, PlatformKind

        class ShoutyRules:
            name = "shouty"
            label = "Shouty"
            limits = Limits(max_length=120, unit="letters")

            def measure(self, text):
                return Measure(len(text), 120, "letters")

        class ShoutyAccount(PlatformAccount):
            platform: Literal["shouty"]
            room: str

            @property
            def destination(self):
                return f"Shouty room {self.room}"

        class Shouty(PlatformKind):
            name = "shouty"
            label = "Shouty"
            article = "a Shouty"
            account_model = ShoutyAccount

            def rules(self, account=None, cache=None):
                return ShoutyRules()

        PLATFORM = Shouty()
        '''), encoding="utf-8")
    (site / "broken_platform.py").write_text("raise ImportError('not today')\n", encoding="utf-8")
    info = site / "shouty-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shouty\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[publisher.platforms]\nshouty = shouty:PLATFORM\n"
                                           "broken = broken_platform:PLATFORM\n", encoding="utf-8")
    project = tmp_path / "project"
    (project / "quotes").mkdir(parents=True)
    (project / "quotes" / "caseyreview.toml").write_text((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"),
                                                         encoding="utf-8")
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE.replace(
        '[accounts.local]\nplatform = "outbox"\n',
        '[accounts.local]\nplatform = "outbox"\nlike = "shouty"\n\n[accounts.room]\nplatform = "shouty"\n'
        'room = "campaigners"\n') + "split = true\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def publisher(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "publisher", *args], cwd=project, env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    checked = publisher("validate")
    assert checked.returncode == 0, checked.stderr
    assert publisher("queue", "add", "--now").returncode == 0
    shown = publisher("queue", "show", "1")
    assert "local → the local outbox outbox/ (counted as Shouty)" in shown.stdout
    assert "/120 letters" in shown.stdout
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE.replace('platform = "outbox"', 'platform = "broken"'),
                                           encoding="utf-8")
    refused = publisher("validate")
    assert refused.returncode == 3 and "unknown platform 'broken'" in refused.stderr


def test_threads_are_measured_by_what_the_store_learnt_of_a_server(project: Path, run_cli: Any) -> None:
    """A Mastodon account's posts are measured by its instance's limits as the store kept them (for a day), and by
    Mastodon's defaults (500) before; validate asks no server, and a server that cannot be asked changes nothing."""
    from datetime import UTC, datetime

    from publisher.store import Store

    instance = "http://127.0.0.1:9"  # nothing listens: asking fails at once
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE.replace(
        '[accounts.local]\nplatform = "outbox"\n',
        f'[accounts.local]\nplatform = "outbox"\n\n[accounts.masto]\nplatform = "mastodon"\ninstance = "{instance}"\n'
    ).replace('accounts = ["local"]', 'accounts = ["local", "masto"]'), encoding="utf-8")
    assert run_cli("validate").exit_code == 0
    assert run_cli("queue", "add", "--now").exit_code == 0
    assert "/500 characters" in run_cli("queue", "show", "1").stdout
    with Store.open(project / "state" / "publisher.db", lambda: datetime.now(UTC)) as store:
        store.cache(f"mastodon-limits {instance}", {"max_characters": 1000, "characters_reserved_per_url": 30})
    shown = run_cli("queue", "show", "1", "--json")
    masto = [p for p in json.loads(shown.stdout)["parts"] if p["account"] == "masto"]
    assert {p["limit"] for p in masto} == {1000}
    with Store.open(project / "state" / "publisher.db", lambda: datetime.now(UTC)) as store:
        store.cache(f"mastodon-limits {instance}", {"max_characters": 12})  # "#accountability" cannot fit
    refused = run_cli("validate")
    assert refused.exit_code == 3 and "on Mastodon (shorten it)" in refused.stderr, refused.stderr


def test_doctor_says_how_publisher_helps_get_a_secret(project: Path, run_cli: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLISHER_MASTODON_TOKEN", raising=False)
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE.replace(
        '[accounts.local]\nplatform = "outbox"\n',
        '[accounts.local]\nplatform = "outbox"\n\n[accounts.masto]\nplatform = "mastodon"\n'
        'instance = "https://social.example"\n').replace('accounts = ["local"]', 'accounts = ["local", "masto"]'),
        encoding="utf-8")
    lines = run_cli("doctor").stdout.splitlines()
    line = next(line for line in lines if "account masto" in line)
    assert line == ("✗ account masto (mastodon): PUBLISHER_MASTODON_TOKEN not set in the environment "
                    "(publisher login mastodon masto gets a token from the server, then export "
                    "PUBLISHER_MASTODON_TOKEN=...)"), line
